//! `value_count`: the number of distinct values of a field (the caller passes the value, for
//! several `field`s a tuple of them) per group in a window.
//!
//! Mode (see the [module docs](super)): early with sliding windows when the condition has only
//! `gt`/`gte`, otherwise at close with anchored windows.
//!
//! Exact, with a bounded set: `max_values` must exceed every operand of the condition. In
//! early mode the key is cleared when the condition first holds, so its set never holds more
//! than the threshold's worth of values. At close, once a window has `max_values` distinct values
//! any further new value cannot change the outcome (every operand is below it), so the set stops
//! growing and the window reports `value = max_values + 1` ("more than `max_values`"): the value
//! is exact up to `max_values`. Memory per key is thus at most `max_values` values plus
//! `evidence_cap` evidence values, on top of the fixed cost ([`ValueCount::bytes_per_key`]).
//!
//! Early state: each distinct value with the time of its latest occurrence since the last alert
//! (a value is in the window of an event at `t` if that time is `>= t - span`), and an index by
//! that time. `first_event_ts` of an early alert is the oldest of those latest occurrences.
//! Evidence: one event per distinct value, the most recent `evidence_cap`: in early mode each
//! value's latest occurrence, at close each value's first occurrence in the window.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::hash::Hash;
use std::mem::size_of;

use super::window::{self, Anchored};
use super::{check_span, Alert, Condition, Correlator, Evidence, HeapBytes, KeyBytes, Mode, ParamError, Stats, Table};

/// Early-mode thresholds up to this many values keep them in a deque rather than in two maps.
const FEW: f64 = 32.0;

/// The values of a key's window.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(deserialize = "V: serde::Deserialize<'de> + Eq + std::hash::Hash, E: serde::Deserialize<'de>"))]
pub(crate) enum Values<V, E> {
    /// Early mode with a small threshold: each value's latest occurrence (value, time,
    /// evidence), oldest first. An alert clears the key as soon as the threshold's worth of
    /// values is there, so no more than that is ever held, and a scan beats two maps (whose
    /// smallest allocations are most of a key's memory in a spray of new sources).
    Few(VecDeque<(V, i64, E)>),
    /// Early mode: each value's latest occurrence (time, arrival number, evidence), and the
    /// values by that occurrence.
    Sliding { latest: HashMap<V, (i64, u64, E)>, order: BTreeMap<(i64, u64), V>, seq: u64 },
    /// At close: the set, and whether more values than `max_values` came.
    Set { set: HashSet<V>, more: bool },
}

/// Per-key state.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(deserialize = "V: serde::Deserialize<'de> + Eq + std::hash::Hash, E: serde::Deserialize<'de>"))]
pub(crate) struct DistinctState<V, E> {
    values: Values<V, E>,
    start: i64,
    last: i64,
    evidence: Evidence<E>,
}

impl<V, E> Anchored for DistinctState<V, E> {
    fn start(&self) -> i64 {
        self.start
    }
}

impl<V, E> HeapBytes for DistinctState<V, E> {
    fn heap_bytes(&self) -> usize {
        let values = match &self.values {
            Values::Sliding { latest, order, .. } => {
                latest.capacity() * (size_of::<(V, (i64, u64, E))>() + 1) + order.len() * size_of::<((i64, u64), V)>() * 3 / 2
            }
            Values::Set { set, .. } => set.capacity() * (size_of::<V>() + 1),
            Values::Few(values) => values.capacity() * size_of::<(V, i64, E)>(),
        };
        values + self.evidence.heap_bytes()
    }
}

impl<V, E> DistinctState<V, E> {
    fn new(ts: i64, mode: Mode, few: bool) -> Self {
        let values = match mode {
            Mode::Early if few => Values::Few(VecDeque::new()),
            Mode::Early => Values::Sliding { latest: HashMap::default(), order: BTreeMap::new(), seq: 0 },
            Mode::AtClose => Values::Set { set: HashSet::default(), more: false },
        };
        DistinctState { values, start: ts, last: ts, evidence: Evidence::default() }
    }
}

/// A `value_count` correlation.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(
    deserialize = "K: serde::Deserialize<'de> + Ord + std::hash::Hash + Clone + crate::correlate::KeyBytes, V: serde::Deserialize<'de> + Eq + std::hash::Hash, E: serde::Deserialize<'de>"
))]
pub struct ValueCount<K, V, E> {
    span: i64,
    condition: Condition,
    mode: Mode,
    max_values: usize,
    evidence_cap: usize,
    /// Early mode keeps values in a deque (see [`Values::Few`]).
    few: bool,
    table: Table<K, DistinctState<V, E>>,
}

