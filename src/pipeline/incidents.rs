//! Incident writing: one ordered writer per process. Incidents of every stage meet on the
//! process's first worker, wait until the frontier passes their time, go through their rule's
//! suppressor (`x-vigil: suppress`) and the learning cut-off (learn, then watch), and are written
//! in (time, id) order, duplicates dropped, to a file or a Kafka topic. The stream it returns
//! carries nothing: its frontier tells the Kafka source what has been delivered.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::frontier::hold_undelivered;
use super::plan::{Learn, Plan, StateLimits};
use super::stats::EngineStats;
use super::watermark::to_timely;
use crate::checkpoint::OperatorCut;
use crate::event::{Event, Origin, Timed};
use crate::incident::ecs::write_incident;
use crate::incident::suppress::SuppressConfig;
use crate::incident::{repeat_id, Incident, Suppressor};
use crate::io::sink::{RecordSink, SinkMark};
use crate::metrics::RunStats;

impl Timed for Incident {
    fn ts(&self) -> i64 {
        self.timestamp_ms
    }
    fn order_key(&self) -> (i64, Origin) {
        (self.timestamp_ms, Origin::default())
    }
}

/// Where and how a process writes its incidents.
pub struct Writer {
    /// The sink (file or Kafka topic).
    pub sink: RecordSink,
    /// The run's I/O counters (written, fatal errors).
    pub run_stats: Arc<RunStats>,
    /// The pipeline's counters (incidents per rule, cut-off, delivery errors).
    pub stats: Arc<EngineStats>,
    /// Set to stop the run (a sink failed).
    pub cancel: Arc<AtomicBool>,
    /// Set on a graceful stop: what is still open is dropped, and recomputed after the restart.
    pub discard: Arc<AtomicBool>,
    /// The previous run's delivered frontier: incidents before it are not written again.
    pub delivered_before: Option<i64>,
    /// How far the previous run had read each partition then (by global index).
    pub read_before: Arc<[Option<i64>]>,
    /// The worker that writes for this process.
    pub leader: u64,
    /// Whether this worker is it.
    pub is_leader: bool,
    /// The writer's part of the process's checkpoints (taken on the leader only).
    pub checkpoint: Option<OperatorCut>,
}

/// What the writer keeps between activations; all of it but the sink goes into a checkpoint.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Kept {
    /// Incidents waiting for the frontier to pass their time.
    pending: Vec<Incident>,
    /// The suppressors of the rules with `x-vigil: suppress`, by rule id.
    suppressors: HashMap<String, Suppressor>,
    /// The last write's (time, id as computed), its bytes, and how many repeats of it followed.
    last_written: Option<((i64, String), Vec<u8>, u32)>,
    /// Where the output stood when the state was saved (set only in checkpoints).
    mark: SinkMark,
    /// The learning cut-off marks received so far (see [`Learn`]).
    marks_seen: Vec<i64>,
    /// The learning cut-off once every worker's mark is in (`None` until then).
    cutoff: Option<Option<i64>>,
}

/// The writer's state and what it writes with.
struct Core {
    kept: Kept,
    line: Vec<u8>,
    out: RecordSink,
    wstats: Arc<RunStats>,
    rstats: Arc<EngineStats>,
    cancel: Arc<AtomicBool>,
    suppress: Arc<HashMap<String, i64>>,
    evidence_cap: usize,
    delivered_before: Option<i64>,
    read_before: Arc<[Option<i64>]>,
}

