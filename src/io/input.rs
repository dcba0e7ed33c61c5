//! Input files as partitions: opening (plain, gzip, stdin) and splitting into records.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::parse::{Format, MAX_RECORD_BYTES};

/// Where an input's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputSource {
    /// A file path (`.gz` files are decompressed).
    Path(PathBuf),
    /// Standard input (`-` on the command line).
    Stdin,
}

impl InputSource {
    /// Parses a command-line argument: `-` is stdin.
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            InputSource::Stdin
        } else {
            InputSource::Path(PathBuf::from(arg))
        }
    }

    /// A name for messages and dead letters.
    pub fn display(&self) -> String {
        match self {
            InputSource::Path(p) => p.display().to_string(),
            InputSource::Stdin => "<stdin>".to_string(),
        }
    }

    /// Opens the input for reading.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        match self {
            InputSource::Stdin => {
                // Bytes already taken for sniffing are replayed before the rest of stdin.
                let prefix: &'static [u8] = STDIN_PREFIX.get().map_or(&[], Vec::as_slice);
                Ok(Box::new(io::Cursor::new(prefix).chain(io::stdin())))
            }
            InputSource::Path(p) => {
                let mut file = File::open(p)?;
                let mut magic = [0u8; 4];
                let n = read_up_to(&mut file, &mut magic)?;
                let head = &magic[..n];
                if head == b"PK\x03\x04" {
                    return open_zip(p);
                }
                let file = File::open(p)?;
                if head.starts_with(&[0x1f, 0x8b]) {
                    Ok(Box::new(flate2::read::MultiGzDecoder::new(file)))
                } else {
                    Ok(Box::new(file))
                }
            }
        }
    }

    /// Reads the first bytes of the input to sniff its format. For stdin the bytes are kept and
    /// replayed by [`InputSource::open`]; stdin can be sampled once per process.
    pub fn sample(&self, limit: usize) -> io::Result<Vec<u8>> {
        if *self == InputSource::Stdin {
            let mut buf = vec![0u8; limit];
            let n = read_up_to(&mut io::stdin(), &mut buf)?;
            buf.truncate(n);
            let kept = STDIN_PREFIX.get_or_init(|| buf);
            return Ok(kept.clone());
        }
        let mut reader = self.open()?;
        let mut buf = vec![0u8; limit];
        let n = read_up_to(&mut reader, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// Reads the files of a zip archive one after another, as one stream of lines. A thread inflates
/// while the worker parses; the channel's bound keeps memory to a few buffers.
fn open_zip(path: &std::path::Path) -> io::Result<Box<dyn Read + Send>> {
    let to_io = |e: zip::result::ZipError| io::Error::new(io::ErrorKind::InvalidData, format!("zip archive: {e}"));
    let mut archive = zip::ZipArchive::new(File::open(path)?).map_err(to_io)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    std::thread::Builder::new().name("vigil-unzip".into()).spawn(move || {
        for i in 0..archive.len() {
            let mut entry = match archive.by_index(i) {
                Ok(e) => e,
                Err(e) => {
                    let _ = tx.send(Err(to_io(e)));
                    return;
                }
            };
            if entry.is_dir() {
                continue;
            }
            let mut last = b'\n';
            loop {
                let mut buf = vec![0u8; 256 * 1024];
                match entry.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        last = buf[n - 1];
                        if tx.send(Ok(buf)).is_err() {
                            return; // the reader is gone
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            // Keep the last line of one file from running into the first line of the next.
            if last != b'\n' && tx.send(Ok(b"\n".to_vec())).is_err() {
                return;
            }
        }
    })?;
    Ok(Box::new(ChannelReader { rx, buf: Vec::new(), pos: 0 }))
}

/// A `Read` over byte buffers arriving on a channel.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    self.buf = next;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0), // the inflating thread finished
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

static STDIN_PREFIX: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One input of a run: a partition with a fixed global index.
#[derive(Clone, Debug)]
pub struct InputSpec {
    /// Global partition index; it decides the owning worker and breaks event-time ties.
    pub partition: u32,
    /// Where to read.
    pub source: InputSource,
    /// How to parse it.
    pub format: Format,
    /// Settings of this input that override the run's (a topology source's year, lateness, time field).
    pub overrides: InputOverrides,
}

/// Per-input settings that take precedence over the run-wide ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputOverrides {
    /// Year of year-less syslog timestamps.
    pub year: Option<i32>,
    /// Allowed lateness in ms.
    pub lateness_ms: Option<i64>,
    /// JSON field holding the event time.
    pub time_field: Option<String>,
}

impl InputOverrides {
    /// The run's parser settings with this input's overrides applied.
    pub fn parse_options(&self, run: &crate::parse::ParseOptions) -> crate::parse::ParseOptions {
        let mut o = run.clone();
        if self.year.is_some() {
            o.year = self.year;
        }
        if self.time_field.is_some() {
            o.time_field = self.time_field.clone();
        }
        o
    }
}

/// A record read from an input.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A complete line, without its terminator.
    Line(&'a [u8]),
    /// A line longer than the limit; its bytes were skipped. Carries its length.
    TooLong(usize),
}

/// Splits a byte stream into lines with one large reusable buffer (no allocation per line).
pub struct LineReader {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Bytes of an over-long line being skipped.
    skipping: Option<usize>,
    /// Bytes consumed so far (for progress).
    pub bytes_read: u64,
}

const CHUNK: usize = 1 << 20;

impl LineReader {
    /// Wraps a reader.
    pub fn new(reader: Box<dyn Read + Send>) -> Self {
        LineReader { reader, buf: vec![0u8; CHUNK.max(MAX_RECORD_BYTES) + CHUNK], start: 0, end: 0, eof: false, skipping: None, bytes_read: 0 }
    }

    /// The next record, or `None` at the end of the input.
    pub fn next_record(&mut self) -> io::Result<Option<Record<'_>>> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let line_start = self.start;
                let line_end = self.start + pos;
                self.start = line_end + 1;
                if let Some(skipped) = self.skipping.take() {
                    return Ok(Some(Record::TooLong(skipped + pos)));
                }
                let mut line = &self.buf[line_start..line_end];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                if line.len() > MAX_RECORD_BYTES {
                    return Ok(Some(Record::TooLong(line.len())));
                }
                return Ok(Some(Record::Line(line)));
            }
            if self.eof {
                if self.start == self.end {
                    if let Some(skipped) = self.skipping.take() {
                        return Ok(Some(Record::TooLong(skipped)));
                    }
                    return Ok(None);
                }
                // The last line has no terminator.
                let line_start = self.start;
                self.start = self.end;
                if let Some(skipped) = self.skipping.take() {
                    return Ok(Some(Record::TooLong(skipped + (self.end - line_start))));
                }
                let mut line = &self.buf[line_start..self.end];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                if line.len() > MAX_RECORD_BYTES {
                    return Ok(Some(Record::TooLong(line.len())));
                }
                return Ok(Some(Record::Line(line)));
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let pending = self.end - self.start;
        if pending > MAX_RECORD_BYTES {
            // No newline within the limit: drop what we hold and skip to the next newline.
            *self.skipping.get_or_insert(0) += pending;
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = pending;
        }
        if self.end == self.buf.len() {
            // Cannot happen while the buffer exceeds MAX_RECORD_BYTES; keep the reader total.
            *self.skipping.get_or_insert(0) += self.end;
            self.end = 0;
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    self.bytes_read += n as u64;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(data: &[u8]) -> Vec<Result<Vec<u8>, usize>> {
        let mut r = LineReader::new(Box::new(io::Cursor::new(data.to_vec())));
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(match rec {
                Record::Line(l) => Ok(l.to_vec()),
                Record::TooLong(n) => Err(n),
            });
        }
        out
    }

    #[test]
    fn splits_lines_crlf_and_unterminated_last() {
        let got = lines(b"a\r\nbb\n\nccc");
        assert_eq!(got, vec![Ok(b"a".to_vec()), Ok(b"bb".to_vec()), Ok(vec![]), Ok(b"ccc".to_vec())]);
    }

    #[test]
    fn over_long_line_is_reported_and_skipped() {
        let mut data = vec![b'x'; MAX_RECORD_BYTES * 3 + 17];
        data.extend_from_slice(b"\nnext\n");
        let got = lines(&data);
        assert_eq!(got, vec![Err(MAX_RECORD_BYTES * 3 + 17), Ok(b"next".to_vec())]);
    }

    #[test]
    fn zip_members_are_read_in_order_and_broken_zips_fail_cleanly() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.zip");
        let mut w = zip::ZipWriter::new(File::create(&p).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("one.json", opts).unwrap();
        w.write_all(b"{\"a\":1}\n{\"a\":2}").unwrap();
        w.start_file("two.json", opts).unwrap();
        w.write_all(b"{\"a\":3}\n").unwrap();
        w.finish().unwrap();
        let mut r = LineReader::new(InputSource::Path(p.clone()).open().unwrap());
        let mut lines = Vec::new();
        while let Some(Record::Line(l)) = r.next_record().unwrap() {
            lines.push(String::from_utf8(l.to_vec()).unwrap());
        }
        assert_eq!(lines, ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"]);

        std::fs::write(&p, b"PK\x03\x04rest").unwrap();
        let err = InputSource::Path(p).open().err().unwrap();
        assert!(err.to_string().contains("zip"), "{err}");
    }

    #[test]
    fn gzip_is_read_transparently() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"one\ntwo\n").unwrap();
        std::fs::write(&p, enc.finish().unwrap()).unwrap();
        let mut r = LineReader::new(InputSource::Path(p).open().unwrap());
        assert_eq!(r.next_record().unwrap(), Some(Record::Line(b"one")));
        assert_eq!(r.next_record().unwrap(), Some(Record::Line(b"two")));
        assert_eq!(r.next_record().unwrap(), None);
    }
}
