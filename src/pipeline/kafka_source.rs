//! The Kafka source: each worker consumes the topic partitions statically assigned to it
//! (global partition `i` belongs to worker `i % peers`), parses records into events exactly as
//! the file source does, judges lateness per partition, and sends events at its watermark.
//!
//! - **Never blocks a worker.** Each activation polls for at most [`ACTIVATION_BUDGET`], then
//!   asks to be activated again (soon when data flowed, after [`IDLE_POLL`] when none did).
//! - **Idle partitions.** A partition that has sent nothing for `idle_timeout` stops holding
//!   the worker's watermark back, until its next record. When every partition is idle the
//!   watermark stays where it is (event time does not advance without events). A worker with
//!   no partition drops its capabilities at once.
//! - **Flow control.** As in the file source: a worker whose events pile up downstream stops
//!   polling while it is ahead of the cluster's frontier.
//! - **Offsets.** Committed to the consumer group only for records whose every possible incident
//!   has been delivered and that no live chain of windows needs: the records older than the
//!   delivered frontier (a probe after the incident and dead-letter writers) minus the plan's
//!   horizon (see [`super::plan::Plan::horizon_ms`]), and older than the oldest chain live at
//!   that frontier (see [`super::chain`]; at most `max_reread_ms` back). Each commit carries the
//!   delivered frontier and the partition clock's greatest event time in its metadata, and in the
//!   process's resume log. A restart resumes there, re-reads every live chain from its start with
//!   the clocks as they were, and does not write again what was delivered before: incidents it
//!   derives again carry the same ids.
//! - **With checkpoints** (`vigil run --exactly-once`) none of that: each partition's next
//!   offset, clock and parser state are part of every checkpoint (see [`crate::checkpoint`]),
//!   a restored partition starts there, and offsets are committed, for lag monitoring only,
//!   once the checkpoint holding them is on disk.
//! - **Starting at an offset** is confirmed by the partition's first record (see
//!   `Part::check_start`): a broker that answers with a later record (tansu 0.6, asked for an
//!   offset inside a record batch) is sought back until it does not.
//! - **Ending.** A graceful stop (`cancel`) stops polling, waits until everything read has
//!   passed the writers, commits, tells the writers to discard what is still open (it will be
//!   recomputed after the restart) and drops its capabilities. `stop_when_idle` instead treats
//!   a topic that stayed silent that long as complete, like the end of a file: every window is
//!   closed and written, and all offsets read are committed when the dataflow has finished.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, Stream};

use super::chain::ChainHistory;
use super::lateness::LatenessClasses;
use super::source::{combined_times, owner_of, restored_snapshots, Backpressure, ClassOutputs, CutTimes, Ingest, IngestCounts, Restored};
use super::watermark::to_timely;
use super::watermark::PartitionClock;
use crate::checkpoint::{Coordinator, Cut, Gate, OperatorCut};
use crate::event::Event;
use crate::io::dead_letter::DeadLetter;
use crate::io::kafka::{self, AssignedPartition};
use crate::io::start_probe::{Answer, Silence, StartProbe};
use crate::metrics::RunStats;
use crate::parse::ParseOptions;

/// Time one activation may spend polling before yielding to the rest of the dataflow.
pub const ACTIVATION_BUDGET: Duration = Duration::from_millis(5);
/// How soon a worker that found nothing to read polls again.
pub const IDLE_POLL: Duration = Duration::from_millis(20);
/// Largest record accepted; larger ones become `too-long` dead letters.
pub const MAX_MESSAGE_BYTES: usize = crate::parse::MAX_RECORD_BYTES;

/// What every worker's Kafka source needs to know.
#[derive(Clone)]
pub struct KafkaSourceConfig {
    /// Brokers and pass-through client settings.
    pub client: ClientConfig,
    /// Consumer group the offsets are committed to.
    pub group_id: String,
    /// Every topic partition of the run, in global index order.
    pub partitions: Vec<AssignedPartition>,
    /// Parser settings (a source's overrides apply on top).
    pub parse: ParseOptions,
    /// Default allowed lateness.
    pub lateness_ms: i64,
    /// A partition silent this long stops holding the watermark back.
    pub idle_timeout: Duration,
    /// Treat the topics as complete once every partition has been silent this long.
    pub stop_when_idle: Option<Duration>,
    /// How often offsets are committed.
    pub commit_interval: Duration,
    /// The plan's horizon in ms (see the module docs).
    pub horizon_ms: i64,
    /// How far back a live chain of windows may hold the commit point, in ms.
    pub max_reread_ms: i64,
    /// This process's restart points in the state directory (for brokers that drop commit metadata).
    pub resume: Option<Arc<std::sync::Mutex<kafka::ResumeLog>>>,
    /// Counters, one input per global partition.
    pub stats: Arc<RunStats>,
    /// Set to stop gracefully.
    pub cancel: Arc<AtomicBool>,
    /// Set by the source when the writers must discard what they still hold (graceful stop).
    pub discard: Arc<AtomicBool>,
    /// Periodic checkpoints (`None`: restarts re-read from the committed offsets instead). With
    /// them each partition resumes at its checkpointed offset with its clock and parser state,
    /// offsets are committed at each cut for lag monitoring only, and nothing is re-read.
    pub checkpoint: Option<Arc<Coordinator>>,
}

/// What the source leaves for the worker once the dataflow has finished: the consumer and the
/// position of each of its partitions, for the final commit.
pub struct KafkaPosition {
    /// The worker's consumer (`None` when it has no partition or could not start).
    pub consumer: Option<BaseConsumer>,
    /// (topic, partition, next offset to read) of every partition that has read something.
    pub next: Vec<(String, i32, i64)>,
    /// True when the run ended because the topics were treated as complete.
    pub completed: bool,
}

impl KafkaPosition {
    /// Commits every offset read, synchronously (after the dataflow completed: all delivered).
    pub fn commit_all(&self) -> Result<(), rdkafka::error::KafkaError> {
        let Some(consumer) = &self.consumer else { return Ok(()) };
        // No metadata: the run completed, nothing is left to recompute after a restart.
        let offsets: Vec<(&str, i32, i64, Option<String>)> = self.next.iter().map(|(t, p, o)| (t.as_str(), *p, *o, None)).collect();
        kafka::commit(consumer, &offsets, CommitMode::Sync)
    }
}

