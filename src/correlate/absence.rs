//! `x-vigil-absence`: "A, then no B within T", per group (a vigil extension; Sigma has no way to
//! say that something did not happen).
//!
//! Semantics, per key, over the in-order stream:
//! - An A event at `t` opens an expectation with deadline `t + T` unless one is already open
//!   (the earliest unresolved A is the one that counts; later A events add to its evidence).
//! - A B event at `t_b` with `t_b <= deadline` resolves the open expectation: no alert. Bounds
//!   are inclusive, so B exactly `T` after A, or at the same millisecond, is in time. An event
//!   that matches both A and B counts as A followed at once by B: no alert.
//! - When the watermark passes the deadline with the expectation still open, the alert fires
//!   with window `[t, t + T]` and value 1; the key's state is freed.
//! - A B with nothing open does nothing.
//!
//! State is one small record per key with an open expectation (bytes per key: see
//! [`Absence::bytes_per_key`]); a key cap evicts the expectation with the earliest deadline,
//! counting it, and never emits for an evicted key.

use std::hash::Hash;
use std::mem::size_of;

use super::{Alert, Correlator, HeapBytes, KeyBytes, ParamError, Stats, Table};

#[derive(serde::Serialize, serde::Deserialize)]
struct Open<E> {
    start: i64,
    deadline: i64,
    last: i64,
    evidence: Vec<E>,
    omitted: u64,
}

impl<E> HeapBytes for Open<E> {
    fn heap_bytes(&self) -> usize {
        self.evidence.capacity() * size_of::<E>()
    }
}

/// The bit of the input mask for A (the first referenced rule).
pub const A: u64 = 1;
/// The bit of the input mask for B (the second referenced rule).
pub const B: u64 = 2;

/// "A then no B within the span", per key, in the key table every correlation kind shares
/// (an open expectation's deadline is its key's deadline there).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(deserialize = "K: serde::Deserialize<'de> + Ord + std::hash::Hash + Clone + crate::correlate::KeyBytes, E: serde::Deserialize<'de>"))]
pub struct Absence<K, E> {
    span: i64,
    evidence_cap: usize,
    table: Table<K, Open<E>>,
}

impl<K: Ord + Hash + Clone + KeyBytes, E: Clone> Absence<K, E> {
    /// Adds `other`'s keys that `keep` accepts (a checkpoint divided by key among another
    /// number of workers); `other`'s counters too when `counters`.
    pub fn absorb(&mut self, other: Self, keep: &dyn Fn(&K) -> bool, counters: bool) {
        self.table.absorb(other.table, keep, counters);
    }

    /// An absence correlation over `span_ms`, at most `key_cap` open keys.
    pub fn new(span_ms: i64, key_cap: usize, evidence_cap: usize) -> Result<Self, ParamError> {
        if span_ms <= 0 {
            return Err(ParamError::NegativeSpan(span_ms));
        }
        Ok(Absence { span: span_ms, evidence_cap, table: Table::new(key_cap)? })
    }

    /// Fixed bytes of state per open key (plus its evidence).
    pub fn bytes_per_key() -> usize {
        Table::<K, Open<E>>::bytes_per_key()
    }
}

/// The alert of an expectation that ran out.
fn alert_of<K, E>(key: K, open: Open<E>) -> Alert<K, E> {
    Alert {
        group: key,
        window_start_ms: open.start,
        window_end_ms: open.deadline,
        value: 1.0,
        first_event_ts: open.start,
        last_event_ts: open.last,
        evidence: open.evidence,
        omitted: open.omitted,
    }
}

impl<K: Ord + Hash + Clone + KeyBytes, E: Clone> Correlator for Absence<K, E> {
    type Key = K;
    type Input = u64;
    type Evidence = E;

