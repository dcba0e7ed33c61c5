//! The file source: each worker reads the inputs (partitions) assigned to it, parses them, judges
//! lateness per partition, and sends events at its watermark: one output per lateness class
//! (see [`super::lateness`]), each at the least watermark of that class's partitions. No exchange
//! happens here.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, Stream};

use super::lateness::LatenessClasses;
use super::watermark::{to_timely, worker_watermark, Arrival, PartitionClock};
use crate::checkpoint::{Coordinator, Cut, Gate, OperatorCut};
use crate::event::{time, Event, Origin};
use crate::io::dead_letter::DeadLetter;
use crate::io::input::{InputSpec, LineReader, Record};
use crate::metrics::RunStats;
use crate::parse::{new_parser, ErrorKind, Outcome, ParseOptions, RecordParser};

/// Flow control: a worker whose events pile up downstream stops reading while it is ahead of the
/// rest of the cluster, so memory stays bounded when one worker (or a sink) is slower. The worker
/// that holds the frontier back is never ahead of it, so it never waits, and progress continues.
#[derive(Clone)]
pub struct Backpressure {
    /// Probe on the stream whose progress the source must not outrun.
    pub probe: ProbeHandle<u64>,
    /// Events waiting downstream on this worker (maintained by the keyed operator).
    pub pending: Rc<Cell<usize>>,
    /// Waiting events above which a worker that is ahead pauses reading.
    pub max_pending: usize,
}

/// Default bound on waiting events per worker before a worker that is ahead pauses.
pub const MAX_PENDING_EVENTS: usize = 100_000;

/// What every worker's source needs to know.
#[derive(Clone)]
pub struct SourceConfig {
    /// All inputs of the run, in partition order; each worker reads those it owns.
    pub inputs: Vec<InputSpec>,
    /// Parser settings.
    pub parse: ParseOptions,
    /// Allowed lateness in milliseconds.
    pub lateness_ms: i64,
    /// Shared counters.
    pub stats: Arc<RunStats>,
    /// Set when the run should stop reading early (a sink failed, or the user interrupted).
    pub cancel: Arc<std::sync::atomic::AtomicBool>,
}

/// The worker that owns partition `p` of a run with `peers` workers.
pub fn owner_of(partition: u32, peers: usize) -> usize {
    partition as usize % peers.max(1)
}

/// A source's event outputs, one per lateness class, each with its own capability and batch.
pub(super) struct ClassOutputs {
    outs: Vec<EventOut>,
    caps: Vec<Option<Capability<u64>>>,
    /// Events read and not yet sent, per class.
    pub batches: Vec<Vec<Event>>,
    /// The latest time any of the source's capabilities (dead letters' too, see
    /// [`ClassOutputs::note`]) has been at: nothing it sent is later.
    high: u64,
}

type EventOut = OutputBuilder<u64, CapacityContainerBuilder<Vec<Event>>>;

