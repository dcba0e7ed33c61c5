//! A Kafka topic as the output of a checkpointed run, exactly once without broker transactions.
//!
//! Output is deterministic: a run resumed from a checkpoint derives, after the cut, the same
//! records with the same keys and bytes as the run that crashed. So at each cut every record
//! before it is delivered first (the producer is flushed) and the checkpoint records where each
//! partition of the topic then ended; a resumed run reads what the crashed run delivered after
//! those offsets, and does not send again a record it derives anew with the same key and
//! payload. Any consumer, `read_committed` or not, sees each record once.
//!
//! What this needs: one vigil process writing a given record (incidents are keyed by their id,
//! dead letters by their origin), and the crashed process gone before the resumed one reads the
//! topic (a process killed with its connections is; its requests already at the broker are
//! written by then). Records other producers write to the topic are read past and left alone.
//! The processes of one run write to the same topics: each tags its records with a header
//! ([`PROCESS_HEADER`]) and reads back only its own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::Xxh3;

use super::kafka::{KafkaSetupError, ReliableProducer};
use super::start_probe::{Answer, Silence, StartProbe};

/// How long a checkpoint waits for the records before its cut to be delivered.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a resumed run may take to read what the crashed run delivered after its checkpoint.
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a topic must stay quiet, once read to its listed end, before a resumed run takes it
/// as read to its end.
pub const SCAN_QUIET: Duration = Duration::from_millis(1500);
/// The longest a resumed run reads a topic past its listed end.
pub const SCAN_PAST_END: Duration = Duration::from_secs(10);

/// The header naming the process of a run over several processes that wrote a record.
pub const PROCESS_HEADER: &str = "vigil.process";

/// What can go wrong resuming or checkpointing Kafka output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A client could not be created or the broker refused a request.
    #[error("topic {topic}: {what}: {source}")]
    Kafka {
        /// The output topic.
        topic: String,
        /// What was being done.
        what: &'static str,
        /// The client's error.
        source: rdkafka::error::KafkaError,
    },
    /// Something the broker answered cannot be used.
    #[error("topic {topic}: {reason}")]
    Invalid {
        /// The output topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// Setting a client up failed.
    #[error(transparent)]
    Setup(#[from] KafkaSetupError),
    /// Records before a cut were not delivered in time.
    #[error("topic {topic}: {source}")]
    Delivery {
        /// The output topic.
        topic: String,
        /// What the producer reported.
        source: super::kafka::DeliveryFailed,
    },
}

/// The producer of one output topic, with what checkpoints and resumes of it need.
pub struct KafkaOutput {
    client: ClientConfig,
    /// Destination topic.
    pub topic: String,
    /// The producer, once opened.
    pub producer: Option<ReliableProducer>,
    /// Set once opening or delivering failed.
    pub failed: bool,
    /// For reading partition ends and, on a resume, what was delivered after the checkpoint.
    reader: Option<BaseConsumer>,
    /// Per partition: the offset after the last record the latest checkpoint covers.
    ends: BTreeMap<i32, i64>,
    /// A resumed run's checkpointed ends, read from when the output opens.
    resume: Option<Vec<(i32, i64)>>,
    /// Records the crashed run delivered after its checkpoint, by [`record_hash`], with counts.
    delivered: FxHashMap<u64, u32>,
    /// Records derived again and not sent, because the crashed run had delivered them.
    skipped: u64,
    /// Per partition, one past the last offset delivered since the ends last moved.
    delivered_ends: BTreeMap<i32, i64>,
    /// Whether the partitions' ends have been listed (once per process).
    listed: bool,
    /// In a run over several processes: this process's index, in [`PROCESS_HEADER`] of every
    /// record it writes, and the records it reads back are those that carry it.
    process: Option<Box<[u8]>>,
}

/// Where each partition of `topic` ends now.
pub fn topic_ends(client: &ClientConfig, topic: &str) -> Result<Vec<(i32, i64)>, OutputError> {
    KafkaOutput::new(client.clone(), topic.to_owned()).list_ends()
}

/// Where a run that has no checkpoint yet started writing its output topics: the partition
/// ends when it first started. A run killed before its first checkpoint, started again, reads
/// its output from there and sends nothing twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputOrigin {
    /// The incident topic's partition ends.
    pub incidents: Vec<(i32, i64)>,
    /// The dead-letter topic's partition ends.
    pub dead_letters: Vec<(i32, i64)>,
}

