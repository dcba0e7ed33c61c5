//! The checkpoint store on disk: `<dir>/<seq>/` holds one file per part and a `MANIFEST`.
//!
//! Every file starts with a header (magic, format version, kind, payload length, xxh3-128 of the
//! payload) so a torn write, a truncation or a flipped bit is caught before a byte of state is
//! used. Files are written to a temporary name, synced and renamed, and the directory synced, so
//! a crash leaves either the whole file or none. The manifest is written last and names every
//! part with its length and checksum: a checkpoint without a valid manifest, or with a part that
//! does not match it, is incomplete, and loading goes back to the previous one. Lengths are
//! checked against the configured limits before anything is allocated, so a damaged header
//! cannot make a restart allocate what the length field claims.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

/// Version of the file layout and of the manifest; a checkpoint of another version is rejected.
pub const FORMAT_VERSION: u32 = 3;

const MAGIC: &[u8; 8] = b"VIGILCKP";
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 16;
const KIND_PART: u32 = 1;
const KIND_MANIFEST: u32 = 2;
const MANIFEST: &str = "MANIFEST";
/// A manifest names parts and rules, nothing large: anything bigger is damage.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file system refused.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said (in the message, not as a source, so it is said once).
        error: std::io::Error,
    },
    /// Over a configured bound.
    #[error("{what} is {bytes} bytes, over the {limit} byte limit (raise --checkpoint-max-bytes or shrink the state limits)")]
    TooLarge {
        /// What was too large.
        what: String,
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A part name that is not a plain file name.
    #[error("checkpoint part name {0:?}: use letters, digits, '-', '_' and '.', not starting with '.'")]
    BadName(String),
    /// A file that does not verify.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A checkpoint that verifies but cannot be used by this run.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The checkpoint's directory or part.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
}

/// Bounds on what a checkpoint may hold, and how many are kept.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    /// Complete checkpoints kept (the newest; at least 2, so a damaged newest has a fallback).
    pub keep: usize,
    /// Largest part.
    pub max_part_bytes: u64,
    /// Largest checkpoint, all parts together.
    pub max_total_bytes: u64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits { keep: 3, max_part_bytes: 4 << 30, max_total_bytes: 16 << 30 }
    }
}

/// One part as the manifest names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// File name inside the checkpoint's directory.
    pub name: String,
    /// Payload bytes.
    pub len: u64,
    /// xxh3-128 of the payload, hex.
    pub checksum: String,
}

/// A rule's identity in a checkpoint: its id and a hash of its compiled form, so a restart with
/// a changed rule set keeps the state of the rules that did not change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStamp {
    /// The rule's id.
    pub id: String,
    /// Hash of its compiled form.
    pub hash: String,
}

/// What a checkpoint is: where it cut, who wrote it, and its parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Sequence number (the directory's name).
    pub seq: u64,
    /// The cut: the timely time every part's state is as of.
    pub cut: u64,
    /// Workers of the run that wrote it (all processes together).
    pub workers: u32,
    /// Processes of that run.
    pub processes: u32,
    /// When it was written (Unix milliseconds, for reports only).
    pub created_unix_ms: i64,
    /// The rules whose state it holds.
    pub rules: Vec<RuleStamp>,
    /// The evaluated correlations' ids in plan order (the index projections and states carry),
    /// so a restart with changed rules can find each kept correlation's new place.
    #[serde(default)]
    pub correlations: Vec<String>,
    /// Its parts.
    pub parts: Vec<PartInfo>,
}

/// A complete, verified checkpoint and its parts' payloads.
#[derive(Debug)]
pub struct Loaded {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its directory.
    pub dir: PathBuf,
    parts: Vec<(String, Vec<u8>)>,
}

impl Loaded {
    /// The payload of part `name`.
    pub fn part(&self, name: &str) -> Option<&[u8]> {
        self.parts.iter().find(|(n, _)| n == name).map(|(_, p)| p.as_slice())
    }

    /// The parts' names and payloads, the checkpoint consumed.
    pub fn into_parts(self) -> Vec<(String, Vec<u8>)> {
        self.parts
    }

