//! The `persistence` extension: a correlation's condition holds, for one group, in K
//! consecutive windows of length W (the correlation's `timespan`), aligned to multiples of W
//! since the Unix epoch, so every worker and every rerun agrees on the windows.
//!
//! Per key and window the value is computed as the correlation's type says: the number of
//! events (`event_count`), of distinct values (`value_count`), of distinct referenced rules
//! (`temporal`), the sum or mean of a field (`value_sum`, `value_avg`). A window is judged when
//! the watermark passes its end (or an event of a later window arrives); a window without events
//! has value 0 (mean: no value) and breaks the streak unless the condition holds for 0. When K
//! windows in a row hold, one alert covers them (`[start of the first, end of the last]`, value =
//! the last window's value) and the streak starts again. Distinct values are kept up to a bound
//! per window; past it the count stays at the bound + 1 (enough for any condition operand).

use std::hash::Hash;
use std::mem::size_of;

use rustc_hash::FxHashSet as HashSet;

use super::{sort_closed, Alert, Condition, Correlator, HeapBytes, KeyBytes, ParamError, Stats, Table};

/// What a window measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Measure {
    /// Events.
    Count,
    /// Distinct values.
    Distinct,
    /// Distinct referenced rules (bits of the input mask).
    Rules,
    /// Sum of a number.
    Sum,
    /// Mean of a number.
    Avg,
}

/// One event's contribution.
#[derive(Clone, Debug)]
pub enum Input {
    /// Counts only.
    Event,
    /// A value to count distinct.
    Value(Box<[u8]>),
    /// A mask of referenced rules.
    Rules(u64),
    /// A number.
    Number(f64),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Window<E> {
    index: i64,
    count: u64,
    distinct: HashSet<Box<[u8]>>,
    rules: u64,
    sum: f64,
    streak: u32,
    streak_start: i64,
    evidence: Vec<E>,
    omitted: u64,
    last_ts: i64,
}

impl<E> HeapBytes for Window<E> {
    fn heap_bytes(&self) -> usize {
        self.distinct.capacity() * (size_of::<Box<[u8]>>() + 1)
            + self.distinct.iter().map(|v| v.len()).sum::<usize>()
            + self.evidence.capacity() * size_of::<E>()
    }
}

/// The parameters, apart from the key table so a window can be judged while the table holds it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Params {
    span: i64,
    windows: u32,
    measure: Measure,
    condition: Condition,
    max_values: usize,
    evidence_cap: usize,
}

/// "Holds in K consecutive windows", per key, in the key table every correlation kind shares
/// (a key's deadline there is the end of its current window).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(deserialize = "K: serde::Deserialize<'de> + Ord + std::hash::Hash + Clone + crate::correlate::KeyBytes, E: serde::Deserialize<'de>"))]
pub struct Persistence<K, E> {
    params: Params,
    table: Table<K, Window<E>>,
}

impl<K: Ord + Hash + Clone + KeyBytes, E: Clone> Persistence<K, E> {
    /// Adds `other`'s keys that `keep` accepts (a checkpoint divided by key among another
    /// number of workers); `other`'s counters too when `counters`.
    pub fn absorb(&mut self, other: Self, keep: &dyn Fn(&K) -> bool, counters: bool) {
        self.table.absorb(other.table, keep, counters);
    }

    /// Holds `windows` times in a row over windows of `span_ms`.
    pub fn new(
        span_ms: i64,
        windows: u32,
        measure: Measure,
        condition: Condition,
        key_cap: usize,
        max_values: usize,
        evidence_cap: usize,
    ) -> Result<Self, ParamError> {
        condition.validate()?;
        if span_ms <= 0 {
            return Err(ParamError::NegativeSpan(span_ms));
        }
        if windows < 1 || key_cap == 0 || max_values == 0 {
            return Err(ParamError::Limit("windows, the key cap and the value bound must be at least 1".into()));
        }
        Ok(Persistence { params: Params { span: span_ms, windows, measure, condition, max_values, evidence_cap }, table: Table::new(key_cap)? })
    }
}

impl Params {
    fn end_of(&self, index: i64) -> i64 {
        index.saturating_mul(self.span).saturating_add(self.span - 1)
    }