struct Part {
    spec: AssignedPartition,
    /// Its lateness class.
    class: usize,
    ingest: Ingest,
    /// Next offset to read (`None` before the first record).
    next: Option<i64>,
    /// Greatest event time read so far.
    max_ts: i64,
    /// (next offset, greatest event time before it), oldest first: commit candidates.
    marks: VecDeque<(i64, i64)>,
    last_mark: Instant,
    last_record: Instant,
    committed: Option<i64>,
    /// The greatest event time before the committed offset.
    committed_max_ts: i64,
    /// Offset ranges `[from, to)` skipped over below `next` (records not yet seen there).
    gaps: Vec<(i64, i64)>,
    /// Where reading started when nothing had been read yet: the committed offset at the first
    /// start (`None`: the partition's beginning). Kept in checkpoints, so a partition that had
    /// read nothing at a cut starts there again, whatever was committed since.
    start: Option<i64>,
    /// A start at an explicit offset being confirmed (see [`crate::io::start_probe`]).
    probe: Option<StartProbe>,
    /// The next offset at which a gap was last sought back over: a gap found again there is
    /// real (compaction, transaction markers) and is read past.
    gap_probed: Option<i64>,
    /// Records found no longer on the broker since last counted (see [`Part::check_start`]).
    lost: u64,
}

/// What to do with a record of a partition whose start is being confirmed.
#[derive(Debug, PartialEq, Eq)]
enum SeekCheck {
    /// The start is confirmed (or none was pending): go on as usual.
    Go,
    /// Read past it: it comes before the offset asked for.
    Skip,
    /// The broker answered with a later record than asked for: seek back to this offset.
    Rewind(i64),
}

impl Part {
    /// Global partition `index`, not read yet.
    fn new(spec: &AssignedPartition, index: u32, class: usize, parse: &ParseOptions, lateness_ms: i64, now: Instant) -> Part {
        Part {
            class,
            ingest: Ingest::new(
                format!("{}/{}", spec.topic, spec.partition),
                index,
                spec.format,
                &spec.overrides.parse_options(parse),
                spec.overrides.lateness_ms.unwrap_or(lateness_ms),
            ),
            spec: spec.clone(),
            next: None,
            max_ts: i64::MIN,
            marks: VecDeque::new(),
            last_mark: now,
            last_record: now,
            committed: None,
            committed_max_ts: i64::MIN,
            gaps: Vec::new(),
            start: None,
            probe: None,
            gap_probed: None,
            lost: 0,
        }
    }

    /// Starts at `offset` (the next record to read), to be confirmed by the first record.
    fn start_at(&mut self, offset: i64) {
        self.next = Some(offset);
        self.probe = Some(StartProbe::new(offset, Instant::now()));
    }

    /// Confirms an explicit start with the records received (see [`crate::io::start_probe`]),
    /// and seeks back once over a gap within the stream: tansu 0.6 skips the rest of a batch
    /// there too, when a fetch ends inside one.
    fn check_start(&mut self, offset: i64) -> SeekCheck {
        if let Some(p) = self.probe.as_mut() {
            match p.record(offset, Instant::now()) {
                Answer::Skip => return SeekCheck::Skip,
                Answer::Rewind(to) => return SeekCheck::Rewind(to),
                Answer::Done => {
                    if offset > p.asked() && !p.confirmed() {
                        // Sought back to the beginning and still answered later: the broker no
                        // longer holds those records (retention). Said and counted: they are lost.
                        self.lost += (offset - p.asked()) as u64;
                        tracing::warn!(
                            "{}: records {} to {} are no longer on the broker (retention?); reading on from {offset}",
                            self.ingest.name,
                            p.asked(),
                            offset - 1
                        );
                        // Not a gap to seek back over again: they are gone.
                        self.next = Some(offset);
                    }
                    // A later record than asked for after a confirmed start is a gap of its own.
                    self.probe = None;
                }
            }
        }
        match self.next {
            Some(next) if offset > next && self.gap_probed != Some(next) => {
                self.gap_probed = Some(next);
                let mut p = StartProbe::new(next, Instant::now());
                let answer = p.record(offset, Instant::now());
                self.probe = Some(p);
                match answer {
                    Answer::Rewind(to) => SeekCheck::Rewind(to),
                    _ => SeekCheck::Go,
                }
            }
            _ => SeekCheck::Go,
        }
    }

    /// Whether its start still waits for a record at or before the offset asked for.
    fn unconfirmed(&self) -> bool {
        self.probe.is_some_and(|p| !p.confirmed())
    }

    /// Asks for its next record to be confirmed again, at once: a partition that seems complete
    /// may have stopped inside a batch the broker never answered with.
    fn reconfirm(&mut self, now: Instant) {
        if let Some(next) = self.next.filter(|n| *n > 0) {
            self.probe = Some(StartProbe::due(next, now));
        }
    }

    /// Its position now, for a checkpoint.
    fn position(&self, index: u32) -> KafkaPartitionPosition {
        KafkaPartitionPosition {
            index,
            topic: self.spec.topic.clone(),
            partition: self.spec.partition,
            next: self.next,
            start: self.start,
            max_ts: self.max_ts,
            clock: self.ingest.clock.clone(),
            parser: self.ingest.parser_state(),
        }
    }

    /// Whether the record at `offset` is new: not read before in this run. Offsets grow within
    /// a partition, but a broker may hand records out again (tansu 0.6 repeats a partition's
    /// last records at its end) or, conceivably, fill a gap late: only offsets read already are
    /// refused. Advances `next`.
    fn first_sight(&mut self, offset: i64) -> bool {
        let Some(next) = self.next else {
            self.next = Some(offset + 1);
            return true;
        };
        if offset >= next {
            if offset > next && self.gaps.len() < MAX_GAPS {
                self.gaps.push((next, offset));
            }
            self.next = Some(offset + 1);
            return true;
        }
        match self.gaps.iter().position(|&(from, to)| offset >= from && offset < to) {
            Some(g) => {
                let (from, to) = self.gaps.swap_remove(g);
                self.gaps.extend([(from, offset), (offset + 1, to)].into_iter().filter(|(a, b)| a < b));
                true
            }
            None => false,
        }
    }

