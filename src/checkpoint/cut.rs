//! Taking a cut inside one process: the [`Coordinator`] that every worker's operators share.
//!
//! A cut is taken in two steps. **Pausing**: once the interval has passed, every source stops
//! reading (it sends nothing new and keeps its capabilities where they are) and reports the
//! latest time it has sent at. **Cutting**: the cut `T` is one past the latest of those, so no
//! record anywhere in the dataflow has a time at or after `T`; it is published and the sources
//! read on. From then on every stateful operator sets aside inputs at or after `T`, and once its
//! input frontier reaches `T` (everything before `T` has arrived) it finishes what is before
//! `T`, delivers its state, and goes on with what it set aside. A source delivers the position
//! of each partition at the moment its capability passes `T`: every record read before was sent
//! before `T`, every record after at or after `T`. The last delivery completes the checkpoint:
//! one part per worker, then the manifest.
//!
//! Sources pause only while the slowest one answers (one activation each), and no operator
//! waits for the checkpoint to be written. Operators that finished before a cut (their input
//! frontier is empty) leave a standing state that every later cut reuses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::stamps::{rule_changes, unchanged_rules};
use super::store::{CheckpointError, Loaded, Manifest, RuleStamp, Store, FORMAT_VERSION};

/// The rules a run evaluates, as its checkpoints record them.
#[derive(Clone, Debug, Default)]
pub struct RunRules {
    /// One stamp per rule (see [`super::rule_stamps`]).
    pub stamps: Vec<RuleStamp>,
    /// The evaluated correlations' ids in plan order.
    pub correlations: Vec<String>,
}

/// What a restart with changed rules needs to place the state it keeps.
#[derive(Clone, Debug, Default)]
pub struct RestoredRules {
    /// The checkpoint's correlations' ids in its plan order.
    pub correlations: Vec<String>,
    /// The ids of the rules unchanged since the checkpoint.
    pub unchanged: BTreeSet<String>,
}

/// Where this process sits among the processes of a run, which take every cut together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Processes {
    /// This process, from 0; process 0 starts every cut.
    pub index: usize,
    /// Processes of the run.
    pub count: usize,
    /// The number of the next checkpoint, the same on every process (one past the newest in
    /// any process's directory); `None`: from this process's store.
    pub next_seq: Option<u64>,
}

impl Processes {
    /// One process alone.
    pub const ONE: Processes = Processes { index: 0, count: 1, next_seq: None };
}

/// A message between the coordinators of a run's processes, which choose every cut together
/// (carried by a small dataflow of its own, `crate::pipeline::cut_bridge`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CutMsg {
    /// From process 0: pause every source for checkpoint `seq`.
    Pause {
        /// The checkpoint's number.
        seq: u64,
    },
    /// Every source of `process` has paused for checkpoint `seq`; `latest` is the latest time
    /// any of them sent at.
    Paused {
        /// The checkpoint's number.
        seq: u64,
        /// The process.
        process: u32,
        /// The latest time sent at.
        latest: u64,
    },
    /// Every source of `process` has finished.
    Finished {
        /// The process.
        process: u32,
    },
}

/// No cut in progress.
const NONE: u64 = u64::MAX;

/// The cut of the checkpoint a run writes once everything has finished.
pub const FINISHED: u64 = u64::MAX;

/// A cut in progress: its sequence number and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The checkpoint's sequence number (its directory).
    pub seq: u64,
    /// The cut time: the state is that after every input before it.
    pub at: u64,
}

/// What a source should do in this activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Read on.
    Read,
    /// A cut is being chosen: read nothing and move no capability; look again soon.
    Wait,
}

/// Counters of the checkpoints a run took, for the summary and the metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Checkpoints completed.
    pub taken: u64,
    /// Bytes of the last one (all parts).
    pub last_bytes: u64,
    /// Bytes of the largest one.
    pub max_bytes: u64,
    /// Milliseconds from the pause to the manifest, last one.
    pub last_ms: u64,
    /// The longest one, milliseconds.
    pub max_ms: u64,
    /// Sequence number of the last one.
    pub last_seq: Option<u64>,
    /// Errors writing a checkpoint (the run goes on; the previous checkpoint stays the latest).
    pub failed: u64,
}

