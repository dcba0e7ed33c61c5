//! Kafka plumbing shared by the source, the sinks and the generator: checking the cluster and
//! its topics, the static assignment of topic partitions to workers, consumers that `assign()`,
//! and a producer whose failed deliveries are counted and sent again.
//!
//! Partitions are assigned statically: every process lists the same (source, topic, partition)
//! triples in the same order, and global index `i` belongs to worker `i % peers`. No consumer
//! group rebalancing ever moves a partition away from the worker that holds its state; the group
//! id is used only to store committed offsets (lag monitoring, restart).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rustc_hash::FxHashMap;

use crate::io::input::InputOverrides;
use crate::parse::Format;

/// What can go wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    /// The brokers could not be reached or refused the client settings.
    #[error("cannot reach the Kafka brokers {brokers}: {source} (check kafka.brokers in the config, VIGIL_KAFKA_BROKERS, and the TLS/SASL settings under [kafka.client])")]
    Unreachable {
        /// The bootstrap servers tried.
        brokers: String,
        /// The client's error.
        source: KafkaError,
    },
    /// A topic the topology or the config names does not exist.
    #[error(
        "topic {topic:?} ({role}) does not exist on {brokers}; create it first (kafka-topics.sh --create --topic {topic} --partitions 4), or fix the name"
    )]
    MissingTopic {
        /// The topic.
        topic: String,
        /// What it is for (a source name, `incidents`, `dead letters`).
        role: String,
        /// The bootstrap servers.
        brokers: String,
    },
    /// A client could not be created from the settings.
    #[error("invalid Kafka client settings: {0}")]
    Client(KafkaError),
}

/// One topic partition read by a run, at its global index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignedPartition {
    /// Topology source name.
    pub source: String,
    /// Topic.
    pub topic: String,
    /// Kafka partition number.
    pub partition: i32,
    /// Parser for its records.
    pub format: Format,
    /// The source's year, lateness and time field.
    pub overrides: InputOverrides,
}

/// A source of a run: a topology source with its topic.
#[derive(Clone, Debug)]
pub struct TopicSource {
    /// Topology source name.
    pub source: String,
    /// Topic.
    pub topic: String,
    /// Parser.
    pub format: Format,
    /// Year, lateness, time field.
    pub overrides: InputOverrides,
}

/// Checks that the brokers answer and every topic exists; returns every topic partition of the
/// sources, in (source order, partition) order: the global partition indexes of the run.
pub fn discover(
    client: &ClientConfig,
    sources: &[TopicSource],
    outputs: &[(&str, &str)],
    timeout: Duration,
) -> Result<Vec<AssignedPartition>, KafkaSetupError> {
    let brokers = client.get("bootstrap.servers").unwrap_or("?").to_string();
    let consumer: BaseConsumer = client.create().map_err(KafkaSetupError::Client)?;
    let metadata = consumer.fetch_metadata(None, timeout).map_err(|source| KafkaSetupError::Unreachable { brokers: brokers.clone(), source })?;
    let partitions_of = |topic: &str| -> Option<Vec<i32>> {
        let t = metadata.topics().iter().find(|t| t.name() == topic)?;
        if t.error().is_some() || t.partitions().is_empty() {
            return None;
        }
        let mut ps: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
        ps.sort_unstable();
        Some(ps)
    };
    for (role, topic) in outputs {
        if partitions_of(topic).is_none() {
            return Err(KafkaSetupError::MissingTopic { topic: topic.to_string(), role: role.to_string(), brokers });
        }
    }
    let mut out = Vec::new();
    for s in sources {
        let Some(ps) = partitions_of(&s.topic) else {
            return Err(KafkaSetupError::MissingTopic { topic: s.topic.clone(), role: format!("source {:?}", s.source), brokers });
        };
        out.extend(ps.into_iter().map(|partition| AssignedPartition {
            source: s.source.clone(),
            topic: s.topic.clone(),
            partition,
            format: s.format,
            overrides: s.overrides.clone(),
        }));
    }
    Ok(out)
}

/// A consumer for `group_id` that never joins the group (offsets are only stored in it).
pub fn consumer(client: &ClientConfig, group_id: &str) -> Result<BaseConsumer, KafkaSetupError> {
    let mut cfg = client.clone();
    cfg.set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    // librdkafka pauses a partition's fetches for this long once its prefetch queue is full,
    // 1 s by default: a worker slower than the broker (any backfill) then drains the queue and
    // naps. Measured: 0.15 of the bare consumer's rate with the default, 0.34 with 10 ms.
    if cfg.get("fetch.queue.backoff.ms").is_none() {
        cfg.set("fetch.queue.backoff.ms", "10");
    }
    cfg.create().map_err(KafkaSetupError::Client)
}

