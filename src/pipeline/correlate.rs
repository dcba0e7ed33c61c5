//! The correlate stage: one driver over the per-kind correlators of `crate::correlate`. Each
//! depth of a chain of correlations and each lateness class ([`super::lateness`]) is one stage;
//! it receives its projections in event-time
//! order on the worker that owns their group, feeds them to their correlation's state, and
//! turns alerts into incidents and, for correlations that feed deeper ones, into projections
//! for the next stage. Baseline correlations keep their entity tables here too (see
//! [`super::baseline`]); in a Kafka run the stage also tracks chains of windows for the
//! source's restart points (see [`super::chain`]).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::Stream;

use super::baseline::{BaselineState, JudgeState, PeerMsg};
use super::chain::{ChainReport, ChainTracker};
use super::frontier::{give, Held};
use super::lateness::Stage;
use super::plan::{Plan, PlannedCorrelation, StateLimits};
use super::project::{forward_alert, route_hash, Emitted, GroupKey, Measured, Projection};
use super::saved::{absorb_slots, dropped_by_rules, key_hash, restore_slots, save_slots, Checkpointed};
use super::stats::EngineStats;
use crate::checkpoint::OperatorCut;
use crate::correlate::absence::Absence;
use crate::correlate::aggregate::{Aggregate, ValueAggregate};
use crate::correlate::distinct::ValueCount;
use crate::correlate::ordered::TemporalOrdered;
use crate::correlate::persistence::{Input as PersistInput, Measure as PersistMeasure, Persistence};
use crate::correlate::temporal::Temporal;
use crate::correlate::threshold::EventCount;
use crate::correlate::{Alert, Correlator};
use crate::incident::{EvidenceEvent, Incident, Measure};
use crate::rules::correlation::CorrelationKind;
use crate::rules::RuleSet;

/// One correlation's state, whatever its kind.
enum State {
    Count(EventCount<GroupKey, EvidenceEvent>),
    Distinct(ValueCount<GroupKey, Box<[u8]>, EvidenceEvent>),
    Temporal(Temporal<GroupKey, EvidenceEvent>),
    Ordered(TemporalOrdered<GroupKey, EvidenceEvent>),
    Aggregate(ValueAggregate<GroupKey, EvidenceEvent>),
    Absence(Absence<GroupKey, EvidenceEvent>),
    Persist(Persistence<GroupKey, EvidenceEvent>),
    Baseline(Box<BaselineState>),
}

type Alerts = Vec<Alert<GroupKey, EvidenceEvent>>;

impl State {
    fn new(rules: &RuleSet, planned: &PlannedCorrelation, limits: StateLimits) -> Result<State, String> {
        let spec = &rules.correlation_specs[planned.index as usize];
        let (span, cond, keys, ev_cap) = (spec.timespan_ms, spec.condition, limits.key_cap, limits.evidence_cap);
        let n = spec.rules.len();
        if let Some(b) = &planned.baseline {
            return BaselineState::new(b).map(|s| State::Baseline(Box::new(s))).map_err(|e| format!("{}: {e}", planned.info.title));
        }
        if let Some(persist) = spec.extensions.persistence {
            let measure = match spec.kind {
                CorrelationKind::EventCount => PersistMeasure::Count,
                CorrelationKind::ValueCount => PersistMeasure::Distinct,
                CorrelationKind::Temporal => PersistMeasure::Rules,
                CorrelationKind::ValueSum => PersistMeasure::Sum,
                CorrelationKind::ValueAvg => PersistMeasure::Avg,
                other => return Err(format!("{}: persistence is not evaluated for {}", planned.info.title, other.as_str())),
            };
            let max_values = limits.max_values.max(cond.max_operand() as usize + 1);
            return Persistence::new(span, persist.windows, measure, cond, keys, max_values, ev_cap)
                .map(State::Persist)
                .map_err(|e| format!("{}: {e}", planned.info.title));
        }
        let state = match spec.kind {
            CorrelationKind::EventCount => EventCount::new(span, cond, keys, ev_cap).map(State::Count),
            CorrelationKind::ValueCount => {
                let max_values = limits.max_values.max(cond.max_operand() as usize + 1);
                ValueCount::new(span, cond, keys, max_values, ev_cap).map(State::Distinct)
            }
            CorrelationKind::Temporal => Temporal::new(span, n, Some(cond), keys, ev_cap).map(State::Temporal),
            CorrelationKind::TemporalOrdered => TemporalOrdered::new(span, n, keys, ev_cap).map(State::Ordered),
            CorrelationKind::ValueSum => ValueAggregate::new(span, Aggregate::Sum, cond, keys, limits.max_values, ev_cap).map(State::Aggregate),
            CorrelationKind::ValueAvg => ValueAggregate::new(span, Aggregate::Avg, cond, keys, limits.max_values, ev_cap).map(State::Aggregate),
            CorrelationKind::ValuePercentile => {
                let p = spec.percentile.unwrap_or(50.0);
                ValueAggregate::new(span, Aggregate::Percentile(p), cond, keys, limits.max_values, ev_cap).map(State::Aggregate)
            }
            CorrelationKind::Absence => Absence::new(span, keys, ev_cap).map(State::Absence),
            CorrelationKind::Baseline => return Err(format!("{}: a baseline correlation without its x-vigil.baseline block", planned.info.title)),
        };
        state.map_err(|e| format!("{}: {e}", planned.info.title))
    }