struct Inner {
    store: Store,
    next_seq: u64,
    last: Instant,
    pausing: bool,
    started: Option<Instant>,
    /// Per registered source: the latest time it had sent at when it paused (`None`: not yet).
    reports: Vec<Option<u64>>,
    /// Finished sources, with the latest time each had sent at (every later cut comes after).
    finished_sources: BTreeMap<usize, u64>,
    /// Registered operators per worker.
    expected: Vec<BTreeSet<String>>,
    /// States delivered for the cut in progress, per worker.
    parts: Vec<BTreeMap<String, Vec<u8>>>,
    /// States of operators that have finished, per worker.
    standing: Vec<BTreeMap<String, Vec<u8>>>,
    /// The thread writing the latest checkpoint.
    writer: Option<std::thread::JoinHandle<()>>,
    /// A source has asked to read.
    reading: bool,
    /// The checkpoint of the end states was written.
    finished_written: bool,
    /// The number of the checkpoint the sources are pausing for.
    pause_seq: u64,
    /// This process's sources have all paused and said so to the others (several processes).
    paused_sent: bool,
    /// Per checkpoint number, the processes whose sources have all paused, with the latest
    /// time they sent at.
    paused: BTreeMap<u64, BTreeMap<u32, u64>>,
    /// Processes whose sources have all finished (this one included).
    finished_processes: BTreeSet<u32>,
    /// Messages for the other processes, in order.
    outbox: Vec<CutMsg>,
}

/// What the writing thread reports back.
#[derive(Default)]
struct Written {
    stats: CheckpointStats,
    /// A checkpoint is being written: no new cut starts until it is on disk.
    writing: bool,
}

/// The process's checkpoint coordinator; every worker's operators hold an `Arc` of it.
pub struct Coordinator {
    interval: Duration,
    workers: usize,
    processes: Processes,
    rules: RunRules,
    cut_at: AtomicU64,
    cut_seq: AtomicU64,
    inner: Mutex<Inner>,
    /// The restored states not yet taken by their operators, per worker (per old worker when
    /// rescaling).
    restored_parts: Mutex<Vec<PartMap>>,
    shared: Arc<Mutex<Written>>,
    /// Set once the run is stopping: no cut is completed any more.
    abandoned: std::sync::atomic::AtomicBool,
    /// Whether the restored state is divided by key anew: taken with another number of
    /// workers, or with other rules (whose correlations then have other places in the plan).
    rekeyed: bool,
    /// The checkpoint's rules, when they differ from this run's.
    restored_rules: Option<RestoredRules>,
    /// Per new worker, the operators that have taken their restored state (rekeying only).
    taken_by: Mutex<Vec<BTreeSet<String>>>,
}

/// The state of one operator as the checkpoint holds it, per worker part.
type PartMap = BTreeMap<String, Vec<u8>>;