    fn value<E>(&self, w: &Window<E>) -> Option<f64> {
        match self.measure {
            Measure::Count => Some(w.count as f64),
            Measure::Distinct => Some(w.distinct.len() as f64),
            Measure::Rules => Some(w.rules.count_ones() as f64),
            Measure::Sum => Some(w.sum),
            Measure::Avg => (w.count > 0).then(|| w.sum / w.count as f64),
        }
    }

    /// Judges the key's current window and moves it to window `next` (empty windows between
    /// them are judged too, as empty). Returns an alert when the streak reaches K.
    fn close<K: Clone, E>(&self, key: &K, w: &mut Window<E>, next: i64, out: &mut Vec<Alert<K, E>>) {
        let holds = self.value(w).is_some_and(|v| self.condition.matches(v));
        if holds {
            if w.streak == 0 {
                w.streak_start = w.index * self.span;
            }
            w.streak += 1;
        } else {
            w.streak = 0;
            w.evidence.clear();
            w.omitted = 0;
        }
        if w.streak >= self.windows {
            out.push(Alert {
                group: key.clone(),
                window_start_ms: w.streak_start,
                window_end_ms: self.end_of(w.index),
                value: self.value(w).unwrap_or(0.0),
                first_event_ts: w.streak_start,
                last_event_ts: w.last_ts,
                evidence: std::mem::take(&mut w.evidence),
                omitted: std::mem::take(&mut w.omitted),
            });
            w.streak = 0;
        }
        // Windows with no events between the closed one and `next` are judged one by one, as
        // the watermark would judge them: they hold only if 0 satisfies the condition, and
        // only extend a live streak (at most K of them decide: the streak fires or breaks).
        let gap = (next - w.index - 1).clamp(0, i64::from(self.windows));
        let empty_holds = self.measure != Measure::Avg && self.condition.matches(0.0);
        if gap > 0 && !empty_holds {
            w.streak = 0;
            w.evidence.clear();
            w.omitted = 0;
        }
        if empty_holds {
            for i in 1..=gap {
                if w.streak == 0 {
                    break;
                }
                w.streak += 1;
                if w.streak >= self.windows {
                    out.push(Alert {
                        group: key.clone(),
                        window_start_ms: w.streak_start,
                        window_end_ms: self.end_of(w.index + i),
                        value: 0.0,
                        first_event_ts: w.streak_start,
                        last_event_ts: w.last_ts,
                        evidence: std::mem::take(&mut w.evidence),
                        omitted: std::mem::take(&mut w.omitted),
                    });
                    w.streak = 0;
                }
            }
        }
        w.index = next;
        w.count = 0;
        w.distinct.clear();
        w.rules = 0;
        w.sum = 0.0;
    }
}

impl<K: Ord + Hash + Clone + KeyBytes, E: Clone> Correlator for Persistence<K, E> {
    type Key = K;
    type Input = Input;
    type Evidence = E;

    fn observe(&mut self, key: &K, ts_ms: i64, input: Input, evidence: E, out: &mut Vec<Alert<K, E>>) {
        let p = &self.params;
        let index = ts_ms.div_euclid(p.span);
        let make = || Window {
            index,
            count: 0,
            distinct: HashSet::default(),
            rules: 0,
            sum: 0.0,
            streak: 0,
            streak_start: index * p.span,
            evidence: Vec::new(),
            omitted: 0,
            last_ts: ts_ms,
        };
        let mut bad_number = false;
        self.table.update(key, ts_ms, make, |w| {
            if index > w.index {
                p.close(key, w, index, out);
            }
            w.count += 1;
            w.last_ts = ts_ms;
            match input {
                Input::Event => {}
                Input::Value(v) => {
                    if w.distinct.len() <= p.max_values {
                        w.distinct.insert(v);
                    }
                }
                Input::Rules(mask) => w.rules |= mask,
                Input::Number(x) if x.is_finite() => w.sum += x,
                Input::Number(_) => bad_number = true,
            }
            if w.evidence.len() < p.evidence_cap {
                w.evidence.push(evidence);
            } else {
                w.omitted += 1;
            }
            Some(p.end_of(w.index))
        });
        if bad_number {
            self.table.reject();
        }
    }

