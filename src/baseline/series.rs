//! Interval series shared by [`rate`](super::rate) and [`distinct`](super::distinct): one number
//! per entity per interval, its exponentially weighted history (optionally one per seasonal
//! bucket), the z-score of a closed interval against the history before it, and the peer
//! group's pooled moments.
//!
//! # Update rule
//!
//! With `alpha = 1 - 2^(-1 / half_life)` (so an observation's weight halves every `half_life`
//! observations of its bucket), the first observation sets `mean = x, var = 0`, and each later
//! one does (Finch 2009, "Incremental calculation of weighted mean and variance"):
//!
//! ```text
//! d = x - mean;  mean += alpha * d;  var = (1 - alpha) * (var + alpha * d * d)
//! ```
//!
//! which is exactly the weighted mean and weighted (biased) variance of all observations with
//! weights `(1 - alpha)^(n - 1)` for the first and `alpha * (1 - alpha)^(n - 1 - i)` for the
//! `i`-th (the property tests check this against that sum). Intervals without events between
//! two of the entity's events count as zeros: `k` zeros at once are folded in closed form,
//! `mean' = b * mean, var' = b * (var + mean^2 * (1 - b))` with `b = (1 - alpha)^k`, so a long
//! silence costs O(1) (O(buckets) with seasons). History starts at the entity's first interval:
//! earlier intervals are unknown, not zero. A silent entity is never judged (no events, no
//! verdict): going quiet is the absence correlation's business.
//!
//! # Seasons
//!
//! With [`Seasonality::HourOfDay`] (24 buckets, UTC) or [`Seasonality::DayOfWeek`] (7 buckets,
//! Monday first, UTC) each bucket has its own history, an interval is judged against its own
//! bucket only, and `half_life` and `min_history` count that bucket's intervals (a half-life
//! of 4 with hour-of-day buckets is four days). The interval length must divide the bucket's
//! width (an hour, a day).
//!
//! # Verdict
//!
//! `z = (x - mean) / max(std, min_std)`; the interval is anomalous when `z >= threshold`
//! ([`Direction::High`]), `z <= -threshold` ([`Direction::Low`]) or either ([`Direction::Both`]),
//! and only when the bucket holds at least `min_history` intervals. `min_std` keeps an entity
//! with a perfectly steady history (std 0) from firing on the smallest change.
//!
//! # Peer group
//!
//! The peer group pools the closed intervals (with events) of all entities: per interval the
//! count, sum and sum of squares of the entities' values (integers, so the sums do not depend
//! on their order), folded into decayed moments `m0, m1, m2` (each multiplied by
//! `(1 - alpha)^gap` before adding the interval's sums). Its mean is `m1 / m0`, its variance
//! `m2 / m0 - mean^2`, and it judges an entity's interval like the entity's own history would,
//! once it has pooled `min_history` entity-intervals. It has no seasons.

use serde::{Deserialize, Serialize};

use super::{alpha_from_half_life, interval_bounds, interval_of, param_error, Anomaly, AnomalyKind, BaselineError, Context, Expected, Verdict};

/// Which way a deviation counts as anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Direction {
    /// Above the usual value.
    #[default]
    High,
    /// Below the usual value (of an interval that had events).
    Low,
    /// Either way.
    Both,
}

/// Seasonal buckets: separate histories per hour of day or day of week (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Seasonality {
    /// One history.
    #[default]
    None,
    /// 24 histories, one per hour of the day.
    HourOfDay,
    /// 7 histories, one per day of the week, Monday first.
    DayOfWeek,
}

/// How interval indexes map to seasonal buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Geometry {
    /// Consecutive intervals per bucket.
    per_bucket: i64,
    /// Number of buckets.
    buckets: i64,
    /// Bucket of interval group 0 (1970-01-01 was a Thursday).
    offset: i64,
}