impl Coordinator {
    /// A coordinator writing to `store` every `interval` for `workers` workers, resuming from
    /// `restored` when given. A checkpoint taken with another number of workers, or with other
    /// rules, is restored by key ([`OperatorCut::restored_all`]). With several `processes`,
    /// cuts are chosen together with the other processes' coordinators (see
    /// [`Coordinator::outbox`] and [`Coordinator::receive`]).
    pub fn new(
        store: Store,
        interval: Duration,
        workers: usize,
        rules: RunRules,
        restored: Option<Loaded>,
        processes: Processes,
    ) -> Result<Arc<Self>, CheckpointError> {
        let next_seq = match processes.next_seq {
            Some(n) => n,
            None => store.next_seq()?,
        };
        let mut rescaled_from = None;
        let mut restored_rules = None;
        if let Some(loaded) = &restored {
            let taken = loaded.manifest.workers as usize;
            if taken != workers {
                if taken == 0 {
                    return Err(CheckpointError::Invalid { path: loaded.dir.clone(), reason: "taken with 0 workers".into() });
                }
                rescaled_from = Some(taken);
            }
            if rule_changes(&loaded.manifest.rules, &rules.stamps).is_some() {
                restored_rules = Some(RestoredRules {
                    correlations: loaded.manifest.correlations.clone(),
                    unchanged: unchanged_rules(&loaded.manifest.rules, &rules.stamps),
                });
            }
        }
        let rekeyed = rescaled_from.is_some() || restored_rules.is_some();
        let mut restored_parts = vec![PartMap::new(); rescaled_from.unwrap_or(workers).max(workers)];
        for (name, payload) in restored.map(Loaded::into_parts).unwrap_or_default() {
            if let Some((w, op)) = split_part_name(&name) {
                if let Some(slot) = restored_parts.get_mut(w) {
                    slot.insert(op.to_owned(), payload);
                }
            }
        }
        if let Some(taken) = rescaled_from {
            tracing::info!("the checkpoint was taken with {taken} workers; its state is divided among {workers} by key");
        }
        Ok(Arc::new(Coordinator {
            interval,
            workers,
            processes,
            rules,
            cut_at: AtomicU64::new(NONE),
            cut_seq: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                store,
                next_seq,
                last: Instant::now(),
                pausing: false,
                started: None,
                reports: Vec::new(),
                finished_sources: BTreeMap::new(),
                expected: vec![BTreeSet::new(); workers],
                parts: vec![PartMap::new(); workers],
                standing: vec![PartMap::new(); workers],
                writer: None,
                reading: false,
                finished_written: false,
                pause_seq: 0,
                paused_sent: false,
                paused: BTreeMap::new(),
                finished_processes: BTreeSet::new(),
                outbox: Vec::new(),
            }),
            shared: Arc::default(),
            abandoned: std::sync::atomic::AtomicBool::new(false),
            restored_parts: Mutex::new(restored_parts),
            rekeyed,
            restored_rules,
            taken_by: Mutex::new(vec![BTreeSet::new(); workers]),
        }))
    }

    /// Where this process sits among the run's processes.
    pub fn processes(&self) -> Processes {
        self.processes
    }

    /// The restored checkpoint's rules, when they differ from this run's.
    pub fn restored_rules(&self) -> Option<&RestoredRules> {
        self.restored_rules.as_ref()
    }

    fn written(&self) -> MutexGuard<'_, Written> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A worker that panicked while holding the lock leaves the run failing anyway; the
        // counters inside stay usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The checkpoints taken so far.
    pub fn stats(&self) -> CheckpointStats {
        self.written().stats.clone()
    }

    /// Registers a stateful operator of `worker`; its name must be the same on every run of the
    /// same topology (it keys the operator's state in the checkpoint).
    pub fn register(self: &Arc<Self>, worker: usize, name: String) -> OperatorCut {
        self.lock().expected[worker % self.workers].insert(name.clone());
        OperatorCut { coord: self.clone(), worker: worker % self.workers, name, done: None }
    }

    /// Registers a source (it takes part in pausing); returns its id for [`Coordinator::gate`].
    pub fn register_source(&self) -> usize {
        let mut inner = self.lock();
        inner.reports.push(None);
        inner.reports.len() - 1
    }

    /// The cut in progress, if any.
    pub fn cut(&self) -> Option<Cut> {
        let at = self.cut_at.load(SeqCst);
        (at != NONE).then(|| Cut { seq: self.cut_seq.load(SeqCst), at })
    }

    /// Asked by source `id` at the start of each activation, with the latest time it has sent
    /// at so far. Source 0 (of process 0) starts a cut when the interval has passed.
    pub fn gate(&self, id: usize, latest_sent: u64) -> Gate {
        if self.cut_at.load(SeqCst) != NONE {
            return Gate::Read;
        }
        let mut inner = self.lock();
        if !inner.reading {
            // The interval counts from the first read, not from start-up.
            inner.reading = true;
            inner.last = Instant::now();
        }
        if !inner.pausing {
            let due = id == 0 && self.processes.index == 0 && inner.last.elapsed() >= self.interval;
            if !due || self.written().writing || self.abandoned.load(SeqCst) {
                return Gate::Read;
            }
            let seq = inner.next_seq;
            if self.processes.count > 1 {
                inner.outbox.push(CutMsg::Pause { seq });
            }
            self.start_pause(&mut inner, seq);
        }
        if let Some(r) = inner.reports.get_mut(id) {
            if r.is_none() {
                *r = Some(latest_sent);
            }
        }
        self.try_cut(&mut inner);
        if self.cut_at.load(SeqCst) != NONE {
            Gate::Read
        } else {
            Gate::Wait
        }
    }

    /// Every source is to pause for checkpoint `seq` (finished ones have nothing to report).
    fn start_pause(&self, inner: &mut Inner, seq: u64) {
        inner.pausing = true;
        inner.pause_seq = seq;
        inner.paused_sent = false;
        inner.started = Some(Instant::now());
        let finished = inner.finished_sources.clone();
        for (i, r) in inner.reports.iter_mut().enumerate() {
            *r = finished.get(&i).copied();
        }
    }

    /// Chooses the cut once every source has paused (with several processes: every source of
    /// every process, the latest time the same on all of them, so is the cut).
    fn try_cut(&self, inner: &mut Inner) {
        if !inner.pausing || self.cut_at.load(SeqCst) != NONE || !inner.reports.iter().all(Option::is_some) {
            return;
        }
        let local = inner.reports.iter().flatten().max().copied().unwrap_or(0);
        let seq = inner.pause_seq;
        let latest = if self.processes.count > 1 {
            if !inner.paused_sent {
                inner.paused_sent = true;
                let process = self.processes.index as u32;
                inner.outbox.push(CutMsg::Paused { seq, process, latest: local });
                inner.paused.entry(seq).or_default().insert(process, local);
            }
            match inner.paused.get(&seq) {
                Some(all) if all.len() >= self.processes.count => all.values().max().copied().unwrap_or(0),
                _ => return,
            }
        } else {
            local
        };
        let at = latest.saturating_add(1);
        inner.next_seq = seq + 1;
        inner.pausing = false;
        inner.paused.retain(|s, _| *s > seq);
        self.cut_seq.store(seq, SeqCst);
        self.cut_at.store(at, SeqCst);
        tracing::debug!(seq, at, "checkpoint cut chosen");
        // A process whose operators have all finished has nothing more to deliver.
        self.complete_if_all_in(inner, Cut { seq, at });
    }

    /// Messages for the other processes' coordinators, in order (several processes).
    pub fn outbox(&self) -> Vec<CutMsg> {
        std::mem::take(&mut self.lock().outbox)
    }

    /// A message from another process's coordinator.
    pub fn receive(&self, msg: CutMsg) {
        let mut inner = self.lock();
        match msg {
            CutMsg::Pause { seq } => self.start_pause(&mut inner, seq),
            CutMsg::Paused { seq, process, latest } => {
                inner.paused.entry(seq).or_default().insert(process, latest);
            }
            CutMsg::Finished { process } => {
                inner.finished_processes.insert(process);
            }
        }
        self.try_cut(&mut inner);
        self.write_end_states(&mut inner);
    }

    /// This process has nothing more to say to the others: the end states are written (every
    /// process finished), or the run is stopping early.
    pub fn bridge_done(&self) -> bool {
        let inner = self.lock();
        inner.outbox.is_empty() && (inner.finished_written || self.abandoned.load(SeqCst))
    }

    /// The run is stopping early (interrupted, or an error): its state from now on is not
    /// that of a run that read its inputs, so no cut is completed any more and the newest
    /// checkpoint stays the latest.
    pub fn abandon(&self) {
        if !self.abandoned.swap(true, SeqCst) {
            tracing::debug!("checkpoints abandoned: the run is stopping early");
        }
    }

    /// Source `id` has finished: it sends nothing any more and never pauses; `latest` is the
    /// latest time it sent at. Every later cut is after it: records it sent may still be on
    /// their way when a cut is chosen, and an operator sets aside what comes at or after a cut
    /// (the source, restored as finished, would never send them again).
    pub fn source_finished(&self, id: usize, latest: u64) {
        let mut inner = self.lock();
        inner.finished_sources.insert(id, latest);
        if inner.pausing {
            if let Some(r) = inner.reports.get_mut(id) {
                r.get_or_insert(latest);
            }
            self.try_cut(&mut inner);
        }
        self.write_end_states(&mut inner);
    }

    fn deliver(&self, worker: usize, name: &str, cut: Cut, state: Vec<u8>) {
        let mut inner = self.lock();
        if self.cut() != Some(cut) {
            return;
        }
        inner.parts[worker].insert(name.to_owned(), state);
        self.complete_if_all_in(&mut inner, cut);
    }

    fn finish(&self, worker: usize, name: &str, state: Vec<u8>) {
        let mut inner = self.lock();
        inner.standing[worker].insert(name.to_owned(), state);
        match self.cut() {
            Some(cut) => self.complete_if_all_in(&mut inner, cut),
            None => self.write_end_states(&mut inner),
        }
    }

    /// Every source and operator of this process has finished (every worker has registered
    /// its operators by then: each has a source).
    fn locally_finished(&self, inner: &Inner) -> bool {
        inner.finished_sources.len() == inner.reports.len()
            && (0..self.workers).all(|w| !inner.expected[w].is_empty() && inner.expected[w].iter().all(|n| inner.standing[w].contains_key(n)))
    }

    /// Once everything has finished (on every process, and no cut under way): a last
    /// checkpoint of the end states, so a run started again with the same state directory
    /// checks its inputs and writes nothing more.
    fn write_end_states(&self, inner: &mut Inner) {
        if inner.finished_written || !self.locally_finished(inner) {
            return;
        }
        let process = self.processes.index as u32;
        if inner.finished_processes.insert(process) && self.processes.count > 1 {
            inner.outbox.push(CutMsg::Finished { process });
        }
        let everywhere = inner.finished_processes.len() >= self.processes.count;
        if everywhere && !inner.pausing && self.cut().is_none() && !self.abandoned.load(SeqCst) {
            inner.finished_written = true;
            if let Some(previous) = inner.writer.take() {
                // One writer at a time: the older one's clean-up must not meet this one.
                let _ = previous.join();
            }
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.started = Some(Instant::now());
            self.complete(inner, Cut { seq, at: FINISHED });
        }
    }

    /// Completes `cut` if every operator has delivered its state or stands finished.
    fn complete_if_all_in(&self, inner: &mut Inner, cut: Cut) {
        let complete = (0..self.workers)
            .all(|w| !inner.expected[w].is_empty() && inner.expected[w].iter().all(|n| inner.parts[w].contains_key(n) || inner.standing[w].contains_key(n)));
        if complete {
            self.complete(inner, cut);
        }
    }

    fn complete(&self, inner: &mut Inner, cut: Cut) {
        if self.abandoned.load(SeqCst) {
            inner.parts.iter_mut().for_each(BTreeMap::clear);
            return;
        }
        // Encoding and writing happen on a thread of their own: the workers go on at once, and
        // the next cut waits until this one is on disk (see `gate`).
        let mut parts = Vec::with_capacity(self.workers);
        for w in 0..self.workers {
            let mut all = inner.standing[w].clone();
            all.append(&mut inner.parts[w]);
            parts.push(all);
        }
        self.written().writing = true;
        let job = WriteJob {
            store: inner.store.clone(),
            cut,
            workers: self.workers,
            rules: self.rules.clone(),
            processes: self.processes.count,
            started: inner.started.take(),
            stats: self.shared.clone(),
        };
        let handle = std::thread::Builder::new().name("vigil-checkpoint".into()).spawn(move || job.run(parts));
        match handle {
            Ok(h) => {
                if let Some(previous) = inner.writer.replace(h) {
                    // Finished already: `writing` was false when this cut started.
                    let _ = previous.join();
                }
            }
            Err(e) => {
                let mut w = self.written();
                w.writing = false;
                w.stats.failed += 1;
                tracing::error!("checkpoint {} not written: cannot start its writer: {e}", cut.seq);
            }
        }
        inner.last = Instant::now();
        // Published last: operators that see no cut may start the next interval's work.
        self.cut_at.store(NONE, SeqCst);
        if cut.at != FINISHED {
            // Another process may have started the next pause while this one was still cutting.
            self.try_cut(inner);
            self.write_end_states(inner);
        }
    }

    /// Waits for the checkpoint being written, if any (at the end of a run).
    pub fn wait(&self) {
        let handle = self.lock().writer.take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// One checkpoint to encode and write, off the workers' threads.
struct WriteJob {
    store: Store,
    cut: Cut,
    workers: usize,
    rules: RunRules,
    processes: usize,
    started: Option<Instant>,
    stats: Arc<Mutex<Written>>,
}

impl WriteJob {
    fn run(self, parts: Vec<PartMap>) {
        let result = self.write(parts);
        let ms = self.started.map_or(0, |s| s.elapsed().as_millis() as u64);
        let mut written = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        written.writing = false;
        let s = &mut written.stats;
        match result {
            Ok(bytes) => {
                s.taken += 1;
                s.last_bytes = bytes;
                s.max_bytes = s.max_bytes.max(bytes);
                s.last_ms = ms;
                s.max_ms = s.max_ms.max(ms);
                s.last_seq = Some(self.cut.seq);
                tracing::debug!(seq = self.cut.seq, bytes, ms, "checkpoint written");
            }
            Err(e) => {
                s.failed += 1;
                self.store.discard(self.cut.seq);
                tracing::error!("checkpoint {} not written: {e}; the previous one stays the latest", self.cut.seq);
            }
        }
    }

    fn write(&self, parts: Vec<PartMap>) -> Result<u64, CheckpointError> {
        // Refused before anything is written: a checkpoint over the bound would only be removed.
        let total: u64 = parts.iter().flat_map(|p| p.values()).map(|state| state.len() as u64).sum();
        if total > self.store.max_total_bytes() {
            return Err(CheckpointError::TooLarge { what: format!("checkpoint {}", self.cut.seq), bytes: total, limit: self.store.max_total_bytes() });
        }
        let mut infos = Vec::with_capacity(self.workers);
        for (w, states) in parts.into_iter().enumerate() {
            for (op, state) in states {
                infos.push(self.store.write_part(self.cut.seq, &part_name(w, &op), &state)?);
            }
        }
        let bytes = infos.iter().map(|p| p.len).sum();
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            seq: self.cut.seq,
            cut: self.cut.at,
            workers: self.workers as u32,
            processes: self.processes as u32,
            created_unix_ms: crate::event::time::now_ms(),
            rules: self.rules.stamps.clone(),
            correlations: self.rules.correlations.clone(),
            parts: infos,
        };
        self.store.commit(&manifest)?;
        Ok(bytes)
    }
}

