//! Chains of windows: what a restart must re-read so that every window is cut where the
//! uninterrupted run cut it.
//!
//! A correlation's state for a group depends on the group's whole run of events without a pause
//! longer than the window (a *chain*): an alert clears the window, so where the next one starts
//! depends on where the previous ones did, back to the chain's first event. Without checkpoints
//! of operator state, a restart is exact only if it re-reads every chain that can still change
//! an undelivered incident from its first event. So each correlate stage tracks, per group, the
//! chain's *born* time (its first event, or for a chained correlation the born time of the
//! alerts it is built on), and reports the oldest live one at each step of its frontier; the
//! reports of every worker meet in [`chain_frontier`], and the Kafka source commits no offset
//! past the oldest born time of the chains live at the delivered frontier.
//!
//! A chain is live from its first event until the frontier passes its last event plus `gap`
//! (the window, times K for `persistence`, plus the suppression cool-down): later events start
//! a new chain, and every incident the chain can give (at its window end, or merged until the
//! cool-down ends) is at or before that time. Expiry follows the stage's own frontier, so the
//! reports of all stages at one timely time form a consistent cut: an alert forwarded to the
//! next stage is reported there (at the time it is processed) before its chain may leave the
//! reports of the stage that raised it.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::project::GroupKey;

struct Link {
    born: i64,
    last: i64,
    seq: u64,
}

/// The live chains of one correlation on one worker.
pub struct ChainTracker {
    gap: i64,
    links: FxHashMap<GroupKey, Link>,
    expiry: BTreeMap<(i64, u64), GroupKey>,
    borns: BTreeMap<i64, u32>,
    seq: u64,
}

impl ChainTracker {
    /// Chains broken by pauses longer than `gap` ms.
    pub fn new(gap: i64) -> Self {
        ChainTracker { gap: gap.max(0), links: FxHashMap::default(), expiry: BTreeMap::new(), borns: BTreeMap::new(), seq: 0 }
    }

    fn add_born(&mut self, born: i64) {
        *self.borns.entry(born).or_default() += 1;
    }

    fn remove_born(&mut self, born: i64) {
        if let Some(n) = self.borns.get_mut(&born) {
            *n -= 1;
            if *n == 0 {
                self.borns.remove(&born);
            }
        }
    }

    /// An event of `key` at `ts` that depends on nothing before `born` (`born <= ts`); returns
    /// the born time of the chain it belongs to.
    pub fn observe(&mut self, key: &GroupKey, ts: i64, born: i64) -> i64 {
        self.seq += 1;
        let seq = self.seq;
        let gap = self.gap;
        let (old, new_born) = match self.links.get_mut(key) {
            Some(link) => {
                self.expiry.remove(&(link.last.saturating_add(gap), link.seq));
                let old = link.born;
                link.born = if ts.saturating_sub(link.last) <= gap { link.born.min(born) } else { born };
                link.last = link.last.max(ts);
                link.seq = seq;
                self.expiry.insert((link.last.saturating_add(gap), seq), key.clone());
                (Some(old), link.born)
            }
            None => {
                self.links.insert(key.clone(), Link { born, last: ts, seq });
                self.expiry.insert((ts.saturating_add(gap), seq), key.clone());
                (None, born)
            }
        };
        if old != Some(new_born) {
            if let Some(o) = old {
                self.remove_born(o);
            }
            self.add_born(new_born);
        }
        new_born
    }

    /// The born time of `key`'s live chain.
    pub fn born_of(&self, key: &GroupKey) -> Option<i64> {
        self.links.get(key).map(|l| l.born)
    }

    /// Forgets the chains whose last event plus the gap is before `frontier`.
    pub fn expire(&mut self, frontier: i64) {
        while let Some(entry) = self.expiry.first_entry() {
            if entry.key().0 >= frontier {
                break;
            }
            let key = entry.remove();
            if let Some(link) = self.links.remove(&key) {
                self.remove_born(link.born);
            }
        }
    }

    /// The oldest born time of a live chain.
    pub fn oldest(&self) -> Option<i64> {
        self.borns.keys().next().copied()
    }

    /// Live chains.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// True when no chain is live.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

/// One correlate stage's oldest live chain, as of the timely time the report is sent at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// The worker of the stage.
    pub worker: u32,
    /// The stage ([`super::lateness::Stage::id`]).
    pub stage: u32,
    /// Oldest born time of its live chains (`None`: no live chain).
    pub oldest: Option<i64>,
}

