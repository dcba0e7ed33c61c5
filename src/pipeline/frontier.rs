//! The capabilities a keyed stage holds while it has work below the frontier: one per output
//! port, all at the same time, taken from the earliest input seen, moved up as the input
//! frontier advances, and let go when the stage has nothing left that could produce output.
//! Every stateful operator of the pipeline (correlate, judge) holds its outputs this way.
//!
//! The writers (incidents, dead letters) hold one capability instead, at the earliest time they
//! have not finished with: not yet written, or written and not yet acknowledged
//! ([`hold_undelivered`]).

use std::time::{Duration, Instant};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::{Capability, InputCapability};
use timely::scheduling::Activator;

use crate::io::kafka::{Deliveries, RETRY_BACKOFF};

/// One capability per output port, at one time.
#[derive(Debug, Default)]
pub struct Held {
    caps: Vec<Capability<u64>>,
}

impl Held {
    /// Holds an operator's initial capabilities (one per output port): a stage restored from a
    /// checkpoint with live state must be able to send what that state closes before any new
    /// input arrives, or at the end of the input, when none will.
    pub fn initial(caps: Vec<Capability<u64>>) -> Self {
        Held { caps }
    }

    /// Holds `cap`'s least time on `ports` output ports, when it is earlier than what is held.
    pub fn hold(&mut self, cap: &InputCapability<u64>, ports: usize) {
        let Some(&t) = cap.least() else { return };
        if self.time().is_none_or(|held| t < held) {
            self.caps = (0..ports).map(|port| cap.delayed(&t, port)).collect();
        }
    }

    /// The capability of output `port`, while something is held.
    pub fn port(&self, port: usize) -> Option<&Capability<u64>> {
        self.caps.get(port)
    }

    /// The held time.
    pub fn time(&self) -> Option<u64> {
        self.caps.first().map(|c| *c.time())
    }

    /// Moves every held capability up to `t` (no-op when already there or beyond).
    pub fn downgrade(&mut self, t: u64) {
        for c in &mut self.caps {
            if t > *c.time() {
                c.downgrade(&t);
            }
        }
    }

    /// Takes over `other`'s capabilities when they are earlier than what is held.
    pub fn absorb(&mut self, other: Held) {
        if let Some(t) = other.time() {
            if self.time().is_none_or(|held| t < held) {
                *self = other;
            }
        }
    }

    /// Lets every capability go.
    pub fn release(&mut self) {
        self.caps.clear();
    }
}

/// Moves a writer's capability to `floor` (the earliest time it has not finished with), drops
/// it when there is none, and asks to run again while deliveries are outstanding: soon to serve
/// acknowledgements, or when the next failed record is due to be sent again.
pub(super) fn hold_undelivered(held: &mut Option<Capability<u64>>, floor: Option<u64>, deliveries: &Deliveries, activator: &Activator) {
    match floor {
        Some(t) => {
            if let Some(cap) = held.as_mut() {
                // Never backwards: a floor before the capability would mean a record of an
                // earlier time was written after the frontier passed it, which the writers
                // rule out (they write what the frontier has passed, in time order).
                if t > *cap.time() {
                    cap.downgrade(&t);
                }
            }
        }
        None => *held = None,
    }
    if deliveries.undelivered.is_some() {
        let wait = deliveries.retry_at.map_or(ACK_POLL, |at| at.saturating_duration_since(Instant::now()).clamp(ACK_POLL, RETRY_BACKOFF));
        activator.activate_after(wait);
    }
}

/// How soon a writer with records in flight looks for their acknowledgements again.
const ACK_POLL: Duration = Duration::from_millis(2);

type Out<C> = OutputBuilder<u64, CapacityContainerBuilder<Vec<C>>>;

/// Sends `data` on output `port` at the held time (nothing without a held capability).
pub(crate) fn give<C: Clone + 'static>(held: &Held, port: usize, data: &mut Vec<C>, out: &mut Out<C>) {
    if data.is_empty() {
        return;
    }
    if let Some(cap) = held.port(port) {
        out.activate().session(cap).give_container(data);
    }
    data.clear();
}