    /// The furthest offset whose records all have event times before `safe`, with the greatest
    /// event time before it.
    fn commit_point(&mut self, safe: i64) -> Option<(i64, i64)> {
        let mut point = None;
        while let Some(&(offset, max_ts)) = self.marks.front() {
            if max_ts >= safe {
                break;
            }
            point = Some((offset, max_ts));
            self.marks.pop_front();
        }
        if self.max_ts < safe {
            point = self.next.map(|n| (n, self.max_ts)).or(point);
        }
        point.filter(|(p, _)| self.committed.is_none_or(|c| *p > c))
    }
}

/// Skipped offset ranges remembered per partition (compaction and transaction markers leave
/// gaps too; beyond this many, a late gap fill would be taken for a repeat).
const MAX_GAPS: usize = 64;
/// Marks kept per partition; older ones are thinned out (commits get coarser, never wrong).
const MAX_MARKS: usize = 4096;
/// Wall-clock spacing of commit marks.
const MARK_EVERY: Duration = Duration::from_millis(100);

/// (topic, partition, next offset), for a commit.
type TopicOffset = (String, i32, i64);

/// Where one partition stood at a checkpoint's cut.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct KafkaPartitionPosition {
    /// Global partition index.
    index: u32,
    topic: String,
    partition: i32,
    /// The next offset to read (`None`: nothing read yet; see `start`).
    next: Option<i64>,
    start: Option<i64>,
    max_ts: i64,
    clock: PartitionClock,
    /// The parser's state (an inferred syslog year, a Zeek header).
    parser: Vec<u8>,
}

/// A Kafka source's state at a cut: its partitions' positions and where its capabilities were.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct KafkaSnapshot {
    positions: Vec<KafkaPartitionPosition>,
    /// Per class: the capability's time (`None`: dropped).
    class_times: Vec<Option<u64>>,
    /// The dead letters' capability's time.
    dead_time: Option<u64>,
}

/// A cut the source is delivering: the positions recorded so far, per local partition.
struct CutInProgress {
    cut: Cut,
    positions: Vec<Option<KafkaPartitionPosition>>,
    times: CutTimes,
}

/// The Kafka source's outputs: events (one stream per lateness class), dead letters, and the
/// position for the final commit.
pub type KafkaStreams<'s> = (Vec<Stream<'s, u64, Vec<Event>>>, Stream<'s, u64, Vec<DeadLetter>>, Rc<RefCell<KafkaPosition>>);

