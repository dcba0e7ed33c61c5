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
pub mod cut_bridge;
pub mod dead_letters;
pub mod detect;
pub mod exchange;
pub mod frontier;
pub mod incidents;
pub mod kafka_source;
pub mod lateness;
pub mod normalize;
pub mod plan;
pub mod project;
mod saved;
pub mod source;
pub mod stats;
pub mod watermark;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use timely::dataflow::operators::probe::{Handle as ProbeHandle, Probe};
use timely::dataflow::operators::vec::{Broadcast, Partition, ToStream};
use timely::dataflow::operators::{Concat, Concatenate};
use timely::dataflow::Stream;
use timely::worker::Worker;

pub use correlate::validate;
pub use plan::{Learn, Plan, StateLimits};
pub use stats::{incidents_per_rule, matches_per_rule, EngineStats};

use crate::io::sink::{LazyOutput, OutputTarget, RecordSink};
use crate::parse::Format;
use crate::rules::RuleSet;
use chain::{chain_frontier, ChainHistory};
use dead_letters::{write_dead_letters, DeadLetterSink};
use kafka_source::{kafka_source, KafkaPosition, KafkaSourceConfig};
use lateness::{LatenessClasses, Stage};
use plan::PlannedBaseline;
use project::Projection;
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
    /// Periodic checkpoints of this process's state (`None`: the run keeps no state on disk).
    pub checkpoint: Option<Arc<crate::checkpoint::Coordinator>>,
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
    /// How far the previous run had read each partition (by global index) at that frontier:
    /// an incident with evidence at or after it was not delivered, whatever its time.
    pub read_before: Arc<[Option<i64>]>,
    /// With checkpoints but none to resume from: where the output topics started, and whether
    /// a run before (killed before its first checkpoint) may have written after it, so what it
    /// delivered is read back and not sent again.
    pub origin: Option<(crate::io::kafka_output::OutputOrigin, bool)>,
}