    /// Every part, in manifest order.
    pub fn parts(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.parts.iter().map(|(n, p)| (n.as_str(), p.as_slice()))
    }
}

/// A newer checkpoint passed over while loading, and why.
#[derive(Debug)]
pub struct Rejected {
    /// Its sequence number.
    pub seq: u64,
    /// What was wrong.
    pub reason: String,
}

/// The checkpoints of one state directory.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    limits: StoreLimits,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |error| CheckpointError::Io { path: path.to_path_buf(), error }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Corrupt { path: path.to_path_buf(), reason: reason.into() }
}

fn hex128(v: u128) -> String {
    format!("{v:032x}")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name != MANIFEST
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Writes `payload` under `path` with its header, atomically: temporary file, sync, rename,
/// directory sync.
fn write_file(path: &Path, kind: u32, payload: &[u8]) -> Result<u128, CheckpointError> {
    let checksum = xxh3_128(payload);
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&kind.to_le_bytes());
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    header.extend_from_slice(&checksum.to_le_bytes());
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).map_err(io(&tmp))?;
        f.write_all(&header).map_err(io(&tmp))?;
        f.write_all(payload).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(checksum)
}

fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Reads and verifies one file of `kind`, refusing lengths over `limit` before allocating.
fn read_file(path: &Path, kind: u32, limit: u64) -> Result<(Vec<u8>, u128), CheckpointError> {
    let mut f = File::open(path).map_err(io(path))?;
    let file_len = f.metadata().map_err(io(path))?.len();
    let mut header = [0u8; HEADER_LEN];
    f.read_exact(&mut header).map_err(|_| corrupt(path, format!("{file_len} bytes, shorter than the {HEADER_LEN} byte header")))?;
    if &header[..8] != MAGIC {
        return Err(corrupt(path, "not a vigil checkpoint file (bad magic)"));
    }
    let word = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    let version = word(8);
    if version != FORMAT_VERSION {
        return Err(corrupt(path, format!("format version {version}, this vigil reads {FORMAT_VERSION}")));
    }
    let found_kind = word(12);
    if found_kind != kind {
        return Err(corrupt(path, format!("file kind {found_kind}, expected {kind}")));
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&header[16..24]);
    let len = u64::from_le_bytes(len8);
    let mut sum16 = [0u8; 16];
    sum16.copy_from_slice(&header[24..40]);
    let want = u128::from_le_bytes(sum16);
    if len > limit {
        return Err(corrupt(path, format!("header claims {len} payload bytes, over the {limit} byte limit")));
    }
    if file_len != HEADER_LEN as u64 + len {
        return Err(corrupt(path, format!("{file_len} bytes, the header says {}", HEADER_LEN as u64 + len)));
    }
    let mut payload = vec![0u8; len as usize];
    f.read_exact(&mut payload).map_err(|e| corrupt(path, format!("payload unreadable: {e}")))?;
    let got = xxh3_128(&payload);
    if got != want {
        return Err(corrupt(path, format!("checksum {} does not match the header's {}", hex128(got), hex128(want))));
    }
    Ok((payload, got))
}

