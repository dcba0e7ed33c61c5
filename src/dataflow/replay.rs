//! The `replay` pipeline: events -> detection on the worker that parsed them -> plain detection
//! incidents, and small projections for correlations -> exchange by (correlation, group) ->
//! per-key window state in event-time order -> incidents -> one ordered writer per process.
//!
//! Only what a correlation needs crosses workers: the group key, the time, the counted value
//! and the matching event's ECS line as evidence. Most events match no rule and never leave the
//! worker that parsed them.
//!
//! Correlations over correlations run in stages: each depth of the chain is one more exchange
//! and correlate step. Baseline correlations (`x-vigil-baseline`, see [`super::baseline`]) keep
//! per-entity tables in the same correlate step and send their peer-group traffic to one judge
//! per correlation, whose anomalies join that depth's output. The `persistence` extension replaces a correlation's sliding window by
//! K consecutive aligned windows (see `correlate::persistence`); over `value_percentile` it is
//! not evaluated (reported as skipped).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::probe::{Handle as ProbeHandle, Probe};
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::vec::{Map, Partition, ToStream};
use timely::dataflow::operators::{Capability, Concat};
use timely::worker::Worker;

use super::baseline::{self as bl, BaselineState, BaselineStats, JudgeState, PeerMsg, PlannedBaseline};
use super::chain::{chain_frontier, ChainHistory, ChainReport, ChainTracker};
use super::kafka_source::{kafka_source, KafkaPosition, KafkaSourceConfig};
use super::normalize::DeadLetterSink;
use super::order::{in_order_by, Timed};
use super::source::{file_source, Backpressure, SourceConfig, MAX_PENDING_EVENTS};
use super::watermark::to_timely;
use crate::correlate::absence::Absence;
use crate::correlate::aggregate::{Aggregate, ValueAggregate};
use crate::correlate::distinct::ValueCount;
use crate::correlate::ordered::TemporalOrdered;
use crate::correlate::persistence::{Input as PersistInput, Measure as PersistMeasure, Persistence};
use crate::correlate::temporal::Temporal;
use crate::correlate::threshold::EventCount;
use crate::correlate::{Alert, Correlator};
use crate::event::ecs::EcsWriter;
use crate::event::entity::hash_bytes;
use crate::event::field::{self, FieldId};
use crate::event::{Event, Origin, ValueRef};
use crate::incident::{ecs::write_incident, EvidenceEvent, GroupValue, Incident, Measure, RuleInfo, KIND_DETECTION};
use crate::io::sink::{LazyOutput, OutputTarget, RecordSink};
use crate::rules::correlation::{CorrelationKind, ResolvedRef};
use crate::rules::logsource::RuleMatcher;
use crate::rules::RuleSet;

/// Limits of the correlation state.
#[derive(Clone, Copy, Debug)]
pub struct StateLimits {
    /// Most live keys per correlation per worker; beyond, the least recent is evicted (counted).
    pub key_cap: usize,
    /// Most evidence events an incident carries (the rest are counted).
    pub evidence_cap: usize,
    /// Most distinct values a `value_count` or percentile window keeps.
    pub max_values: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        StateLimits { key_cap: 1_000_000, evidence_cap: 10, max_values: 10_000 }
    }
}

/// Counters of a replay run in this process.
#[derive(Debug, Default)]
pub struct ReplayStats {
    /// Matches per detection rule (by index).
    pub matches: Vec<AtomicU64>,
    /// Incidents written, by rule title.
    pub incidents: Mutex<BTreeMap<String, u64>>,
    /// Correlation keys evicted because of the key cap.
    pub evictions: AtomicU64,
    /// Projections dropped because an event lacked a group-by field.
    pub missing_group: AtomicU64,
    /// Failed deliveries of incidents to Kafka (each retried).
    pub delivery_errors: AtomicU64,
    /// Baseline rules' counters by rule title, summed over this process's workers.
    pub baselines: Mutex<BTreeMap<String, BaselineStats>>,
    /// The learning cut-off in effect (see [`Learn`]), once known; `i64::MIN` before.
    pub cutoff_ms: AtomicI64,
    /// Incidents not written because their time is not after the cut-off.
    pub before_cutoff: AtomicU64,
}

/// Learn, then watch: incidents decided while baselines learn are not written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Learn {
    /// Everything is written.
    #[default]
    Off,
    /// The inputs of partitions `0..n` are history (`vigil replay --learn`): they are read
    /// alongside the others (event time orders them) and incidents whose time is not after the
    /// last event of these inputs are not written.
    Inputs(u32),
    /// Incidents within this many ms of the first event of the run (its earliest event time,
    /// over all inputs) are not written (`vigil replay --warm-up`).
    WarmUp(i64),
}

/// What a worker needs to build the replay dataflow.
#[derive(Clone)]
pub struct ReplayConfig {
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
    pub stats: Arc<ReplayStats>,
}

/// A correlation as the pipeline evaluates it.
#[derive(Clone, Debug)]
pub struct PlannedCorrelation {
    /// Index in `RuleSet::correlation_specs`.
    pub index: u32,
    /// The incident's rule description.
    pub info: RuleInfo,
    /// Group-by names, as incidents show them.
    pub group_names: Vec<String>,
    /// For each referenced rule (position), the fields of its group key.
    pub group_fields: Vec<Vec<Option<FieldId>>>,
    /// The counted or aggregated field (`value_*` types).
    pub value_field: Option<FieldId>,
    /// Whether it raises incidents.
    pub emits: bool,
    /// The correlation type.
    pub kind: CorrelationKind,
    /// 1 when it references only detection rules; else one more than the deepest correlation
    /// it references. Each depth is one exchange-and-correlate stage of the dataflow.
    pub depth: u32,
    /// The (planned correlation, rule position) pairs its alerts feed.
    pub feeds: Vec<(u32, u32)>,
    /// The `x-vigil.baseline` block of a baseline correlation.
    pub baseline: Option<PlannedBaseline>,
}