impl ClassOutputs {
    /// Adds `classes` event outputs to `builder` (before any other output, so their
    /// capabilities come first); returns them and their streams.
    pub(super) fn outputs<'s>(builder: &mut OperatorBuilder<'s, u64>, classes: usize) -> (Vec<EventOut>, Vec<Stream<'s, u64, Vec<Event>>>) {
        (0..classes.max(1))
            .map(|_| {
                let (out, stream) = builder.new_output::<Vec<Event>>();
                (EventOut::from(out), stream)
            })
            .unzip()
    }

    /// The outputs with their initial capabilities (the first `outs.len()` of `caps`).
    pub(super) fn new(outs: Vec<EventOut>, caps: &mut Vec<Capability<u64>>) -> Self {
        let caps: Vec<Option<Capability<u64>>> = caps.drain(..outs.len()).map(Some).collect();
        let batches = vec![Vec::new(); outs.len()];
        let high = caps.iter().flatten().map(|c| *c.time()).max().unwrap_or(0);
        ClassOutputs { outs, caps, batches, high }
    }

    /// Sends the batch of `class` at its capability.
    pub(super) fn send(&mut self, class: usize) {
        let (Some(batch), Some(Some(cap)), Some(out)) = (self.batches.get_mut(class), self.caps.get(class), self.outs.get_mut(class)) else { return };
        if !batch.is_empty() {
            out.activate().session(cap).give_container(batch);
            batch.clear();
        }
    }

    /// Sends every class's batch.
    pub(super) fn send_all(&mut self) {
        (0..self.outs.len()).for_each(|k| self.send(k));
    }

    /// Moves the capability of `class` forward to `watermark`, or drops it (`None`: the class
    /// has no partition left on this worker).
    pub(super) fn advance(&mut self, class: usize, watermark: Option<i64>) {
        let Some(slot) = self.caps.get_mut(class) else { return };
        match watermark {
            None => *slot = None,
            Some(wm) => {
                if let Some(cap) = slot.as_mut() {
                    let t = to_timely(wm);
                    if t > *cap.time() {
                        cap.downgrade(&t);
                        self.high = self.high.max(t);
                    }
                }
            }
        }
    }

    /// The time of `class`'s capability (`None`: dropped).
    pub(super) fn time(&self, class: usize) -> Option<u64> {
        self.caps.get(class).and_then(|c| c.as_ref()).map(|c| *c.time())
    }

    /// The latest time of any capability held.
    pub(super) fn latest_time(&self) -> Option<u64> {
        self.caps.iter().flatten().map(|c| *c.time()).max()
    }

    /// Moves the capabilities to where a checkpoint had them (`None`: dropped).
    pub(super) fn restore(&mut self, times: &[Option<u64>]) {
        for (slot, t) in self.caps.iter_mut().zip(times) {
            match (slot.as_mut(), t) {
                (Some(cap), Some(t)) if *t > *cap.time() => {
                    cap.downgrade(t);
                    self.high = self.high.max(*t);
                }
                (_, None) => *slot = None,
                _ => {}
            }
        }
    }

    /// Notes that the source's dead-letter capability moved to `t`.
    pub(super) fn note(&mut self, t: u64) {
        self.high = self.high.max(t);
    }

    /// The latest time the source has sent at, or could have: a finished source reports it
    /// for every later cut, which must come after its last records (some may still be on
    /// their way when the cut is chosen).
    pub(super) fn high(&self) -> u64 {
        self.high
    }

    /// Drops every capability: the source is finished.
    pub(super) fn finish(&mut self) {
        self.caps.iter_mut().for_each(|c| *c = None);
    }

    /// Number of classes.
    pub(super) fn count(&self) -> usize {
        self.outs.len()
    }

    /// Sends each class's dead letters at that class's time when it is later than `dcap`'s, so a
    /// record read after its class passed a cut gives dead letters after the cut; empties them.
    pub(super) fn send_dead_letters(&self, dead_out: &mut DeadOutput, dcap: &Capability<u64>, batches: &mut [Vec<DeadLetter>]) {
        for (k, batch) in batches.iter_mut().enumerate() {
            if batch.is_empty() {
                continue;
            }
            match self.time(k).filter(|t| t > dcap.time()) {
                Some(t) => dead_out.activate().session(&dcap.delayed(&t)).give_container(batch),
                None => dead_out.activate().session(dcap).give_container(batch),
            }
            batch.clear();
        }
    }
}

/// A source's dead-letter output.
pub(super) type DeadOutput = OutputBuilder<u64, CapacityContainerBuilder<Vec<DeadLetter>>>;

/// Where each class's capability stood when its partitions' positions were taken for a cut:
/// what a restore must move the capabilities to. Taken later (when the whole source is done
/// with the cut), a capability would have moved on with records read after the positions, and
/// those records, read again after a restore, would go out later than they first did.
pub(super) struct CutTimes {
    /// Per class: `None` until its capability passed the cut, then its time (`None`: dropped).
    times: Vec<Option<Option<u64>>>,
}

impl CutTimes {
    /// No class has passed the cut yet.
    pub(super) fn new(classes: usize) -> Self {
        CutTimes { times: vec![None; classes] }
    }

    /// Records every class whose capability has now passed `cut` (or was dropped).
    pub(super) fn observe(&mut self, out: &ClassOutputs, cut: u64) {
        for (k, slot) in self.times.iter_mut().enumerate() {
            if slot.is_none() && out.time(k).is_none_or(|t| t >= cut) {
                *slot = Some(out.time(k));
            }
        }
    }

    /// Whether `class` has passed the cut (its partitions' positions count from now).
    pub(super) fn passed(&self, class: usize) -> bool {
        self.times.get(class).is_some_and(Option::is_some)
    }