impl Geometry {
    pub(crate) fn new(season: Seasonality, interval_ms: i64) -> Result<Self, BaselineError> {
        let (width, buckets, offset) = match season {
            Seasonality::None => return Ok(Geometry { per_bucket: 1, buckets: 1, offset: 0 }),
            Seasonality::HourOfDay => (3_600_000, 24, 0),
            Seasonality::DayOfWeek => (86_400_000, 7, 3),
        };
        if interval_ms > width || width % interval_ms != 0 {
            return Err(param_error("interval_ms", "a divisor of the seasonal bucket's width (an hour or a day)", interval_ms));
        }
        Ok(Geometry { per_bucket: width / interval_ms, buckets, offset })
    }

    /// Number of buckets.
    pub(crate) fn buckets(&self) -> usize {
        self.buckets as usize
    }

    /// The bucket of interval `idx`.
    pub(crate) fn bucket(&self, idx: i64) -> usize {
        (idx.div_euclid(self.per_bucket) + self.offset).rem_euclid(self.buckets) as usize
    }

    /// How many intervals of `[a, b)` fall in bucket `j`, in O(1).
    pub(crate) fn count(&self, a: i64, b: i64, j: usize) -> u64 {
        if b <= a {
            return 0;
        }
        let (pb, nb) = (self.per_bucket as i128, self.buckets as i128);
        let cycle = pb * nb;
        let group = (j as i128 - self.offset as i128).rem_euclid(nb);
        // Intervals in [0, n) of bucket j; a and b shifted by the same whole cycles first.
        let below = |n: i128| (n / cycle) * pb + (n % cycle - group * pb).clamp(0, pb);
        let shift = if a < 0 { ((-(a as i128)) / cycle + 1) * cycle } else { 0 };
        (below(b as i128 + shift) - below(a as i128 + shift)) as u64
    }
}

/// Parameters of the deviation test shared by rate and distinct.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    /// Intervals (of one bucket) after which an observation's weight has halved.
    pub half_life: f64,
    /// Intervals of history (in the judged bucket) before the entity's own verdicts.
    pub min_history: u32,
    /// |z| at or above which an interval is anomalous.
    pub threshold: f64,
    /// Floor of the standard deviation in the z-score.
    pub min_std: f64,
    /// Which deviations count.
    pub direction: Direction,
    /// Seasonal buckets.
    pub seasonality: Seasonality,
}

impl Default for Deviation {
    fn default() -> Self {
        Deviation { half_life: 30.0, min_history: 10, threshold: 4.0, min_std: 1.0, direction: Direction::High, seasonality: Seasonality::None }
    }
}

impl Deviation {
    fn validate(&self) -> Result<f64, BaselineError> {
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(param_error("threshold", "a positive number", self.threshold));
        }
        if !(self.min_std.is_finite() && self.min_std > 0.0) {
            return Err(param_error("min_std", "a positive number", self.min_std));
        }
        alpha_from_half_life(self.half_life)
    }

    /// The z-score of `x` against `mean` and `std`, and whether it is anomalous.
    pub fn judge(&self, x: f64, mean: f64, std: f64) -> (f64, bool) {
        let z = (x - mean) / std.max(self.min_std);
        let fires = match self.direction {
            Direction::High => z >= self.threshold,
            Direction::Low => z <= -self.threshold,
            Direction::Both => z.abs() >= self.threshold,
        };
        (z, fires)
    }
}

/// Exponentially weighted mean and variance of a series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EwStats {
    /// Weighted mean.
    pub mean: f64,
    /// Weighted variance.
    pub var: f64,
    /// Observations so far (saturating).
    pub n: u32,
}

impl EwStats {
    /// Adds one observation.
    pub fn push(&mut self, x: f64, alpha: f64) {
        if self.n == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let d = x - self.mean;
            let inc = alpha * d;
            self.mean += inc;
            self.var = (1.0 - alpha) * (self.var + d * inc);
        }
        self.n = self.n.saturating_add(1);
    }

    /// Adds `k` zero observations at once (closed form).
    pub fn push_zeros(&mut self, k: u64, alpha: f64) {
        if k == 0 {
            return;
        }
        let mut k = k;
        if self.n == 0 {
            self.push(0.0, alpha);
            k -= 1;
        }
        let b = (1.0 - alpha).powf(k as f64);
        let m = self.mean;
        self.mean = b * m;
        self.var = b * (self.var + m * m * (1.0 - b));
        self.n = u32::try_from(u64::from(self.n).saturating_add(k)).unwrap_or(u32::MAX);
    }

    /// Standard deviation.
    pub fn std(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }
}

