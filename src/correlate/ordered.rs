//! `temporal_ordered`: the referenced rules seen for a group in the order of the correlation's
//! `rules` list, the first to the last within the timespan.
//!
//! Input: the set of referenced rules an event matched, as a bit mask (bit `i` = step `i`; at
//! most [`MAX_RULES`](super::temporal::MAX_RULES) steps), as for [`temporal`](super::temporal).
//! Bits beyond the step count are ignored; an event with no bit left changes nothing.
//!
//! A match is a chain of events `e0, e1, ..., e(n-1)`, each arriving after the previous one
//! (equal timestamps are fine, in arrival order), `e_i` matching step `i`, with
//! `t(e(n-1)) - t(e0) <= span` (inclusive). Events of other rules, or repeats, between the steps
//! are noise and are skipped. One event advances a chain by at most one step, even if it matches
//! several steps. The alert fires at the event that completes the first match since the last
//! alert (always early, there is no condition: all steps are required), with
//! `window_start_ms = t - span`, `window_end_ms = t`, and then the key's state is cleared: the
//! events up to and including the completing one are consumed, and the next alert needs a new
//! chain of later events.
//!
//! Repeated steps and restarts: for each step the state keeps only the chain reaching it with
//! the **latest start** (a repeated step-0 event restarts the candidate at the newer time; a
//! repeated later step keeps the chain it already has unless the new one started later). A later
//! start can only help meet the timespan, so an alert fires exactly when some match exists; the
//! alert reports the match with the latest start (`first_event_ts` is its step-0 time), whose
//! events are the evidence (the most recent `evidence_cap` of them). Chains whose start is more
//! than `span` before the current event are dropped. State per key: one chain per step but the
//! last, at most `n - 1` chains of at most `n - 1` (time, evidence) pairs.

use std::hash::Hash;
use std::mem::size_of;

use super::temporal::{check_rules, rule_mask};
use super::{check_span, Alert, Correlator, HeapBytes, KeyBytes, ParamError, Stats, Table};

/// The chain with the latest start reaching a step: its start and its events.
type Chain<E> = Option<(i64, Vec<(i64, E)>)>;

/// Per-key state.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct OrderedState<E> {
    best: Vec<Chain<E>>,
}

impl<E> HeapBytes for OrderedState<E> {
    fn heap_bytes(&self) -> usize {
        self.best.capacity() * size_of::<Chain<E>>() + self.best.iter().flatten().map(|(_, chain)| chain.capacity() * size_of::<(i64, E)>()).sum::<usize>()
    }
}

/// A `temporal_ordered` correlation.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(deserialize = "K: serde::Deserialize<'de> + Ord + std::hash::Hash + Clone + crate::correlate::KeyBytes, E: serde::Deserialize<'de>"))]
pub struct TemporalOrdered<K, E> {
    span: i64,
    steps: usize,
    evidence_cap: usize,
    table: Table<K, OrderedState<E>>,
}

impl<K: Ord + Hash + Clone + KeyBytes, E: Clone> TemporalOrdered<K, E> {
    /// Adds `other`'s keys that `keep` accepts (a checkpoint divided by key among another
    /// number of workers); `other`'s counters too when `counters`.
    pub fn absorb(&mut self, other: Self, keep: &dyn Fn(&K) -> bool, counters: bool) {
        self.table.absorb(other.table, keep, counters);
    }

    /// A correlation of `steps` ordered rules within `span_ms`.
    pub fn new(span_ms: i64, steps: usize, key_cap: usize, evidence_cap: usize) -> Result<Self, ParamError> {
        check_rules(steps)?;
        Ok(TemporalOrdered { span: check_span(span_ms)?, steps, evidence_cap, table: Table::new(key_cap)? })
    }

    /// Estimated fixed bytes per live key, before the chains it holds.
    pub fn bytes_per_key() -> usize {
        Table::<K, OrderedState<E>>::bytes_per_key()
    }
}

impl<K: Ord + Hash + Clone + KeyBytes, E: Clone> Correlator for TemporalOrdered<K, E> {
    type Key = K;
    type Input = u64;
    type Evidence = E;

