//! `vigil generate`: deterministic, realistic mixed security traffic, so benchmarks and demos
//! need no external data.
//!
//! One seeded PCG generator (`Pcg64Mcg`, whose output is specified and the same on every
//! platform) drives every choice, entity names and addresses are pure functions of an entity
//! index, and the skewed picks use integer arithmetic only, so a configuration gives the same
//! bytes on every run and machine. Entities (users and their workstations, servers, internet addresses) are drawn
//! with a Zipf-like skew: a few are very busy and most are rare, as in real logs, which is what
//! keyed state and exchange balance need to be exercised with.
//!
//! The traffic is benign background. Attack scenarios are mixed in through [`Injection`]
//! ([`Injection::all`] for a demo), from attacker entities the background never uses, and
//! [`ground_truth`] lists exactly what was injected, so detections have a known signal against
//! realistic noise. For that reason the background avoids patterns that common rules flag (LSASS
//! read access, encoded PowerShell, root password guesses, downloads to /tmp, ...) and keeps the
//! per-entity counts the default rules (`topologies/rules`) correlate on bounded: a staff address
//! fails a password now and then, a user logs on over the network to at most three servers, a
//! web client's 404s go to a few stale links, and RC4 tickets are rare and for six accounts.
//!
//! The hot loop writes straight into the caller's buffer from constant tables with `itoa`: no
//! `format!` and no allocation per line.
//!
//! Files, in data order (what every line draws on, then the traffic kinds, then the attacks
//! mixed into them):
//!
//! - `world.rs`: the entity model (users, workstations, servers by role, internet addresses);
//! - `clock.rs`: simulated event time and its text forms;
//! - `write.rs`: the byte writers (numbers, addresses, GUIDs, user names);
//! - `tables.rs`: the constant tables the traffic is drawn from;
//! - `syslog.rs`, `apache.rs`, `zeek.rs` and `windows.rs`: one per traffic kind;
//! - `inject.rs`: the attack scenarios, their scheduling and their ground truth.

mod apache;
mod clock;
mod inject;
mod syslog;
mod tables;
mod windows;
mod world;
mod write;
mod zeek;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};

pub use inject::{ground_truth, Attack, InjectedAttack, Injection};

use crate::event::time;
use crate::parse::Format;
use clock::{put_zeek_stamp, Clock};
use inject::Scheduled;
use world::World;

/// Named for what it is used as; PCG rather than `rand`'s SmallRng, which differs by platform.
type SmallRng = rand_pcg::Pcg64Mcg;

/// Which traffic to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum GenFormat {
    /// BSD syslog auth log (sshd, PAM, sudo, cron) from many Linux servers.
    Syslog,
    /// Apache combined access log.
    Apache,
    /// Zeek conn.log as JSON lines.
    Zeek,
    /// Zeek conn.log as TSV, with its `#separator`/`#fields`/`#types` header.
    ZeekTsv,
    /// Windows Security and Sysmon events as flat JSON lines (NXLog/OTRF style).
    Windows,
    /// Syslog, Apache, Zeek JSON and Windows interleaved in one stream.
    Mixed,
}

/// The formats a [`GenFormat::Mixed`] stream interleaves, in [`write_split`]'s file order.
pub const MIXED_PARTS: [GenFormat; 4] = [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::Windows];

impl GenFormat {
    /// The lowercase name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            GenFormat::Syslog => "syslog",
            GenFormat::Apache => "apache",
            GenFormat::Zeek => "zeek",
            GenFormat::ZeekTsv => "zeek-tsv",
            GenFormat::Windows => "windows",
            GenFormat::Mixed => "mixed",
        }
    }

    /// The parser format that reads this output; `None` for `Mixed`, which needs one per line.
    pub fn parser_format(self) -> Option<Format> {
        match self {
            GenFormat::Syslog => Some(Format::Syslog),
            GenFormat::Apache => Some(Format::Apache),
            GenFormat::Zeek | GenFormat::ZeekTsv => Some(Format::Zeek),
            GenFormat::Windows => Some(Format::Json),
            GenFormat::Mixed => None,
        }
    }

    /// The file name [`write_split`] uses for this format.
    pub fn file_name(self) -> &'static str {
        match self {
            GenFormat::Syslog => "sshd.log",
            GenFormat::Apache => "access.log",
            GenFormat::Zeek | GenFormat::ZeekTsv => "conn.log",
            GenFormat::Windows => "windows.json",
            GenFormat::Mixed => "mixed.log",
        }
    }
}