/// An entity's series: the open interval's accumulator and the history per bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesState<A> {
    /// The open interval, or the last closed one when `open` is false.
    cur: i64,
    open: bool,
    acc: A,
    history: Vec<EwStats>,
}

impl<A> SeriesState<A> {
    /// The history of each seasonal bucket.
    pub fn history(&self) -> &[EwStats] {
        &self.history
    }

    /// The accumulator of the open interval.
    pub fn accumulator(&self) -> &A {
        &self.acc
    }
}

/// What accumulates one interval's events into one number.
pub trait Accumulate {
    /// Adds one event's value.
    fn add(&mut self, value: u64);
    /// The interval's number; resets for the next interval.
    fn take(&mut self) -> u64;
    /// Heap bytes owned.
    fn heap_bytes(&self) -> usize;
}

/// A sum of amounts (saturating).
impl Accumulate for u64 {
    fn add(&mut self, value: u64) {
        *self = self.saturating_add(value);
    }
    fn take(&mut self) -> u64 {
        std::mem::take(self)
    }
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// One interval's values of all entities: count, sum and sum of squares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MomentStage {
    n: u64,
    sum: u128,
    sumsq: u128,
}

impl MomentStage {
    /// Adds another table's sums of the same interval.
    pub(crate) fn merge(&mut self, other: MomentStage) {
        self.n = self.n.saturating_add(other.n);
        self.sum = self.sum.saturating_add(other.sum);
        self.sumsq = self.sumsq.saturating_add(other.sumsq);
    }

    fn add(&mut self, x: u64) {
        let x = u128::from(x);
        self.n += 1;
        self.sum = self.sum.saturating_add(x);
        self.sumsq = self.sumsq.saturating_add(x * x);
    }
}

/// The peer group's decayed moments of entity-interval values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PeerMoments {
    m0: f64,
    m1: f64,
    m2: f64,
    /// Last folded interval with values.
    last: Option<i64>,
    /// Entity-intervals pooled so far.
    pub n: u64,
}

impl PeerMoments {
    /// Pooled mean and standard deviation.
    pub fn mean_std(&self) -> Option<(f64, f64)> {
        if self.m0 <= 0.0 {
            return None;
        }
        let mean = self.m1 / self.m0;
        Some((mean, (self.m2 / self.m0 - mean * mean).max(0.0).sqrt()))
    }
}

/// A peer-group verdict waiting: the entity's interval value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesPending {
    observed: u64,
}

/// The parameters of a series kind, checked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct SeriesParams {
    pub(crate) kind: AnomalyKind,
    pub(crate) interval_ms: i64,
    pub(crate) dev: Deviation,
    alpha: f64,
    geom: Geometry,
}

impl SeriesParams {
    pub(crate) fn new(kind: AnomalyKind, interval_ms: i64, dev: Deviation) -> Result<Self, BaselineError> {
        if interval_ms < 1 {
            return Err(param_error("interval_ms", "at least 1", interval_ms));
        }
        let alpha = dev.validate()?;
        Ok(SeriesParams { kind, interval_ms, dev, alpha, geom: Geometry::new(dev.seasonality, interval_ms)? })
    }

    pub(crate) fn new_state<A>(&self, ts: i64, acc: A) -> SeriesState<A> {
        // `cur` just before the first interval, so that no zeros precede it.
        SeriesState { cur: interval_of(ts, self.interval_ms).saturating_sub(1), open: false, acc, history: vec![EwStats::default(); self.geom.buckets()] }
    }

