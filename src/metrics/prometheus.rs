//! Prometheus metrics for `vigil run` and the small HTTP endpoint that serves them.
//!
//! Every label lookup happens once, when an operator starts: it asks the [`Registry`] for a
//! handle ([`PartitionMetrics`], [`TopicMetrics`], [`RuleMetrics`], a bare [`Counter`]) that
//! holds clones of the labelled series, so a batch costs one atomic add per counter and never
//! takes the families' locks.
//!
//! Families (OpenMetrics names; counters get their `_total` suffix on exposition):
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `vigil_events_in_total` | counter | topic, partition |
//! | `vigil_bytes_in_total` | counter | topic, partition |
//! | `vigil_parse_errors_total` | counter | topic, reason |
//! | `vigil_late_records_total` | counter | topic |
//! | `vigil_records_lost_total` | counter | topic, partition |
//! | `vigil_rule_matches_total` | counter | rule |
//! | `vigil_incidents_total` | counter | rule |
//! | `vigil_watermark_delay_seconds` | gauge | topic, partition |
//! | `vigil_consumer_lag` | gauge | topic, partition |
//! | `vigil_delivery_errors_total` | counter | topic |
//! | `vigil_dead_letters_total` | counter | reason |

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Unit;

use super::{kind_index, ERROR_KINDS};
use crate::parse::ErrorKind;