    /// The capability times to save: as recorded, or as they are for a class not recorded.
    pub(super) fn snapshot(&self, out: &ClassOutputs) -> Vec<Option<u64>> {
        (0..out.count()).map(|k| self.times.get(k).copied().flatten().unwrap_or_else(|| out.time(k))).collect()
    }

    /// The dead letters' capability time to save: no later than any recorded class time. A
    /// source that finished after some class passed the cut still reads again, after a
    /// restore, what it read after that class's positions: its dead letters need a time.
    pub(super) fn dead_time(&self, now: Option<u64>) -> Option<u64> {
        let earliest = self.times.iter().flatten().flatten().min().copied();
        match (now, earliest) {
            (Some(d), Some(e)) => Some(d.min(e)),
            (d, None) => d,
            (None, e) => e,
        }
    }
}

struct Partition {
    /// Its lateness class.
    class: usize,
    spec: InputSpec,
    reader: Option<LineReader>,
    ingest: Ingest,
    line: u64,
    bytes_reported: u64,
    /// Records to pass over after opening (a restart resumes after them), and the bytes they
    /// must add up to.
    resume: Option<(u64, u64)>,
}

/// Turns one partition's raw records into events: parses them, stamps their origin, judges
/// lateness against the partition's clock, and turns failures into dead letters. Shared by the
/// file and the Kafka sources, so a record gives the same events whichever way it came.
pub struct Ingest {
    /// The partition's name in messages and dead letters (a path, or `topic/partition`).
    pub name: String,
    /// Global partition index.
    pub partition: u32,
    parser: Box<dyn RecordParser>,
    /// The partition's event-time clock.
    pub clock: PartitionClock,
    lateness_ms: i64,
}

/// Per-record outcomes of a batch, added to the partition's counters once per batch.
#[derive(Default, Clone, Copy, Debug)]
pub struct IngestCounts {
    /// Records seen.
    pub records: u64,
    /// On-time events.
    pub events: u64,
    /// Unparsable records.
    pub errors: u64,
    /// Late events.
    pub late: u64,
    /// Records skipped on purpose (headers, blank lines).
    pub skipped: u64,
}

impl IngestCounts {
    /// Adds the counts to the partition's statistics.
    pub fn publish(&self, pstats: &crate::metrics::InputStats) {
        pstats.lines.fetch_add(self.records, Relaxed);
        pstats.events.fetch_add(self.events, Relaxed);
        pstats.errors.fetch_add(self.errors, Relaxed);
        pstats.late.fetch_add(self.late, Relaxed);
        pstats.skipped.fetch_add(self.skipped, Relaxed);
    }
}

impl Ingest {
    /// Ingestion for one partition with its parser settings and lateness.
    pub fn new(name: String, partition: u32, format: crate::parse::Format, parse: &ParseOptions, lateness_ms: i64) -> Self {
        Ingest { name, partition, parser: new_parser(format, parse), clock: PartitionClock::new(lateness_ms), lateness_ms }
    }

    /// Whether the parser's output depends on earlier records.
    pub fn parser_carries_state(&self) -> bool {
        self.parser.carries_state()
    }

    /// The parser's state, for a checkpoint (see [`crate::parse::RecordParser::save_state`]).
    pub fn parser_state(&self) -> Vec<u8> {
        self.parser.save_state()
    }

    /// Restores the parser's state from a checkpoint.
    pub fn restore_parser(&mut self, state: &[u8]) -> Result<(), String> {
        self.parser.restore_state(state)
    }

    /// Feeds a record to the parser only (its events into `scratch`; clock and counters
    /// untouched): rebuilds the parser's state on a restart.
    pub fn feed_parser(&mut self, raw: &[u8], scratch: &mut Vec<Event>) {
        let _ = self.parser.parse(raw, scratch);
    }

    /// Records that a record of `len` bytes was over the size limit and skipped.
    pub fn too_long(&mut self, len: usize, record_no: u64, dead: &mut Vec<DeadLetter>, stats: &RunStats, counts: &mut IngestCounts) {
        counts.records += 1;
        counts.errors += 1;
        if let Some((_, input)) = stats.inputs.get(self.partition as usize) {
            input.errors_by_kind[crate::metrics::kind_index(ErrorKind::TooLong)].fetch_add(1, Relaxed);
        }
        let detail = format!("record of {len} bytes exceeds the {} byte limit", crate::parse::MAX_RECORD_BYTES);
        stats.error(ErrorKind::TooLong, || format!("{}:{record_no}: too-long: {detail}", self.name));
        dead.push(DeadLetter::new(ErrorKind::TooLong.code(), detail, &self.name, self.partition, record_no, b""));
    }

