//! Counters of a pipeline run in this process, shared by every stage of every worker: matches
//! per rule, incidents per rule, what was evicted, dropped or not written, and why.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Counters of a pipeline run in this process.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Matches per detection rule (by index).
    pub matches: Vec<AtomicU64>,
    /// Incidents written, by rule title.
    pub incidents: Mutex<BTreeMap<String, u64>>,
    /// Correlation keys evicted because of the key cap.
    pub evictions: AtomicU64,
    /// Projections dropped because an event lacked a group-by field.
    pub missing_group: AtomicU64,
    /// Projections dropped because an event lacked the value its correlation measures (the
    /// `value_count` field, a number for `value_sum`/`value_avg`/`value_percentile`, a
    /// baseline's field).
    pub missing_value: AtomicU64,
    /// Projections that reached a stage that does not evaluate their correlation: a class
    /// assignment that missed an input able to feed it (see [`super::lateness`]); not used.
    pub unrouted: AtomicU64,
    /// Operator states that could not be saved in or loaded from a checkpoint (each logged).
    pub checkpoint_errors: AtomicU64,
    /// Resumed with changed rules: records that waited for a changed or removed correlation,
    /// dropped with it.
    pub dropped_records_of_changed_rules: AtomicU64,
    /// Resumed with changed rules: saved correlation states (one per rule and worker that held
    /// it) of changed or removed rules, dropped.
    pub dropped_states_of_changed_rules: AtomicU64,
    /// The most live correlation keys at once (summed over workers and stages; baselines apart).
    pub correlation_peak_keys: AtomicU64,
    /// The most estimated state bytes at once (their tables, keys and windows).
    pub correlation_peak_bytes: AtomicU64,
    /// Failed deliveries of incidents to Kafka (each retried).
    pub delivery_errors: AtomicU64,
    /// Incidents derived again after a resume and not sent: the run before had delivered them.
    pub already_delivered: AtomicU64,
    /// Baseline rules' counters by rule title, summed over this process's workers.
    pub baselines: Mutex<BTreeMap<String, BaselineStats>>,
    /// The learning cut-off in effect (see [`super::plan::Learn`]), once known; `i64::MIN` before.
    pub cutoff_ms: AtomicI64,
    /// Incidents not written because their time is not after the cut-off.
    pub before_cutoff: AtomicU64,
}

/// Counters of one baseline rule on one worker, summed over workers in [`EngineStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BaselineStats {
    /// Most live entities at once.
    pub peak_entities: usize,
    /// Most state bytes at once: the tables' own estimate ([`crate::baseline::TableStats::state_bytes`]) plus
    /// the group keys kept to name entities in incidents.
    pub peak_bytes: usize,
    /// Most bytes of those group keys at once.
    pub peak_key_bytes: usize,
    /// Most bytes the peer-group judge held at once (waiting verdicts with what they carry,
    /// and the peer group).
    pub judge_peak_bytes: usize,
    /// Entities forgotten after the TTL.
    pub ttl_evictions: u64,
    /// Entities evicted by the entity cap.
    pub cap_evictions: u64,
    /// Events not used (out of order for their entity).
    pub rejected: u64,
    /// Values evicted or folded by the bounded structures.
    pub overflows: u64,
    /// Peer-group verdicts dropped by the waiting cap (tables and judge).
    pub pending_dropped: u64,
    /// Anomalies found.
    pub anomalies: u64,
}
impl BaselineStats {
    /// Adds another worker's counters (peaks add up: the workers hold their entities at once).
    pub fn add(&mut self, o: &BaselineStats) {
        self.peak_entities += o.peak_entities;
        self.peak_bytes += o.peak_bytes;
        self.peak_key_bytes += o.peak_key_bytes;
        self.judge_peak_bytes += o.judge_peak_bytes;
        self.ttl_evictions += o.ttl_evictions;
        self.cap_evictions += o.cap_evictions;
        self.rejected += o.rejected;
        self.overflows += o.overflows;
        self.pending_dropped += o.pending_dropped;
        self.anomalies += o.anomalies;
    }
}

/// Sums a per-rule counter vector for reports.
pub fn matches_per_rule(stats: &EngineStats) -> Vec<u64> {
    stats.matches.iter().map(|m| m.load(Relaxed)).collect()
}

/// Per-rule incident counts (title -> count).
pub fn incidents_per_rule(stats: &EngineStats) -> HashMap<String, u64> {
    stats.incidents.lock().map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect()).unwrap_or_default()
}