impl<K: Ord + Hash + Clone + KeyBytes, V: Hash + Eq + Clone, E: Clone> ValueCount<K, V, E> {
    /// Adds `other`'s keys that `keep` accepts (a checkpoint divided by key among another
    /// number of workers); `other`'s counters too when `counters`.
    pub fn absorb(&mut self, other: Self, keep: &dyn Fn(&K) -> bool, counters: bool) {
        self.table.absorb(other.table, keep, counters);
    }

    /// A correlation over `span_ms` windows, with at most `key_cap` live keys, `max_values`
    /// distinct values kept per key (more than any operand of `condition`) and `evidence_cap`
    /// evidence values per alert.
    pub fn new(span_ms: i64, condition: Condition, key_cap: usize, max_values: usize, evidence_cap: usize) -> Result<Self, ParamError> {
        condition.validate()?;
        if max_values as f64 <= condition.max_operand() {
            return Err(ParamError::Limit(format!("max_values {max_values} must exceed the condition's operands ({})", condition.max_operand())));
        }
        let mode = if condition.lower_bounds_only() { Mode::Early } else { Mode::AtClose };
        let few = condition.max_operand() <= FEW;
        Ok(ValueCount { span: check_span(span_ms)?, condition, mode, max_values, evidence_cap, few, table: Table::new(key_cap)? })
    }

    /// The mode chosen from the condition.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Estimated fixed bytes per live key, before the values and evidence it holds.
    pub fn bytes_per_key() -> usize {
        Table::<K, DistinctState<V, E>>::bytes_per_key()
    }
}

fn close_distinct<K, V, E>(span: i64, max_values: usize, condition: &Condition, group: K, st: &mut DistinctState<V, E>) -> Option<Alert<K, E>> {
    let value = match &st.values {
        Values::Set { more: true, .. } => max_values + 1,
        Values::Set { set, .. } => set.len(),
        Values::Sliding { latest, .. } => latest.len(),
        Values::Few(values) => values.len(),
    } as u64;
    if !condition.matches(value as f64) {
        return None;
    }
    let evidence = st.evidence.take();
    Some(Alert {
        group,
        window_start_ms: st.start,
        window_end_ms: st.start.saturating_add(span),
        value: value as f64,
        first_event_ts: st.start,
        last_event_ts: st.last,
        omitted: value - evidence.len() as u64,
        evidence,
    })
}

impl<K: Ord + Hash + Clone + KeyBytes, V: Hash + Eq + Clone, E: Clone> Correlator for ValueCount<K, V, E> {
    type Key = K;
    type Input = V;
    type Evidence = E;

    fn observe(&mut self, key: &K, ts: i64, value: V, evidence: E, out: &mut Vec<Alert<K, E>>) {
        let (span, cap, condition, max_values, few) = (self.span, self.evidence_cap, self.condition, self.max_values, self.few);
        match self.mode {
            Mode::Early => {
                self.table.update(
                    key,
                    ts,
                    || DistinctState::new(ts, Mode::Early, few),
                    |st| {
                        let min = ts.saturating_sub(span);
                        // The window's distinct count, then (if it fires) its evidence and first time.
                        let (count, mut ev, first) = match &mut st.values {
                            Values::Few(values) => {
                                while values.front().is_some_and(|(_, t, _)| *t < min) {
                                    values.pop_front();
                                }
                                if let Some(at) = values.iter().position(|(v, _, _)| *v == value) {
                                    values.remove(at);
                                }
                                super::push_small(values, (value, ts, evidence));
                                let count = values.len() as u64;
                                if !condition.matches(count as f64) {
                                    return Some(ts.saturating_add(span));
                                }
                                let ev: Vec<E> = values.iter().rev().take(cap).map(|(_, _, e)| e.clone()).collect();
                                (count, ev, values.front().map_or(ts, |(_, t, _)| *t))
                            }
                            Values::Sliding { latest, order, seq } => {
                                while let Some(entry) = order.first_entry() {
                                    if entry.key().0 >= min {
                                        break;
                                    }
                                    let v = entry.remove();
                                    latest.remove(&v);
                                }
                                *seq += 1;
                                if let Some((t, s, e)) = latest.get_mut(&value) {
                                    order.remove(&(*t, *s));
                                    (*t, *s, *e) = (ts, *seq, evidence);
                                } else {
                                    latest.insert(value.clone(), (ts, *seq, evidence));
                                }
                                order.insert((ts, *seq), value);
                                let count = latest.len() as u64;
                                if !condition.matches(count as f64) {
                                    return Some(ts.saturating_add(span));
                                }
                                let ev: Vec<E> = order.values().rev().take(cap).map(|v| latest[v].2.clone()).collect();
                                (count, ev, order.first_key_value().map_or(ts, |(k, _)| k.0))
                            }
                            Values::Set { .. } => unreachable!("early mode keeps sliding values"),
                        };
                        ev.reverse();
                        out.push(Alert {
                            group: key.clone(),
                            window_start_ms: min,
                            window_end_ms: ts,
                            value: count as f64,
                            first_event_ts: first,
                            last_event_ts: ts,
                            omitted: count - ev.len() as u64,
                            evidence: ev,
                        });
                        None
                    },
                );
            }
            Mode::AtClose => {
                let add = |st: &mut DistinctState<V, E>| {
                    st.last = ts;
                    let Values::Set { set, more } = &mut st.values else { unreachable!("at-close mode keeps a set") };
                    if !set.contains(&value) {
                        if set.len() < max_values {
                            set.insert(value);
                            st.evidence.push(ts, evidence, cap);
                        } else {
                            *more = true;
                        }
                    }
                };
                let open = |t| DistinctState::new(t, Mode::AtClose, false);
                window::observe(&mut self.table, key, ts, span, open, add, |k, st| close_distinct(span, max_values, &condition, k, st), out);
            }
        }
    }