/// Where vigil left a partition: the committed offset (the next record to read) and what vigil
/// wrote beside it in the commit's metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// The next offset to read.
    pub offset: i64,
    /// The delivered frontier when it was committed: every incident before it was delivered.
    pub delivered_ms: Option<i64>,
    /// The greatest event time of the records before the offset (the partition clock's state).
    pub max_ts: Option<i64>,
    /// How far the partition had been read when the offset was committed: a record at or after
    /// it had not been read, so no incident it contributes to had been delivered.
    pub read: Option<i64>,
}

impl Resume {
    const TAG: &'static str = "vigil1";

    /// The metadata string committed with an offset.
    pub fn metadata(delivered_ms: i64, max_ts: i64, read: i64) -> String {
        format!("{} d={delivered_ms} m={max_ts} n={read}", Self::TAG)
    }

    fn parse(offset: i64, metadata: &str) -> Resume {
        let mut r = Resume { offset, ..Resume::default() };
        let mut words = metadata.split_whitespace();
        if words.next() != Some(Self::TAG) {
            return r; // committed by something else, or by an older vigil: the offset alone
        }
        for w in words {
            match w.split_once('=') {
                Some(("d", v)) => r.delivered_ms = v.parse().ok(),
                Some(("m", v)) => r.max_ts = v.parse().ok(),
                Some(("n", v)) => r.read = v.parse().ok(),
                _ => {}
            }
        }
        r
    }
}

/// The restart points this process committed, kept beside the commits in the state directory:
/// brokers that drop commit metadata (tansu 0.6 does) still let a restart know the delivered
/// frontier and the partition clocks. Written before each commit; the last few points of each
/// partition are kept, since the latest may belong to a commit still in flight when the process
/// died (a point is used only where its offset is the committed one).
pub struct ResumeLog {
    path: std::path::PathBuf,
    entries: std::collections::BTreeMap<String, VecDeque<Resume>>,
}

/// Points kept per partition.
const RESUME_POINTS: usize = 16;

/// The offset under which a partition read but never committed keeps its read position.
pub const UNCOMMITTED: i64 = -1;

/// Per partition, `[offset, delivered, max_ts, read]` (files of older versions lack `read`).
type ResumeFile = std::collections::BTreeMap<String, Vec<Vec<Option<i64>>>>;

impl ResumeLog {
    /// The log at `path`, with what an earlier run left there (an unreadable file counts as
    /// empty: it only makes a restart write again what it re-derives).
    pub fn open(path: std::path::PathBuf) -> ResumeLog {
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<ResumeFile>(&b).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let points = v.into_iter().filter_map(|p| {
                    let at = |i: usize| p.get(i).copied().flatten();
                    Some(Resume { offset: at(0)?, delivered_ms: at(1), max_ts: at(2), read: at(3) })
                });
                (k, points.collect())
            })
            .collect();
        ResumeLog { path, entries }
    }

    fn key(topic: &str, partition: i32) -> String {
        format!("{topic}/{partition}")
    }

    /// What was recorded for a partition committed at `offset`.
    pub fn at(&self, topic: &str, partition: i32, offset: i64) -> Option<Resume> {
        self.entries.get(&Self::key(topic, partition))?.iter().rev().find(|r| r.offset == offset).copied()
    }

    /// A partition's restart point: `committed` (the group's commit, with its metadata), what
    /// the metadata lacks taken from this log's point at the same offset; for a partition never
    /// committed, the log's point under [`UNCOMMITTED`].
    pub fn resume_of(&self, topic: &str, partition: i32, committed: Option<Resume>) -> Option<Resume> {
        let logged = self.at(topic, partition, committed.map_or(UNCOMMITTED, |r| r.offset));
        match (committed, logged) {
            (Some(r), Some(l)) => Some(Resume { delivered_ms: r.delivered_ms.or(l.delivered_ms), max_ts: r.max_ts.or(l.max_ts), read: r.read.or(l.read), ..r }),
            (r, l) => r.or(l),
        }
    }

    /// Records restart points and writes the file (to a temporary file, then renamed).
    pub fn record(&mut self, points: &[(&str, i32, Resume)]) -> std::io::Result<()> {
        for (topic, partition, r) in points {
            let kept = self.entries.entry(Self::key(topic, *partition)).or_default();
            kept.push_back(*r);
            while kept.len() > RESUME_POINTS {
                kept.pop_front();
            }
        }
        let plain: ResumeFile =
            self.entries.iter().map(|(k, v)| (k.clone(), v.iter().map(|r| vec![Some(r.offset), r.delivered_ms, r.max_ts, r.read]).collect())).collect();
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&plain).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// The committed position of each of `parts` in the consumer's group (`None`: nothing committed).
pub fn committed(consumer: &BaseConsumer, parts: &[&AssignedPartition], timeout: Duration) -> Result<Vec<Option<Resume>>, KafkaError> {
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let mut tpl = TopicPartitionList::new();
    for p in parts {
        tpl.add_partition(&p.topic, p.partition);
    }
    let committed = consumer.committed_offsets(tpl, timeout)?;
    Ok(parts
        .iter()
        .map(|p| {
            committed.find_partition(&p.topic, p.partition).and_then(|e| match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(Resume::parse(o, e.metadata())),
                _ => None,
            })
        })
        .collect())
}