impl Core {
    /// Writes, in (time, id) order, every pending incident and suppressed merge whose time
    /// `bound` has passed (everything when `bound` is `None`).
    fn write_before(&mut self, bound: Option<u64>) {
        if !self.out.open(&self.wstats, &self.cancel) {
            return;
        }
        let kept = &mut self.kept;
        let mut keep = Vec::new();
        let mut ready: Vec<(i64, Incident)> = Vec::new();
        for inc in kept.pending.drain(..) {
            if let Some(&cooldown) = self.suppress.get(&inc.rule.id) {
                let sup = match kept.suppressors.entry(inc.rule.id.clone()) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => {
                        match Suppressor::new(SuppressConfig { cooldown_ms: Some(cooldown), evidence_cap: self.evidence_cap, ..Default::default() }) {
                            Ok(s) => e.insert(s),
                            Err(err) => {
                                // Checked when the rules loaded; should it fail here, the run
                                // stops rather than write the rule's incidents unsuppressed.
                                self.wstats.fatal(|| format!("{}: x-vigil suppress: {err}", inc.rule.title));
                                self.cancel.store(true, Relaxed);
                                continue;
                            }
                        }
                    }
                };
                sup.offer(inc);
            } else if bound.is_none_or(|f| to_timely(inc.timestamp_ms) < f) {
                ready.push((inc.timestamp_ms, inc));
            } else {
                keep.push(inc);
            }
        }
        kept.pending = keep;
        let mut emitted = Vec::new();
        for (rule, sup) in kept.suppressors.iter_mut() {
            emitted.clear();
            match bound {
                Some(f) => sup.advance(f as i64, &mut emitted),
                None => sup.finish(&mut emitted),
            }
            let cooldown = self.suppress.get(rule).copied().unwrap_or(0);
            ready.extend(emitted.drain(..).map(|inc| (inc.timestamp_ms.saturating_add(cooldown), inc)));
        }
        ready.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        // After a restart, what the re-read gives before the previous run's delivered
        // frontier was delivered then (and may differ for chains that ended there),
        // unless it holds a record that run had not read.
        let (delivered_before, read_before) = (self.delivered_before, &self.read_before);
        let ready =
            ready.into_iter().filter(|(t, inc)| delivered_before.is_none_or(|d| to_timely(*t) >= to_timely(d)) || has_unread_evidence(inc, read_before));
        let mut result = Ok(());
        let line = &mut self.line;
        for (time, mut inc) in ready {
            let key = (inc.timestamp_ms, inc.id.clone());
            line.clear();
            write_incident(&inc, line);
            let mut repeat = 0;
            if let Some((last_key, last_line, repeats)) = kept.last_written.as_mut().filter(|(k, _, _)| *k == key) {
                if last_line == line {
                    continue; // the same incident twice (a record delivered twice): written once
                }
                // Another alert of the group in the same millisecond: its own id.
                *repeats += 1;
                repeat = *repeats;
                last_line.clone_from(line);
                inc.id = repeat_id(&last_key.1, repeat);
                line.clear();
                write_incident(&inc, line);
            }
            result = result.and_then(|_| self.out.write(to_timely(time), inc.id.as_bytes(), &line[..line.len().saturating_sub(1)], &[]));
            if let Ok(mut per_rule) = self.rstats.incidents.lock() {
                *per_rule.entry(inc.rule.title.clone()).or_default() += 1;
            }
            self.wstats.written.fetch_add(1, Relaxed);
            if repeat == 0 {
                kept.last_written = Some((key, line.clone(), 0));
            }
        }
        if let Err(e) = result {
            self.out.fail(e, &self.wstats, &self.cancel);
        }
    }

    /// The state as a checkpoint holds it, the output synced to disk first.
    fn save(&mut self) -> Option<Vec<u8>> {
        match self.out.sync(&self.wstats, &self.cancel) {
            Ok(mark) => self.kept.mark = mark,
            Err(e) => {
                // Without a durable length the checkpoint could not resume the file.
                self.rstats.checkpoint_errors.fetch_add(1, Relaxed);
                tracing::error!("incident output not synced for a checkpoint: {e}");
                return None;
            }
        }
        match bincode::serialize(&self.kept) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.rstats.checkpoint_errors.fetch_add(1, Relaxed);
                tracing::error!("the incident writer's state not saved in the checkpoint: {e}");
                None
            }
        }
    }
}

