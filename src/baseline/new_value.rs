//! New-value baseline: a value the entity has not used within the history window (a user
//! logging in from a network never seen in 30 days). This is Elastic's "new terms" rule in
//! streaming form: instead of querying the window's history for every candidate, each entity
//! keeps the values it used with their last-seen times.
//!
//! The input value is a 64-bit hash of the value (`event::entity::hash_bytes`, fixed seed) or
//! the value itself when it fits in 64 bits (a port, an IPv4 address).
//!
//! # Verdict
//!
//! A value is new for the entity when the entity's table has no entry for it last seen at or
//! after `ts - window_ms`. Its entry is then created (or refreshed). A new value fires once the
//! entity has been known for `learn_ms` (its first event at least that long ago; entities that
//! idle past the table's `ttl_ms` start learning again, so set `ttl_ms >= window_ms` to keep
//! whole windows). An entity still learning is judged against the peer group instead: the
//! value fires if no entity of the table used it in the window up to the end of the previous
//! peer interval (`peer_interval_ms`; other entities' uses in the same peer interval do not
//! count, which keeps the verdict independent of their order), and only once the peer group
//! itself has learned for `learn_ms` (from the start of the first peer interval it folded).
//!
//! # Bounds, and what happens past them
//!
//! Each entity keeps at most `capacity` entries (value, last seen), sorted by value for binary
//! search: exact while the entity used at most `capacity` distinct values within the window
//! (entries older than the window are dropped first). Beyond that the entry seen longest ago
//! is evicted (ties by smaller value), counted in [`TableStats::overflows`](super::TableStats);
//! if that value comes back within the window it is reported as new again. So the structure
//! errs only towards false "new" (extra verdicts), never towards false "seen": no value is
//! ever reported as seen that the entity did not use within the window (up to 64-bit hash
//! collisions of the caller's value hashes: with `c` entries a new value collides with
//! probability `c / 2^64`). An entity that uses more than `capacity` distinct values per
//! window is a poor subject for this rule: raise `capacity` or pick another field.
//!
//! The peer group keeps at most `peer_capacity` values (a hash map and a time index, about 45
//! bytes per value), evicting the one seen longest ago; each peer interval's stage keeps the
//! `peer_stage_capacity` values with the smallest mixed hashes (a bottom-k sample, whatever
//! order the entities arrive in): past that, values missing from the peer group make young
//! entities fire more, never less.
//!
//! State per entity: first-seen time and the entry vector: 80 bytes with the table's fixed
//! part plus 16 bytes per remembered value (the vector grows by halves up to `capacity`, so
//! up to a third of it may be unused until it is full): at most 1104 bytes at the default
//! capacity 64.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::mem::size_of;

use serde::{Deserialize, Serialize};

use super::{grow, interval_of, mix64, param_error, Anomaly, AnomalyKind, Baseline, BaselineError, Context, Expected, FixedState, Verdict};

/// New-value baseline parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewValueConfig {
    /// History window (ms): a value unused for longer is new again.
    pub window_ms: i64,
    /// Learning period (ms) from the entity's first event before its own verdicts.
    pub learn_ms: i64,
    /// Values remembered per entity.
    pub capacity: usize,
    /// Granularity (ms) at which the peer group learns values.
    pub peer_interval_ms: i64,
    /// Values remembered by the peer group.
    pub peer_capacity: usize,
    /// Values per peer interval passed to the peer group (smallest mixed hashes kept).
    pub peer_stage_capacity: usize,
}

impl Default for NewValueConfig {
    fn default() -> Self {
        NewValueConfig {
            window_ms: 30 * 86_400_000,
            learn_ms: 7 * 86_400_000,
            capacity: 64,
            peer_interval_ms: 60_000,
            peer_capacity: 65_536,
            peer_stage_capacity: 65_536,
        }
    }
}

/// New-value baseline (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewValue {
    config: NewValueConfig,
}

impl NewValue {
    /// A new-value baseline with checked parameters.
    pub fn new(config: NewValueConfig) -> Result<Self, BaselineError> {
        if config.window_ms < 1 {
            return Err(param_error("window_ms", "at least 1", config.window_ms));
        }
        if config.learn_ms < 0 {
            return Err(param_error("learn_ms", "not negative", config.learn_ms));
        }
        if config.peer_interval_ms < 1 {
            return Err(param_error("peer_interval_ms", "at least 1", config.peer_interval_ms));
        }
        for (name, v) in [("capacity", config.capacity), ("peer_capacity", config.peer_capacity), ("peer_stage_capacity", config.peer_stage_capacity)] {
            if v == 0 {
                return Err(param_error(name, "at least 1", v));
            }
        }
        Ok(NewValue { config })
    }