/// Builds the Kafka source. Returns the on-time events (one stream per lateness class of
/// `classes`), the dead letters, and the position shared with the worker for the final commit.
pub fn kafka_source<'s>(
    scope: Scope<'s, u64>,
    cfg: KafkaSourceConfig,
    classes: Arc<LatenessClasses>,
    delivered: ProbeHandle<u64>,
    chains: Option<Rc<RefCell<ChainHistory>>>,
    backpressure: Option<Backpressure>,
) -> KafkaStreams<'s> {
    let mut builder = OperatorBuilder::new("KafkaSource".to_owned(), scope);
    let info = builder.operator_info();
    let activator = scope.activator_for(info.address);
    let (event_outs, events) = ClassOutputs::outputs(&mut builder, classes.count());
    let (dead_out, dead) = builder.new_output::<Vec<DeadLetter>>();
    let mut dead_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<DeadLetter>>>::from(dead_out);
    let (index, peers) = (scope.index(), scope.peers());
    let position = Rc::new(RefCell::new(KafkaPosition { consumer: None, next: Vec::new(), completed: false }));
    let shared = position.clone();
    let gate = cfg.checkpoint.as_ref().map(|c| (c.clone(), c.register_source(), c.register(index, "kafka-source".to_owned())));

    builder.build(move |mut caps| {
        let mut out = ClassOutputs::new(event_outs, &mut caps);
        // The dead letters' capability is at the least watermark of all partitions: while it is
        // held, the source is live.
        let mut dead_cap: Option<Capability<u64>> = caps.pop();
        let now = Instant::now();
        let mut parts: Vec<Part> = cfg
            .partitions
            .iter()
            .enumerate()
            .filter(|(i, _)| owner_of(*i as u32, peers) == index)
            .map(|(i, spec)| Part::new(spec, i as u32, classes.input(i), &cfg.parse, cfg.lateness_ms, now))
            .collect();
        let stats = cfg.stats.clone();
        let mut gate = gate;
        let restored: Option<KafkaSnapshot> = match gate.as_ref().map(|(_, _, op)| restored_snapshot(op, &parts)) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                stats.fatal(|| format!("the checkpoint's Kafka positions: {e}"));
                cfg.cancel.store(true, Relaxed);
                None
            }
            None => None,
        };
        if let Some(r) = &restored {
            if let Err(reason) = resume_parts(&mut parts, r) {
                stats.fatal(|| format!("worker {index}: cannot resume from the checkpoint: {reason}"));
                cfg.cancel.store(true, Relaxed);
            }
            out.restore(&r.class_times);
            match (r.dead_time, dead_cap.as_mut()) {
                (Some(t), Some(c)) if t > *c.time() => {
                    c.downgrade(&t);
                    out.note(t);
                }
                (None, _) => dead_cap = None,
                _ => {}
            }
        }
        // A worker without partitions must not hold the frontier back.
        let consumer = if parts.is_empty() {
            None
        } else {
            match start_consumer(&cfg, &mut parts, restored.is_some()) {
                Ok(c) => Some(c),
                Err(e) => {
                    stats.fatal(|| format!("worker {index}: cannot start consuming: {e}"));
                    cfg.cancel.store(true, Relaxed);
                    None
                }
            }
        };
        if consumer.is_none() {
            out.finish();
            dead_cap = None;
        }
        shared.borrow_mut().consumer = consumer;
        // Per class: a class's dead letters go at its own time when that is later, so a record
        // read after its class passed a cut gives dead letters after the cut.
        let mut dead_batches: Vec<Vec<DeadLetter>> = vec![Vec::new(); out.count()];
        let mut cutting: Option<CutInProgress> = None;
        // The positions of the latest cut, committed to the group once its checkpoint is on
        // disk (for lag monitoring; a group offset past the newest checkpoint would be wrong
        // for a run that finds no checkpoint and starts from it).
        let mut lag_commit: Option<(u64, Vec<TopicOffset>)> = None;
        let mut lag_checked = Instant::now();
        let mut last_commit = Instant::now();
        let mut last_time = 0u64;
        let mut draining: Option<u64> = None;
        let mut last_any = Instant::now();
        // Whether every partition's next record was confirmed since the last record came.
        let mut verified = false;

        move |_frontiers| {
            let Some(cap_time) = dead_cap.as_ref().map(|c| *c.time()) else {
                // Without its dead letters' capability the source is finished: no other may
                // stay held (a restore could otherwise hold one the source never moves).
                out.finish();
                if let Some((coord, id, op)) = gate.as_mut() {
                    finish_cut(&mut cutting, &parts, &out, None, op);
                    op.finish(snapshot_bytes(&parts, &out, None, None));
                    coord.source_finished(*id, out.high());
                    gate = None;
                }
                return;
            };
            let pos = shared.clone();
            let mut pos = pos.borrow_mut();
            let Some(consumer) = pos.consumer.as_ref() else { return };

            // With checkpoints a stop needs no drain: the restart resumes at the last checkpoint,
            // and what was delivered after it is recognised and not written again.
            if let (true, Some((coord, _, _))) = (cfg.cancel.load(Relaxed), gate.as_ref()) {
                coord.abandon();
                cfg.discard.store(true, Relaxed);
                out.finish();
                dead_cap = None;
                activator.activate();
                return;
            }
            // Graceful stop: wait until everything sent has passed the writers, commit, end.
            if draining.is_none() && cfg.cancel.load(Relaxed) {
                draining = Some(cap_time);
            }
            if let Some(target) = draining {
                if delivered.less_than(&target) {
                    activator.activate_after(IDLE_POLL);
                    return;
                }
                let safe = restart_point(target, &cfg, chains.as_ref());
                commit_safe(consumer, &mut parts, safe, target, cfg.resume.as_deref(), &stats, CommitMode::Sync);
                cfg.discard.store(true, Relaxed);
                out.finish();
                dead_cap = None;
                return;
            }
            // Pausing comes first: a paused source holds the frontier back, so a source that
            // waited for the frontier instead would never report.
            if let Some((coord, id, op)) = gate.as_ref() {
                let latest = out.latest_time().map_or(cap_time, |t| t.max(cap_time));
                if coord.gate(*id, latest) == Gate::Wait {
                    activator.activate_after(Duration::from_millis(1));
                    return;
                }
                if cutting.is_none() {
                    if let Some(cut) = op.pending() {
                        cutting = Some(CutInProgress { cut, positions: vec![None; parts.len()], times: CutTimes::new(out.count()) });
                    }
                }
            }

            if let Some(bp) = backpressure.as_ref() {
                if bp.pending.get() > bp.max_pending && bp.probe.less_than(&last_time) {
                    activator.activate_after(Duration::from_millis(1));
                    return;
                }
            }
            last_time = cap_time;
            let started = Instant::now();
            let mut counts: Vec<IngestCounts> = vec![IngestCounts::default(); parts.len()];
            let mut bytes: Vec<u64> = vec![0; parts.len()];
            let mut received: Vec<bool> = vec![false; parts.len()];
            let mut any = false;
            let mut polled = 0u32;
            let mut redelivered = 0u64;
            let mut rewound = 0u64;
            // Whether the consumer had nothing more to hand out: only then is a partition's
            // silence its own, not a queue behind other partitions' records.
            let mut drained = false;
            // The clock is read every 64 messages, not per message (it showed in profiles).
            while !polled.is_multiple_of(64) || started.elapsed() < ACTIVATION_BUDGET {
                polled = polled.wrapping_add(1);
                let Some(result) = consumer.poll(Duration::ZERO) else {
                    drained = true;
                    break;
                };
                let msg = match result {
                    Ok(m) => m,
                    Err(e) => {
                        // Transient broker errors are retried by librdkafka; say so once in a while.
                        tracing::warn!("kafka consumer: {e}");
                        break;
                    }
                };
                let Some(i) = parts.iter().position(|p| p.spec.partition == msg.partition() && p.spec.topic == msg.topic()) else { continue };
                any = true;
                let part = &mut parts[i];
                let offset = msg.offset();
                let check = part.check_start(offset);
                if part.lost > 0 {
                    stats.inputs[part.ingest.partition as usize].1.lost.fetch_add(std::mem::take(&mut part.lost), Relaxed);
                }
                match check {
                    SeekCheck::Go => {}
                    SeekCheck::Skip => continue,
                    SeekCheck::Rewind(to) => {
                        rewound += 1;
                        if let Err(e) = consumer.seek(&part.spec.topic, part.spec.partition, Offset::Offset(to), Duration::from_secs(5)) {
                            stats.fatal(|| format!("{}: cannot seek back to offset {to}: {e}", part.ingest.name));
                            cfg.cancel.store(true, Relaxed);
                        }
                        continue;
                    }
                }
                if !part.first_sight(offset) {
                    redelivered += 1;
                    continue;
                }
                received[i] = true;
                let payload = msg.payload().unwrap_or_default();
                bytes[i] += payload.len() as u64;
                let record_no = u64::try_from(offset).unwrap_or(0);
                let batch = &mut out.batches[part.class];
                let dead_batch = &mut dead_batches[part.class];
                let before = batch.len();
                if payload.len() > MAX_MESSAGE_BYTES {
                    part.ingest.too_long(payload.len(), record_no, dead_batch, &stats, &mut counts[i]);
                } else {
                    // One record per message; producers that pack several lines into one
                    // message get each line parsed (events keep the offset, numbered by `sub`).
                    ingest_payload(&mut part.ingest, payload, record_no, batch, dead_batch, &stats, &mut counts[i]);
                }
                if let Some(max) = batch[before..].iter().map(|e| e.ts).max() {
                    part.max_ts = part.max_ts.max(max);
                }
            }
            if drained && parts.iter().any(Part::unconfirmed) {
                rewound += seek_quiet_probes(consumer, &mut parts, Instant::now(), &stats, &cfg.cancel);
            }
            if rewound > 0 {
                tracing::info!("worker {index}: {rewound} time(s) a partition answered with a later record than the next one; sought back (a fetch inside a record batch, answered with the next batch)");
            }
            if redelivered > 0 {
                stats.sample(|| format!("worker {index}: skipped {redelivered} record(s) the broker handed out again (offsets already read)"));
            }
            let now = Instant::now();
            for (i, part) in parts.iter_mut().enumerate() {
                if received[i] {
                    part.last_record = now;
                }
                let pstats = &stats.inputs[part.ingest.partition as usize].1;
                counts[i].publish(pstats);
                pstats.bytes.fetch_add(bytes[i], Relaxed);
                if let Some(next) = part.next {
                    if now.duration_since(part.last_mark) >= MARK_EVERY && part.marks.back().is_none_or(|m| m.0 < next) {
                        part.marks.push_back((next, part.max_ts));
                        part.last_mark = now;
                        if part.marks.len() > MAX_MARKS {
                            // Keep every other mark: commit points get coarser, never unsafe.
                            let thinned: VecDeque<(i64, i64)> = part.marks.iter().copied().enumerate().filter(|(k, _)| k % 2 == 1).map(|(_, m)| m).collect();
                            part.marks = thinned;
                        }
                    }
                }
                let idle = now.duration_since(part.last_record) >= cfg.idle_timeout;
                part.ingest.clock.set_idle(idle);
                pstats.watermark_ms.store(part.ingest.clock.watermark().max(0), Relaxed);
                if let Some(next) = part.next {
                    pstats.position.store(next, Relaxed);
                }
            }
            out.send_all();
            if let Some(dcap) = dead_cap.as_ref() {
                out.send_dead_letters(&mut dead_out, dcap, &mut dead_batches);
            }
            if received.iter().any(|r| *r) {
                last_any = now;
                verified = false;
            }
            // With checkpoints, offsets are committed at each cut (below), for lag monitoring.
            if gate.is_none() && now.duration_since(last_commit) >= cfg.commit_interval {
                last_commit = now;
                let frontier = delivered.with_frontier(|f| f.first().copied());
                if let Some(f) = frontier {
                    let safe = restart_point(f, &cfg, chains.as_ref());
                    commit_safe(consumer, &mut parts, safe, f, cfg.resume.as_deref(), &stats, CommitMode::Async);
                }
            }

            // Topics treated as complete: close everything, like the end of a file. Silence alone
            // is not enough: a partition whose leader is down is silent too. Every partition must
            // answer for its end offset, and nothing may be left to read below it.
            // Nor is an end offset: tansu 0.6 lists the base of a partition's last batch, and
            // answers a fetch inside that batch with nothing. So each partition's next record
            // is confirmed once more, by seeking just before it (see `Part::reconfirm`).
            let mut complete = false;
            if cfg.stop_when_idle.is_some_and(|d| now.duration_since(last_any) >= d) && !parts.iter().any(Part::unconfirmed) {
                match unread(consumer, &parts) {
                    Ok(None) if verified => complete = true,
                    Ok(None) => {
                        verified = true;
                        parts.iter_mut().for_each(|p| p.reconfirm(now));
                    }
                    Ok(Some(why)) | Err(why) => {
                        tracing::warn!("quiet for {:?}, but not complete: {why}; still waiting", cfg.stop_when_idle.unwrap_or_default());
                        last_any = now;
                    }
                }
            }
            if complete {
                // Only the final commit needs the positions: collected once, here.
                pos.next = parts.iter().filter_map(|p| p.next.map(|n| (p.spec.topic.clone(), p.spec.partition, n))).collect();
                pos.completed = true;
                out.finish();
                dead_cap = None;
                activator.activate();
                return;
            }
            let active = parts.iter().filter(|p| !p.ingest.clock.is_idle()).map(|p| p.ingest.clock.watermark()).min();
            if let Some(wm) = active {
                let t = to_timely(wm);
                if let Some(c) = dead_cap.as_mut().filter(|c| t > *c.time()) {
                    c.downgrade(&t);
                    out.note(t);
                }
            }
            for k in 0..out.count() {
                // A class whose partitions on this worker are all idle follows the active ones,
                // as the single frontier did before classes; one without partitions here ends.
                let mut of_class = parts.iter().filter(|p| p.class == k).peekable();
                if of_class.peek().is_none() {
                    out.advance(k, None);
                    continue;
                }
                let own = of_class.filter(|p| !p.ingest.clock.is_idle()).map(|p| p.ingest.clock.watermark()).min();
                if let Some(wm) = own.or(active) {
                    out.advance(k, Some(wm));
                }
            }
            if let (Some(c), Some((_, _, op))) = (cutting.as_mut(), gate.as_mut()) {
                // A partition's position counts once its class's capability has passed the cut:
                // everything it read so far went out before the cut, everything after at or
                // after it.
                c.times.observe(&out, c.cut.at);
                for (i, part) in parts.iter().enumerate() {
                    if c.positions[i].is_none() && c.times.passed(part.class) {
                        c.positions[i] = Some(part.position(part.ingest.partition));
                    }
                }
                let dead_time = dead_cap.as_ref().map(|d| *d.time());
                if dead_time.is_none_or(|t| t >= c.cut.at) && c.positions.iter().all(Option::is_some) {
                    let seq = c.cut.seq;
                    if let Some(read) = finish_cut(&mut cutting, &parts, &out, dead_time, op) {
                        lag_commit = Some((seq, read.into_iter().filter_map(|p| Some((p.topic, p.partition, p.next?))).collect()));
                    }
                }
            }
            if let (Some((seq, _)), Some((coord, _, _))) = (lag_commit.as_ref(), gate.as_ref()) {
                if now.duration_since(lag_checked) >= MARK_EVERY {
                    lag_checked = now;
                    if coord.stats().last_seq.is_some_and(|s| s >= *seq) {
                        let (_, read) = lag_commit.take().unwrap_or_default();
                        let offsets: Vec<(&str, i32, i64, Option<String>)> = read.iter().map(|(t, p, o)| (t.as_str(), *p, *o, None)).collect();
                        if let Err(e) = kafka::commit(consumer, &offsets, CommitMode::Async) {
                            stats.sample(|| format!("committing the checkpoint's offsets for lag monitoring failed: {e}"));
                        }
                    }
                }
            }
            if any {
                activator.activate();
            } else {
                activator.activate_after(IDLE_POLL);
            }
        }
    });
    (events, dead, position)
}

