//! The keyed exchange and the in-order operator: events move to the worker that owns their
//! entity, wait there until the input frontier passes their event time, and leave sorted by
//! (event time, partition, record, expansion). This is the skeleton every keyed correlation
//! operator plugs into: it sees each key's events in event-time order, whatever the number of
//! workers or the interleaving of partitions within the lateness.
//!
//! Waiting events sit in one-second buckets of event time, so a frontier step sorts only the
//! buckets it releases: the cost per event stays flat however large the allowed lateness (and so
//! the number of waiting events) is.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use super::watermark::to_timely;
use crate::checkpoint::OperatorCut;
use crate::event::entity::EntityKey;
use crate::event::{Event, Timed};

/// Events per released batch: large enough to amortize, small enough to reuse memory.
const RELEASE_BATCH: usize = 1024;

/// Width of a waiting bucket in milliseconds of event time.
const BUCKET_MS: i64 = 1_000;

/// Records waiting for the frontier, bucketed by event time.
pub struct Pending<T> {
    buckets: BTreeMap<i64, Vec<T>>,
    len: usize,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending { buckets: BTreeMap::new(), len: 0 }
    }
}

impl<T: Timed> Pending<T> {
    /// Adds records in any order.
    pub fn extend(&mut self, records: impl IntoIterator<Item = T>) {
        for rec in records {
            self.buckets.entry(rec.ts().div_euclid(BUCKET_MS)).or_default().push(rec);
            self.len += 1;
        }
    }

    /// Number of waiting events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes, in order, every event the frontier `bound` has passed (all when `None`), and
    /// hands them to `out` in batches.
    pub fn release(&mut self, bound: Option<u64>, mut out: impl FnMut(&mut Vec<T>)) {
        let ready = |ts: i64| bound.is_none_or(|f| to_timely(ts) < f);
        let mut batch: Vec<T> = Vec::new();
        while let Some(mut entry) = self.buckets.first_entry() {
            let last_ts = (*entry.key() + 1) * BUCKET_MS - 1;
            let bucket = entry.get_mut();
            if !ready(bucket.iter().map(Timed::ts).min().unwrap_or(last_ts)) {
                break;
            }
            // Stable and run-adaptive: arrivals are mostly in order already.
            bucket.sort_by_key(Timed::order_key);
            let cut = if ready(last_ts) { bucket.len() } else { bucket.partition_point(|rec| ready(rec.ts())) };
            let whole = cut == bucket.len();
            let mut drained = bucket.drain(..cut);
            loop {
                let room = RELEASE_BATCH - batch.len();
                batch.extend(drained.by_ref().take(room));
                if batch.len() < RELEASE_BATCH {
                    break;
                }
                out(&mut batch);
                batch.clear();
            }
            drop(drained);
            self.len -= cut;
            if whole {
                entry.remove();
            } else {
                break;
            }
        }
        if !batch.is_empty() {
            out(&mut batch);
        }
    }
}

/// Exchanges events by entity key and releases them in event-time order once complete.
pub fn in_event_time_order<'s>(events: Stream<'s, u64, Vec<Event>>, key: EntityKey) -> Stream<'s, u64, Vec<Event>> {
    in_event_time_order_gauged(events, key, Rc::default())
}

/// As [`in_event_time_order`], publishing the number of waiting events in `gauge` (for flow
/// control at the source).
pub fn in_event_time_order_gauged<'s>(events: Stream<'s, u64, Vec<Event>>, key: EntityKey, gauge: Rc<Cell<usize>>) -> Stream<'s, u64, Vec<Event>> {
    in_order_by(events, move |ev: &Event| key.hash(ev), gauge)
}

/// The general form: any timed record, routed to the worker `route(record) % peers`, released
/// in order once the frontier passes it. Correlation operators route small projections of
/// events this way, so only what a rule needs crosses workers. Several of these may share one
/// `gauge` (one per lateness class): each adds its own waiting records to it.
pub fn in_order_by<'s, T, R>(records: Stream<'s, u64, Vec<T>>, route: R, gauge: Rc<Cell<usize>>) -> Stream<'s, u64, Vec<T>>
where
    T: Timed + timely::ExchangeData + serde::Serialize + serde::de::DeserializeOwned,
    R: Fn(&T) -> u64 + 'static,
{
    in_order_checkpointed(records, route, gauge, None, Some)
}