impl Store {
    /// The store under `dir` (created when missing).
    pub fn open(dir: impl Into<PathBuf>, limits: StoreLimits) -> Result<Store, CheckpointError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let limits = StoreLimits { keep: limits.keep.max(2), ..limits };
        Ok(Store { dir, limits })
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn seq_dir(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}"))
    }

    /// Sequence numbers of every checkpoint directory, complete or not, oldest first.
    pub fn sequences(&self) -> Result<Vec<u64>, CheckpointError> {
        let mut seqs: Vec<u64> = fs::read_dir(&self.dir)
            .map_err(io(&self.dir))?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().filter(|n| n.len() == 20).and_then(|n| n.parse().ok()))
            .collect();
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// The number the next checkpoint takes: after every directory present, complete or not,
    /// so an interrupted write is never mistaken for part of a new one.
    pub fn next_seq(&self) -> Result<u64, CheckpointError> {
        Ok(self.sequences()?.last().map_or(1, |s| s + 1))
    }

    /// The bound on a checkpoint's total size.
    pub fn max_total_bytes(&self) -> u64 {
        self.limits.max_total_bytes
    }

    /// Removes what was written of checkpoint `seq`, which will not be completed.
    pub fn discard(&self, seq: u64) {
        let dir = self.seq_dir(seq);
        if dir.join(MANIFEST).exists() {
            return;
        }
        if let Err(e) = fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("{}: cannot remove an incomplete checkpoint: {e}", dir.display());
            }
        }
    }

    /// Writes one part of checkpoint `seq` (any worker, any order; the manifest comes last).
    pub fn write_part(&self, seq: u64, name: &str, payload: &[u8]) -> Result<PartInfo, CheckpointError> {
        if !valid_name(name) {
            return Err(CheckpointError::BadName(name.to_owned()));
        }
        let len = payload.len() as u64;
        if len > self.limits.max_part_bytes {
            return Err(CheckpointError::TooLarge { what: format!("checkpoint part {name}"), bytes: len, limit: self.limits.max_part_bytes });
        }
        let dir = self.seq_dir(seq);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let checksum = write_file(&dir.join(name), KIND_PART, payload)?;
        Ok(PartInfo { name: name.to_owned(), len, checksum: hex128(checksum) })
    }

    /// Completes checkpoint `manifest.seq` by writing its manifest, then drops what is no
    /// longer needed: incomplete older directories, and complete ones beyond the newest `keep`.
    pub fn commit(&self, manifest: &Manifest) -> Result<PathBuf, CheckpointError> {
        let total: u64 = manifest.parts.iter().map(|p| p.len).sum();
        if total > self.limits.max_total_bytes {
            return Err(CheckpointError::TooLarge { what: format!("checkpoint {}", manifest.seq), bytes: total, limit: self.limits.max_total_bytes });
        }
        let dir = self.seq_dir(manifest.seq);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| corrupt(&dir, format!("manifest not serializable: {e}")))?;
        write_file(&dir.join(MANIFEST), KIND_MANIFEST, &json)?;
        self.prune(manifest.seq)?;
        Ok(dir)
    }

    fn prune(&self, newest: u64) -> Result<(), CheckpointError> {
        let mut kept = 0usize;
        for seq in self.sequences()?.into_iter().rev().filter(|&s| s <= newest) {
            let dir = self.seq_dir(seq);
            let complete = dir.join(MANIFEST).is_file();
            if complete && kept < self.limits.keep {
                kept += 1;
                continue;
            }
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(())
    }

    /// Loads and verifies checkpoint `seq`.
    pub fn load(&self, seq: u64) -> Result<Loaded, CheckpointError> {
        let dir = self.seq_dir(seq);
        let manifest_path = dir.join(MANIFEST);
        if !manifest_path.is_file() {
            return Err(corrupt(&dir, "no manifest: the checkpoint was not completed"));
        }
        let (json, _) = read_file(&manifest_path, KIND_MANIFEST, MAX_MANIFEST_BYTES)?;
        let manifest: Manifest = serde_json::from_slice(&json).map_err(|e| corrupt(&manifest_path, format!("manifest: {e}")))?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(corrupt(&manifest_path, format!("format version {}, this vigil reads {FORMAT_VERSION}", manifest.format_version)));
        }
        if manifest.seq != seq {
            return Err(corrupt(&manifest_path, format!("manifest of checkpoint {} in the directory of {seq}", manifest.seq)));
        }
        let mut parts = Vec::with_capacity(manifest.parts.len());
        for info in &manifest.parts {
            if !valid_name(&info.name) {
                return Err(corrupt(&manifest_path, format!("part name {:?} is not a plain file name", info.name)));
            }
            let path = dir.join(&info.name);
            let limit = info.len.min(self.limits.max_part_bytes);
            let (payload, sum) = read_file(&path, KIND_PART, limit)?;
            if payload.len() as u64 != info.len || hex128(sum) != info.checksum {
                return Err(corrupt(
                    &path,
                    format!("{} bytes with checksum {}, the manifest says {} bytes with {}", payload.len(), hex128(sum), info.len, info.checksum),
                ));
            }
            parts.push((info.name.clone(), payload));
        }
        Ok(Loaded { manifest, dir, parts })
    }

    /// The newest checkpoint that verifies, with every newer one that did not and why; `None`
    /// when there is none to use.
    pub fn latest(&self) -> Result<(Option<Loaded>, Vec<Rejected>), CheckpointError> {
        let mut rejected = Vec::new();
        for seq in self.sequences()?.into_iter().rev() {
            match self.load(seq) {
                Ok(loaded) => return Ok((Some(loaded), rejected)),
                Err(e @ CheckpointError::Io { .. }) if !self.seq_dir(seq).exists() => return Err(e),
                Err(e) => rejected.push(Rejected { seq, reason: e.to_string() }),
            }
        }
        Ok((None, rejected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn manifest(seq: u64, parts: Vec<PartInfo>) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            seq,
            cut: seq * 1000,
            workers: 2,
            processes: 1,
            created_unix_ms: 0,
            rules: vec![RuleStamp { id: "r1".into(), hash: "00ff".into() }],
            correlations: Vec::new(),
            parts,
        }
    }

    fn checkpoint(store: &Store, payloads: &[(&str, &[u8])]) -> u64 {
        let seq = store.next_seq().unwrap();
        let parts = payloads.iter().map(|(n, p)| store.write_part(seq, n, p).unwrap()).collect();
        store.commit(&manifest(seq, parts)).unwrap();
        seq
    }

    #[test]
    fn round_trips_parts_and_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), StoreLimits::default()).unwrap();
        let seq = checkpoint(&store, &[("correlate-0", b"alpha"), ("source-1", b""), ("writer-0", &[0u8; 10_000])]);
        let (loaded, rejected) = store.latest().unwrap();
        let loaded = loaded.unwrap();
        assert!(rejected.is_empty());
        assert_eq!(loaded.manifest.seq, seq);
        assert_eq!(loaded.part("correlate-0"), Some(&b"alpha"[..]));
        assert_eq!(loaded.part("source-1"), Some(&b""[..]));
        assert_eq!(loaded.part("writer-0").map(<[u8]>::len), Some(10_000));
        assert_eq!(loaded.parts().count(), 3);
    }

    #[test]
    fn an_incomplete_newest_checkpoint_falls_back_to_the_previous_one() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), StoreLimits::default()).unwrap();
        let first = checkpoint(&store, &[("p", b"one")]);
        // A crash between the parts and the manifest.
        let torn = store.next_seq().unwrap();
        store.write_part(torn, "p", b"two").unwrap();
        let (loaded, rejected) = store.latest().unwrap();
        assert_eq!(loaded.unwrap().manifest.seq, first);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].seq, torn);
        assert!(rejected[0].reason.contains("no manifest"), "{}", rejected[0].reason);
        // The next checkpoint never reuses the torn one's number.
        assert_eq!(store.next_seq().unwrap(), torn + 1);
    }

    #[test]
    fn a_corrupted_part_is_named_and_the_previous_checkpoint_used() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), StoreLimits::default()).unwrap();
        let first = checkpoint(&store, &[("p", b"one")]);
        let second = checkpoint(&store, &[("p", b"two, longer")]);
        let path = store.seq_dir(second).join("p");
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        fs::write(&path, bytes).unwrap();
        let (loaded, rejected) = store.latest().unwrap();
        let loaded = loaded.unwrap();
        assert_eq!(loaded.manifest.seq, first);
        assert_eq!(loaded.part("p"), Some(&b"one"[..]));
        assert!(rejected[0].reason.contains("checksum") && rejected[0].reason.contains("/p"), "{}", rejected[0].reason);
    }

    #[test]
    fn a_part_swapped_between_checkpoints_does_not_match_the_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), StoreLimits::default()).unwrap();
        let first = checkpoint(&store, &[("p", b"one")]);
        let second = checkpoint(&store, &[("p", b"two")]);
        fs::copy(store.seq_dir(first).join("p"), store.seq_dir(second).join("p")).unwrap();
        let (loaded, rejected) = store.latest().unwrap();
        assert_eq!(loaded.unwrap().manifest.seq, first);
        assert!(rejected[0].reason.contains("the manifest says"), "{}", rejected[0].reason);
    }

    #[test]
    fn keeps_the_newest_complete_checkpoints_and_removes_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), StoreLimits { keep: 2, ..StoreLimits::default() }).unwrap();
        let torn = store.next_seq().unwrap();
        store.write_part(torn, "p", b"torn").unwrap();
        let seqs: Vec<u64> = (0..4).map(|_| checkpoint(&store, &[("p", b"x")])).collect();
        assert_eq!(store.sequences().unwrap(), seqs[2..].to_vec());
    }

    #[test]
    fn limits_are_enforced_when_writing_and_before_allocating_when_reading() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), StoreLimits { keep: 2, max_part_bytes: 8, max_total_bytes: 12 }).unwrap();
        assert!(matches!(store.write_part(1, "p", &[0; 9]), Err(CheckpointError::TooLarge { .. })));
        let a = store.write_part(1, "a", &[0; 8]).unwrap();
        let b = store.write_part(1, "b", &[0; 8]).unwrap();
        assert!(matches!(store.commit(&manifest(1, vec![a, b])), Err(CheckpointError::TooLarge { .. })));
        // A header that claims a huge payload is refused, not allocated.
        let dir = store.seq_dir(2);
        fs::create_dir_all(&dir).unwrap();
        let mut header = Vec::new();
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&KIND_PART.to_le_bytes());
        header.extend_from_slice(&u64::MAX.to_le_bytes());
        header.extend_from_slice(&[0; 16]);
        fs::write(dir.join("p"), &header).unwrap();
        let err = read_file(&dir.join("p"), KIND_PART, 8).unwrap_err().to_string();
        assert!(err.contains("over the 8 byte limit"), "{err}");
    }

    #[test]
    fn rejects_bad_part_names_and_other_versions() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), StoreLimits::default()).unwrap();
        for bad in ["", "../x", "a/b", ".hidden", "MANIFEST"] {
            assert!(matches!(store.write_part(1, bad, b""), Err(CheckpointError::BadName(_))), "{bad:?}");
        }
        let seq = checkpoint(&store, &[("p", b"v")]);
        let path = store.seq_dir(seq).join("p");
        let mut bytes = fs::read(&path).unwrap();
        bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        fs::write(&path, bytes).unwrap();
        let (loaded, rejected) = store.latest().unwrap();
        assert!(loaded.is_none());
        assert!(rejected[0].reason.contains("format version"), "{}", rejected[0].reason);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever is done to one byte of the newest checkpoint (flipped, or the file cut
        /// short), loading never returns its damaged data: it returns the previous checkpoint.
        #[test]
        fn damage_anywhere_in_the_newest_checkpoint_is_detected(
            payload in prop::collection::vec(any::<u8>(), 0..300),
            pick_manifest in any::<bool>(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
            truncate in any::<bool>(),
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let store = Store::open(tmp.path(), StoreLimits::default()).unwrap();
            let first = checkpoint(&store, &[("p", b"previous")]);
            let second = checkpoint(&store, &[("p", &payload)]);
            let path = store.seq_dir(second).join(if pick_manifest { MANIFEST } else { "p" });
            let mut bytes = fs::read(&path).unwrap();
            let i = at.index(bytes.len());
            if truncate {
                bytes.truncate(i);
            } else {
                bytes[i] ^= flip;
            }
            fs::write(&path, &bytes).unwrap();
            match store.latest().unwrap() {
                (Some(loaded), _) if loaded.manifest.seq == second => prop_assert!(false, "damaged checkpoint {} loaded", second),
                (Some(loaded), rejected) => {
                    prop_assert_eq!(loaded.manifest.seq, first);
                    prop_assert_eq!(rejected.len(), 1);
                }
                (None, _) => prop_assert!(false, "the previous checkpoint was lost"),
            }
        }
    }
}