    /// The parameters.
    pub fn config(&self) -> &NewValueConfig {
        &self.config
    }
}

/// An entity's remembered values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewValueState {
    first_seen: i64,
    /// (value, last seen), sorted by value.
    values: Vec<(u64, i64)>,
}

impl NewValueState {
    /// The entity's first event time (since it was last forgotten).
    pub fn first_seen(&self) -> i64 {
        self.first_seen
    }

    /// Remembered values with their last-seen times, sorted by value.
    pub fn values(&self) -> &[(u64, i64)] {
        &self.values
    }
}

/// The values of one peer interval: the `peer_stage_capacity` smallest by mixed hash, each with
/// its latest time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueStage {
    /// mixed hash -> (value, latest time)
    seen: BTreeMap<u64, (u64, i64)>,
}

impl ValueStage {
    fn add(&mut self, value: u64, ts: i64, cap: usize) {
        let key = mix64(value);
        if let Some(e) = self.seen.get_mut(&key) {
            e.1 = e.1.max(ts);
            return;
        }
        if self.seen.len() >= cap {
            match self.seen.last_key_value() {
                Some((&last, _)) if last > key => {
                    self.seen.pop_last();
                }
                _ => return,
            }
        }
        self.seen.insert(key, (value, ts));
    }
}

/// The values the peer group used, with their last-seen times.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerValues {
    /// Start of the first peer interval folded: the peer group learns for `learn_ms` too.
    since: Option<i64>,
    by_value: HashMap<u64, i64, FixedState>,
    by_time: BTreeSet<(i64, u64)>,
}

impl PeerValues {
    /// When the peer group last used `value`, if it remembers it.
    pub fn last_seen(&self, value: u64) -> Option<i64> {
        self.by_value.get(&value).copied()
    }

    /// Values remembered.
    pub fn len(&self) -> usize {
        self.by_value.len()
    }

    /// True when no value is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_value.is_empty()
    }
}

/// A young entity's new value waiting for the peer group: its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewValuePending {
    ts: i64,
}

impl NewValue {
    fn anomaly(entity: u64, ts: i64, value: u64, peer: bool) -> Anomaly {
        Anomaly {
            kind: AnomalyKind::NewValue,
            entity,
            interval_start_ms: ts,
            interval_end_ms: ts.saturating_add(1),
            observed: 1.0,
            expected: Expected::FirstSeen,
            score: 1.0,
            value: Some(value),
            peer,
        }
    }
}

impl Baseline for NewValue {
    type State = NewValueState;
    type Stage = ValueStage;
    type Peer = PeerValues;
    type Pending = NewValuePending;

    fn kind(&self) -> AnomalyKind {
        AnomalyKind::NewValue
    }
    fn interval_ms(&self) -> i64 {
        self.config.peer_interval_ms
    }
    fn closes_intervals(&self) -> bool {
        false
    }
    fn new_state(&self, ts_ms: i64) -> NewValueState {
        NewValueState { first_seen: ts_ms, values: Vec::new() }
    }
    fn new_peer(&self) -> PeerValues {
        PeerValues::default()
    }

    fn observe(&self, st: &mut NewValueState, entity: u64, ts: i64, value: u64, cx: &mut Context<'_, ValueStage>) -> Verdict<NewValuePending> {
        let interval = interval_of(ts, self.config.peer_interval_ms);
        if let Some(stage) = cx.stage(interval) {
            stage.add(value, ts, self.config.peer_stage_capacity);
        }
        let cutoff = ts.saturating_sub(self.config.window_ms);
        let is_new = match st.values.binary_search_by_key(&value, |e| e.0) {
            Ok(i) => {
                let e = &mut st.values[i];
                let seen = e.1 >= cutoff;
                e.1 = ts;
                !seen
            }
            Err(mut i) => {
                if st.values.len() >= self.config.capacity {
                    st.values.retain(|e| e.1 >= cutoff);
                    if st.values.len() >= self.config.capacity {
                        // Evict the entry seen longest ago (ties by value): it may come back as
                        // a false "new", never a false "seen".
                        if let Some(oldest) = st.values.iter().enumerate().min_by_key(|(_, e)| (e.1, e.0)).map(|(j, _)| j) {
                            st.values.remove(oldest);
                            cx.overflow();
                        }
                    }
                    i = st.values.partition_point(|e| e.0 < value);
                }
                grow(&mut st.values, self.config.capacity);
                st.values.insert(i, (value, ts));
                true
            }
        };
        if !is_new {
            Verdict::Quiet
        } else if ts.saturating_sub(st.first_seen) >= self.config.learn_ms {
            Verdict::Anomaly(Self::anomaly(entity, ts, value, false))
        } else {
            Verdict::Peer { interval, tag: value, pending: NewValuePending { ts } }
        }
    }

