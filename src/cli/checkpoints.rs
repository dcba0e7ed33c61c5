//! `vigil checkpoints`: what a state directory holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use vigil::checkpoint::{operator_states, Store, StoreLimits, FINISHED};
use vigil::event::time::to_iso8601;

/// Lists the checkpoints of a state directory (`replay --state-dir`): for each, whether it is
/// complete and verifies, where it cut, when it was taken and its size; for the newest valid
/// one, the bytes each operator's state takes, summed over workers. The state directory of a
/// run over several processes is listed per process (its `p0`, `p1`, ...).
///
/// Examples:
///   vigil checkpoints state/
///   vigil checkpoints --all state/     # every operator of every worker
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CheckpointsArgs {
    /// The state directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// List every worker's operators, not the sums per operator.
    #[arg(long)]
    all: bool,
}

/// Runs the subcommand.
pub fn run(args: CheckpointsArgs) -> anyhow::Result<ExitCode> {
    let mut out = String::new();
    let code = list(&args, &mut out)?;
    match std::io::stdout().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(code),
    }
}

/// Writes the listing into `out`: of the directory, or of each process's in a state directory
/// of a run over several processes.
fn list(args: &CheckpointsArgs, out: &mut String) -> anyhow::Result<ExitCode> {
    let processes: Vec<PathBuf> = (0..).map(|p| args.dir.join(format!("p{p}"))).take_while(|d| d.is_dir()).collect();
    if processes.is_empty() {
        return list_dir(&args.dir, args.all, out);
    }
    let mut code = ExitCode::SUCCESS;
    for (p, dir) in processes.iter().enumerate() {
        writeln!(out, "{}process {p} ({}):", if p > 0 { "\n" } else { "" }, dir.display())?;
        if list_dir(dir, args.all, out)? != ExitCode::SUCCESS {
            code = ExitCode::from(1);
        }
    }
    Ok(code)
}

/// Lists the checkpoints of one directory.
fn list_dir(dir: &std::path::Path, all: bool, out: &mut String) -> anyhow::Result<ExitCode> {
    let store = Store::open(dir, StoreLimits::default()).with_context(|| format!("{}", dir.display()))?;
    let seqs = store.sequences().with_context(|| format!("{}", dir.display()))?;
    if seqs.is_empty() {
        writeln!(out, "{}: no checkpoints", dir.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut newest = None;
    writeln!(out, "{:>6}  {:<8}  {:<24}  {:<24}  {:>7}  {:>12}", "seq", "status", "cut (event time)", "taken", "workers", "bytes")?;
    for &seq in &seqs {
        match store.load(seq) {
            Ok(l) => {
                let m = &l.manifest;
                let bytes: u64 = m.parts.iter().map(|p| p.len).sum();
                let cut = if m.cut == FINISHED { "end of input".to_owned() } else { to_iso8601(i64::try_from(m.cut).unwrap_or(i64::MAX)) };
                writeln!(out, "{seq:>6}  {:<8}  {cut:<24}  {:<24}  {:>7}  {bytes:>12}", "valid", to_iso8601(m.created_unix_ms), m.workers)?;
                newest = Some(l);
            }
            Err(e) => writeln!(out, "{seq:>6}  {:<8}  {e}", "rejected")?,
        }
    }
    let Some(l) = newest else {
        writeln!(out, "no valid checkpoint: a replay with this --state-dir starts from the beginning")?;
        return Ok(ExitCode::from(1));
    };
    let states = operator_states(&l);
    writeln!(out, "\noperators of checkpoint {} (bytes of state):", l.manifest.seq)?;
    if all {
        for (w, op, bytes) in states {
            writeln!(out, "  worker {w:<3} {op:<28} {bytes:>12}")?;
        }
    } else {
        let mut sums: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (_, op, bytes) in states {
            let e = sums.entry(op).or_default();
            e.0 += 1;
            e.1 += bytes;
        }
        for (op, (workers, bytes)) in sums {
            writeln!(out, "  {op:<28} {bytes:>12}  ({workers} worker(s))")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