impl OutputOrigin {
    /// The origin kept at `path`, or, when there is none, the topics' ends now, kept there
    /// (temporary file and rename) before anything is written.
    /// Returns it, and whether it was kept from a run before (whose output must be read back).
    pub fn load_or_record(path: &std::path::Path, client: &ClientConfig, incidents: &str, dead_letters: &str) -> Result<(OutputOrigin, bool), String> {
        if let Ok(bytes) = std::fs::read(path) {
            let origin = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e} (remove it to start afresh)", path.display()))?;
            return Ok((origin, true));
        }
        let origin = OutputOrigin {
            incidents: topic_ends(client, incidents).map_err(|e| e.to_string())?,
            dead_letters: topic_ends(client, dead_letters).map_err(|e| e.to_string())?,
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(&origin).map_err(std::io::Error::other)?)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((origin, false))
    }
}

/// A record's identity for recognising it again: its key and payload.
pub fn record_hash(key: &[u8], payload: &[u8]) -> u64 {
    let mut h = Xxh3::new();
    h.update(&(key.len() as u64).to_le_bytes());
    h.update(key);
    h.update(payload);
    h.digest()
}

impl KafkaOutput {
    /// An output to `topic`, opened on first use.
    pub fn new(client: ClientConfig, topic: String) -> Self {
        KafkaOutput {
            client,
            topic,
            producer: None,
            failed: false,
            reader: None,
            ends: BTreeMap::new(),
            resume: None,
            delivered: FxHashMap::default(),
            skipped: 0,
            delivered_ends: BTreeMap::new(),
            listed: false,
            process: None,
        }
    }

    /// Tags this output's records with the process that writes them (a run over several
    /// processes, which share the topic), and reads back only its own on a resume.
    pub fn tag_process(&mut self, process: u32) {
        self.process = Some(process.to_string().into_bytes().into_boxed_slice());
    }

    /// Resumes from a checkpoint whose cut left the topic's partitions at `ends`: when opened,
    /// the output reads what was delivered after them.
    pub fn resume_at(&mut self, ends: Vec<(i32, i64)>) {
        self.start_at(&ends);
        self.resume = Some(ends);
    }

    /// Starts a run that has written nothing yet, the topic's partitions ending at `ends`.
    pub fn start_at(&mut self, ends: &[(i32, i64)]) {
        self.ends = ends.iter().copied().collect();
        // Every partition's end is known: the first checkpoint need not ask the broker.
        self.listed = !ends.is_empty();
    }

    /// Creates the producer (and, on a resume, reads what the crashed run delivered after the
    /// checkpoint).
    pub fn open(&mut self) -> Result<(), OutputError> {
        if self.producer.is_some() {
            return Ok(());
        }
        if let Some(from) = self.resume.take() {
            let started = Instant::now();
            let (delivered, records) = self.read_delivered(&from)?;
            tracing::info!(
                "{}: {records} record(s) delivered after the checkpoint, read in {:.1} s; those derived again are not sent twice",
                self.topic,
                started.elapsed().as_secs_f64()
            );
            self.delivered = delivered;
        }
        self.producer = Some(ReliableProducer::new(&self.client)?);
        Ok(())
    }

    /// Queues a record unless the run that crashed had delivered it after the checkpoint.
    pub fn send(&mut self, time: u64, key: &[u8], payload: &[u8], headers: &[(&str, &[u8])]) -> Result<(), rdkafka::error::KafkaError> {
        if !self.delivered.is_empty() {
            let h = record_hash(key, payload);
            if let Some(n) = self.delivered.get_mut(&h) {
                *n -= 1;
                if *n == 0 {
                    self.delivered.remove(&h);
                }
                self.skipped += 1;
                return Ok(());
            }
        }
        match (self.producer.as_mut(), self.process.as_deref()) {
            (Some(p), Some(tag)) => {
                let tagged: Vec<(&str, &[u8])> = headers.iter().copied().chain([(PROCESS_HEADER, tag)]).collect();
                p.send(time, &self.topic, Some(key), payload, &tagged)
            }
            (Some(p), None) => p.send(time, &self.topic, Some(key), payload, headers),
            (None, _) => Ok(()),
        }
    }

