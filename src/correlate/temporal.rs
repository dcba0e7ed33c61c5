//! `temporal`: the referenced rules seen for a group within a window, in any order.
//!
//! Input: the set of referenced rules an event matched, as a bit mask (bit `i` = the `i`-th rule
//! of the correlation's `rules` list; at most [`MAX_RULES`] rules). An event that matched several
//! referenced rules is observed once with all their bits. Bits beyond the rule count are ignored,
//! and an event with no bit left changes nothing.
//!
//! The window's value is the number of distinct referenced rules seen in it. Without a
//! condition (the usual case) the condition is `gte: <number of rules>`: all of them. Mode (see
//! the [module docs](super)): early with sliding windows when the condition has only
//! `gt`/`gte`, otherwise at close with anchored windows.
//!
//! Early state per key: for each rule, the latest event matching it since the last alert
//! (time, arrival number, evidence); a rule counts in the window of an event at `t` when that
//! time is `>= t - span`. At-close state: the mask of rules seen and the first event per rule.
//! Evidence: one event per rule seen, in arrival order (early: each rule's latest event, at
//! close: each rule's first; an event that matched several rules counts once), the most recent
//! `evidence_cap`; `omitted` counts the other such events.

use std::hash::Hash;
use std::mem::size_of;

use super::window::{self, Anchored};
use super::{check_span, Alert, Condition, Correlator, Evidence, HeapBytes, KeyBytes, Mode, ParamError, Stats, Table};

/// The most rules a `temporal` or `temporal_ordered` correlation may reference.
pub const MAX_RULES: usize = 64;

/// Per-key state.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct TemporalState<E> {
    latest: Vec<Option<(i64, u64, E)>>,
    seq: u64,
    mask: u64,
    start: i64,
    last: i64,
    evidence: Evidence<E>,
}

impl<E> Anchored for TemporalState<E> {
    fn start(&self) -> i64 {
        self.start
    }
}

impl<E> HeapBytes for TemporalState<E> {
    fn heap_bytes(&self) -> usize {
        self.latest.capacity() * size_of::<Option<(i64, u64, E)>>() + self.evidence.heap_bytes()
    }
}

impl<E> TemporalState<E> {
    fn new(ts: i64) -> Self {
        TemporalState { latest: Vec::new(), seq: 0, mask: 0, start: ts, last: ts, evidence: Evidence::default() }
    }
}

/// A `temporal` correlation.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(deserialize = "K: serde::Deserialize<'de> + Ord + std::hash::Hash + Clone + crate::correlate::KeyBytes, E: serde::Deserialize<'de>"))]
pub struct Temporal<K, E> {
    span: i64,
    rules: usize,
    condition: Condition,
    mode: Mode,
    evidence_cap: usize,
    table: Table<K, TemporalState<E>>,
}

pub(crate) fn rule_mask(rules: usize) -> u64 {
    if rules >= 64 {
        u64::MAX
    } else {
        (1u64 << rules) - 1
    }
}

pub(crate) fn check_rules(rules: usize) -> Result<(), ParamError> {
    if rules == 0 || rules > MAX_RULES {
        return Err(ParamError::Limit(format!("a correlation references 1 to {MAX_RULES} rules, got {rules}")));
    }
    Ok(())
}

impl<K: Ord + Hash + Clone + KeyBytes, E: Clone> Temporal<K, E> {
    /// Adds `other`'s keys that `keep` accepts (a checkpoint divided by key among another
    /// number of workers); `other`'s counters too when `counters`.
    pub fn absorb(&mut self, other: Self, keep: &dyn Fn(&K) -> bool, counters: bool) {
        self.table.absorb(other.table, keep, counters);
    }

    /// A correlation of `rules` referenced rules over `span_ms` windows; `condition` `None`
    /// means all of them (`gte: rules`).
    pub fn new(span_ms: i64, rules: usize, condition: Option<Condition>, key_cap: usize, evidence_cap: usize) -> Result<Self, ParamError> {
        check_rules(rules)?;
        let condition = condition.unwrap_or(Condition::gte(rules as f64));
        condition.validate()?;
        let mode = if condition.lower_bounds_only() { Mode::Early } else { Mode::AtClose };
        Ok(Temporal { span: check_span(span_ms)?, rules, condition, mode, evidence_cap, table: Table::new(key_cap)? })
    }

    /// The mode chosen from the condition.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Estimated fixed bytes per live key, before the per-rule slots and evidence it holds.
    pub fn bytes_per_key() -> usize {
        Table::<K, TemporalState<E>>::bytes_per_key()
    }
}

fn close_temporal<K, E>(span: i64, condition: &Condition, group: K, st: &mut TemporalState<E>) -> Option<Alert<K, E>> {
    let value = st.mask.count_ones() as u64;
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
        omitted: st.seq - evidence.len() as u64,
        evidence,
    })
}

