//! The checkpoint coordinators of a run's processes, joined: a dataflow of its own on every
//! worker that carries [`CutMsg`]s between the first workers of the processes, so every
//! process pauses for the same checkpoint and cuts at the same time (process 0 asks, each
//! process answers once its sources have paused, the cut is one past the latest time any
//! source of any process sent at).
//!
//! Timely's channels between two workers keep their order, so a process that pauses for a
//! checkpoint hears of it before it hears that the asking process has finished. The bridge
//! holds its capability until this process has written its end states (which waits for every
//! process to have finished) or stops early, so the run's processes end together.

use std::sync::Arc;
use std::time::Duration;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::generic::Operator;
use timely::worker::Worker;

use crate::checkpoint::{Coordinator, CutMsg};

/// How often the first worker of a process looks for messages to send while the run lasts.
const POLL: Duration = Duration::from_millis(2);

/// Builds the bridge on `worker` (every worker must, as with any dataflow); only the first
/// worker of each process sends and receives. `workers_per_process` places the others'
/// first workers.
pub fn build(worker: &mut Worker, coordinator: Arc<Coordinator>, workers_per_process: usize) {
    let index = worker.index();
    let wpp = workers_per_process.max(1);
    let is_first = index.is_multiple_of(wpp);
    let processes = coordinator.processes();
    let (me, count) = (processes.index, processes.count);
    worker.dataflow::<u64, _, _>(|scope| {
        let sender = coordinator.clone();
        let messages = source::<_, CapacityContainerBuilder<Vec<(u64, CutMsg)>>, _, _>(scope, "CutBridgeSend", move |cap, info| {
            let activator = scope.activator_for(info.address);
            let mut cap = is_first.then_some(cap);
            move |output| {
                let Some(c) = cap.as_ref() else { return };
                let out = sender.outbox();
                if !out.is_empty() {
                    let mut session = output.session(c);
                    for msg in out {
                        for p in (0..count).filter(|&p| p != me) {
                            session.give(((p * wpp) as u64, msg.clone()));
                        }
                    }
                }
                if sender.bridge_done() {
                    cap = None;
                } else {
                    activator.activate_after(POLL);
                }
            }
        });
        let receiver = coordinator;
        messages.sink(Exchange::new(|(to, _): &(u64, CutMsg)| *to), "CutBridgeReceive", move |(input, _frontier)| {
            input.for_each(|_cap, data| {
                for (_, msg) in data.drain(..) {
                    receiver.receive(msg);
                }
            });
        });
    });
}