/// The evaluation plan: which rules feed which correlations, what is skipped and why.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Per detection rule: its incident description, and whether it raises incidents itself.
    pub detections: Vec<(RuleInfo, bool)>,
    /// Per detection rule: the (planned correlation, rule position) pairs it feeds.
    pub feeds: Vec<Vec<(u32, u32)>>,
    /// Correlations evaluated.
    pub correlations: Vec<PlannedCorrelation>,
    /// Correlations not evaluated, with the reason.
    pub skipped: Vec<(String, String)>,
    /// The deepest chain (1 without correlations over correlations).
    pub depth: u32,
    /// Cool-downs of the correlations with the `x-vigil: suppress` extension, by rule id.
    pub suppress: HashMap<String, i64>,
    /// Learn, then watch (set by the caller; off by default).
    pub learn: Learn,
}

fn stable_rule_id(id: &Option<String>, name: &Option<String>, title: &str) -> String {
    id.clone().or_else(|| name.clone()).unwrap_or_else(|| title.to_string())
}

impl Plan {
    /// Builds the plan from a loaded rule set.
    pub fn new(rules: &RuleSet) -> Plan {
        let res = &rules.resolution;
        let detections = rules
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let info = RuleInfo {
                    id: stable_rule_id(&r.id, &r.name, &r.title),
                    title: r.title.clone(),
                    description: None,
                    level: r.level.clone(),
                    tags: r.tags.clone(),
                    kind: KIND_DETECTION.to_string(),
                };
                (info, res.detection_emits.get(i).copied().unwrap_or(true))
            })
            .collect();
        let mut plan = Plan { detections, feeds: vec![Vec::new(); rules.rules.len()], ..Plan::default() };
        // Dependencies first, so a referenced correlation is planned before its referrers.
        let mut planned_of: Vec<Option<u32>> = vec![None; rules.correlation_specs.len()];
        let order: Vec<usize> = if res.order.len() == rules.correlation_specs.len() {
            res.order.iter().map(|&c| c as usize).collect()
        } else {
            (0..rules.correlation_specs.len()).collect()
        };
        for ci in order {
            let spec = &rules.correlation_specs[ci];
            let title = spec.title.clone().or_else(|| spec.name.clone()).unwrap_or_else(|| format!("correlation {ci}"));
            let refs = res.refs.get(ci).cloned().unwrap_or_default();
            let inner_skipped = refs.iter().any(|r| matches!(r, ResolvedRef::Correlation(c) if planned_of[*c as usize].is_none()));
            let why = if inner_skipped {
                Some("it references a correlation that is not evaluated")
            } else if spec.extensions.persistence.is_some() && spec.kind == CorrelationKind::ValuePercentile {
                Some("persistence over value_percentile is not evaluated")
            } else if refs.len() > 64 {
                Some("more than 64 referenced rules")
            } else {
                None
            };
            if let Some(why) = why {
                plan.skipped.push((title, why.to_string()));
                continue;
            }
            let planned = plan.correlations.len() as u32;
            planned_of[ci] = Some(planned);
            let depth = 1 + refs
                .iter()
                .filter_map(|r| match r {
                    ResolvedRef::Correlation(c) => planned_of[*c as usize].map(|p| plan.correlations[p as usize].depth),
                    ResolvedRef::Detection(_) => None,
                })
                .max()
                .unwrap_or(0);
            plan.depth = plan.depth.max(depth);
            let group_fields = (0..spec.rules.len()).map(|pos| spec.group_fields(pos).into_iter().map(field::intern).collect()).collect();
            if let Some(sup) = spec.extensions.suppress {
                plan.suppress.insert(stable_rule_id(&spec.id, &spec.name, &title), sup.for_ms);
            }
            plan.correlations.push(PlannedCorrelation {
                index: ci as u32,
                info: RuleInfo {
                    id: stable_rule_id(&spec.id, &spec.name, &title),
                    title,
                    description: spec.description.clone(),
                    level: spec.level.clone(),
                    tags: spec.tags.clone(),
                    kind: spec.kind.as_str().to_string(),
                },
                group_names: spec.group_by.clone(),
                group_fields,
                value_field: spec.field.as_deref().and_then(field::intern),
                emits: res.correlation_emits.get(ci).copied().unwrap_or(true),
                kind: spec.kind,
                depth,
                feeds: Vec::new(),
                baseline: spec.extensions.baseline.clone().map(PlannedBaseline::new),
            });
            for (pos, r) in refs.iter().enumerate() {
                match r {
                    ResolvedRef::Detection(d) => plan.feeds[*d as usize].push((planned, pos as u32)),
                    ResolvedRef::Correlation(c) => {
                        if let Some(inner) = planned_of[*c as usize] {
                            plan.correlations[inner as usize].feeds.push((planned, pos as u32));
                        }
                    }
                }
            }
        }
        plan
    }
}

