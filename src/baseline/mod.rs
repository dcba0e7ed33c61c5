//! Per-entity incremental baselines: each entity's own history of a metric, learned from the
//! stream, and a verdict ([`Anomaly`]) when the entity departs from it.
//!
//! Pure state machines, independent of timely: the keyed operator owns one [`EntityTable`] per
//! baseline rule, hands each entity's events in event-time order to [`EntityTable::observe`]
//! (entity key as a `u64` hash, event time in ms, a `u64` value), and calls
//! [`EntityTable::advance`] whenever its input frontier (the watermark) moves. The entity's
//! display string stays with the caller (keyed by the same hash).
//!
//! | kind | module | input value | verdict |
//! | --- | --- | --- | --- |
//! | rate | [`rate`] | amount (1 per event, or bytes) | z-score of an interval's total against the entity's exponentially weighted mean and variance |
//! | new value | [`new_value`] | hash of the value | a value the entity has not used within the history window |
//! | distinct | [`distinct`] | hash of the value | z-score of an interval's distinct count (HyperLogLog) against its usual distinct count |
//! | profile | [`profile`] | hash of the category | total-variation distance between an interval's category shares and the usual shares |
//!
//! # Time
//!
//! Times are event times in ms since the Unix epoch. Intervals are aligned to the epoch:
//! interval `i` is `[i * interval_ms, (i + 1) * interval_ms)`, half-open. An entity's interval
//! closes, and is judged, at the entity's first event in a later interval or at the first
//! `advance(w)` with `w >= interval end`, whichever comes first; the verdict is the same either
//! way. A watermark promises that no later event is older; an event older than the watermark
//! or than its entity's previous event is not used and is counted in [`TableStats::rejected`].
//!
//! # Peer group
//!
//! An entity whose own history is below the kind's minimum is compared with a peer-group
//! baseline instead: one aggregate over every entity of the table (as Morpheus' digital
//! fingerprinting falls back to a generic model for users it has not learned yet). Every closed
//! interval of every entity feeds the peer group, through a per-interval *stage* whose content
//! does not depend on the order the entities arrived in (sums of integers, bottom-k sets by
//! hash). A stage is folded into the peer baseline only when its interval is complete (the
//! watermark passed its end), in interval order, and an entity's interval `i` is judged
//! against the peer baseline folded through interval `i - 1` exactly: if that is not yet
//! known, the verdict waits (it is then emitted by the `advance` call that completes
//! interval `i - 1`). At most [`TableConfig::max_pending`] verdicts wait; beyond that the one
//! with the largest (interval, entity) is dropped and counted in [`TableStats::pending_dropped`].
//!
//! Entities spread over several tables (one per worker) share one peer group through
//! [`EntityTable::export_peer_group`]: the tables hand out each complete interval's stage and
//! their peer verdicts ([`PeerRequest`]), and one [`PeerJudge`] merges the stages
//! ([`Baseline::merge_stage`]), folds and judges them, with exactly the verdicts of one table
//! holding every entity (property test `split_tables_with_a_judge_match_one_table`).
//!
//! # Determinism
//!
//! Verdicts are a function of each entity's own event sequence and, for peer-group verdicts,
//! of the per-interval multiset of all entities' events: they do not depend on how entities
//! interleave nor on the watermark schedule, as long as no entity is evicted by the entity cap
//! and no waiting verdict is dropped (both counted; which entity is least recently seen at a
//! given moment depends on arrival order). Idle entities are expired by event time: an entity
//! whose next event comes more than `ttl_ms` after its previous one starts afresh whether or not
//! the watermark already expired it. Hashing uses fixed seeds ([`FixedState`], [`mix64`]),
//! never `RandomState`. Verdicts from one `advance` call come out sorted by (interval end,
//! entity, value).
//!
//! # Memory
//!
//! An entity costs a fixed part (hash-map entry at 7/8 load plus a control byte, and an entry
//! in the last-seen index, taken at 1.5 times its size for B-tree nodes) plus its state's
//! inline size and heap. [`EntityTable::entity_bytes`] computes it for one state, and
//! [`TableStats::state_bytes`] sums it over the table (plus waiting verdicts and the peer
//! group). On 64-bit targets, measured by `tests::stated_bytes_per_entity`:
//!
//! | kind | bytes per entity |
//! | --- | --- |
//! | rate, no seasons | 122 |
//! | rate, hour of day (24 buckets) / day of week (7 buckets) | 674 / 266 |
//! | distinct, precision `p`, `n` distinct values in the open interval, exact (`n <= 2^p / 8`) | 158 + 8 per value of capacity (<= 1182 at `p = 10`) |
//! | distinct, precision `p`, dense (`n > 2^p / 8`) | 158 + 2^p (1182 at the default `p = 10`) |
//! | new value, `n` remembered values (`n <= capacity`, default 64) | 80 + 16 per value of capacity (<= 1104 at the default) |
//! | profile, `c` categories (`c <= max_categories`, default 8) | 116 + 16 per category of capacity (<= 244 at the default) |
//!
//! Vectors grow by half (capped at their limit) rather than double, so "capacity" above is at
//! most 1.5 times the count, and exactly the limit once full.
//!
//! Entities are capped ([`TableConfig::max_entities`]): a new entity beyond the cap evicts the
//! least recently seen one (ties by smaller key), counted in [`TableStats::cap_evictions`], so
//! memory is bounded under an attacker spraying random source addresses. The evicted entity's
//! open interval is dropped without a verdict and without feeding the peer group.
//!
//! # Checkpoints
//!
//! Every state type, the peer group and the table itself derive serde's `Serialize` and
//! `Deserialize`. Maps keyed by tuples need a non-JSON format such as bincode.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::mem::size_of;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub mod distinct;
pub mod new_value;
pub mod profile;
pub mod rate;
pub mod series;

pub use distinct::{Distinct, DistinctConfig, Hll};
pub use new_value::{NewValue, NewValueConfig};
pub use profile::{Profile, ProfileConfig, ProfilePending};
pub use rate::{Rate, RateConfig};
pub use series::{Deviation, Direction, EwStats, Seasonality};

use crate::event::entity::ROUTING_SEED;

/// Errors in a baseline's parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineError {
    /// A parameter is out of its range.
    #[error("baseline parameter {name} must be {expected}, got {got}")]
    Param {
        /// The parameter's name.
        name: &'static str,
        /// What it must be.
        expected: &'static str,
        /// The value given.
        got: String,
    },
}

/// Builds a [`BaselineError::Param`].
pub(crate) fn param_error(name: &'static str, expected: &'static str, got: impl std::fmt::Display) -> BaselineError {
    BaselineError::Param { name, expected, got: got.to_string() }
}

/// Which baseline produced an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AnomalyKind {
    /// Events or an amount per interval, against its usual rate.
    Rate,
    /// A value not seen for the entity within the history window.
    NewValue,
    /// Distinct values per interval, against the usual distinct count.
    Distinct,
    /// Category shares per interval, against the usual shares.
    Profile,
}

impl AnomalyKind {
    /// The kind's name in rules and output.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::Rate => "rate",
            AnomalyKind::NewValue => "new_value",
            AnomalyKind::Distinct => "distinct",
            AnomalyKind::Profile => "profile",
        }
    }
}

