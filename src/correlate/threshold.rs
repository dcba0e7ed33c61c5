//! `event_count`: the number of events of a group in a window.
//!
//! Mode (see the [module docs](super)): early with sliding windows when the condition has only
//! `gt`/`gte`, otherwise at close with anchored windows.
//!
//! Early state per key: the times of the events in the current window (a `VecDeque<i64>`,
//! 8 bytes per event; since the key is cleared when the condition first holds, it holds at most
//! the threshold's worth of events) and the most recent `evidence_cap` evidence values.
//! At-close state: a count, the window bounds and the evidence ring.
//! Evidence: the most recent `evidence_cap` events of the window; `omitted` counts the others.

use std::collections::VecDeque;
use std::hash::Hash;
use std::mem::size_of;

use super::window::{self, Anchored};
use super::{check_span, Alert, Condition, Correlator, Evidence, HeapBytes, KeyBytes, Mode, ParamError, Stats, Table};

/// Per-key state.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct CountState<E> {
    times: VecDeque<i64>,
    count: u64,
    start: i64,
    first: i64,
    last: i64,
    evidence: Evidence<E>,
}

impl<E> Anchored for CountState<E> {
    fn start(&self) -> i64 {
        self.start
    }
}

impl<E> HeapBytes for CountState<E> {
    fn heap_bytes(&self) -> usize {
        self.times.capacity() * size_of::<i64>() + self.evidence.heap_bytes()
    }
}

impl<E> CountState<E> {
    fn new(ts: i64) -> Self {
        CountState { times: VecDeque::new(), count: 0, start: ts, first: ts, last: ts, evidence: Evidence::default() }
    }
}

/// An `event_count` correlation.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(deserialize = "K: serde::Deserialize<'de> + Ord + std::hash::Hash + Clone + crate::correlate::KeyBytes, E: serde::Deserialize<'de>"))]
pub struct EventCount<K, E> {
    span: i64,
    condition: Condition,
    mode: Mode,
    evidence_cap: usize,
    table: Table<K, CountState<E>>,
}

impl<K: Ord + Hash + Clone + KeyBytes, E: Clone> EventCount<K, E> {
    /// Adds `other`'s keys that `keep` accepts (a checkpoint divided by key among another
    /// number of workers); `other`'s counters too when `counters`.
    pub fn absorb(&mut self, other: Self, keep: &dyn Fn(&K) -> bool, counters: bool) {
        self.table.absorb(other.table, keep, counters);
    }

    /// A correlation over `span_ms` windows, at most `key_cap` live keys and `evidence_cap`
    /// evidence values per alert.
    pub fn new(span_ms: i64, condition: Condition, key_cap: usize, evidence_cap: usize) -> Result<Self, ParamError> {
        condition.validate()?;
        let mode = if condition.lower_bounds_only() { Mode::Early } else { Mode::AtClose };
        Ok(EventCount { span: check_span(span_ms)?, condition, mode, evidence_cap, table: Table::new(key_cap)? })
    }

    /// The mode chosen from the condition.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Estimated fixed bytes per live key, before the events and evidence it holds.
    pub fn bytes_per_key() -> usize {
        Table::<K, CountState<E>>::bytes_per_key()
    }
}

impl<K: Ord + Hash + Clone + KeyBytes, E: Clone> Correlator for EventCount<K, E> {
    type Key = K;
    type Input = ();
    type Evidence = E;

    fn observe(&mut self, key: &K, ts: i64, _input: (), evidence: E, out: &mut Vec<Alert<K, E>>) {
        let (span, cap, condition) = (self.span, self.evidence_cap, self.condition);
        match self.mode {
            Mode::Early => {
                self.table.update(
                    key,
                    ts,
                    || CountState::new(ts),
                    |st| {
                        let min = ts.saturating_sub(span);
                        while st.times.front().is_some_and(|t| *t < min) {
                            st.times.pop_front();
                        }
                        st.evidence.prune(min);
                        super::push_small(&mut st.times, ts);
                        st.evidence.push(ts, evidence, cap);
                        let count = st.times.len() as u64;
                        if condition.matches(count as f64) {
                            let evidence = st.evidence.take();
                            out.push(Alert {
                                group: key.clone(),
                                window_start_ms: min,
                                window_end_ms: ts,
                                value: count as f64,
                                first_event_ts: st.times[0],
                                last_event_ts: ts,
                                omitted: count - evidence.len() as u64,
                                evidence,
                            });
                            None
                        } else {
                            Some(ts.saturating_add(span))
                        }
                    },
                );
            }
            Mode::AtClose => {
                let add = |st: &mut CountState<E>| {
                    st.count += 1;
                    st.last = ts;
                    st.evidence.push(ts, evidence, cap);
                };
                window::observe(&mut self.table, key, ts, span, CountState::new, add, |k, st| close_count(span, &condition, k, st), out);
            }
        }
    }