impl<K: Ord + Hash + Clone + KeyBytes, E: Clone> Correlator for Temporal<K, E> {
    type Key = K;
    type Input = u64;
    type Evidence = E;

    fn observe(&mut self, key: &K, ts: i64, matched: u64, evidence: E, out: &mut Vec<Alert<K, E>>) {
        let matched = matched & rule_mask(self.rules);
        if matched == 0 {
            return;
        }
        let (span, cap, condition, rules) = (self.span, self.evidence_cap, self.condition, self.rules);
        match self.mode {
            Mode::Early => {
                self.table.update(
                    key,
                    ts,
                    || TemporalState::new(ts),
                    |st| {
                        let min = ts.saturating_sub(span);
                        if st.latest.is_empty() {
                            st.latest.resize_with(rules, || None);
                        }
                        st.seq += 1;
                        let mut count = 0u64;
                        for (i, slot) in st.latest.iter_mut().enumerate() {
                            if matched >> i & 1 == 1 {
                                *slot = Some((ts, st.seq, evidence.clone()));
                            } else if slot.as_ref().is_some_and(|s| s.0 < min) {
                                *slot = None;
                            }
                            count += slot.is_some() as u64;
                        }
                        if !condition.matches(count as f64) {
                            return Some(ts.saturating_add(span));
                        }
                        let mut seen: Vec<&(i64, u64, E)> = st.latest.iter().flatten().collect();
                        seen.sort_by_key(|s| (s.0, s.1));
                        seen.dedup_by_key(|s| s.1);
                        let events = seen.len() as u64;
                        let first = seen.first().map_or(ts, |s| s.0);
                        let skip = seen.len().saturating_sub(cap);
                        let ev: Vec<E> = seen[skip..].iter().map(|s| s.2.clone()).collect();
                        out.push(Alert {
                            group: key.clone(),
                            window_start_ms: min,
                            window_end_ms: ts,
                            value: count as f64,
                            first_event_ts: first,
                            last_event_ts: ts,
                            omitted: events - ev.len() as u64,
                            evidence: ev,
                        });
                        None
                    },
                );
            }
            Mode::AtClose => {
                let add = |st: &mut TemporalState<E>| {
                    st.last = ts;
                    if matched & !st.mask != 0 {
                        st.mask |= matched;
                        st.seq += 1;
                        st.evidence.push(ts, evidence, cap);
                    }
                };
                window::observe(&mut self.table, key, ts, span, TemporalState::new, add, |k, st| close_temporal(span, &condition, k, st), out);
            }
        }
    }

    fn advance(&mut self, watermark: i64, out: &mut Vec<Alert<K, E>>) {
        let (span, condition, at_close) = (self.span, self.condition, self.mode == Mode::AtClose);
        window::advance(&mut self.table, watermark, out, |key, st| if at_close { close_temporal(span, &condition, key, st) } else { None });
    }