/// The source's state for a checkpoint.
fn snapshot_bytes(parts: &[Part], out: &ClassOutputs, dead_time: Option<u64>, cut: Option<(Vec<KafkaPartitionPosition>, &CutTimes)>) -> Vec<u8> {
    let snapshot = match cut {
        Some((positions, times)) => KafkaSnapshot { positions, class_times: times.snapshot(out), dead_time: times.dead_time(dead_time) },
        None => KafkaSnapshot {
            positions: parts.iter().map(|p| p.position(p.ingest.partition)).collect(),
            class_times: (0..out.count()).map(|k| out.time(k)).collect(),
            dead_time,
        },
    };
    bincode::serialize(&snapshot).unwrap_or_default()
}

/// Delivers the cut in progress, if any, with the positions it recorded; returns them.
fn finish_cut(
    cutting: &mut Option<CutInProgress>,
    parts: &[Part],
    out: &ClassOutputs,
    dead_time: Option<u64>,
    op: &mut OperatorCut,
) -> Option<Vec<KafkaPartitionPosition>> {
    let c = cutting.take()?;
    let positions: Vec<KafkaPartitionPosition> =
        c.positions.into_iter().zip(parts).map(|(p, part)| p.unwrap_or_else(|| part.position(part.ingest.partition))).collect();
    op.deliver(c.cut, snapshot_bytes(parts, out, dead_time, Some((positions.clone(), &c.times))));
    Some(positions)
}