impl Plan {
    /// Events of one group further apart than this start a new chain of windows (see
    /// [`super::chain`]): the window (times K under `persistence`) plus the suppression
    /// cool-down, within which alerts still merge.
    pub fn chain_gap_ms(&self, rules: &RuleSet, c: usize) -> i64 {
        let Some(spec) = self.correlations.get(c).and_then(|p| rules.correlation_specs.get(p.index as usize)) else { return 0 };
        let windows = i64::from(spec.extensions.persistence.map_or(1, |p| p.windows.max(1)));
        spec.timespan_ms.saturating_mul(windows).saturating_add(spec.extensions.suppress.map_or(0, |s| s.for_ms))
    }

    /// How far back in event time a record can still change an incident not yet written: for
    /// each correlation, its timespan (times K windows under `persistence`), plus the reach of
    /// the correlations it is built on, plus its suppression cool-down. The Kafka source
    /// commits only offsets of records older than the delivered frontier minus this, so a
    /// restart re-reads everything an unwritten incident may depend on.
    pub fn horizon_ms(&self, rules: &RuleSet) -> i64 {
        let mut reach: HashMap<u32, i64> = HashMap::new();
        let mut horizon = 0i64;
        // Planned in dependency order: a referenced correlation's reach is known first.
        for planned in &self.correlations {
            let Some(spec) = rules.correlation_specs.get(planned.index as usize) else { continue };
            let own = match &planned.baseline {
                // A baseline decides an interval (a new value: its peer interval) after it ends;
                // its learned history is longer than any horizon and is not re-read on restart.
                Some(b) => match b.spec.kind {
                    crate::rules::baseline::BaselineKind::NewValue(c) => c.peer_interval_ms,
                    _ => spec.timespan_ms,
                },
                None => spec.timespan_ms.saturating_mul(i64::from(spec.extensions.persistence.map_or(1, |p| p.windows.max(1)))),
            };
            let inner = rules
                .resolution
                .refs
                .get(planned.index as usize)
                .into_iter()
                .flatten()
                .filter_map(|r| match r {
                    ResolvedRef::Correlation(c) => reach.get(c).copied(),
                    ResolvedRef::Detection(_) => None,
                })
                .max()
                .unwrap_or(0);
            let cooldown = spec.extensions.suppress.map_or(0, |s| s.for_ms);
            let total = own.saturating_add(inner).saturating_add(cooldown);
            reach.insert(planned.index, own.saturating_add(inner));
            horizon = horizon.max(total);
        }
        horizon
    }
}

/// A group key: the canonical bytes of its values, which order, hash and route it. The values
/// themselves are decoded only where an alert names them: a key is built for every projection
/// and most never alert, and keeping the values beside the bytes cost an allocation and 24
/// bytes per waiting projection (and sent everything twice across workers).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupKey {
    bytes: Box<[u8]>,
}

impl GroupKey {
    pub(crate) fn new(values: &[GroupValue]) -> Self {
        GroupKey { bytes: bincode::serialize(values).unwrap_or_default().into_boxed_slice() }
    }

    /// The key back from its canonical bytes (`None` when they do not decode).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bincode::deserialize::<Vec<GroupValue>>(bytes).ok().map(|_| GroupKey { bytes: bytes.into() })
    }

    /// The canonical bytes (ordering, hashing, routing).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The values, in group-by order (decoded from the bytes this key made itself).
    pub fn values(&self) -> Vec<GroupValue> {
        bincode::deserialize(&self.bytes).unwrap_or_default()
    }
}

impl PartialEq for GroupKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for GroupKey {}
impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}
impl Hash for GroupKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

/// The value a correlation looks at in one event.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Measured {
    /// Nothing (`event_count`).
    Nothing,
    /// The bits of the referenced rules the event matched (`temporal`, `temporal_ordered`, absence).
    Rules(u64),
    /// A value to count distinct (`value_count`): its canonical bytes.
    Value(Box<[u8]>),
    /// A number (`value_sum`, `value_avg`, `value_percentile`).
    Number(f64),
    /// A baseline's input (`x-vigil-baseline`): the amount or the value's hash, and the value's
    /// display form where the incident may name it.
    Baseline {
        /// Amount (rate) or hash of the reduced value.
        value: u64,
        /// Display form (new value, profile).
        shown: Option<GroupValue>,
    },
}

/// What crosses workers for a correlation: one matching event, projected.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Projection {
    /// Planned correlation index.
    pub correlation: u32,
    /// The group key.
    pub key: GroupKey,
    /// Event time.
    pub ts: i64,
    /// Event origin (ordering tie-break).
    pub origin: Origin,
    /// What the correlation counts.
    pub measured: Measured,
    /// The event, as evidence.
    pub evidence: EvidenceEvent,
    /// The earliest event time this projection depends on: its own time for an event, the born
    /// time of the alert's chain for a chained correlation (see [`super::chain`]).
    pub born: i64,
}

impl Timed for Projection {
    fn ts(&self) -> i64 {
        self.ts
    }
    fn order_key(&self) -> (i64, Origin) {
        (self.ts, self.origin)
    }
}

impl Timed for Incident {
    fn ts(&self) -> i64 {
        self.timestamp_ms
    }
    fn order_key(&self) -> (i64, Origin) {
        (self.timestamp_ms, Origin::default())
    }
}

fn route(p: &Projection) -> u64 {
    let mut buf = Vec::with_capacity(4 + p.key.bytes.len());
    buf.extend_from_slice(&p.correlation.to_le_bytes());
    buf.extend_from_slice(&p.key.bytes);
    hash_bytes(&buf)
}

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

fn group_value(ev: &Event, id: Option<FieldId>) -> Option<GroupValue> {
    let v = ev.get(id?)?;
    match v {
        ValueRef::Null => None,
        ValueRef::Str("") => None,
        v => Some(GroupValue::from_value_ref(ev, v)),
    }
}

