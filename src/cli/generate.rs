//! `vigil generate`: synthetic security traffic, deterministic for a seed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};

use std::io::IsTerminal;
use std::time::Duration;
use vigil::event::time;

use vigil::generate::{ground_truth, write_all, write_split, GenFormat, Generator, GeneratorConfig, Injection, DEFAULT_START_MS};
use vigil::io::kafka::{discover, ReliableProducer, TopicSource};

/// Write synthetic security traffic, the same bytes for the same options.
///
/// sshd/auth syslog, Apache access logs, Zeek conn records and Windows Security/Sysmon JSON,
/// with many users, hosts and addresses of skewed popularity, so benchmarks and demos need no
/// external data.
///
/// Examples:
///   vigil generate --events 1000000 --format syslog > auth.log
///   vigil generate --events 200000 --format windows --seed 7 --out windows.json
///   vigil generate --events 1000000 --format mixed --split-dir /tmp/traffic
///   vigil generate --format zeek-tsv --events 10000 | vigil normalize -
///   vigil generate --kafka localhost:9092 --topic logs --format mixed --inject --events 1000000
///   vigil generate --kafka localhost:9092 --topic logs.auth --realtime --rate 500 --events 10000000
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct GenerateArgs {
    /// Number of records to write.
    #[arg(short = 'n', long, default_value_t = 1_000_000)]
    events: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Traffic to write; `mixed` interleaves all four and needs --split-dir (one file per format).
    #[arg(short, long, value_enum, default_value = "syslog")]
    format: GenFormat,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE", conflicts_with = "split_dir")]
    out: Option<PathBuf>,
    /// Write one file per format into this directory (sshd.log, access.log, conn.log, windows.json).
    #[arg(long, value_name = "DIR")]
    split_dir: Option<PathBuf>,
    /// Event time of the first record (RFC 3339). Syslog lines carry no year: normalize them with
    /// --year of this date.
    #[arg(long, value_name = "TIME", value_parser = parse_start)]
    start: Option<i64>,
    /// Mean records per second of simulated event time.
    #[arg(long, default_value_t = 2_000.0)]
    rate: f64,
    /// Size of the entity populations (users, workstations, internet addresses).
    #[arg(long, default_value_t = 10_000)]
    entities: usize,
    /// Mix the attack scenarios (brute force, spraying, scans, Kerberoasting, lateral movement,
    /// LSASS access, a compromise chain...) into the traffic; their ground truth goes to stderr.
    #[arg(long)]
    inject: bool,
    /// Produce the records to Kafka (bootstrap servers) instead of writing files; records are
    /// spread round-robin over the topic's partitions.
    #[arg(long, value_name = "BROKERS", conflicts_with_all = ["out", "split_dir"], requires = "topic")]
    kafka: Option<String>,
    /// The topic to produce to; with --format mixed, a prefix: PREFIX.auth, PREFIX.web,
    /// PREFIX.zeek and PREFIX.windows (the default topology's topics for `--topic logs`).
    #[arg(long, value_name = "TOPIC")]
    topic: Option<String>,
    /// With --kafka: send at --rate records per second of wall-clock time, with event times
    /// starting now (a live feed for demos), instead of as fast as the broker takes them.
    #[arg(long, requires = "kafka")]
    realtime: bool,
}

fn parse_start(s: &str) -> Result<i64, String> {
    time::parse_iso8601(s.as_bytes()).ok_or_else(|| format!("invalid time {s:?}: expected RFC 3339, e.g. 2024-01-15T08:00:00Z"))
}