    /// Parses one record (`record_no`: its line, or its Kafka offset) into `batch`.
    pub fn record(&mut self, raw: &[u8], record_no: u64, batch: &mut Vec<Event>, dead: &mut Vec<DeadLetter>, stats: &RunStats, counts: &mut IngestCounts) {
        self.record_from(raw, record_no, 0, batch, dead, stats, counts);
    }

    /// Like [`Ingest::record`], numbering the record's events from `first_sub` (several lines
    /// of one Kafka message share its offset); returns the next free number.
    #[allow(clippy::too_many_arguments)]
    pub fn record_from(
        &mut self,
        raw: &[u8],
        record_no: u64,
        first_sub: u32,
        batch: &mut Vec<Event>,
        dead: &mut Vec<DeadLetter>,
        stats: &RunStats,
        counts: &mut IngestCounts,
    ) -> u32 {
        counts.records += 1;
        let start = batch.len();
        let mut sub = first_sub;
        match self.parser.parse(raw, batch) {
            Ok(Outcome::Skipped) => counts.skipped += 1,
            Ok(Outcome::Events(_)) => {
                let mut i = start;
                while i < batch.len() {
                    let ev = &mut batch[i];
                    ev.origin = Origin { partition: self.partition, record: record_no, sub };
                    sub += 1;
                    match self.clock.observe(ev.ts) {
                        Arrival::OnTime => {
                            counts.events += 1;
                            i += 1;
                        }
                        Arrival::Late { watermark } => {
                            counts.late += 1;
                            // Only this record's own expansions follow `i`, so the shift is short.
                            let late_ev = batch.remove(i);
                            let detail = format!(
                                "event time {} is before the partition watermark {} (lateness {} ms)",
                                time::to_iso8601(late_ev.ts),
                                time::to_iso8601(watermark),
                                self.lateness_ms
                            );
                            stats.sample(|| format!("{}:{record_no}: late: {detail}", self.name));
                            dead.push(DeadLetter::new("late", detail, &self.name, self.partition, record_no, raw));
                        }
                    }
                }
            }
            Err(e) => {
                batch.truncate(start);
                counts.errors += 1;
                if let Some((_, input)) = stats.inputs.get(self.partition as usize) {
                    input.errors_by_kind[crate::metrics::kind_index(e.kind)].fetch_add(1, Relaxed);
                }
                stats.error(e.kind, || format!("{}:{record_no}: {}: {}", self.name, e.kind, e.detail));
                dead.push(DeadLetter::new(e.kind.code(), e.detail, &self.name, self.partition, record_no, raw));
            }
        }
        sub
    }
}

/// Records read per partition per turn, so partitions sharing a worker advance together.
const TURN_RECORDS: usize = 1024;
/// Time a source activation may take before yielding to the rest of the dataflow.
const ACTIVATION_BUDGET: Duration = Duration::from_millis(5);

/// A file source's outputs: events (one stream per lateness class) and dead letters.
pub type FileStreams<'s> = (Vec<Stream<'s, u64, Vec<Event>>>, Stream<'s, u64, Vec<DeadLetter>>);

/// Where one partition stood at a checkpoint's cut.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct PartitionPosition {
    partition: u32,
    /// Its name, so a checkpoint of other inputs is refused.
    name: String,
    /// Records read (lines, whether or not they gave events).
    records: u64,
    /// Bytes those records took.
    bytes: u64,
    clock: PartitionClock,
}

/// A file source's state at a cut: where each of its partitions stood when its class's
/// capability passed the cut, and where its capabilities were then.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct SourceSnapshot {
    positions: Vec<PartitionPosition>,
    /// Per class: the capability's time (`None`: dropped).
    class_times: Vec<Option<u64>>,
    /// The dead letters' capability's time.
    dead_time: Option<u64>,
    /// The parsers' notion of now (the year of year-less syslog timestamps).
    now_ms: i64,
}

/// A cut the source is delivering: the positions recorded so far, per local partition.
struct CutInProgress {
    cut: Cut,
    positions: Vec<Option<PartitionPosition>>,
    times: CutTimes,
}

