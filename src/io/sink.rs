//! Output: events encoded as ECS JSON lines on the worker that owns them, then merged in
//! (event time, origin) order and written by one worker per process.

use std::collections::BinaryHeap;
use std::cmp::Reverse;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::ecs::EcsWriter;
use crate::event::{Event, Origin};

/// A sorted run of encoded events: one buffer of JSON lines plus each line's order key and end.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EncodedChunk {
    /// Concatenated JSON lines, each ending in `\n`.
    pub data: Vec<u8>,
    /// Per line: event time, origin, and the end offset of the line in `data`.
    pub index: Vec<(i64, Origin, u32)>,
}

impl EncodedChunk {
    /// Encodes a batch of events that is already in order.
    pub fn encode(events: &[Event], writer: &mut EcsWriter) -> Self {
        let mut chunk = EncodedChunk { data: Vec::with_capacity(events.len() * 320), index: Vec::with_capacity(events.len()) };
        for ev in events {
            writer.write_event(ev, &mut chunk.data);
            chunk.data.push(b'\n');
            chunk.index.push((ev.ts, ev.origin, chunk.data.len() as u32));
        }
        chunk
    }
}

/// Where a process writes its output.
#[derive(Clone, Debug)]
pub enum OutputTarget {
    /// Standard output.
    Stdout,
    /// A file (created or truncated).
    File(PathBuf),
    /// Nowhere (counting only, for benchmarks).
    Discard,
}

impl OutputTarget {
    /// From a command-line value: none or `-` is stdout; `{process}` is replaced by the process index.
    pub fn from_arg(arg: Option<&Path>, process: usize) -> Self {
        match arg {
            None => OutputTarget::Stdout,
            Some(p) if p.as_os_str() == "-" => OutputTarget::Stdout,
            Some(p) => OutputTarget::File(PathBuf::from(p.to_string_lossy().replace("{process}", &process.to_string()))),
        }
    }

    /// Opens the target for buffered writing.
    pub fn open(&self) -> io::Result<Box<dyn Write>> {
        Ok(match self {
            OutputTarget::Stdout => Box::new(BufWriter::with_capacity(1 << 20, io::stdout())),
            OutputTarget::File(p) => Box::new(BufWriter::with_capacity(1 << 20, File::create(p)?)),
            OutputTarget::Discard => Box::new(io::sink()),
        })
    }
}

/// Merges sorted chunks from several workers and writes every line whose event time the
/// frontier has passed, in (event time, origin) order.
#[derive(Default)]
pub struct OrderedMerger {
    chunks: Vec<(EncodedChunk, usize, usize)>,
}

impl OrderedMerger {
    /// Adds a sorted chunk.
    pub fn push(&mut self, chunk: EncodedChunk) {
        if !chunk.index.is_empty() {
            self.chunks.push((chunk, 0, 0));
        }
    }

    /// Lines waiting.
    pub fn pending(&self) -> usize {
        self.chunks.iter().map(|(c, pos, _)| c.index.len() - pos).sum()
    }

    /// Writes all lines with `ready(ts)` true, in order; returns how many were written.
    pub fn drain_ready(&mut self, ready: impl Fn(i64) -> bool, out: &mut dyn Write) -> io::Result<u64> {
        let mut written = 0u64;
        if self.chunks.len() == 1 {
            // One sorted run: write its ready prefix in one go.
            let (chunk, pos, start) = &mut self.chunks[0];
            let upto = *pos + chunk.index[*pos..].partition_point(|(ts, _, _)| ready(*ts));
            if upto > *pos {
                let end = chunk.index[upto - 1].2 as usize;
                out.write_all(&chunk.data[*start..end])?;
                written = (upto - *pos) as u64;
                *pos = upto;
                *start = end;
            }
        } else {
            let mut heap = BinaryHeap::new();
            for (i, (chunk, pos, _)) in self.chunks.iter().enumerate() {
                if let Some((ts, origin, _)) = chunk.index.get(*pos) {
                    if ready(*ts) {
                        heap.push(Reverse(((*ts, *origin), i)));
                    }
                }
            }
            while let Some(Reverse((_, i))) = heap.pop() {
                let (chunk, pos, start) = &mut self.chunks[i];
                let end = chunk.index[*pos].2 as usize;
                out.write_all(&chunk.data[*start..end])?;
                written += 1;
                *pos += 1;
                *start = end;
                if let Some((ts, origin, _)) = chunk.index.get(*pos) {
                    if ready(*ts) {
                        heap.push(Reverse(((*ts, *origin), i)));
                    }
                }
            }
        }
        self.chunks.retain(|(c, pos, _)| *pos < c.index.len());
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, partition: u32) -> Event {
        let mut e = Event::at(ts);
        e.origin = Origin { partition, record: ts as u64, sub: 0 };
        e
    }

    #[test]
    fn merges_runs_in_order_and_keeps_the_rest() {
        let mut w = EcsWriter::new();
        let mut m = OrderedMerger::default();
        m.push(EncodedChunk::encode(&[ev(1, 0), ev(4, 0), ev(9, 0)], &mut w));
        m.push(EncodedChunk::encode(&[ev(2, 1), ev(4, 1)], &mut w));
        let mut out = Vec::new();
        assert_eq!(m.drain_ready(|ts| ts < 5, &mut out).unwrap(), 4);
        let text = String::from_utf8(out).unwrap();
        let times: Vec<&str> = text.lines().map(|l| &l[15..39]).collect();
        assert_eq!(times, ["1970-01-01T00:00:00.001Z", "1970-01-01T00:00:00.002Z", "1970-01-01T00:00:00.004Z", "1970-01-01T00:00:00.004Z"]);
        assert_eq!(m.pending(), 1);
        let mut rest = Vec::new();
        assert_eq!(m.drain_ready(|_| true, &mut rest).unwrap(), 1);
        assert_eq!(m.pending(), 0);
    }
}
