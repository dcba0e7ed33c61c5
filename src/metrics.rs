//! Run counters shared by the workers of one process, read by the progress display and summary.
//! Workers add per batch, never per event. [`prometheus`] holds the Prometheus families that
//! `vigil run` exposes over HTTP.

pub mod prometheus;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::parse::ErrorKind;

/// Counters for one input (partition).
#[derive(Debug, Default)]
pub struct InputStats {
    /// Lines read (records plus skipped lines).
    pub lines: AtomicU64,
    /// Events produced (a record may expand to several).
    pub events: AtomicU64,
    /// Records that could not be parsed or were too long.
    pub errors: AtomicU64,
    /// Events that arrived behind their partition's watermark.
    pub late: AtomicU64,
    /// Blank, comment and header lines.
    pub skipped: AtomicU64,
    /// Bytes read.
    pub bytes: AtomicU64,
    /// Unparsable records by reason (indexed like [`ERROR_KINDS`]).
    pub errors_by_kind: [AtomicU64; 5],
    /// The partition's watermark in ms since the epoch (0 before the first event).
    pub watermark_ms: std::sync::atomic::AtomicI64,
    /// Next offset to read (Kafka; 0 before the first record), for the consumer-lag gauge.
    pub position: std::sync::atomic::AtomicI64,
    /// Records a resumed partition could not read again: the broker no longer held them
    /// (retention); lost, and said.
    pub lost: AtomicU64,
}

/// Counters for a whole run in this process.
#[derive(Debug)]
pub struct RunStats {
    /// Per input, indexed by partition (only the inputs this process reads move).
    pub inputs: Vec<(String, InputStats)>,
    /// Errors by reason.
    pub errors_by_kind: [AtomicU64; 5],
    /// Events written by this process's sink.
    pub written: AtomicU64,
    /// Dead letters written by this process's sink.
    pub dead_letters: AtomicU64,
    /// Dead letters derived again after a resume and not sent: the run before had delivered them.
    pub dead_letters_already_delivered: AtomicU64,
    /// Problems that make the run incomplete (an unreadable input, a failed output).
    pub fatal: AtomicU64,
    /// First error messages (input:line: reason), kept for the summary.
    pub samples: Mutex<Vec<String>>,
}

/// How many error examples the summary keeps.
pub const MAX_SAMPLES: usize = 10;

/// The index of an error kind in [`ERROR_KINDS`].
pub fn kind_index(kind: ErrorKind) -> usize {
    match kind {
        ErrorKind::Malformed => 0,
        ErrorKind::BadTimestamp => 1,
        ErrorKind::TooLong => 2,
        ErrorKind::NoHeader => 3,
        ErrorKind::BadJson => 4,
    }
}

/// All error kinds in report order.
pub const ERROR_KINDS: [ErrorKind; 5] = [ErrorKind::Malformed, ErrorKind::BadTimestamp, ErrorKind::TooLong, ErrorKind::NoHeader, ErrorKind::BadJson];

impl RunStats {
    /// Counters for the named inputs, in partition order.
    pub fn new(input_names: Vec<String>) -> Self {
        RunStats {
            inputs: input_names.into_iter().map(|n| (n, InputStats::default())).collect(),
            errors_by_kind: Default::default(),
            written: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            dead_letters_already_delivered: AtomicU64::new(0),
            fatal: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
        }
    }

    /// Counts one error of `kind`, keeping the first few messages.
    pub fn error(&self, kind: ErrorKind, message: impl FnOnce() -> String) {
        self.errors_by_kind[kind_index(kind)].fetch_add(1, Relaxed);
        self.sample(message);
    }

    /// Keeps a message for the summary if fewer than [`MAX_SAMPLES`] are kept.
    pub fn sample(&self, message: impl FnOnce() -> String) {
        if let Ok(mut samples) = self.samples.lock() {
            if samples.len() < MAX_SAMPLES {
                let m = message();
                tracing::warn!("{m}");
                samples.push(m);
            }
        }
    }

    /// Records a problem that makes the run incomplete.
    pub fn fatal(&self, message: impl FnOnce() -> String) {
        self.fatal.fetch_add(1, Relaxed);
        let m = message();
        tracing::error!("{m}");
        if let Ok(mut samples) = self.samples.lock() {
            samples.push(m);
        }
    }

    /// Errors of one kind so far.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors_by_kind[kind_index(kind)].load(Relaxed)
    }

    /// Sum of a per-input counter.
    pub fn total(&self, pick: impl Fn(&InputStats) -> &AtomicU64) -> u64 {
        self.inputs.iter().map(|(_, s)| pick(s).load(Relaxed)).sum()
    }
}