/// Builds the source. Returns the on-time events, one stream per lateness class of `classes`,
/// and the dead letters (unparsable and late). With `checkpoint` it pauses when a cut is being
/// chosen, delivers its partitions' positions at each cut, and resumes where a restored
/// checkpoint left it.
pub fn file_source<'s>(
    scope: Scope<'s, u64>,
    cfg: SourceConfig,
    classes: Arc<LatenessClasses>,
    backpressure: Option<Backpressure>,
    checkpoint: Option<(Arc<Coordinator>, &str)>,
) -> FileStreams<'s> {
    let mut builder = OperatorBuilder::new("FileSource".to_owned(), scope);
    let info = builder.operator_info();
    let activator = scope.activator_for(info.address);
    let (event_outs, events) = ClassOutputs::outputs(&mut builder, classes.count());
    let (dead_out, dead) = builder.new_output::<Vec<DeadLetter>>();
    let mut dead_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<DeadLetter>>>::from(dead_out);
    let (index, peers) = (scope.index(), scope.peers());

    let gate = checkpoint.map(|(c, name)| (c.clone(), c.register_source(), c.register(index, name.to_owned())));
    builder.build(move |mut caps| {
        let mut out = ClassOutputs::new(event_outs, &mut caps);
        // The dead letters' capability follows every partition of the worker: while it is held,
        // the source is not finished.
        let mut dead_cap: Option<Capability<u64>> = caps.pop();
        let mut gate = gate;
        let owned: Vec<u32> = cfg.inputs.iter().filter(|spec| owner_of(spec.partition, peers) == index).map(|spec| spec.partition).collect();
        let restored: Option<SourceSnapshot> = match gate.as_ref().map(|(_, _, op)| restored_snapshot(op, &owned)) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                cfg.stats.fatal(|| format!("the checkpoint's source positions: {e}"));
                cfg.cancel.store(true, Relaxed);
                None
            }
            None => None,
        };
        let mut parse = cfg.parse.clone();
        if let Some(r) = &restored {
            parse.now_ms = r.now_ms;
        }
        let now_ms = parse.now_ms;
        let mut parts: Vec<Partition> = cfg
            .inputs
            .iter()
            .filter(|spec| owner_of(spec.partition, peers) == index)
            .map(|spec| Partition {
                class: classes.input(spec.partition as usize),
                ingest: Ingest::new(
                    spec.source.display(),
                    spec.partition,
                    spec.format,
                    &spec.overrides.parse_options(&parse),
                    spec.overrides.lateness_ms.unwrap_or(cfg.lateness_ms),
                ),
                spec: spec.clone(),
                reader: None,
                line: 0,
                bytes_reported: 0,
                resume: None,
            })
            .collect();
        if let Some(r) = &restored {
            if let Err(reason) = resume_partitions(&mut parts, r) {
                cfg.stats.fatal(|| format!("cannot resume from the checkpoint: {reason}"));
                cfg.cancel.store(true, Relaxed);
            }
            // An input read to its end is not read again; it must still hold what was read.
            for (part, pos) in parts.iter_mut().zip(&r.positions) {
                if pos.records > 0 && part.ingest.clock.is_done() && !verify_finished(part, pos.records, pos.bytes, &cfg.stats) {
                    cfg.cancel.store(true, Relaxed);
                }
            }
            // Where the capabilities stood at the cut: what is read next comes after it.
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
        let mut cutting: Option<CutInProgress> = None;
        let stats = cfg.stats.clone();
        let cancel = cfg.cancel.clone();
        for batch in out.batches.iter_mut() {
            batch.reserve(TURN_RECORDS * 2);
        }
        // Per class: a class's dead letters go at its own time when that is later, so a record
        // read after its class passed a cut gives dead letters after the cut.
        let mut dead_batches: Vec<Vec<DeadLetter>> = vec![Vec::new(); out.count()];

        let mut last_time = 0u64;
        move |_frontiers| {
            let Some(dcap) = dead_cap.as_ref() else {
                // Without its dead letters' capability the source is finished: no other may
                // stay held (a restore could otherwise hold one the source never moves).
                out.finish();
                if let Some((coord, id, op)) = gate.as_mut() {
                    finish_cut(&mut cutting, &parts, &out, None, now_ms, op);
                    op.finish(snapshot_bytes(&parts, &out, None, now_ms, None));
                    coord.source_finished(*id, out.high());
                    gate = None;
                }
                return;
            };
            // Pausing comes first: a paused source holds the frontier back, so a source that
            // waited for the frontier instead would never report.
            if let Some((coord, id, _)) = gate.as_ref() {
                let latest = out.latest_time().map_or(*dcap.time(), |t| t.max(*dcap.time()));
                if coord.gate(*id, latest) == Gate::Wait {
                    activator.activate_after(Duration::from_millis(1));
                    return;
                }
                if cutting.is_none() {
                    if let Some(cut) = gate.as_ref().and_then(|(_, _, op)| op.pending()) {
                        cutting = Some(CutInProgress { cut, positions: vec![None; parts.len()], times: CutTimes::new(out.count()) });
                    }
                }
            }
            if let Some(bp) = backpressure.as_ref() {
                // "Ahead" means downstream has not yet caught up with where this source stood
                // one activation ago; a lone worker is never ahead for long.
                if bp.pending.get() > bp.max_pending && bp.probe.less_than(&last_time) {
                    activator.activate_after(Duration::from_millis(1));
                    return;
                }
            }
            last_time = *dcap.time();
            let started = Instant::now();
            let cancelled = cancel.load(Relaxed);
            if cancelled {
                if let Some((coord, _, _)) = gate.as_ref() {
                    coord.abandon();
                }
            }
            'turns: loop {
                let mut progressed = false;
                for part in parts.iter_mut().filter(|p| !p.ingest.clock.is_done()) {
                    if cancelled {
                        part.ingest.clock.finish();
                        continue;
                    }
                    let k = part.class;
                    progressed |= read_turn(part, &mut out.batches[k], &mut dead_batches[k], &stats, &cancel);
                    // Send per turn: batches stay small enough for the allocator to recycle.
                    out.send(k);
                }
                if !progressed || started.elapsed() >= ACTIVATION_BUDGET {
                    break 'turns;
                }
            }
            out.send_all();
            out.send_dead_letters(&mut dead_out, dcap, &mut dead_batches);
            for k in 0..out.count() {
                out.advance(k, worker_watermark(parts.iter().filter(|p| p.class == k).map(|p| &p.ingest.clock)));
            }
            let worker_wm = worker_watermark(parts.iter().map(|p| &p.ingest.clock));
            if let (Some(c), Some((_, _, op))) = (cutting.as_mut(), gate.as_mut()) {
                // A partition's position counts once its class's capability has passed the cut:
                // everything it read so far went out before the cut, everything after at or
                // after it.
                c.times.observe(&out, c.cut.at);
                for (i, part) in parts.iter().enumerate() {
                    if c.positions[i].is_none() && c.times.passed(part.class) {
                        c.positions[i] = Some(position_of(part));
                    }
                }
                let dead_passed = worker_wm.is_none_or(|wm| to_timely(wm) >= c.cut.at);
                if dead_passed && c.positions.iter().all(Option::is_some) {
                    let dead_time = worker_wm.map(|wm| to_timely(wm).max(*dcap.time()));
                    finish_cut(&mut cutting, &parts, &out, dead_time, now_ms, op);
                }
            }
            match worker_wm {
                None => {
                    out.finish();
                    dead_cap = None;
                    activator.activate();
                }
                Some(wm) => {
                    let t = to_timely(wm);
                    if let Some(c) = dead_cap.as_mut().filter(|c| t > *c.time()) {
                        c.downgrade(&t);
                        out.note(t);
                    }
                    activator.activate();
                }
            }
        }
    });
    (events, dead)
}

