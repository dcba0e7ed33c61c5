//! The broker-bound limit for `vigil run`: a bare consumer that only counts messages.
//!
//! Assigns every partition of the given topics from the beginning (no group join, no commits),
//! polls and counts messages and payload bytes until nothing has arrived for `--idle-secs`, and
//! prints the totals and the rate measured from the first message received to the last one (the
//! idle wait at the end and the connection set-up before the first message are not included;
//! the set-up time is printed separately).
//!
//! The client settings are those of a vigil worker's consumer (`vigil::io::kafka::consumer`):
//! the same librdkafka defaults, fetch sizes and queue limits, with a group id used for nothing.
//! `--consumers N` splits the partitions over N consumers on N threads exactly as `vigil run
//! --workers N` splits them over its workers (global partition i, in topic order then partition
//! order, goes to consumer i mod N): the limit to hold N workers against, since a broker may
//! serve several connections faster than one. `-X property=value` sets a librdkafka property, as
//! `[kafka.client]` in a vigil config does (give both the same ones).
//!
//!   cargo run --release --example count_topic -- --brokers 127.0.0.1:9092 \
//!       --topics logs.auth,logs.web,logs.zeek,logs.windows --idle-secs 2 [--consumers 2] [-X fetch.wait.max.ms=10]
//!
//! The last line of stdout is machine-readable:
//!   count_topic: consumers=C messages=N bytes=B secs=S msgs_per_s=R mb_per_s=M first_after_s=F

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

struct Args {
    brokers: String,
    topics: Vec<String>,
    idle: Duration,
    first_wait: Duration,
    consumers: usize,
    /// librdkafka properties, as a vigil config's `[kafka.client]` passes them.
    properties: Vec<(String, String)>,
}

const USAGE: &str =
    "usage: count_topic --brokers HOST:PORT[,...] --topics t1,t2,... [--idle-secs 2] [--consumers 1] [--first-wait-secs 30] [-X librdkafka.property=value ...]";

fn parse_args() -> Result<Args, String> {
    let mut brokers = None;
    let mut topics = Vec::new();
    let mut idle = 2.0f64;
    let mut first_wait = 30.0f64;
    let mut consumers = 1usize;
    let mut properties = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--brokers" => brokers = Some(value()?),
            "--topics" => topics.extend(value()?.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from)),
            "--idle-secs" => idle = value()?.parse().map_err(|e| format!("--idle-secs: {e}"))?,
            "--first-wait-secs" => first_wait = value()?.parse().map_err(|e| format!("--first-wait-secs: {e}"))?,
            "--consumers" => consumers = value()?.parse().map_err(|e| format!("--consumers: {e}"))?,
            "-X" => {
                let kv = value()?;
                let Some((k, v)) = kv.split_once('=') else { return Err(format!("-X {kv}: expected property=value")) };
                properties.push((k.trim().to_string(), v.trim().to_string()));
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let brokers = brokers.ok_or_else(|| format!("--brokers is required\n{USAGE}"))?;
    if topics.is_empty() {
        return Err(format!("--topics is required\n{USAGE}"));
    }
    if !(idle.is_finite() && idle > 0.0 && first_wait.is_finite() && first_wait > 0.0) {
        return Err("--idle-secs and --first-wait-secs must be positive".to_string());
    }
    if consumers == 0 {
        return Err("--consumers must be at least 1".to_string());
    }
    Ok(Args { brokers, topics, idle: Duration::from_secs_f64(idle), first_wait: Duration::from_secs_f64(first_wait), consumers, properties })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("count_topic: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What one consumer counted.
struct Counted {
    /// Messages per partition, in the order of its assignment.
    per_partition: Vec<u64>,
    messages: u64,
    bytes: u64,
    errors: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// What `Config::client_config` gives a vigil consumer: the brokers and the pass-through properties.
fn client(args: &Args) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &args.brokers);
    for (k, v) in &args.properties {
        c.set(k, v);
    }
    c
}

/// A vigil worker's consumer; the group is only named, never joined or committed to.
fn consumer(args: &Args, k: usize) -> Result<rdkafka::consumer::BaseConsumer, String> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    vigil::io::kafka::consumer(&client(args), &format!("count-topic-{}-{k}-{nanos}", std::process::id())).map_err(|e| e.to_string())
}