/// 2024-01-15T08:00:00Z, a Monday morning: the default start of simulated time.
pub const DEFAULT_START_MS: i64 = 1_705_305_600_000;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    /// Seed of every random choice; the same configuration always gives the same bytes.
    pub seed: u64,
    /// Number of records to produce (Zeek TSV's `#` header and `#close` lines are extra).
    pub events: u64,
    /// Which traffic to produce.
    pub format: GenFormat,
    /// Event time of the first record, in ms since the epoch (also gives syslog's implied year).
    pub start_ms: i64,
    /// Mean records per second of simulated event time.
    pub rate_per_sec: f64,
    /// Scale of the entity populations: users (and their workstations) and internet addresses.
    pub entities: usize,
    /// Attack scenarios mixed into the background (see [`Injection`]).
    pub injections: Vec<Injection>,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 1,
            events: 1_000_000,
            format: GenFormat::Mixed,
            start_ms: DEFAULT_START_MS,
            rate_per_sec: 2_000.0,
            entities: 10_000,
            injections: Vec::new(),
        }
    }
}

impl GeneratorConfig {
    /// The calendar year of `start_ms`: the year to parse the generated syslog with (syslog
    /// timestamps carry none). A run whose simulated time crosses New Year needs year inference.
    pub fn year(&self) -> i32 {
        time::civil_from_days(self.start_ms.div_euclid(time::MS_PER_DAY)).0 as i32
    }
}

/// Produces the configured traffic one line at a time.
pub struct Generator {
    format: GenFormat,
    events: u64,
    scheduled: Vec<Scheduled>,
    /// Earliest due time of a pending injected line (`i64::MAX` when none is pending).
    next_due_us: i64,
    emitted: u64,
    rng: SmallRng,
    clock: Clock,
    world: World,
    sha256: Vec<[u8; 64]>,
}

impl Generator {
    /// Creates a generator; a non-positive or non-finite rate falls back to the default.
    pub fn new(cfg: GeneratorConfig) -> Self {
        let rate = if cfg.rate_per_sec.is_finite() && cfg.rate_per_sec > 0.0 { cfg.rate_per_sec } else { 2_000.0 };
        let scheduled = Generator::schedule(&cfg);
        let next_due_us = scheduled.iter().map(|s| s.due_us).min().unwrap_or(i64::MAX);
        Generator {
            format: cfg.format,
            events: cfg.events,
            scheduled,
            next_due_us,
            emitted: 0,
            rng: SmallRng::seed_from_u64(cfg.seed),
            clock: Clock::new(cfg.start_ms, rate),
            world: World::new(cfg.entities.max(1) as u64),
            sha256: windows::image_hashes(),
        }
    }

