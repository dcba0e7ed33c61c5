//! The capabilities a keyed stage holds while it has work below the frontier: one per output
//! port, all at the same time, taken from the earliest input seen, moved up as the input
//! frontier advances, and let go when the stage has nothing left that could produce output.
//! Every stateful operator of the pipeline (correlate, judge) holds its outputs this way.

use timely::dataflow::operators::{Capability, InputCapability};

/// One capability per output port, at one time.
#[derive(Debug, Default)]
pub struct Held {
    caps: Vec<Capability<u64>>,
}

impl Held {
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

    /// Lets every capability go.
    pub fn release(&mut self) {
        self.caps.clear();
    }
}