    /// Records derived again after a resume and not sent, because they had been delivered.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// For a checkpoint: waits until every record queued so far is delivered, and returns where
    /// each partition of the topic ends (the records after belong to after the cut).
    pub fn checkpoint(&mut self) -> Result<Vec<(i32, i64)>, OutputError> {
        self.open()?;
        let topic = self.topic.clone();
        if let Some(p) = self.producer.as_mut() {
            p.flush(FLUSH_TIMEOUT).map_err(|source| OutputError::Delivery { topic: topic.clone(), source })?;
            for (partition, end) in p.tracker().take_ends() {
                let slot = self.delivered_ends.entry(partition).or_insert(end);
                *slot = (*slot).max(end);
            }
        }
        if !self.listed {
            // Once per process: where a partition this run has not written to yet ends (every
            // record it writes there later comes after). Offsets from deliveries are exact.
            for (partition, end) in self.list_ends()? {
                self.ends.entry(partition).or_insert(end);
            }
            self.listed = true;
        }
        // Records of the crashed run not yet derived again lie after the old ends, and may be
        // derived after this cut: the ends stay until all of them are recognised.
        if self.delivered.is_empty() {
            for (partition, end) in std::mem::take(&mut self.delivered_ends) {
                let slot = self.ends.entry(partition).or_insert(end);
                *slot = (*slot).max(end);
            }
        }
        Ok(self.ends.iter().map(|(p, o)| (*p, *o)).collect())
    }

    fn reader(&mut self) -> Result<&BaseConsumer, OutputError> {
        if self.reader.is_none() {
            let mut cfg = self.client.clone();
            cfg.set("group.id", "vigil-output-reader")
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("auto.offset.reset", "earliest")
                .set("enable.partition.eof", "false");
            let c: BaseConsumer = cfg.create().map_err(|source| OutputError::Kafka { topic: self.topic.clone(), what: "creating a reader", source })?;
            self.reader = Some(c);
        }
        self.reader.as_ref().ok_or_else(|| OutputError::Invalid { topic: self.topic.clone(), reason: "no reader".into() })
    }