/// A partition's position now.
fn position_of(part: &Partition) -> PartitionPosition {
    PartitionPosition {
        partition: part.spec.partition,
        name: part.ingest.name.clone(),
        records: part.line,
        bytes: part.reader.as_ref().map_or(part.bytes_reported, |r| r.bytes_read),
        clock: part.ingest.clock.clone(),
    }
}

/// The source's state for a checkpoint.
fn snapshot_bytes(parts: &[Partition], out: &ClassOutputs, dead_time: Option<u64>, now_ms: i64, cut: Option<(Vec<PartitionPosition>, &CutTimes)>) -> Vec<u8> {
    let snapshot = match cut {
        Some((positions, times)) => SourceSnapshot { positions, class_times: times.snapshot(out), dead_time: times.dead_time(dead_time), now_ms },
        None => SourceSnapshot {
            positions: parts.iter().map(position_of).collect(),
            class_times: (0..out.count()).map(|k| out.time(k)).collect(),
            dead_time,
            now_ms,
        },
    };
    bincode::serialize(&snapshot).unwrap_or_default()
}

/// Delivers the cut in progress, if any, with the positions it recorded.
fn finish_cut(cutting: &mut Option<CutInProgress>, parts: &[Partition], out: &ClassOutputs, dead_time: Option<u64>, now_ms: i64, op: &mut OperatorCut) {
    let Some(c) = cutting.take() else { return };
    let positions = c.positions.into_iter().zip(parts).map(|(p, part)| p.unwrap_or_else(|| position_of(part))).collect();
    op.deliver(c.cut, snapshot_bytes(parts, out, dead_time, now_ms, Some((positions, &c.times))));
}