/// Assigns `parts` to the consumer, each starting at its committed offset in the group (or the
/// beginning when none is committed). Returns the committed positions (`None`: from the beginning).
pub fn assign_from_committed(consumer: &BaseConsumer, parts: &[&AssignedPartition], timeout: Duration) -> Result<Vec<Option<Resume>>, KafkaError> {
    let start = committed(consumer, parts, timeout)?;
    let mut assignment = TopicPartitionList::new();
    for (p, r) in parts.iter().zip(&start) {
        assignment.add_partition_offset(&p.topic, p.partition, r.map_or(Offset::Beginning, |r| Offset::Offset(r.offset)))?;
    }
    consumer.assign(&assignment)?;
    Ok(start)
}

/// Assigns `parts` to the consumer, each at its offset in `at` (`None`: the beginning).
pub fn assign_at(consumer: &BaseConsumer, parts: &[&AssignedPartition], at: &[Option<i64>]) -> Result<(), KafkaError> {
    let mut assignment = TopicPartitionList::new();
    for (p, o) in parts.iter().zip(at) {
        assignment.add_partition_offset(&p.topic, p.partition, o.map_or(Offset::Beginning, Offset::Offset))?;
    }
    consumer.assign(&assignment)
}

/// Commits `next` offsets (the next record to read) for the given partitions, each with its
/// metadata string if any.
pub fn commit(consumer: &BaseConsumer, offsets: &[(&str, i32, i64, Option<String>)], mode: rdkafka::consumer::CommitMode) -> Result<(), KafkaError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, next, metadata) in offsets {
        let mut e = tpl.add_partition(topic, *partition);
        e.set_offset(Offset::Offset(*next))?;
        if let Some(m) = metadata {
            e.set_metadata(m);
        }
    }
    consumer.commit(&tpl, mode)
}

/// A record whose delivery failed, kept to be sent again.
#[derive(Clone, Debug)]
pub struct Undelivered {
    /// Topic.
    pub topic: String,
    /// Partition, when the sender chose it.
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub payload: Vec<u8>,
    /// Headers as (name, value).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The dataflow time the record belongs to.
    pub time: u64,
    /// Failed deliveries so far.
    pub attempts: u32,
    /// Not sent again before this (a back-off that grows with the attempts).
    pub due: Instant,
}

/// Records sent and not yet acknowledged, by the sequence number each send carries to its
/// delivery callback, and the dataflow times they belong to.
#[derive(Debug, Default)]
struct Outstanding {
    /// Sequence number -> (time, failed attempts before this send).
    by_seq: FxHashMap<usize, (u64, u32)>,
    /// Time -> number of records of that time not yet delivered (sent or waiting to be sent again).
    times: BTreeMap<u64, usize>,
    failed: Vec<Undelivered>,
    /// A record that failed more than [`MAX_REDELIVERIES`] times: the last error.
    gave_up: Option<String>,
}

impl Outstanding {
    fn settle(&mut self, time: u64) {
        if let Some(n) = self.times.get_mut(&time) {
            *n -= 1;
            if *n == 0 {
                self.times.remove(&time);
            }
        }
    }
}

