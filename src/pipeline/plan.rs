//! The plan: the rule set compiled into what the stages evaluate. Which detection rules raise
//! incidents and which correlations they feed, each correlation's group-key fields and depth
//! (one exchange-and-correlate stage per depth of a chain of correlations), what is skipped and
//! why, suppression cool-downs, and how far back a restart must re-read.

use std::collections::HashMap;

use crate::baseline::AnomalyKind;
use crate::event::field::{self, FieldId};
use crate::incident::{RuleInfo, KIND_DETECTION};
use crate::rules::baseline::{BaselineKind, BaselineSpec};
use crate::rules::correlation::{CorrelationKind, ResolvedRef};
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

/// A baseline correlation as the pipeline evaluates it.
#[derive(Clone, Debug)]
pub struct PlannedBaseline {
    /// The rule's `x-vigil.baseline` block.
    pub spec: BaselineSpec,
    /// The measured field, interned.
    pub field: Option<FieldId>,
}

impl PlannedBaseline {
    /// Plans a baseline block.
    pub fn new(spec: BaselineSpec) -> Self {
        let field = spec.field.as_deref().and_then(field::intern);
        PlannedBaseline { spec, field }
    }

    /// Which anomaly kind the rule reports.
    pub fn kind(&self) -> AnomalyKind {
        match self.spec.kind {
            BaselineKind::Rate(_) => AnomalyKind::Rate,
            BaselineKind::NewValue(_) => AnomalyKind::NewValue,
            BaselineKind::Distinct(_) => AnomalyKind::Distinct,
            BaselineKind::Profile(_) => AnomalyKind::Profile,
        }
    }

    /// Whether matching events travel with their evidence (new values: the event is the finding).
    pub fn needs_evidence(&self) -> bool {
        matches!(self.spec.kind, BaselineKind::NewValue(_))
    }

    /// Whether entities too young for their own history are judged against the peer group.
    pub fn peer_group(&self) -> bool {
        self.spec.table.peer_fallback
    }

    pub(crate) fn shows_values(&self) -> bool {
        matches!(self.spec.kind, BaselineKind::NewValue(_) | BaselineKind::Profile(_))
    }
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
    /// The evaluated correlations' ids, in plan order (checkpoints record them).
    pub fn correlation_ids(&self) -> Vec<String> {
        self.correlations.iter().map(|c| c.info.id.clone()).collect()
    }

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