    fn close(&self, _st: &mut NewValueState, _entity: u64, _cx: &mut Context<'_, ValueStage>) -> Verdict<NewValuePending> {
        Verdict::Quiet
    }

    fn merge_stage(&self, into: &mut ValueStage, other: ValueStage) {
        // Re-adding by the same rule keeps the smallest mixed hashes of the union with their
        // latest times: the bottom-k of a union is the bottom-k of the parts' bottom-k sets.
        for (value, ts) in other.seen.into_values() {
            into.add(value, ts, self.config.peer_stage_capacity);
        }
    }

    fn fold(&self, peer: &mut PeerValues, idx: i64, stage: ValueStage) {
        let end = idx.saturating_add(1).saturating_mul(self.config.peer_interval_ms);
        let cutoff = end.saturating_sub(self.config.window_ms);
        if peer.since.is_none() {
            peer.since = Some(idx.saturating_mul(self.config.peer_interval_ms));
        }
        while let Some(&(t, v)) = peer.by_time.first() {
            if t >= cutoff {
                break;
            }
            peer.by_time.pop_first();
            peer.by_value.remove(&v);
        }
        // In mixed-hash order, so that evictions do not depend on arrival order.
        for (value, ts) in stage.seen.into_values() {
            if let Some(t) = peer.by_value.get_mut(&value) {
                peer.by_time.remove(&(*t, value));
                *t = (*t).max(ts);
                peer.by_time.insert((*t, value));
                continue;
            }
            if peer.by_value.len() >= self.config.peer_capacity {
                if let Some((_, old)) = peer.by_time.pop_first() {
                    peer.by_value.remove(&old);
                }
            }
            peer.by_value.insert(value, ts);
            peer.by_time.insert((ts, value));
        }
    }

    fn judge_peer(&self, peer: &PeerValues, entity: u64, _interval: i64, value: u64, pending: &NewValuePending) -> Option<Anomaly> {
        let since = peer.since?;
        if pending.ts.saturating_sub(since) < self.config.learn_ms {
            return None;
        }
        let cutoff = pending.ts.saturating_sub(self.config.window_ms);
        match peer.last_seen(value) {
            Some(t) if t >= cutoff => None,
            _ => Some(Self::anomaly(entity, pending.ts, value, true)),
        }
    }

    fn heap_bytes(st: &NewValueState) -> usize {
        st.values.capacity() * size_of::<(u64, i64)>()
    }

    fn peer_heap_bytes(peer: &PeerValues) -> usize {
        peer.by_value.capacity() * (size_of::<(u64, i64)>() + 1) + peer.by_time.len() * size_of::<(i64, u64)>() * 3 / 2
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::run;
    use super::super::{EntityTable, TableConfig};
    use super::*;
    use proptest::prelude::*;

    fn table(config: NewValueConfig, peer: bool) -> EntityTable<NewValue> {
        EntityTable::new(NewValue::new(config).unwrap(), TableConfig { max_entities: 1000, ttl_ms: 1 << 50, peer_fallback: peer, max_pending: 1000 }).unwrap()
    }

    fn cfg(window_ms: i64, learn_ms: i64, capacity: usize) -> NewValueConfig {
        NewValueConfig { window_ms, learn_ms, capacity, peer_interval_ms: 10, peer_capacity: 1000, peer_stage_capacity: 1000 }
    }

    #[test]
    fn learns_then_fires_on_new_and_forgotten_values() {
        let mut t = table(cfg(1000, 100, 8), false);
        assert!(t.observe(1, 0, 7).is_none(), "learning");
        assert!(t.observe(1, 50, 8).is_none(), "learning");
        assert!(t.observe(1, 120, 7).is_none(), "seen");
        let a = t.observe(1, 130, 9).unwrap();
        assert_eq!((a.kind, a.entity, a.value, a.interval_start_ms, a.expected, a.peer), (AnomalyKind::NewValue, 1, Some(9), 130, Expected::FirstSeen, false));
        assert!(t.observe(1, 140, 9).is_none(), "seen just now");
        // Value 8 was last seen at 50: at 1051 that is more than the window ago.
        assert!(t.observe(1, 1050, 8).is_none());
        assert!(t.observe(1, 2051, 8).is_some());
    }

    #[test]
    fn past_capacity_evicts_the_oldest_and_counts() {
        let mut t = table(cfg(1_000_000, 0, 3), false);
        for (ts, v) in [(0, 1u64), (1, 2), (2, 3), (3, 1), (4, 4)] {
            t.observe(1, ts, v);
        }
        // 2 was the oldest when 4 came.
        assert_eq!(t.state(1).unwrap().values().iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 3, 4]);
        assert_eq!(t.stats().overflows, 1);
        assert!(t.observe(1, 5, 2).is_some(), "an evicted value comes back as new");
        assert!(t.observe(1, 6, 4).is_none());
    }