    fn observe(&mut self, p: Projection, out: &mut Alerts) {
        match (self, p.measured) {
            (State::Count(s), _) => s.observe(&p.key, p.ts, (), p.evidence, out),
            (State::Distinct(s), Measured::Value(v)) => s.observe(&p.key, p.ts, v, p.evidence, out),
            (State::Temporal(s), Measured::Rules(mask)) => s.observe(&p.key, p.ts, mask, p.evidence, out),
            (State::Ordered(s), Measured::Rules(mask)) => s.observe(&p.key, p.ts, mask, p.evidence, out),
            (State::Aggregate(s), Measured::Number(x)) => s.observe(&p.key, p.ts, x, p.evidence, out),
            (State::Absence(s), Measured::Rules(mask)) => s.observe(&p.key, p.ts, mask, p.evidence, out),
            (State::Persist(s), measured) => {
                let input = match measured {
                    Measured::Nothing => PersistInput::Event,
                    Measured::Rules(mask) => PersistInput::Rules(mask),
                    Measured::Value(v) => PersistInput::Value(v),
                    Measured::Number(x) => PersistInput::Number(x),
                    Measured::Baseline { .. } => return,
                };
                s.observe(&p.key, p.ts, input, p.evidence, out)
            }
            _ => {}
        }
    }

    fn advance(&mut self, watermark: i64, out: &mut Alerts) {
        match self {
            State::Count(s) => s.advance(watermark, out),
            State::Distinct(s) => s.advance(watermark, out),
            State::Temporal(s) => s.advance(watermark, out),
            State::Ordered(s) => s.advance(watermark, out),
            State::Aggregate(s) => s.advance(watermark, out),
            State::Absence(s) => s.advance(watermark, out),
            State::Persist(s) => s.advance(watermark, out),
            State::Baseline(_) => {}
        }
    }
}

impl Checkpointed for State {
    fn save(&self) -> Result<Vec<u8>, String> {
        let bytes = match self {
            State::Count(s) => bincode::serialize(s),
            State::Distinct(s) => bincode::serialize(s),
            State::Temporal(s) => bincode::serialize(s),
            State::Ordered(s) => bincode::serialize(s),
            State::Aggregate(s) => bincode::serialize(s),
            State::Absence(s) => bincode::serialize(s),
            State::Persist(s) => bincode::serialize(s),
            State::Baseline(b) => return b.save(),
        };
        bytes.map_err(|e| e.to_string())
    }

    fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        fn de<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
            bincode::deserialize(bytes).map_err(|e| e.to_string())
        }
        match self {
            State::Count(s) => *s = de(bytes)?,
            State::Distinct(s) => *s = de(bytes)?,
            State::Temporal(s) => *s = de(bytes)?,
            State::Ordered(s) => *s = de(bytes)?,
            State::Aggregate(s) => *s = de(bytes)?,
            State::Absence(s) => *s = de(bytes)?,
            State::Persist(s) => *s = de(bytes)?,
            State::Baseline(b) => b.load(bytes)?,
        }
        Ok(())
    }

    fn absorb(&mut self, bytes: &[u8], keep_hash: &dyn Fn(u64) -> bool, counters: bool) -> Result<(), String> {
        fn de<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
            bincode::deserialize(bytes).map_err(|e| e.to_string())
        }
        let keep = &|key: &GroupKey| keep_hash(key_hash(key));
        match self {
            State::Count(s) => s.absorb(de(bytes)?, keep, counters),
            State::Distinct(s) => s.absorb(de(bytes)?, keep, counters),
            State::Temporal(s) => s.absorb(de(bytes)?, keep, counters),
            State::Ordered(s) => s.absorb(de(bytes)?, keep, counters),
            State::Aggregate(s) => s.absorb(de(bytes)?, keep, counters),
            State::Absence(s) => s.absorb(de(bytes)?, keep, counters),
            State::Persist(s) => s.absorb(de(bytes)?, keep, counters),
            State::Baseline(b) => b.absorb(bytes, keep_hash, counters)?,
        }
        Ok(())
    }
}

impl State {
    fn keys(&self) -> usize {
        match self {
            State::Count(s) => s.keys(),
            State::Distinct(s) => s.keys(),
            State::Temporal(s) => s.keys(),
            State::Ordered(s) => s.keys(),
            State::Aggregate(s) => s.keys(),
            State::Absence(s) => s.keys(),
            State::Persist(s) => s.keys(),
            State::Baseline(s) => s.keys(),
        }
    }

    /// Estimated bytes of a correlation's state (baselines report theirs apart).
    fn state_bytes(&self) -> usize {
        match self {
            State::Count(s) => s.state_bytes(),
            State::Distinct(s) => s.state_bytes(),
            State::Temporal(s) => s.state_bytes(),
            State::Ordered(s) => s.state_bytes(),
            State::Aggregate(s) => s.state_bytes(),
            State::Absence(s) => s.state_bytes(),
            State::Persist(s) => s.state_bytes(),
            State::Baseline(_) => 0,
        }
    }

    fn evictions(&self) -> u64 {
        match self {
            State::Count(s) => s.stats().evictions,
            State::Distinct(s) => s.stats().evictions,
            State::Temporal(s) => s.stats().evictions,
            State::Ordered(s) => s.stats().evictions,
            State::Aggregate(s) => s.stats().evictions,
            State::Absence(s) => s.stats().evictions,
            State::Persist(s) => s.stats().evictions,
            State::Baseline(s) => s.stats().cap_evictions,
        }
    }
}

fn measure_of(kind: CorrelationKind, percentile: Option<f64>) -> Measure {
    match kind {
        CorrelationKind::ValueSum => Measure::Sum,
        CorrelationKind::ValueAvg => Measure::Avg,
        CorrelationKind::ValuePercentile => Measure::Percentile(percentile.unwrap_or(50.0)),
        _ => Measure::Count,
    }
}

/// Checks that every planned correlation's parameters are usable, before any worker starts.
pub fn validate(rules: &RuleSet, plan: &Plan, limits: StateLimits) -> Result<(), String> {
    for planned in &plan.correlations {
        State::new(rules, planned, limits)?;
        if let Some(b) = planned.baseline.as_ref().filter(|b| b.peer_group()) {
            JudgeState::new(b).map_err(|e| format!("{}: {e}", planned.info.title))?;
        }
    }
    Ok(())
}

/// The output streams of a correlate stage.
pub struct StageStreams<'s> {
    /// Incidents to write.
    pub incidents: Stream<'s, u64, Vec<Incident>>,
    /// Projections for deeper stages.
    pub forward: Stream<'s, u64, Vec<Projection>>,
    /// Baseline tables' traffic to their peer-group judges.
    pub peer: Stream<'s, u64, Vec<PeerMsg>>,
    /// Oldest live chains of windows (Kafka runs only).
    pub chains: Stream<'s, u64, Vec<ChainReport>>,
}

