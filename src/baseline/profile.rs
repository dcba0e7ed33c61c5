//! Profile baseline: the share of each category (HTTP status class, event kind, ...) in an
//! entity's interval, against the entity's usual shares.
//!
//! The input value is the category: a hash of its text, or a small integer.
//!
//! # Categories
//!
//! Each entity learns up to `max_categories` categories in the order it first uses them; later
//! ones are folded into one "other" category (counted in
//! [`TableStats::overflows`](super::TableStats)), so the state is bounded.
//!
//! # Usual shares
//!
//! Volume-weighted and exponentially decayed: after each closed interval `i` with `n` events,
//! `weight' = b * weight + n` and `share'_c = (b * weight * share_c + count_c) / weight'` with
//! `b = (1 - alpha)^(i - previous closed interval)`, `alpha = 1 - 2^(-1 / half_life)`: an
//! interval's events lose half their weight every `half_life` intervals, empty intervals
//! between only age the history (shares of nothing are undefined, so they are not zeros), and
//! a long-quiet entity's next interval mostly replaces its history. `min_history` counts
//! intervals with events.
//!
//! # Divergence
//!
//! Total-variation distance, `TVD = 1/2 * sum over categories (with "other") of |p_c - q_c|`,
//! between the interval's shares `p` and the usual shares `q` before it: the share of events
//! that would have to change category to look usual, from 0 (same mix) to 1 (disjoint). An
//! interval fires when `TVD >= threshold` (default 0.5: half the events moved), it has at least
//! `min_events` events (shares of a handful of events are noise; a chi-square test would
//! handle this itself, but would also flag tiny shifts of high-volume entities), and the
//! entity has `min_history` intervals. The verdict names the category whose share rose most.
//!
//! # Peer group
//!
//! Entities with too short a history are compared with the pooled shares of all entities
//! (same update, each interval's counts summed over entities). Per interval the stage keeps
//! the `4 * peer_categories` categories with the smallest mixed hashes (the rest go to
//! "other"), and the peer group gives free slots to new categories by count (ties by hash), so
//! the result does not depend on the order entities arrive in. An entity's categories unknown
//! to the peer group, and its own "other", count as the peer's "other".
//!
//! State per entity: 116 bytes with the table's fixed part plus 16 bytes per category
//! (hash, count, share as `f32`): at most 244 bytes at the default 8 categories.

use std::collections::BTreeMap;
use std::mem::size_of;

use serde::{Deserialize, Serialize};

use super::{
    alpha_from_half_life, grow, interval_bounds, interval_of, mix64, param_error, Anomaly, AnomalyKind, Baseline, BaselineError, Context, Expected, Verdict,
};

/// Profile baseline parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProfileConfig {
    /// Interval length (ms).
    pub interval_ms: i64,
    /// Categories learned per entity (1 to 64); the rest fold into "other".
    pub max_categories: usize,
    /// Intervals after which an interval's events weigh half.
    pub half_life: f64,
    /// Intervals with events before the entity's own verdicts.
    pub min_history: u32,
    /// Events an interval needs to be judged.
    pub min_events: u32,
    /// Total-variation distance (0 to 1] at or above which an interval fires.
    pub threshold: f64,
    /// Categories learned by the peer group (1 to 1024).
    pub peer_categories: usize,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig { interval_ms: 60_000, max_categories: 8, half_life: 30.0, min_history: 10, min_events: 20, threshold: 0.5, peer_categories: 32 }
    }
}

/// Profile baseline (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    config: ProfileConfig,
    alpha: f64,
}

impl Profile {
    /// A profile baseline with checked parameters.
    pub fn new(config: ProfileConfig) -> Result<Self, BaselineError> {
        if config.interval_ms < 1 {
            return Err(param_error("interval_ms", "at least 1", config.interval_ms));
        }
        if !(1..=64).contains(&config.max_categories) {
            return Err(param_error("max_categories", "between 1 and 64", config.max_categories));
        }
        if !(1..=1024).contains(&config.peer_categories) {
            return Err(param_error("peer_categories", "between 1 and 1024", config.peer_categories));
        }
        if !(config.threshold > 0.0 && config.threshold <= 1.0) {
            return Err(param_error("threshold", "in (0, 1]", config.threshold));
        }
        Ok(Profile { config, alpha: alpha_from_half_life(config.half_life)? })
    }

