//! The checkpoint options `replay` and `run` share, and opening a state directory to resume.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use vigil::checkpoint::{rule_changes, rule_stamps, unchanged_rules, CheckpointStats, Coordinator, Loaded, Processes, RunRules, Store, StoreLimits, FINISHED};
use vigil::event::time::{parse_duration_ms, to_iso8601};
use vigil::pipeline::{EngineStats, Plan};
use vigil::rules::RuleSet;

/// How often checkpoints are taken, how many are kept, how large one may be.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckpointArgs {
    /// How often to checkpoint. Examples: 10s, 1m.
    #[arg(long, value_parser = parse_duration_ms, default_value = "10s", value_name = "DURATION")]
    pub checkpoint_interval: i64,
    /// How many complete checkpoints to keep (at least 2: a damaged newest one falls back).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub checkpoint_keep: usize,
    /// Largest checkpoint, all parts together, in bytes; a larger one is not written (the run
    /// goes on and says so).
    #[arg(long, default_value_t = 16 << 30, value_name = "BYTES")]
    pub checkpoint_max_bytes: u64,
}

impl CheckpointArgs {
    /// The settings for checkpoints kept in `dir`.
    pub fn settings(&self, dir: &Path) -> anyhow::Result<CheckpointSettings> {
        if self.checkpoint_interval <= 0 {
            anyhow::bail!("--checkpoint-interval must be positive");
        }
        Ok(CheckpointSettings {
            dir: dir.to_owned(),
            interval: Duration::from_millis(self.checkpoint_interval as u64),
            limits: StoreLimits { keep: self.checkpoint_keep.max(2), max_total_bytes: self.checkpoint_max_bytes, ..StoreLimits::default() },
        })
    }
}

/// Where and how often a run checkpoints.
pub struct CheckpointSettings {
    /// The state directory.
    pub dir: PathBuf,
    /// Time between checkpoints.
    pub interval: Duration,
    /// Size and retention.
    pub limits: StoreLimits,
}

/// Opens the state directory, loads the newest valid checkpoint (saying which, why newer ones
/// were rejected, and what a change of rules or workers means for its state). A run over several
/// processes keeps each process's checkpoints in `p<index>` of a state directory they all see
/// (a shared file system across machines, as with any distributed checkpoint storage) and
/// resumes from the newest checkpoint every process completed.
pub fn open_checkpoints(
    program: &str,
    c: &CheckpointSettings,
    rules: &RuleSet,
    plan: &Plan,
    workers: usize,
    process: usize,
    processes: usize,
) -> anyhow::Result<Arc<Coordinator>> {
    let (store, loaded, next_seq) = if processes > 1 {
        if Store::open(&c.dir, c.limits).and_then(|s| s.sequences()).is_ok_and(|s| !s.is_empty()) {
            anyhow::bail!(
                "state directory {}: it holds the checkpoints of a run of one process: run with --processes 1, or give a new state directory",
                c.dir.display()
            );
        }
        let dirs: Vec<PathBuf> = (0..processes).map(|p| c.dir.join(format!("p{p}"))).collect();
        load_common(program, &dirs, c.limits, rules, process)?
    } else {
        if c.dir.join("p0").is_dir() {
            anyhow::bail!(
                "state directory {}: it holds the checkpoints of a run over several processes (p0, p1, ...): run with the same --processes, or give a new state directory",
                c.dir.display()
            );
        }
        let (store, loaded) = load_latest(program, c, rules)?;
        (store, loaded, None)
    };
    if let Some(l) = &loaded {
        check_layout(&c.dir, l, processes, workers)?;
        let finished = if l.manifest.cut == FINISHED { "; that run had finished: its inputs are checked and nothing is written again" } else { "" };
        let rescaled = if l.manifest.workers as usize != workers {
            format!("; it was taken with {} workers: its state is divided among {workers} by key", l.manifest.workers)
        } else {
            String::new()
        };
        eprintln!(
            "{program}: resuming from checkpoint {} of {} (taken {}){finished}{rescaled}",
            l.manifest.seq,
            store.dir().display(),
            to_iso8601(l.manifest.created_unix_ms)
        );
    }
    let layout = Processes { index: process, count: processes, next_seq };
    Coordinator::new(store, c.interval, workers, run_rules(rules, plan), loaded, layout).with_context(|| format!("state directory {}", c.dir.display()))
}

/// Refuses a checkpoint taken over another number of processes (not divided among them yet),
/// or, over several processes, with another number of workers per process.
pub fn check_layout(dir: &Path, l: &Loaded, processes: usize, workers: usize) -> anyhow::Result<()> {
    let (taken_processes, taken_workers) = (l.manifest.processes.max(1) as usize, l.manifest.workers as usize);
    if taken_processes != processes {
        anyhow::bail!(
            "state directory {}: checkpoint {} was taken with {taken_processes} process(es); this run has {processes}: run with --processes {taken_processes} (checkpoints are not divided among another number of processes yet)",
            dir.display(),
            l.manifest.seq
        );
    }
    if processes > 1 && taken_workers != workers {
        anyhow::bail!(
            "state directory {}: checkpoint {} was taken with {taken_workers} workers per process; this run has {workers}: run with --workers {taken_workers} (over several processes, checkpoints are not divided among another number of workers yet)",
            dir.display(),
            l.manifest.seq
        );
    }
    Ok(())
}