    /// Records produced so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Appends the next record and its `\n` to `out` and returns its format (never `Mixed`);
    /// `None` when done. For Zeek TSV the first call also appends the header, and the last the
    /// `#close` line, as Zeek writes them.
    pub fn next_line(&mut self, out: &mut Vec<u8>) -> Option<GenFormat> {
        if self.emitted >= self.events {
            return None;
        }
        if self.emitted == 0 && self.format == GenFormat::ZeekTsv {
            self.zeek_tsv_header(out);
        }
        self.clock.tick(&mut self.rng);
        let format = match self.inject(out) {
            Some(format) => format,
            None => {
                let format = match self.format {
                    GenFormat::Mixed => match self.rng.gen_range(0..100u32) {
                        0..=19 => GenFormat::Syslog,
                        20..=49 => GenFormat::Apache,
                        50..=84 => GenFormat::Zeek,
                        _ => GenFormat::Windows,
                    },
                    single => single,
                };
                match format {
                    GenFormat::Syslog => self.syslog(out),
                    GenFormat::Apache => self.apache(out),
                    GenFormat::Zeek => {
                        let conn = self.conn();
                        self.conn_json(&conn, out);
                    }
                    GenFormat::ZeekTsv => {
                        let conn = self.conn();
                        self.conn_tsv(&conn, out);
                    }
                    GenFormat::Windows => self.windows(out),
                    GenFormat::Mixed => unreachable!("Mixed resolves to one format per line"),
                }
                format
            }
        };
        out.push(b'\n');
        self.emitted += 1;
        if self.emitted == self.events && self.format == GenFormat::ZeekTsv {
            out.extend_from_slice(b"#close\t");
            put_zeek_stamp(out, self.clock.now_us.div_euclid(1000));
            out.push(b'\n');
        }
        Some(format)
    }

    /// A random ephemeral port.
    fn port(&mut self) -> u64 {
        self.rng.gen_range(1024..65535)
    }
}