/// Producer callbacks: count deliveries and failures, settle what was acknowledged, keep failed
/// records to send again.
#[derive(Default)]
pub struct DeliveryTracker {
    /// Records delivered.
    pub delivered: AtomicU64,
    /// Delivery failures (each failed attempt).
    pub errors: AtomicU64,
    state: Mutex<Outstanding>,
    /// Per partition, one past the greatest offset delivered since [`DeliveryTracker::take_ends`]
    /// last ran (for a producer of one topic: the output's checkpoints read it).
    ends: Mutex<FxHashMap<i32, i64>>,
}

impl DeliveryTracker {
    /// Per partition, one past the greatest offset delivered since the last call.
    pub fn take_ends(&self) -> FxHashMap<i32, i64> {
        self.ends.lock().map(|mut e| std::mem::take(&mut *e)).unwrap_or_default()
    }

    fn record(&self, result: &DeliveryResult<'_>, seq: usize) {
        let Ok(mut state) = self.state.lock() else { return };
        let (time, attempts) = state.by_seq.remove(&seq).unwrap_or((0, 0));
        let (msg, why) = match result {
            // An acknowledgement without an offset: the broker answered that it already had the
            // batch's sequence. Not proof enough (librdkafka's mock broker says so of a batch it
            // never stored), so it is sent again: at worst a duplicate under the same id.
            Ok(msg) if msg.offset() < 0 => (msg, "acknowledged without an offset".to_string()),
            Ok(msg) => {
                self.delivered.fetch_add(1, Relaxed);
                state.settle(time);
                drop(state);
                if let Ok(mut ends) = self.ends.lock() {
                    let end = ends.entry(msg.partition()).or_insert(0);
                    *end = (*end).max(msg.offset() + 1);
                }
                return;
            }
            Err((e, msg)) => (msg, e.to_string()),
        };
        self.errors.fetch_add(1, Relaxed);
        let attempts = attempts + 1;
        if attempts > MAX_REDELIVERIES {
            state.gave_up = Some(format!("delivery to {} failed {attempts} times: {why}", msg.topic()));
            return;
        }
        tracing::warn!("delivery to {} failed (attempt {attempts}), will retry: {why}", msg.topic());
        let headers =
            msg.headers().map(|h| h.iter().map(|x| (x.key.to_string(), x.value.map(<[u8]>::to_vec).unwrap_or_default())).collect()).unwrap_or_default();
        // The time stays counted in `times`: the record is still undelivered.
        state.failed.push(Undelivered {
            topic: msg.topic().to_string(),
            // Keyed records find their partition again by key; the others were sent to one.
            partition: (msg.key().is_none() && msg.partition() >= 0).then(|| msg.partition()),
            key: msg.key().map(<[u8]>::to_vec),
            payload: msg.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers,
            time,
            attempts,
            due: Instant::now() + RETRY_BACKOFF * attempts,
        });
    }
}

/// Most times one record is sent again after failed deliveries before the run gives up.
pub const MAX_REDELIVERIES: u32 = 5;

/// The wait before a failed record is sent again, times its failed attempts.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// An idempotent producer that never waits for acknowledgements: each record carries the
/// dataflow time it belongs to, and [`ReliableProducer::pump`] tells the earliest time not yet
/// delivered, so a writer can hold its frontier there while deliveries complete; failed records
/// are sent again after a back-off.
pub struct ReliableProducer {
    producer: BaseProducer<SharedTracker>,
    tracker: Arc<DeliveryTracker>,
    next_seq: usize,
}

/// A delivery that could not be completed.
#[derive(Debug, thiserror::Error)]
#[error("{count} record(s) could not be delivered to Kafka after {MAX_REDELIVERIES} attempts: {last}")]
pub struct DeliveryFailed {
    /// Records left undelivered.
    pub count: usize,
    /// The last error seen.
    pub last: String,
}

/// Where deliveries stand after [`ReliableProducer::pump`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deliveries {
    /// The earliest time with a record not yet delivered; `None` when all are.
    pub undelivered: Option<u64>,
    /// When the next failed record is due to be sent again.
    pub retry_at: Option<Instant>,
}

impl ReliableProducer {
    /// Creates an idempotent producer (acks=all, ordered, no duplicates from retries).
    pub fn new(client: &ClientConfig) -> Result<Self, KafkaSetupError> {
        let mut cfg = client.clone();
        // Idempotence (and the acks it needs) is what makes retries safe: always on. Batching
        // is a default the config's [kafka.client] may change.
        cfg.set("enable.idempotence", "true").set("acks", "all");
        if cfg.get("linger.ms").is_none() {
            cfg.set("linger.ms", "5");
        }
        let tracker = Arc::new(DeliveryTracker::default());
        let producer = cfg.create_with_context(SharedTracker(tracker.clone())).map_err(KafkaSetupError::Client)?;
        Ok(ReliableProducer { producer, tracker, next_seq: 0 })
    }

