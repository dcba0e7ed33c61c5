//! Dead letters: records that could not be used (unparsable, late, too long), with the reason.
//! Each process's first worker writes its workers' dead letters, to a file or a Kafka topic
//! with the raw record as payload and the reason and origin in headers.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use crate::io::dead_letter::DeadLetter;
use crate::io::kafka::AssignedPartition;
use crate::io::sink::RecordSink;
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

/// The dead-letter sink: each process's first worker writes its workers' dead letters, sorted
/// by input and line within each batch. Without a target they are only counted. Returns a
/// stream that never carries data, whose frontier tells what has been written (and, for Kafka,
/// delivered). `discard` set (a graceful stop) ends writing.
pub fn write_dead_letters<'s>(
    dead: Stream<'s, u64, Vec<DeadLetter>>,
    leader: u64,
    is_leader: bool,
    mut sink: Option<DeadLetterSink>,
    stats: Arc<RunStats>,
    discard: Arc<AtomicBool>,
) -> Stream<'s, u64, Vec<()>> {
    let cancel = AtomicBool::new(false);
    dead.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Exchange::new(move |_: &DeadLetter| leader), "WriteDeadLetters", move |_cap, _info| {
        move |(input, frontier), _output| {
            let mut batch: Vec<DeadLetter> = Vec::new();
            input.for_each(|_cap, data| batch.append(data));
            stats.dead_letters.fetch_add(batch.len() as u64, Relaxed);
            if !is_leader || discard.load(Relaxed) {
                return;
            }
            let Some(target) = sink.as_mut() else { return };
            let out = match target {
                DeadLetterSink::File(s) | DeadLetterSink::Kafka { sink: s, .. } => s,
            };
            if !out.open(&stats, &cancel) {
                return;
            }
            batch.sort_by_key(DeadLetter::order_key);
            let mut result = Ok(());
            for d in &batch {
                result = result.and_then(|_| match target {
                    DeadLetterSink::File(s) => s.write(b"", d.to_json().as_bytes(), &[]),
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
                        sink.write(format!("{topic}/{partition}/{offset}").as_bytes(), d.record.as_bytes(), &headers)
                    }
                });
            }
            let out = match target {
                DeadLetterSink::File(s) | DeadLetterSink::Kafka { sink: s, .. } => s,
            };
            result = result.and_then(|_| out.flush(frontier.frontier().is_empty()));
            if let Err(e) = result {
                out.fail(e, &stats, &cancel);
            }
        }
    })
}
