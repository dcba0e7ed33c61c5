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

use std::collections::BTreeSet;

use rustc_hash::FxHashMap as HashMap;
use std::hash::Hash;

use super::{Alert, Correlator, ParamError, Stats};

struct Open<E> {
    start: i64,
    deadline: i64,
    last: i64,
    evidence: Vec<E>,
    omitted: u64,
}

/// The bit of the input mask for A (the first referenced rule).
pub const A: u64 = 1;
/// The bit of the input mask for B (the second referenced rule).
pub const B: u64 = 2;

/// "A then no B within the span", per key.
pub struct Absence<K, E> {
    span: i64,
    key_cap: usize,
    evidence_cap: usize,
    open: HashMap<K, Open<E>>,
    deadlines: BTreeSet<(i64, K)>,
    watermark: i64,
    evictions: u64,
    rejected: u64,
}

impl<K: Ord + Hash + Clone, E: Clone> Absence<K, E> {
    /// An absence correlation over `span_ms`, at most `key_cap` open keys.
    pub fn new(span_ms: i64, key_cap: usize, evidence_cap: usize) -> Result<Self, ParamError> {
        if span_ms <= 0 {
            return Err(ParamError::NegativeSpan(span_ms));
        }
        if key_cap == 0 {
            return Err(ParamError::Limit("the key cap must be at least 1".into()));
        }
        Ok(Absence {
            span: span_ms,
            key_cap,
            evidence_cap,
            open: HashMap::default(),
            deadlines: BTreeSet::new(),
            watermark: i64::MIN,
            evictions: 0,
            rejected: 0,
        })
    }

    /// Fixed bytes of state per open key (plus its key and evidence).
    pub fn bytes_per_key() -> usize {
        std::mem::size_of::<Open<E>>() + 2 * std::mem::size_of::<K>() + std::mem::size_of::<(i64, K)>() + 32
    }
}

impl<K: Ord + Hash + Clone, E: Clone> Correlator for Absence<K, E> {
    type Key = K;
    type Input = u64;
    type Evidence = E;

    fn observe(&mut self, key: &K, ts_ms: i64, input: u64, evidence: E, _out: &mut Vec<Alert<K, E>>) {
        if ts_ms < self.watermark {
            self.rejected += 1;
            return;
        }
        if input & A != 0 {
            match self.open.get_mut(key) {
                Some(open) => {
                    open.last = ts_ms;
                    if open.evidence.len() < self.evidence_cap {
                        open.evidence.push(evidence.clone());
                    } else {
                        open.omitted += 1;
                    }
                }
                None => {
                    if self.open.len() >= self.key_cap {
                        if let Some((deadline, victim)) = self.deadlines.pop_first() {
                            let _ = deadline;
                            self.open.remove(&victim);
                            self.evictions += 1;
                        }
                    }
                    let deadline = ts_ms.saturating_add(self.span);
                    let ev = if self.evidence_cap > 0 { vec![evidence.clone()] } else { Vec::new() };
                    let omitted = u64::from(self.evidence_cap == 0);
                    self.open.insert(key.clone(), Open { start: ts_ms, deadline, last: ts_ms, evidence: ev, omitted });
                    self.deadlines.insert((deadline, key.clone()));
                }
            }
        }
        if input & B != 0 {
            if let Some(open) = self.open.get(key) {
                if ts_ms <= open.deadline {
                    let deadline = open.deadline;
                    self.open.remove(key);
                    self.deadlines.remove(&(deadline, key.clone()));
                }
            }
        }
    }

    fn advance(&mut self, watermark_ms: i64, out: &mut Vec<Alert<K, E>>) {
        if watermark_ms <= self.watermark {
            return;
        }
        self.watermark = watermark_ms;
        // A deadline d is final once no event at or before d can still come: watermark > d.
        while let Some((deadline, _)) = self.deadlines.first() {
            if *deadline >= watermark_ms {
                break;
            }
            let Some((_, key)) = self.deadlines.pop_first() else { break };
            if let Some(open) = self.open.remove(&key) {
                out.push(Alert {
                    group: key,
                    window_start_ms: open.start,
                    window_end_ms: open.deadline,
                    value: 1.0,
                    first_event_ts: open.start,
                    last_event_ts: open.last,
                    evidence: open.evidence,
                    omitted: open.omitted,
                });
            }
        }
    }

    fn stats(&self) -> Stats {
        Stats { keys: self.open.len(), state_bytes: self.open.len() * Self::bytes_per_key(), evictions: self.evictions, rejected: self.rejected }
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