/// The earliest of several old workers' capability times (`None` when none held one): the
/// time a new worker holding their partitions resumes at.
pub(super) fn earliest(times: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    times.flatten().min()
}

/// A source's part of the restored checkpoint.
pub(super) enum Restored<S> {
    /// This worker's own snapshot.
    Own(S),
    /// Every old worker's, when the checkpoint is divided anew (other workers or rules).
    Old(Vec<S>),
}

/// Decodes this source's part of the restored checkpoint, if any.
pub(super) fn restored_snapshots<S: serde::de::DeserializeOwned>(op: &OperatorCut) -> Result<Option<Restored<S>>, String> {
    let decode = |bytes: &[u8]| bincode::deserialize::<S>(bytes).map_err(|e| format!("they do not decode: {e}"));
    match op.restored_all() {
        None => op.restored().map(|b| decode(&b).map(Restored::Own)).transpose(),
        Some(all) if all.is_empty() => Ok(None),
        Some(all) => all.iter().map(|(_, b)| decode(b)).collect::<Result<Vec<S>, _>>().map(|old| Some(Restored::Old(old))),
    }
}

/// The capability times a new worker resumes at, from every old worker's (class times, dead
/// letters' time): each class at the earliest time any old class held, since the lateness
/// classes follow the rules, which may have changed, and the first activation moves every
/// capability up to its partitions' watermark anyway.
pub(super) fn combined_times<'a>(old: impl Iterator<Item = (&'a [Option<u64>], Option<u64>)> + Clone) -> (Vec<Option<u64>>, Option<u64>) {
    let classes = old.clone().map(|(c, _)| c.len()).max().unwrap_or(0);
    let first = earliest(old.clone().flat_map(|(c, _)| c.iter().copied()));
    (vec![first; classes], earliest(old.map(|(_, d)| d)))
}

/// This worker's part of the restored checkpoint: its own snapshot, or, when the checkpoint is
/// divided anew, the positions of the inputs it now owns (`owned`, in order) from every old
/// worker's snapshot, at the times [`combined_times`] gives.
fn restored_snapshot(op: &OperatorCut, owned: &[u32]) -> Result<Option<SourceSnapshot>, String> {
    let old = match restored_snapshots::<SourceSnapshot>(op)? {
        None => return Ok(None),
        Some(Restored::Own(s)) => return Ok(Some(s)),
        Some(Restored::Old(old)) => old,
    };
    let mut positions = Vec::with_capacity(owned.len());
    for &partition in owned {
        let pos = old.iter().flat_map(|s| &s.positions).find(|p| p.partition == partition);
        positions.push(pos.cloned().ok_or_else(|| format!("no old worker held input {partition}"))?);
    }
    let (class_times, dead_time) = combined_times(old.iter().map(|s| (s.class_times.as_slice(), s.dead_time)));
    Ok(Some(SourceSnapshot { positions, class_times, dead_time, now_ms: old.first().map_or(0, |s| s.now_ms) }))
}

/// Sets each partition to resume where the checkpoint's position of it stood.
fn resume_partitions(parts: &mut [Partition], snapshot: &SourceSnapshot) -> Result<(), String> {
    if snapshot.positions.len() != parts.len() {
        return Err(format!("it holds {} inputs on this worker, the run has {}", snapshot.positions.len(), parts.len()));
    }
    for (part, pos) in parts.iter_mut().zip(&snapshot.positions) {
        if pos.partition != part.spec.partition || pos.name != part.ingest.name {
            return Err(format!("input {} was {}, now {}", pos.partition, pos.name, part.ingest.name));
        }
        part.ingest.clock = pos.clock.clone();
        if pos.records > 0 && !part.ingest.clock.is_done() {
            part.resume = Some((pos.records, pos.bytes));
        }
        part.line = pos.records;
        // What the position says until the input is opened again (a cut may come first).
        part.bytes_reported = pos.bytes;
    }
    Ok(())
}

