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

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::hash::Hash;

use super::{Alert, Condition, Correlator, ParamError, Stats};

/// What a window measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// "Holds in K consecutive windows", per key.
pub struct Persistence<K, E> {
    span: i64,
    windows: u32,
    measure: Measure,
    condition: Condition,
    max_values: usize,
    key_cap: usize,
    evidence_cap: usize,
    keys: HashMap<K, Window<E>>,
    /// (end of the key's current window, key): what the watermark closes next.
    closing: BTreeSet<(i64, K)>,
    watermark: i64,
    evictions: u64,
    rejected: u64,
}

impl<K: Ord + Hash + Clone, E: Clone> Persistence<K, E> {
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
        Ok(Persistence {
            span: span_ms,
            windows,
            measure,
            condition,
            max_values,
            key_cap,
            evidence_cap,
            keys: HashMap::default(),
            closing: BTreeSet::new(),
            watermark: i64::MIN,
            evictions: 0,
            rejected: 0,
        })
    }

    fn end_of(&self, index: i64) -> i64 {
        index.saturating_mul(self.span).saturating_add(self.span - 1)
    }

    fn value(&self, w: &Window<E>) -> Option<f64> {
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
    fn close(&self, key: &K, w: &mut Window<E>, next: i64, out: &mut Vec<Alert<K, E>>) {
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
        // Windows with no events between the closed one and `next` hold only if 0 satisfies
        // the condition; judge them once each, but at most K of them (a longer gap decides).
        let gap = (next - w.index - 1).clamp(0, i64::from(self.windows));
        let empty_holds = self.measure != Measure::Avg && self.condition.matches(0.0);
        if gap > 0 && !empty_holds {
            w.streak = 0;
            w.evidence.clear();
            w.omitted = 0;
        }
        w.index = next;
        w.count = 0;
        w.distinct.clear();
        w.rules = 0;
        w.sum = 0.0;
    }
}

impl<K: Ord + Hash + Clone, E: Clone> Correlator for Persistence<K, E> {
    type Key = K;
    type Input = Input;
    type Evidence = E;

    fn observe(&mut self, key: &K, ts_ms: i64, input: Input, evidence: E, out: &mut Vec<Alert<K, E>>) {
        if ts_ms < self.watermark {
            self.rejected += 1;
            return;
        }
        let index = ts_ms.div_euclid(self.span);
        if !self.keys.contains_key(key) && self.keys.len() >= self.key_cap {
            if let Some((_, victim)) = self.closing.pop_first() {
                self.keys.remove(&victim);
                self.evictions += 1;
            }
        }
        let mut w = self.keys.remove(key).unwrap_or(Window {
            index,
            count: 0,
            distinct: HashSet::default(),
            rules: 0,
            sum: 0.0,
            streak: 0,
            streak_start: index * self.span,
            evidence: Vec::new(),
            omitted: 0,
            last_ts: ts_ms,
        });
        self.closing.remove(&(self.end_of(w.index), key.clone()));
        if index > w.index {
            self.close(key, &mut w, index, out);
        }
        w.count += 1;
        w.last_ts = ts_ms;
        match input {
            Input::Event => {}
            Input::Value(v) => {
                if w.distinct.len() <= self.max_values {
                    w.distinct.insert(v);
                }
            }
            Input::Rules(mask) => w.rules |= mask,
            Input::Number(x) if x.is_finite() => w.sum += x,
            Input::Number(_) => self.rejected += 1,
        }
        if w.evidence.len() < self.evidence_cap {
            w.evidence.push(evidence);
        } else {
            w.omitted += 1;
        }
        self.closing.insert((self.end_of(w.index), key.clone()));
        self.keys.insert(key.clone(), w);
    }

    fn advance(&mut self, watermark_ms: i64, out: &mut Vec<Alert<K, E>>) {
        if watermark_ms <= self.watermark {
            return;
        }
        self.watermark = watermark_ms;
        while let Some((end, _)) = self.closing.first() {
            if *end >= watermark_ms {
                break;
            }
            let Some((_, key)) = self.closing.pop_first() else { break };
            let Some(mut w) = self.keys.remove(&key) else { continue };
            let next = w.index + 1;
            self.close(&key, &mut w, next, out);
            // A key whose streak is broken and whose window is empty has nothing to remember.
            if w.streak > 0 {
                self.closing.insert((self.end_of(w.index), key.clone()));
                self.keys.insert(key, w);
            }
        }
    }

    fn stats(&self) -> Stats {
        Stats {
            keys: self.keys.len(),
            state_bytes: self.keys.len() * (std::mem::size_of::<Window<E>>() + 2 * std::mem::size_of::<K>()),
            evictions: self.evictions,
            rejected: self.rejected,
        }
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
