//! The detection pipeline that `vigil replay`, `vigil run` and `vigil demo` share, one module
//! per stage in data-path order:
//!
//! 1. [`plan`]: the rule set compiled into what the stages evaluate;
//! 2. [`source`] (files) and [`mod@kafka_source`] (Kafka): records parsed into events on the worker
//!    that reads them, event time from each partition's clock ([`watermark`]);
//! 3. [`detect`]: the rules matched on that same worker; plain detections become incidents,
//!    matches that feed correlations become projections;
//! 4. [`project`] and [`exchange`]: projections (group key, time, measured value, evidence)
//!    routed to the worker that owns their group and handed on in event-time order;
//! 5. [`correlate`]: one stage per depth of a chain of correlations, driving the per-kind
//!    correlators of `crate::correlate`, with the baseline tables and their peer judge
//!    ([`baseline`]) and, in Kafka runs, the chains of windows behind restart points ([`chain`]);
//! 6. [`incidents`]: one ordered writer per process (suppression, learn then watch, sinks), and
//!    [`dead_letters`] for what could not be used.
//!
//! [`frontier`] holds what the stateful operators share about capabilities, [`stats`] the
//! run's counters. [`normalize`] is the other pipeline: events to ECS JSON, no rules.
//!
//! Only what a correlation needs crosses workers: most events match no rule and never leave the
//! worker that parsed them. Each stage imports only stages before it (and the leaf modules).

pub mod baseline;
pub mod chain;
pub mod correlate;
pub mod dead_letters;
pub mod detect;
pub mod exchange;
pub mod frontier;
pub mod incidents;
pub mod kafka_source;
pub mod normalize;
pub mod plan;
pub mod project;
pub mod source;
pub mod stats;
pub mod watermark;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use timely::dataflow::operators::probe::{Handle as ProbeHandle, Probe};
use timely::dataflow::operators::vec::{Broadcast, ToStream};
use timely::dataflow::operators::Concat;
use timely::worker::Worker;

pub use correlate::validate;
pub use plan::{Learn, Plan, StateLimits};
pub use stats::{incidents_per_rule, matches_per_rule, EngineStats};

use crate::io::sink::{LazyOutput, OutputTarget, RecordSink};
use crate::rules::RuleSet;
use chain::{chain_frontier, ChainHistory};
use dead_letters::{write_dead_letters, DeadLetterSink};
use kafka_source::{kafka_source, KafkaPosition, KafkaSourceConfig};
use plan::PlannedBaseline;
use source::{file_source, Backpressure, SourceConfig, MAX_PENDING_EVENTS};

/// What a worker needs to build the pipeline.
#[derive(Clone)]
pub struct EngineConfig {
    /// Inputs, parsing and lateness.
    pub source: SourceConfig,
    /// The rules.
    pub rules: Arc<RuleSet>,
    /// Where this process writes incidents.
    pub output: OutputTarget,
    /// Where this process writes dead letters.
    pub dead_letter: Option<OutputTarget>,
    /// Worker threads per process (the first worker of each process writes its output).
    pub workers_per_process: usize,
    /// State limits.
    pub limits: StateLimits,
    /// Counters.
    pub stats: Arc<EngineStats>,
}

/// Kafka in and out instead of files (`vigil run`).
#[derive(Clone)]
pub struct KafkaRun {
    /// The source: partitions, group, lateness, commits.
    pub source: KafkaSourceConfig,
    /// Client settings of the producers.
    pub client: rdkafka::ClientConfig,
    /// Incident topic.
    pub incidents: String,
    /// Dead-letter topic.
    pub dead_letter: String,
    /// The previous run's delivered frontier (from the committed offsets' metadata): incidents
    /// before it were delivered, and are not written again.
    pub delivered_before: Option<i64>,
}

/// Builds the pipeline on one worker, reading the files of `cfg.source`.
pub fn build(worker: &mut Worker, cfg: &EngineConfig, plan: Arc<Plan>) {
    build_with(worker, cfg, plan, None);
}

/// Builds the pipeline reading Kafka and writing incidents and dead letters to Kafka; returns
/// the source's position for the final commit once the dataflow has finished.
pub fn build_kafka(worker: &mut Worker, cfg: &EngineConfig, plan: Arc<Plan>, kafka: &KafkaRun) -> Option<Rc<RefCell<KafkaPosition>>> {
    build_with(worker, cfg, plan, Some(kafka))
}