    fn observe(&mut self, key: &K, ts: i64, matched: u64, evidence: E, out: &mut Vec<Alert<K, E>>) {
        let matched = matched & rule_mask(self.steps);
        if matched == 0 {
            return;
        }
        let (span, n, cap) = (self.span, self.steps, self.evidence_cap);
        let mut fire = |start: i64, mut chain: Vec<(i64, E)>| {
            let omitted = chain.len().saturating_sub(cap);
            let evidence = chain.drain(omitted..).map(|(_, e)| e).collect();
            out.push(Alert {
                group: key.clone(),
                window_start_ms: ts.saturating_sub(span),
                window_end_ms: ts,
                value: n as f64,
                first_event_ts: start,
                last_event_ts: ts,
                evidence,
                omitted: omitted as u64,
            });
        };
        self.table.update(
            key,
            ts,
            || OrderedState { best: Vec::new() },
            |st| {
                if n == 1 {
                    fire(ts, vec![(ts, evidence)]);
                    return None;
                }
                if st.best.is_empty() {
                    st.best.resize_with(n - 1, || None);
                }
                let min = ts.saturating_sub(span);
                for chain in st.best.iter_mut() {
                    if chain.as_ref().is_some_and(|c| c.0 < min) {
                        *chain = None;
                    }
                }
                // Highest step first, so one event moves a chain by one step at most.
                for i in (1..n).rev() {
                    if matched >> i & 1 == 0 {
                        continue;
                    }
                    let Some((start, prev)) = &st.best[i - 1] else { continue };
                    if i == n - 1 {
                        let mut chain = prev.clone();
                        chain.push((ts, evidence));
                        fire(*start, chain);
                        return None;
                    }
                    if st.best[i].as_ref().is_none_or(|c| c.0 < *start) {
                        let start = *start;
                        let mut chain = prev.clone();
                        chain.push((ts, evidence.clone()));
                        st.best[i] = Some((start, chain));
                    }
                }
                if matched & 1 == 1 {
                    st.best[0] = Some((ts, vec![(ts, evidence)]));
                }
                st.best.iter().flatten().map(|c| c.0.saturating_add(span)).max()
            },
        );
    }

    fn advance(&mut self, watermark: i64, _out: &mut Vec<Alert<K, E>>) {
        self.table.expire(watermark, |_, _| {});
    }