/// [`in_order_by`] taking part in checkpoints: its waiting records are its state. Records
/// before a cut that wait past it are saved, and released after the restore as they would have
/// been (see [`crate::checkpoint::cut`]). When the checkpoint is divided by key anew, every old
/// exchange's records pass through `place` (which may rewrite a record for this run, or say it
/// belongs to another exchange) and this worker keeps those routed to it.
pub fn in_order_checkpointed<'s, T, R, P>(
    records: Stream<'s, u64, Vec<T>>,
    route: R,
    gauge: Rc<Cell<usize>>,
    mut checkpoint: Option<OperatorCut>,
    place: P,
) -> Stream<'s, u64, Vec<T>>
where
    T: Timed + timely::ExchangeData + serde::Serialize + serde::de::DeserializeOwned,
    R: Fn(&T) -> u64 + 'static,
    P: Fn(T) -> Option<T> + 'static,
{
    let (index, peers) = (records.scope().index() as u64, records.scope().peers() as u64);
    let route = Rc::new(route);
    let routing = route.clone();
    let pact = Exchange::new(move |rec: &T| routing(rec));
    records.unary_frontier(pact, "InEventTimeOrder", |initial, _info| {
        let mut pending: Pending<T> = Pending::default();
        let mut held: Option<Capability<u64>> = None;
        let decode = |bytes: &[u8]| match bincode::deserialize::<Vec<T>>(bytes) {
            Ok(saved) => saved,
            Err(e) => {
                tracing::error!("the exchange's checkpointed records do not decode ({e}); they are lost");
                Vec::new()
            }
        };
        // Restored from a checkpoint of another number of workers: every old worker's records,
        // of which this worker keeps those routed to it now (timely routes by hash % peers).
        let saved: Vec<T> = match checkpoint.as_ref().map(|op| (op.restored_all(), op)) {
            Some((Some(all), _)) => all.iter().flat_map(|(_, b)| decode(b)).filter_map(&place).filter(|rec| route(rec) % peers == index).collect(),
            Some((None, op)) => op.restored().map(|b| decode(&b)).unwrap_or_default(),
            None => Vec::new(),
        };
        if !saved.is_empty() {
            pending.extend(saved);
            held = Some(initial);
        }
        let mut released_to: Option<u64> = None;
        let mut after_cut: Vec<(Capability<u64>, Vec<T>)> = Vec::new();
        let mut finished = false;
        // This operator's share of the gauge.
        let mut counted = 0usize;
        let mut publish = move |now: usize| {
            gauge.set(gauge.get().saturating_sub(counted) + now);
            counted = now;
        };
        move |(input, frontier), output| {
            let pending_cut = checkpoint.as_ref().and_then(OperatorCut::pending);
            input.for_each(|cap, data| {
                let Some(c) = cap.retain_least(0) else { return };
                match pending_cut {
                    Some(cut) if *c.time() >= cut.at => after_cut.push((c, std::mem::take(data))),
                    _ => {
                        if held.as_ref().is_none_or(|h| c.time() < h.time()) {
                            held = Some(c);
                        }
                        pending.extend(data.drain(..));
                    }
                }
            });
            let bound = frontier.frontier().first().copied();
            if let Some(cut) = pending_cut.filter(|c| bound.is_none_or(|f| f >= c.at)) {
                // Before the cut: release what it passes, save what waits beyond it.
                if let Some(cap) = held.as_ref() {
                    let mut session = output.session(cap);
                    pending.release(Some(cut.at), |batch| session.give_container(batch));
                }
                if let Some(op) = checkpoint.as_mut() {
                    op.deliver(cut, save_pending(&pending));
                }
                if let Some(cap) = held.as_mut().filter(|c| *c.time() < cut.at) {
                    cap.downgrade(&cut.at);
                }
                for (c, mut data) in after_cut.drain(..) {
                    if held.as_ref().is_none_or(|h| c.time() < h.time()) {
                        held = Some(c);
                    }
                    pending.extend(data.drain(..));
                }
                released_to = None;
            }
            publish(pending.len());
            if bound.is_none() && !finished {
                finished = true;
                if let Some(op) = checkpoint.as_mut() {
                    op.finish(save_pending(&Pending::<T>::default()));
                }
            }
            let Some(cap) = held.as_mut() else { return };
            // Data arriving at time t holds events at or after t, so nothing new is releasable
            // until the frontier moves.
            if bound.is_some() && bound == released_to {
                return;
            }
            released_to = bound;
            let mut session = output.session(&*cap);
            pending.release(bound, |batch| session.give_container(batch));
            drop(session);
            publish(pending.len());
            match bound {
                Some(f) if !pending.is_empty() => {
                    if f > *cap.time() {
                        cap.downgrade(&f);
                    }
                }
                _ => held = None,
            }
        }
    })
}

/// The waiting records, in release order, for a checkpoint.
fn save_pending<T: Timed + serde::Serialize>(pending: &Pending<T>) -> Vec<u8> {
    let records: Vec<&T> = pending.buckets.values().flatten().collect();
    bincode::serialize(&records).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Origin;
    use proptest::prelude::*;

    fn ev(ts: i64, record: u64) -> Event {
        let mut e = Event::at(ts);
        e.origin = Origin { partition: 0, record, sub: 0 };
        e
    }

    proptest! {
        #[test]
        fn releases_exactly_the_passed_events_in_order(
            times in prop::collection::vec(-3_000i64..10_000, 0..300),
            bounds in prop::collection::vec(0u64..12_000, 1..6),
        ) {
            let mut pending = Pending::default();
            pending.extend(times.iter().enumerate().map(|(i, &t)| ev(t, i as u64)));
            let mut sorted_bounds = bounds.clone();
            sorted_bounds.sort();
            let mut released: Vec<(i64, u64)> = Vec::new();
            for &b in &sorted_bounds {
                let before = released.len();
                pending.release(Some(b), |batch| released.extend(batch.iter().map(|e| (e.ts, e.origin.record))));
                prop_assert!(released[before..].iter().all(|(ts, _)| to_timely(*ts) < b));
            }
            prop_assert!(pending.buckets.values().flatten().all(|e| to_timely(e.ts) >= *sorted_bounds.last().unwrap()));
            pending.release(None, |batch| released.extend(batch.iter().map(|e| (e.ts, e.origin.record))));
            prop_assert!(pending.is_empty());
            let mut want: Vec<(i64, u64)> = times.iter().enumerate().map(|(i, &t)| (t, i as u64)).collect();
            want.sort();
            prop_assert_eq!(released, want);
        }
    }
}
