//! The keyed exchange and the in-order operator: events move to the worker that owns their
//! entity, wait there until the input frontier passes their event time, and leave sorted by
//! (event time, partition, record, expansion). This is the skeleton every keyed correlation
//! operator plugs into: it sees each key's events in event-time order, whatever the number of
//! workers or the interleaving of partitions within the lateness.

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use super::watermark::to_timely;
use crate::event::entity::EntityKey;
use crate::event::Event;

/// Events per released batch: large enough to amortize, small enough to reuse memory.
const RELEASE_BATCH: usize = 1024;

/// Exchanges events by entity key and releases them in event-time order once complete.
pub fn in_event_time_order<'s>(events: Stream<'s, u64, Vec<Event>>, key: EntityKey) -> Stream<'s, u64, Vec<Event>> {
    let pact = Exchange::new(move |ev: &Event| key.hash(ev));
    events.unary_frontier(pact, "InEventTimeOrder", |_cap, _info| {
        let mut pending: Vec<Event> = Vec::new();
        let mut held: Option<Capability<u64>> = None;
        let mut released_to: Option<u64> = None;
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                if let Some(c) = cap.retain_least(0) {
                    if held.as_ref().is_none_or(|h| c.time() < h.time()) {
                        held = Some(c);
                    }
                }
                pending.append(data);
            });
            let Some(cap) = held.as_mut() else { return };
            let bound = frontier.frontier().first().copied();
            // Data arriving at time t holds events at or after t, so nothing new is releasable
            // until the frontier moves.
            if bound.is_some() && bound == released_to {
                return;
            }
            released_to = bound;
            // Stable and run-adaptive: the kept tail is already sorted.
            pending.sort_by_key(Event::order_key);
            let cut = match bound {
                Some(f) => pending.partition_point(|ev| to_timely(ev.ts) < f),
                None => pending.len(),
            };
            if cut > 0 {
                let mut session = output.session(&*cap);
                let mut drained = pending.drain(..cut);
                loop {
                    let mut ready: Vec<Event> = drained.by_ref().take(RELEASE_BATCH).collect();
                    if ready.is_empty() {
                        break;
                    }
                    session.give_container(&mut ready);
                }
            }
            match bound {
                None => held = None,
                Some(f) if pending.is_empty() => {
                    let _ = f;
                    held = None;
                }
                Some(f) => {
                    if f > *cap.time() {
                        cap.downgrade(&f);
                    }
                }
            }
        }
    })
}