    #[test]
    fn young_entities_ask_the_peer_group() {
        let mut t = table(cfg(10_000, 20, 8), true);
        let mut out = Vec::new();
        // Entities 1..=5 use values 1..3 in the first intervals, while the peer group learns.
        for e in 1..=5u64 {
            for v in 1..=3u64 {
                out.extend(t.observe(e, (e * 3 + v) as i64, v));
            }
        }
        t.advance(25, &mut out);
        // Newcomer 9: value 2 is known to its peers, value 77 is not.
        out.extend(t.observe(9, 30, 2));
        out.extend(t.observe(9, 31, 77));
        // Newcomer 10 uses 77 in the same peer interval: not yet known to the peers either.
        out.extend(t.observe(10, 32, 77));
        t.advance(45, &mut out);
        assert_eq!(out.iter().map(|a| (a.entity, a.value, a.peer)).collect::<Vec<_>>(), vec![(9, Some(77), true), (10, Some(77), true)]);
        // Later newcomers see 77 in the peer group.
        let mut out = Vec::new();
        out.extend(t.observe(11, 50, 77));
        t.advance(i64::MAX, &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert!(t.peer().last_seen(77).is_some());
    }

    #[test]
    fn stage_keeps_smallest_hashes_in_any_order() {
        let values: Vec<u64> = (0..50).collect();
        let mut a = ValueStage::default();
        let mut b = ValueStage::default();
        for &v in &values {
            a.add(v, v as i64, 10);
        }
        for &v in values.iter().rev() {
            b.add(v, v as i64, 10);
            b.add(v, 0, 10);
        }
        assert_eq!(a, b);
        assert_eq!(a.seen.len(), 10);
    }

    /// Whether each event of one entity's stream brings a value new within the window, the
    /// slow way: no earlier event with the same value at or after `ts - window`.
    fn reference_new(events: &[(i64, u64)], window: i64) -> Vec<bool> {
        (0..events.len()).map(|i| !events[..i].iter().any(|e| e.1 == events[i].1 && e.0 >= events[i].0 - window)).collect()
    }

    proptest! {
        /// Exact while the entity's distinct values in a window fit the capacity: verdicts equal
        /// the reference. Past capacity: every reference "new" is reported (no false "seen").
        #[test]
        fn matches_slow_reference(mut events in prop::collection::vec((0i64..2000, 0u64..12), 1..120), window in 1i64..800, learn in 0i64..300, capacity in 1usize..16) {
            events.sort_by_key(|e| e.0);
            let mut t = table(cfg(window, learn, capacity), false);
            let got = run(&mut t, &events.iter().map(|&(ts, v)| (1u64, ts, v)).collect::<Vec<_>>(), false, 1 << 45);
            let new = reference_new(&events, window);
            let expected: Vec<(i64, u64)> = events.iter().zip(&new).filter(|(e, n)| **n && e.0 - events[0].0 >= learn).map(|(e, _)| *e).collect();
            let got: Vec<(i64, u64)> = got.iter().map(|a| (a.interval_start_ms, a.value.unwrap_or(u64::MAX))).collect();
            let mut expected = expected;
            expected.sort();
            if capacity >= 12 {
                prop_assert_eq!(got, expected);
                prop_assert_eq!(t.stats().overflows, 0);
            } else {
                for e in &expected {
                    prop_assert!(got.contains(e), "missed {:?}", e);
                }
            }
        }
    }
}