/// This worker's part of the restored checkpoint: its own snapshot, or, when the checkpoint is
/// divided anew, the positions of the partitions it now owns from every old worker's snapshot,
/// at the times `combined_times` gives.
fn restored_snapshot(op: &OperatorCut, parts: &[Part]) -> Result<Option<KafkaSnapshot>, String> {
    let old = match restored_snapshots::<KafkaSnapshot>(op)? {
        None => return Ok(None),
        Some(Restored::Own(s)) => return Ok(Some(s)),
        Some(Restored::Old(old)) => old,
    };
    let mut positions = Vec::with_capacity(parts.len());
    for part in parts {
        let pos = old.iter().flat_map(|s| &s.positions).find(|p| p.index == part.ingest.partition);
        positions.push(pos.cloned().ok_or_else(|| format!("no old worker held {}", part.ingest.name))?);
    }
    let (class_times, dead_time) = combined_times(old.iter().map(|s| (s.class_times.as_slice(), s.dead_time)));
    Ok(Some(KafkaSnapshot { positions, class_times, dead_time }))
}

/// Sets each partition where the checkpoint's position of it stood.
fn resume_parts(parts: &mut [Part], snapshot: &KafkaSnapshot) -> Result<(), String> {
    if snapshot.positions.len() != parts.len() {
        return Err(format!("it holds {} partitions on this worker, the run has {} (the topics' partitions changed?)", snapshot.positions.len(), parts.len()));
    }
    for (part, pos) in parts.iter_mut().zip(&snapshot.positions) {
        if pos.index != part.ingest.partition || pos.topic != part.spec.topic || pos.partition != part.spec.partition {
            return Err(format!("partition {} was {}/{}, now {}", pos.index, pos.topic, pos.partition, part.ingest.name));
        }
        part.next = pos.next;
        part.start = pos.start;
        part.max_ts = pos.max_ts;
        part.committed_max_ts = pos.max_ts;
        part.ingest.clock = pos.clock.clone();
        if !pos.parser.is_empty() {
            part.ingest.restore_parser(&pos.parser).map_err(|e| format!("{}: {e}", part.ingest.name))?;
        }
    }
    Ok(())
}

/// Whether every partition has been read to its end: `Ok(None)` when so, `Ok(Some(why))` when
/// a partition still has records, `Err(why)` when a partition's end cannot be learned (its
/// leader unreachable). One ListOffsets request per broker for all the worker's partitions (a
/// query per partition took 16 x 0.47 s against tansu); blocks for at most a few seconds and is
/// called only when the topics are quiet.
fn unread(consumer: &BaseConsumer, parts: &[Part]) -> Result<Option<String>, String> {
    let ends = list_offsets(consumer, parts.iter(), Offset::End)?;
    // A partition read from nowhere yet starts at its first retained record, not at 0.
    let fresh: Vec<&Part> = parts.iter().filter(|p| p.next.or(p.committed).is_none()).collect();
    let starts = if fresh.is_empty() { Vec::new() } else { list_offsets(consumer, fresh.iter().copied(), Offset::Beginning)? };
    for (p, high) in parts.iter().zip(ends) {
        let position = match p.next.or(p.committed) {
            Some(o) => o,
            None => fresh.iter().position(|f| std::ptr::eq(*f, p)).and_then(|i| starts.get(i).copied()).unwrap_or(0),
        };
        if high > position {
            return Ok(Some(format!("{} has {} record(s) left (offset {position} of {high})", p.ingest.name, high - position)));
        }
    }
    Ok(None)
}