/// What the baseline expected instead of the observed value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Expected {
    /// The usual value: mean and standard deviation of the history (rate, distinct).
    Usual {
        /// Exponentially weighted mean.
        mean: f64,
        /// Exponentially weighted standard deviation (before the `min_std` floor).
        std: f64,
    },
    /// Nothing: the value was never seen (new value).
    FirstSeen,
    /// The usual share of the category whose share rose most (profile).
    Share {
        /// That category's hash, or `None` for the folded "other" category.
        category: Option<u64>,
        /// Its share in the interval.
        share: f64,
        /// Its usual share.
        usual_share: f64,
    },
}

/// One baseline verdict: an entity departed from its history (or its peer group's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Which baseline.
    pub kind: AnomalyKind,
    /// The entity key (hash; the caller keeps its display string).
    pub entity: u64,
    /// Start of the judged interval, inclusive (ms); for a new value, the event's time.
    pub interval_start_ms: i64,
    /// End of the judged interval, exclusive (ms); for a new value, the event's time + 1.
    pub interval_end_ms: i64,
    /// Observed value: total, distinct count, 1 for a new value, total-variation distance.
    pub observed: f64,
    /// What was expected.
    pub expected: Expected,
    /// Strength: z-score (rate, distinct), 1 (new value), total-variation distance (profile).
    pub score: f64,
    /// The new value's hash (new value) or the category that rose most (profile, `None` for "other").
    pub value: Option<u64>,
    /// True when judged against the peer group because the entity's own history was too short.
    pub peer: bool,
}

/// What one event or interval close decided for an entity.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<P> {
    /// Nothing to report.
    Quiet,
    /// An anomaly against the entity's own history.
    Anomaly(Anomaly),
    /// The entity's history is too short: judge `pending` against the peer group folded
    /// through interval `interval - 1`; `tag` tells apart several verdicts of one entity in
    /// one interval (the value hash for new values, 0 otherwise).
    Peer {
        /// The interval judged (index, in the kind's interval length).
        interval: i64,
        /// Distinguishes verdicts of one entity in one interval.
        tag: u64,
        /// What the peer group judges.
        pending: P,
    },
}

/// What a baseline kind may touch besides the entity's state: the peer-group stages and counters.
pub struct Context<'a, S> {
    stages: &'a mut BTreeMap<i64, S>,
    peer: bool,
    overflows: &'a mut u64,
}

impl<S: Default> Context<'_, S> {
    /// The peer-group stage of interval `idx`, or `None` when the table has no peer group.
    pub fn stage(&mut self, idx: i64) -> Option<&mut S> {
        if self.peer {
            Some(self.stages.entry(idx).or_default())
        } else {
            None
        }
    }

    /// Counts one value evicted or folded by a bounded structure.
    pub fn overflow(&mut self) {
        *self.overflows += 1;
    }
}

/// One kind of baseline: its parameters, and how an entity's state and the peer group evolve.
///
/// Contract: `observe` on a fresh state (from `new_state`) never closes an interval, so the
/// table returns at most one verdict per event. The kind is serde because checkpoints save it
/// with the state it parameterises.
pub trait Baseline: Serialize + DeserializeOwned {
    /// Per-entity state.
    type State: Clone + std::fmt::Debug + Serialize + DeserializeOwned;
    /// One interval's contribution of all entities to the peer group (order-independent).
    type Stage: Default + Clone + std::fmt::Debug + Serialize + DeserializeOwned;
    /// The peer-group baseline.
    type Peer: Clone + std::fmt::Debug + Serialize + DeserializeOwned;
    /// What a peer-group verdict needs from the entity.
    type Pending: Clone + std::fmt::Debug + Serialize + DeserializeOwned;

    /// Which anomaly kind this baseline reports.
    fn kind(&self) -> AnomalyKind;
    /// Interval length (ms): verdict intervals, and the peer group's folding step.
    fn interval_ms(&self) -> i64;
    /// Whether entities hold open intervals that the watermark must close.
    fn closes_intervals(&self) -> bool;
    /// The state of an entity first seen at `ts_ms`.
    fn new_state(&self, ts_ms: i64) -> Self::State;
    /// An empty peer group.
    fn new_peer(&self) -> Self::Peer;
    /// One event of the entity, in event-time order.
    fn observe(&self, state: &mut Self::State, entity: u64, ts_ms: i64, value: u64, cx: &mut Context<'_, Self::Stage>) -> Verdict<Self::Pending>;
    /// Closes the entity's open interval, if any (the watermark passed its end).
    fn close(&self, state: &mut Self::State, entity: u64, cx: &mut Context<'_, Self::Stage>) -> Verdict<Self::Pending>;
    /// Folds the complete interval `idx` into the peer group (called in interval order).
    fn fold(&self, peer: &mut Self::Peer, idx: i64, stage: Self::Stage);
    /// Merges `other` (the same interval's stage from another table) into `into`: the result
    /// is the stage one table holding both tables' entities would have built.
    fn merge_stage(&self, into: &mut Self::Stage, other: Self::Stage);
    /// Judges a waiting verdict against the peer group folded through `interval - 1`.
    fn judge_peer(&self, peer: &Self::Peer, entity: u64, interval: i64, tag: u64, pending: &Self::Pending) -> Option<Anomaly>;
    /// Heap bytes owned by a state.
    fn heap_bytes(state: &Self::State) -> usize;
    /// Heap bytes owned by the peer group.
    fn peer_heap_bytes(peer: &Self::Peer) -> usize;
}

/// Mixes a `u64` (the splitmix64 finalizer: a bijection with full avalanche), so callers may
/// pass small integers where a hash is expected.
pub fn mix64(x: u64) -> u64 {
    let mut z = x ^ ROUTING_SEED;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fixed-seed hasher builder for hash maps keyed by `u64` hashes: deterministic across runs
/// and machines (never `RandomState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FixedState;

/// The hasher of [`FixedState`].
#[derive(Debug, Clone, Copy)]
pub struct FixedHasher(u64);

impl BuildHasher for FixedState {
    type Hasher = FixedHasher;
    fn build_hasher(&self) -> FixedHasher {
        FixedHasher(ROUTING_SEED)
    }
}

impl Hasher for FixedHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = mix64(x ^ self.0.rotate_left(17));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Entity table limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TableConfig {
    /// Hard cap on live entities; a new one beyond it evicts the least recently seen.
    pub max_entities: usize,
    /// An entity idle (in event time) for more than this is forgotten (ms, at least one interval).
    pub ttl_ms: i64,
    /// Judge entities with too short a history against the peer group (else they stay silent).
    pub peer_fallback: bool,
    /// Cap on peer-group verdicts waiting for their interval's predecessor to complete.
    pub max_pending: usize,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig { max_entities: 100_000, ttl_ms: 7 * 24 * 3_600_000, peer_fallback: true, max_pending: 100_000 }
    }
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    /// Live entities.
    pub entities: usize,
    /// Estimated bytes of state: entities, waiting verdicts, peer group.
    pub state_bytes: usize,
    /// Entities forgotten after `ttl_ms` idle.
    pub ttl_evictions: u64,
    /// Entities evicted by the entity cap.
    pub cap_evictions: u64,
    /// Events not used: older than the watermark or than their entity's previous event.
    pub rejected: u64,
    /// Peer-group verdicts waiting.
    pub pending: usize,
    /// Waiting verdicts dropped by `max_pending`.
    pub pending_dropped: u64,
    /// Values evicted or folded into "other" by the kinds' bounded structures.
    pub overflows: u64,
}

/// One entity's state and when it was last seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slot<S> {
    state: S,
    last_seen: i64,
}

/// Key of a waiting peer verdict: (interval, entity, tag, arrival number). The arrival number
/// keeps apart verdicts of one entity with the same tag (a value new twice in one interval after
/// an eviction); it orders only those, whose order is the entity's own.
type PendingKey = (i64, u64, u64, u64);

/// A peer-group verdict a table in export mode hands out (see [`EntityTable::export_peer_group`]):
/// judge it with a [`PeerJudge`] that receives every table's stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerRequest<P> {
    /// The interval judged (index, in the kind's interval length).
    pub interval: i64,
    /// The entity.
    pub entity: u64,
    /// Distinguishes verdicts of one entity in one interval (the value hash for new values).
    pub tag: u64,
    /// What the peer group judges.
    pub pending: P,
}