/// The name of the part holding operator `op` of worker `w`.
fn part_name(w: usize, op: &str) -> String {
    format!("worker-{w}.{op}")
}

/// The worker and operator of a part's name.
fn split_part_name(name: &str) -> Option<(usize, &str)> {
    let (w, op) = name.strip_prefix("worker-")?.split_once('.')?;
    Some((w.parse().ok()?, op))
}

/// The operators' states in a loaded checkpoint: (worker, operator, bytes), for inspection.
pub fn operator_states(loaded: &Loaded) -> Vec<(usize, String, usize)> {
    loaded.parts().filter_map(|(name, payload)| split_part_name(name).map(|(w, op)| (w, op.to_owned(), payload.len()))).collect()
}

/// One operator's side of the checkpoints.
pub struct OperatorCut {
    coord: Arc<Coordinator>,
    worker: usize,
    name: String,
    done: Option<u64>,
}

impl OperatorCut {
    /// The cut this operator has still to deliver its state for.
    pub fn pending(&self) -> Option<Cut> {
        self.coord.cut().filter(|c| self.done != Some(c.seq))
    }

    /// The state this operator had in the checkpoint the run resumed from (taken once: the
    /// coordinator keeps no copy). When the checkpoint was taken with another number of
    /// workers, the state of the old worker with this worker's index: right for the per-process
    /// writers (they run on the first worker), while keyed operators use
    /// [`OperatorCut::restored_all`].
    pub fn restored(&self) -> Option<Vec<u8>> {
        let mut parts = self.coord.restored_parts.lock().unwrap_or_else(|p| p.into_inner());
        if self.coord.rekeyed {
            let mut taken = self.coord.taken_by.lock().unwrap_or_else(|p| p.into_inner());
            if !taken.get_mut(self.worker).is_some_and(|t| t.insert(self.name.clone())) {
                return None;
            }
            return parts.get(self.worker).and_then(|p| p.get(&self.name)).cloned();
        }
        parts.get_mut(self.worker).and_then(|p| p.remove(&self.name))
    }