    pub(crate) fn new_peer(&self) -> PeerMoments {
        PeerMoments { m0: 0.0, m1: 0.0, m2: 0.0, last: None, n: 0 }
    }

    pub(crate) fn heap_bytes<A: Accumulate>(st: &SeriesState<A>) -> usize {
        st.history.capacity() * std::mem::size_of::<EwStats>() + st.acc.heap_bytes()
    }

    pub(crate) fn observe<A: Accumulate>(
        &self,
        st: &mut SeriesState<A>,
        entity: u64,
        ts: i64,
        value: u64,
        cx: &mut Context<'_, MomentStage>,
    ) -> Verdict<SeriesPending> {
        let idx = interval_of(ts, self.interval_ms);
        let mut verdict = Verdict::Quiet;
        if st.open && idx > st.cur {
            verdict = self.close(st, entity, cx);
        }
        if !st.open {
            let from = st.cur.saturating_add(1);
            if idx > from {
                for (j, h) in st.history.iter_mut().enumerate() {
                    h.push_zeros(self.geom.count(from, idx, j), self.alpha);
                }
            }
            st.cur = idx;
            st.open = true;
        }
        st.acc.add(value);
        verdict
    }

    pub(crate) fn close<A: Accumulate>(&self, st: &mut SeriesState<A>, entity: u64, cx: &mut Context<'_, MomentStage>) -> Verdict<SeriesPending> {
        if !st.open {
            return Verdict::Quiet;
        }
        st.open = false;
        let x = st.acc.take();
        let idx = st.cur;
        if let Some(stage) = cx.stage(idx) {
            stage.add(x);
        }
        let bucket = self.geom.bucket(idx);
        let Some(h) = st.history.get_mut(bucket) else { return Verdict::Quiet };
        let verdict = if h.n >= self.dev.min_history {
            let (mean, std) = (h.mean, h.std());
            self.anomaly(entity, idx, x, mean, std, false).map_or(Verdict::Quiet, Verdict::Anomaly)
        } else {
            Verdict::Peer { interval: idx, tag: 0, pending: SeriesPending { observed: x } }
        };
        h.push(x as f64, self.alpha);
        verdict
    }

    fn anomaly(&self, entity: u64, idx: i64, x: u64, mean: f64, std: f64, peer: bool) -> Option<Anomaly> {
        let (z, fires) = self.dev.judge(x as f64, mean, std);
        let (start, end) = interval_bounds(idx, self.interval_ms);
        fires.then_some(Anomaly {
            kind: self.kind,
            entity,
            interval_start_ms: start,
            interval_end_ms: end,
            observed: x as f64,
            expected: Expected::Usual { mean, std },
            score: z,
            value: None,
            peer,
        })
    }

    pub(crate) fn fold(&self, peer: &mut PeerMoments, idx: i64, stage: MomentStage) {
        if stage.n == 0 {
            return;
        }
        if let Some(last) = peer.last {
            let b = (1.0 - self.alpha).powf(idx.saturating_sub(last) as f64);
            peer.m0 *= b;
            peer.m1 *= b;
            peer.m2 *= b;
        }
        peer.m0 += stage.n as f64;
        peer.m1 += stage.sum as f64;
        peer.m2 += stage.sumsq as f64;
        peer.last = Some(idx);
        peer.n = peer.n.saturating_add(stage.n);
    }

