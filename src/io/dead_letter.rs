//! Records that did not make it into the stream: unparsable, too long, or late.
//! Each keeps its input, line and reason so an analyst can find and fix the source.

use serde::{Deserialize, Serialize};

/// Longest raw text kept in a dead letter; the rest is cut (the length is in `detail`).
pub const MAX_RAW_BYTES: usize = 64 * 1024;

/// One record that did not become an on-time event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Reason code: `malformed`, `bad-timestamp`, `bad-json`, `no-header`, `too-long`, `late`.
    pub reason: String,
    /// Human-readable explanation.
    pub detail: String,
    /// The input (file path) it came from.
    pub input: String,
    /// Global partition index of the input.
    pub partition: u32,
    /// Line number within the input, from 1.
    pub line: u64,
    /// The record's text (lossy UTF-8, cut at [`MAX_RAW_BYTES`]).
    pub record: String,
}

impl DeadLetter {
    /// Builds a dead letter, cutting the raw text to a bounded size.
    pub fn new(reason: &str, detail: String, input: &str, partition: u32, line: u64, raw: &[u8]) -> Self {
        let cut = &raw[..raw.len().min(MAX_RAW_BYTES)];
        DeadLetter { reason: reason.to_string(), detail, input: input.to_string(), partition, line, record: String::from_utf8_lossy(cut).into_owned() }
    }

    /// The order in which dead letters are written: by input, then line.
    pub fn order_key(&self) -> (u32, u64) {
        (self.partition, self.line)
    }

    /// One JSON line (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