fn number(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Int(i) => Some(i as f64),
        ValueRef::Float(f) if f.is_finite() => Some(f),
        ValueRef::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
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

/// Builds the replay dataflow on one worker, reading the files of `cfg.source`.
pub fn build(worker: &mut Worker, cfg: &ReplayConfig, plan: Arc<Plan>) {
    build_with(worker, cfg, plan, None);
}

/// Builds the dataflow reading Kafka and writing incidents and dead letters to Kafka; returns
/// the source's position for the final commit once the dataflow has finished.
pub fn build_kafka(worker: &mut Worker, cfg: &ReplayConfig, plan: Arc<Plan>, kafka: &KafkaRun) -> Option<Rc<RefCell<KafkaPosition>>> {
    build_with(worker, cfg, plan, Some(kafka))
}

fn build_with(worker: &mut Worker, cfg: &ReplayConfig, plan: Arc<Plan>, kafka: Option<&KafkaRun>) -> Option<Rc<RefCell<KafkaPosition>>> {
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
            (_, from) => cutoff_marks(from.unwrap_or_else(|| events.clone()), plan.learn).broadcast(),
        };
        let discard = kafka.as_ref().map(|k| k.source.discard.clone()).unwrap_or_default();

        // Detection where the event was parsed: incidents of plain rules, projections for
        // correlations. Most events match nothing and stop here.
        let mut detect = events.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<Staged>>, _, _, _>(Pipeline, "Detect", {
            let (rules, plan, stats) = (cfg.rules.clone(), plan.clone(), cfg.stats.clone());
            move |_cap, _info| {
                let mut matcher = RuleMatcher::new(rules.clone());
                let mut writer = EcsWriter::new();
                let mut hits = Vec::new();
                let mut counts = vec![0u64; rules.rules.len()];
                let mut missing = 0u64;
                let mut projected: Vec<(u32, GroupKey, Measured)> = Vec::new();
                // Shared by the projections of baseline rules that keep no evidence.
                let placeholder = EvidenceEvent::from_event(&Event::at(0), &mut writer);
                move |(input, _frontier), output| {
                    input.for_each(|cap, data: &mut Vec<Event>| {
                        let mut session = output.session(&cap);
                        for ev in data.iter() {
                            let mut evidence: Option<EvidenceEvent> = None;
                            hits.clear();
                            matcher.matching(ev, &mut hits);
                            for &r in &hits {
                                counts[r as usize] += 1;
                                let (info, emits) = &plan.detections[r as usize];
                                if *emits {
                                    session.give(Staged::Incident(Box::new(Incident::from_detection(info.clone(), ev, &mut writer))));
                                }
                                for &(c, pos) in &plan.feeds[r as usize] {
                                    let planned = &plan.correlations[c as usize];
                                    let fields = &planned.group_fields[pos as usize];
                                    let values: Option<Vec<GroupValue>> = fields.iter().map(|f| group_value(ev, *f)).collect();
                                    let Some(values) = values else {
                                        missing += 1;
                                        continue;
                                    };
                                    let measured = match planned.kind {
                                        CorrelationKind::Baseline => match planned.baseline.as_ref().and_then(|b| bl::measure(b, ev)) {
                                            Some(m) => m,
                                            None => continue,
                                        },
                                        CorrelationKind::EventCount => Measured::Nothing,
                                        CorrelationKind::Temporal | CorrelationKind::TemporalOrdered | CorrelationKind::Absence => Measured::Rules(1u64 << pos),
                                        CorrelationKind::ValueCount => match group_value(ev, planned.value_field) {
                                            Some(v) => Measured::Value(bincode::serialize(&v).unwrap_or_default().into_boxed_slice()),
                                            None => continue,
                                        },
                                        _ => match planned.value_field.and_then(|f| ev.get(f)).and_then(number) {
                                            Some(x) => Measured::Number(x),
                                            None => continue,
                                        },
                                    };
                                    let key = GroupKey::new(&values);
                                    // One event is one observation per correlation and group,
                                    // however many of the correlation's rules it matches: the
                                    // rules' bits are merged, a count counts it once.
                                    match projected.iter_mut().find(|(pc, pk, _)| *pc == c && *pk == key) {
                                        Some((_, _, Measured::Rules(mask))) => {
                                            if let Measured::Rules(bit) = measured {
                                                *mask |= bit;
                                            }
                                        }
                                        Some(_) => {}
                                        None => projected.push((c, key, measured)),
                                    }
                                }
                            }
                            for (c, key, measured) in projected.drain(..) {
                                // Encoded once per event, however many correlations it feeds;
                                // baseline rules other than new values carry none.
                                let bare = plan.correlations[c as usize].baseline.as_ref().is_some_and(|b| !b.needs_evidence());
                                let evidence = if bare {
                                    let mut e = placeholder.clone();
                                    (e.ts, e.origin) = (ev.ts, ev.origin);
                                    e
                                } else {
                                    evidence.get_or_insert_with(|| EvidenceEvent::from_event(ev, &mut writer)).clone()
                                };
                                session.give(Staged::Forward(Projection {
                                    correlation: c,
                                    key,
                                    ts: ev.ts,
                                    origin: ev.origin,
                                    measured,
                                    evidence,
                                    born: ev.ts,
                                }));
                            }
                        }
                    });
                    for (i, n) in counts.iter_mut().enumerate() {
                        if *n > 0 {
                            stats.matches[i].fetch_add(*n, Relaxed);
                            *n = 0;
                        }
                    }
                    if missing > 0 {
                        stats.missing_group.fetch_add(missing, Relaxed);
                        missing = 0;
                    }
                }
            }
        });
        detect = detect.probe_with(&probe);
        let (detected_incidents, projections, _, _) = split(detect);

        // Correlation, one stage per depth of the chains: projections reach the worker that owns
        // (correlation, group), in order; alerts of correlations that feed deeper ones become
        // projections for the next stage.
        let mut incident_streams = vec![detected_incidents];
        let mut chain_reports = Vec::new();
        let mut stage_input = projections;
        let mut gauge = Some(gauge);
        for depth in 1..=plan.depth.max(1) {
            let ordered = in_order_by(stage_input, route, gauge.take().unwrap_or_default());
            let track = chains.is_some().then_some(index as u32);
            let staged = correlate_stage(ordered, depth, plan.clone(), cfg.rules.clone(), cfg.limits, cfg.stats.clone(), track);
            let (mut incidents, mut forward, peer, reports) = split(staged);
            chain_reports.push(reports);
            if plan.correlations.iter().any(|p| p.depth == depth && p.baseline.as_ref().is_some_and(PlannedBaseline::peer_group)) {
                let (judged_incidents, judged_forward, _, _) = split(judge_stage(peer, depth, plan.clone(), cfg.limits, cfg.stats.clone()));
                incidents = incidents.concat(judged_incidents);
                forward = forward.concat(judged_forward);
            }
            incident_streams.push(incidents);
            stage_input = forward;
        }
        if let Some(history) = &chains {
            let mut reports = chain_reports.into_iter();
            if let Some(first) = reports.next() {
                chain_frontier(reports.fold(first, |all, more| all.concat(more)).broadcast(), history.clone());
            }
        }

        // One ordered writer per process: incidents sorted by (time, id), duplicates dropped.
        let mut incident_streams = incident_streams.into_iter();
        let first = incident_streams.next().expect("the detection stream is always there");
        let incidents = incident_streams.fold(first, |all, more| all.concat(more));
        let mut pending: Vec<Incident> = Vec::new();
        let mut last_written: Option<(i64, String)> = None;
        let mut line = Vec::with_capacity(4096);
        let (wstats, rstats, cancel) = (cfg.source.stats.clone(), cfg.stats.clone(), cfg.source.cancel.clone());
        let mut out = match &kafka {
            Some(k) => RecordSink::kafka(k.client.clone(), k.incidents.clone()),
            None => RecordSink::File(LazyOutput::new(cfg.output.clone())),
        };
        let discard_incidents = discard.clone();
        let delivered_before = kafka.as_ref().and_then(|k| k.delivered_before);
        // Rules with `x-vigil: suppress` go through a suppressor each (merging repeats within the
        // cool-down); an incident it emits is ordered at its deadline (last merged time +
        // cool-down), so every write is in (key, id) order and the same for any run.
        let suppress = plan.suppress.clone();
        let mut suppressors: HashMap<String, crate::incident::Suppressor> = HashMap::new();
        let evidence_cap = cfg.limits.evidence_cap;
        // An operator rather than a sink, so a probe after it tells the Kafka source what has
        // been delivered (it holds no capability: its frontier is what it has finished with).
        // The learning cut-off: unknown until every worker's mark is in (`None` until then).
        let learn = plan.learn;
        let mut marks_seen: Vec<i64> = Vec::new();
        let mut cutoff: Option<Option<i64>> = None;
        let written = incidents.binary_frontier::<_, timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _, _>(
            marks,
            Exchange::new(move |_: &Incident| leader),
            Pipeline,
            "WriteIncidents",
            move |_cap, _info| {
                move |(input, frontier), (marks_in, marks_frontier), _output| {
                    input.for_each(|_cap, data| pending.append(data));
                    marks_in.for_each(|_cap, data| marks_seen.append(data));
                    if !is_leader {
                        return;
                    }
                    if discard_incidents.load(Relaxed) {
                        // A graceful stop: what is still open is recomputed after the restart.
                        pending.clear();
                        suppressors.clear();
                        return;
                    }
                    if cutoff.is_none() && learn == Learn::Off {
                        // Nothing to learn: write as the frontier passes (a Kafka run never ends).
                        cutoff = Some(None);
                    }
                    if cutoff.is_none() {
                        // Incidents wait (unwritten) until the cut-off is known.
                        if !marks_frontier.frontier().is_empty() {
                            return;
                        }
                        let c = match learn {
                            Learn::Off => None,
                            Learn::Inputs(_) => marks_seen.iter().max().copied(),
                            Learn::WarmUp(d) => marks_seen.iter().min().map(|first| first.saturating_add(d)),
                        };
                        if let Some(c) = c {
                            rstats.cutoff_ms.store(c, Relaxed);
                        }
                        cutoff = Some(c);
                    }
                    if let Some(Some(c)) = cutoff {
                        let before = pending.len();
                        pending.retain(|inc| inc.timestamp_ms > c);
                        rstats.before_cutoff.fetch_add((before - pending.len()) as u64, Relaxed);
                    }
                    let bound = frontier.frontier().first().copied();
                    if !out.open(&wstats, &cancel) {
                        return;
                    }
                    let mut keep = Vec::new();
                    let mut ready: Vec<(i64, Incident)> = Vec::new();
                    for inc in pending.drain(..) {
                        if let Some(&cooldown) = suppress.get(&inc.rule.id) {
                            let sup = suppressors.entry(inc.rule.id.clone()).or_insert_with(|| {
                                let cfg = crate::incident::suppress::SuppressConfig { cooldown_ms: Some(cooldown), evidence_cap, ..Default::default() };
                                crate::incident::Suppressor::new(cfg)
                                    .unwrap_or_else(|_| crate::incident::Suppressor::new(Default::default()).expect("default suppression settings are valid"))
                            });
                            sup.offer(inc);
                        } else if bound.is_none_or(|f| to_timely(inc.timestamp_ms) < f) {
                            ready.push((inc.timestamp_ms, inc));
                        } else {
                            keep.push(inc);
                        }
                    }
                    pending = keep;
                    let mut emitted = Vec::new();
                    for (rule, sup) in suppressors.iter_mut() {
                        emitted.clear();
                        match bound {
                            Some(f) => sup.advance(f as i64, &mut emitted),
                            None => sup.finish(&mut emitted),
                        }
                        let cooldown = suppress.get(rule).copied().unwrap_or(0);
                        ready.extend(emitted.drain(..).map(|inc| (inc.timestamp_ms.saturating_add(cooldown), inc)));
                    }
                    ready.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
                    // After a restart, what the re-read gives before the previous run's delivered
                    // frontier was delivered then (and may differ for chains that ended there).
                    let ready = ready.into_iter().filter(|(t, _)| delivered_before.is_none_or(|d| to_timely(*t) >= to_timely(d))).map(|(_, inc)| inc);
                    let mut result = Ok(());
                    for inc in ready {
                        let key = (inc.timestamp_ms, inc.id.clone());
                        if last_written.as_ref() == Some(&key) {
                            continue; // the same incident twice (one event matched twice): written once
                        }
                        line.clear();
                        write_incident(&inc, &mut line);
                        result = result.and_then(|_| out.write(inc.id.as_bytes(), &line[..line.len().saturating_sub(1)], &[]));
                        if let Ok(mut per_rule) = rstats.incidents.lock() {
                            *per_rule.entry(inc.rule.title.clone()).or_default() += 1;
                        }
                        wstats.written.fetch_add(1, Relaxed);
                        last_written = Some(key);
                    }
                    result = result.and_then(|_| out.flush(bound.is_none()));
                    if let Err(e) = result {
                        out.fail(e, &wstats, &cancel);
                    }
                    rstats.delivery_errors.store(out.delivery_errors(), Relaxed);
                }
            },
        );
        written.probe_with(&delivered);

        let dead_sink = match &kafka {
            Some(k) => {
                Some(DeadLetterSink::Kafka { sink: RecordSink::kafka(k.client.clone(), k.dead_letter.clone()), partitions: k.source.partitions.clone() })
            }
            None => cfg.dead_letter.clone().map(|t| DeadLetterSink::File(RecordSink::File(LazyOutput::new(t)))),
        };
        super::normalize::write_dead_letters(dead, leader, is_leader, dead_sink, cfg.source.stats.clone(), discard).probe_with(&delivered);
        position
    })
}