/// The peer group: per-interval stages, the folded baseline and the verdicts waiting for it.
/// `X` is what the caller attaches to a waiting verdict and gets back with its anomaly.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "X: Serialize", deserialize = "X: DeserializeOwned"))]
struct PeerCore<B: Baseline, X> {
    peer: B::Peer,
    stages: BTreeMap<i64, B::Stage>,
    pending: BTreeMap<PendingKey, (B::Pending, X)>,
    /// Arrival number of the next waiting verdict.
    seq: u64,
    /// Highest interval known complete (and folded into the peer group).
    complete: i64,
    max_pending: usize,
    pending_dropped: u64,
}

impl<B: Baseline, X> PeerCore<B, X> {
    fn new(kind: &B, max_pending: usize) -> Self {
        PeerCore { peer: kind.new_peer(), stages: BTreeMap::new(), pending: BTreeMap::new(), seq: 0, complete: i64::MIN, max_pending, pending_dropped: 0 }
    }

    /// Judges a verdict now if its predecessor interval is folded, else queues it (within
    /// `max_pending`, dropping the largest key beyond).
    fn request(&mut self, kind: &B, req: PeerRequest<B::Pending>, extra: X) -> Option<(Anomaly, X)> {
        let PeerRequest { interval, entity, tag, pending } = req;
        if self.complete >= interval.saturating_sub(1) {
            debug_assert_eq!(self.complete, interval.saturating_sub(1), "the peer group folded the judged interval");
            return kind.judge_peer(&self.peer, entity, interval, tag, &pending).map(|a| (a, extra));
        }
        self.seq += 1;
        let key = (interval, entity, tag, self.seq);
        if self.pending.len() >= self.max_pending {
            self.pending_dropped += 1;
            match self.pending.last_key_value() {
                Some((last, _)) if *last > key => {
                    self.pending.pop_last();
                }
                _ => return None,
            }
        }
        self.pending.insert(key, (pending, extra));
        None
    }

    /// Intervals up to `complete` are complete: folds them into the peer group in order,
    /// judging each waiting verdict when its predecessor interval is folded.
    fn settle(&mut self, kind: &B, complete: i64, out: &mut Vec<(Anomaly, X)>) {
        if complete <= self.complete {
            return;
        }
        while let Some((&(interval, ..), _)) = self.pending.first_key_value() {
            if interval.saturating_sub(1) > complete {
                break;
            }
            self.fold_through(kind, interval.saturating_sub(1));
            while let Some(entry) = self.pending.first_entry() {
                if entry.key().0 != interval {
                    break;
                }
                let ((i, entity, tag, _), (p, extra)) = entry.remove_entry();
                if let Some(a) = kind.judge_peer(&self.peer, entity, i, tag, &p) {
                    out.push((a, extra));
                }
            }
        }
        self.fold_through(kind, complete);
        self.complete = complete;
    }

    fn fold_through(&mut self, kind: &B, upto: i64) {
        while let Some(entry) = self.stages.first_entry() {
            if *entry.key() > upto {
                break;
            }
            let (idx, stage) = entry.remove_entry();
            kind.fold(&mut self.peer, idx, stage);
        }
    }

    fn pending_bytes(&self) -> usize {
        self.pending.len() * size_of::<(PendingKey, (B::Pending, X))>() * 3 / 2
    }
}

/// Baselines of many entities of one kind, with expiry, a cap and a peer group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "B: Serialize", deserialize = "B: DeserializeOwned"))]
pub struct EntityTable<B: Baseline> {
    kind: B,
    config: TableConfig,
    map: HashMap<u64, Slot<B::State>, FixedState>,
    /// (last seen, entity) for expiry, eviction and closing intervals.
    by_seen: BTreeSet<(i64, u64)>,
    core: PeerCore<B, ()>,
    /// Export mode: peer verdicts and complete stages leave the table instead of being judged
    /// and folded here.
    export: bool,
    exported_stages: Vec<(i64, B::Stage)>,
    exported_requests: Vec<PeerRequest<B::Pending>>,
    /// Entities last seen before this time have had their intervals closed.
    cut: i64,
    watermark: i64,
    heap: usize,
    ttl_evictions: u64,
    cap_evictions: u64,
    rejected: u64,
    overflows: u64,
}

impl<B: Baseline> EntityTable<B> {
    /// A table of baselines of `kind` within `config`'s limits.
    pub fn new(kind: B, config: TableConfig) -> Result<Self, BaselineError> {
        if config.max_entities == 0 {
            return Err(param_error("max_entities", "at least 1", config.max_entities));
        }
        if config.ttl_ms < kind.interval_ms() {
            return Err(param_error("ttl_ms", "at least one interval", config.ttl_ms));
        }
        if config.max_pending == 0 {
            return Err(param_error("max_pending", "at least 1", config.max_pending));
        }
        let core = PeerCore::new(&kind, config.max_pending);
        Ok(EntityTable {
            kind,
            config,
            map: HashMap::with_hasher(FixedState),
            by_seen: BTreeSet::new(),
            core,
            export: false,
            exported_stages: Vec::new(),
            exported_requests: Vec::new(),
            cut: i64::MIN,
            watermark: i64::MIN,
            heap: 0,
            ttl_evictions: 0,
            cap_evictions: 0,
            rejected: 0,
            overflows: 0,
        })
    }

    /// The baseline kind and its parameters.
    pub fn kind(&self) -> &B {
        &self.kind
    }

    /// The limits.
    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// The peer-group baseline (empty in export mode: the [`PeerJudge`] holds it).
    pub fn peer(&self) -> &B::Peer {
        &self.core.peer
    }

    /// Export mode, for entities spread over several tables (one per worker) that share one
    /// peer group: peer-group verdicts ([`PeerRequest`]s) and each interval's stage, once the
    /// watermark completes it, leave the table through [`EntityTable::take_peer_output`]
    /// instead of being judged and folded here; a [`PeerJudge`] that receives every table's
    /// output gives exactly the anomalies one table holding all entities would. Call before
    /// the first event; without `peer_fallback` nothing is exported.
    pub fn export_peer_group(&mut self) {
        self.export = true;
    }