/// What a correlate stage keeps beside its correlations' state.
pub struct StageKeeping {
    /// The worker's index, in a Kafka run: track the chains of windows (see [`super::chain`]).
    pub track: Option<u32>,
    /// This operator's part of the process's checkpoints.
    pub checkpoint: Option<OperatorCut>,
    /// Restored from a checkpoint with other rules: the place in this plan of each of its
    /// correlations (`None`: changed or removed).
    pub remap: Option<Arc<Vec<Option<u32>>>>,
}

/// One correlate stage: evaluates the correlations of `stage` (one depth, one lateness class) over
/// in-order projections; passes projections for deeper correlations through; turns alerts into incidents and, for
/// correlations that feed deeper ones, into projections for the next stage. With `keeping.track`
/// it also tracks the chains of windows of its correlations and
/// reports the oldest live one whenever that changes (see [`super::chain`]).
pub fn correlate_stage<'s>(
    ordered: Stream<'s, u64, Vec<Projection>>,
    stage: Stage,
    plan: Arc<Plan>,
    rules: Arc<RuleSet>,
    limits: StateLimits,
    stats: Arc<EngineStats>,
    keeping: StageKeeping,
) -> StageStreams<'s> {
    let StageKeeping { track, mut checkpoint, remap } = keeping;
    let (index, peers) = (ordered.scope().index(), ordered.scope().peers());
    let mut builder = OperatorBuilder::new("Correlate".to_owned(), ordered.scope());
    let mut input = builder.new_input(ordered, Pipeline);
    let (inc_out, incidents) = builder.new_output::<Vec<Incident>>();
    let (fwd_out, forward) = builder.new_output::<Vec<Projection>>();
    let (peer_out, peer) = builder.new_output::<Vec<PeerMsg>>();
    let (chain_out, chains_stream) = builder.new_output::<Vec<ChainReport>>();
    let mut inc_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<Incident>>>::from(inc_out);
    let mut fwd_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<Projection>>>::from(fwd_out);
    let mut peer_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<PeerMsg>>>::from(peer_out);
    let mut chain_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<ChainReport>>>::from(chain_out);

    builder.build(move |initial| {
        let depth = stage.depth;
        let mut states: Vec<Option<State>> =
            plan.correlations.iter().enumerate().map(|(c, p)| if stage.evaluates(&plan, c) { State::new(&rules, p, limits).ok() } else { None }).collect();
        // Baselines are left out: their learned history is not re-read on restart anyway.
        let mut chains: Vec<Option<ChainTracker>> = states
            .iter()
            .enumerate()
            .map(|(c, st)| match st {
                Some(State::Baseline(_)) | None => None,
                Some(_) => track.map(|_| ChainTracker::new(plan.chain_gap_ms(&rules, c))),
            })
            .collect();
        let mut held = Held::default();
        let restored = match checkpoint.as_ref().map(|op| (op.restored_all(), op)) {
            Some((Some(all), _)) => {
                // Taken with another number of workers: every old worker's keys that route here.
                let (index, peers) = (index as u64, peers as u64);
                // Every stage on every worker sees every old part: one counts what is dropped.
                if let (Some(m), true) = (remap.as_deref(), index == 0 && stage.id == 0) {
                    let dropped: u64 = all.iter().map(|(_, b)| dropped_by_rules(b, m)).sum();
                    stats.dropped_states_of_changed_rules.fetch_add(dropped, Relaxed);
                }
                for (old, bytes) in &all {
                    let keep = |c: u32, hash: u64| route_hash(c, hash) % peers == index;
                    absorb_slots(bytes, &plan, remap.as_deref().map(Vec::as_slice), &mut states, &stats, "state", keep, *old as u64 % peers == index);
                }
                true
            }
            Some((None, op)) => op.restored().map(|bytes| restore_slots(&bytes, &plan, &mut states, &stats, "state")).is_some(),
            None => false,
        };
        if restored {
            // Restored windows close as the frontier moves, with or without new input.
            held = Held::initial(initial);
        }
        let mut last_report: Option<i64> = None;
        let mut alerts: Alerts = Vec::new();
        let mut evictions_seen = 0u64;
        let mut reported = false;
        let mut finished = false;
        let mut peak = (0usize, 0usize);
        let mut emitted = Emitted::default();
        let mut peer_msgs: Vec<PeerMsg> = Vec::new();
        let mut reports: Vec<ChainReport> = Vec::new();
        // Inputs at or after a cut in progress, set aside until the state before it is saved.
        let mut after_cut: Vec<(Held, Vec<Projection>)> = Vec::new();
        move |frontiers| {
            let pending_cut = checkpoint.as_ref().and_then(OperatorCut::pending);
            let mut cx = Cx {
                plan: &plan,
                rules: &rules,
                limits,
                stats: &stats,
                depth,
                states: &mut states,
                chains: &mut chains,
                alerts: &mut alerts,
                emitted: &mut emitted,
                peer_msgs: &mut peer_msgs,
            };
            input.for_each(|cap, data: &mut Vec<Projection>| match pending_cut {
                Some(cut) if cap.least().is_some_and(|&t| t >= cut.at) => {
                    let mut h = Held::default();
                    h.hold(&cap, 4);
                    after_cut.push((h, std::mem::take(data)));
                }
                _ => {
                    held.hold(&cap, 4);
                    cx.observe(data);
                }
            });
            let bound = frontiers[0].frontier().first().copied();
            if let Some(cut) = pending_cut.filter(|c| bound.is_none_or(|f| f >= c.at)) {
                // Everything before the cut is in: close what it closes, send it before the
                // cut, save, and go on with what was set aside.
                cx.advance(cut.at as i64);
                // Live state holds a capability, so what the state closed has one to go at.
                if held.time().is_some() {
                    give(&held, 0, &mut cx.emitted.incidents, &mut inc_out);
                    give(&held, 1, &mut cx.emitted.forward, &mut fwd_out);
                    give(&held, 2, cx.peer_msgs, &mut peer_out);
                }
                if let Some(op) = checkpoint.as_mut() {
                    op.deliver(cut, save_slots(&plan, cx.states, &stats, "state"));
                }
                held.downgrade(cut.at);
                for (h, mut data) in after_cut.drain(..) {
                    held.absorb(h);
                    cx.observe(&mut data);
                }
            }
            let watermark = bound.map_or(i64::MAX, |f| f as i64);
            cx.advance(watermark);
            // The most live correlation keys and the most state bytes at once (baselines
            // apart), seen between activations: a diagnostic, which batching may move a little.
            let (keys, bytes) =
                states.iter().flatten().filter(|s| !matches!(s, State::Baseline(_))).fold((0usize, 0usize), |(k, b), s| (k + s.keys(), b + s.state_bytes()));
            peak = (peak.0.max(keys), peak.1.max(bytes));
            if bound.is_none() && !reported {
                reported = true;
                stats.correlation_peak_keys.fetch_add(peak.0 as u64, Relaxed);
                stats.correlation_peak_bytes.fetch_add(peak.1 as u64, Relaxed);
                if let Ok(mut all) = stats.baselines.lock() {
                    for (c, slot) in states.iter().enumerate() {
                        if let Some(State::Baseline(b)) = slot {
                            all.entry(plan.correlations[c].info.title.clone()).or_default().add(&b.stats());
                        }
                    }
                }
            }
            if held.time().is_some() {
                give(&held, 0, &mut emitted.incidents, &mut inc_out);
                give(&held, 1, &mut emitted.forward, &mut fwd_out);
                give(&held, 2, &mut peer_msgs, &mut peer_out);
                let live = states.iter().flatten().any(|s| s.keys() > 0) || chains.iter().flatten().any(|t| !t.is_empty());
                if let Some(f) = bound {
                    held.downgrade(f);
                    // Reported at the frontier: the state after every input before it, with the
                    // chains that ended before it forgotten.
                    let oldest = chains.iter().flatten().filter_map(ChainTracker::oldest).min();
                    if let (Some(worker), true) = (track, oldest != last_report) {
                        reports.push(ChainReport { worker, stage: stage.id, oldest });
                        give(&held, 3, &mut reports, &mut chain_out);
                        last_report = oldest;
                    }
                }
                if bound.is_none() || !live {
                    held.release();
                }
            }
            if bound.is_none() && !finished {
                finished = true;
                if let Some(op) = checkpoint.as_mut() {
                    op.finish(save_slots(&plan, &states, &stats, "state"));
                }
            }
            let evictions: u64 = states.iter().flatten().map(State::evictions).sum();
            if evictions > evictions_seen {
                stats.evictions.fetch_add(evictions - evictions_seen, Relaxed);
                evictions_seen = evictions;
            }
        }
    });
    StageStreams { incidents, forward, peer, chains: chains_stream }
}