    /// The parameters.
    pub fn config(&self) -> &ProfileConfig {
        &self.config
    }
}

/// One learned category of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// The category value.
    pub hash: u64,
    /// Events in the open interval.
    pub count: u32,
    /// Usual share.
    pub share: f32,
}

/// An entity's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileState {
    /// The open interval, or the last one when not `open`.
    cur: i64,
    /// The last closed interval with events (`i64::MIN` before the first).
    last_closed: i64,
    /// Decayed event weight of the usual shares.
    weight: f64,
    cats: Vec<Category>,
    other_count: u32,
    other_share: f32,
    history: u32,
    open: bool,
}

impl ProfileState {
    /// Learned categories with open-interval counts and usual shares.
    pub fn categories(&self) -> &[Category] {
        &self.cats
    }

    /// Usual share of "other".
    pub fn other_share(&self) -> f32 {
        self.other_share
    }

    /// Intervals with events so far.
    pub fn history(&self) -> u32 {
        self.history
    }
}

/// Folds one interval's counts into decayed shares: `shares` and `other` are updated in place.
fn update_shares<'a>(weight: &mut f64, decay: f64, cats: impl Iterator<Item = (&'a mut f32, u64)>, other: (&mut f32, u64), n: u64) {
    let old = *weight * decay;
    let new = old + n as f64;
    if new <= 0.0 {
        return;
    }
    for (share, count) in cats {
        *share = ((old * f64::from(*share) + count as f64) / new) as f32;
    }
    *other.0 = ((old * f64::from(*other.0) + other.1 as f64) / new) as f32;
    *weight = new;
}

/// Total-variation distance between counts (`n` in all) and usual shares, and the entry whose
/// share rose most (index into the iterator; `None` for the last, "other").
fn tvd(pairs: &[(u64, f64)], n: u64) -> (f64, usize, f64, f64) {
    let mut d = 0.0;
    let mut best = (0usize, f64::NEG_INFINITY, 0.0, 0.0);
    for (i, &(count, usual)) in pairs.iter().enumerate() {
        let p = count as f64 / n as f64;
        d += (p - usual).abs();
        if p - usual > best.1 {
            best = (i, p - usual, p, usual);
        }
    }
    (d / 2.0, best.0, best.2, best.3)
}

/// A young entity's interval waiting for the peer group: counts by category, and "other".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilePending {
    counts: Vec<(u64, u32)>,
    other: u32,
}

impl ProfilePending {
    /// The categories the interval counted (hashes), in the entity's order.
    pub fn categories(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.iter().map(|c| c.0)
    }
}

/// One interval's category counts of all entities: the smallest mixed hashes, rest in "other".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileStage {
    /// mixed hash -> (category, count)
    counts: BTreeMap<u64, (u64, u64)>,
    other: u64,
}

impl ProfileStage {
    fn add(&mut self, cat: u64, count: u64, cap: usize) {
        let key = mix64(cat);
        if let Some(e) = self.counts.get_mut(&key) {
            e.1 += count;
            return;
        }
        if self.counts.len() >= cap {
            match self.counts.last_key_value() {
                Some((&last, _)) if last > key => {
                    if let Some((_, (_, c))) = self.counts.pop_last() {
                        self.other += c;
                    }
                }
                _ => {
                    self.other += count;
                    return;
                }
            }
        }
        self.counts.insert(key, (cat, count));
    }
}

/// The peer group's usual shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerProfile {
    /// (category, usual share)
    cats: Vec<(u64, f32)>,
    other_share: f32,
    weight: f64,
    last: Option<i64>,
    /// Intervals with events folded.
    pub history: u64,
}