/// Seeks every partition whose start stayed unconfirmed and silent further back (see
/// [`StartProbe::quiet`]); returns how many were sought.
fn seek_quiet_probes(consumer: &BaseConsumer, parts: &mut [Part], now: Instant, stats: &RunStats, cancel: &AtomicBool) -> u64 {
    let due: Vec<usize> = (0..parts.len()).filter(|&i| parts[i].probe.is_some_and(|p| p.is_due(now))).collect();
    if due.is_empty() {
        return 0;
    }
    // The end offsets are a hint only: without them the probe still goes back step by step.
    let ends = list_offsets(consumer, due.iter().map(|&i| &parts[i]), Offset::End).ok();
    let mut sought = 0;
    for (k, &i) in due.iter().enumerate() {
        let part = &mut parts[i];
        let Some(probe) = part.probe.as_mut() else { continue };
        let to = match probe.quiet(now, ends.as_ref().and_then(|e| e.get(k).copied())) {
            Silence::Seek(to) => to,
            Silence::Wait => continue,
            Silence::Over => {
                part.probe = None;
                continue;
            }
        };
        sought += 1;
        if let Err(e) = consumer.seek(&part.spec.topic, part.spec.partition, Offset::Offset(to), Duration::from_secs(5)) {
            stats.fatal(|| format!("{}: cannot seek back to offset {to}: {e}", part.ingest.name));
            cancel.store(true, Relaxed);
        }
    }
    sought
}

/// The earliest (`Offset::Beginning`) or end (`Offset::End`) offset of each partition, in order,
/// from one ListOffsets request per broker.
fn list_offsets<'a>(consumer: &BaseConsumer, parts: impl Iterator<Item = &'a Part> + Clone, which: Offset) -> Result<Vec<i64>, String> {
    let mut tpl = TopicPartitionList::new();
    for p in parts.clone() {
        tpl.add_partition_offset(&p.spec.topic, p.spec.partition, which).map_err(|e| format!("{}: {e}", p.ingest.name))?;
    }
    let answer = consumer.offsets_for_times(tpl, Duration::from_secs(5)).map_err(|e| format!("listing offsets: {e}"))?;
    parts
        .map(|p| {
            let e = answer.find_partition(&p.spec.topic, p.spec.partition).ok_or_else(|| format!("no offset for {}", p.ingest.name))?;
            e.error().map_err(|err| format!("offset of {}: {err}", p.ingest.name))?;
            match e.offset() {
                Offset::Offset(o) => Ok(o),
                other => Err(format!("offset of {}: the broker answered {other:?}", p.ingest.name)),
            }
        })
        .collect()
}

fn start_consumer(cfg: &KafkaSourceConfig, parts: &mut [Part], restored: bool) -> Result<BaseConsumer, String> {
    let consumer = kafka::consumer(&cfg.client, &cfg.group_id).map_err(|e| e.to_string())?;
    let specs: Vec<&AssignedPartition> = parts.iter().map(|p| &p.spec).collect();
    if restored {
        let at: Vec<Option<i64>> = parts.iter().map(|p| p.next.or(p.start)).collect();
        kafka::assign_at(&consumer, &specs, &at).map_err(|e| format!("assigning partitions: {e}"))?;
        for (part, at) in parts.iter_mut().zip(at) {
            if let Some(o) = at {
                part.start_at(o);
            }
            tracing::info!("consuming {} from {}", part.ingest.name, at.map_or_else(|| "the beginning".to_string(), |o| format!("checkpointed offset {o}")));
        }
        return Ok(consumer);
    }
    let starts = kafka::assign_from_committed(&consumer, &specs, Duration::from_secs(30)).map_err(|e| format!("assigning partitions: {e}"))?;
    for (part, start) in parts.iter_mut().zip(starts) {
        part.committed = start.map(|r| r.offset);
        part.start = part.committed;
        if let Some(o) = part.start {
            part.start_at(o);
        }
        if cfg.checkpoint.is_some() {
            // Fresh state: the clock starts afresh too (no re-read reproduces the old one).
            tracing::info!(
                "consuming {} from {} (no checkpoint yet)",
                part.ingest.name,
                part.start.map_or_else(|| "the beginning".to_string(), |o| format!("committed offset {o}"))
            );
            continue;
        }
        // The partition's clock as it was at the restart point: records judged late then are
        // judged late again, so the re-read cuts the same windows (a partition read from the
        // beginning starts with a fresh clock).
        let resume = match cfg.resume.as_ref().and_then(|log| log.lock().ok()) {
            Some(log) => log.resume_of(&part.spec.topic, part.spec.partition, start),
            None => start,
        };
        if let Some(m) = start.and(resume).and_then(|r| r.max_ts).filter(|m| *m > i64::MIN) {
            part.ingest.clock.resume(m);
            part.max_ts = m;
            part.committed_max_ts = m;
        }
        tracing::info!(
            "consuming {} from {}",
            part.ingest.name,
            start.map_or_else(|| "the beginning".to_string(), |r| format!("committed offset {}", r.offset))
        );
    }
    Ok(consumer)
}

/// Splits a message into lines (a message usually holds one) and ingests each.
fn ingest_payload(
    ingest: &mut Ingest,
    payload: &[u8],
    record_no: u64,
    batch: &mut Vec<Event>,
    dead: &mut Vec<DeadLetter>,
    stats: &RunStats,
    counts: &mut IngestCounts,
) {
    let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
    if !payload.contains(&b'\n') {
        ingest.record(payload.strip_suffix(b"\r").unwrap_or(payload), record_no, batch, dead, stats, counts);
        return;
    }
    let mut sub = 0;
    for line in payload.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            sub = ingest.record_from(line, record_no, sub, batch, dead, stats, counts);
        }
    }
}

/// The event time a restart must re-read from, given the delivered frontier: back by the plan's
/// horizon, and back to the start of every chain of windows live at that frontier (at most
/// `max_reread_ms`).
fn restart_point(delivered: u64, cfg: &KafkaSourceConfig, chains: Option<&Rc<RefCell<ChainHistory>>>) -> i64 {
    let d = delivered as i64;
    let by_horizon = d.saturating_sub(cfg.horizon_ms);
    chains.map_or(by_horizon, |h| by_horizon.min(h.borrow_mut().bound_at(delivered).max(d.saturating_sub(cfg.max_reread_ms))))
}