/// What the checkpoints of a run record of its rules.
pub fn run_rules(rules: &RuleSet, plan: &Plan) -> RunRules {
    RunRules { stamps: rule_stamps(rules), correlations: plan.correlation_ids() }
}

/// The store of `c` and its newest valid checkpoint. Taken with other rules, it is used with
/// what did not change (said on stderr).
pub fn load_latest(program: &str, c: &CheckpointSettings, rules: &RuleSet) -> anyhow::Result<(Store, Option<Loaded>)> {
    let store = Store::open(&c.dir, c.limits).with_context(|| format!("state directory {}", c.dir.display()))?;
    let (loaded, rejected) = store.latest().with_context(|| format!("state directory {}", c.dir.display()))?;
    let fallback = if loaded.is_some() { "using an older one" } else { "no older one: starting from the beginning" };
    for r in &rejected {
        eprintln!("{program}: checkpoint {} in {} is not usable: {}; {fallback}", r.seq, c.dir.display(), r.reason);
    }
    if let Some(l) = &loaded {
        say_rule_changes(program, l, rules);
    }
    Ok((store, loaded))
}

/// Says on stderr what a change of rules since checkpoint `l` means for its state.
fn say_rule_changes(program: &str, l: &Loaded, rules: &RuleSet) {
    let now = rule_stamps(rules);
    if let Some(changes) = rule_changes(&l.manifest.rules, &now) {
        let kept = unchanged_rules(&l.manifest.rules, &now).len();
        eprintln!(
            "{program}: the rules changed since checkpoint {} ({changes}): the state of the {kept} unchanged rule(s) is kept; changed and added rules start with no state from where the checkpoint's inputs stood; removed rules' state is dropped",
            l.manifest.seq
        );
    }
}

/// Process `process`'s store among the checkpoint directories of a run's processes (`dirs`,
/// one per process, all visible to every process), its part of the newest checkpoint that every
/// process completed and that verifies everywhere, and the number of the next checkpoint (one
/// past the newest in any process's directory, the same on all).
pub fn load_common(
    program: &str,
    dirs: &[PathBuf],
    limits: StoreLimits,
    rules: &RuleSet,
    process: usize,
) -> anyhow::Result<(Store, Option<Loaded>, Option<u64>)> {
    let context = || format!("checkpoint directory {}", dirs[process].display());
    let processes = dirs.len();
    let stores: Vec<Store> = dirs.iter().map(|d| Store::open(d, limits)).collect::<Result<_, _>>().with_context(context)?;
    let mut seqs = Vec::with_capacity(processes);
    for store in &stores {
        seqs.push(store.sequences().with_context(context)?.into_iter().collect::<std::collections::BTreeSet<u64>>());
    }
    if !seqs[process].is_empty() {
        if let Some(p) = (0..processes).find(|&p| seqs[p].is_empty()) {
            anyhow::bail!(
                "process {process} has checkpoints in {} but process {p} has none in {}: over several processes the state directory must be one that every process sees (a shared file system)",
                stores[process].dir().display(),
                stores[p].dir().display()
            );
        }
    }
    let next_seq = stores.iter().map(Store::next_seq).collect::<Result<Vec<u64>, _>>().with_context(context)?.into_iter().max();
    let common: Vec<u64> = seqs[process].iter().copied().filter(|s| seqs.iter().all(|other| other.contains(s))).collect();
    'newest: for seq in common.into_iter().rev() {
        let mut mine = None;
        for (p, store) in stores.iter().enumerate() {
            match store.load(seq) {
                Ok(l) if p == process => mine = Some(l),
                Ok(_) => {}
                Err(e) => {
                    eprintln!(
                        "{program}: checkpoint {seq} of process {p} in {} is not usable: {e}; using an older one that every process completed",
                        store.dir().display()
                    );
                    continue 'newest;
                }
            }
        }
        if let Some(l) = &mine {
            say_rule_changes(program, l, rules);
        }
        return Ok((stores[process].clone(), mine, next_seq));
    }
    Ok((stores[process].clone(), None, next_seq))
}

/// The checkpoints a run took (stderr).
pub fn print_checkpoints(c: &CheckpointStats, rstats: &EngineStats) {
    let errors = rstats.checkpoint_errors.load(Relaxed);
    let last = c.last_seq.map_or("none".to_owned(), |s| s.to_string());
    eprintln!(
        "  checkpoints: {} taken (last {last}, {} bytes, {} ms; largest {} bytes; longest {} ms); {} failed; {errors} state error(s)",
        c.taken, c.last_bytes, c.last_ms, c.max_bytes, c.max_ms, c.failed
    );
    let (records, states) = (rstats.dropped_records_of_changed_rules.load(Relaxed), rstats.dropped_states_of_changed_rules.load(Relaxed));
    if records + states > 0 {
        eprintln!("  checkpoints: resumed with changed rules: dropped {records} waiting record(s) and {states} saved state(s) (per rule and worker) of changed or removed rules");
    }
}