/// The process's incident writer over `incidents`, with the learning cut-off `marks` (see
/// [`Learn`]).
pub fn write_incidents<'s>(
    incidents: Stream<'s, u64, Vec<Incident>>,
    marks: Stream<'s, u64, Vec<i64>>,
    plan: &Plan,
    limits: StateLimits,
    w: Writer,
) -> Stream<'s, u64, Vec<()>> {
    let (discard_incidents, leader, is_leader) = (w.discard, w.leader, w.is_leader);
    // Rules with `x-vigil: suppress` go through a suppressor each (merging repeats within the
    // cool-down); an incident it emits is ordered at its deadline (last merged time +
    // cool-down), so every write is in (key, id) order and the same for any run.
    let mut core = Core {
        kept: Kept::default(),
        line: Vec::with_capacity(4096),
        out: w.sink,
        wstats: w.run_stats,
        rstats: w.stats,
        cancel: w.cancel,
        suppress: Arc::new(plan.suppress.clone()),
        evidence_cap: limits.evidence_cap,
        delivered_before: w.delivered_before,
        read_before: w.read_before,
    };
    let mut checkpoint = w.checkpoint.filter(|_| is_leader);
    if let Some(bytes) = checkpoint.as_ref().and_then(OperatorCut::restored) {
        match bincode::deserialize::<Kept>(&bytes) {
            Ok(kept) => {
                if let Err(e) = core.out.resume_at(kept.mark.clone()) {
                    core.wstats.fatal(|| format!("cannot resume the incident output from the checkpoint: {e}"));
                    core.cancel.store(true, Relaxed);
                }
                core.kept = kept;
            }
            Err(e) => {
                // Resuming without it would write the file from scratch behind the sources'
                // restored positions: stop instead.
                core.wstats.fatal(|| format!("the incident writer's checkpointed state does not decode: {e}"));
                core.cancel.store(true, Relaxed);
            }
        }
    }
    let learn = plan.learn;
    // An operator rather than a sink, so a probe after it tells the Kafka source what has
    // been delivered: its frontier is what it has finished with (written and acknowledged).
    // Incidents at or after a cut in progress, set aside until the state before it is saved.
    let mut after_cut: Vec<Incident> = Vec::new();
    let mut finished = false;
    let scope = incidents.scope();
    incidents.binary_frontier::<_, timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _, _>(
        marks,
        Exchange::new(move |_: &Incident| leader),
        Pipeline,
        "WriteIncidents",
        move |cap, info| {
            // Held at the earliest time not yet delivered (nothing written waits for its
            // acknowledgement; the frontier waits instead), dropped once everything is.
            let mut held = is_leader.then_some(cap);
            let activator = scope.activator_for(info.address);
            move |(input, frontier), (marks_in, marks_frontier), _output| {
                let pending_cut = checkpoint.as_ref().and_then(OperatorCut::pending);
                input.for_each(|cap, data| match pending_cut {
                    Some(cut) if cap.least().is_some_and(|&t| t >= cut.at) => after_cut.append(data),
                    _ => core.kept.pending.append(data),
                });
                marks_in.for_each(|_cap, data| core.kept.marks_seen.append(data));
                if !is_leader {
                    return;
                }
                let bound = frontier.frontier().first().copied();
                'work: {
                    if discard_incidents.load(Relaxed) {
                        // A graceful stop: what is still open is recomputed after the restart.
                        core.kept.pending.clear();
                        core.kept.suppressors.clear();
                        after_cut.clear();
                        break 'work;
                    }
                    if core.kept.cutoff.is_none() && learn == Learn::Off {
                        // Nothing to learn: write as the frontier passes (a Kafka run never ends).
                        core.kept.cutoff = Some(None);
                    }
                    if core.kept.cutoff.is_none() {
                        // Incidents wait (unwritten) until the cut-off is known. Marks come at
                        // time 0, before any cut, and again from a restored mark operator that
                        // had sent its own: a minimum or maximum over them does not mind.
                        if !marks_frontier.frontier().is_empty() {
                            if let Some(cut) = pending_cut.filter(|c| bound.is_none_or(|f| f >= c.at)) {
                                // Checkpoints go on while learning: what waits is in the state.
                                if let (Some(op), Some(state)) = (checkpoint.as_mut(), core.save()) {
                                    op.deliver(cut, state);
                                }
                                core.kept.pending.append(&mut after_cut);
                            }
                            break 'work;
                        }
                        let seen = &core.kept.marks_seen;
                        let c = match learn {
                            Learn::Off => None,
                            Learn::Inputs(_) => seen.iter().max().copied(),
                            Learn::WarmUp(d) => seen.iter().min().map(|first| first.saturating_add(d)),
                        };
                        core.kept.cutoff = Some(c);
                    }
                    if let Some(Some(c)) = core.kept.cutoff {
                        core.rstats.cutoff_ms.store(c, Relaxed);
                        let pending = &mut core.kept.pending;
                        let before = pending.len();
                        pending.retain(|inc| inc.timestamp_ms > c);
                        core.rstats.before_cutoff.fetch_add((before - pending.len()) as u64, Relaxed);
                    }
                    if let Some(cut) = pending_cut.filter(|c| bound.is_none_or(|f| f >= c.at)) {
                        // Everything before the cut is in: write what is before it, save the
                        // state with the file's length, and go on with what was set aside.
                        core.write_before(Some(cut.at));
                        if let (Some(op), Some(state)) = (checkpoint.as_mut(), core.save()) {
                            op.deliver(cut, state);
                        }
                        core.kept.pending.append(&mut after_cut);
                    }
                    core.write_before(bound);
                }
                if bound.is_none() && !finished {
                    finished = true;
                    if let Some(op) = checkpoint.as_mut() {
                        if let Some(state) = core.save() {
                            op.finish(state);
                        }
                    }
                }
                let out = &mut core.out;
                let deliveries = out.progress(bound.is_none()).unwrap_or_else(|e| {
                    out.fail(e, &core.wstats, &core.cancel);
                    Default::default()
                });
                core.rstats.delivery_errors.store(out.delivery_errors(), Relaxed);
                core.rstats.already_delivered.store(out.already_delivered(), Relaxed);
                let waiting = core.kept.pending.iter().chain(&after_cut).map(|inc| to_timely(inc.timestamp_ms)).min();
                hold_undelivered(&mut held, [bound, deliveries.undelivered, waiting].into_iter().flatten().min(), &deliveries, &activator);
            }
        },
    )
}