fn run(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    // Every partition of the topics, in vigil's global order (topic order, then partition).
    let metadata = consumer(args, usize::MAX)?.fetch_metadata(None, Duration::from_secs(15)).map_err(|e| format!("metadata from {}: {e}", args.brokers))?;
    let mut all: Vec<(String, i32)> = Vec::new();
    for topic in &args.topics {
        let t = metadata.topics().iter().find(|t| t.name() == topic).filter(|t| t.error().is_none() && !t.partitions().is_empty());
        let Some(t) = t else { return Err(format!("topic {topic:?} does not exist on {}", args.brokers)) };
        let mut ps: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
        ps.sort_unstable();
        all.extend(ps.into_iter().map(|p| (topic.clone(), p)));
    }
    eprintln!(
        "count_topic: {} partition(s) of {} topic(s) on {}, from the beginning, {} consumer(s)",
        all.len(),
        args.topics.len(),
        args.brokers,
        args.consumers
    );

    let shares: Vec<Vec<(String, i32)>> =
        (0..args.consumers).map(|k| all.iter().enumerate().filter(|(i, _)| i % args.consumers == k).map(|(_, tp)| tp.clone()).collect()).collect();
    let results: Vec<Result<Counted, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = shares.iter().enumerate().map(|(k, share)| s.spawn(move || count(args, k, share, started))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a consumer thread panicked".to_string()))).collect()
    });
    let mut counted = Vec::with_capacity(results.len());
    for r in results {
        counted.push(r?);
    }

    let messages: u64 = counted.iter().map(|c| c.messages).sum();
    let bytes: u64 = counted.iter().map(|c| c.bytes).sum();
    let errors: u64 = counted.iter().map(|c| c.errors).sum();
    let first = counted.iter().filter_map(|c| c.first).min();
    let last = counted.iter().filter_map(|c| c.last).max();
    let (Some(first), Some(last)) = (first, last) else {
        println!("count_topic: no message within {:.1} s", args.first_wait.as_secs_f64());
        println!("count_topic: consumers={} messages=0 bytes=0 secs=0 msgs_per_s=0 mb_per_s=0 first_after_s=0", args.consumers);
        return Ok(());
    };
    for topic in &args.topics {
        let mut n = 0u64;
        let mut parts = Vec::new();
        for (share, c) in shares.iter().zip(&counted) {
            for ((t, p), m) in share.iter().zip(&c.per_partition) {
                if t == topic {
                    n += m;
                    parts.push((*p, *m));
                }
            }
        }
        parts.sort_unstable();
        let parts: Vec<String> = parts.iter().map(|(p, m)| format!("{p}:{m}")).collect();
        println!("  {topic:<24} {n:>10} messages  (partition:count {})", parts.join(" "));
    }
    for (k, c) in counted.iter().enumerate().filter(|_| args.consumers > 1) {
        let span = match (c.first, c.last) {
            (Some(f), Some(l)) => format!("{:.3} s .. {:.3} s after start", f.duration_since(started).as_secs_f64(), l.duration_since(started).as_secs_f64()),
            _ => "nothing".to_string(),
        };
        println!("  consumer {k}: {} messages, {} bytes, {span}", c.messages, c.bytes);
    }
    let secs = last.duration_since(first).as_secs_f64().max(1e-9);
    let first_after = first.duration_since(started).as_secs_f64();
    let (rate, mbs) = (messages as f64 / secs, bytes as f64 / secs / 1e6);
    println!(
        "{messages} messages, {bytes} bytes in {secs:.3} s from the first to the last message ({rate:.0} messages/s, {mbs:.1} MB/s); first message {first_after:.3} s after start; {} consumer(s); {errors} consumer error(s)",
        args.consumers
    );
    println!(
        "count_topic: consumers={} messages={messages} bytes={bytes} secs={secs:.3} msgs_per_s={rate:.0} mb_per_s={mbs:.1} first_after_s={first_after:.3}",
        args.consumers
    );
    Ok(())
}

/// Consumer `k`: assigns `share` from the beginning and counts until idle.
fn count(args: &Args, k: usize, share: &[(String, i32)], started: Instant) -> Result<Counted, String> {
    let mut out = Counted { per_partition: vec![0; share.len()], messages: 0, bytes: 0, errors: 0, first: None, last: None };
    if share.is_empty() {
        return Ok(out);
    }
    let consumer = consumer(args, k)?;
    let mut tpl = TopicPartitionList::new();
    for (t, p) in share {
        tpl.add_partition_offset(t, *p, Offset::Beginning).map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| format!("assign: {e}"))?;
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                let now = Instant::now();
                out.first.get_or_insert(now);
                out.last = Some(now);
                out.messages += 1;
                out.bytes += msg.payload_len() as u64;
                if let Some(i) = share.iter().position(|(t, p)| *p == msg.partition() && t == msg.topic()) {
                    out.per_partition[i] += 1;
                }
            }
            Some(Err(e)) => {
                out.errors += 1;
                if out.errors <= 10 {
                    eprintln!("count_topic: consumer {k}: error (librdkafka retries): {e}");
                }
            }
            None => {
                let done = match out.last {
                    Some(last) => last.elapsed() >= args.idle,
                    None => started.elapsed() >= args.first_wait,
                };
                if done {
                    return Ok(out);
                }
            }
        }
    }
}
