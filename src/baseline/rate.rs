//! Rate baseline: events, or the sum of a numeric field (bytes, say), per interval per entity,
//! against the entity's exponentially weighted mean and variance of past intervals.
//!
//! The input value is the event's amount: 1 to count events, or an unsigned integer field
//! (bytes; a fractional field must be scaled to an integer by the caller, which keeps the peer
//! group's sums exact and order-independent). An interval's total is judged when it closes, by
//! the z-score against the history before it; empty intervals between the entity's events count
//! as zeros. The update rule, seasons, the verdict and the peer group are those of
//! [`series`](super::series).
//!
//! State per entity: the open interval's index and total, and one [`EwStats`](super::EwStats)
//! (24 bytes) per seasonal bucket: 122 bytes with the table's fixed part, 674 with hour-of-day
//! buckets, 266 with day-of-week buckets.

use serde::{Deserialize, Serialize};

use super::series::{MomentStage, PeerMoments, SeriesParams, SeriesPending, SeriesState};
use super::{Anomaly, AnomalyKind, Baseline, BaselineError, Context, Deviation, Verdict};

/// Rate baseline parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateConfig {
    /// Interval length (ms).
    pub interval_ms: i64,
    /// History and verdict parameters.
    pub deviation: Deviation,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig { interval_ms: 60_000, deviation: Deviation::default() }
    }
}

/// Rate baseline (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rate {
    params: SeriesParams,
}

impl Rate {
    /// A rate baseline with checked parameters.
    pub fn new(config: RateConfig) -> Result<Self, BaselineError> {
        Ok(Rate { params: SeriesParams::new(AnomalyKind::Rate, config.interval_ms, config.deviation)? })
    }

    /// The deviation parameters.
    pub fn deviation(&self) -> &Deviation {
        &self.params.dev
    }
}

impl Baseline for Rate {
    type State = SeriesState<u64>;
    type Stage = MomentStage;
    type Peer = PeerMoments;
    type Pending = SeriesPending;

    fn kind(&self) -> AnomalyKind {
        AnomalyKind::Rate
    }
    fn interval_ms(&self) -> i64 {
        self.params.interval_ms
    }
    fn closes_intervals(&self) -> bool {
        true
    }
    fn new_state(&self, ts_ms: i64) -> Self::State {
        self.params.new_state(ts_ms, 0)
    }
    fn new_peer(&self) -> Self::Peer {
        self.params.new_peer()
    }
    fn observe(&self, state: &mut Self::State, entity: u64, ts_ms: i64, value: u64, cx: &mut Context<'_, MomentStage>) -> Verdict<SeriesPending> {
        self.params.observe(state, entity, ts_ms, value, cx)
    }
    fn close(&self, state: &mut Self::State, entity: u64, cx: &mut Context<'_, MomentStage>) -> Verdict<SeriesPending> {
        self.params.close(state, entity, cx)
    }
    fn fold(&self, peer: &mut PeerMoments, idx: i64, stage: MomentStage) {
        self.params.fold(peer, idx, stage)
    }
    fn merge_stage(&self, into: &mut MomentStage, other: MomentStage) {
        into.merge(other);
    }
    fn judge_peer(&self, peer: &PeerMoments, entity: u64, interval: i64, _tag: u64, pending: &SeriesPending) -> Option<Anomaly> {
        self.params.judge_peer(peer, entity, interval, pending)
    }
    fn heap_bytes(state: &Self::State) -> usize {
        SeriesParams::heap_bytes(state)
    }
    fn peer_heap_bytes(_peer: &PeerMoments) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::run;
    use super::super::{alpha_from_half_life, Direction, EntityTable, Expected, Seasonality, TableConfig};
    use super::*;
    use proptest::prelude::*;

    fn table(dev: Deviation, interval_ms: i64, peer: bool) -> EntityTable<Rate> {
        let config = TableConfig { max_entities: 1000, ttl_ms: 1 << 50, peer_fallback: peer, max_pending: 1000 };
        EntityTable::new(Rate::new(RateConfig { interval_ms, deviation: dev }).unwrap(), config).unwrap()
    }

