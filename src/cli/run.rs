//! `vigil run`: the production mode. Kafka topics in, incidents and dead letters out, on a
//! cluster of processes, with Prometheus metrics.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::checkpoint_args::{check_layout, load_common, load_latest, print_checkpoints, run_rules, CheckpointArgs};
use super::common::{install_interrupt, print_correlation_state};
use super::replay::report_errors;
use vigil::checkpoint::{Coordinator, Processes, FINISHED};
use vigil::cluster::ClusterArgs;
use vigil::config::Config;
use vigil::event::time::parse_duration_ms;
use vigil::io::input::InputOverrides;
use vigil::io::kafka::{discover, AssignedPartition, TopicSource};
use vigil::io::kafka_output::OutputOrigin;
use vigil::io::sink::OutputTarget;
use vigil::metrics::prometheus::{serve, Registry};
use vigil::metrics::{RunStats, ERROR_KINDS};
use vigil::parse::ParseOptions;
use vigil::pipeline::kafka_source::KafkaSourceConfig;
use vigil::pipeline::source::SourceConfig;
use vigil::pipeline::{self, EngineConfig, EngineStats, KafkaRun, Plan, StateLimits};
use vigil::topology::Topology;

/// Run a topology on Kafka: consume its sources' topics, write incidents and dead letters to
/// the topics of the config, serve Prometheus metrics.
///
/// Topic partitions are assigned statically to the cluster's workers (partition i of the
/// run to worker i mod workers); a worker resumes each partition from the offset committed
/// in the consumer group. Offsets are committed only for records whose incidents have been
/// delivered (and that no open window still needs), so a restart after a crash or a stop
/// re-reads what it must and writes incidents again only under the same ids.
///
/// With --exactly-once the state is checkpointed instead (every --checkpoint-interval): a
/// restart resumes each partition at its checkpointed offset with the state as it was, and
/// what the crashed run had delivered after the checkpoint is recognised and not sent again.
///
/// Ctrl-C or SIGTERM: stop reading, deliver what is done, commit, exit 0 (a second Ctrl-C
/// exits at once). Send it to every process of a cluster.
///
/// Examples:
///   vigil run --config config/vigil.toml --topology topologies/default.yaml
///   vigil run --config config/vigil.toml --topology topologies/default.yaml --workers 4
///   vigil run --config config/vigil.toml --topology topologies/default.yaml --exactly-once   # checkpoints in state.dir
///   vigil run --config c.toml --topology t.yaml --processes 3 --process 0 --hosts config/hosts.example
///   VIGIL_KAFKA_BROKERS=kafka:9092 vigil run --topology topologies/default.yaml --stop-when-idle 10s
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// The run configuration: brokers, client security settings, output topics, metrics address.
    #[arg(short, long, default_value = "config/vigil.toml", value_name = "FILE")]
    config: PathBuf,
    /// The topology: rules, placeholders, sources (topic and format each), lateness, limits.
    #[arg(short, long, default_value = "topologies/default.yaml", value_name = "FILE")]
    topology: PathBuf,
    /// Worker threads per process [default: the config's cluster.workers, else 1].
    #[arg(short = 'w', long, env = "VIGIL_WORKERS")]
    workers: Option<usize>,
    /// Number of processes in the cluster.
    #[arg(long, default_value_t = 1, env = "VIGIL_PROCESSES")]
    processes: usize,
    /// This process's index, from 0.
    #[arg(long, default_value_t = 0, env = "VIGIL_PROCESS")]
    process: usize,
    /// Hostfile: one host:port per process [default: the config's cluster.hosts].
    #[arg(long, env = "VIGIL_HOSTS", value_name = "FILE")]
    hosts: Option<PathBuf>,
    /// Read only these topology sources (comma-separated names) [default: every source with a topic].
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    sources: Vec<String>,
    /// Treat the topics as complete once no record has arrived for this long: close every
    /// window, deliver, commit everything read, and exit (backfills, tests, benchmarks).
    #[arg(long, value_parser = parse_duration_ms, value_name = "DURATION")]
    stop_when_idle: Option<i64>,
    /// A partition silent this long stops holding back the watermark [default: the topology's time.idle_timeout].
    #[arg(long, value_parser = parse_duration_ms, value_name = "DURATION")]
    idle_timeout: Option<i64>,
    /// How often offsets are committed.
    #[arg(long, default_value = "5s", value_parser = parse_duration_ms, value_name = "DURATION")]
    commit_interval: i64,
    /// How far back in event time a restart may have to re-read. A restart re-reads every chain
    /// of windows still live (a group matched without a pause longer than its window) from its
    /// start, so that it cuts its windows where this run did; a chain older than this is cut
    /// short, and may then give incidents with other ids (the commit point, and so the
    /// consumer lag, stay at most this far behind, or the topology's horizon if longer).
    #[arg(long, default_value = "1d", value_parser = parse_duration_ms, value_name = "DURATION")]
    max_reread: i64,
    /// Checkpoint every stateful operator's state, each partition's offset and clock, and the
    /// output topics' ends into the state directory (the config's state.dir), and resume from
    /// the newest valid checkpoint: after a crash at any point, no record is re-read, nothing is
    /// lost, and no incident or dead letter is delivered twice (what the crashed run delivered
    /// after its checkpoint is read back and not sent again). Over several processes, the state
    /// directory must be one every process sees (a shared file system); not with learning.
    #[arg(long)]
    exactly_once: bool,
    #[command(flatten)]
    checkpoints: CheckpointArgs,
}