    /// The delivery counters.
    pub fn tracker(&self) -> &Arc<DeliveryTracker> {
        &self.tracker
    }

    /// Queues one record of dataflow time `time`; waits (serving callbacks) only while the
    /// local queue is full, which is back-pressure from the brokers.
    pub fn send(&mut self, time: u64, topic: &str, key: Option<&[u8]>, payload: &[u8], headers: &[(&str, &[u8])]) -> Result<(), KafkaError> {
        self.send_record(time, 0, topic, None, key, payload, headers, true)
    }

    /// Queues one record for a given partition (no key), as [`Self::send`].
    pub fn send_to(&mut self, topic: &str, partition: i32, payload: &[u8]) -> Result<(), KafkaError> {
        self.send_record(0, 0, topic, Some(partition), None, payload, &[], true)
    }

    #[allow(clippy::too_many_arguments)]
    fn send_record(
        &mut self,
        time: u64,
        attempts: u32,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: &[(&str, &[u8])],
        new: bool,
    ) -> Result<(), KafkaError> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if let Ok(mut state) = self.tracker.state.lock() {
            state.by_seq.insert(seq, (time, attempts));
            if new {
                *state.times.entry(time).or_default() += 1;
            }
        }
        let mut record: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, seq).payload(payload);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        if let Some(k) = key {
            record = record.key(k);
        }
        if !headers.is_empty() {
            let mut h = OwnedHeaders::new_with_capacity(headers.len());
            for (k, v) in headers {
                h = h.insert(Header { key: k, value: Some(*v) });
            }
            record = record.headers(h);
        }
        let result = loop {
            match self.producer.send(record) {
                Ok(()) => break Ok(()),
                Err((KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back)) => {
                    self.producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((e, _)) => break Err(e),
            }
        };
        if result.is_err() {
            if let Ok(mut state) = self.tracker.state.lock() {
                state.by_seq.remove(&seq);
                state.settle(time);
            }
        }
        result
    }

    /// Serves delivery callbacks without blocking.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Serves delivery callbacks without blocking, sends the failed records that are due again,
    /// and tells where deliveries stand; fails once a record has failed [`MAX_REDELIVERIES`]
    /// times after the first.
    pub fn pump(&mut self) -> Result<Deliveries, DeliveryFailed> {
        self.producer.poll(Duration::ZERO);
        let now = Instant::now();
        let due: Vec<Undelivered> = match self.tracker.state.lock() {
            Ok(mut state) => {
                if let Some(last) = state.gave_up.clone() {
                    return Err(DeliveryFailed { count: state.times.values().sum::<usize>().max(1), last });
                }
                let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut state.failed).into_iter().partition(|r| r.due <= now);
                state.failed = later;
                due
            }
            Err(_) => Vec::new(),
        };
        for r in &due {
            let headers: Vec<(&str, &[u8])> = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
            if let Err(e) = self.send_record(r.time, r.attempts, &r.topic, r.partition, r.key.as_deref(), &r.payload, &headers, false) {
                return Err(DeliveryFailed { count: due.len(), last: e.to_string() });
            }
        }
        let state = self.tracker.state.lock().map_err(|_| DeliveryFailed { count: 0, last: "delivery state poisoned".into() })?;
        Ok(Deliveries { undelivered: state.times.keys().next().copied(), retry_at: state.failed.iter().map(|r| r.due).min() })
    }

    /// Blocks until every record sent so far is delivered, sending failed ones again: for the
    /// command line (the generator), never inside the dataflow.
    pub fn flush(&mut self, timeout: Duration) -> Result<(), DeliveryFailed> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.pump()?;
            if state.undelivered.is_none() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(DeliveryFailed { count: self.producer.in_flight_count().max(1) as usize, last: format!("not delivered within {timeout:?}") });
            }
            self.producer.poll(Duration::from_millis(50));
        }
    }
}

/// The tracker shared between the producer's callbacks and its owner.
pub struct SharedTracker(Arc<DeliveryTracker>);

impl ClientContext for SharedTracker {}

impl ProducerContext for SharedTracker {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        self.0.record(result, seq)
    }
}