/// What detection and each correlation stage emit: incidents, projections for the next stage,
/// and baseline tables' traffic to their peer-group judge.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Staged {
    /// An incident to write (boxed: incidents are few and large, projections many and small).
    Incident(Box<Incident>),
    /// A projection for a correlation (of the next stage).
    Forward(Projection),
    /// A baseline table's stage or peer verdict, for the correlation's judge.
    Peer(PeerMsg),
    /// A correlate stage's oldest live chain (Kafka runs only).
    Chain(ChainReport),
}

/// The learning cut-off marks of one worker (see [`Learn`]): with `Learn::Inputs`, the latest
/// event time of the history inputs it read, once they are all read everywhere; with
/// `Learn::WarmUp`, its earliest event time, once its input frontier has passed it (no earlier
/// event can come). The operator holds its capability until then, so a writer knows the cut-off
/// once this stream's frontier is empty.
fn cutoff_marks<'s>(events: timely::dataflow::Stream<'s, u64, Vec<Event>>, learn: Learn) -> timely::dataflow::Stream<'s, u64, Vec<i64>> {
    events.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<i64>>, _, _, _>(Pipeline, "LearnCutoff", move |cap, _info| {
        let mut held = (learn != Learn::Off).then_some(cap);
        let mut mark: Option<i64> = None;
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
            let Some(cap) = held.as_ref() else { return };
            let bound = frontier.frontier().first().copied();
            let done = match (learn, bound) {
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

/// The peer-group judges of the baseline correlations of `depth`: each correlation's tables
/// (on every worker) send their complete stages and peer verdicts to one worker, which folds
/// and judges them in event time (see [`super::baseline`]).
fn judge_stage<'s>(
    msgs: timely::dataflow::Stream<'s, u64, Vec<PeerMsg>>,
    depth: u32,
    plan: Arc<Plan>,
    limits: StateLimits,
    stats: Arc<ReplayStats>,
) -> timely::dataflow::Stream<'s, u64, Vec<Staged>> {
    msgs.unary_frontier(Exchange::new(bl::judge_route), "PeerJudge", move |_cap, _info| {
        let mut judges: Vec<Option<JudgeState>> = plan
            .correlations
            .iter()
            .map(|p| p.baseline.as_ref().filter(|b| p.depth == depth && b.peer_group()).and_then(|b| JudgeState::new(b).ok()))
            .collect();
        let mut held: Option<Capability<u64>> = None;
        let mut reported = false;
        move |(input, frontier), output| {
            let mut produced: Vec<Staged> = Vec::new();
            input.for_each(|cap, data: &mut Vec<PeerMsg>| {
                if let Some(c) = cap.retain_least(0) {
                    if held.as_ref().is_none_or(|h| c.time() < h.time()) {
                        held = Some(c);
                    }
                }
                for m in data.drain(..) {
                    let c = m.correlation as usize;
                    if let Some(j) = judges.get_mut(c).and_then(Option::as_mut) {
                        j.receive(&plan, m, limits.evidence_cap, &mut produced, &stats);
                    }
                }
            });
            let bound = frontier.frontier().first().copied();
            let watermark = bound.map_or(i64::MAX, |f| f as i64);
            for (c, slot) in judges.iter_mut().enumerate() {
                if let Some(j) = slot.as_mut() {
                    j.advance(&plan, c, watermark, limits.evidence_cap, &mut produced, &stats);
                }
            }
            if let Some(cap) = held.as_mut() {
                if !produced.is_empty() {
                    output.session(&*cap).give_iterator(produced.drain(..));
                }
                let busy = judges.iter().flatten().any(JudgeState::busy);
                match bound {
                    Some(f) if busy => {
                        if f > *cap.time() {
                            cap.downgrade(&f);
                        }
                    }
                    _ => held = None,
                }
            }
            if bound.is_none() && !reported {
                reported = true;
                if let Ok(mut all) = stats.baselines.lock() {
                    for (c, j) in judges.iter().enumerate() {
                        if let Some(j) = j {
                            let s = all.entry(plan.correlations[c].info.title.clone()).or_default();
                            s.add(&BaselineStats {
                                pending_dropped: j.dropped() + j.broken,
                                anomalies: j.anomalies(),
                                judge_peak_bytes: j.peak_bytes,
                                ..BaselineStats::default()
                            });
                        }
                    }
                }
            }
        }
    })
}

/// The four kinds of staged records, each as its own stream.
type Split<'s> = (
    timely::dataflow::Stream<'s, u64, Vec<Incident>>,
    timely::dataflow::Stream<'s, u64, Vec<Projection>>,
    timely::dataflow::Stream<'s, u64, Vec<PeerMsg>>,
    timely::dataflow::Stream<'s, u64, Vec<ChainReport>>,
);