    /// Moves the exported stages (interval, stage) and peer verdicts out, in the order made.
    pub fn take_peer_output(&mut self, stages: &mut Vec<(i64, B::Stage)>, requests: &mut Vec<PeerRequest<B::Pending>>) {
        stages.append(&mut self.exported_stages);
        requests.append(&mut self.exported_requests);
    }

    /// Adds `other`'s entities that `keep` accepts (a checkpoint divided by entity among
    /// another number of tables), in `other`'s last-seen order, evicting past the cap as
    /// [`EntityTable::observe`] does. With `owner`, also what belongs to no entity: `other`'s
    /// shares of the open intervals (merged into this table's, as the judge sums every
    /// table's anyway) and its counters. For tables in export mode: a table that folds its own
    /// peer group cannot be divided (its folded history is everyone's).
    pub fn absorb(&mut self, mut other: EntityTable<B>, keep: &dyn Fn(u64) -> bool, owner: bool) {
        // Tables are saved at a cut after advancing to it, so both are the cut's.
        self.watermark = self.watermark.max(other.watermark);
        self.cut = self.cut.max(other.cut);
        if owner {
            for (idx, stage) in std::mem::take(&mut other.core.stages) {
                match self.core.stages.entry(idx) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(stage);
                    }
                    std::collections::btree_map::Entry::Occupied(mut o) => self.kind.merge_stage(o.get_mut(), stage),
                }
            }
            self.exported_stages.append(&mut other.exported_stages);
            self.exported_requests.append(&mut other.exported_requests);
            self.ttl_evictions += other.ttl_evictions;
            self.cap_evictions += other.cap_evictions;
            self.rejected += other.rejected;
            self.overflows += other.overflows;
            self.core.pending_dropped += other.core.pending_dropped;
        }
        for (_, entity) in std::mem::take(&mut other.by_seen) {
            let Some(slot) = other.map.remove(&entity) else { continue };
            if !keep(entity) || self.map.contains_key(&entity) {
                continue;
            }
            if self.map.len() >= self.config.max_entities {
                self.evict_least_recent();
            }
            self.heap += B::heap_bytes(&slot.state);
            self.by_seen.insert((slot.last_seen, entity));
            self.map.insert(entity, slot);
        }
    }

    /// Exported stages and verdicts not yet taken.
    pub fn peer_output_len(&self) -> usize {
        self.exported_stages.len() + self.exported_requests.len()
    }

    /// The state of `entity`, if it is live.
    pub fn state(&self, entity: u64) -> Option<&B::State> {
        self.map.get(&entity).map(|s| &s.state)
    }

    /// Live entities.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no entity is live.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Fixed bytes per live entity: map entry, index entry and the state's inline size.
    pub fn fixed_bytes_per_entity() -> usize {
        (size_of::<(u64, Slot<B::State>)>() + 1) * 8 / 7 + size_of::<(i64, u64)>() * 3 / 2
    }

    /// Bytes one entity with `state` costs: the fixed part plus the state's heap.
    pub fn entity_bytes(state: &B::State) -> usize {
        Self::fixed_bytes_per_entity() + B::heap_bytes(state)
    }

    /// Counters.
    pub fn stats(&self) -> TableStats {
        TableStats {
            entities: self.map.len(),
            state_bytes: self.map.len() * Self::fixed_bytes_per_entity() + self.heap + self.core.pending_bytes() + B::peer_heap_bytes(&self.core.peer),
            ttl_evictions: self.ttl_evictions,
            cap_evictions: self.cap_evictions,
            rejected: self.rejected,
            pending: self.core.pending.len(),
            pending_dropped: self.core.pending_dropped,
            overflows: self.overflows,
        }
    }

    /// One event of `entity` at `ts_ms` with `value` (see each kind for what the value is).
    /// Events of one entity must come in event-time order, and none older than the watermark.
    /// Returns the verdict this event decided, if any: the close of the entity's previous
    /// interval (interval kinds) or the event itself (new value).
    pub fn observe(&mut self, entity: u64, ts_ms: i64, value: u64) -> Option<Anomaly> {
        if ts_ms < self.watermark {
            self.rejected += 1;
            return None;
        }
        let mut cx = Context { stages: &mut self.core.stages, peer: self.config.peer_fallback, overflows: &mut self.overflows };
        let (closed, verdict) = match self.map.get_mut(&entity) {
            Some(slot) => {
                if ts_ms < slot.last_seen {
                    self.rejected += 1;
                    return None;
                }
                let before = B::heap_bytes(&slot.state);
                let mut closed = Verdict::Quiet;
                if ts_ms.saturating_sub(slot.last_seen) > self.config.ttl_ms {
                    // Idle past the TTL: forget, exactly as the watermark would have.
                    if self.kind.closes_intervals() {
                        closed = self.kind.close(&mut slot.state, entity, &mut cx);
                    }
                    slot.state = self.kind.new_state(ts_ms);
                    self.ttl_evictions += 1;
                }
                let verdict = self.kind.observe(&mut slot.state, entity, ts_ms, value, &mut cx);
                self.heap = self.heap + B::heap_bytes(&slot.state) - before;
                self.by_seen.remove(&(slot.last_seen, entity));
                slot.last_seen = ts_ms;
                self.by_seen.insert((ts_ms, entity));
                (closed, verdict)
            }
            None => {
                let mut state = self.kind.new_state(ts_ms);
                let verdict = self.kind.observe(&mut state, entity, ts_ms, value, &mut cx);
                if self.map.len() >= self.config.max_entities {
                    self.evict_least_recent();
                }
                self.heap += B::heap_bytes(&state);
                self.map.insert(entity, Slot { state, last_seen: ts_ms });
                self.by_seen.insert((ts_ms, entity));
                (Verdict::Quiet, verdict)
            }
        };
        let closed = self.route(entity, closed);
        let verdict = self.route(entity, verdict);
        debug_assert!(closed.is_none() || verdict.is_none(), "a fresh state closed an interval");
        closed.or(verdict)
    }

    /// The watermark moved to `watermark_ms`: closes the intervals it completed, folds them into
    /// the peer group, judges waiting verdicts, forgets idle entities, and appends the verdicts
    /// to `out` sorted by (interval end, entity, value). A lower watermark changes nothing.
    pub fn advance(&mut self, watermark_ms: i64, out: &mut Vec<Anomaly>) {
        if watermark_ms <= self.watermark {
            return;
        }
        self.watermark = watermark_ms;
        let iv = self.kind.interval_ms();
        let widx = watermark_ms.div_euclid(iv);
        let mut found = Vec::new();
        if self.kind.closes_intervals() {
            let cut = widx.saturating_mul(iv);
            if cut > self.cut {
                let keys: Vec<u64> = self.by_seen.range((self.cut, 0)..(cut, 0)).map(|&(_, k)| k).collect();
                self.cut = cut;
                for entity in keys {
                    let Some(slot) = self.map.get_mut(&entity) else { continue };
                    let mut cx = Context { stages: &mut self.core.stages, peer: self.config.peer_fallback, overflows: &mut self.overflows };
                    let before = B::heap_bytes(&slot.state);
                    let verdict = self.kind.close(&mut slot.state, entity, &mut cx);
                    self.heap = self.heap + B::heap_bytes(&slot.state) - before;
                    found.extend(self.route(entity, verdict));
                }
            }
        }
        let complete = widx.saturating_sub(1);
        if self.export {
            while let Some(entry) = self.core.stages.first_entry() {
                if *entry.key() > complete {
                    break;
                }
                self.exported_stages.push(entry.remove_entry());
            }
        } else {
            let mut judged = Vec::new();
            self.core.settle(&self.kind, complete, &mut judged);
            found.extend(judged.into_iter().map(|(a, ())| a));
        }
        self.expire(watermark_ms);
        found.sort_by_key(|a| (a.interval_end_ms, a.entity, a.value));
        out.append(&mut found);
    }

    fn evict_least_recent(&mut self) {
        if let Some((_, victim)) = self.by_seen.pop_first() {
            if let Some(slot) = self.map.remove(&victim) {
                self.heap -= B::heap_bytes(&slot.state);
            }
            self.cap_evictions += 1;
        }
    }

    /// Forgets entities idle for more than the TTL at watermark `w`.
    fn expire(&mut self, w: i64) {
        let limit = w.saturating_sub(self.config.ttl_ms);
        while let Some(&(seen, entity)) = self.by_seen.first() {
            if seen >= limit {
                break;
            }
            self.by_seen.pop_first();
            if let Some(slot) = self.map.remove(&entity) {
                self.heap -= B::heap_bytes(&slot.state);
            }
            self.ttl_evictions += 1;
        }
    }

    /// Turns a verdict into an anomaly now, or queues (or exports) it for the peer group.
    fn route(&mut self, entity: u64, verdict: Verdict<B::Pending>) -> Option<Anomaly> {
        match verdict {
            Verdict::Quiet => None,
            Verdict::Anomaly(a) => Some(a),
            Verdict::Peer { interval, tag, pending } => {
                if !self.config.peer_fallback {
                    return None;
                }
                let req = PeerRequest { interval, entity, tag, pending };
                if self.export {
                    self.exported_requests.push(req);
                    return None;
                }
                self.core.request(&self.kind, req, ()).map(|(a, ())| a)
            }
        }
    }
}