fn commit_safe(
    consumer: &BaseConsumer,
    parts: &mut [Part],
    safe: i64,
    delivered: u64,
    log: Option<&std::sync::Mutex<kafka::ResumeLog>>,
    stats: &RunStats,
    mode: CommitMode,
) {
    // Every partition read so far is recorded with the delivered frontier and how far it has
    // been read, not only those whose commit point moved: a restart writes again what it
    // derives before the frontier only where every record behind it had been read (an idle
    // partition can speak again behind a frontier that followed the others).
    let points: Vec<(usize, i64, i64, i64)> = parts
        .iter_mut()
        .enumerate()
        .filter_map(|(i, p)| {
            let read = p.next?;
            match p.commit_point(safe) {
                Some((o, m)) => Some((i, o, m, read)),
                None => Some((i, p.committed.unwrap_or(kafka::UNCOMMITTED), p.committed_max_ts, read)),
            }
        })
        .collect();
    if points.is_empty() {
        return;
    }
    let delivered = i64::try_from(delivered).unwrap_or(i64::MAX);
    if let Some(log) = log {
        let resumes: Vec<(&str, i32, kafka::Resume)> = points
            .iter()
            .map(|&(i, o, m, n)| {
                let r = kafka::Resume { offset: o, delivered_ms: Some(delivered), max_ts: Some(m), read: Some(n) };
                (parts[i].spec.topic.as_str(), parts[i].spec.partition, r)
            })
            .collect();
        if let Err(e) = log.lock().map_err(|e| e.to_string()).and_then(|mut l| l.record(&resumes).map_err(|e| e.to_string())) {
            stats.sample(|| format!("recording restart points in the state directory failed: {e}"));
        }
    }
    // A partition never committed has no offset to carry metadata: the log alone keeps it.
    let offsets: Vec<(&str, i32, i64, Option<String>)> = points
        .iter()
        .filter(|p| p.1 != kafka::UNCOMMITTED)
        .map(|&(i, o, m, n)| (parts[i].spec.topic.as_str(), parts[i].spec.partition, o, Some(kafka::Resume::metadata(delivered, m, n))))
        .collect();
    if offsets.is_empty() {
        return;
    }
    match kafka::commit(consumer, &offsets, mode) {
        Ok(()) => {
            for (i, o, m, _) in points {
                if o != kafka::UNCOMMITTED {
                    parts[i].committed = Some(o);
                    parts[i].committed_max_ts = m;
                }
            }
        }
        Err(e) => stats.sample(|| format!("committing offsets failed (will retry): {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part() -> Part {
        let spec =
            AssignedPartition { source: "s".into(), topic: "t".into(), partition: 0, format: crate::parse::Format::Syslog, overrides: Default::default() };
        Part::new(&spec, 0, 0, &ParseOptions::default(), 0, Instant::now())
    }

    #[test]
    fn a_start_answered_with_a_later_record_seeks_back_until_it_is_confirmed() {
        let mut p = part();
        p.start_at(833);
        // The broker skipped to the next batch: back by the gap, then twice as far.
        assert_eq!(p.check_start(2127), SeekCheck::Rewind(0));
        // Sought back to the beginning and answered the same: the broker no longer holds
        // 833..2126 (retention); read on, and counted as lost.
        assert_eq!(p.check_start(2127), SeekCheck::Go);
        assert_eq!(p.lost, 2127 - 833);
        let mut p = part();
        p.start_at(5000);
        assert_eq!(p.check_start(5100), SeekCheck::Rewind(4900));
        assert_eq!(p.check_start(5100), SeekCheck::Rewind(4800));
        // Records before the start are read past, quietly; the one asked for is read.
        assert_eq!(p.check_start(4800), SeekCheck::Skip);
        assert_eq!(p.check_start(4999), SeekCheck::Skip);
        assert!(!p.unconfirmed());
        assert_eq!(p.check_start(5000), SeekCheck::Go);
        assert!(p.first_sight(5000));
        let mut q = part();
        q.start_at(7);
        assert_eq!(q.check_start(7), SeekCheck::Go);
        assert!(q.first_sight(7));
        // A gap within the stream is sought back over once; found again, it is real.
        assert_eq!(q.check_start(10), SeekCheck::Rewind(6));
        assert_eq!(q.check_start(7), SeekCheck::Skip);
        assert_eq!(q.check_start(10), SeekCheck::Go, "the same gap again: compaction, say");
        assert!(q.first_sight(10));
    }

    #[test]
    fn a_partition_that_seems_complete_is_confirmed_once_more() {
        let now = Instant::now();
        let mut p = part();
        p.reconfirm(now);
        assert!(!p.unconfirmed(), "nothing read: nothing to confirm");
        assert!((0..6016).all(|o| p.first_sight(o)));
        p.reconfirm(now);
        assert!(p.unconfirmed());
        assert_eq!(p.probe.as_mut().map(|q| q.quiet(now, Some(5059))), Some(Silence::Seek(5058)), "due at once");
        // The last batch comes again from its base: read past until the next record, which
        // does not come; the partition is confirmed at its end.
        assert!((5058..6016).all(|o| p.check_start(o) == SeekCheck::Skip));
        assert!(!p.unconfirmed());
        assert_eq!(p.check_start(6016), SeekCheck::Go);
        assert!(p.first_sight(6016));
    }

    #[test]
    fn records_handed_out_again_are_refused_and_late_gap_fills_are_not() {
        let mut p = part();
        assert!((10..20).all(|o| p.first_sight(o)));
        assert!(!(15..20).any(|o| p.first_sight(o)), "the partition's last records again");
        assert!(p.first_sight(25), "a jump leaves a gap");
        assert!(p.first_sight(22), "filling the gap late");
        assert!(!p.first_sight(22), "but only once");
        assert!(p.first_sight(20) && p.first_sight(24) && p.first_sight(21) && p.first_sight(23));
        assert!(!(10..26).any(|o| p.first_sight(o)));
        assert!(p.gaps.is_empty());
        assert_eq!(p.next, Some(26));
    }
}