/// Content type of the exposition [`serve`] answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A gauge holding an `f64` (seconds).
pub type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicPartitionLabels {
    topic: String,
    partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicReasonLabels {
    topic: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// vigil's metric families in one prometheus-client registry; share it as `Arc<Registry>`.
#[derive(Debug)]
pub struct Registry {
    registry: prometheus_client::registry::Registry,
    events_in: Family<TopicPartitionLabels, Counter>,
    bytes_in: Family<TopicPartitionLabels, Counter>,
    parse_errors: Family<TopicReasonLabels, Counter>,
    late_records: Family<TopicLabels, Counter>,
    records_lost: Family<TopicPartitionLabels, Counter>,
    rule_matches: Family<RuleLabels, Counter>,
    incidents: Family<RuleLabels, Counter>,
    watermark_delay: Family<TopicPartitionLabels, FloatGauge>,
    consumer_lag: Family<TopicPartitionLabels, Gauge>,
    delivery_errors: Family<TopicLabels, Counter>,
    dead_letters: Family<ReasonLabels, Counter>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

/// The per-partition series of one input partition.
#[derive(Clone, Debug)]
pub struct PartitionMetrics {
    /// Events decoded from the partition.
    pub events_in: Counter,
    /// Record bytes read from the partition.
    pub bytes_in: Counter,
    /// Wall clock minus the partition's watermark, in seconds.
    pub watermark_delay: FloatGauge,
    /// Records in the partition not yet consumed (high watermark minus position).
    pub consumer_lag: Gauge,
    /// Records a resumed partition could not read again: the broker no longer held them.
    pub records_lost: Counter,
}

impl PartitionMetrics {
    /// Counts one batch read from the partition.
    pub fn add_batch(&self, events: u64, bytes: u64) {
        self.events_in.inc_by(events);
        self.bytes_in.inc_by(bytes);
    }

    /// Sets the watermark delay from a watermark and the wall clock, both in epoch milliseconds.
    pub fn set_watermark(&self, watermark_ms: i64, now_ms: i64) {
        self.watermark_delay.set(now_ms.saturating_sub(watermark_ms) as f64 / 1000.0);
    }

    /// Sets the consumer lag in records.
    pub fn set_lag(&self, lag: i64) {
        self.consumer_lag.set(lag);
    }
}

/// The per-topic series of one input topic.
#[derive(Clone, Debug)]
pub struct TopicMetrics {
    /// Records behind their partition's watermark.
    pub late_records: Counter,
    /// Unparsable records, one series per [`ErrorKind`] in [`ERROR_KINDS`] order.
    parse_errors: [Counter; ERROR_KINDS.len()],
}

impl TopicMetrics {
    /// The parse-error counter for one reason.
    pub fn parse_errors(&self, kind: ErrorKind) -> &Counter {
        &self.parse_errors[kind_index(kind)]
    }
}

/// The per-rule series of one rule.
#[derive(Clone, Debug)]
pub struct RuleMetrics {
    /// Events (or correlation inputs) the rule's detection matched.
    pub matches: Counter,
    /// Incidents the rule raised.
    pub incidents: Counter,
}

impl Registry {
    /// A registry with every vigil family registered and no series yet.
    pub fn new() -> Self {
        let mut registry = prometheus_client::registry::Registry::with_prefix("vigil");
        let events_in = Family::default();
        registry.register("events_in", "Events decoded from each input partition", events_in.clone());
        let bytes_in = Family::default();
        registry.register("bytes_in", "Record bytes read from each input partition", bytes_in.clone());
        let parse_errors = Family::default();
        registry.register("parse_errors", "Records that could not be parsed, by reason", parse_errors.clone());
        let late_records = Family::default();
        registry.register("late_records", "Records older than their partition's watermark", late_records.clone());
        let records_lost = Family::default();
        registry.register("records_lost", "Records a resumed partition could not read again: the broker no longer held them (retention)", records_lost.clone());
        let rule_matches = Family::default();
        registry.register("rule_matches", "Records matched by each rule's detection", rule_matches.clone());
        let incidents = Family::default();
        registry.register("incidents", "Incidents raised by each rule", incidents.clone());
        let watermark_delay = Family::default();
        registry.register_with_unit("watermark_delay", "Wall clock minus the partition's event-time watermark", Unit::Seconds, watermark_delay.clone());
        let consumer_lag = Family::default();
        registry.register("consumer_lag", "Records in the partition not yet consumed", consumer_lag.clone());
        let delivery_errors = Family::default();
        registry.register("delivery_errors", "Records the producer failed to deliver to each output topic", delivery_errors.clone());
        let dead_letters = Family::default();
        registry.register("dead_letters", "Records sent to the dead-letter output, by reason", dead_letters.clone());
        Registry {
            registry,
            events_in,
            bytes_in,
            parse_errors,
            late_records,
            records_lost,
            rule_matches,
            incidents,
            watermark_delay,
            consumer_lag,
            delivery_errors,
            dead_letters,
        }
    }

    /// The series of one input partition (created at zero, so they are scraped before data).
    pub fn partition(&self, topic: &str, partition: i32) -> PartitionMetrics {
        let labels = TopicPartitionLabels { topic: topic.to_owned(), partition };
        PartitionMetrics {
            events_in: self.events_in.get_or_create_owned(&labels),
            bytes_in: self.bytes_in.get_or_create_owned(&labels),
            watermark_delay: self.watermark_delay.get_or_create_owned(&labels),
            consumer_lag: self.consumer_lag.get_or_create_owned(&labels),
            records_lost: self.records_lost.get_or_create_owned(&labels),
        }
    }

    /// The series of one input topic, with a parse-error counter for every [`ErrorKind`].
    pub fn topic(&self, topic: &str) -> TopicMetrics {
        TopicMetrics {
            late_records: self.late_records.get_or_create_owned(&TopicLabels { topic: topic.to_owned() }),
            parse_errors: ERROR_KINDS.map(|kind| self.parse_errors(topic, kind.code())),
        }
    }

    /// The parse-error counter for a topic and a free-form reason.
    pub fn parse_errors(&self, topic: &str, reason: &str) -> Counter {
        self.parse_errors.get_or_create_owned(&TopicReasonLabels { topic: topic.to_owned(), reason: reason.to_owned() })
    }

    /// The series of one rule.
    pub fn rule(&self, rule: &str) -> RuleMetrics {
        let labels = RuleLabels { rule: rule.to_owned() };
        RuleMetrics { matches: self.rule_matches.get_or_create_owned(&labels), incidents: self.incidents.get_or_create_owned(&labels) }
    }

    /// The delivery-error counter of one output topic.
    pub fn delivery_errors(&self, topic: &str) -> Counter {
        self.delivery_errors.get_or_create_owned(&TopicLabels { topic: topic.to_owned() })
    }

    /// The dead-letter counter for one reason.
    pub fn dead_letters(&self, reason: &str) -> Counter {
        self.dead_letters.get_or_create_owned(&ReasonLabels { reason: reason.to_owned() })
    }

    /// The underlying registry, to register more metrics before sharing this one.
    pub fn inner_mut(&mut self) -> &mut prometheus_client::registry::Registry {
        &mut self.registry
    }

    /// The OpenMetrics text exposition of every series, ending with `# EOF`.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Longest request head (request line and headers) the server reads.
const MAX_HEAD: usize = 8192;
/// Time one client gets to send its request and read the answer, so a stalled or slow client
/// delays the next scrape by at most this much.
const CLIENT_BUDGET: Duration = Duration::from_secs(2);

/// The running metrics endpoint; dropping it stops the server thread.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let Some(thread) = self.thread.take() else { return };
        // The thread blocks in accept(): wake it with a connection of our own. Joining only
        // after a successful connect, so an unreachable listener cannot hang the caller.
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        if TcpStream::connect_timeout(&SocketAddr::new(ip, self.addr.port()), Duration::from_secs(1)).is_ok() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Serves `GET /metrics` (and `HEAD`) on `addr` from a thread of its own, one client at a time;
/// any other path is 404. Port 0 picks a free port: see [`MetricsServer::local_addr`].
pub fn serve(addr: SocketAddr, registry: Arc<Registry>) -> io::Result<MetricsServer> {
    serve_with_budget(addr, registry, CLIENT_BUDGET)
}

fn serve_with_budget(addr: SocketAddr, registry: Arc<Registry>, budget: Duration) -> io::Result<MetricsServer> {
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new().name("vigil-metrics".into()).spawn(move || {
        for conn in listener.incoming() {
            if thread_stop.load(Ordering::SeqCst) {
                break;
            }
            match conn {
                Ok(stream) => {
                    if let Err(e) = answer(stream, &registry, budget) {
                        tracing::debug!("metrics client: {e}");
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("metrics endpoint {addr}: accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    })?;
    tracing::info!("metrics on http://{addr}/metrics");
    Ok(MetricsServer { addr, stop, thread: Some(thread) })
}

fn answer(mut stream: TcpStream, registry: &Registry, budget: Duration) -> io::Result<()> {
    let deadline = Instant::now() + budget;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    // Read the whole head before answering: closing with unread request bytes makes the kernel
    // send a reset, and the client may lose the answer.
    while !head_complete(&head) {
        if head.len() >= MAX_HEAD {
            return respond(&mut stream, "431 Request Header Fields Too Large", "text/plain", b"request head too large\n", deadline);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "request not received in time"));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => match registry.encode() {
            Ok(body) => {
                let body = if method == "HEAD" { &[][..] } else { body.as_bytes() };
                respond(&mut stream, "200 OK", CONTENT_TYPE, body, deadline)
            }
            Err(_) => respond(&mut stream, "500 Internal Server Error", "text/plain", b"cannot encode metrics\n", deadline),
        },
        (_, "/metrics") => respond(&mut stream, "405 Method Not Allowed", "text/plain", b"use GET\n", deadline),
        _ => respond(&mut stream, "404 Not Found", "text/plain", b"metrics are at /metrics\n", deadline),
    }
}

fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8], deadline: Instant) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
    stream.set_write_timeout(Some(left))?;
    let head = format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn local() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn families_have_the_documented_names() {
        let r = Registry::new();
        let p = r.partition("logs.auth", 3);
        p.add_batch(10, 3000);
        p.add_batch(5, 1000);
        p.set_watermark(1_000, 3_500);
        p.set_lag(42);
        let t = r.topic("logs.auth");
        t.late_records.inc_by(2);
        t.parse_errors(ErrorKind::BadJson).inc_by(7);
        r.parse_errors("logs.web", "custom").inc();
        let rule = r.rule("ssh-brute-force");
        rule.matches.inc_by(20);
        rule.incidents.inc();
        r.delivery_errors("vigil.incidents").inc();
        r.dead_letters("late").inc_by(2);
        let text = r.encode().unwrap();
        for expected in [
            "# TYPE vigil_events_in counter",
            r#"vigil_events_in_total{topic="logs.auth",partition="3"} 15"#,
            r#"vigil_bytes_in_total{topic="logs.auth",partition="3"} 4000"#,
            r#"vigil_parse_errors_total{topic="logs.auth",reason="bad-json"} 7"#,
            r#"vigil_parse_errors_total{topic="logs.auth",reason="malformed"} 0"#,
            r#"vigil_parse_errors_total{topic="logs.web",reason="custom"} 1"#,
            r#"vigil_late_records_total{topic="logs.auth"} 2"#,
            r#"vigil_rule_matches_total{rule="ssh-brute-force"} 20"#,
            r#"vigil_incidents_total{rule="ssh-brute-force"} 1"#,
            "# TYPE vigil_watermark_delay_seconds gauge",
            "# UNIT vigil_watermark_delay_seconds seconds",
            r#"vigil_watermark_delay_seconds{topic="logs.auth",partition="3"} 2.5"#,
            "# TYPE vigil_consumer_lag gauge",
            r#"vigil_consumer_lag{topic="logs.auth",partition="3"} 42"#,
            r#"vigil_delivery_errors_total{topic="vigil.incidents"} 1"#,
            r#"vigil_dead_letters_total{reason="late"} 2"#,
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn handles_share_series() {
        let r = Registry::new();
        r.partition("t", 0).add_batch(1, 1);
        r.partition("t", 0).add_batch(1, 1);
        assert_eq!(r.partition("t", 0).events_in.get(), 2);
        assert_eq!(r.partition("t", 1).events_in.get(), 0);
    }

    #[test]
    fn serves_metrics_over_http() {
        let registry = Arc::new(Registry::new());
        let server = serve(local(), registry.clone()).unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        registry.partition("logs.web", 0).add_batch(3, 300);
        registry.rule("r1").incidents.inc();

        let resp = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")), "{resp}");
        assert!(resp.contains(r#"vigil_events_in_total{topic="logs.web",partition="0"} 3"#), "{resp}");
        assert!(resp.contains(r#"vigil_incidents_total{rule="r1"} 1"#), "{resp}");
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");

        // Counters move between scrapes.
        registry.partition("logs.web", 0).add_batch(2, 1);
        let resp = get(addr, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(resp.contains(r#"vigil_events_in_total{topic="logs.web",partition="0"} 5"#), "{resp}");

        let resp = get(addr, "GET / HTTP/1.1\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 404 "), "{resp}");
        let resp = get(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 405 "), "{resp}");
        let resp = get(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n") && resp.ends_with("\r\n\r\n"), "{resp}");
        server.shutdown();
        assert!(TcpStream::connect(addr).is_err(), "listener closed after shutdown");
    }

    #[test]
    fn a_stalled_client_does_not_block_the_next() {
        let registry = Arc::new(Registry::new());
        let server = serve_with_budget(local(), registry, Duration::from_millis(200)).unwrap();
        let addr = server.local_addr();
        // Connects and never sends a byte; another sends half a request and stalls.
        let _silent = TcpStream::connect(addr).unwrap();
        let mut half = TcpStream::connect(addr).unwrap();
        half.write_all(b"GET /metr").unwrap();
        let started = Instant::now();
        let resp = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        drop(server);
    }

    #[test]
    fn oversized_request_is_refused() {
        let server = serve(local(), Arc::new(Registry::new())).unwrap();
        let big = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // The server may close before taking all of it; only the answer matters.
        let _ = s.write_all(big.as_bytes());
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        assert!(out.is_empty() || out.starts_with("HTTP/1.1 431 "), "{out}");
    }

    #[test]
    fn binding_a_used_port_fails() {
        let first = serve(local(), Arc::new(Registry::new())).unwrap();
        assert!(serve(first.local_addr(), Arc::new(Registry::new())).is_err());
    }
}