fn build_with(worker: &mut Worker, cfg: &EngineConfig, plan: Arc<Plan>, kafka: Option<&KafkaRun>) -> Option<Rc<RefCell<KafkaPosition>>> {
    let index = worker.index();
    let wpp = cfg.workers_per_process.max(1);
    let leader = (index / wpp * wpp) as u64;
    let is_leader = index.is_multiple_of(wpp);
    let cfg = cfg.clone();
    let kafka = kafka.cloned();

    worker.dataflow::<u64, _, _>(move |scope| {
        let probe = ProbeHandle::new();
        let delivered = ProbeHandle::new();
        let gauge = Rc::new(Cell::new(0));
        let backpressure = Backpressure { probe: probe.clone(), pending: gauge.clone(), max_pending: MAX_PENDING_EVENTS };
        let mut marks_from = None;
        // Where the oldest live chain of windows starts, for the Kafka source's commits.
        let chains = kafka.as_ref().map(|_| Rc::new(RefCell::new(ChainHistory::default())));

        // 2. Sources.
        let (events, dead, position) = match &kafka {
            Some(k) => {
                let (e, d, pos) = kafka_source(scope, k.source.clone(), delivered.clone(), chains.clone(), Some(backpressure));
                (e, d, Some(pos))
            }
            None => match plan.learn {
                Learn::Inputs(n) => {
                    // History and new data as two sources: each holds its own capability, so the
                    // learn inputs' frontier tells when history is read, while event time merges
                    // both (the newer data waits, under back-pressure, until history catches up).
                    let (mut learn, mut then) = (cfg.source.clone(), cfg.source.clone());
                    learn.inputs.retain(|i| i.partition < n);
                    then.inputs.retain(|i| i.partition >= n);
                    let (le, ld) = file_source(scope, learn, Some(backpressure.clone()));
                    let (te, td) = file_source(scope, then, Some(backpressure));
                    marks_from = Some(le.clone());
                    (le.concat(te), ld.concat(td), None)
                }
                _ => {
                    let (e, d) = file_source(scope, cfg.source.clone(), Some(backpressure));
                    (e, d, None)
                }
            },
        };
        // The learning cut-off, broadcast to every writer (see `Learn`).
        // Without learning nothing needs the marks: an empty stream, rather than a second reader
        // of the events (timely copies every batch for each extra reader of a stream).
        let marks = match (plan.learn, marks_from) {
            (Learn::Off, _) => std::iter::empty::<i64>().to_stream(scope),
            (_, from) => incidents::cutoff_marks(from.unwrap_or_else(|| events.clone()), plan.learn).broadcast(),
        };
        let discard = kafka.as_ref().map(|k| k.source.discard.clone()).unwrap_or_default();

        // 3. Detection where the event was parsed.
        let (detected, projections) = detect::detect(events, cfg.rules.clone(), plan.clone(), cfg.stats.clone());
        let detected = detected.probe_with(&probe);
        let projections = projections.probe_with(&probe);

        // 4-5. One exchange-and-correlate stage per depth of the chains: projections reach the
        // worker that owns (correlation, group), in order; alerts of correlations that feed
        // deeper ones become projections for the next stage.
        let mut incident_streams = detected;
        let mut chain_reports = None;
        let mut stage_input = projections;
        let mut gauge = Some(gauge);
        for depth in 1..=plan.depth.max(1) {
            let ordered = exchange::in_order_by(stage_input, project::route, gauge.take().unwrap_or_default());
            let track = chains.is_some().then_some(index as u32);
            let stage = correlate::correlate_stage(ordered, depth, plan.clone(), cfg.rules.clone(), cfg.limits, cfg.stats.clone(), track);
            let (mut incidents, mut forward) = (stage.incidents, stage.forward);
            chain_reports = Some(match chain_reports {
                None => stage.chains,
                Some(all) => stage.chains.concat(all),
            });
            if plan.correlations.iter().any(|p| p.depth == depth && p.baseline.as_ref().is_some_and(PlannedBaseline::peer_group)) {
                let (judged_incidents, judged_forward) = baseline::judge_stage(stage.peer, depth, plan.clone(), cfg.limits, cfg.stats.clone());
                incidents = incidents.concat(judged_incidents);
                forward = forward.concat(judged_forward);
            }
            incident_streams = incident_streams.concat(incidents);
            stage_input = forward;
        }
        if let (Some(history), Some(reports)) = (&chains, chain_reports) {
            chain_frontier(reports.broadcast(), history.clone());
        }

        // 6. One ordered writer per process, and the dead letters.
        let sink = match &kafka {
            Some(k) => RecordSink::kafka(k.client.clone(), k.incidents.clone()),
            None => RecordSink::File(LazyOutput::new(cfg.output.clone())),
        };
        let writer = incidents::Writer {
            sink,
            run_stats: cfg.source.stats.clone(),
            stats: cfg.stats.clone(),
            cancel: cfg.source.cancel.clone(),
            discard: discard.clone(),
            delivered_before: kafka.as_ref().and_then(|k| k.delivered_before),
            leader,
            is_leader,
        };
        incidents::write_incidents(incident_streams, marks, &plan, cfg.limits, writer).probe_with(&delivered);

        let dead_sink = match &kafka {
            Some(k) => {
                Some(DeadLetterSink::Kafka { sink: RecordSink::kafka(k.client.clone(), k.dead_letter.clone()), partitions: k.source.partitions.clone() })
            }
            None => cfg.dead_letter.clone().map(|t| DeadLetterSink::File(RecordSink::File(LazyOutput::new(t)))),
        };
        write_dead_letters(dead, leader, is_leader, dead_sink, cfg.source.stats.clone(), discard).probe_with(&delivered);
        position
    })
}