    fn advance(&mut self, watermark: i64, out: &mut Vec<Alert<K, E>>) {
        let (span, condition, at_close, max_values) = (self.span, self.condition, self.mode == Mode::AtClose, self.max_values);
        window::advance(&mut self.table, watermark, out, |key, st| if at_close { close_distinct(span, max_values, &condition, key, st) } else { None });
    }

    fn stats(&self) -> Stats {
        self.table.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::testutil::canonical;
    use crate::correlate::threshold::tests::time_order;
    use proptest::prelude::*;

    type A = Alert<u32, u32>;

    fn vc(span: i64, cond: Condition) -> ValueCount<u32, u8, u32> {
        ValueCount::new(span, cond, 1 << 20, 64, 1000).unwrap()
    }

    fn run(c: &mut ValueCount<u32, u8, u32>, events: &[(i64, u8)]) -> Vec<A> {
        let mut out = Vec::new();
        for (i, &(ts, v)) in events.iter().enumerate() {
            c.observe(&1, ts, v, i as u32, &mut out);
        }
        c.advance(i64::MAX, &mut out);
        out
    }

    /// The slow way, for one key.
    fn reference(span: i64, cond: Condition, key: u32, ev: &[(i64, u8)]) -> Vec<A> {
        let distinct = |members: &[usize], last: bool| -> Vec<u32> {
            let mut seen: Vec<(u8, usize)> = Vec::new();
            for &i in members {
                match seen.iter_mut().find(|(v, _)| *v == ev[i].1) {
                    Some(s) if last => s.1 = i,
                    Some(_) => {}
                    None => seen.push((ev[i].1, i)),
                }
            }
            let mut idx: Vec<u32> = seen.iter().map(|&(_, i)| i as u32).collect();
            idx.sort();
            idx
        };
        let mut out = Vec::new();
        if cond.lower_bounds_only() {
            let mut from = 0;
            for j in 0..ev.len() {
                let members: Vec<usize> = (from..=j).filter(|&i| ev[i].0 >= ev[j].0 - span).collect();
                let d = distinct(&members, true);
                if cond.matches(d.len() as f64) {
                    out.push(Alert {
                        group: key,
                        window_start_ms: ev[j].0 - span,
                        window_end_ms: ev[j].0,
                        value: d.len() as f64,
                        first_event_ts: ev[d[0] as usize].0,
                        last_event_ts: ev[j].0,
                        evidence: d,
                        omitted: 0,
                    });
                    from = j + 1;
                }
            }
        } else {
            let mut s = 0;
            while s < ev.len() {
                let end = ev[s].0 + span;
                let members: Vec<usize> = (s..ev.len()).filter(|&i| ev[i].0 <= end).collect();
                let d = distinct(&members, false);
                if cond.matches(d.len() as f64) {
                    out.push(Alert {
                        group: key,
                        window_start_ms: ev[s].0,
                        window_end_ms: end,
                        value: d.len() as f64,
                        first_event_ts: ev[s].0,
                        last_event_ts: ev[*members.last().unwrap()].0,
                        evidence: d,
                        omitted: 0,
                    });
                }
                s = members.last().unwrap() + 1;
            }
        }
        out
    }

    #[test]
    fn distinct_values_within_span_inclusive() {
        let mut c = vc(100, Condition::gte(3.0));
        // Repeats do not count; 0 and 100 are exactly span apart.
        let out = run(&mut c, &[(0, 1), (10, 1), (50, 2), (100, 3)]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].value, out[0].first_event_ts, out[0].evidence.clone()), (3.0, 10, vec![1, 2, 3]));
        let mut c = vc(100, Condition::gte(3.0));
        assert!(run(&mut c, &[(0, 1), (50, 2), (101, 3)]).is_empty());
        // A repeat refreshes a value: 1 is seen again at 60, so it is still in at 150.
        let mut c = vc(100, Condition::gte(3.0));
        assert_eq!(run(&mut c, &[(0, 1), (50, 2), (60, 1), (150, 3)]).len(), 1);
    }

    #[test]
    fn equal_timestamps_and_restart() {
        let mut c = vc(0, Condition::gt(1.0));
        let out = run(&mut c, &[(5, 1), (5, 1), (5, 2), (5, 2), (5, 3), (5, 4)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].evidence, vec![1, 2]);
        assert_eq!(out[1].evidence, vec![3, 4]);
    }

    #[test]
    fn at_close_operators_and_saturation() {
        let evs = [(0, 1), (1, 2), (2, 2), (3, 3)];
        let value = |cond: Condition| run(&mut vc(10, cond), &evs).first().map(|a| a.value);
        assert_eq!(value(Condition::eq(3.0)), Some(3.0));
        assert_eq!(value(Condition::lt(3.0)), None);
        assert_eq!(value(Condition::lte(3.0)), Some(3.0));
        assert_eq!(value(Condition::neq(3.0)), None);
        assert_eq!(value(Condition { gt: Some(1.0), lt: Some(4.0), ..Default::default() }), Some(3.0));
        // max_values 3 with neq 2: the fourth distinct value only marks "more".
        let mut c = ValueCount::<u32, u8, u32>::new(10, Condition::neq(2.0), 16, 3, 8).unwrap();
        let out = run(&mut c, &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]);
        assert_eq!((out[0].value, out[0].evidence.len(), out[0].omitted), (4.0, 3, 1));
        assert!(ValueCount::<u32, u8, u32>::new(10, Condition::lt(3.0), 16, 3, 8).is_err());
    }

    #[test]
    fn state_bounded_and_freed() {
        let mut c = ValueCount::<u32, u32, u32>::new(1000, Condition::gte(50.0), 1 << 10, 64, 4).unwrap();
        let mut out = Vec::new();
        for i in 0..49u32 {
            c.observe(&1, i as i64, i, i, &mut out);
        }
        let full = c.state_bytes();
        assert!(full > ValueCount::<u32, u32, u32>::bytes_per_key());
        c.observe(&1, 60, 999, 0, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(c.keys(), 0);
        assert_eq!(c.state_bytes(), 0);
        c.observe(&2, 70, 1, 0, &mut out);
        c.advance(1070, &mut out);
        assert_eq!(c.keys(), 1);
        c.advance(1071, &mut out);
        assert_eq!((c.keys(), c.state_bytes()), (0, 0));
    }

    #[test]
    fn key_cap_evicts() {
        let mut c = ValueCount::<u32, u8, u32>::new(1000, Condition::gte(2.0), 2, 8, 4).unwrap();
        let mut out = Vec::new();
        for k in 0..10u32 {
            c.observe(&k, k as i64, 1, 0, &mut out);
        }
        assert_eq!((c.keys(), c.stats().evictions), (2, 8));
        c.observe(&9, 20, 2, 0, &mut out);
        assert_eq!(out.len(), 1);
    }

    fn conditions() -> impl Strategy<Value = Condition> {
        (0usize..7, 0u32..5).prop_map(|(op, a)| {
            let a = a as f64;
            match op {
                0 => Condition::gt(a),
                1 => Condition::gte(a),
                2 => Condition::lt(a),
                3 => Condition::lte(a),
                4 => Condition::eq(a),
                5 => Condition::neq(a),
                _ => Condition { gte: Some(a), lte: Some(a + 1.0), ..Default::default() },
            }
        })
    }

    proptest! {
        #[test]
        fn matches_brute_force_reference(
            per_key in prop::collection::vec(prop::collection::vec((0i64..60, 0u8..6), 0..25), 1..4),
            cond in conditions(),
            span in 0i64..20,
            salt: u64,
        ) {
            let per_key: Vec<Vec<(i64, u8)>> = per_key.into_iter().map(|mut v| { v.sort_by_key(|e| e.0); v }).collect();
            let times: Vec<Vec<i64>> = per_key.iter().map(|v| v.iter().map(|e| e.0).collect()).collect();
            let expected: Vec<A> = per_key.iter().enumerate().flat_map(|(k, ev)| reference(span, cond, k as u32, ev)).collect();
            // Both early-mode layouts (a deque for small thresholds, maps for large ones).
            for few in [true, false] {
                let mut c = vc(span, cond);
                c.few = few;
                let mut out = Vec::new();
                for (k, t, i) in time_order(&times, salt) {
                    c.observe(&k, t, per_key[k as usize][i as usize].1, i, &mut out);
                    c.advance(t, &mut out);
                }
                c.advance(i64::MAX, &mut out);
                prop_assert_eq!(canonical(out), canonical(expected.clone()), "few: {}", few);
                prop_assert_eq!((c.keys(), c.state_bytes()), (0, 0));
            }
        }
    }
}