    #[test]
    fn spike_after_steady_history_fires_once() {
        let dev = Deviation { half_life: 10.0, min_history: 5, threshold: 4.0, min_std: 1.0, ..Deviation::default() };
        let mut t = table(dev, 60_000, false);
        let mut out = Vec::new();
        // Three events a minute for 20 minutes, then 30 in minute 20.
        for m in 0..20i64 {
            for s in 0..3 {
                out.extend(t.observe(7, m * 60_000 + s * 1000, 1));
            }
        }
        for s in 0..30 {
            out.extend(t.observe(7, 20 * 60_000 + s * 1000, 1));
        }
        assert!(out.is_empty());
        t.advance(21 * 60_000, &mut out);
        assert_eq!(out.len(), 1);
        let a = &out[0];
        assert_eq!((a.kind, a.entity, a.interval_start_ms, a.interval_end_ms, a.observed, a.peer), (AnomalyKind::Rate, 7, 1_200_000, 1_260_000, 30.0, false));
        assert!(matches!(a.expected, Expected::Usual { mean, std } if (mean - 3.0).abs() < 1e-9 && std < 1e-9));
        assert!((a.score - 27.0).abs() < 1e-9, "min_std floors the std: {}", a.score);
    }

    #[test]
    fn amounts_are_summed_and_gaps_count_as_zeros() {
        let dev = Deviation { half_life: 1.0, min_history: 1, threshold: 100.0, ..Deviation::default() };
        let mut t = table(dev, 10, false);
        t.observe(1, 0, 500);
        t.observe(1, 5, 500);
        t.observe(1, 30, 1);
        // Intervals 0 (1000), 1 and 2 (zeros) are in the history; interval 3 is open.
        let h = t.state(1).unwrap().history()[0];
        assert_eq!(h.n, 3);
        let a = alpha_from_half_life(1.0).unwrap();
        assert!((h.mean - 1000.0 * (1.0 - a) * (1.0 - a)).abs() < 1e-9);
        assert_eq!(*t.state(1).unwrap().accumulator(), 1);
    }

    #[test]
    fn new_entity_falls_back_to_the_peer_group() {
        let dev = Deviation { half_life: 10.0, min_history: 5, threshold: 4.0, min_std: 1.0, ..Deviation::default() };
        let mut t = table(dev, 100, true);
        let mut out = Vec::new();
        // 20 entities with 2 events per interval over 10 intervals make the peer group.
        for i in 0..10i64 {
            for e in 0..20u64 {
                out.extend(t.observe(e, i * 100 + e as i64, 1));
                out.extend(t.observe(e, i * 100 + 50 + e as i64, 1));
            }
            t.advance(i * 100 + 99, &mut out);
        }
        assert!(out.is_empty(), "{out:?}");
        // A newcomer with 40 events in its first interval is judged against the peers.
        for k in 0..40 {
            out.extend(t.observe(99, 1000 + k, 1));
        }
        // A quiet newcomer is not.
        out.extend(t.observe(98, 1000, 2));
        t.advance(1100, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].peer && out[0].entity == 99 && out[0].observed == 40.0);
        assert!(matches!(out[0].expected, Expected::Usual { mean, .. } if (mean - 2.0).abs() < 1e-9));
        // Without the peer group, newcomers stay silent.
        let mut t = table(dev, 100, false);
        let mut out = Vec::new();
        for k in 0..40 {
            out.extend(t.observe(99, 1000 + k, 1));
        }
        t.advance(i64::MAX, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn seasonal_buckets_judge_against_the_same_hour() {
        // Busy at 09:00 UTC every day, quiet otherwise: 09:00 stays normal with hour-of-day
        // buckets, while one busy hour at 03:00 fires.
        let hour = 3_600_000i64;
        let dev = Deviation { half_life: 3.0, min_history: 3, threshold: 4.0, min_std: 1.0, seasonality: Seasonality::HourOfDay, ..Deviation::default() };
        let mut t = table(dev, hour, false);
        let mut out = Vec::new();
        for day in 0..10i64 {
            for h in 0..24i64 {
                let n = if h == 9 { 50 } else { 2 };
                for k in 0..n {
                    out.extend(t.observe(1, day * 24 * hour + h * hour + k * 1000, 1));
                }
            }
        }
        assert!(out.is_empty(), "{out:?}");
        for k in 0..50 {
            out.extend(t.observe(1, 10 * 24 * hour + 3 * hour + k * 1000, 1));
        }
        t.advance(i64::MAX, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].interval_start_ms, 10 * 24 * hour + 3 * hour);
        // The same stream without seasons fires every day at 09:00.
        let mut t = table(Deviation { seasonality: Seasonality::None, ..dev }, hour, false);
        let mut out = Vec::new();
        for day in 0..10i64 {
            for h in 0..24i64 {
                let n = if h == 9 { 50 } else { 2 };
                for k in 0..n {
                    out.extend(t.observe(1, day * 24 * hour + h * hour + k * 1000, 1));
                }
            }
        }
        assert!(out.len() >= 5, "{out:?}");
    }