/// The cluster's oldest live chain over timely time, for the Kafka source of one worker.
#[derive(Default)]
pub struct ChainHistory {
    /// (time, oldest born of the chains live then), for completed times, oldest first.
    points: VecDeque<(u64, Option<i64>)>,
    /// Every report before this time has been counted.
    complete: u64,
}

impl ChainHistory {
    /// The oldest born time of the chains live at `at` (or at the latest completed time before
    /// it, where `at` is not complete yet), never later than that time: a bound no restart
    /// point may pass. Points before the one used are dropped (`at` only grows).
    pub fn bound_at(&mut self, at: u64) -> i64 {
        let at = at.min(self.complete);
        while self.points.len() > 1 && self.points[1].0 <= at {
            self.points.pop_front();
        }
        let oldest = match self.points.front() {
            Some(&(t, oldest)) if t <= at => oldest,
            _ => None,
        };
        oldest.map_or(at as i64, |o| o.min(at as i64))
    }
}

/// Folds every worker's chain reports (broadcast to each worker) into `history`, shared with
/// this worker's Kafka source.
pub fn chain_frontier<'s>(reports: Stream<'s, u64, Vec<ChainReport>>, history: Rc<RefCell<ChainHistory>>) {
    reports.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, "ChainFrontier", move |_cap, _info| {
        let mut pending: BTreeMap<u64, Vec<ChainReport>> = BTreeMap::new();
        let mut latest: BTreeMap<(u32, u32), i64> = BTreeMap::new();
        move |(input, frontier), _output| {
            input.for_each(|cap, data| pending.entry(cap.least().copied().unwrap_or_default()).or_default().append(data));
            let bound = frontier.frontier().first().copied().unwrap_or(u64::MAX);
            let mut h = history.borrow_mut();
            while let Some(entry) = pending.first_entry() {
                if *entry.key() >= bound {
                    break;
                }
                let t = *entry.key();
                for r in entry.remove() {
                    match r.oldest {
                        Some(o) => latest.insert((r.worker, r.stage), o),
                        None => latest.remove(&(r.worker, r.stage)),
                    };
                }
                h.points.push_back((t, latest.values().min().copied()));
            }
            h.complete = bound;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::GroupValue;

    fn key(s: &str) -> GroupKey {
        GroupKey::new(&[GroupValue::Str(s.into())])
    }

    #[test]
    fn a_chain_lasts_while_events_come_within_the_gap() {
        let mut t = ChainTracker::new(60);
        assert_eq!(t.observe(&key("a"), 0, 0), 0);
        assert_eq!(t.observe(&key("a"), 50, 50), 0);
        assert_eq!(t.observe(&key("a"), 110, 110), 0, "exactly the gap apart: the same chain");
        assert_eq!(t.observe(&key("b"), 100, 100), 100);
        assert_eq!(t.oldest(), Some(0));
        assert_eq!(t.observe(&key("a"), 171, 171), 171, "one past the gap: a new chain");
        assert_eq!(t.oldest(), Some(100));
        t.expire(160);
        assert_eq!(t.len(), 2, "b lasts until 100 + 60");
        t.expire(161);
        assert_eq!((t.len(), t.oldest()), (1, Some(171)));
        t.expire(232);
        assert!(t.is_empty());
        assert_eq!(t.oldest(), None);
    }

    #[test]
    fn a_chained_alert_carries_the_born_time_of_what_it_is_built_on() {
        let mut t = ChainTracker::new(10);
        assert_eq!(t.observe(&key("a"), 500, 20), 20);
        assert_eq!(t.observe(&key("a"), 505, 505), 20);
        assert_eq!(t.born_of(&key("a")), Some(20));
        assert_eq!(t.oldest(), Some(20));
    }

    #[test]
    fn the_bound_is_the_oldest_chain_at_the_time_asked_and_never_later_than_it() {
        let mut h = ChainHistory { points: VecDeque::from([(10, Some(3)), (20, None), (30, Some(25))]), complete: 40 };
        assert_eq!(h.bound_at(5), 5, "before any report: nothing live");
        assert_eq!(h.bound_at(15), 3);
        assert_eq!(h.bound_at(20), 20);
        assert_eq!(h.bound_at(35), 25);
        assert_eq!(h.bound_at(100), 25, "not complete past 40: the latest known");
    }
}