/// What observing and advancing a stage's correlations needs, borrowed for one activation.
struct Cx<'a> {
    plan: &'a Plan,
    rules: &'a RuleSet,
    limits: StateLimits,
    stats: &'a EngineStats,
    depth: u32,
    states: &'a mut Vec<Option<State>>,
    chains: &'a mut Vec<Option<ChainTracker>>,
    alerts: &'a mut Alerts,
    emitted: &'a mut Emitted,
    peer_msgs: &'a mut Vec<PeerMsg>,
}

impl Cx<'_> {
    /// Feeds a batch of in-order projections to their correlations.
    fn observe(&mut self, data: &mut Vec<Projection>) {
        let (plan, limits, stats) = (self.plan, self.limits, self.stats);
        for p in data.drain(..) {
            let c = p.correlation as usize;
            if plan.correlations[c].depth != self.depth {
                self.emitted.forward.push(p);
                continue;
            }
            match self.states[c].as_mut() {
                Some(State::Baseline(b)) => b.observe(plan, c, p, limits.evidence_cap, self.emitted, self.peer_msgs, stats),
                Some(state) => {
                    if let Some(t) = self.chains[c].as_mut() {
                        t.observe(&p.key, p.ts, p.born);
                    }
                    self.alerts.clear();
                    state.observe(p, self.alerts);
                    emit_alerts(plan, self.rules, c, self.alerts, self.chains[c].as_ref(), limits.evidence_cap, self.emitted, stats);
                }
                // Another class's correlation: routing never sends one here.
                None => {
                    stats.unrouted.fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// Moves every correlation's watermark to `watermark`, emitting what it closes.
    fn advance(&mut self, watermark: i64) {
        let (plan, limits, stats) = (self.plan, self.limits, self.stats);
        for (c, slot) in self.states.iter_mut().enumerate() {
            match slot.as_mut() {
                Some(State::Baseline(b)) => b.advance(plan, c, watermark, limits.evidence_cap, self.emitted, self.peer_msgs, stats),
                Some(state) => {
                    self.alerts.clear();
                    state.advance(watermark, self.alerts);
                    // Closed windows name their chain before it may expire below.
                    emit_alerts(plan, self.rules, c, self.alerts, self.chains[c].as_ref(), limits.evidence_cap, self.emitted, stats);
                    if let Some(t) = self.chains[c].as_mut() {
                        t.expire(watermark);
                    }
                }
                None => {}
            }
        }
    }
}

/// Turns alerts of planned correlation `c` into incidents (if it emits) and into projections
/// for the correlations it feeds.
#[allow(clippy::too_many_arguments)]
fn emit_alerts(
    plan: &Plan,
    rules: &RuleSet,
    c: usize,
    alerts: &mut Alerts,
    chains: Option<&ChainTracker>,
    evidence_cap: usize,
    out: &mut Emitted,
    stats: &EngineStats,
) {
    let planned = &plan.correlations[c];
    for alert in alerts.drain(..) {
        match alert.evidence.first().cloned() {
            Some(evidence) => {
                // The window's own start when chains are not tracked (a file replay).
                let born = chains.and_then(|t| t.born_of(&alert.group)).unwrap_or(alert.window_start_ms.min(alert.first_event_ts));
                forward_alert(plan, c, &alert.group, alert.window_start_ms, alert.window_end_ms, born, evidence, &mut out.forward, stats)
            }
            None if !planned.feeds.is_empty() => {
                stats.missing_group.fetch_add(planned.feeds.len() as u64, Relaxed);
            }
            None => {}
        }
        if planned.emits {
            let spec = &rules.correlation_specs[planned.index as usize];
            let measure = measure_of(planned.kind, spec.percentile);
            let group = planned.group_names.iter().cloned().zip(alert.group.values()).collect();
            out.incidents.push(Incident::from_alert(planned.info.clone(), group, alert, measure, evidence_cap, Some));
        }
    }
}