    fn stats(&self) -> Stats {
        self.table.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::temporal::Temporal;
    use proptest::prelude::*;

    type A = Alert<u32, u32>;

    fn run(c: &mut impl Correlator<Key = u32, Input = u64, Evidence = u32>, events: &[(i64, u64)]) -> Vec<A> {
        let mut out = Vec::new();
        for (i, &(ts, m)) in events.iter().enumerate() {
            c.observe(&1, ts, m, i as u32, &mut out);
            c.advance(ts, &mut out);
        }
        c.advance(i64::MAX, &mut out);
        out
    }

    fn ord(span: i64, steps: usize) -> TemporalOrdered<u32, u32> {
        TemporalOrdered::new(span, steps, 1 << 10, 16).unwrap()
    }

    const A_: u64 = 0b001;
    const B_: u64 = 0b010;
    const C_: u64 = 0b100;

    #[test]
    fn order_matters_unlike_temporal() {
        let wrong = [(0, C_), (10, B_), (20, A_)];
        assert!(run(&mut ord(100, 3), &wrong).is_empty());
        assert_eq!(run(&mut Temporal::new(100, 3, None, 16, 16).unwrap(), &wrong).len(), 1);
        let right = [(0, A_), (10, B_), (20, C_)];
        let out = run(&mut ord(100, 3), &right);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].first_event_ts, out[0].last_event_ts, out[0].evidence.clone()), (0, 20, vec![0, 1, 2]));
    }

    #[test]
    fn span_is_inclusive() {
        assert_eq!(run(&mut ord(100, 2), &[(0, A_), (100, B_)]).len(), 1);
        assert!(run(&mut ord(100, 2), &[(0, A_), (101, B_)]).is_empty());
    }

    #[test]
    fn noise_and_repeated_steps() {
        // Noise (bit 7 is beyond the steps, D is another rule), repeats of A and B.
        let evs = [(0, A_), (5, 1 << 7), (10, B_), (15, B_), (20, A_), (25, 0), (30, B_), (200, C_)];
        assert!(run(&mut ord(100, 3), &evs).is_empty(), "C comes too late for every chain");
        let evs = [(0, A_), (5, 1 << 7), (10, B_), (15, B_), (20, A_), (90, C_), (95, A_), (100, B_)];
        let out = run(&mut ord(100, 3), &evs);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].first_event_ts, out[0].evidence.clone()), (0, vec![0, 2, 5]));
        // A restart at 50 keeps the match alive past the first A's span.
        let evs = [(0, A_), (50, A_), (60, B_), (140, C_)];
        let out = run(&mut ord(100, 3), &evs);
        assert_eq!((out[0].first_event_ts, out[0].evidence.clone()), (50, vec![1, 2, 3]));
        // A later B cannot rescue a chain whose A is too old.
        let evs = [(0, A_), (10, B_), (95, A_), (120, C_)];
        assert!(run(&mut ord(100, 3), &evs).is_empty());
    }

    #[test]
    fn one_event_is_one_step_and_equal_timestamps() {
        assert!(run(&mut ord(10, 2), &[(0, A_ | B_)]).is_empty());
        assert_eq!(run(&mut ord(10, 2), &[(0, A_ | B_), (0, A_ | B_)]).len(), 1);
        assert!(run(&mut ord(0, 2), &[(5, B_), (5, A_)]).is_empty(), "arrival order decides at equal times");
        assert_eq!(run(&mut ord(0, 2), &[(5, A_), (5, B_)]).len(), 1);
    }

    #[test]
    fn restart_after_alert() {
        let evs = [(0, A_), (1, B_), (2, B_), (3, A_), (4, B_)];
        let out = run(&mut ord(10, 2), &evs);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].evidence, vec![3, 4]);
        assert_eq!(run(&mut ord(10, 1), &[(0, A_), (1, A_)]).len(), 2);
    }

    #[test]
    fn state_freed_and_key_cap() {
        let mut c = TemporalOrdered::<u32, u32>::new(100, 3, 2, 16).unwrap();
        let mut out = Vec::new();
        c.observe(&1, 0, A_, 0, &mut out);
        c.observe(&2, 1, B_, 0, &mut out); // no chain to extend: no state
        assert_eq!(c.keys(), 1);
        c.observe(&2, 2, A_, 0, &mut out);
        c.observe(&3, 3, A_, 0, &mut out);
        assert_eq!((c.keys(), c.stats().evictions), (2, 1));
        assert!(c.state_bytes() > 0);
        c.advance(103, &mut out);
        assert_eq!(c.keys(), 1);
        c.advance(104, &mut out);
        assert_eq!((c.keys(), c.state_bytes()), (0, 0));
    }

    /// The slow way, for one key: (first_event_ts, last_event_ts) of each alert.
    fn reference(span: i64, n: usize, ev: &[(i64, u64)]) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut from = 0;
        for j in 0..ev.len() {
            if ev[j].1 >> (n - 1) & 1 == 0 {
                continue;
            }
            // Latest viable start: a step-0 event i0 in [from, j) (or j itself when n == 1)
            // from which steps 1..n-1 match greedily in (i0, j).
            let starts: Vec<usize> = if n == 1 { vec![j] } else { (from..j).rev().collect() };
            let found = starts.into_iter().find(|&i0| {
                if ev[i0].1 & 1 == 0 || ev[j].0 - ev[i0].0 > span {
                    return false;
                }
                if n == 1 {
                    return true;
                }
                let mut step = 1;
                for e in &ev[i0 + 1..j] {
                    if step < n - 1 && e.1 >> step & 1 == 1 {
                        step += 1;
                    }
                }
                step >= n - 1
            });
            if let Some(i0) = found {
                out.push((ev[i0].0, ev[j].0));
                from = j + 1;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn matches_brute_force_reference(mut ev in prop::collection::vec((0i64..60, 0u64..16), 0..30), n in 1usize..5, span in 0i64..25) {
            ev.sort_by_key(|e| e.0);
            let got: Vec<(i64, i64)> = run(&mut ord(span, n), &ev).iter().map(|a| (a.first_event_ts, a.last_event_ts)).collect();
            prop_assert_eq!(got, reference(span, n, &ev));
        }
    }
}