    /// When the checkpoint's state is divided by key anew (taken with another number of
    /// workers, or with other rules): the states of this operator's family (the operators whose
    /// names share the part before the first `-`, e.g. every `exchange-*`) on every old worker,
    /// as (old worker, state), for it to keep what it now owns. `None` otherwise (use
    /// [`OperatorCut::restored`]). Taken once per worker.
    pub fn restored_all(&self) -> Option<Vec<(usize, Vec<u8>)>> {
        if !self.coord.rekeyed {
            return None;
        }
        let family = self.name.split('-').next().unwrap_or_default();
        let parts = self.coord.restored_parts.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = self.coord.taken_by.lock().unwrap_or_else(|p| p.into_inner());
        if !taken.get_mut(self.worker).is_some_and(|t| t.insert(self.name.clone())) {
            return Some(Vec::new());
        }
        let mine = |name: &str| name.split('-').next() == Some(family);
        Some(parts.iter().enumerate().flat_map(|(w, p)| p.iter().filter(|(name, _)| mine(name)).map(move |(_, b)| (w, b.clone()))).collect())
    }

    /// Delivers the state as of `cut`.
    pub fn deliver(&mut self, cut: Cut, state: Vec<u8>) {
        self.done = Some(cut.seq);
        self.coord.deliver(self.worker, &self.name, cut, state);
    }