/// Splits staged records into the incidents, the projections, the baseline tables' traffic to
/// their judges and the chain reports.
fn split<'s>(staged: timely::dataflow::Stream<'s, u64, Vec<Staged>>) -> Split<'s> {
    // One partition moves each record to its stream; reading `staged` several times would have
    // timely copy every batch (projections, evidence and all) for each extra reader.
    let mut parts = staged
        .partition(4, |s| match s {
            Staged::Incident(_) => (0, s),
            Staged::Forward(_) => (1, s),
            Staged::Peer(_) => (2, s),
            Staged::Chain(_) => (3, s),
        })
        .into_iter();
    let (Some(incidents), Some(forward), Some(peer), Some(chains)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        unreachable!("partition(4) makes four streams")
    };
    let incidents = incidents.flat_map(|s| match s {
        Staged::Incident(i) => Some(*i),
        _ => None,
    });
    let forward = forward.flat_map(|s| match s {
        Staged::Forward(p) => Some(p),
        _ => None,
    });
    let peer = peer.flat_map(|s| match s {
        Staged::Peer(m) => Some(m),
        _ => None,
    });
    let chains = chains.flat_map(|s| match s {
        Staged::Chain(r) => Some(r),
        _ => None,
    });
    (incidents, forward, peer, chains)
}