/// Whether an incident holds evidence from a record the previous run had not read when its
/// delivered frontier was recorded (so the incident cannot have been delivered by it): an idle
/// partition that speaks again, or records produced while vigil was down, can lie behind that
/// frontier. A partition without a recorded position is judged by time alone.
fn has_unread_evidence(inc: &Incident, read_before: &[Option<i64>]) -> bool {
    inc.evidence
        .iter()
        .any(|e| read_before.get(e.origin.partition as usize).copied().flatten().is_some_and(|n| i64::try_from(e.origin.record).is_ok_and(|r| r >= n)))
}

/// The learning cut-off marks of one worker (see [`Learn`]): with `Learn::Inputs`, the latest
/// event time of the history inputs it read, once they are all read everywhere; with
/// `Learn::WarmUp`, its earliest event time, once its input frontier has passed it (no earlier
/// event can come). The operator holds its capability until then, so a writer knows the cut-off
/// once this stream's frontier is empty. With `checkpoint`, its mark so far and whether it was
/// sent are in the checkpoints; restored after sending, it sends the mark again (a writer takes
/// the minimum or maximum of what it gets, so twice is as once).
pub fn cutoff_marks<'s>(events: Stream<'s, u64, Vec<Event>>, learn: Learn, mut checkpoint: Option<OperatorCut>) -> Stream<'s, u64, Vec<i64>> {
    events.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<i64>>, _, _, _>(Pipeline, "LearnCutoff", move |cap, _info| {
        let mut held = (learn != Learn::Off).then_some(cap);
        let mut mark: Option<i64> = None;
        let mut resend = false;
        let decode = |bytes: &[u8]| match bincode::deserialize::<(Option<i64>, bool)>(bytes) {
            Ok(saved) => Some(saved),
            Err(e) => {
                tracing::error!("the learning cut-off's checkpointed mark does not decode ({e}); it is taken afresh");
                None
            }
        };
        match checkpoint.as_ref().map(|op| (op.restored_all(), op)) {
            Some((Some(all), _)) => {
                // Taken with another number of workers: every new worker starts from the marks
                // of all old ones (a minimum or maximum over more events is still the run's),
                // and sends at once only if every old worker had sent.
                let saved: Vec<(Option<i64>, bool)> = all.iter().filter_map(|(_, b)| decode(b)).collect();
                mark = saved.iter().filter_map(|(m, _)| *m).reduce(|a, b| if matches!(learn, Learn::WarmUp(_)) { a.min(b) } else { a.max(b) });
                resend = !saved.is_empty() && saved.iter().all(|(_, sent)| *sent);
            }
            Some((None, op)) => {
                if let Some((m, sent)) = op.restored().as_deref().and_then(decode) {
                    (mark, resend) = (m, sent);
                }
            }
            None => {}
        }
        let mut finished = false;
        move |(input, frontier), output| {
            input.for_each(|_cap, data: &mut Vec<Event>| {
                for ev in data.iter() {
                    mark = Some(match (learn, mark) {
                        (Learn::WarmUp(_), Some(m)) => m.min(ev.ts),
                        (_, Some(m)) => m.max(ev.ts),
                        (_, None) => ev.ts,
                    });
                }
            });
            let bound = frontier.frontier().first().copied();
            if let Some(op) = checkpoint.as_mut() {
                // Stateless but for the mark: every input before the cut is in it (later ones
                // too, which the restored run reads again: a minimum or maximum does not mind).
                if let Some(cut) = op.pending().filter(|c| bound.is_none_or(|f| f >= c.at)) {
                    op.deliver(cut, bincode::serialize(&(mark, held.is_none() || resend)).unwrap_or_default());
                }
                if bound.is_none() && !finished {
                    finished = true;
                    op.finish(bincode::serialize(&(mark, true)).unwrap_or_default());
                }
            }
            let Some(cap) = held.as_ref() else { return };
            let done = resend
                || match (learn, bound) {
                    (_, None) => true,
                    // A worker that has seen no event once every source has moved past time 0 has
                    // none to come before the frontier (a source leaves 0 only after its partitions
                    // showed events, which reach this worker before the frontier passes them).
                    (Learn::WarmUp(_), Some(f)) => mark.map_or(f > 0, |m| to_timely(m) < f),
                    _ => false,
                };
            if done {
                if let Some(m) = mark {
                    output.session(cap).give(m);
                }
                held = None;
            }
        }
    })
}