    /// The operator has finished: `state` stands for every later cut.
    pub fn finish(&mut self, state: Vec<u8>) {
        self.coord.finish(self.worker, &self.name, state);
    }

    /// The operator's name in the checkpoint.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::StoreLimits;

    #[test]
    fn processes_pause_together_and_cut_at_the_same_time() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let coords: Vec<Arc<Coordinator>> = (0..2)
            .map(|p| {
                let store = Store::open(dirs[p].path(), StoreLimits::default()).unwrap();
                Coordinator::new(store, Duration::ZERO, 1, RunRules::default(), None, Processes { index: p, count: 2, next_seq: Some(7) }).unwrap()
            })
            .collect();
        let sources: Vec<usize> = coords.iter().map(|c| c.register_source()).collect();
        let mut ops: Vec<OperatorCut> = coords.iter().map(|c| c.register(0, "op".into())).collect();
        let carry = |from: usize| {
            for m in coords[from].outbox() {
                coords[1 - from].receive(m);
            }
        };
        assert_eq!(coords[1].gate(sources[1], 500), Gate::Read, "only process 0 starts a cut");
        assert_eq!(coords[0].gate(sources[0], 10), Gate::Wait);
        carry(0);
        assert_eq!(coords[1].gate(sources[1], 900), Gate::Read, "both processes have paused");
        assert_eq!(coords[0].gate(sources[0], 10), Gate::Wait, "process 1's answer is still on its way");
        carry(1);
        assert_eq!(coords[0].gate(sources[0], 10), Gate::Read);
        let cuts: Vec<Cut> = coords.iter().map(|c| c.cut().unwrap()).collect();
        assert_eq!(cuts[0], Cut { seq: 7, at: 901 }, "one past the latest time of any process");
        assert_eq!(cuts[0], cuts[1]);
        for (op, cut) in ops.iter_mut().zip(&cuts) {
            op.deliver(*cut, b"S".to_vec());
        }
        // Process 1 finishes first: its end states wait until process 0 has finished too.
        coords[1].source_finished(sources[1], 900);
        ops[1].finish(b"E".to_vec());
        carry(1);
        assert!(!coords[1].bridge_done(), "process 1 waits for process 0 to finish");
        coords[0].source_finished(sources[0], 10);
        ops[0].finish(b"E".to_vec());
        assert!(!coords[0].bridge_done(), "its own end is still to be said");
        carry(0);
        assert!(coords.iter().all(|c| c.bridge_done()), "everything finished everywhere: the end states are written");
        for c in &coords {
            c.wait();
            assert_eq!(c.stats().taken, 2);
            assert_eq!(c.stats().last_seq, Some(8), "the end states take the same number everywhere");
        }
    }

    #[test]
    fn a_cut_is_after_everything_sent_and_completes_with_the_last_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreLimits::default()).unwrap();
        let coord = Coordinator::new(store, Duration::ZERO, 2, RunRules::default(), None, Processes::ONE).unwrap();
        let (s0, s1) = (coord.register_source(), coord.register_source());
        let mut a = coord.register(0, "a".into());
        let mut b = coord.register(1, "b".into());
        assert_eq!(coord.gate(s1, 50), Gate::Read, "only source 0 starts a cut");
        assert_eq!(coord.gate(s0, 10), Gate::Wait);
        assert_eq!(coord.gate(s0, 10), Gate::Wait, "waits for the other source");
        assert_eq!(coord.gate(s1, 70), Gate::Read);
        let cut = coord.cut().unwrap();
        assert_eq!(cut.at, 71, "one past the latest time any source has sent at");
        assert_eq!(a.pending(), Some(cut));
        a.deliver(cut, b"A".to_vec());
        assert_eq!(a.pending(), None);
        assert!(coord.cut().is_some(), "not complete before every operator delivered");
        b.finish(b"B".to_vec());
        assert!(coord.cut().is_none());
        coord.wait();
        assert_eq!(coord.stats().taken, 1);

        let store = Store::open(dir.path(), StoreLimits::default()).unwrap();
        let (loaded, rejected) = store.latest().unwrap();
        assert!(rejected.is_empty());
        let coord = Coordinator::new(store, Duration::from_secs(3600), 2, RunRules::default(), loaded, Processes::ONE).unwrap();
        assert_eq!(coord.register(0, "a".into()).restored().as_deref(), Some(&b"A"[..]));
        assert_eq!(coord.register(1, "b".into()).restored().as_deref(), Some(&b"B"[..]), "a standing state is in every later cut");
        assert_eq!(coord.register(1, "c".into()).restored(), None);
    }

    #[test]
    fn finished_sources_never_hold_a_cut_back_and_it_comes_after_their_last_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreLimits::default()).unwrap();
        let coord = Coordinator::new(store, Duration::ZERO, 1, RunRules::default(), None, Processes::ONE).unwrap();
        let (s0, s1) = (coord.register_source(), coord.register_source());
        // Source 1 finished having sent at 40 (its last records may still be on their way):
        // the cut is after them, though source 0 is only at 5.
        coord.source_finished(s1, 40);
        assert_eq!(coord.gate(s0, 5), Gate::Read, "a finished source does not hold the cut back");
        assert_eq!(coord.cut().map(|c| c.at), Some(41));
    }
}