    /// The end offset of every partition of the topic.
    fn list_ends(&mut self) -> Result<Vec<(i32, i64)>, OutputError> {
        let topic = self.topic.clone();
        let reader = self.reader()?;
        let metadata = reader.fetch_metadata(Some(&topic), Duration::from_secs(10)).map_err(|source| OutputError::Kafka {
            topic: topic.clone(),
            what: "reading its metadata",
            source,
        })?;
        let partitions: Vec<i32> = metadata.topics().iter().filter(|t| t.name() == topic).flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
        if partitions.is_empty() {
            return Err(OutputError::Invalid { topic, reason: "the broker lists no partition of it".into() });
        }
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition_offset(&topic, *p, Offset::End).map_err(|source| OutputError::Kafka { topic: topic.clone(), what: "listing offsets", source })?;
        }
        let answer = reader.offsets_for_times(tpl, Duration::from_secs(10)).map_err(|source| OutputError::Kafka {
            topic: topic.clone(),
            what: "listing offsets",
            source,
        })?;
        partitions
            .iter()
            .map(|&p| match answer.find_partition(&topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Ok((p, o)),
                other => Err(OutputError::Invalid { topic: topic.clone(), reason: format!("partition {p}: the broker answered {other:?} for its end offset") }),
            })
            .collect()
    }

    /// Reads every record after `from` up to the partitions' current ends: what the crashed run
    /// delivered after its checkpoint. Returns them by [`record_hash`], and how many there were.
    fn read_delivered(&mut self, from: &[(i32, i64)]) -> Result<(FxHashMap<u64, u32>, u64), OutputError> {
        let topic = self.topic.clone();
        let ends: BTreeMap<i32, i64> = self.list_ends()?.into_iter().collect();
        // Partitions added since the checkpoint are read from their start.
        let mut next: BTreeMap<i32, i64> = ends.keys().map(|p| (*p, from.iter().find(|(q, _)| q == p).map_or(0, |(_, o)| *o))).collect();
        let mut found: FxHashMap<u64, u32> = FxHashMap::default();
        let mut records = 0u64;
        let wanted: Vec<(i32, i64)> = next.iter().map(|(p, o)| (*p, *o)).collect();
        let process = self.process.clone();
        let reader = self.reader()?;
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &wanted {
            tpl.add_partition_offset(&topic, *p, Offset::Offset(*o)).map_err(|source| OutputError::Kafka {
                topic: topic.clone(),
                what: "assigning",
                source,
            })?;
        }
        reader.assign(&tpl).map_err(|source| OutputError::Kafka { topic: topic.clone(), what: "assigning", source })?;
        let start = Instant::now();
        let mut probes: BTreeMap<i32, StartProbe> = wanted.iter().map(|(p, o)| (*p, StartProbe::new(*o, start))).collect();
        let deadline = Instant::now() + SCAN_TIMEOUT;
        // Some brokers answer end offsets below the true end (tansu 0.6 does): past the listed
        // ends, reading goes on until the topic has been quiet for a while.
        let mut last_record = Instant::now();
        let reached = |next: &BTreeMap<i32, i64>| next.iter().all(|(p, o)| ends.get(p).is_none_or(|e| o >= e));
        let mut reached_at: Option<Instant> = None;
        loop {
            // A partition silent after its seek may be inside its last batch, which tansu 0.6
            // answers with nothing: seek it further back (see `start_probe`).
            let now = Instant::now();
            let mut over = Vec::new();
            for (p, probe) in probes.iter_mut() {
                match probe.quiet(now, ends.get(p).copied()) {
                    Silence::Seek(to) => {
                        reader.seek(&topic, *p, Offset::Offset(to), Duration::from_secs(5)).map_err(|source| OutputError::Kafka {
                            topic: topic.clone(),
                            what: "seeking back",
                            source,
                        })?;
                        last_record = now;
                    }
                    Silence::Over => over.push(*p),
                    Silence::Wait => {}
                }
            }
            for p in over {
                probes.remove(&p);
            }
            if reached(&next) && !probes.values().any(|probe| !probe.confirmed()) {
                let since = *reached_at.get_or_insert_with(Instant::now);
                // A topic other producers keep writing to is never quiet: what this run wrote
                // before it crashed is long read by then.
                if last_record.elapsed() >= SCAN_QUIET || since.elapsed() >= SCAN_PAST_END {
                    break;
                }
            }
            if Instant::now() >= deadline {
                let left: Vec<String> =
                    next.iter().filter(|(p, o)| ends.get(p).is_some_and(|e| e > *o)).map(|(p, o)| format!("partition {p} at {o} of {}", ends[p])).collect();
                return Err(OutputError::Invalid {
                    topic,
                    reason: format!("reading what was delivered after the checkpoint took over {SCAN_TIMEOUT:?} ({})", left.join(", ")),
                });
            }
            let Some(result) = reader.poll(Duration::from_millis(200)) else { continue };
            let msg = result.map_err(|source| OutputError::Kafka { topic: topic.clone(), what: "reading what was delivered after the checkpoint", source })?;
            let (p, offset) = (msg.partition(), msg.offset());
            // A broker may answer a fetch inside a record batch with the next batch (tansu 0.6
            // does): the first record must be at or before the offset asked for, or the
            // partition is sought further back (see the Kafka source's start check).
            if let Some(probe) = probes.get_mut(&p) {
                match probe.record(offset, Instant::now()) {
                    Answer::Skip => continue,
                    Answer::Rewind(to) => {
                        reader.seek(&topic, p, Offset::Offset(to), Duration::from_secs(5)).map_err(|source| OutputError::Kafka {
                            topic: topic.clone(),
                            what: "seeking back",
                            source,
                        })?;
                        continue;
                    }
                    Answer::Done => {
                        probes.remove(&p);
                    }
                }
            }
            let Some(slot) = next.get_mut(&p) else { continue };
            // Offsets already read: a broker may hand the last records out again.
            if offset < *slot {
                continue;
            }
            *slot = offset + 1;
            last_record = Instant::now();
            if let Some(tag) = process.as_deref() {
                // Another process's record (or an untagged one): not this process's to match.
                let mine = msg.headers().is_some_and(|h| h.iter().any(|x| x.key == PROCESS_HEADER && x.value == Some(tag)));
                if !mine {
                    continue;
                }
            }
            records += 1;
            *found.entry(record_hash(msg.key().unwrap_or_default(), msg.payload().unwrap_or_default())).or_default() += 1;
        }
        let _ = reader.unassign();
        Ok((found, records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_and_the_payload_both_make_a_record() {
        assert_ne!(record_hash(b"a", b"bc"), record_hash(b"ab", b"c"), "the boundary between key and payload counts");
        assert_ne!(record_hash(b"id", b"x"), record_hash(b"id", b"y"));
        assert_eq!(record_hash(b"id", b"x"), record_hash(b"id", b"x"));
    }

    #[test]
    fn a_record_delivered_before_the_restart_is_recognised_as_often_as_it_was_delivered() {
        let mut out = KafkaOutput::new(ClientConfig::new(), "t".into());
        out.delivered.insert(record_hash(b"k", b"v"), 2);
        for _ in 0..2 {
            out.send(0, b"k", b"v", &[]).expect("recognised");
        }
        assert_eq!(out.skipped(), 2);
        assert!(out.delivered.is_empty());
        // Without a producer nothing is sent, but the third copy is not recognised any more.
        out.send(0, b"k", b"v", &[]).expect("no producer");
        assert_eq!(out.skipped(), 2);
    }
}