    fn advance(&mut self, watermark: i64, out: &mut Vec<Alert<K, E>>) {
        let (span, condition, at_close) = (self.span, self.condition, self.mode == Mode::AtClose);
        window::advance(&mut self.table, watermark, out, |key, st| if at_close { close_count(span, &condition, key, st) } else { None });
    }

    fn stats(&self) -> Stats {
        self.table.stats()
    }
}

fn close_count<K, E>(span: i64, condition: &Condition, group: K, st: &mut CountState<E>) -> Option<Alert<K, E>> {
    let value = st.count as f64;
    if !condition.matches(value) {
        return None;
    }
    let evidence = st.evidence.take();
    Some(Alert {
        group,
        window_start_ms: st.start,
        window_end_ms: st.start.saturating_add(span),
        value,
        first_event_ts: st.first,
        last_event_ts: st.last,
        omitted: st.count - evidence.len() as u64,
        evidence,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::correlate::testutil::canonical;
    use proptest::prelude::*;

    type A = Alert<u32, u32>;

    /// Feeds `(key, ts)` events in order (evidence = index), then a final advance.
    fn run(c: &mut EventCount<u32, u32>, events: &[(u32, i64)]) -> Vec<A> {
        let mut out = Vec::new();
        for (i, &(k, ts)) in events.iter().enumerate() {
            c.observe(&k, ts, (), i as u32, &mut out);
        }
        c.advance(i64::MAX, &mut out);
        out
    }

    fn count(span: i64, cond: Condition) -> EventCount<u32, u32> {
        EventCount::new(span, cond, 1 << 20, 1000).unwrap()
    }

    /// The slow way: one key's events in order, windows recomputed from the whole list.
    pub(crate) fn reference(span: i64, cond: Condition, key: u32, ts: &[i64]) -> Vec<A> {
        let mut out = Vec::new();
        if cond.lower_bounds_only() {
            let mut from = 0;
            for j in 0..ts.len() {
                let members: Vec<usize> = (from..=j).filter(|&i| ts[i] >= ts[j] - span).collect();
                if cond.matches(members.len() as f64) {
                    out.push(Alert {
                        group: key,
                        window_start_ms: ts[j] - span,
                        window_end_ms: ts[j],
                        value: members.len() as f64,
                        first_event_ts: ts[members[0]],
                        last_event_ts: ts[j],
                        evidence: members.iter().map(|&i| i as u32).collect(),
                        omitted: 0,
                    });
                    from = j + 1;
                }
            }
        } else {
            let mut s = 0;
            while s < ts.len() {
                let end = ts[s] + span;
                let members: Vec<usize> = (s..ts.len()).filter(|&i| ts[i] <= end).collect();
                if cond.matches(members.len() as f64) {
                    out.push(Alert {
                        group: key,
                        window_start_ms: ts[s],
                        window_end_ms: end,
                        value: members.len() as f64,
                        first_event_ts: ts[s],
                        last_event_ts: ts[*members.last().unwrap()],
                        evidence: members.iter().map(|&i| i as u32).collect(),
                        omitted: 0,
                    });
                }
                s = members.last().unwrap() + 1;
            }
        }
        out
    }

    fn single(ts: &[i64]) -> Vec<(u32, i64)> {
        ts.iter().map(|&t| (7, t)).collect()
    }

    #[test]
    fn exactly_span_apart_is_inside_span_plus_one_is_outside() {
        let mut c = count(1000, Condition::gte(2.0));
        let out = run(&mut c, &single(&[0, 1000]));
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].window_start_ms, out[0].window_end_ms, out[0].first_event_ts), (0, 1000, 0));
        let mut c = count(1000, Condition::gte(2.0));
        assert!(run(&mut c, &single(&[0, 1001])).is_empty());
        // At close: [t0, t0 + span] inclusive too.
        let mut c = count(1000, Condition::eq(2.0));
        assert_eq!(run(&mut c, &single(&[0, 1000])).len(), 1);
        let mut c = count(1000, Condition::eq(2.0));
        assert!(run(&mut c, &single(&[0, 1001])).is_empty());
    }

    #[test]
    fn equal_timestamps_count_in_arrival_order() {
        let mut c = count(0, Condition::gte(3.0));
        let out = run(&mut c, &single(&[5, 5, 5, 5, 5, 5, 5]));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].evidence, vec![0, 1, 2]);
        assert_eq!(out[1].evidence, vec![3, 4, 5]);
    }

    #[test]
    fn each_operator_and_ranges() {
        // Per key: key 1 has 1 event, key 2 has 3, key 3 has 5 (all within the window).
        let events: Vec<(u32, i64)> = [(1, 1), (2, 3), (3, 5)].iter().flat_map(|&(k, n)| (0..n).map(move |i| (k, 10 + i))).collect();
        let fired = |cond: Condition| -> Vec<(u32, f64)> {
            let mut c = count(100, cond);
            canonical(run(&mut c, &events)).iter().map(|a| (a.group, a.value)).collect()
        };
        assert_eq!(fired(Condition::gt(2.0)), vec![(2, 3.0), (3, 3.0)]);
        assert_eq!(fired(Condition::gte(3.0)), vec![(2, 3.0), (3, 3.0)]);
        assert_eq!(fired(Condition::lt(3.0)), vec![(1, 1.0)]);
        assert_eq!(fired(Condition::lte(3.0)), vec![(1, 1.0), (2, 3.0)]);
        assert_eq!(fired(Condition::eq(3.0)), vec![(2, 3.0)]);
        assert_eq!(fired(Condition::neq(3.0)), vec![(1, 1.0), (3, 5.0)]);
        assert_eq!(fired(Condition { gt: Some(1.0), lte: Some(3.0), ..Default::default() }), vec![(2, 3.0)]);
        assert_eq!(fired(Condition { gte: Some(3.0), lt: Some(10.0), ..Default::default() }), vec![(2, 3.0), (3, 5.0)]);
    }

    #[test]
    fn early_fires_at_the_event_and_restarts() {
        let mut c = count(1000, Condition::gte(3.0));
        assert_eq!(c.mode(), Mode::Early);
        let mut out = Vec::new();
        for (i, ts) in [0, 10, 20, 30, 40, 50, 60].into_iter().enumerate() {
            c.observe(&1, ts, (), i as u32, &mut out);
            if i == 2 {
                assert_eq!(out.len(), 1, "fires at the third event, not later");
            }
        }
        // 7 events, gte 3: two alerts over disjoint events, the seventh waits.
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].evidence, vec![3, 4, 5]);
        assert_eq!(c.keys(), 1);
        c.advance(i64::MAX, &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn at_close_waits_for_the_watermark() {
        let mut c = count(1000, Condition::lt(3.0));
        assert_eq!(c.mode(), Mode::AtClose);
        let mut out = Vec::new();
        c.observe(&1, 0, (), 0, &mut out);
        c.observe(&1, 500, (), 1, &mut out);
        c.advance(1000, &mut out);
        assert!(out.is_empty(), "an event at 1000 could still come");
        c.advance(1001, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].window_start_ms, out[0].window_end_ms, out[0].value, out[0].last_event_ts), (0, 1000, 2.0, 500));
        assert_eq!(c.keys(), 0);
        // A later event of the key closes the window at once, and opens the next one.
        let mut out = Vec::new();
        c.observe(&2, 2000, (), 0, &mut out);
        c.observe(&2, 3001, (), 1, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].window_start_ms, 2000);
        c.advance(i64::MAX, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].window_start_ms, 3001);
    }

    #[test]
    fn state_freed_after_advance() {
        let mut c = count(1000, Condition::gte(100.0));
        let mut out = Vec::new();
        for k in 0..50u32 {
            c.observe(&k, 10 * k as i64, (), 0, &mut out);
        }
        assert_eq!(c.keys(), 50);
        assert!(c.state_bytes() >= 50 * EventCount::<u32, u32>::bytes_per_key());
        c.advance(1000 + 250, &mut out); // keys 0..=24 have last + span < 1250
        assert_eq!(c.keys(), 25);
        c.advance(1000 + 491, &mut out);
        assert_eq!(c.keys(), 0);
        assert_eq!(c.state_bytes(), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn key_cap_evicts_least_recently_seen() {
        let mut c = EventCount::<u32, u32>::new(1000, Condition::gte(2.0), 3, 4).unwrap();
        let mut out = Vec::new();
        c.observe(&1, 0, (), 0, &mut out);
        c.observe(&2, 1, (), 0, &mut out);
        c.observe(&3, 2, (), 0, &mut out);
        c.observe(&1, 3, (), 0, &mut out); // fires and frees key 1
        assert_eq!(out.len(), 1);
        c.observe(&4, 4, (), 0, &mut out);
        c.observe(&5, 5, (), 0, &mut out); // cap 3: evicts key 2 (least recently seen)
        assert_eq!(c.stats().evictions, 1);
        assert_eq!(c.keys(), 3);
        c.observe(&2, 6, (), 0, &mut out); // key 2 starts over: no alert; evicts key 3
        assert_eq!(out.len(), 1);
        c.observe(&4, 7, (), 0, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(c.stats().evictions, 2);
    }

    #[test]
    fn out_of_order_events_are_rejected_and_counted() {
        let mut c = count(1000, Condition::gte(2.0));
        let mut out = Vec::new();
        c.observe(&1, 100, (), 0, &mut out);
        c.observe(&1, 99, (), 1, &mut out);
        c.advance(500, &mut out);
        c.observe(&2, 499, (), 2, &mut out);
        assert_eq!(c.stats().rejected, 2);
        assert!(out.is_empty());
    }

    #[test]
    fn evidence_is_capped_with_omitted_count() {
        let mut c = EventCount::<u32, u32>::new(1000, Condition::gte(5.0), 16, 2).unwrap();
        let out = run(&mut c, &single(&[1, 2, 3, 4, 5]));
        assert_eq!((out[0].evidence.clone(), out[0].omitted), (vec![3, 4], 3));
    }

    fn conditions() -> impl Strategy<Value = Condition> {
        (0usize..8, 0u32..6, 0u32..4).prop_map(|(op, a, b)| {
            let (a, b) = (a as f64, (a + b) as f64);
            match op {
                0 => Condition::gt(a),
                1 => Condition::gte(a),
                2 => Condition::lt(a),
                3 => Condition::lte(a),
                4 => Condition::eq(a),
                5 => Condition::neq(a),
                6 => Condition { gte: Some(a), lte: Some(b), ..Default::default() },
                _ => Condition { gt: Some(a), gte: Some(b), ..Default::default() },
            }
        })
    }

    /// Per-key sorted timestamps for up to 4 keys.
    pub(crate) fn keyed_times() -> impl Strategy<Value = Vec<Vec<i64>>> {
        prop::collection::vec(
            prop::collection::vec(0i64..60, 0..25).prop_map(|mut v| {
                v.sort();
                v
            }),
            1..5,
        )
    }

    /// All events in global time order, ties between keys broken by `salt`, evidence = the
    /// event's index within its key.
    pub(crate) fn time_order(per_key: &[Vec<i64>], salt: u64) -> Vec<(u32, i64, u32)> {
        let mut all: Vec<(u32, i64, u32)> =
            per_key.iter().enumerate().flat_map(|(k, ts)| ts.iter().enumerate().map(move |(i, &t)| (k as u32, t, i as u32))).collect();
        all.sort_by_key(|&(k, t, i)| (t, (k as u64 ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15), i));
        all
    }

    proptest! {
        #[test]
        fn matches_brute_force_reference(per_key in keyed_times(), cond in conditions(), span in 0i64..20) {
            let mut c = EventCount::<u32, u32>::new(span, cond, 1 << 20, 1000).unwrap();
            let mut out = Vec::new();
            for (k, t, i) in time_order(&per_key, 0) {
                c.observe(&k, t, (), i, &mut out);
                c.advance(t, &mut out);
            }
            c.advance(i64::MAX, &mut out);
            let expected: Vec<A> = per_key.iter().enumerate().flat_map(|(k, ts)| reference(span, cond, k as u32, ts)).collect();
            prop_assert_eq!(canonical(out), canonical(expected));
            prop_assert_eq!(c.keys(), 0);
            prop_assert_eq!(c.state_bytes(), 0);
        }

        #[test]
        fn alerts_do_not_depend_on_key_interleaving(per_key in keyed_times(), cond in conditions(), span in 0i64..20, salt: u64) {
            // Key after key with one final advance, versus time order with a tie-break and an
            // advance after every event.
            let mut a = EventCount::<u32, u32>::new(span, cond, 1 << 20, 3).unwrap();
            let mut out_a = Vec::new();
            for (k, ts) in per_key.iter().enumerate() {
                for (i, &t) in ts.iter().enumerate() {
                    a.observe(&(k as u32), t, (), i as u32, &mut out_a);
                }
            }
            a.advance(i64::MAX, &mut out_a);
            let mut b = EventCount::<u32, u32>::new(span, cond, 1 << 20, 3).unwrap();
            let mut out_b = Vec::new();
            for (k, t, i) in time_order(&per_key, salt) {
                b.observe(&k, t, (), i, &mut out_b);
                b.advance(t, &mut out_b);
            }
            b.advance(i64::MAX, &mut out_b);
            prop_assert_eq!(canonical(out_a), canonical(out_b));
        }
    }
}