/// Runs the subcommand.
pub fn run(args: GenerateArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number of records per second");
    }
    if args.entities == 0 {
        bail!("--entities must be at least 1");
    }
    let realtime_start = if args.realtime { Some(time::now_ms()) } else { None };
    let cfg = GeneratorConfig {
        seed: args.seed,
        events: args.events,
        format: args.format,
        start_ms: args.start.or(realtime_start).unwrap_or(DEFAULT_START_MS),
        rate_per_sec: args.rate,
        entities: args.entities,
        injections: if args.inject { Injection::all() } else { Vec::new() },
    };
    let started = Instant::now();
    let (written, target) = if let (Some(brokers), Some(topic)) = (&args.kafka, &args.topic) {
        let n = produce(&cfg, brokers, topic, args.realtime, quiet)?;
        (n, format!("Kafka {brokers} topic {topic}{}", if args.format == GenFormat::Mixed { ".*" } else { "" }))
    } else if let Some(dir) = &args.split_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let files = write_split(&cfg, dir).with_context(|| format!("writing into {}", dir.display()))?;
        let total = files.iter().map(|(_, n)| n).sum();
        let names: Vec<String> = files.iter().map(|(p, n)| format!("{} ({n})", p.display())).collect();
        (total, names.join(", "))
    } else {
        if args.format == GenFormat::Mixed {
            bail!("--format mixed interleaves four formats that no single parser reads; use --split-dir DIR for one file per format");
        }
        match &args.out {
            Some(path) => {
                let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
                let n = write_all(&cfg, &mut w).and_then(|n| w.flush().map(|_| n)).with_context(|| format!("writing {}", path.display()))?;
                (n, path.display().to_string())
            }
            None => {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
                match write_all(&cfg, &mut w).and_then(|n| w.flush().map(|_| n)) {
                    Ok(n) => (n, "stdout".to_string()),
                    // A reader that stops early (`| head`) is not an error.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
                    Err(e) => return Err(e).context("writing stdout"),
                }
            }
        }
    };
    if !quiet {
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        eprintln!(
            "vigil generate: {written} records ({}, seed {}, from {}) to {target} in {secs:.2} s ({:.0} records/s)",
            args.format.name(),
            args.seed,
            time::to_iso8601(cfg.start_ms),
            written as f64 / secs
        );
        if args.inject {
            for a in ground_truth(&cfg) {
                eprintln!(
                    "  injected {:<24} {:<8} {:<40} {} .. {} ({} lines)",
                    a.kind,
                    a.format.name(),
                    a.entity,
                    time::to_iso8601(a.start_ms),
                    time::to_iso8601(a.end_ms),
                    a.lines
                );
            }
        }
        if matches!(args.format, GenFormat::Syslog | GenFormat::Mixed) {
            eprintln!("  syslog timestamps have no year: normalize with --year {}", cfg.year());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The topic of a record of format `f`.
fn topic_for(prefix: &str, mixed: bool, f: GenFormat) -> String {
    if !mixed {
        return prefix.to_string();
    }
    let suffix = match f {
        GenFormat::Syslog => "auth",
        GenFormat::Apache => "web",
        GenFormat::Windows => "windows",
        _ => "zeek",
    };
    format!("{prefix}.{suffix}")
}

/// Produces the generator's records to Kafka, round-robin over each topic's partitions.
fn produce(cfg: &GeneratorConfig, brokers: &str, prefix: &str, realtime: bool, quiet: bool) -> anyhow::Result<u64> {
    let mut client = rdkafka::ClientConfig::new();
    client.set("bootstrap.servers", brokers);
    let mixed = cfg.format == GenFormat::Mixed;
    let formats: Vec<GenFormat> = if mixed { vec![GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::Windows] } else { vec![cfg.format] };
    let mut topics: Vec<(GenFormat, String, i32, u64)> = Vec::new();
    for f in formats {
        let topic = topic_for(prefix, mixed, f);
        let source = TopicSource { source: topic.clone(), topic: topic.clone(), format: vigil::parse::Format::Json, overrides: Default::default() };
        let parts = discover(&client, &[source], &[], Duration::from_secs(10))?;
        topics.push((f, topic, parts.len().max(1) as i32, 0));
    }
    let mut producer = ReliableProducer::new(&client)?;
    let mut generator = Generator::new(cfg.clone());
    let mut line = Vec::with_capacity(4096);
    let started = Instant::now();
    let mut sent = 0u64;
    let progress = if quiet || !std::io::stderr().is_terminal() { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(cfg.events) };
    loop {
        line.clear();
        let Some(f) = generator.next_line(&mut line) else { break };
        let at = topics.iter().position(|t| t.0 == f).unwrap_or(0);
        let Some(entry) = topics.get_mut(at) else { break };
        let partition = (entry.3 % entry.2 as u64) as i32;
        entry.3 += 1;
        let payload = line.strip_suffix(b"\n").unwrap_or(&line);
        producer.send_to(&entry.1, partition, payload).with_context(|| format!("producing to {}", entry.1))?;
        sent += 1;
        if sent.is_multiple_of(4096) {
            producer.poll();
            progress.set_position(sent);
            if realtime {
                let due = Duration::from_secs_f64(sent as f64 / cfg.rate_per_sec);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).context("delivering the last records")?;
    progress.finish_and_clear();
    Ok(sent)
}