    /// Per-interval totals of a stream and whether the interval had events, from the first
    /// interval to the last.
    fn totals(events: &[(i64, u64)], iv: i64) -> Vec<(i64, u64, bool)> {
        let first = events[0].0.div_euclid(iv);
        let last = events[events.len() - 1].0.div_euclid(iv);
        (first..=last)
            .map(|i| {
                let mine: Vec<u64> = events.iter().filter(|e| e.0.div_euclid(iv) == i).map(|e| e.1).collect();
                (i, mine.iter().sum(), !mine.is_empty())
            })
            .collect()
    }

    proptest! {
        /// Verdicts and final history equal a reference computed the slow way: per-interval
        /// totals, each judged against the explicitly weighted mean and variance of its
        /// bucket's earlier intervals.
        #[test]
        fn matches_slow_reference(
            mut events in prop::collection::vec((0i64..200_000, prop_oneof![Just(1u64), 0u64..50]), 1..150),
            half_life in 0.5f64..20.0,
            min_history in 0u32..6,
            threshold in 0.5f64..4.0,
            season in 0usize..3,
        ) {
            events.sort_by_key(|e| e.0);
            let iv = 1000i64;
            let s = [Seasonality::None, Seasonality::HourOfDay, Seasonality::DayOfWeek][season];
            // Shrink the hour and day to make seasons visible within the generated span.
            let (iv, events): (i64, Vec<(i64, u64)>) = if s == Seasonality::None { (iv, events) } else { (600_000, events.iter().map(|&(t, v)| (t * 3000, v)).collect()) };
            let dev = Deviation { half_life, min_history, threshold, min_std: 0.5, direction: Direction::Both, seasonality: s };
            let mut t = table(dev, iv, false);
            let got = run(&mut t, &events.iter().map(|&(ts, v)| (1u64, ts, v)).collect::<Vec<_>>(), false, 1 << 45);

            let geom = super::super::series::Geometry::new(s, iv).unwrap();
            let alpha = alpha_from_half_life(half_life).unwrap();
            let mut per_bucket: Vec<Vec<f64>> = vec![Vec::new(); geom.buckets()];
            let mut expected = Vec::new();
            let mut borderline = false;
            for (i, x, busy) in totals(&events, iv) {
                let hist = &mut per_bucket[geom.bucket(i)];
                if busy && hist.len() >= min_history as usize {
                    let (mean, var) = if hist.is_empty() { (0.0, 0.0) } else { super::super::series::tests::reference(hist, alpha) };
                    let z = (x as f64 - mean) / var.sqrt().max(0.5);
                    borderline |= (z.abs() - threshold).abs() < 1e-6;
                    if z.abs() >= threshold {
                        expected.push((i * iv, x as f64));
                    }
                }
                hist.push(x as f64);
            }
            if !borderline {
                prop_assert_eq!(got.iter().map(|a| (a.interval_start_ms, a.observed)).collect::<Vec<_>>(), expected);
            }
            let st = t.state(1).unwrap();
            for (j, hist) in per_bucket.iter().enumerate() {
                let h = st.history()[j];
                prop_assert_eq!(h.n as usize, hist.len());
                if !hist.is_empty() {
                    let (mean, var) = super::super::series::tests::reference(hist, alpha);
                    prop_assert!((h.mean - mean).abs() <= 1e-9 * (1.0 + mean.abs()), "{} vs {}", h.mean, mean);
                    prop_assert!((h.var - var).abs() <= 1e-6 * (1.0 + var.abs()), "{} vs {}", h.var, var);
                }
            }
        }
    }
}