/// Starts a Kafka output of a checkpointed run that has no checkpoint yet at `ends`, reading
/// back what a run before may have delivered after them.
fn start_output(sink: &mut RecordSink, ends: &[(i32, i64)], read_back: bool) {
    let mark = crate::io::sink::SinkMark::Kafka(ends.to_vec());
    if read_back {
        // Kafka output and a Kafka mark: cannot disagree.
        let _ = sink.resume_at(mark);
    } else {
        sink.start_at(&mark);
    }
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

    // The same on every worker: computed from the whole run's inputs, not the worker's own.
    let inputs: Vec<(Format, i64)> = match &kafka {
        Some(k) => k.source.partitions.iter().map(|p| (p.format, p.overrides.lateness_ms.unwrap_or(k.source.lateness_ms))).collect(),
        None => cfg.source.inputs.iter().map(|i| (i.format, i.overrides.lateness_ms.unwrap_or(cfg.source.lateness_ms))).collect(),
    };
    let classes = Arc::new(LatenessClasses::new(&plan, &cfg.rules, &inputs));
    let n = classes.count();
    if index == 0 {
        if let Some(line) = classes.describe() {
            tracing::info!("{line}");
        }
    }

    let bridge = cfg.checkpoint.clone().filter(|c| c.processes().count > 1);
    // Checkpointed processes of one run share the output topics: each reads back only its own.
    let process_tag = bridge.as_ref().map(|c| c.processes().index as u32);
    let position = worker.dataflow::<u64, _, _>(move |scope| {
        let probe = ProbeHandle::new();
        let delivered = ProbeHandle::new();
        let gauge = Rc::new(Cell::new(0));
        let backpressure = Backpressure { probe: probe.clone(), pending: gauge.clone(), max_pending: MAX_PENDING_EVENTS };
        let mut marks_from = None;
        // Where the oldest live chain of windows starts, for the Kafka source's commits.
        // (With checkpoints a restart re-reads nothing: no chain needs tracking.)
        let chains = kafka.as_ref().filter(|_| cfg.checkpoint.is_none()).map(|_| Rc::new(RefCell::new(ChainHistory::default())));

        // 2. Sources: one stream of events per lateness class.
        let (events, dead, position) = match &kafka {
            Some(k) => {
                let (e, d, pos) = kafka_source(scope, k.source.clone(), classes.clone(), delivered.clone(), chains.clone(), Some(backpressure));
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
                    // Checkpointed as two operators (their families apart when divided by key).
                    let (history_cut, then_cut) = (cfg.checkpoint.clone().map(|c| (c, "history-source")), cfg.checkpoint.clone().map(|c| (c, "file-source")));
                    let (le, ld) = file_source(scope, learn, classes.clone(), Some(backpressure.clone()), history_cut);
                    let (te, td) = file_source(scope, then, classes.clone(), Some(backpressure), then_cut);
                    marks_from = Some(scope.concatenate(le.clone()));
                    (le.into_iter().zip(te).map(|(l, t)| l.concat(t)).collect(), ld.concat(td), None)
                }
                _ => {
                    let (e, d) =
                        file_source(scope, cfg.source.clone(), classes.clone(), Some(backpressure), cfg.checkpoint.clone().map(|c| (c, "file-source")));
                    (e, d, None)
                }
            },
        };
        // The learning cut-off, broadcast to every writer (see `Learn`).
        // Without learning nothing needs the marks: an empty stream, rather than a second reader
        // of the events (timely copies every batch for each extra reader of a stream).
        let marks = match (plan.learn, marks_from) {
            (Learn::Off, _) => std::iter::empty::<i64>().to_stream(scope),
            (_, from) => {
                let cut = cfg.checkpoint.as_ref().map(|c| c.register(index, "learn-cutoff".to_owned()));
                incidents::cutoff_marks(from.unwrap_or_else(|| scope.concatenate(events.clone())), plan.learn, cut).broadcast()
            }
        };
        let discard = kafka.as_ref().map(|k| k.source.discard.clone()).unwrap_or_default();

        // 3. Detection where the event was parsed. Events of class s feed only correlations of
        // class s or slower (a correlation's class is the slowest input that can feed it), so
        // stage k reads the projections of classes up to k: its frontier is the least of theirs.
        let mut incident_streams = Vec::new();
        let mut stage_inputs: Vec<Vec<Stream<'_, u64, Vec<Projection>>>> = (0..n).map(|_| Vec::new()).collect();
        for (s, events) in events.into_iter().enumerate() {
            let (detected, projections) = detect::detect(events, cfg.rules.clone(), plan.clone(), classes.clone(), s, cfg.stats.clone());
            incident_streams.push(detected.probe_with(&probe));
            for (k, p) in projections.into_iter().enumerate().skip(s) {
                stage_inputs[k].push(p.probe_with(&probe));
            }
        }

        // A checkpoint taken with other rules: where each of its correlations is in this plan
        // (`None`: changed or removed, its state dropped).
        let remap: Option<Arc<Vec<Option<u32>>>> = cfg.checkpoint.as_ref().and_then(|c| c.restored_rules()).map(|r| {
            let place = |id: &String| r.unchanged.contains(id).then(|| plan.correlations.iter().position(|p| &p.info.id == id)).flatten();
            Arc::new(r.correlations.iter().map(|id| place(id).map(|i| i as u32)).collect())
        });

        // 4-5. One exchange-and-correlate stage per depth of the chains and lateness class:
        // projections reach the worker that owns (correlation, group), in order; alerts of
        // correlations that feed deeper ones become projections for the next depth, in the
        // class of the correlation they feed.
        let mut chain_reports = Vec::new();
        let mut id = 0u32;
        for depth in 1..=plan.depth.max(1) {
            let mut next: Vec<Vec<Stream<'_, u64, Vec<Projection>>>> = (0..n).map(|_| Vec::new()).collect();
            for (k, inputs) in stage_inputs.into_iter().enumerate() {
                let needed = (0..plan.correlations.len()).any(|c| plan.correlations[c].depth >= depth && classes.correlation(c) == k);
                if inputs.is_empty() || !needed {
                    continue;
                }
                // The first depth's exchanges hold the events the sources' flow control counts.
                let pending = if depth == 1 { gauge.clone() } else { Rc::default() };
                // Records waiting in the exchange past a cut are part of the checkpoint: the
                // sources resume after them.
                let held = cfg.checkpoint.as_ref().map(|c| c.register(index, format!("exchange-{id}")));
                let stage = Stage { depth, class: k, id, classes: classes.clone() };
                id += 1;
                // Divided anew (other workers or rules): a waiting record goes to the stage that
                // evaluates its correlation, at that correlation's place in this run's plan.
                let (for_plan, for_stage, places) = (plan.clone(), stage.clone(), remap.clone());
                // Every exchange on every worker sees every old record: one counts the dropped.
                let (counts_drops, drop_stats) = (index == 0 && stage.id == 0, cfg.stats.clone());
                let place = move |mut p: Projection| {
                    if let Some(m) = places.as_deref() {
                        let Some(now) = m.get(p.correlation as usize).copied().flatten() else {
                            if counts_drops {
                                drop_stats.dropped_records_of_changed_rules.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            return None;
                        };
                        p.correlation = now;
                    }
                    for_stage.evaluates(&for_plan, p.correlation as usize).then_some(p)
                };
                let ordered = exchange::in_order_checkpointed(scope.concatenate(inputs), project::route, pending, held, place);
                let track = chains.is_some().then_some(index as u32);
                let cut = cfg.checkpoint.as_ref().map(|c| c.register(index, format!("correlate-{}", stage.id)));
                let streams = correlate::correlate_stage(
                    ordered,
                    stage.clone(),
                    plan.clone(),
                    cfg.rules.clone(),
                    cfg.limits,
                    cfg.stats.clone(),
                    correlate::StageKeeping { track, checkpoint: cut, remap: remap.clone() },
                );
                let (mut incidents, mut forward) = (streams.incidents, streams.forward);
                chain_reports.push(streams.chains);
                let judged = (0..plan.correlations.len())
                    .any(|c| stage.evaluates(&plan, c) && plan.correlations[c].baseline.as_ref().is_some_and(PlannedBaseline::peer_group));
                if judged {
                    let judge_cut = cfg.checkpoint.as_ref().map(|c| c.register(index, format!("judge-{}", stage.id)));
                    let (judged_incidents, judged_forward) =
                        baseline::judge_stage(streams.peer, &stage, plan.clone(), cfg.limits, cfg.stats.clone(), judge_cut, remap.clone());
                    incidents = incidents.concat(judged_incidents);
                    forward = forward.concat(judged_forward);
                }
                incident_streams.push(incidents);
                if depth < plan.depth {
                    // Never below this stage's class (those streams are not read): a projection
                    // routed wrongly reaches a stage that counts it as unrouted.
                    let by_class = classes.clone();
                    let parts = forward.partition(n as u64, move |p: Projection| (by_class.correlation(p.correlation as usize).max(k) as u64, p));
                    for (k2, part) in parts.into_iter().enumerate().skip(k) {
                        next[k2].push(part);
                    }
                }
            }
            stage_inputs = next;
        }
        if let Some(history) = &chains {
            chain_frontier(scope.concatenate(chain_reports).broadcast(), history.clone());
        }
        let incident_streams = scope.concatenate(incident_streams);

        // 6. One ordered writer per process, and the dead letters.
        let sink = match &kafka {
            Some(k) => {
                let mut sink = RecordSink::kafka(k.client.clone(), k.incidents.clone());
                if let Some(p) = process_tag {
                    sink.tag_process(p);
                }
                if let Some((o, read_back)) = &k.origin {
                    start_output(&mut sink, &o.incidents, *read_back);
                }
                sink
            }
            None => RecordSink::File(LazyOutput::new(cfg.output.clone())),
        };
        let writer = incidents::Writer {
            sink,
            run_stats: cfg.source.stats.clone(),
            stats: cfg.stats.clone(),
            cancel: cfg.source.cancel.clone(),
            discard: discard.clone(),
            delivered_before: kafka.as_ref().and_then(|k| k.delivered_before),
            read_before: kafka.as_ref().map(|k| k.read_before.clone()).unwrap_or_else(|| Arc::from(Vec::new())),
            leader,
            is_leader,
            checkpoint: cfg.checkpoint.as_ref().filter(|_| is_leader).map(|c| c.register(index, "incident-writer".to_owned())),
        };
        incidents::write_incidents(incident_streams, marks, &plan, cfg.limits, writer).probe_with(&delivered);

        let dead_sink = match &kafka {
            Some(k) => {
                let mut sink = RecordSink::kafka(k.client.clone(), k.dead_letter.clone());
                if let Some(p) = process_tag {
                    sink.tag_process(p);
                }
                if let Some((o, read_back)) = &k.origin {
                    start_output(&mut sink, &o.dead_letters, *read_back);
                }
                Some(DeadLetterSink::Kafka { sink, partitions: k.source.partitions.clone() })
            }
            None => cfg.dead_letter.clone().map(|t| DeadLetterSink::File(RecordSink::File(LazyOutput::new(t)))),
        };
        let dead_cut = cfg.checkpoint.as_ref().filter(|_| is_leader && dead_sink.is_some()).map(|c| c.register(index, "dead-letter-writer".to_owned()));
        write_dead_letters(dead, leader, is_leader, dead_sink, cfg.source.stats.clone(), discard, dead_cut).probe_with(&delivered);
        position
    });
    if let Some(coordinator) = bridge {
        cut_bridge::build(worker, coordinator, wpp);
    }
    position
}