/// Runs the subcommand.
pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load_with_env(&args.config).with_context(|| format!("loading {}", args.config.display()))?;
    let topology = Topology::load(&args.topology).map_err(|e| report_errors(&e, "topology"))?;
    let cluster = ClusterArgs {
        workers: args.workers.or(config.cluster.workers).unwrap_or(1),
        processes: args.processes,
        process: args.process,
        hosts: args.hosts.clone().or(config.cluster.hosts.clone()),
    };
    let timely_config = cluster.timely_config()?;
    let rules = topology.load_rules(&[]).map_err(|e| report_errors(&e, "rules"))?;
    for w in &rules.warnings {
        tracing::warn!("{w}");
    }
    let plan = Plan::new(&rules);
    for (title, why) in &plan.skipped {
        eprintln!("vigil run: skipping correlation {title:?}: {why}");
    }
    let limits = StateLimits { key_cap: topology.key_cap.max(1), evidence_cap: topology.evidence, ..StateLimits::default() };
    pipeline::validate(&rules, &plan, limits).map_err(anyhow::Error::msg).context("correlation parameters")?;
    let horizon_ms = plan.horizon_ms(&rules);
    let group_file: String = config.kafka.group_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    let (coordinator, origin) = match args.exactly_once {
        true => {
            let (c, o) = open_exactly_once(&args, &config, &cluster, &plan, &rules, &group_file, quiet)?;
            (Some(c), o)
        }
        false => (None, None),
    };

    let sources = topic_sources(&topology, &args.sources)?;
    let client = config.client_config();
    let outputs = [("incidents", config.topics.incidents.as_str()), ("dead letters", config.topics.dead_letter.as_str())];
    let partitions = discover(&client, &sources, &outputs, Duration::from_secs(15))?;
    if !quiet {
        eprintln!(
            "vigil run: {} partition(s) of {} topic(s) on {} ({} worker(s) in all, this is process {} of {}); incidents to {}, dead letters to {}; {}",
            partitions.len(),
            sources.len(),
            config.kafka.brokers,
            cluster.peers(),
            cluster.process,
            cluster.processes,
            config.topics.incidents,
            config.topics.dead_letter,
            match &coordinator {
                Some(_) => format!(
                    "exactly once: checkpoints every {}",
                    humantime::format_duration(Duration::from_millis(args.checkpoints.checkpoint_interval.max(0) as u64))
                ),
                None => format!("commits stay {} behind delivery", humantime::format_duration(Duration::from_millis(horizon_ms.max(0) as u64))),
            },
        );
    }

    let stats = Arc::new(RunStats::new(partitions.iter().map(|p| format!("{}/{}", p.topic, p.partition)).collect()));
    let rstats = Arc::new(EngineStats { matches: (0..rules.rules.len()).map(|_| AtomicU64::new(0)).collect(), ..EngineStats::default() });
    let cancel = Arc::new(AtomicBool::new(false));
    // SIGINT, SIGTERM and SIGHUP (ctrlc's `termination` feature): the first drains and commits.
    install_interrupt(cancel.clone());
    let rule_titles: Vec<String> = rules.rules.iter().map(|r| r.title.clone()).collect();

    let registry = Arc::new(Registry::new());
    let server = match config.metrics.address {
        Some(addr) => {
            let s = serve(addr, registry.clone()).with_context(|| format!("serving metrics on {addr} (metrics.address, VIGIL_METRICS_ADDRESS)"))?;
            if !quiet {
                eprintln!("vigil run: metrics on http://{}/metrics", s.local_addr());
            }
            Some(s)
        }
        None => None,
    };
    let exporter_stop = Arc::new(AtomicBool::new(false));
    let exporter = spawn_exporter(
        registry.clone(),
        stats.clone(),
        rstats.clone(),
        partitions.clone(),
        rule_titles,
        config.topics.incidents.clone(),
        client.clone(),
        exporter_stop.clone(),
    );

    // Where the last run left off: every incident before its delivered frontier was delivered,
    // so what the re-read gives again before it is not written twice (see pipeline::chain).
    let log = vigil::io::kafka::ResumeLog::open(config.state.dir.join(format!("resume-{group_file}-p{}.json", cluster.process)));
    let (delivered_before, read_before) = if coordinator.is_some() {
        // A checkpoint holds the positions: nothing before them is read, nothing derived twice.
        (None, vec![None; partitions.len()])
    } else {
        let consumer = vigil::io::kafka::consumer(&client, &config.kafka.group_id).context("a consumer to read the committed offsets")?;
        let specs: Vec<&vigil::io::kafka::AssignedPartition> = partitions.iter().collect();
        let resumes = vigil::io::kafka::committed(&consumer, &specs, Duration::from_secs(30)).context("reading the group's committed offsets")?;
        let points: Vec<Option<vigil::io::kafka::Resume>> = specs.iter().zip(&resumes).map(|(p, r)| log.resume_of(&p.topic, p.partition, *r)).collect();
        let delivered = points.iter().flatten().filter_map(|r| r.delivered_ms).max();
        (delivered, points.iter().map(|r| r.and_then(|r| r.read)).collect::<Vec<_>>())
    };
    if let (Some(d), false) = (delivered_before, quiet) {
        let unknown = read_before.iter().filter(|r| r.is_none()).count();
        eprintln!(
            "vigil run: resuming; incidents before {} were delivered by the previous run, except those with records it had not read{}",
            vigil::event::time::to_iso8601(d),
            if unknown > 0 { format!(" ({unknown} partition(s) without a recorded read position: judged by time alone)") } else { String::new() }
        );
    }
    let lateness_ms = topology.lateness_ms;
    let kafka = KafkaRun {
        source: KafkaSourceConfig {
            client: client.clone(),
            group_id: config.kafka.group_id.clone(),
            partitions: partitions.clone(),
            parse: ParseOptions::default(),
            lateness_ms,
            idle_timeout: Duration::from_millis(args.idle_timeout.unwrap_or(topology.idle_timeout_ms).max(0) as u64),
            stop_when_idle: args.stop_when_idle.map(|ms| Duration::from_millis(ms.max(0) as u64)),
            commit_interval: Duration::from_millis(args.commit_interval.max(100) as u64),
            horizon_ms,
            max_reread_ms: args.max_reread.max(0),
            resume: coordinator.is_none().then(|| Arc::new(std::sync::Mutex::new(log))),
            stats: stats.clone(),
            cancel: cancel.clone(),
            discard: Arc::new(AtomicBool::new(false)),
            checkpoint: coordinator.clone(),
        },
        client: client.clone(),
        incidents: config.topics.incidents.clone(),
        dead_letter: config.topics.dead_letter.clone(),
        delivered_before,
        read_before: Arc::from(read_before),
        origin,
    };
    let cfg = EngineConfig {
        source: SourceConfig { inputs: Vec::new(), parse: ParseOptions::default(), lateness_ms, stats: stats.clone(), cancel: cancel.clone() },
        rules: Arc::new(rules),
        output: OutputTarget::Discard,
        dead_letter: None,
        workers_per_process: cluster.workers,
        limits,
        stats: rstats.clone(),
        checkpoint: coordinator.clone(),
    };
    let plan = Arc::new(plan);
    let started = Instant::now();
    let guards = timely::execute(timely_config, move |worker| {
        let position = pipeline::build_kafka(worker, &cfg, plan.clone(), &kafka);
        while worker.step_or_park(Some(Duration::from_millis(50))) {}
        // The dataflow has finished: everything read has been processed and delivered.
        if let Some(pos) = position {
            let pos = pos.borrow();
            if pos.completed {
                if let Err(e) = pos.commit_all() {
                    cfg.source.stats.fatal(|| format!("worker {}: final commit failed: {e}", worker.index()));
                }
            }
        }
    })
    .map_err(anyhow::Error::msg)
    .context("starting the timely workers")?;
    for r in guards.join() {
        r.map_err(anyhow::Error::msg).context("a worker failed")?;
    }
    // The last checkpoint is on disk before the process ends.
    if let Some(c) = &coordinator {
        c.wait();
    }
    // Measured before the exporter's last round (it sleeps in 1 s steps).
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    exporter_stop.store(true, Relaxed);
    let _ = exporter.join();
    if let Some(s) = server {
        s.shutdown();
    }

    let events = stats.total(|s| &s.events);
    if !quiet {
        let incidents = pipeline::incidents_per_rule(&rstats);
        // With --stop-when-idle the run ends by waiting that long for nothing: leave it out of the rate.
        let idle = match args.stop_when_idle {
            Some(ms) if !cancel.load(Relaxed) => ms as f64 / 1000.0,
            _ => 0.0,
        };
        let active = (elapsed - idle).max(1e-3);
        eprintln!(
            "vigil run: {events} events from {} bytes in {elapsed:.2} s ({:.0} events/s{}); unparsable {}; late {}; dead letters {}; incidents {}; delivery retries {}",
            stats.total(|s| &s.bytes),
            events as f64 / active,
            if idle > 0.0 { format!(" over the {active:.2} s before the final idle wait") } else { String::new() },
            stats.total(|s| &s.errors),
            stats.total(|s| &s.late),
            stats.dead_letters.load(Relaxed),
            incidents.values().sum::<u64>(),
            rstats.delivery_errors.load(Relaxed),
        );
        let mut by_rule: Vec<(&String, &u64)> = incidents.iter().collect();
        by_rule.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (title, n) in by_rule.iter().take(30) {
            eprintln!("    {n:>7}  {title}");
        }
        print_correlation_state(&rstats);
        if let Some(c) = &coordinator {
            print_checkpoints(&c.stats(), &rstats);
            let (incidents, dead) = (rstats.already_delivered.load(Relaxed), stats.dead_letters_already_delivered.load(Relaxed));
            if incidents + dead > 0 {
                eprintln!(
                    "  resumed: {incidents} incident(s) and {dead} dead letter(s) derived again had been delivered by the run before, and were not sent twice"
                );
            }
        }
        if let Ok(samples) = stats.samples.lock() {
            for s in samples.iter() {
                eprintln!("    {s}");
            }
        }
    }
    Ok(if stats.fatal.load(Relaxed) > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Where the output topics start, and whether a run before may have written after it.
type Origin = (OutputOrigin, bool);

/// Checks that `--exactly-once` can run here, opens the state directory and loads its newest
/// checkpoint; without one, records (or reads back) where the output topics start.
fn open_exactly_once(
    args: &RunArgs,
    config: &Config,
    cluster: &ClusterArgs,
    plan: &Plan,
    rules: &vigil::rules::RuleSet,
    group_file: &str,
    quiet: bool,
) -> anyhow::Result<(Arc<Coordinator>, Option<Origin>)> {
    if matches!(plan.learn, vigil::pipeline::Learn::Inputs(_)) {
        bail!("--exactly-once with history to learn on first is not supported yet (its history and new data are two sources; a warm-up is)");
    }
    // One directory per process; over several processes every one of them sees all (a shared
    // file system), and they resume from the newest checkpoint all of them completed.
    let dir_of = |p: usize| config.state.dir.join("checkpoints").join(format!("{group_file}-p{p}"));
    let dir = dir_of(cluster.process);
    let settings = args.checkpoints.settings(&dir)?;
    let (store, loaded, next_seq) = if cluster.processes > 1 {
        let dirs: Vec<std::path::PathBuf> = (0..cluster.processes).map(dir_of).collect();
        load_common("vigil run", &dirs, settings.limits, rules, cluster.process)?
    } else {
        let (store, loaded) = load_latest("vigil run", &settings, rules)?;
        (store, loaded, None)
    };
    if let Some(l) = &loaded {
        check_layout(&dir, l, cluster.processes, cluster.workers)?;
    }
    match &loaded {
        // Like a replay that finished: its end states hold every partition as read, and
        // nothing more is read with them. Starting afresh from the committed offsets instead
        // would send again what was delivered after a checkpoint whose offsets were
        // committed, were the completed run killed before its last commit.
        Some(l) if l.manifest.cut == FINISHED => eprintln!(
            "vigil run: the run that wrote checkpoint {} of {} completed (--stop-when-idle closed every window): nothing more is read with this state; to read on, give the run a state directory of its own (state.dir) and it starts from the consumer group's committed offsets",
            l.manifest.seq,
            dir.display()
        ),
        Some(l) if !quiet => eprintln!(
            "vigil run: resuming from checkpoint {} of {} (taken {}){}",
            l.manifest.seq,
            dir.display(),
            vigil::event::time::to_iso8601(l.manifest.created_unix_ms),
            if l.manifest.workers as usize != cluster.workers {
                format!("; it was taken with {} workers: its state is divided among {} by key", l.manifest.workers, cluster.workers)
            } else {
                String::new()
            }
        ),
        None if !quiet => eprintln!("vigil run: no checkpoint in {} yet: starting from the committed offsets", dir.display()),
        _ => {}
    }
    let origin = match loaded {
        Some(_) => None,
        None => Some(
            OutputOrigin::load_or_record(&dir.join("output-origin.json"), &config.client_config(), &config.topics.incidents, &config.topics.dead_letter)
                .map_err(anyhow::Error::msg)
                .context("recording where the output topics start")?,
        ),
    };
    let coordinator = Coordinator::new(
        store,
        settings.interval,
        cluster.workers,
        run_rules(rules, plan),
        loaded,
        Processes { index: cluster.process, count: cluster.processes, next_seq },
    )
    .with_context(|| format!("state directory {}", dir.display()))?;
    Ok((coordinator, origin))
}

/// The topology's sources that name a topic (all, or those picked with --sources).
fn topic_sources(topology: &Topology, picked: &[String]) -> anyhow::Result<Vec<TopicSource>> {
    for name in picked {
        if topology.source(name).is_none() {
            let names: Vec<&str> = topology.sources.iter().map(|s| s.name.as_str()).collect();
            bail!("--sources: {name:?} is not a source of {} (sources: {})", topology.file.display(), names.join(", "));
        }
    }
    let sources: Vec<TopicSource> = topology
        .sources
        .iter()
        .filter(|s| picked.is_empty() || picked.contains(&s.name))
        .filter_map(|s| {
            let topic = s.topic.clone()?;
            Some(TopicSource {
                source: s.name.clone(),
                topic,
                format: s.format,
                overrides: InputOverrides { year: s.year, lateness_ms: s.lateness_ms, time_field: s.time_field.clone() },
            })
        })
        .collect();
    if sources.is_empty() {
        bail!("{}: no source names a topic; vigil run reads topics (vigil replay reads files)", topology.file.display());
    }
    Ok(sources)
}

/// Copies the run's counters into the Prometheus families once a second (off the data path),
/// and measures consumer lag with its own client.
#[allow(clippy::too_many_arguments)]
fn spawn_exporter(
    registry: Arc<Registry>,
    stats: Arc<RunStats>,
    rstats: Arc<EngineStats>,
    partitions: Vec<AssignedPartition>,
    rule_titles: Vec<String>,
    incidents_topic: String,
    client: rdkafka::ClientConfig,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let parts: Vec<_> = partitions.iter().map(|p| registry.partition(&p.topic, p.partition)).collect();
        let topics: HashMap<String, _> = partitions.iter().map(|p| (p.topic.clone(), registry.topic(&p.topic))).collect();
        let rules: Vec<_> = rule_titles.iter().map(|t| registry.rule(t)).collect();
        let delivery = registry.delivery_errors(&incidents_topic);
        let late_dead = registry.dead_letters("late");
        let error_dead: Vec<_> = ERROR_KINDS.iter().map(|k| registry.dead_letters(k.code())).collect();
        let lag_client: Option<rdkafka::consumer::BaseConsumer> = client.create().ok();
        let mut last: HashMap<String, u64> = HashMap::new();
        let mut delta = |key: String, now: u64| -> u64 {
            let prev = last.insert(key, now).unwrap_or(0);
            now.saturating_sub(prev)
        };
        let mut last_lag = Instant::now() - Duration::from_secs(60);
        loop {
            let stopping = stop.load(Relaxed);
            for (i, p) in partitions.iter().enumerate() {
                let input = &stats.inputs[i].1;
                parts[i].add_batch(delta(format!("e{i}"), input.events.load(Relaxed)), delta(format!("b{i}"), input.bytes.load(Relaxed)));
                parts[i].records_lost.inc_by(delta(format!("lost{i}"), input.lost.load(Relaxed)));
                let wm = input.watermark_ms.load(Relaxed);
                if wm > 0 {
                    parts[i].set_watermark(wm, vigil::event::time::now_ms());
                }
                if let Some(t) = topics.get(&p.topic) {
                    let late = delta(format!("l{i}"), input.late.load(Relaxed));
                    t.late_records.inc_by(late);
                    late_dead.inc_by(late);
                    for (k, kind) in ERROR_KINDS.iter().enumerate() {
                        let n = delta(format!("x{i}.{k}"), input.errors_by_kind[k].load(Relaxed));
                        t.parse_errors(*kind).inc_by(n);
                        error_dead[k].inc_by(n);
                    }
                }
            }
            for (r, m) in rules.iter().enumerate() {
                m.matches.inc_by(delta(format!("m{r}"), rstats.matches[r].load(Relaxed)));
            }
            let incidents = pipeline::incidents_per_rule(&rstats);
            for (title, n) in incidents {
                let d = delta(format!("i{title}"), n);
                registry.rule(&title).incidents.inc_by(d);
            }
            delivery.inc_by(delta("delivery".into(), rstats.delivery_errors.load(Relaxed)));
            // Lag needs a round trip per partition: every 10 s, never on the data path.
            if let Some(c) = lag_client.as_ref().filter(|_| last_lag.elapsed() >= Duration::from_secs(10)) {
                last_lag = Instant::now();
                for (i, p) in partitions.iter().enumerate() {
                    let pos = stats.inputs[i].1.position.load(Relaxed);
                    if pos <= 0 {
                        continue;
                    }
                    if let Ok((_, high)) = rdkafka::consumer::Consumer::fetch_watermarks(c, &p.topic, p.partition, Duration::from_millis(500)) {
                        parts[i].set_lag((high - pos).max(0));
                    }
                }
            }
            if stopping {
                return;
            }
            // A second between rounds, in steps, so a finished run does not wait for it.
            for _ in 0..20 {
                if stop.load(Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    })
}
