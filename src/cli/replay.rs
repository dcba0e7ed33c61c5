//! `vigil replay`: run Sigma rules over log files as a stream and write incidents.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use super::checkpoint_args::{open_checkpoints, print_checkpoints, CheckpointArgs, CheckpointSettings};
use super::common::{install_interrupt, local_input_bytes, print_correlation_state, print_summary, resolve_inputs, topology_inputs, InputArgs, Progress};
use vigil::checkpoint::CheckpointStats;
use vigil::cluster::ClusterArgs;
use vigil::event::time::{parse_duration_ms, to_iso8601};
use vigil::io::sink::OutputTarget;
use vigil::metrics::RunStats;
use vigil::pipeline::source::SourceConfig;
use vigil::pipeline::{self, EngineConfig, EngineStats, Learn, Plan, StateLimits};
use vigil::rules::{CompileOptions, RuleError, RuleSet};
use vigil::topology::{Topology, DEFAULT_EVIDENCE, DEFAULT_KEY_CAP, DEFAULT_LATENESS_MS};

/// Run Sigma rules (detection and correlation) over log files as a stream; write incidents.
///
/// Events are parsed and matched on the worker that reads them; what a correlation needs moves
/// to the worker that owns its group, where windows are evaluated in event time. Incidents are
/// ECS JSON, one per line, in (time, id) order, with deterministic ids: the same input gives
/// the same bytes for any number of workers or processes.
///
/// Rules come from --rules, from a topology (--topology: its rules, `expand` placeholder values,
/// lateness and limits), or both. Without FILE arguments, the topology's sources that name a
/// `path` are read, each with its own format, year and lateness.
///
/// Learn, then watch: with --learn, the history files are read in the same stream before the new
/// data (event time orders them), so baseline rules learn on history; incidents whose time is not
/// after the last history event are not written (the summary says how many). --warm-up does the
/// same for the first DURATION of a single set of files.
///
/// Examples:
///   vigil replay --rules topologies/rules --year 2017 /var/log/auth.log
///   vigil replay --topology topologies/default.yaml --year 2017 auth.log access.log
///   vigil replay --topology topologies/samples.yaml          # the bundled sample logs
///   vigil replay --rules my-rules/ --lateness 10m conn.log windows.json --output incidents.json
///   vigil replay --rules ../sigma/rules --workers 2 logs/*.json
///   vigil replay --rules topologies/rules --year 2017 --learn march.log --then april.log
///   vigil replay --rules topologies/rules --warm-up 7d --lateness 10m conn.log
///   vigil replay --topology topologies/default.yaml logs/* --output incidents.json --state-dir state/
///                                      # killed? the same command resumes; vigil checkpoints state/
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(group = clap::ArgGroup::new("then_or_files").args(["then", "files"]).multiple(true))]
pub struct ReplayArgs {
    /// Input files (`-` for stdin; gzip and zip are read directly). Default: the topology's
    /// sources that have a path.
    #[arg(required_unless_present_any = ["topology", "then"], value_name = "FILE")]
    files: Vec<String>,
    /// History to learn baselines on: read first, in the same stream; incidents whose time is
    /// not after its last event are not written.
    #[arg(long, num_args = 1.., value_name = "FILE", requires = "then_or_files", conflicts_with = "warm_up")]
    learn: Vec<String>,
    /// The new data to watch after --learn (FILE arguments count as new data too).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    then: Vec<String>,
    /// Do not write incidents within this time of the first event (baselines learn meanwhile).
    /// Examples: 1d, 7d.
    #[arg(long, value_parser = parse_duration_ms, value_name = "DURATION")]
    warm_up: Option<i64>,
    /// A Sigma rule file or folder (searched recursively for *.yml and *.yaml); repeat for more.
    #[arg(short, long, required_unless_present = "topology", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// A topology file (see topologies/default.yaml): rules, placeholders, sources, lateness, limits.
    #[arg(short, long, value_name = "FILE")]
    topology: Option<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    /// Write incidents here instead of stdout (`{process}` is replaced by the process index).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write unparsable and late records here, one JSON object per line with the reason.
    #[arg(long, value_name = "FILE")]
    dead_letter: Option<PathBuf>,
    /// Most evidence events per incident (the rest are counted in vigil.evidence_omitted).
    /// [default: 10, or the topology's limits.evidence]
    #[arg(long)]
    evidence: Option<usize>,
    /// Most live groups per correlation per worker; beyond, the least recent is evicted.
    /// [default: 1000000, or the topology's limits.key_cap]
    #[arg(long)]
    key_cap: Option<usize>,
    /// Run every rule on every event, whatever its `logsource` says, as engines that ignore
    /// logsource do: for comparing results with them, not for production (a process-creation
    /// rule then also fires on image loads that name the same image).
    #[arg(long)]
    ignore_logsource: bool,
    /// Keep checkpoints here and resume from the newest valid one: a replay killed at any point
    /// and run again with the same arguments writes the same bytes as one uninterrupted run
    /// (the output is cut back to the checkpoint and continued). Needs --output; one process.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    checkpoints: CheckpointArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Prints every error of a rule or topology file and turns them into one failure.
pub fn report_errors(errors: &[RuleError], what: &str) -> anyhow::Error {
    for e in errors {
        eprintln!("error: {e}");
    }
    anyhow::anyhow!("{} error(s) in the {what} (vigil check shows the same list)", errors.len())
}

/// Runs the subcommand.
pub fn run(args: ReplayArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let timely_config = args.cluster.timely_config()?;
    let topology = match &args.topology {
        Some(path) => Some(Topology::load(path).map_err(|e| report_errors(&e, "topology"))?),
        None => None,
    };
    let loaded = match &topology {
        Some(t) => t.load_rules(&args.rules),
        None => RuleSet::load(&args.rules, &CompileOptions::default()),
    };
    let mut rules = loaded.map_err(|e| report_errors(&e, "rules"))?;
    rules.ignore_logsource = args.ignore_logsource;
    for w in &rules.warnings {
        tracing::warn!("{w}");
    }
    let mut plan = Plan::new(&rules);
    let learn_inputs = u32::try_from(args.learn.len()).context("too many --learn files")?;
    plan.learn = match (learn_inputs, args.warm_up) {
        (0, None) => Learn::Off,
        (0, Some(d)) => Learn::WarmUp(d),
        (n, _) => Learn::Inputs(n),
    };
    for (title, why) in &plan.skipped {
        eprintln!("vigil replay: skipping correlation {title:?}: {why}");
    }
    let limits = StateLimits {
        key_cap: args.key_cap.or(topology.as_ref().map(|t| t.key_cap)).unwrap_or(DEFAULT_KEY_CAP).max(1),
        evidence_cap: args.evidence.or(topology.as_ref().map(|t| t.evidence)).unwrap_or(DEFAULT_EVIDENCE),
        ..StateLimits::default()
    };
    pipeline::validate(&rules, &plan, limits).map_err(anyhow::Error::msg).context("correlation parameters")?;
    let lateness_ms = args.input.lateness.or(topology.as_ref().map(|t| t.lateness_ms)).unwrap_or(DEFAULT_LATENESS_MS);

    // History first: its inputs are partitions 0..n (the plan's `Learn::Inputs(n)`).
    let files: Vec<String> = args.learn.iter().chain(&args.then).chain(&args.files).cloned().collect();
    let specs = match &topology {
        Some(t) if files.is_empty() => topology_inputs(t, &args.cluster)?,
        _ => resolve_inputs(&files, args.input.format, &args.cluster)?,
    };
    let checkpoint = match &args.state_dir {
        Some(dir) => Some(checkpoint_settings(&args, dir, &files)?),
        None => None,
    };
    let run = execute(
        specs.clone(),
        rules,
        plan,
        Execution {
            parse: args.input.parse_options(),
            lateness_ms,
            output: OutputTarget::from_arg(args.output.as_deref(), args.cluster.process),
            dead_letter: args.dead_letter.as_deref().map(|p| OutputTarget::from_arg(Some(p), args.cluster.process)),
            cluster: args.cluster.clone(),
            limits,
            quiet,
            checkpoint,
        },
        timely_config,
    )?;
    let (stats, rstats, rules, plan) = (run.stats.clone(), run.replay.clone(), run.rules.clone(), run.plan.clone());
    if !quiet {
        print_summary("replay", &specs, &args.cluster, &stats, run.elapsed);
        let matches = pipeline::matches_per_rule(&rstats);
        let total: u64 = matches.iter().sum();
        let incidents = pipeline::incidents_per_rule(&rstats);
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
        print_correlation_state(&rstats);
        print_learning(plan.learn, &rstats);
        print_baselines(&rstats);
        if let Some(c) = &run.checkpoints {
            print_checkpoints(c, &rstats);
        }
    }
    Ok(if stats.fatal.load(Relaxed) > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Checks that the run can be checkpointed and says how.
fn checkpoint_settings(args: &ReplayArgs, dir: &std::path::Path, files: &[String]) -> anyhow::Result<CheckpointSettings> {
    let refuse = |why: &str| anyhow::anyhow!("--state-dir {}: {why}", dir.display());
    if args.output.is_none() {
        return Err(refuse("needs --output FILE (a resumed run cuts the file back to the checkpoint and continues it; stdout cannot be)"));
    }
    if files.iter().any(|f| f == "-") {
        return Err(refuse("stdin cannot be resumed; name the files"));
    }
    args.checkpoints.settings(dir)
}

/// Says what learning held back (stderr).
fn print_learning(learn: Learn, rstats: &EngineStats) {
    let cutoff = rstats.cutoff_ms.load(Relaxed);
    let held = rstats.before_cutoff.load(Relaxed);
    let when = if cutoff == i64::MIN { "no event".to_string() } else { to_iso8601(cutoff) };
    match learn {
        Learn::Off => {}
        Learn::Inputs(n) => {
            eprintln!("  learn: {n} history input(s) up to {when}; {held} incident(s) at or before it not written (counted before suppression)")
        }
        Learn::WarmUp(_) => eprintln!("  warm-up: until {when}; {held} incident(s) at or before it not written (counted before suppression)"),
    }
}

/// Per baseline rule: entities, state and evictions (stderr).
fn print_baselines(rstats: &EngineStats) {
    let Ok(all) = rstats.baselines.lock() else { return };
    if all.is_empty() {
        return;
    }
    eprintln!("  baselines: {:<50} {:>9} {:>9} {:>10} {:>8} {:>8} {:>9}", "rule", "anomalies", "entities", "state B", "B/entity", "ttl ev.", "cap ev.");
    for (title, s) in all.iter() {
        let per = s.peak_bytes.checked_div(s.peak_entities).unwrap_or(0);
        let shown = if title.chars().count() > 50 { format!("{}...", title.chars().take(47).collect::<String>()) } else { title.clone() };
        eprintln!(
            "  baselines: {shown:<50} {:>9} {:>9} {:>10} {per:>8} {:>8} {:>9}",
            s.anomalies, s.peak_entities, s.peak_bytes, s.ttl_evictions, s.cap_evictions
        );
        if s.rejected + s.pending_dropped + s.judge_peak_bytes as u64 > 0 {
            eprintln!(
                "  baselines: {shown:<50} peer judge up to {} bytes; {} event(s) out of order, {} peer verdict(s) dropped",
                s.judge_peak_bytes, s.rejected, s.pending_dropped
            );
        }
    }
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
    /// Checkpoints (`--state-dir`).
    pub checkpoint: Option<CheckpointSettings>,
}

/// What a finished replay leaves behind.
pub struct Finished {
    /// Input counters.
    pub stats: Arc<RunStats>,
    /// Rule counters.
    pub replay: Arc<EngineStats>,
    /// The rules.
    pub rules: Arc<RuleSet>,
    /// The plan.
    pub plan: Arc<Plan>,
    /// How long it ran.
    pub elapsed: std::time::Duration,
    /// The checkpoints it took (with --state-dir).
    pub checkpoints: Option<CheckpointStats>,
}

/// Runs the replay dataflow to completion on this process's workers.
pub fn execute(specs: Vec<vigil::io::input::InputSpec>, rules: RuleSet, plan: Plan, how: Execution, timely_config: timely::Config) -> anyhow::Result<Finished> {
    let stats = Arc::new(RunStats::new(specs.iter().map(|s| s.source.display()).collect()));
    let rstats = Arc::new(EngineStats { matches: (0..rules.rules.len()).map(|_| AtomicU64::new(0)).collect(), ..EngineStats::default() });
    let cancel = Arc::new(AtomicBool::new(false));
    install_interrupt(cancel.clone());
    let coordinator = match &how.checkpoint {
        Some(c) => Some(open_checkpoints("vigil replay", c, &rules, &plan, how.cluster.workers, how.cluster.process, how.cluster.processes)?),
        None => None,
    };
    let rules = Arc::new(rules);
    let plan = Arc::new(plan);
    let cfg = EngineConfig {
        source: SourceConfig { inputs: specs.clone(), parse: how.parse, lateness_ms: how.lateness_ms, stats: stats.clone(), cancel },
        rules: rules.clone(),
        output: how.output,
        dead_letter: how.dead_letter,
        workers_per_process: how.cluster.workers,
        limits: how.limits,
        stats: rstats.clone(),
        checkpoint: coordinator.clone(),
    };
    let progress = Progress::start(stats.clone(), local_input_bytes(&specs, &how.cluster), how.quiet);
    let started = Instant::now();
    let worker_plan = plan.clone();
    let guards = timely::execute(timely_config, move |worker| pipeline::build(worker, &cfg, worker_plan.clone()))
        .map_err(anyhow::Error::msg)
        .context("starting the timely workers")?;
    let results = guards.join();
    progress.finish();
    for r in results {
        r.map_err(anyhow::Error::msg).context("a worker failed")?;
    }
    let checkpoints = coordinator.map(|c| {
        c.wait();
        c.stats()
    });
    Ok(Finished { stats, replay: rstats, rules, plan, elapsed: started.elapsed(), checkpoints })
}