/// The peer group of entities spread over several tables in export mode
/// ([`EntityTable::export_peer_group`]): receives every table's complete stages and peer
/// verdicts, folds the stages in interval order once the watermark completes them, and judges
/// each verdict of interval `i` against the peer group folded through `i - 1`, exactly as one
/// table would. `X` is whatever the caller attaches to a verdict (the entity's display name,
/// say) and gets back with its anomaly.
///
/// Contract (what makes the result independent of how entities are spread): a table's stage of
/// interval `i` and its verdicts of interval `i` reach the judge before the judge's watermark
/// passes the end of interval `i`; a table exports them while its own watermark is still below
/// that end, so a dataflow that sends them at a time no later than the table's watermark keeps
/// it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "B: Serialize, X: Serialize", deserialize = "B: DeserializeOwned, X: DeserializeOwned"))]
pub struct PeerJudge<B: Baseline, X> {
    kind: B,
    core: PeerCore<B, X>,
    watermark: i64,
    late_stages: u64,
}

impl<B: Baseline, X> PeerJudge<B, X> {
    /// A judge for tables of `kind`, keeping at most `max_pending` verdicts waiting.
    pub fn new(kind: B, max_pending: usize) -> Result<Self, BaselineError> {
        if max_pending == 0 {
            return Err(param_error("max_pending", "at least 1", max_pending));
        }
        let core = PeerCore::new(&kind, max_pending);
        Ok(PeerJudge { kind, core, watermark: i64::MIN, late_stages: 0 })
    }

    /// The peer-group baseline.
    pub fn peer(&self) -> &B::Peer {
        &self.core.peer
    }

    /// One table's stage of interval `idx`, merged with the other tables' stages of it.
    pub fn add_stage(&mut self, idx: i64, stage: B::Stage) {
        if idx <= self.core.complete {
            // Already folded: the contract was broken; counted rather than folded out of order.
            self.late_stages += 1;
            return;
        }
        match self.core.stages.entry(idx) {
            std::collections::btree_map::Entry::Occupied(mut e) => self.kind.merge_stage(e.get_mut(), stage),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(stage);
            }
        }
    }

    /// One peer verdict with what the caller attaches to it: judged now when its predecessor
    /// interval is folded, else when [`PeerJudge::advance`] folds it.
    pub fn request(&mut self, req: PeerRequest<B::Pending>, extra: X) -> Option<(Anomaly, X)> {
        self.core.request(&self.kind, req, extra)
    }

    /// The watermark moved: folds the intervals it completed and appends the verdicts judged,
    /// in (interval, entity, tag) order.
    pub fn advance(&mut self, watermark_ms: i64, out: &mut Vec<(Anomaly, X)>) {
        if watermark_ms <= self.watermark {
            return;
        }
        self.watermark = watermark_ms;
        let widx = watermark_ms.div_euclid(self.kind.interval_ms());
        self.core.settle(&self.kind, widx.saturating_sub(1), out);
    }

    /// Verdicts waiting.
    pub fn pending(&self) -> usize {
        self.core.pending.len()
    }

    /// Verdicts dropped by the `max_pending` cap.
    pub fn pending_dropped(&self) -> u64 {
        self.core.pending_dropped
    }

    /// Stages that arrived after their interval was folded (a broken contract; not used).
    pub fn late_stages(&self) -> u64 {
        self.late_stages
    }

    /// True when nothing waits (no stage, no verdict).
    pub fn is_idle(&self) -> bool {
        self.core.pending.is_empty() && self.core.stages.is_empty()
    }

    /// Estimated bytes held: waiting verdicts (not counting the heap of `X`) and the peer group.
    pub fn state_bytes(&self) -> usize {
        self.core.pending_bytes() + B::peer_heap_bytes(&self.core.peer)
    }
}

/// The interval index of `ts` (intervals aligned to the epoch).
pub(crate) fn interval_of(ts: i64, interval_ms: i64) -> i64 {
    ts.div_euclid(interval_ms)
}

/// `[start, end)` of interval `idx`.
pub(crate) fn interval_bounds(idx: i64, interval_ms: i64) -> (i64, i64) {
    let start = idx.saturating_mul(interval_ms);
    (start, start.saturating_add(interval_ms))
}

/// `1 - 2^(-1 / half_life)`: the weight of the newest observation in an exponentially weighted
/// average whose older observations lose half their weight every `half_life` steps.
pub fn alpha_from_half_life(half_life: f64) -> Result<f64, BaselineError> {
    if !(half_life.is_finite() && half_life > 0.0) {
        return Err(param_error("half_life", "a positive number of intervals", half_life));
    }
    Ok(1.0 - 0.5f64.powf(1.0 / half_life))
}