/// Writes `cfg`'s whole stream to `w`; returns the number of records written.
pub fn write_all(cfg: &GeneratorConfig, w: &mut impl Write) -> io::Result<u64> {
    let mut generator = Generator::new(cfg.clone());
    let mut buf = Vec::with_capacity(1 << 17);
    let mut records = 0;
    while generator.next_line(&mut buf).is_some() {
        records += 1;
        if buf.len() >= 1 << 16 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    w.flush()?;
    Ok(records)
}

/// Writes `cfg`'s stream into `dir` (created if missing), one valid file per format: for `Mixed`
/// `sshd.log`, `access.log`, `conn.log` (Zeek JSON) and `windows.json`, else the one file of
/// [`GenFormat::file_name`]. Returns each file with its record count, every file listed even
/// when empty.
pub fn write_split(cfg: &GeneratorConfig, dir: &Path) -> io::Result<Vec<(PathBuf, u64)>> {
    std::fs::create_dir_all(dir)?;
    let formats: Vec<GenFormat> = match cfg.format {
        GenFormat::Mixed => MIXED_PARTS.to_vec(),
        single => vec![single],
    };
    let mut files = Vec::with_capacity(formats.len());
    for format in &formats {
        let path = dir.join(format.file_name());
        let writer = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        files.push((path, writer, 0u64));
    }
    let mut generator = Generator::new(cfg.clone());
    let mut line = Vec::with_capacity(1024);
    while let Some(format) = generator.next_line(&mut line) {
        // Every format next_line returns is one of `formats` (Mixed yields only its parts).
        let slot = formats.iter().position(|f| *f == format).unwrap_or(0);
        let (_, writer, count) = &mut files[slot];
        writer.write_all(&line)?;
        *count += 1;
        line.clear();
    }
    let mut written = Vec::with_capacity(files.len());
    for (path, mut writer, count) in files {
        writer.flush()?;
        written.push((path, count));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::parse::{new_parser, Outcome, ParseOptions};
    use std::collections::HashSet;

    // cfg, generate and lines are shared with the tests of the files below.

    /// A default configuration of `format` with `events` records from `seed`.
    pub(super) fn cfg(format: GenFormat, events: u64, seed: u64) -> GeneratorConfig {
        GeneratorConfig { seed, events, format, ..GeneratorConfig::default() }
    }

    /// `cfg`'s whole stream, checking its record count.
    pub(super) fn generate(cfg: &GeneratorConfig) -> Vec<u8> {
        let mut out = Vec::new();
        let n = write_all(cfg, &mut out).unwrap();
        assert_eq!(n, cfg.events);
        out
    }

    /// The non-empty lines of `bytes`.
    pub(super) fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
        bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
    }

    fn opts(cfg: &GeneratorConfig) -> ParseOptions {
        ParseOptions { year: Some(cfg.year()), ..ParseOptions::default() }
    }

    /// Parses every line with the format's parser: (events, errors with their first examples).
    fn parse_all(format: GenFormat, cfg: &GeneratorConfig, bytes: &[u8]) -> (Vec<Event>, usize, Vec<String>) {
        let mut parser = new_parser(format.parser_format().unwrap(), &opts(cfg));
        let mut events = Vec::new();
        let mut errors = 0;
        let mut examples = Vec::new();
        for line in lines(bytes) {
            match parser.parse(line, &mut events) {
                Ok(Outcome::Events(n)) => assert_eq!(n, 1, "{}", String::from_utf8_lossy(line)),
                Ok(Outcome::Skipped) => assert!(line.starts_with(b"#"), "skipped a record: {}", String::from_utf8_lossy(line)),
                Err(e) => {
                    errors += 1;
                    if examples.len() < 3 {
                        examples.push(format!("{e}: {}", String::from_utf8_lossy(line)));
                    }
                }
            }
        }
        (events, errors, examples)
    }

    fn check_parses(format: GenFormat) {
        let cfg = cfg(format, 20_000, 7);
        let bytes = generate(&cfg);
        let (events, errors, examples) = parse_all(format, &cfg, &bytes);
        assert_eq!(errors, 0, "{format:?}: {examples:#?}");
        assert_eq!(events.len() as u64, cfg.events);
        let end = cfg.start_ms + (cfg.events as f64 / cfg.rate_per_sec * 1000.0 * 1.1) as i64;
        let mut last = i64::MIN;
        for ev in &events {
            assert!(ev.ts >= cfg.start_ms && ev.ts <= end, "{format:?}: ts {} outside [{}, {end}]", ev.ts, cfg.start_ms);
            assert!(ev.ts >= last, "{format:?}: ts went back from {last} to {}", ev.ts);
            last = ev.ts;
        }
    }

    #[test]
    fn each_format_parses() {
        for format in [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::ZeekTsv, GenFormat::Windows] {
            check_parses(format);
        }
    }

    #[test]
    fn mixed_split_files_parse() {
        let cfg = cfg(GenFormat::Mixed, 20_000, 11);
        let dir = tempfile::tempdir().unwrap();
        let files = write_split(&cfg, dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["sshd.log", "access.log", "conn.log", "windows.json"]);
        assert_eq!(files.iter().map(|(_, n)| n).sum::<u64>(), cfg.events);
        for ((path, count), format) in files.iter().zip(MIXED_PARTS) {
            assert!(*count > cfg.events / 10, "{path:?} has only {count}");
            let bytes = std::fs::read(path).unwrap();
            assert_eq!(lines(&bytes).count() as u64, *count);
            let (events, errors, examples) = parse_all(format, &cfg, &bytes);
            assert_eq!(errors, 0, "{path:?}: {examples:#?}");
            assert_eq!(events.len() as u64, *count);
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        for format in [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::ZeekTsv, GenFormat::Windows, GenFormat::Mixed] {
            let a = generate(&cfg(format, 3_000, 42));
            let b = generate(&cfg(format, 3_000, 42));
            let c = generate(&cfg(format, 3_000, 43));
            assert!(a == b, "{format:?} is not deterministic");
            assert!(a != c, "{format:?} ignores the seed");
        }
        // The line API and write_all agree, and a Mixed stream names each line's format.
        let config = cfg(GenFormat::Mixed, 2_000, 42);
        let mut generator = Generator::new(config.clone());
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        while let Some(format) = generator.next_line(&mut out) {
            assert!(MIXED_PARTS.contains(&format));
            seen.insert(format);
        }
        assert_eq!(seen.len(), 4);
        assert_eq!(generator.emitted(), 2_000);
        assert!(out == generate(&config));
    }

    #[test]
    fn zero_events_is_empty() {
        assert!(generate(&cfg(GenFormat::ZeekTsv, 0, 1)).is_empty());
        assert!(generate(&cfg(GenFormat::Mixed, 0, 1)).is_empty());
    }

    /// Event time of a generated line, read without vigil's parsers.
    fn line_ts(format: GenFormat, line: &[u8], year: i32) -> Option<i64> {
        let text = std::str::from_utf8(line).ok()?;
        match format {
            GenFormat::Syslog => {
                let month = time::month_from_abbrev(&line[..3])?;
                let day: u32 = text[4..6].trim().parse().ok()?;
                let (h, m, s) = (time::digits(line, 7, 2)?, time::digits(line, 10, 2)?, time::digits(line, 13, 2)?);
                time::from_civil(year as i64, month, day, h, m, s, 0)
            }
            GenFormat::Apache => time::parse_clf(&line[text.find('[')? + 1..text.find(']')?]),
            GenFormat::Zeek => time::parse_epoch_seconds(&line[6..text.find(',')?]),
            GenFormat::ZeekTsv => time::parse_epoch_seconds(&line[..text.find('\t')?]),
            GenFormat::Windows => time::parse_iso8601(&line[15..39]),
            GenFormat::Mixed => None,
        }
    }

    #[test]
    fn timestamps_are_non_decreasing() {
        for format in [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::ZeekTsv, GenFormat::Windows] {
            let config = GeneratorConfig { rate_per_sec: 500.0, ..cfg(format, 10_000, 9) };
            let bytes = generate(&config);
            let mut last = i64::MIN;
            let mut first = None;
            for line in lines(&bytes).filter(|l| !l.starts_with(b"#")) {
                let ts = line_ts(format, line, config.year()).unwrap_or_else(|| panic!("{format:?}: {}", String::from_utf8_lossy(line)));
                assert!(ts >= last, "{format:?}: {ts} after {last}");
                first.get_or_insert(ts);
                last = ts;
            }
            assert_eq!(first, Some(config.start_ms));
            // 10,000 records at 500/s span about 20 s of event time.
            let span = last - config.start_ms;
            assert!((18_000..=22_000).contains(&span), "{format:?}: span {span} ms");
        }
    }

    #[test]
    fn sniffing_recognizes_each_format() {
        for format in [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::ZeekTsv, GenFormat::Windows] {
            let bytes = generate(&cfg(format, 50, 4));
            assert_eq!(crate::parse::sniff(&bytes), format.parser_format(), "{format:?}");
        }
    }

    #[test]
    fn default_start_is_monday_morning_2024() {
        assert_eq!(GeneratorConfig::default().year(), 2024);
        assert_eq!(time::from_civil(2024, 1, 15, 8, 0, 0, 0), Some(DEFAULT_START_MS));
    }

    /// Prints generator throughput (`cargo test --release --lib generate::tests::throughput -- --ignored --nocapture`).
    #[test]
    #[ignore = "timing"]
    fn throughput() {
        for format in [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::ZeekTsv, GenFormat::Windows, GenFormat::Mixed] {
            let mut generator = Generator::new(cfg(format, 2_000_000, 1));
            let mut buf = Vec::with_capacity(1 << 20);
            let start = std::time::Instant::now();
            let (mut lines, mut bytes) = (0u64, 0u64);
            while generator.next_line(&mut buf).is_some() {
                lines += 1;
                if buf.len() > 1 << 19 {
                    bytes += buf.len() as u64;
                    buf.clear();
                }
            }
            bytes += buf.len() as u64;
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "{:>8}: {:>6.2} M lines/s, {:>5.0} MB/s, {:>3} B/line",
                format.name(),
                lines as f64 / secs / 1e6,
                bytes as f64 / secs / 1e6,
                bytes / lines
            );
        }
    }
}
