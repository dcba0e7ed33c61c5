//! `vigil normalize`: logs in, ECS JSON events out, in event-time order.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use super::common::{install_interrupt, local_input_bytes, print_summary, resolve_inputs, InputArgs, Progress};
use vigil::cluster::ClusterArgs;
use vigil::event::entity::EntityKey;
use vigil::io::sink::OutputTarget;
use vigil::metrics::RunStats;
use vigil::pipeline::normalize::{self, NormalizeConfig};
use vigil::pipeline::source::SourceConfig;

/// Parse log files into ECS JSON events (one object per line), in event-time order.
///
/// Every record becomes at least one event; a record that cannot be parsed is counted, named
/// with its file and line, and written to --dead-letter with the reason. Records older than the
/// allowed lateness are late: counted and dead-lettered, never silently dropped.
///
/// Examples:
///   vigil normalize /var/log/auth.log > auth.json
///   vigil normalize --year 2017 --lateness 1h auth.log access.log conn.log --out events.json
///   zcat auth.log.gz | vigil normalize --format syslog -
///   vigil normalize --workers 4 --dead-letter bad.json logs/*.log --out events.json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct NormalizeArgs {
    /// Input files (`-` for stdin; gzip files are read directly).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    #[command(flatten)]
    input: InputArgs,
    /// Write events here instead of stdout. In a cluster, `{process}` in the path is replaced
    /// by the process index (each process writes the events its workers own).
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write unparsable and late records here, one JSON object per line with the reason.
    #[arg(long, value_name = "FILE")]
    dead_letter: Option<PathBuf>,
    /// Fields naming an event's entity (first present wins); events are partitioned by it.
    #[arg(long, default_value = "source.ip,user.name,host.hostname", value_name = "FIELDS")]
    entity_key: String,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Runs the subcommand.
pub fn run(args: NormalizeArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let timely_config = args.cluster.timely_config()?;
    let entity = EntityKey::parse(&args.entity_key).map_err(anyhow::Error::msg).context("--entity-key")?;
    let specs = resolve_inputs(&args.files, args.input.format, &args.cluster)?;
    let stats = Arc::new(RunStats::new(specs.iter().map(|s| s.source.display()).collect()));
    let cancel = Arc::new(AtomicBool::new(false));
    install_interrupt(cancel.clone());

    let process = args.cluster.process;
    let cfg = NormalizeConfig {
        source: SourceConfig {
            inputs: specs.clone(),
            parse: args.input.parse_options(),
            lateness_ms: args.input.lateness.unwrap_or(vigil::topology::DEFAULT_LATENESS_MS),
            stats: stats.clone(),
            cancel,
        },
        entity,
        output: OutputTarget::from_arg(args.out.as_deref(), process),
        dead_letter: args.dead_letter.as_deref().map(|p| OutputTarget::from_arg(Some(p), process)),
        workers_per_process: args.cluster.workers,
    };
    let progress = Progress::start(stats.clone(), local_input_bytes(&specs, &args.cluster), quiet);
    let started = Instant::now();
    let guards =
        timely::execute(timely_config, move |worker| normalize::build(worker, &cfg)).map_err(anyhow::Error::msg).context("starting the timely workers")?;
    let results = guards.join();
    progress.finish();
    for r in results {
        r.map_err(anyhow::Error::msg).context("a worker failed")?;
    }
    if !quiet {
        print_summary("normalize", &specs, &args.cluster, &stats, started.elapsed());
    }
    Ok(if stats.fatal.load(Relaxed) > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