    pub(crate) fn judge_peer(&self, peer: &PeerMoments, entity: u64, interval: i64, pending: &SeriesPending) -> Option<Anomaly> {
        if peer.n < u64::from(self.dev.min_history) {
            return None;
        }
        let (mean, std) = peer.mean_std()?;
        self.anomaly(entity, interval, pending.observed, mean, std, true)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The weighted mean and variance the slow way, with explicit weights.
    pub(crate) fn reference(xs: &[f64], alpha: f64) -> (f64, f64) {
        let n = xs.len();
        let w: Vec<f64> = (0..n).map(|i| if i == 0 { (1.0 - alpha).powi(n as i32 - 1) } else { alpha * (1.0 - alpha).powi((n - 1 - i) as i32) }).collect();
        let mean: f64 = xs.iter().zip(&w).map(|(x, w)| x * w).sum();
        let var: f64 = xs.iter().zip(&w).map(|(x, w)| w * (x - mean) * (x - mean)).sum();
        (mean, var)
    }

    #[test]
    fn alpha_halves_weight_after_half_life() {
        let a = alpha_from_half_life(4.0).unwrap();
        assert!(((1.0 - a).powi(4) - 0.5).abs() < 1e-12);
        assert!(alpha_from_half_life(0.0).is_err());
        assert!(alpha_from_half_life(f64::NAN).is_err());
    }

    #[test]
    fn seasonal_buckets() {
        let hour = Geometry::new(Seasonality::HourOfDay, 600_000).unwrap();
        // 2024-01-01T13:10Z is in bucket 13.
        assert_eq!(hour.bucket(1_704_114_600_000 / 600_000), 13);
        let day = Geometry::new(Seasonality::DayOfWeek, 3_600_000).unwrap();
        // 2024-01-01 was a Monday; 1970-01-01 a Thursday.
        assert_eq!(day.bucket(1_704_067_200_000 / 3_600_000), 0);
        assert_eq!(day.bucket(0), 3);
        assert_eq!(day.bucket(-1), 2);
        assert!(Geometry::new(Seasonality::HourOfDay, 7_000).is_err());
        assert!(Geometry::new(Seasonality::HourOfDay, 7_200_000).is_err());
    }

    #[test]
    fn deviation_directions() {
        let mut d = Deviation { threshold: 2.0, min_std: 1.0, ..Deviation::default() };
        assert_eq!(d.judge(5.0, 1.0, 0.5), (4.0, true));
        assert!(!d.judge(-5.0, 1.0, 1.0).1);
        d.direction = Direction::Low;
        assert!(d.judge(-5.0, 1.0, 1.0).1 && !d.judge(5.0, 1.0, 1.0).1);
        d.direction = Direction::Both;
        assert!(d.judge(-5.0, 1.0, 1.0).1 && d.judge(5.0, 1.0, 1.0).1);
    }

    proptest! {
        #[test]
        fn bucket_counts_match_enumeration(a in -5000i64..5000, len in 0i64..3000, iv_pick in 0usize..4, season in 0usize..3) {
            let iv = [60_000i64, 600_000, 1_800_000, 3_600_000][iv_pick];
            let s = [Seasonality::None, Seasonality::HourOfDay, Seasonality::DayOfWeek][season];
            let g = Geometry::new(s, iv).unwrap();
            let mut slow = vec![0u64; g.buckets()];
            for i in a..a + len {
                slow[g.bucket(i)] += 1;
            }
            for (j, &n) in slow.iter().enumerate() {
                prop_assert_eq!(g.count(a, a + len, j), n);
            }
        }

        #[test]
        fn ew_stats_match_weighted_sums(xs in prop::collection::vec(prop_oneof![Just(0.0), 0.0f64..1000.0], 1..200), half_life in 0.5f64..50.0) {
            let alpha = alpha_from_half_life(half_life).unwrap();
            let mut s = EwStats::default();
            // Runs of zeros go through the closed form.
            let mut i = 0;
            while i < xs.len() {
                if xs[i] == 0.0 {
                    let k = xs[i..].iter().take_while(|x| **x == 0.0).count();
                    s.push_zeros(k as u64, alpha);
                    i += k;
                } else {
                    s.push(xs[i], alpha);
                    i += 1;
                }
            }
            let (mean, var) = reference(&xs, alpha);
            prop_assert!((s.mean - mean).abs() <= 1e-9 * (1.0 + mean.abs()), "{} vs {}", s.mean, mean);
            prop_assert!((s.var - var).abs() <= 1e-7 * (1.0 + var.abs()), "{} vs {}", s.var, var);
            prop_assert_eq!(s.n as usize, xs.len());
        }
    }
}
