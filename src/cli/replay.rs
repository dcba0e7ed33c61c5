//! `vigil replay`: run Sigma rules over log files as a stream and write incidents.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use super::common::{install_interrupt, local_input_bytes, print_summary, resolve_inputs, InputArgs, Progress};
use vigil::cluster::ClusterArgs;
use vigil::dataflow::replay::{self, Plan, ReplayConfig, ReplayStats, StateLimits};
use vigil::dataflow::source::SourceConfig;
use vigil::io::sink::OutputTarget;
use vigil::metrics::RunStats;
use vigil::rules::{CompileOptions, RuleSet};

/// Run Sigma rules (detection and correlation) over log files as a stream; write incidents.
///
/// Events are parsed and matched on the worker that reads them; what a correlation needs moves
/// to the worker that owns its group, where windows are evaluated in event time. Incidents are
/// ECS JSON, one per line, in (time, id) order, with deterministic ids: the same input gives
/// the same bytes for any number of workers or processes.
///
/// Examples:
///   vigil replay --rules topologies/rules --year 2017 /var/log/auth.log
///   vigil replay --rules my-rules/ --lateness 10m conn.log windows.json --output incidents.json
///   vigil replay --rules ../sigma/rules --workers 2 logs/*.json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ReplayArgs {
    /// Input files (`-` for stdin; gzip and zip are read directly).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// A Sigma rule file or folder (searched recursively for *.yml and *.yaml); repeat for more.
    #[arg(short, long, required = true, value_name = "PATH")]
    rules: Vec<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    /// Write incidents here instead of stdout (`{process}` is replaced by the process index).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write unparsable and late records here, one JSON object per line with the reason.
    #[arg(long, value_name = "FILE")]
    dead_letter: Option<PathBuf>,
    /// Most evidence events per incident (the rest are counted in vigil.evidence_omitted).
    #[arg(long, default_value_t = 10)]
    evidence: usize,
    /// Most live groups per correlation per worker; beyond, the least recent is evicted.
    #[arg(long, default_value_t = 1_000_000)]
    key_cap: usize,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Runs the subcommand.
pub fn run(args: ReplayArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let timely_config = args.cluster.timely_config()?;
    let rules = match RuleSet::load(&args.rules, &CompileOptions::default()) {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            anyhow::bail!("{} error(s) in the rules (vigil check shows the same list)", errors.len());
        }
    };
    for w in &rules.warnings {
        tracing::warn!("{w}");
    }
    let plan = Plan::new(&rules);
    for (title, why) in &plan.skipped {
        eprintln!("vigil replay: skipping correlation {title:?}: {why}");
    }
    let limits = StateLimits { key_cap: args.key_cap.max(1), evidence_cap: args.evidence, ..StateLimits::default() };
    replay::validate(&rules, &plan, limits).map_err(anyhow::Error::msg).context("correlation parameters")?;

    let specs = resolve_inputs(&args.files, args.input.format, &args.cluster)?;
    let run = execute(
        specs.clone(),
        rules,
        plan,
        Execution {
            parse: args.input.parse_options(),
            lateness_ms: args.input.lateness,
            output: OutputTarget::from_arg(args.output.as_deref(), args.cluster.process),
            dead_letter: args.dead_letter.as_deref().map(|p| OutputTarget::from_arg(Some(p), args.cluster.process)),
            cluster: args.cluster.clone(),
            limits,
            quiet,
        },
        timely_config,
    )?;
    let (stats, rstats, rules, plan) = (run.stats.clone(), run.replay.clone(), run.rules.clone(), run.plan.clone());
    if !quiet {
        print_summary("replay", &specs, &args.cluster, &stats, run.elapsed);
        let matches = replay::matches_per_rule(&rstats);
        let total: u64 = matches.iter().sum();
        let incidents = replay::incidents_per_rule(&rstats);
        eprintln!(
            "  rules: {} detection, {} correlation evaluated, {} skipped; matches {total}; incidents {}",
            rules.rules.len(),
            plan.correlations.len(),
            plan.skipped.len(),
            incidents.values().sum::<u64>()
        );
        let mut by_rule: Vec<(&String, &u64)> = incidents.iter().collect();
        by_rule.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (title, n) in by_rule.iter().take(30) {
            eprintln!("    {n:>7}  {title}");
        }
        let evicted = rstats.evictions.load(Relaxed);
        let missing = rstats.missing_group.load(Relaxed);
        if evicted + missing > 0 {
            eprintln!("  correlation keys evicted {evicted}; matches without their group-by fields {missing}");
        }
    }
    Ok(if stats.fatal.load(Relaxed) > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// How to run a replay, besides inputs and rules.
pub struct Execution {
    /// Parser settings.
    pub parse: vigil::parse::ParseOptions,
    /// Allowed lateness.
    pub lateness_ms: i64,
    /// Incident output.
    pub output: OutputTarget,
    /// Dead-letter output.
    pub dead_letter: Option<OutputTarget>,
    /// Cluster layout.
    pub cluster: ClusterArgs,
    /// State limits.
    pub limits: StateLimits,
    /// No progress display.
    pub quiet: bool,
}

/// What a finished replay leaves behind.
pub struct Finished {
    /// Input counters.
    pub stats: Arc<RunStats>,
    /// Rule counters.
    pub replay: Arc<ReplayStats>,
    /// The rules.
    pub rules: Arc<RuleSet>,
    /// The plan.
    pub plan: Arc<Plan>,
    /// How long it ran.
    pub elapsed: std::time::Duration,
}

/// Runs the replay dataflow to completion on this process's workers.
pub fn execute(specs: Vec<vigil::io::input::InputSpec>, rules: RuleSet, plan: Plan, how: Execution, timely_config: timely::Config) -> anyhow::Result<Finished> {
    let stats = Arc::new(RunStats::new(specs.iter().map(|s| s.source.display()).collect()));
    let rstats = Arc::new(ReplayStats { matches: (0..rules.rules.len()).map(|_| AtomicU64::new(0)).collect(), ..ReplayStats::default() });
    let cancel = Arc::new(AtomicBool::new(false));
    install_interrupt(cancel.clone());
    let rules = Arc::new(rules);
    let plan = Arc::new(plan);
    let cfg = ReplayConfig {
        source: SourceConfig { inputs: specs.clone(), parse: how.parse, lateness_ms: how.lateness_ms, stats: stats.clone(), cancel },
        rules: rules.clone(),
        output: how.output,
        dead_letter: how.dead_letter,
        workers_per_process: how.cluster.workers,
        limits: how.limits,
        stats: rstats.clone(),
    };
    let progress = Progress::start(stats.clone(), local_input_bytes(&specs, &how.cluster), how.quiet);
    let started = Instant::now();
    let worker_plan = plan.clone();
    let guards = timely::execute(timely_config, move |worker| replay::build(worker, &cfg, worker_plan.clone()))
        .map_err(anyhow::Error::msg)
        .context("starting the timely workers")?;
    let results = guards.join();
    progress.finish();
    for r in results {
        r.map_err(anyhow::Error::msg).context("a worker failed")?;
    }
    Ok(Finished { stats, replay: rstats, rules, plan, elapsed: started.elapsed() })
}