impl Profile {
    /// The anomaly of interval `idx` at distance `d`; `top` is the category that rose most
    /// (`None` for "other") with its share and usual share.
    fn anomaly(&self, entity: u64, idx: i64, d: f64, top: (Option<u64>, f64, f64), peer: bool) -> Anomaly {
        let (start, end) = interval_bounds(idx, self.config.interval_ms);
        let (category, share, usual_share) = top;
        Anomaly {
            kind: AnomalyKind::Profile,
            entity,
            interval_start_ms: start,
            interval_end_ms: end,
            observed: d,
            expected: Expected::Share { category, share, usual_share },
            score: d,
            value: category,
            peer,
        }
    }

    fn decay(&self, gap: i64) -> f64 {
        (1.0 - self.alpha).powf(gap as f64)
    }
}

impl Baseline for Profile {
    type State = ProfileState;
    type Stage = ProfileStage;
    type Peer = PeerProfile;
    type Pending = ProfilePending;

    fn kind(&self) -> AnomalyKind {
        AnomalyKind::Profile
    }
    fn interval_ms(&self) -> i64 {
        self.config.interval_ms
    }
    fn closes_intervals(&self) -> bool {
        true
    }
    fn new_state(&self, ts_ms: i64) -> ProfileState {
        let cur = interval_of(ts_ms, self.config.interval_ms);
        ProfileState { cur, last_closed: i64::MIN, weight: 0.0, cats: Vec::new(), other_count: 0, other_share: 0.0, history: 0, open: false }
    }
    fn new_peer(&self) -> PeerProfile {
        PeerProfile::default()
    }

    fn observe(&self, st: &mut ProfileState, entity: u64, ts: i64, value: u64, cx: &mut Context<'_, ProfileStage>) -> Verdict<ProfilePending> {
        let idx = interval_of(ts, self.config.interval_ms);
        let mut verdict = Verdict::Quiet;
        if st.open && idx > st.cur {
            verdict = self.close(st, entity, cx);
        }
        if !st.open {
            st.cur = idx;
            st.open = true;
        }
        if let Some(c) = st.cats.iter_mut().find(|c| c.hash == value) {
            c.count = c.count.saturating_add(1);
        } else if st.cats.len() < self.config.max_categories {
            grow(&mut st.cats, self.config.max_categories);
            st.cats.push(Category { hash: value, count: 1, share: 0.0 });
        } else {
            st.other_count = st.other_count.saturating_add(1);
            cx.overflow();
        }
        verdict
    }

    fn close(&self, st: &mut ProfileState, entity: u64, cx: &mut Context<'_, ProfileStage>) -> Verdict<ProfilePending> {
        if !st.open {
            return Verdict::Quiet;
        }
        st.open = false;
        let n = st.cats.iter().map(|c| u64::from(c.count)).sum::<u64>() + u64::from(st.other_count);
        if n == 0 {
            return Verdict::Quiet;
        }
        let idx = st.cur;
        if let Some(stage) = cx.stage(idx) {
            let cap = 4 * self.config.peer_categories;
            for c in st.cats.iter().filter(|c| c.count > 0) {
                stage.add(c.hash, u64::from(c.count), cap);
            }
            stage.other += u64::from(st.other_count);
        }
        let verdict = if n < u64::from(self.config.min_events) {
            Verdict::Quiet
        } else if st.history >= self.config.min_history {
            let mut pairs: Vec<(u64, f64)> = st.cats.iter().map(|c| (u64::from(c.count), f64::from(c.share))).collect();
            pairs.push((u64::from(st.other_count), f64::from(st.other_share)));
            let (d, top, p, q) = tvd(&pairs, n);
            if d >= self.config.threshold {
                Verdict::Anomaly(self.anomaly(entity, idx, d, (st.cats.get(top).map(|c| c.hash), p, q), false))
            } else {
                Verdict::Quiet
            }
        } else {
            let counts = st.cats.iter().filter(|c| c.count > 0).map(|c| (c.hash, c.count)).collect();
            Verdict::Peer { interval: idx, tag: 0, pending: ProfilePending { counts, other: st.other_count } }
        };
        let decay = if st.last_closed == i64::MIN { 0.0 } else { self.decay(idx.saturating_sub(st.last_closed)) };
        let other_count = u64::from(std::mem::take(&mut st.other_count));
        let cats = st.cats.iter_mut().map(|c| (&mut c.share, u64::from(std::mem::take(&mut c.count))));
        update_shares(&mut st.weight, decay, cats, (&mut st.other_share, other_count), n);
        st.last_closed = idx;
        st.history = st.history.saturating_add(1);
        verdict
    }