    fn observe(&mut self, key: &K, ts_ms: i64, input: u64, evidence: E, out: &mut Vec<Alert<K, E>>) {
        let (span, cap) = (self.span, self.evidence_cap);
        // A fresh state is a placeholder: it is kept only when an A opens it.
        let make = || Open { start: i64::MIN, deadline: i64::MIN, last: ts_ms, evidence: Vec::new(), omitted: 0 };
        self.table.update(key, ts_ms, make, |open| {
            // Input is in event-time order, so an event after the deadline means no B came in
            // time: the expectation is decided here, whenever the watermark would have said so
            // (a later A opens a new one instead of joining an expired one).
            if open.start != i64::MIN && ts_ms > open.deadline {
                let done = std::mem::replace(open, Open { start: i64::MIN, deadline: i64::MIN, last: ts_ms, evidence: Vec::new(), omitted: 0 });
                out.push(alert_of(key.clone(), done));
            }
            if input & A != 0 {
                if open.start == i64::MIN {
                    (open.start, open.deadline) = (ts_ms, ts_ms.saturating_add(span));
                }
                open.last = ts_ms;
                if open.evidence.len() < cap {
                    open.evidence.push(evidence);
                } else {
                    open.omitted += 1;
                }
            }
            let resolved = input & B != 0 && open.start != i64::MIN && ts_ms <= open.deadline;
            (open.start != i64::MIN && !resolved).then_some(open.deadline)
        });
    }

    fn advance(&mut self, watermark_ms: i64, out: &mut Vec<Alert<K, E>>) {
        // A deadline d is final once no event at or before d can still come: watermark > d.
        self.table.expire_into(watermark_ms, out, |key, open| Some(alert_of(key, open)));
    }

    fn stats(&self) -> Stats {
        self.table.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[(i64, u64)], watermark: i64) -> Vec<(i64, i64)> {
        let mut a: Absence<u32, i64> = Absence::new(100, 10, 5).unwrap();
        let mut out = Vec::new();
        for &(t, mask) in events {
            a.observe(&1, t, mask, t, &mut out);
        }
        a.advance(watermark, &mut out);
        out.iter().map(|al| (al.window_start_ms, al.window_end_ms)).collect()
    }

    #[test]
    fn a_without_b_fires_once_the_deadline_is_final() {
        assert_eq!(run(&[(0, A)], 100), vec![], "watermark at the deadline: B could still come");
        assert_eq!(run(&[(0, A)], 101), vec![(0, 100)]);
    }

    #[test]
    fn b_within_the_span_inclusive_resolves() {
        assert_eq!(run(&[(0, A), (100, B)], 1_000), vec![]);
        assert_eq!(run(&[(0, A), (0, B)], 1_000), vec![]);
        assert_eq!(run(&[(0, A | B)], 1_000), vec![]);
        assert_eq!(run(&[(0, A), (101, B)], 1_000), vec![(0, 100)]);
    }

    #[test]
    fn earliest_a_counts_and_b_alone_does_nothing() {
        assert_eq!(run(&[(0, A), (50, A), (120, B)], 1_000), vec![(0, 100)]);
        assert_eq!(run(&[(10, B)], 1_000), vec![]);
        assert_eq!(run(&[(0, A), (20, B), (30, A)], 1_000), vec![(30, 130)]);
    }

    #[test]
    fn an_a_after_the_deadline_opens_a_new_expectation_whatever_the_watermark() {
        // The watermark is only advanced at the end: the first expectation is decided by the
        // later A's time, not by when the watermark happens to move.
        assert_eq!(run(&[(0, A), (150, A)], 1_000), vec![(0, 100), (150, 250)]);
        assert_eq!(run(&[(0, A), (150, A), (200, B)], 1_000), vec![(0, 100)]);
    }

    #[test]
    fn key_cap_evicts_the_earliest_deadline() {
        let mut a: Absence<u32, ()> = Absence::new(100, 2, 1).unwrap();
        let mut out = Vec::new();
        for (k, t) in [(1, 0), (2, 10), (3, 20)] {
            a.observe(&k, t, A, (), &mut out);
        }
        assert_eq!(a.stats().evictions, 1);
        a.advance(10_000, &mut out);
        let keys: Vec<u32> = out.iter().map(|al| al.group).collect();
        assert_eq!(keys, vec![2, 3]);
        assert_eq!(a.stats().keys, 0);
    }
}
