//! Parsers: one module per input format, each turning one record (a line) into normalized events
//! with ECS field names.
//!
//! A parser is stateful per partition (the syslog year, the Zeek `#fields` header), so each input
//! gets its own instance. Parsers never panic on bad input: a record that cannot be parsed is an
//! error value that the caller counts and writes to the dead-letter output.

pub mod apache;
pub mod json;
pub mod syslog;
pub mod zeek;

use std::fmt;

use crate::event::Event;

/// Longest record accepted; longer ones go to the dead-letter output (reason `too-long`).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// The input formats vigil parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// BSD syslog (RFC 3164) with sshd, PAM, sudo, su, cron, ftpd and klogind messages.
    Syslog,
    /// Apache/nginx combined (or common) access log.
    Apache,
    /// Zeek logs, TSV with `#fields` header or JSON lines (conn.log mapped to ECS).
    Zeek,
    /// JSON lines of any shape (Windows, Cowrie, application, ECS).
    Json,
}

impl Format {
    /// The lowercase name used on the command line and in topologies.
    pub fn name(self) -> &'static str {
        match self {
            Format::Syslog => "syslog",
            Format::Apache => "apache",
            Format::Zeek => "zeek",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings that shape parsing, shared by all partitions of a run.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Year for year-less syslog timestamps; `None` infers it from `now_ms`.
    pub year: Option<i32>,
    /// "Now", used only to infer a missing syslog year (injected so tests are reproducible).
    pub now_ms: i64,
    /// Extra JSON field to read the event time from, tried before the defaults.
    pub time_field: Option<String>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { year: None, now_ms: crate::event::time::now_ms(), time_field: None }
    }
}

/// Why a record could not become an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct ParseError {
    /// A short, stable reason code (used in dead-letter output and metrics).
    pub kind: ErrorKind,
    /// What exactly was wrong, for a human.
    pub detail: String,
}

impl ParseError {
    /// Builds an error.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        ParseError { kind, detail: detail.into() }
    }
}

/// Stable reason codes for unparsable records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The record does not have the shape of its format.
    Malformed,
    /// The timestamp is missing or cannot be read.
    BadTimestamp,
    /// The record is longer than [`MAX_RECORD_BYTES`].
    TooLong,
    /// A Zeek TSV record arrived before any `#fields` header.
    NoHeader,
    /// The record is not valid JSON.
    BadJson,
}

impl ErrorKind {
    /// The reason code as written in dead-letter records.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::BadTimestamp => "bad-timestamp",
            ErrorKind::TooLong => "too-long",
            ErrorKind::NoHeader => "no-header",
            ErrorKind::BadJson => "bad-json",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What one call to [`RecordParser::parse`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The record became this many events (at least one), appended to the output.
    Events(usize),
    /// The line was not a record: blank, a comment, or a header that changed parser state.
    Skipped,
}

/// Turns records of one format into events; one instance per partition.
pub trait RecordParser: Send {
    /// Parses one record (without its line terminator), appending its events to `out`.
    /// Sets each event's `ts` and fields; the caller sets `origin`.
    fn parse(&mut self, record: &[u8], out: &mut Vec<Event>) -> Result<Outcome, ParseError>;

    /// Whether what a record gives depends on the records before it (a header, an inferred
    /// year): a restart that skips records must then feed them through the parser first.
    fn carries_state(&self) -> bool {
        false
    }

    /// The state [`RecordParser::carries_state`] speaks of, for a checkpoint of a source that
    /// cannot read its records again to rebuild it (Kafka); empty when there is none.
    fn save_state(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Restores what [`RecordParser::save_state`] saved.
    fn restore_state(&mut self, _state: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// Creates a parser for `format`.
pub fn new_parser(format: Format, opts: &ParseOptions) -> Box<dyn RecordParser> {
    match format {
        Format::Syslog => Box::new(syslog::SyslogParser::new(opts)),
        Format::Apache => Box::new(apache::ApacheParser::new(opts)),
        Format::Zeek => Box::new(zeek::ZeekParser::new(opts)),
        Format::Json => Box::new(json::JsonParser::new(opts)),
    }
}

/// Guesses the format of an input from its first lines; `None` when nothing fits.
pub fn sniff(sample: &[u8]) -> Option<Format> {
    let mut votes = [0usize; 4];
    for line in sample.split(|&b| b == b'\n').take(20) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let trimmed = line.trim_ascii_start();
        if trimmed.is_empty() {
            continue;
        }
        let vote = if trimmed.starts_with(b"#separator") || trimmed.starts_with(b"#fields") || trimmed.starts_with(b"#path") {
            Some(Format::Zeek)
        } else if trimmed.starts_with(b"#") {
            None
        } else if trimmed.starts_with(b"{") {
            if zeek::looks_like_zeek_json(trimmed) {
                Some(Format::Zeek)
            } else {
                Some(Format::Json)
            }
        } else if apache::looks_like_access_log(trimmed) {
            Some(Format::Apache)
        } else if syslog::looks_like_syslog(trimmed) {
            Some(Format::Syslog)
        } else {
            None
        };
        if let Some(f) = vote {
            votes[f as usize] += 1;
            // A Zeek header settles it: the data lines below it would vote "unknown".
            if f == Format::Zeek && trimmed.starts_with(b"#") {
                return Some(Format::Zeek);
            }
        }
    }
    let (best, count) = votes.iter().enumerate().max_by_key(|(_, c)| **c)?;
    if *count == 0 {
        return None;
    }
    Some([Format::Syslog, Format::Apache, Format::Zeek, Format::Json][best])
}

/// Text of a byte string: borrowed when valid UTF-8, else with invalid sequences replaced.
pub fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