    fn merge_stage(&self, into: &mut ProfileStage, other: ProfileStage) {
        // A category kept by the union's bottom-k is kept, with its whole count, by every part
        // it occurs in, so re-adding the parts' kept counts rebuilds the union's stage exactly.
        let cap = 4 * self.config.peer_categories;
        for (cat, count) in other.counts.into_values() {
            into.add(cat, count, cap);
        }
        into.other += other.other;
    }

    fn fold(&self, peer: &mut PeerProfile, idx: i64, stage: ProfileStage) {
        let n = stage.counts.values().map(|e| e.1).sum::<u64>() + stage.other;
        if n == 0 {
            return;
        }
        let mut fresh: Vec<(u64, u64)> = stage.counts.values().filter(|(c, _)| !peer.cats.iter().any(|p| p.0 == *c)).copied().collect();
        fresh.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (c, _) in fresh {
            if peer.cats.len() >= self.config.peer_categories {
                break;
            }
            peer.cats.push((c, 0.0));
        }
        let mut counts = vec![0u64; peer.cats.len()];
        let mut other = stage.other;
        for &(c, k) in stage.counts.values() {
            match peer.cats.iter().position(|p| p.0 == c) {
                Some(i) => counts[i] += k,
                None => other += k,
            }
        }
        let decay = peer.last.map_or(0.0, |l| self.decay(idx.saturating_sub(l)));
        let cats = peer.cats.iter_mut().zip(counts).map(|(p, k)| (&mut p.1, k));
        update_shares(&mut peer.weight, decay, cats, (&mut peer.other_share, other), n);
        peer.last = Some(idx);
        peer.history = peer.history.saturating_add(1);
    }

    fn judge_peer(&self, peer: &PeerProfile, entity: u64, interval: i64, _tag: u64, pending: &ProfilePending) -> Option<Anomaly> {
        if peer.history < u64::from(self.config.min_history) {
            return None;
        }
        let mut counts = vec![0u64; peer.cats.len()];
        let mut other = u64::from(pending.other);
        for &(c, k) in &pending.counts {
            match peer.cats.iter().position(|p| p.0 == c) {
                Some(i) => counts[i] += u64::from(k),
                None => other += u64::from(k),
            }
        }
        let n = counts.iter().sum::<u64>() + other;
        let mut pairs: Vec<(u64, f64)> = counts.iter().zip(&peer.cats).map(|(&k, p)| (k, f64::from(p.1))).collect();
        pairs.push((other, f64::from(peer.other_share)));
        let (d, top, p, q) = tvd(&pairs, n);
        (d >= self.config.threshold).then(|| self.anomaly(entity, interval, d, (peer.cats.get(top).map(|c| c.0), p, q), true))
    }

    fn heap_bytes(st: &ProfileState) -> usize {
        st.cats.capacity() * size_of::<Category>()
    }

