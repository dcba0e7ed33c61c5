//! Dead letters: records that could not be used (unparsable, late, too long), with the reason.
//! Each process's first worker writes its workers' dead letters, to a file or a Kafka topic
//! with the raw record as payload and the reason and origin in headers.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use crate::checkpoint::OperatorCut;
use crate::io::dead_letter::DeadLetter;
use crate::io::kafka::AssignedPartition;
use crate::io::sink::{RecordSink, SinkMark};
use crate::metrics::RunStats;

/// Where dead letters go.
pub enum DeadLetterSink {
    /// One JSON object per line.
    File(RecordSink),
    /// A Kafka topic: the raw record as payload, reason and origin in headers, the detail too.
    Kafka {
        /// The topic's sink.
        sink: RecordSink,
        /// The run's partitions by global index, to name topic and partition in headers.
        partitions: Vec<AssignedPartition>,
    },
}

impl DeadLetterSink {
    /// The record sink underneath.
    fn records(&mut self) -> &mut RecordSink {
        match self {
            DeadLetterSink::File(s) | DeadLetterSink::Kafka { sink: s, .. } => s,
        }
    }
}

/// The dead-letter sink: each process's first worker writes its workers' dead letters, sorted
/// by input and line within each batch. Without a target they are only counted. Returns a
/// stream that never carries data, whose frontier tells what has been written (and, for Kafka,
/// delivered). `discard` set (a graceful stop) ends writing. With `checkpoint`, the file's
/// length (or, for Kafka, the topic's end offsets) at each cut is the writer's state: a resumed
/// run cuts the file back to it, or reads the topic after it and sends nothing twice.
pub fn write_dead_letters<'s>(
    dead: Stream<'s, u64, Vec<DeadLetter>>,
    leader: u64,
    is_leader: bool,
    mut sink: Option<DeadLetterSink>,
    stats: Arc<RunStats>,
    discard: Arc<AtomicBool>,
    mut checkpoint: Option<OperatorCut>,
) -> Stream<'s, u64, Vec<()>> {
    let cancel = AtomicBool::new(false);
    let scope = dead.scope();
    if let (Some(bytes), Some(target)) = (checkpoint.as_ref().and_then(OperatorCut::restored), sink.as_mut()) {
        match bincode::deserialize::<SinkMark>(&bytes) {
            Ok(mark) => {
                if let Err(e) = target.records().resume_at(mark) {
                    stats.fatal(|| format!("cannot resume the dead-letter output from the checkpoint: {e}"));
                    cancel.store(true, Relaxed);
                }
            }
            Err(e) => {
                stats.fatal(|| format!("the dead-letter writer's checkpointed state does not decode: {e}"));
                cancel.store(true, Relaxed);
            }
        }
    }
    // Dead letters at or after a cut in progress, set aside until the file's length before it
    // is saved.
    let mut after_cut: Vec<(u64, DeadLetter)> = Vec::new();
    let mut finished = false;
    dead.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Exchange::new(move |_: &DeadLetter| leader), "WriteDeadLetters", move |cap, info| {
        // Held at the earliest time not yet delivered (see the incident writer).
        let mut held = (is_leader && sink.is_some()).then_some(cap);
        let activator = scope.activator_for(info.address);
        move |(input, frontier), _output| {
            let mut batch: Vec<(u64, DeadLetter)> = Vec::new();
            input.for_each(|cap, data| {
                let time = cap.least().copied().unwrap_or_default();
                batch.extend(data.drain(..).map(|d| (time, d)))
            });
            stats.dead_letters.fetch_add(batch.len() as u64, Relaxed);
            if !is_leader {
                return;
            }
            let Some(target) = sink.as_mut() else { return };
            let bound = frontier.frontier().first().copied();
            let discarding = discard.load(Relaxed);
            if let Some(cut) = checkpoint.as_ref().and_then(OperatorCut::pending) {
                let (before, after): (Vec<_>, Vec<_>) = batch.into_iter().partition(|(t, _)| *t < cut.at);
                batch = before;
                after_cut.extend(after);
                if bound.is_none_or(|f| f >= cut.at) {
                    write_batch(target, &mut batch, discarding, &stats, &cancel);
                    if let (Some(op), Some(len)) = (checkpoint.as_mut(), sync_len(target, &stats, &cancel)) {
                        op.deliver(cut, len);
                    }
                    batch = std::mem::take(&mut after_cut);
                }
            }
            write_batch(target, &mut batch, discarding, &stats, &cancel);
            if bound.is_none() && !finished {
                finished = true;
                if let Some(op) = checkpoint.as_mut() {
                    if let Some(len) = sync_len(target, &stats, &cancel) {
                        op.finish(len);
                    }
                }
            }
            let out = target.records();
            let deliveries = out.progress(bound.is_none()).unwrap_or_else(|e| {
                out.fail(e, &stats, &cancel);
                Default::default()
            });
            stats.dead_letters_already_delivered.store(out.already_delivered(), Relaxed);
            let waiting = after_cut.iter().map(|(t, _)| *t).min();
            super::frontier::hold_undelivered(&mut held, [bound, deliveries.undelivered, waiting].into_iter().flatten().min(), &deliveries, &activator);
        }
    })
}

/// Writes a batch of dead letters, sorted by input and line (nothing once stopping).
fn write_batch(target: &mut DeadLetterSink, batch: &mut [(u64, DeadLetter)], discarding: bool, stats: &RunStats, cancel: &AtomicBool) {
    if discarding || batch.is_empty() || !target.records().open(stats, cancel) {
        return;
    }
    batch.sort_by_key(|(_, d)| d.order_key());
    let mut result = Ok(());
    for (time, d) in batch.iter() {
        result = result.and_then(|_| match &mut *target {
            DeadLetterSink::File(s) => s.write(*time, b"", d.to_json().as_bytes(), &[]),
            DeadLetterSink::Kafka { sink, partitions } => {
                let (topic, partition) = partitions.get(d.partition as usize).map_or(("", -1), |p| (p.topic.as_str(), p.partition));
                let (part, offset) = (partition.to_string(), d.line.to_string());
                let headers: [(&str, &[u8]); 5] = [
                    ("vigil.reason", d.reason.as_bytes()),
                    ("vigil.detail", d.detail.as_bytes()),
                    ("vigil.source.topic", topic.as_bytes()),
                    ("vigil.source.partition", part.as_bytes()),
                    ("vigil.source.offset", offset.as_bytes()),
                ];
                sink.write(*time, format!("{topic}/{partition}/{offset}").as_bytes(), d.record.as_bytes(), &headers)
            }
        });
    }
    if let Err(e) = result {
        target.records().fail(e, stats, cancel);
    }
}

/// Where the output stands, made durable, as a checkpoint holds it.
fn sync_len(target: &mut DeadLetterSink, stats: &RunStats, cancel: &AtomicBool) -> Option<Vec<u8>> {
    match target.records().sync(stats, cancel).map(|len| bincode::serialize(&len)) {
        Ok(Ok(bytes)) => Some(bytes),
        Ok(Err(e)) => {
            tracing::error!("the dead-letter writer's state not saved in the checkpoint: {e}");
            None
        }
        Err(e) => {
            tracing::error!("dead-letter output not synced for a checkpoint: {e}");
            None
        }
    }
}