    fn advance(&mut self, watermark_ms: i64, out: &mut Vec<Alert<K, E>>) {
        let p = &self.params;
        let mut closed = Vec::new();
        self.table.expire_renew(watermark_ms, |key, w| {
            let next = w.index + 1;
            p.close(key, w, next, &mut closed);
            // A key whose streak is broken and whose window is empty has nothing to remember.
            (w.streak > 0).then(|| p.end_of(w.index))
        });
        sort_closed(&mut closed);
        out.append(&mut closed);
    }

    fn stats(&self) -> Stats {
        self.table.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alerts(events: &[i64], windows: u32, cond: Condition, watermark: i64) -> Vec<(i64, i64, f64)> {
        let mut p: Persistence<u8, i64> = Persistence::new(60_000, windows, Measure::Count, cond, 10, 100, 3).unwrap();
        let mut out = Vec::new();
        for &t in events {
            p.observe(&1, t, Input::Event, t, &mut out);
        }
        p.advance(watermark, &mut out);
        out.iter().map(|a| (a.window_start_ms, a.window_end_ms, a.value)).collect()
    }

    #[test]
    fn k_consecutive_windows_fire_once_and_restart() {
        // Two events in each of the first three minutes: gte 2 holds three times in a row.
        let evs = [1_000, 2_000, 61_000, 62_000, 121_000, 122_000];
        assert_eq!(alerts(&evs, 3, Condition::gte(2.0), 1_000_000), vec![(0, 179_999, 2.0)]);
        assert_eq!(alerts(&evs, 4, Condition::gte(2.0), 1_000_000), vec![]);
        assert_eq!(alerts(&evs, 2, Condition::gte(2.0), 1_000_000), vec![(0, 119_999, 2.0)], "the streak restarts after an alert");
    }

    #[test]
    fn a_gap_or_a_weak_window_breaks_the_streak() {
        let gap = [1_000, 2_000, 121_000, 122_000, 181_000, 182_000];
        assert_eq!(alerts(&gap, 3, Condition::gte(2.0), 1_000_000), vec![]);
        let weak = [1_000, 2_000, 61_000, 121_000, 122_000];
        assert_eq!(alerts(&weak, 2, Condition::gte(2.0), 1_000_000), vec![]);
    }

    #[test]
    fn empty_windows_that_hold_extend_the_streak_whatever_the_watermark() {
        // gte 0 holds for empty windows: window 0 (an event) and the empty window 1 make two
        // in a row, whether the watermark judged window 1 or the event in window 5 did.
        assert_eq!(alerts(&[1_000, 301_000], 2, Condition::gte(0.0), 0), vec![(0, 119_999, 0.0)]);
        assert_eq!(alerts(&[1_000, 301_000], 2, Condition::gte(0.0), 1_000_000), vec![(0, 119_999, 0.0), (300_000, 419_999, 0.0)]);
    }

    #[test]
    fn windows_close_only_when_the_watermark_passes_them() {
        let evs = [1_000, 61_000];
        assert_eq!(alerts(&evs, 2, Condition::gte(1.0), 119_999), vec![], "the second window is still open");
        assert_eq!(alerts(&evs, 2, Condition::gte(1.0), 120_000), vec![(0, 119_999, 1.0)]);
    }

    #[test]
    fn distinct_values_and_sums() {
        let mut p: Persistence<u8, ()> = Persistence::new(10, 2, Measure::Distinct, Condition::gte(2.0), 10, 5, 1).unwrap();
        let mut out = Vec::new();
        for (t, v) in [(0, b"a"), (1, b"b"), (10, b"a"), (11, b"c")] {
            p.observe(&0, t, Input::Value(Box::new(*v)), (), &mut out);
        }
        p.advance(100, &mut out);
        assert_eq!(out.len(), 1);
        let mut s: Persistence<u8, ()> = Persistence::new(10, 2, Measure::Sum, Condition::gt(100.0), 10, 5, 1).unwrap();
        let mut out = Vec::new();
        for (t, x) in [(0, 60.0), (5, 50.0), (12, 200.0)] {
            s.observe(&0, t, Input::Number(x), (), &mut out);
        }
        s.advance(100, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, 200.0);
    }
}
