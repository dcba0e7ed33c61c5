//! Output: events encoded as ECS JSON lines on the worker that owns them, then merged in
//! (event time, origin) order and written by one worker per process.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::ecs::EcsWriter;
use crate::event::{Event, Origin};

/// A sorted run of encoded events: one buffer of JSON lines plus each line's order key and end.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EncodedChunk {
    /// The worker that encoded it (its chunks form one sorted run).
    pub worker: u32,
    /// Concatenated JSON lines, each ending in `\n`.
    pub data: Vec<u8>,
    /// Per line: event time, origin, and the end offset of the line in `data`.
    pub index: Vec<(i64, Origin, u32)>,
}

impl EncodedChunk {
    /// Encodes a batch of events that is already in order.
    pub fn encode(events: &[Event], writer: &mut EcsWriter) -> Self {
        let mut chunk = EncodedChunk { worker: 0, data: Vec::with_capacity(events.len() * 320), index: Vec::with_capacity(events.len()) };
        for ev in events {
            writer.write_event(ev, &mut chunk.data);
            chunk.data.push(b'\n');
            chunk.index.push((ev.ts, ev.origin, chunk.data.len() as u32));
        }
        chunk
    }
}

/// One event already encoded as an ECS JSON line, with what ordering and routing need. Encoding
/// happens on the worker that parsed the event, so only these compact records cross workers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EncodedEvent {
    /// Event time.
    pub ts: i64,
    /// Where the record came from.
    pub origin: Origin,
    /// Routing hash of the event's entity.
    pub route: u64,
    /// The JSON line, newline included.
    pub json: Box<[u8]>,
}

impl crate::event::Timed for EncodedEvent {
    fn ts(&self) -> i64 {
        self.ts
    }
    fn order_key(&self) -> (i64, Origin) {
        (self.ts, self.origin)
    }
}