    fn peer_heap_bytes(peer: &PeerProfile) -> usize {
        peer.cats.capacity() * size_of::<(u64, f32)>()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::run;
    use super::super::{EntityTable, TableConfig};
    use super::*;
    use proptest::prelude::*;

    fn table(config: ProfileConfig, peer: bool) -> EntityTable<Profile> {
        EntityTable::new(Profile::new(config).unwrap(), TableConfig { max_entities: 1000, ttl_ms: 1 << 50, peer_fallback: peer, max_pending: 1000 }).unwrap()
    }

    const OK: u64 = 2;
    const CLIENT_ERR: u64 = 4;

    #[test]
    fn shift_to_errors_fires() {
        let cfg = ProfileConfig { interval_ms: 1000, min_history: 5, min_events: 10, threshold: 0.5, ..ProfileConfig::default() };
        let mut t = table(cfg, false);
        let mut out = Vec::new();
        // 18 successes and 2 client errors per interval, then 4 and 16.
        for i in 0..20i64 {
            for k in 0..20 {
                out.extend(t.observe(1, i * 1000 + k, if k < 18 { OK } else { CLIENT_ERR }));
            }
        }
        assert!(out.is_empty());
        for k in 0..20 {
            out.extend(t.observe(1, 20_000 + k, if k < 4 { OK } else { CLIENT_ERR }));
        }
        // Too few events to judge.
        for k in 0..5 {
            out.extend(t.observe(1, 21_000 + k, CLIENT_ERR));
        }
        t.advance(i64::MAX, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        let a = &out[0];
        assert_eq!((a.interval_start_ms, a.value, a.peer), (20_000, Some(CLIENT_ERR), false));
        assert!((a.score - 0.7).abs() < 1e-6, "{}", a.score);
        assert!(matches!(a.expected, Expected::Share { share, usual_share, .. } if (share - 0.8).abs() < 1e-9 && (usual_share - 0.1).abs() < 1e-6));
    }

    #[test]
    fn categories_past_the_cap_fold_into_other() {
        let cfg = ProfileConfig { max_categories: 2, ..ProfileConfig::default() };
        let mut t = table(cfg, false);
        for v in 0..5u64 {
            t.observe(1, 0, v);
        }
        let st = t.state(1).unwrap();
        assert_eq!(st.categories().iter().map(|c| c.hash).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(st.other_count, 3);
        assert_eq!(t.stats().overflows, 3);
    }

    #[test]
    fn young_entity_against_peer_shares() {
        let cfg = ProfileConfig { interval_ms: 1000, min_history: 3, min_events: 10, threshold: 0.5, ..ProfileConfig::default() };
        let mut t = table(cfg, true);
        let mut out = Vec::new();
        for i in 0..5i64 {
            for e in 0..10u64 {
                for k in 0..10 {
                    out.extend(t.observe(e, i * 1000 + k, if k < 9 { OK } else { CLIENT_ERR }));
                }
            }
            t.advance(i * 1000 + 999, &mut out);
        }
        assert!(out.is_empty(), "{out:?}");
        for k in 0..10 {
            out.extend(t.observe(50, 5000 + k, CLIENT_ERR));
            out.extend(t.observe(51, 5000 + k, OK));
        }
        t.advance(i64::MAX, &mut out);
        assert_eq!(out.iter().map(|a| (a.entity, a.peer, a.value)).collect::<Vec<_>>(), vec![(50, true, Some(CLIENT_ERR))]);
    }

    #[test]
    fn stage_is_order_independent() {
        let mut a = ProfileStage::default();
        let mut b = ProfileStage::default();
        let adds: Vec<(u64, u64)> = (0..40u64).map(|i| (i % 13, i % 5 + 1)).collect();
        for &(c, k) in &adds {
            a.add(c, k, 4);
        }
        for &(c, k) in adds.iter().rev() {
            b.add(c, k, 4);
        }
        assert_eq!(a, b);
        assert_eq!(a.counts.values().map(|e| e.1).sum::<u64>() + a.other, adds.iter().map(|e| e.1).sum::<u64>());
    }

    proptest! {
        /// Verdicts and final shares equal the slow reference: explicit decayed weights over all
        /// earlier intervals, categories assigned in first-use order with the rest in "other".
        #[test]
        fn matches_slow_reference(mut events in prop::collection::vec((0i64..30_000, 0u64..6), 1..300), max_categories in 1usize..6, half_life in 0.5f64..20.0, min_history in 0u32..4, min_events in 1u32..6, threshold in 0.05f64..1.0) {
            events.sort_by_key(|e| e.0);
            let iv = 1000;
            let cfg = ProfileConfig { interval_ms: iv, max_categories, half_life, min_history, min_events, threshold, peer_categories: 8 };
            let mut t = table(cfg, false);
            let got = run(&mut t, &events.iter().map(|&(ts, v)| (1u64, ts, v)).collect::<Vec<_>>(), false, 1 << 45);

            let alpha = alpha_from_half_life(half_life).unwrap();
            let mut slots: Vec<u64> = Vec::new();
            // Per past interval: (index, counts per slot then "other").
            let mut past: Vec<(i64, Vec<u64>)> = Vec::new();
            let mut expected = Vec::new();
            let mut borderline = false;
            let usual = |past: &[(i64, Vec<u64>)], slots: usize, at: i64| -> Vec<f64> {
                let mut s = vec![0.0; slots + 1];
                let mut w = 0.0;
                for (i, counts) in past {
                    let d = (1.0 - alpha).powf((at - i) as f64);
                    for (j, c) in counts.iter().enumerate() {
                        let j = if j + 1 == counts.len() { slots } else { j };
                        s[j] += d * *c as f64;
                    }
                    w += d * counts.iter().sum::<u64>() as f64;
                }
                s.iter().map(|x| if w > 0.0 { x / w } else { 0.0 }).collect()
            };
            let (first, last) = (events[0].0 / iv, events[events.len() - 1].0 / iv);
            for i in first..=last {
                let mine: Vec<u64> = events.iter().filter(|e| e.0 / iv == i).map(|e| e.1).collect();
                if mine.is_empty() {
                    continue;
                }
                for &v in &mine {
                    if !slots.contains(&v) && slots.len() < max_categories {
                        slots.push(v);
                    }
                }
                let mut counts = vec![0u64; slots.len() + 1];
                for &v in &mine {
                    let j = slots.iter().position(|s| *s == v).unwrap_or(slots.len());
                    counts[j] += 1;
                }
                let n = mine.len() as u64;
                if n >= u64::from(min_events) && past.len() >= min_history as usize {
                    // Pad older intervals' count vectors to today's slots ("other" stays last).
                    let padded: Vec<(i64, Vec<u64>)> = past.iter().map(|(i, c)| {
                        let mut v = c[..c.len() - 1].to_vec();
                        v.resize(slots.len(), 0);
                        v.push(c[c.len() - 1]);
                        (*i, v)
                    }).collect();
                    let q = usual(&padded, slots.len(), i);
                    let d: f64 = counts.iter().zip(&q).map(|(c, q)| (*c as f64 / n as f64 - q).abs()).sum::<f64>() / 2.0;
                    borderline |= (d - threshold).abs() < 1e-5;
                    if d >= threshold {
                        expected.push((i * iv, d));
                    }
                }
                past.push((i, counts));
            }
            let got: Vec<(i64, f64)> = got.iter().map(|a| (a.interval_start_ms, a.observed)).collect();
            if !borderline {
                prop_assert_eq!(got.len(), expected.len(), "{:?} vs {:?}", got, expected);
                for (g, e) in got.iter().zip(&expected) {
                    prop_assert!(g.0 == e.0 && (g.1 - e.1).abs() < 1e-5, "{:?} vs {:?}", g, e);
                }
            }
            let st = t.state(1).unwrap();
            let padded: Vec<(i64, Vec<u64>)> = past.iter().map(|(i, c)| {
                let mut v = c[..c.len() - 1].to_vec();
                v.resize(slots.len(), 0);
                v.push(c[c.len() - 1]);
                (*i, v)
            }).collect();
            let q = usual(&padded, slots.len(), past[past.len() - 1].0);
            prop_assert_eq!(st.categories().iter().map(|c| c.hash).collect::<Vec<_>>(), slots.clone());
            for (c, q) in st.categories().iter().zip(&q) {
                prop_assert!((f64::from(c.share) - q).abs() < 1e-5, "{} vs {}", c.share, q);
            }
            prop_assert!((f64::from(st.other_share()) - q[slots.len()]).abs() < 1e-5);
        }
    }
}
