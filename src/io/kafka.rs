//! Kafka plumbing shared by the source, the sinks and the generator: checking the cluster and
//! its topics, the static assignment of topic partitions to workers, consumers that `assign()`,
//! and a producer whose failed deliveries are counted and sent again.
//!
//! Partitions are assigned statically: every process lists the same (source, topic, partition)
//! triples in the same order, and global index `i` belongs to worker `i % peers`. No consumer
//! group rebalancing ever moves a partition away from the worker that holds its state; the group
//! id is used only to store committed offsets (lag monitoring, restart).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

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

/// Assigns `parts` to the consumer, each starting at its committed offset in the group (or the
/// beginning when none is committed). Returns the starting offsets (`None`: from the beginning).
pub fn assign_from_committed(consumer: &BaseConsumer, parts: &[&AssignedPartition], timeout: Duration) -> Result<Vec<Option<i64>>, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for p in parts {
        tpl.add_partition(&p.topic, p.partition);
    }
    let committed = if parts.is_empty() { TopicPartitionList::new() } else { consumer.committed_offsets(tpl, timeout)? };
    let mut start = Vec::with_capacity(parts.len());
    let mut assignment = TopicPartitionList::new();
    for p in parts {
        let offset = committed.find_partition(&p.topic, p.partition).and_then(|e| match e.offset() {
            Offset::Offset(o) if o >= 0 => Some(o),
            _ => None,
        });
        assignment.add_partition_offset(&p.topic, p.partition, offset.map_or(Offset::Beginning, Offset::Offset))?;
        start.push(offset);
    }
    consumer.assign(&assignment)?;
    Ok(start)
}

/// Commits `next` offsets (the next record to read) for the given partitions.
pub fn commit(consumer: &BaseConsumer, offsets: &[(&str, i32, i64)], mode: rdkafka::consumer::CommitMode) -> Result<(), KafkaError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, next) in offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
    }
    consumer.commit(&tpl, mode)
}

/// A record whose delivery failed, kept to be sent again.
#[derive(Clone, Debug)]
pub struct Undelivered {
    /// Topic.
    pub topic: String,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub payload: Vec<u8>,
    /// Headers as (name, value).
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Producer callbacks: counts deliveries and failures, keeps failed records to send again.
#[derive(Default)]
pub struct DeliveryTracker {
    /// Records delivered.
    pub delivered: AtomicU64,
    /// Delivery failures (each failed attempt).
    pub errors: AtomicU64,
    failed: Mutex<Vec<Undelivered>>,
}

impl DeliveryTracker {
    fn record(&self, result: &DeliveryResult<'_>) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Relaxed);
            }
            Err((e, msg)) => {
                self.errors.fetch_add(1, Relaxed);
                tracing::warn!("delivery to {} failed, will retry: {e}", msg.topic());
                let headers =
                    msg.headers().map(|h| h.iter().map(|x| (x.key.to_string(), x.value.map(<[u8]>::to_vec).unwrap_or_default())).collect()).unwrap_or_default();
                let record = Undelivered {
                    topic: msg.topic().to_string(),
                    key: msg.key().map(<[u8]>::to_vec),
                    payload: msg.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    headers,
                };
                if let Ok(mut f) = self.failed.lock() {
                    f.push(record);
                }
            }
        }
    }
}

/// Most times one record is sent again after failed deliveries before the run gives up.
pub const MAX_REDELIVERIES: u32 = 5;

/// An idempotent producer that retries failed deliveries and can wait until everything sent
/// has been delivered.
pub struct ReliableProducer {
    producer: BaseProducer<SharedTracker>,
    tracker: Arc<DeliveryTracker>,
    rounds: u32,
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
        Ok(ReliableProducer { producer, tracker, rounds: 0 })
    }

    /// The delivery counters.
    pub fn tracker(&self) -> &Arc<DeliveryTracker> {
        &self.tracker
    }

    /// Queues one record; waits (serving callbacks) while the local queue is full.
    pub fn send(&self, topic: &str, key: Option<&[u8]>, payload: &[u8], headers: &[(&str, &[u8])]) -> Result<(), KafkaError> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(payload);
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
        self.enqueue(record)
    }

    /// Queues one record for a given partition (no key), waiting while the local queue is full.
    pub fn send_to(&self, topic: &str, partition: i32, payload: &[u8]) -> Result<(), KafkaError> {
        self.enqueue(BaseRecord::to(topic).payload(payload).partition(partition))
    }

    /// Queues a record; while librdkafka's local queue is full, serves callbacks and tries the
    /// record it handed back again.
    fn enqueue(&self, mut record: BaseRecord<'_, [u8], [u8]>) -> Result<(), KafkaError> {
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back)) => {
                    self.producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Serves delivery callbacks without blocking.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Blocks until every record sent so far is delivered, sending failed ones again (up to
    /// [`MAX_REDELIVERIES`] rounds in a row without progress).
    pub fn flush(&mut self, timeout: Duration) -> Result<(), DeliveryFailed> {
        loop {
            let flushed = self.producer.flush(timeout);
            let failed: Vec<Undelivered> = self.tracker.failed.lock().map(|mut f| std::mem::take(&mut *f)).unwrap_or_default();
            if failed.is_empty() {
                if let Err(e) = flushed {
                    return Err(DeliveryFailed { count: self.producer.in_flight_count().max(1) as usize, last: e.to_string() });
                }
                self.rounds = 0;
                return Ok(());
            }
            self.rounds += 1;
            if self.rounds > MAX_REDELIVERIES {
                return Err(DeliveryFailed { count: failed.len(), last: "delivery kept failing".to_string() });
            }
            std::thread::sleep(Duration::from_millis(100 * u64::from(self.rounds)));
            for r in &failed {
                let headers: Vec<(&str, &[u8])> = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
                if let Err(e) = self.send(&r.topic, r.key.as_deref(), &r.payload, &headers) {
                    return Err(DeliveryFailed { count: failed.len(), last: e.to_string() });
                }
            }
        }
    }
}

/// The tracker shared between the producer's callbacks and its owner.
pub struct SharedTracker(Arc<DeliveryTracker>);

impl ClientContext for SharedTracker {}

impl ProducerContext for SharedTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        self.0.record(result)
    }
}