/// Makes room for one more element, growing the capacity by half (at least one, at most up to
/// `limit`) instead of doubling, since per-entity memory matters more than the copies.
pub(crate) fn grow<T>(v: &mut Vec<T>, limit: usize) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 2).min(limit.saturating_sub(v.len())).max(1));
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// Feeds `events` (entity, ts, value) in the given order with an advance to each event's
    /// time after it (when `advance_each`), then a final advance; returns all verdicts sorted.
    pub fn run<B: Baseline>(table: &mut EntityTable<B>, events: &[(u64, i64, u64)], advance_each: bool, end: i64) -> Vec<Anomaly> {
        let mut out = Vec::new();
        for &(e, t, v) in events {
            out.extend(table.observe(e, t, v));
            if advance_each {
                table.advance(t, &mut out);
            }
        }
        table.advance(end, &mut out);
        canonical(out)
    }

    /// Verdicts in a canonical order, for comparing sets.
    pub fn canonical(mut v: Vec<Anomaly>) -> Vec<Anomaly> {
        v.sort_by_key(|a| (a.interval_end_ms, a.entity, a.value, a.interval_start_ms));
        v
    }

    /// Per-entity streams merged in time order, ties between entities broken by `salt`.
    pub fn interleave(per_entity: &[Vec<(i64, u64)>], salt: u64) -> Vec<(u64, i64, u64)> {
        let mut all: Vec<(i64, u64, u64, usize)> = per_entity
            .iter()
            .enumerate()
            .flat_map(|(k, evs)| evs.iter().enumerate().map(move |(i, (t, _))| (*t, mix64(k as u64 ^ salt), k as u64, i)))
            .collect();
        all.sort();
        all.into_iter().map(|(t, _, k, i)| (k + 1000, t, per_entity[k as usize][i].1)).collect()
    }

    /// Per-entity streams one entity after another.
    pub fn sequential(per_entity: &[Vec<(i64, u64)>]) -> Vec<(u64, i64, u64)> {
        per_entity.iter().enumerate().flat_map(|(k, evs)| evs.iter().map(move |&(t, v)| (k as u64 + 1000, t, v))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    fn rate_table(cap: usize, ttl: i64, peer: bool) -> EntityTable<Rate> {
        let dev = Deviation { half_life: 5.0, min_history: 3, threshold: 3.0, min_std: 1.0, ..Deviation::default() };
        EntityTable::new(
            Rate::new(RateConfig { interval_ms: 10, deviation: dev }).unwrap(),
            TableConfig { max_entities: cap, ttl_ms: ttl, peer_fallback: peer, max_pending: 1000 },
        )
        .unwrap()
    }

    #[test]
    fn rejects_bad_limits() {
        let rate = || Rate::new(RateConfig { interval_ms: 10, deviation: Deviation::default() }).unwrap();
        assert!(EntityTable::new(rate(), TableConfig { max_entities: 0, ..TableConfig::default() }).is_err());
        assert!(EntityTable::new(rate(), TableConfig { ttl_ms: 9, ..TableConfig::default() }).is_err());
        assert!(EntityTable::new(rate(), TableConfig { max_pending: 0, ..TableConfig::default() }).is_err());
    }

    #[test]
    fn cap_evicts_least_recently_seen_ties_by_key() {
        let mut t = rate_table(2, 1_000, false);
        t.observe(5, 0, 1);
        t.observe(3, 0, 1);
        t.observe(9, 1, 1);
        // 3 and 5 were both seen at 0: the smaller key goes first.
        assert!(t.state(3).is_none() && t.state(5).is_some() && t.state(9).is_some());
        t.observe(5, 2, 1);
        t.observe(7, 3, 1);
        assert!(t.state(9).is_none() && t.state(5).is_some() && t.state(7).is_some());
        assert_eq!(t.stats().cap_evictions, 2);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn ttl_expires_by_watermark_and_by_next_event_alike() {
        let mut t = rate_table(10, 100, false);
        let mut out = Vec::new();
        t.observe(1, 0, 1);
        t.observe(2, 0, 1);
        t.advance(100, &mut out);
        assert_eq!(t.len(), 2, "idle exactly ttl is kept");
        t.advance(101, &mut out);
        assert_eq!((t.len(), t.stats().ttl_evictions), (0, 2));
        // Without the watermark, the next event finds the entity expired all the same.
        let mut u = rate_table(10, 100, false);
        u.observe(1, 0, 1);
        u.observe(1, 101, 1);
        assert_eq!(u.stats().ttl_evictions, 1);
        let mut fresh = rate_table(10, 100, false);
        fresh.observe(1, 101, 1);
        assert_eq!(format!("{:?}", u.state(1)), format!("{:?}", fresh.state(1)));
        assert_eq!(t.stats().state_bytes, 0);
    }

    #[test]
    fn late_and_out_of_order_events_are_rejected() {
        let mut t = rate_table(10, 1000, false);
        let mut out = Vec::new();
        t.observe(1, 50, 1);
        t.observe(1, 40, 1);
        t.advance(60, &mut out);
        t.observe(2, 59, 1);
        assert_eq!(t.stats().rejected, 2);
    }

    #[test]
    fn pending_cap_keeps_the_smallest_keys() {
        let dev = Deviation { min_history: 3, ..Deviation::default() };
        let rate = Rate::new(RateConfig { interval_ms: 10, deviation: dev }).unwrap();
        let mut t = EntityTable::new(rate, TableConfig { max_entities: 100, ttl_ms: 1000, peer_fallback: true, max_pending: 2 }).unwrap();
        for e in [4u64, 1, 3, 2] {
            t.observe(e, 5, 1);
            t.observe(e, 15, 1);
        }
        let s = t.stats();
        assert_eq!((s.pending, s.pending_dropped), (2, 2));
        assert_eq!(t.core.pending.keys().map(|k| k.1).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn fixed_hasher_is_deterministic() {
        let h = |x: u64| FixedState.hash_one(x);
        assert_eq!(h(42), h(42));
        assert_ne!(h(42), h(43));
        let mut buckets = [0usize; 8];
        for i in 0..8000u64 {
            buckets[(h(i) % 8) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n > 850), "{buckets:?}");
    }

    /// The per-entity byte counts stated in the module docs.
    #[test]
    fn stated_bytes_per_entity() {
        let dev = |s| Deviation { seasonality: s, ..Deviation::default() };
        let rate = |s| Rate::new(RateConfig { interval_ms: 60_000, deviation: dev(s) }).unwrap();
        let bytes_rate = |s| EntityTable::<Rate>::entity_bytes(&rate(s).new_state(0));
        assert!(bytes_rate(Seasonality::None) <= 122, "{}", bytes_rate(Seasonality::None));
        assert!(bytes_rate(Seasonality::HourOfDay) <= 674, "{}", bytes_rate(Seasonality::HourOfDay));
        assert!(bytes_rate(Seasonality::DayOfWeek) <= 266, "{}", bytes_rate(Seasonality::DayOfWeek));

        let distinct = Distinct::new(DistinctConfig { interval_ms: 60_000, precision: 10, deviation: Deviation::default() }).unwrap();
        let mut st = distinct.new_state(0);
        let mut stages = BTreeMap::new();
        let mut overflows = 0;
        let mut cx = Context { stages: &mut stages, peer: false, overflows: &mut overflows };
        assert!(EntityTable::<Distinct>::entity_bytes(&st) <= 158, "{}", EntityTable::<Distinct>::entity_bytes(&st));
        for v in 0..128u64 {
            distinct.observe(&mut st, 1, 0, v, &mut cx);
            let n = v as usize + 1;
            assert!(EntityTable::<Distinct>::entity_bytes(&st) <= 158 + 8 * (n + n / 2).min(128), "{v}");
        }
        assert!(st.accumulator().is_exact());
        assert!(EntityTable::<Distinct>::entity_bytes(&st) <= 1182, "{}", EntityTable::<Distinct>::entity_bytes(&st));
        for v in 128..10_000u64 {
            distinct.observe(&mut st, 1, 0, v, &mut cx);
        }
        assert!(!st.accumulator().is_exact());
        assert!(EntityTable::<Distinct>::entity_bytes(&st) <= 1182, "{}", EntityTable::<Distinct>::entity_bytes(&st));

        let nv = NewValue::new(NewValueConfig::default()).unwrap();
        let mut st = nv.new_state(0);
        let mut stages = BTreeMap::new();
        let mut cx = Context { stages: &mut stages, peer: false, overflows: &mut overflows };
        assert!(EntityTable::<NewValue>::entity_bytes(&st) <= 80);
        for v in 0..200u64 {
            nv.observe(&mut st, 1, v as i64, v, &mut cx);
            let n = (v as usize + 1).min(64);
            assert!(EntityTable::<NewValue>::entity_bytes(&st) <= 80 + 16 * (n + n / 2).min(64), "{v}");
        }
        assert!(EntityTable::<NewValue>::entity_bytes(&st) <= 1104, "{}", EntityTable::<NewValue>::entity_bytes(&st));

        let pr = Profile::new(ProfileConfig::default()).unwrap();
        let mut st = pr.new_state(0);
        let mut stages = BTreeMap::new();
        let mut cx = Context { stages: &mut stages, peer: false, overflows: &mut overflows };
        assert!(EntityTable::<Profile>::entity_bytes(&st) <= 116);
        for v in 0..20u64 {
            pr.observe(&mut st, 1, 0, v, &mut cx);
        }
        assert!(EntityTable::<Profile>::entity_bytes(&st) <= 244, "{}", EntityTable::<Profile>::entity_bytes(&st));
    }

    #[test]
    fn tables_divided_by_entity_give_the_verdicts_of_the_whole() {
        // Two tables in export mode (entities split by parity) are saved mid-interval, then
        // divided among three by entity modulo 3; the judged verdicts equal those of the two
        // running on.
        let feed = |tables: &mut [EntityTable<Rate>], route: &dyn Fn(u64) -> usize, from: i64, to: i64, out: &mut Vec<Anomaly>| {
            for i in from..to {
                // A newcomer every fifth event (judged by the peer group), a busy entity (whose
                // next event closes its interval ahead of the watermark: a share of an open
                // interval at the cut), and eleven regulars.
                let entity = match i {
                    _ if i % 5 == 0 => 1000 + i as u64,
                    _ if i % 2 == 0 => 0,
                    _ => (i % 11) as u64,
                };
                let v = if i == 301 || i == 350 { 90 } else { 1 + (i as u64 % 3) };
                out.extend(tables[route(entity)].observe(entity, i * 7, v));
                for t in tables.iter_mut() {
                    t.advance(i * 7 - 20, out);
                }
            }
        };
        let judge_all = |tables: &mut [EntityTable<Rate>], judge: &mut PeerJudge<Rate, ()>, out: &mut Vec<Anomaly>| {
            let (mut stages, mut requests) = (Vec::new(), Vec::new());
            for t in tables.iter_mut() {
                t.take_peer_output(&mut stages, &mut requests);
            }
            for (i, s) in stages {
                judge.add_stage(i, s);
            }
            for r in requests {
                out.extend(judge.request(r, ()).map(|(a, ())| a));
            }
        };
        let make = || {
            let mut t = rate_table(100, 1 << 40, true);
            t.export_peer_group();
            t
        };
        let kind = || make().kind().clone();
        let run = |split_at: Option<i64>| {
            let mut tables = vec![make(), make()];
            let mut judge = PeerJudge::<Rate, ()>::new(kind(), 1000).unwrap();
            let mut out = Vec::new();
            let mut judged = Vec::new();
            let cut = split_at.unwrap_or(400);
            feed(&mut tables, &|e| (e % 2) as usize, 0, cut, &mut out);
            judge_all(&mut tables, &mut judge, &mut judged);
            let route3 = |e: u64| (e % 3) as usize;
            let mut tables = match split_at {
                Some(_) => {
                    let saved: Vec<EntityTable<Rate>> = tables.iter().map(|t| bincode::deserialize(&bincode::serialize(t).unwrap()).unwrap()).collect();
                    let mut three = vec![make(), make(), make()];
                    for (old, t) in saved.into_iter().enumerate() {
                        for (new, n) in three.iter_mut().enumerate() {
                            n.absorb(t.clone(), &|e| route3(e) == new, old % 3 == new);
                        }
                    }
                    three
                }
                None => tables,
            };
            let route: Box<dyn Fn(u64) -> usize> = if split_at.is_some() { Box::new(route3) } else { Box::new(|e| (e % 2) as usize) };
            feed(&mut tables, &*route, cut, 400, &mut out);
            for t in tables.iter_mut() {
                t.advance(i64::MAX, &mut out);
            }
            judge_all(&mut tables, &mut judge, &mut judged);
            let mut rest = Vec::new();
            judge.advance(i64::MAX, &mut rest);
            judged.extend(rest.into_iter().map(|(a, ())| a));
            out.extend(judged);
            let peers = out.iter().filter(|a| a.peer).count();
            let counters: u64 = tables.iter().map(|t| t.stats().ttl_evictions + t.stats().rejected).sum();
            (testutil::canonical(out), peers, counters, bincode::serialize(&judge).unwrap())
        };
        let whole = run(None);
        assert!(whole.1 > 0 && whole.1 < whole.0.len(), "{} anomalies, {} by the peer group", whole.0.len(), whole.1);
        for at in [37, 150, 301, 302, 349] {
            assert_eq!(run(Some(at)), whole, "divided at {at}");
        }
    }

    #[test]
    fn checkpoint_round_trips() {
        let mut t = rate_table(100, 1000, true);
        let mut out = Vec::new();
        for i in 0..50i64 {
            t.observe((i % 7) as u64, i * 3, 1 + (i as u64 % 3));
            t.advance(i * 3 - 5, &mut out);
        }
        let bytes = bincode::serialize(&t).unwrap();
        let mut u: EntityTable<Rate> = bincode::deserialize(&bytes).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 50..120i64 {
            let v = if i == 100 { 40 } else { 1 };
            a.extend(t.observe((i % 7) as u64, i * 3, v));
            b.extend(u.observe((i % 7) as u64, i * 3, v));
        }
        t.advance(i64::MAX, &mut a);
        u.advance(i64::MAX, &mut b);
        assert!(!a.is_empty());
        assert_eq!(a, b);
        assert_eq!(t.stats(), u.stats());
    }

    fn streams() -> impl Strategy<Value = Vec<Vec<(i64, u64)>>> {
        prop::collection::vec(
            prop::collection::vec((0i64..400, 0u64..6), 0..40).prop_map(|mut v| {
                v.sort_by_key(|e| e.0);
                v
            }),
            1..6,
        )
    }

    fn same_verdicts<B: Baseline>(make: impl Fn() -> EntityTable<B>, per: &[Vec<(i64, u64)>], salt: u64) -> Result<(), TestCaseError> {
        let a = run(&mut make(), &sequential(per), false, i64::MAX);
        let b = run(&mut make(), &interleave(per, salt), true, i64::MAX);
        let c = run(&mut make(), &interleave(per, salt.rotate_left(7)), false, i64::MAX);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
        Ok(())
    }

    /// Runs `events` with entities spread over `parts` tables in export mode and one judge, the
    /// watermark following each event when `advance_each`; returns all verdicts sorted.
    fn run_split<B: Baseline>(make: &impl Fn() -> EntityTable<B>, judge_kind: B, events: &[(u64, i64, u64)], parts: u64, advance_each: bool) -> Vec<Anomaly> {
        let mut tables: Vec<EntityTable<B>> = (0..parts)
            .map(|_| {
                let mut t = make();
                t.export_peer_group();
                t
            })
            .collect();
        let mut judge: PeerJudge<B, u64> = PeerJudge::new(judge_kind, 10_000).unwrap();
        let mut out = Vec::new();
        let mut judged = Vec::new();
        let step = |tables: &mut Vec<EntityTable<B>>, judge: &mut PeerJudge<B, u64>, w: i64, out: &mut Vec<Anomaly>, judged: &mut Vec<(Anomaly, u64)>| {
            let (mut stages, mut requests) = (Vec::new(), Vec::new());
            for t in tables.iter_mut() {
                t.advance(w, out);
                t.take_peer_output(&mut stages, &mut requests);
            }
            for (i, st) in stages {
                judge.add_stage(i, st);
            }
            for r in requests {
                let e = r.entity;
                judged.extend(judge.request(r, e));
            }
            judge.advance(w, judged);
        };
        for &(e, t, v) in events {
            let table = &mut tables[(mix64(e) % parts) as usize];
            out.extend(table.observe(e, t, v));
            if advance_each {
                step(&mut tables, &mut judge, t, &mut out, &mut judged);
            }
        }
        step(&mut tables, &mut judge, i64::MAX, &mut out, &mut judged);
        assert!(judged.iter().all(|(a, e)| a.entity == *e), "the attachment comes back with its verdict");
        assert_eq!(judge.late_stages(), 0);
        out.extend(judged.into_iter().map(|(a, _)| a));
        canonical(out)
    }

    fn same_as_one_table<B: Baseline + Clone>(make: impl Fn() -> EntityTable<B>, per: &[Vec<(i64, u64)>], salt: u64) -> Result<(), TestCaseError> {
        let kind = make().kind().clone();
        let one = run(&mut make(), &interleave(per, salt), true, i64::MAX);
        for parts in [1u64, 2, 3] {
            let split = run_split(&make, kind.clone(), &interleave(per, salt), parts, true);
            prop_assert_eq!(&one, &split, "{} tables", parts);
        }
        let lazy = run_split(&make, kind, &interleave(per, salt.rotate_left(3)), 2, false);
        prop_assert_eq!(&one, &lazy);
        Ok(())
    }

    proptest! {
        /// Same streams, any interleaving of entities and any watermark schedule: same verdicts,
        /// own and peer-group alike.
        #[test]
        fn verdicts_do_not_depend_on_interleaving(per in streams(), salt: u64) {
            let table = TableConfig { max_entities: 100, ttl_ms: 10_000, peer_fallback: true, max_pending: 10_000 };
            let dev = Deviation { half_life: 3.0, min_history: 2, threshold: 1.5, min_std: 0.5, direction: Direction::Both, ..Deviation::default() };
            same_verdicts(|| EntityTable::new(Rate::new(RateConfig { interval_ms: 20, deviation: dev }).unwrap(), table).unwrap(), &per, salt)?;
            same_verdicts(|| EntityTable::new(Distinct::new(DistinctConfig { interval_ms: 20, precision: 4, deviation: dev }).unwrap(), table).unwrap(), &per, salt)?;
            let nv = NewValueConfig { window_ms: 150, learn_ms: 60, capacity: 3, peer_interval_ms: 20, peer_capacity: 4, peer_stage_capacity: 3 };
            same_verdicts(|| EntityTable::new(NewValue::new(nv).unwrap(), table).unwrap(), &per, salt)?;
            let pc = ProfileConfig { interval_ms: 20, max_categories: 3, half_life: 3.0, min_history: 2, min_events: 2, threshold: 0.3, peer_categories: 3 };
            same_verdicts(|| EntityTable::new(Profile::new(pc).unwrap(), table).unwrap(), &per, salt)?;
        }

        /// Entities spread over several tables in export mode with one judge give exactly the
        /// verdicts of one table holding them all, own and peer-group alike.
        #[test]
        fn split_tables_with_a_judge_match_one_table(per in streams(), salt: u64) {
            let table = TableConfig { max_entities: 100, ttl_ms: 10_000, peer_fallback: true, max_pending: 10_000 };
            let dev = Deviation { half_life: 3.0, min_history: 2, threshold: 1.5, min_std: 0.5, direction: Direction::Both, ..Deviation::default() };
            same_as_one_table(|| EntityTable::new(Rate::new(RateConfig { interval_ms: 20, deviation: dev }).unwrap(), table).unwrap(), &per, salt)?;
            same_as_one_table(|| EntityTable::new(Distinct::new(DistinctConfig { interval_ms: 20, precision: 4, deviation: dev }).unwrap(), table).unwrap(), &per, salt)?;
            let nv = NewValueConfig { window_ms: 150, learn_ms: 60, capacity: 3, peer_interval_ms: 20, peer_capacity: 4, peer_stage_capacity: 3 };
            same_as_one_table(|| EntityTable::new(NewValue::new(nv).unwrap(), table).unwrap(), &per, salt)?;
            let pc = ProfileConfig { interval_ms: 20, max_categories: 3, half_life: 3.0, min_history: 2, min_events: 2, threshold: 0.3, peer_categories: 1 };
            same_as_one_table(|| EntityTable::new(Profile::new(pc).unwrap(), table).unwrap(), &per, salt)?;
        }

        /// Stats stay consistent: heap accounting returns to zero when every entity expires.
        #[test]
        fn state_bytes_return_to_zero(per in streams(), salt: u64) {
            let table = TableConfig { max_entities: 3, ttl_ms: 50, peer_fallback: false, max_pending: 10 };
            let mut t = EntityTable::new(Distinct::new(DistinctConfig { interval_ms: 20, precision: 4, deviation: Deviation::default() }).unwrap(), table).unwrap();
            let events = interleave(&per, salt);
            run(&mut t, &events, true, i64::MAX);
            prop_assert_eq!(t.stats().state_bytes, 0);
            let n: usize = per.iter().filter(|v| !v.is_empty()).count();
            prop_assert!(t.stats().ttl_evictions + t.stats().cap_evictions >= n as u64);
        }
    }
}