/// Checks that an input the checkpoint had read to its end still holds exactly those records.
fn verify_finished(part: &mut Partition, records: u64, bytes: u64, stats: &RunStats) -> bool {
    match part.spec.source.open() {
        Ok(r) => part.reader = Some(LineReader::new(r)),
        Err(e) => {
            stats.fatal(|| format!("{}: cannot resume: cannot read it: {e}", part.ingest.name));
            return false;
        }
    }
    let ok = skip_read(part, records, bytes, stats)
        && match part.reader.as_mut().map(LineReader::next_record) {
            Some(Ok(None)) | None => true,
            Some(Ok(Some(_))) => {
                stats.fatal(|| {
                    format!(
                        "{}: cannot resume: it holds more than the {records} records it had when it was read to its end (the input changed)",
                        part.ingest.name
                    )
                });
                false
            }
            Some(Err(e)) => {
                stats.fatal(|| format!("{}: cannot resume: {e}", part.ingest.name));
                false
            }
        };
    part.reader = None;
    ok
}

/// Passes over the records a restored partition had read before the cut (through the parser
/// when its output depends on earlier records, with the results thrown away).
fn skip_read(part: &mut Partition, records: u64, bytes: u64, stats: &RunStats) -> bool {
    let Some(reader) = part.reader.as_mut() else { return false };
    let stateful = part.ingest.parser_carries_state();
    let mut scratch = Vec::new();
    for n in 0..records {
        match reader.next_record() {
            Ok(Some(Record::Line(raw))) if stateful => {
                scratch.clear();
                part.ingest.feed_parser(raw, &mut scratch);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                stats.fatal(|| format!("{}: cannot resume at record {records}: the input ends at record {n}", part.ingest.name));
                return false;
            }
        }
    }
    if reader.bytes_read != bytes {
        stats.fatal(|| {
            format!(
                "{}: cannot resume: its first {records} records take {} bytes now, {bytes} when the checkpoint was taken (the input changed)",
                part.ingest.name, reader.bytes_read
            )
        });
        return false;
    }
    part.bytes_reported = bytes;
    true
}

/// Reads up to one turn of records from a partition; returns whether it read anything.
fn read_turn(part: &mut Partition, batch: &mut Vec<Event>, dead: &mut Vec<DeadLetter>, stats: &RunStats, cancel: &AtomicBool) -> bool {
    let pstats = &stats.inputs[part.spec.partition as usize].1;
    if part.reader.is_none() {
        match part.spec.source.open() {
            Ok(r) => part.reader = Some(LineReader::new(r)),
            Err(e) => {
                stats.fatal(|| format!("{}: cannot read: {e}", part.ingest.name));
                part.ingest.clock.finish();
                return false;
            }
        }
        if let Some((records, bytes)) = part.resume.take() {
            if !skip_read(part, records, bytes, stats) {
                // Going on would write output that belongs to no run: stop every source.
                part.ingest.clock.finish();
                cancel.store(true, Relaxed);
                return false;
            }
        }
    }
    let Some(reader) = part.reader.as_mut() else { return false };
    let mut counts = IngestCounts::default();
    let mut any = false;
    for _ in 0..TURN_RECORDS {
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => {
                part.ingest.clock.finish();
                break;
            }
            Err(e) => {
                let line = part.line + 1;
                stats.fatal(|| format!("{}:{line}: read error, input abandoned: {e}", part.ingest.name));
                part.ingest.clock.finish();
                break;
            }
        };
        any = true;
        part.line += 1;
        match record {
            Record::Line(raw) => part.ingest.record(raw, part.line, batch, dead, stats, &mut counts),
            Record::TooLong(n) => part.ingest.too_long(n, part.line, dead, stats, &mut counts),
        }
    }
    counts.publish(pstats);
    let bytes = reader.bytes_read;
    pstats.bytes.fetch_add(bytes - part.bytes_reported, Relaxed);
    part.bytes_reported = bytes;
    any
}