impl EncodedChunk {
    /// Concatenates encoded events that are already in order.
    pub fn from_encoded(events: &[EncodedEvent], worker: u32) -> Self {
        let bytes = events.iter().map(|e| e.json.len()).sum();
        let mut chunk = EncodedChunk { worker, data: Vec::with_capacity(bytes), index: Vec::with_capacity(events.len()) };
        for e in events {
            chunk.data.extend_from_slice(&e.json);
            chunk.index.push((e.ts, e.origin, chunk.data.len() as u32));
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

/// An output opened on first use by the worker that writes it. A failure to open or write is
/// recorded once as fatal (the run ends with a non-zero status) and stops the sources, except a
/// closed pipe (`| head`), which just ends the output quietly.
pub struct LazyOutput {
    target: OutputTarget,
    out: Option<Box<dyn Write>>,
    /// The file, for a file target (flushed and synced at checkpoints).
    file: Option<BufWriter<File>>,
    failed: bool,
    /// Bytes written since the start of the file (counting what a resumed file already held).
    written: u64,
    /// Resume a checkpointed file: cut it to this length and append.
    resume_at: Option<u64>,
}

impl LazyOutput {
    /// An output not opened yet.
    pub fn new(target: OutputTarget) -> Self {
        LazyOutput { target, out: None, file: None, failed: false, written: 0, resume_at: None }
    }

    /// Resumes a file from a checkpoint: when opened, it is cut to `len` bytes (what had been
    /// written when the checkpoint was taken) and written after that.
    pub fn resume_at(&mut self, len: u64) {
        self.resume_at = Some(len);
    }

    fn open_target(&mut self) -> io::Result<()> {
        match (&self.target, self.resume_at) {
            (OutputTarget::File(p), resume) => {
                let file = match resume {
                    None => File::create(p)?,
                    Some(len) => {
                        let mut f = std::fs::OpenOptions::new().write(true).open(p)?;
                        let have = f.metadata()?.len();
                        if have < len {
                            return Err(io::Error::other(format!(
                                "it holds {have} bytes, fewer than the {len} the checkpoint recorded: it was changed since, so resuming would lose output"
                            )));
                        }
                        f.set_len(len)?;
                        io::Seek::seek(&mut f, io::SeekFrom::Start(len))?;
                        self.written = len;
                        f
                    }
                };
                self.file = Some(BufWriter::with_capacity(1 << 20, file));
            }
            (target, _) => self.out = Some(target.open()?),
        }
        Ok(())
    }

    /// The writer, opening it on first use; `None` once it failed.
    pub fn writer(&mut self, stats: &crate::metrics::RunStats, cancel: &std::sync::atomic::AtomicBool) -> Option<&mut dyn Write> {
        if self.out.is_none() && self.file.is_none() && !self.failed {
            if let Err(e) = self.open_target() {
                self.failed = true;
                stats.fatal(|| format!("cannot open the output {:?}: {e}", self.target));
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.current()
    }

    fn current(&mut self) -> Option<&mut dyn Write> {
        match (&mut self.file, &mut self.out) {
            (Some(f), _) => Some(f as &mut dyn Write),
            (None, Some(w)) => Some(w.as_mut() as &mut dyn Write),
            (None, None) => None,
        }
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let n = line.len() as u64 + 1;
        match self.current() {
            Some(w) => {
                w.write_all(line)?;
                w.write_all(b"\n")?;
                self.written += n;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Flushes and syncs a file to disk; returns its length (what a checkpoint records).
    /// An output that was never opened is opened (and so created, or cut back on a resume).
    pub fn sync(&mut self, stats: &crate::metrics::RunStats, cancel: &std::sync::atomic::AtomicBool) -> io::Result<u64> {
        self.writer(stats, cancel);
        match (&mut self.file, &mut self.out) {
            (Some(f), _) => {
                f.flush()?;
                f.get_ref().sync_data()?;
            }
            (None, Some(w)) => w.flush()?,
            (None, None) if self.failed => return Err(io::Error::other("the output failed earlier")),
            (None, None) => {}
        }
        Ok(self.written)
    }

    /// Records a write error and stops writing.
    pub fn fail(&mut self, e: io::Error, stats: &crate::metrics::RunStats, cancel: &std::sync::atomic::AtomicBool) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            stats.fatal(|| format!("writing {:?} failed, stopping: {e}", self.target));
        }
        self.out = None;
        self.file = None;
        self.failed = true;
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Merges the sorted runs of several workers and writes every line whose event time the
/// frontier has passed, in (event time, origin) order. Each worker's chunks arrive in order and
/// continue one another, so a worker's chunks form one sorted run.
#[derive(Default)]
pub struct OrderedMerger {
    runs: Vec<VecDeque<Cursor>>,
}

struct Cursor {
    chunk: EncodedChunk,
    pos: usize,
    start: usize,
}

impl Cursor {
    fn head(&self) -> Option<(i64, Origin)> {
        self.chunk.index.get(self.pos).map(|(ts, origin, _)| (*ts, *origin))
    }
}

fn run_head(run: &VecDeque<Cursor>) -> Option<(i64, Origin)> {
    run.front().and_then(Cursor::head)
}

impl OrderedMerger {
    /// Adds a sorted chunk from worker `worker`.
    pub fn push(&mut self, worker: usize, chunk: EncodedChunk) {
        if chunk.index.is_empty() {
            return;
        }
        if self.runs.len() <= worker {
            self.runs.resize_with(worker + 1, VecDeque::new);
        }
        self.runs[worker].push_back(Cursor { chunk, pos: 0, start: 0 });
    }

    /// Lines waiting.
    pub fn pending(&self) -> usize {
        self.runs.iter().flatten().map(|c| c.chunk.index.len() - c.pos).sum()
    }

    /// Writes all lines with `ready(ts)` true, in order; returns how many were written.
    pub fn drain_ready(&mut self, ready: impl Fn(i64) -> bool, out: &mut dyn Write) -> io::Result<u64> {
        let mut written = 0u64;
        let live: Vec<usize> = (0..self.runs.len()).filter(|&w| !self.runs[w].is_empty()).collect();
        if live.len() == 1 {
            // One sorted run: write ready prefixes chunk by chunk.
            let run = &mut self.runs[live[0]];
            while let Some(cur) = run.front_mut() {
                let upto = cur.pos + cur.chunk.index[cur.pos..].partition_point(|(ts, _, _)| ready(*ts));
                if upto > cur.pos {
                    let end = cur.chunk.index[upto - 1].2 as usize;
                    out.write_all(&cur.chunk.data[cur.start..end])?;
                    written += (upto - cur.pos) as u64;
                    cur.pos = upto;
                    cur.start = end;
                }
                if cur.pos < cur.chunk.index.len() {
                    break;
                }
                run.pop_front();
            }
            return Ok(written);
        }
        let mut heap = BinaryHeap::new();
        for &w in &live {
            if let Some(key) = run_head(&self.runs[w]).filter(|(ts, _)| ready(*ts)) {
                heap.push(Reverse((key, w)));
            }
        }
        while let Some(Reverse((_, w))) = heap.pop() {
            let run = &mut self.runs[w];
            let Some(cur) = run.front_mut() else { continue };
            let end = cur.chunk.index[cur.pos].2 as usize;
            out.write_all(&cur.chunk.data[cur.start..end])?;
            written += 1;
            cur.pos += 1;
            cur.start = end;
            if cur.pos == cur.chunk.index.len() {
                run.pop_front();
            }
            if let Some(key) = run_head(run).filter(|(ts, _)| ready(*ts)) {
                heap.push(Reverse((key, w)));
            }
        }
        Ok(written)
    }
}

/// Where a sink's output stood at a checkpoint's cut: what a resumed run continues from.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SinkMark {
    /// Nothing to resume (stdout, no output).
    #[default]
    None,
    /// A file's length, synced to disk.
    File(u64),
    /// Each partition's end offset, everything before the cut delivered.
    Kafka(Vec<(i32, i64)>),
}

/// Where the process's leader writes incidents or dead letters: a file-like output, or a Kafka
/// topic (opened on first use, by the leader only).
pub enum RecordSink {
    /// A file, stdout, or nothing.
    File(LazyOutput),
    /// A Kafka topic through an idempotent producer.
    Kafka(Box<crate::io::kafka_output::KafkaOutput>),
}

impl RecordSink {
    /// A sink writing to a Kafka topic.
    pub fn kafka(client: rdkafka::ClientConfig, topic: String) -> Self {
        RecordSink::Kafka(Box::new(crate::io::kafka_output::KafkaOutput::new(client, topic)))
    }

    /// In a run over several processes, tags a Kafka sink's records with this process (see
    /// [`crate::io::kafka_output::PROCESS_HEADER`]); files are per process already.
    pub fn tag_process(&mut self, process: u32) {
        if let RecordSink::Kafka(k) = self {
            k.tag_process(process);
        }
    }

    /// Opens the sink if needed; false once it has failed (the failure is already recorded).
    pub fn open(&mut self, stats: &crate::metrics::RunStats, cancel: &std::sync::atomic::AtomicBool) -> bool {
        match self {
            RecordSink::File(out) => out.writer(stats, cancel).is_some(),
            RecordSink::Kafka(k) => {
                if k.producer.is_none() && !k.failed {
                    if let Err(e) = k.open() {
                        k.failed = true;
                        stats.fatal(|| format!("cannot open the output topic {}: {e}", k.topic));
                        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                k.producer.is_some()
            }
        }
    }

    /// Writes one record of dataflow time `time` (`line` without its newline; `key` used by
    /// Kafka, `headers` too). Kafka only queues it: [`RecordSink::progress`] tells when it is
    /// delivered.
    pub fn write(&mut self, time: u64, key: &[u8], line: &[u8], headers: &[(&str, &[u8])]) -> io::Result<()> {
        match self {
            RecordSink::File(out) => out.write_line(line),
            RecordSink::Kafka(k) => k.send(time, key, line, headers).map_err(io::Error::other),
        }
    }

    /// Where delivery stands, without waiting: Kafka serves acknowledgements and sends failed
    /// records again when due; a file is flushed at the end (`end`), and what was written to it
    /// counts as delivered. A writer holds its frontier at the earliest undelivered time.
    pub fn progress(&mut self, end: bool) -> io::Result<crate::io::kafka::Deliveries> {
        match self {
            RecordSink::File(out) => match out.current() {
                Some(w) if end => w.flush().map(|_| Default::default()),
                _ => Ok(Default::default()),
            },
            RecordSink::Kafka(k) => match k.producer.as_mut() {
                Some(p) => p.pump().map_err(io::Error::other),
                None => Ok(Default::default()),
            },
        }
    }

    /// Records a failure and stops the run.
    pub fn fail(&mut self, e: io::Error, stats: &crate::metrics::RunStats, cancel: &std::sync::atomic::AtomicBool) {
        match self {
            RecordSink::File(out) => out.fail(e, stats, cancel),
            RecordSink::Kafka(k) => {
                stats.fatal(|| format!("delivering to topic {} failed, stopping: {e}", k.topic));
                k.producer = None;
                k.failed = true;
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Makes everything written so far durable and says where the output stands, for a
    /// checkpoint: a file is flushed and synced, a topic's records are all delivered.
    pub fn sync(&mut self, stats: &crate::metrics::RunStats, cancel: &std::sync::atomic::AtomicBool) -> io::Result<SinkMark> {
        match self {
            RecordSink::File(out) => out.sync(stats, cancel).map(SinkMark::File),
            RecordSink::Kafka(k) => k.checkpoint().map(SinkMark::Kafka).map_err(io::Error::other),
        }
    }

    /// Resumes from a checkpoint: a file is cut back to its length then (see
    /// [`LazyOutput::resume_at`]); a topic is read after its ends then, and what the crashed
    /// run delivered there is not sent again.
    pub fn resume_at(&mut self, mark: SinkMark) -> Result<(), String> {
        match (self, mark) {
            (RecordSink::File(out), SinkMark::File(len)) => out.resume_at(len),
            (RecordSink::Kafka(k), SinkMark::Kafka(ends)) => k.resume_at(ends),
            (_, SinkMark::None) => {}
            (RecordSink::File(_), SinkMark::Kafka(_)) => return Err("the checkpoint was taken writing to Kafka, this run writes to a file".into()),
            (RecordSink::Kafka(_), SinkMark::File(_)) => return Err("the checkpoint was taken writing to a file, this run writes to Kafka".into()),
        }
        Ok(())
    }

    /// Starts a Kafka output that has written nothing yet at `mark`'s ends (nothing to read back).
    pub fn start_at(&mut self, mark: &SinkMark) {
        if let (RecordSink::Kafka(k), SinkMark::Kafka(ends)) = (self, mark) {
            k.start_at(ends);
        }
    }

    /// Delivery failures seen by the producer (each retried), 0 for files.
    pub fn delivery_errors(&self) -> u64 {
        match self {
            RecordSink::Kafka(k) => k.producer.as_ref().map_or(0, |p| p.tracker().errors.load(std::sync::atomic::Ordering::Relaxed)),
            _ => 0,
        }
    }

    /// Records derived again after a resume and not sent, because the run before had delivered
    /// them (Kafka; a file is cut back instead).
    pub fn already_delivered(&self) -> u64 {
        match self {
            RecordSink::Kafka(k) => k.skipped(),
            _ => 0,
        }
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
        m.push(0, EncodedChunk::encode(&[ev(1, 0), ev(4, 0)], &mut w));
        m.push(0, EncodedChunk::encode(&[ev(9, 0)], &mut w));
        m.push(1, EncodedChunk::encode(&[ev(2, 1), ev(4, 1)], &mut w));
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