/// One correlate stage: evaluates the correlations of `depth` over in-order projections; passes
/// projections for deeper correlations through; turns alerts into incidents and, for
/// correlations that feed deeper ones, into projections for the next stage. With `track` (the
/// worker's index, in a Kafka run) it also tracks the chains of windows of its correlations and
/// reports the oldest live one whenever that changes (see [`super::chain`]).
fn correlate_stage<'s>(
    ordered: timely::dataflow::Stream<'s, u64, Vec<Projection>>,
    depth: u32,
    plan: Arc<Plan>,
    rules: Arc<RuleSet>,
    limits: StateLimits,
    stats: Arc<ReplayStats>,
    track: Option<u32>,
) -> timely::dataflow::Stream<'s, u64, Vec<Staged>> {
    ordered.unary_frontier(Pipeline, "Correlate", move |_cap, _info| {
        let mut states: Vec<Option<State>> =
            plan.correlations.iter().map(|p| if p.depth == depth { State::new(&rules, p, limits).ok() } else { None }).collect();
        // Baselines are left out: their learned history is not re-read on restart anyway.
        let mut chains: Vec<Option<ChainTracker>> = states
            .iter()
            .enumerate()
            .map(|(c, st)| match st {
                Some(State::Baseline(_)) | None => None,
                Some(_) => track.map(|_| ChainTracker::new(plan.chain_gap_ms(&rules, c))),
            })
            .collect();
        let mut last_report: Option<i64> = None;
        let mut held: Option<Capability<u64>> = None;
        let mut alerts: Alerts = Vec::new();
        let mut evictions_seen = 0u64;
        let mut reported = false;
        move |(input, frontier), output| {
            let mut produced: Vec<Staged> = Vec::new();
            input.for_each(|cap, data: &mut Vec<Projection>| {
                if let Some(c) = cap.retain_least(0) {
                    if held.as_ref().is_none_or(|h| c.time() < h.time()) {
                        held = Some(c);
                    }
                }
                for p in data.drain(..) {
                    let c = p.correlation as usize;
                    if plan.correlations[c].depth != depth {
                        produced.push(Staged::Forward(p));
                        continue;
                    }
                    match states[c].as_mut() {
                        Some(State::Baseline(b)) => b.observe(&plan, c, p, limits.evidence_cap, &mut produced, &stats),
                        Some(state) => {
                            if let Some(t) = chains[c].as_mut() {
                                t.observe(&p.key, p.ts, p.born);
                            }
                            alerts.clear();
                            state.observe(p, &mut alerts);
                            emit_alerts(&plan, &rules, c, &mut alerts, chains[c].as_ref(), limits.evidence_cap, &mut produced, &stats);
                        }
                        None => {}
                    }
                }
            });
            let bound = frontier.frontier().first().copied();
            let watermark = bound.map_or(i64::MAX, |f| f as i64);
            for (c, slot) in states.iter_mut().enumerate() {
                match slot.as_mut() {
                    Some(State::Baseline(b)) => b.advance(&plan, c, watermark, limits.evidence_cap, &mut produced, &stats),
                    Some(state) => {
                        alerts.clear();
                        state.advance(watermark, &mut alerts);
                        // Closed windows name their chain before it may expire below.
                        emit_alerts(&plan, &rules, c, &mut alerts, chains[c].as_ref(), limits.evidence_cap, &mut produced, &stats);
                        if let Some(t) = chains[c].as_mut() {
                            t.expire(watermark);
                        }
                    }
                    None => {}
                }
            }
            if bound.is_none() && !reported {
                reported = true;
                if let Ok(mut all) = stats.baselines.lock() {
                    for (c, slot) in states.iter().enumerate() {
                        if let Some(State::Baseline(b)) = slot {
                            all.entry(plan.correlations[c].info.title.clone()).or_default().add(&b.stats());
                        }
                    }
                }
            }
            if let Some(cap) = held.as_mut() {
                if !produced.is_empty() {
                    output.session(&*cap).give_iterator(produced.drain(..));
                }
                let live = states.iter().flatten().any(|s| s.keys() > 0) || chains.iter().flatten().any(|t| !t.is_empty());
                if let Some(f) = bound {
                    if f > *cap.time() {
                        cap.downgrade(&f);
                    }
                    // Reported at the frontier: the state after every input before it, with the
                    // chains that ended before it forgotten.
                    let oldest = chains.iter().flatten().filter_map(ChainTracker::oldest).min();
                    if let (Some(worker), true) = (track, oldest != last_report) {
                        output.session(&*cap).give(Staged::Chain(ChainReport { worker, depth, oldest }));
                        last_report = oldest;
                    }
                }
                if bound.is_none() || !live {
                    held = None;
                }
            }
            let evictions: u64 = states.iter().flatten().map(State::evictions).sum();
            if evictions > evictions_seen {
                stats.evictions.fetch_add(evictions - evictions_seen, Relaxed);
                evictions_seen = evictions;
            }
        }
    })
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
    out: &mut Vec<Staged>,
    stats: &ReplayStats,
) {
    let planned = &plan.correlations[c];
    for alert in alerts.drain(..) {
        match alert.evidence.first().cloned() {
            Some(evidence) => {
                // The window's own start when chains are not tracked (a file replay).
                let born = chains.and_then(|t| t.born_of(&alert.group)).unwrap_or(alert.window_start_ms.min(alert.first_event_ts));
                forward_alert(plan, c, &alert.group, alert.window_start_ms, alert.window_end_ms, born, evidence, out, stats)
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
            out.push(Staged::Incident(Box::new(Incident::from_alert(planned.info.clone(), group, alert, measure, evidence_cap, Some))));
        }
    }
}

/// Passes an alert of planned correlation `c` (its group, window and one evidence event) to the
/// correlations it feeds, as projections for the next stage.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_alert(
    plan: &Plan,
    c: usize,
    group: &GroupKey,
    start: i64,
    end: i64,
    born: i64,
    evidence: EvidenceEvent,
    out: &mut Vec<Staged>,
    stats: &ReplayStats,
) {
    let planned = &plan.correlations[c];
    let group_values = if planned.feeds.is_empty() { Vec::new() } else { group.values() };
    for &(target, pos) in &planned.feeds {
        let deeper = &plan.correlations[target as usize];
        // The deeper correlation's group key for this position, read from this alert's group.
        let values: Option<Vec<GroupValue>> = deeper.group_fields[pos as usize]
            .iter()
            .map(|f| {
                let name = field::name((*f)?);
                planned.group_names.iter().position(|g| g == name).and_then(|i| group_values.get(i).cloned())
            })
            .collect();
        let Some(values) = values else {
            stats.missing_group.fetch_add(1, Relaxed);
            continue;
        };
        let measured = match deeper.kind {
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered | CorrelationKind::Absence => Measured::Rules(1u64 << pos),
            _ => Measured::Nothing,
        };
        // A stable tie-break for alerts at the same time: the correlation and window start.
        let origin = Origin { partition: u32::MAX, record: start as u64, sub: c as u32 };
        out.push(Staged::Forward(Projection { correlation: target, key: GroupKey::new(&values), ts: end, origin, measured, evidence: evidence.clone(), born }));
    }
}

/// Sums a per-rule counter vector for reports.
pub fn matches_per_rule(stats: &ReplayStats) -> Vec<u64> {
    stats.matches.iter().map(|m| m.load(Relaxed)).collect()
}

/// Per-rule incident counts (title -> count).
pub fn incidents_per_rule(stats: &ReplayStats) -> HashMap<String, u64> {
    stats.incidents.lock().map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect()).unwrap_or_default()
}