    fn stats(&self) -> Stats {
        self.table.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::testutil::canonical;
    use proptest::prelude::*;

    type A = Alert<u32, u32>;

    fn run(c: &mut Temporal<u32, u32>, events: &[(i64, u64)]) -> Vec<A> {
        let mut out = Vec::new();
        for (i, &(ts, m)) in events.iter().enumerate() {
            c.observe(&1, ts, m, i as u32, &mut out);
        }
        c.advance(i64::MAX, &mut out);
        out
    }

    fn all(span: i64, rules: usize) -> Temporal<u32, u32> {
        Temporal::new(span, rules, None, 1 << 10, 16).unwrap()
    }

    #[test]
    fn any_order_within_span_inclusive() {
        // C, A, B: any order is fine.
        let out = run(&mut all(100, 3), &[(0, 0b100), (50, 0b001), (100, 0b010)]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].value, out[0].first_event_ts, out[0].last_event_ts), (3.0, 0, 100));
        assert_eq!(out[0].evidence, vec![0, 1, 2]);
        assert!(run(&mut all(100, 3), &[(0, 0b100), (50, 0b001), (101, 0b010)]).is_empty());
        // A repeat of a rule refreshes it.
        assert_eq!(run(&mut all(100, 3), &[(0, 0b100), (50, 0b001), (60, 0b100), (150, 0b010)]).len(), 1);
    }

    #[test]
    fn one_event_matching_several_rules() {
        let out = run(&mut all(10, 3), &[(0, 0b011), (5, 0b1000), (5, 0b100)]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].value, out[0].evidence.clone(), out[0].omitted), (3.0, vec![0, 2], 0));
        // Bits beyond the rule count are ignored: the event at 5 did nothing.
        let out = run(&mut all(10, 2), &[(0, 0b011), (1, 0b011)]);
        assert_eq!(out.len(), 2, "a lone event matching all rules fires; the state restarts after it");
    }

    #[test]
    fn equal_timestamps_and_restart() {
        let out = run(&mut all(0, 2), &[(5, 0b01), (5, 0b10), (5, 0b10), (5, 0b10), (5, 0b01)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].evidence, vec![0, 1]);
        assert_eq!(out[1].evidence, vec![3, 4]);
    }

    #[test]
    fn condition_count_of_rules_at_close() {
        let mut c = Temporal::<u32, u32>::new(100, 3, Some(Condition::lt(3.0)), 16, 16).unwrap();
        assert_eq!(c.mode(), Mode::AtClose);
        let out = run(&mut c, &[(0, 0b001), (10, 0b001), (20, 0b010), (200, 0b111)]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].value, out[0].window_start_ms, out[0].window_end_ms, out[0].omitted), (2.0, 0, 100, 0));
        let mut c = Temporal::<u32, u32>::new(100, 3, Some(Condition::gte(2.0)), 16, 16).unwrap();
        assert_eq!(run(&mut c, &[(0, 0b001), (10, 0b001), (20, 0b010)]).len(), 1);
        assert!(Temporal::<u32, u32>::new(100, 65, None, 16, 16).is_err());
    }

    #[test]
    fn state_freed_and_key_cap() {
        let mut c = Temporal::<u32, u32>::new(100, 3, None, 4, 16).unwrap();
        let mut out = Vec::new();
        for k in 0..10u32 {
            c.observe(&k, k as i64, 0b001, k, &mut out);
        }
        assert_eq!((c.keys(), c.stats().evictions), (4, 6));
        assert!(c.state_bytes() > 4 * Temporal::<u32, u32>::bytes_per_key());
        c.advance(109, &mut out);
        assert_eq!(c.keys(), 1);
        c.advance(110, &mut out);
        assert_eq!((c.keys(), c.state_bytes()), (0, 0));
        assert!(out.is_empty());
    }

    /// The slow way, for one key: values and times (not evidence).
    fn reference(span: i64, rules: usize, cond: Condition, ev: &[(i64, u64)]) -> Vec<(i64, i64, f64, i64, i64)> {
        let ev: Vec<(i64, u64)> = ev.iter().map(|&(t, m)| (t, m & rule_mask(rules))).filter(|e| e.1 != 0).collect();
        let mut out = Vec::new();
        if cond.lower_bounds_only() {
            let mut from = 0;
            for j in 0..ev.len() {
                let members: Vec<usize> = (from..=j).filter(|&i| ev[i].0 >= ev[j].0 - span).collect();
                let mask = members.iter().fold(0u64, |m, &i| m | ev[i].1);
                if cond.matches(mask.count_ones() as f64) {
                    // The first contributing event: the oldest among each rule's latest.
                    let first = (0..rules).filter_map(|r| members.iter().rev().find(|&&i| ev[i].1 >> r & 1 == 1).map(|&i| ev[i].0)).min().unwrap();
                    out.push((ev[j].0 - span, ev[j].0, mask.count_ones() as f64, first, ev[j].0));
                    from = j + 1;
                }
            }
        } else {
            let mut s = 0;
            while s < ev.len() {
                let end = ev[s].0 + span;
                let members: Vec<usize> = (s..ev.len()).filter(|&i| ev[i].0 <= end).collect();
                let mask = members.iter().fold(0u64, |m, &i| m | ev[i].1);
                if cond.matches(mask.count_ones() as f64) {
                    out.push((ev[s].0, end, mask.count_ones() as f64, ev[s].0, ev[*members.last().unwrap()].0));
                }
                s = members.last().unwrap() + 1;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn matches_brute_force_reference(
            mut ev in prop::collection::vec((0i64..60, 0u64..16), 0..30),
            rules in 1usize..4,
            op in 0usize..4,
            x in 0u32..4,
            span in 0i64..20,
        ) {
            ev.sort_by_key(|e| e.0);
            let x = x as f64;
            let cond = [None, Some(Condition::gte(x)), Some(Condition::lt(x)), Some(Condition::neq(x))][op];
            let mut c = Temporal::<u32, u32>::new(span, rules, cond, 16, 64).unwrap();
            let mut out = Vec::new();
            for (i, &(t, m)) in ev.iter().enumerate() {
                c.observe(&1, t, m, i as u32, &mut out);
                c.advance(t, &mut out);
            }
            c.advance(i64::MAX, &mut out);
            let got: Vec<_> = canonical(out).iter().map(|a| (a.window_start_ms, a.window_end_ms, a.value, a.first_event_ts, a.last_event_ts)).collect();
            prop_assert_eq!(got, reference(span, rules, cond.unwrap_or(Condition::gte(rules as f64)), &ev));
            prop_assert_eq!((c.keys(), c.state_bytes()), (0, 0));
        }
    }
}
