//! Helpers shared by the integration tests: running the real `vigil` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the binary under test: the one cargo built, or `VIGIL_TEST_BIN` (a copy kept apart,
/// so a long loop of a test is not changed under it by the next build).
pub fn vigil_bin() -> PathBuf {
    std::env::var_os("VIGIL_TEST_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_vigil")))
}

/// The fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// Runs vigil with `args`, returning its output; panics with stderr if it could not start.
pub fn vigil(args: &[&str]) -> Output {
    let out = Command::new(vigil_bin()).args(args).stdin(Stdio::null()).output().expect("start vigil");
    assert_ne!(out.status.code(), Some(101), "vigil panicked:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs vigil in `dir` and requires success (relative input names keep outputs portable).
pub fn vigil_ok_in(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(vigil_bin()).args(args).current_dir(dir).stdin(Stdio::null()).output().expect("start vigil");
    assert!(out.status.success(), "vigil {args:?} failed ({:?}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs vigil and requires success.
pub fn vigil_ok(args: &[&str]) -> Output {
    let out = vigil(args);
    assert!(out.status.success(), "vigil {args:?} failed ({:?}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Sorted lines of a file.
pub fn sorted_lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// Reads the "-> N events" figure from a run summary.
pub fn summary_events(stderr: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(stderr);
    let after = text.split("-> ").nth(1).unwrap_or_else(|| panic!("no summary in:\n{text}"));
    after.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("bad summary:\n{text}"))
}

/// A deterministic stream of pseudo-random numbers (splitmix64): the same for the same seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The seed of a test's random choices: `VIGIL_TEST_SEED`, else the clock (printed, so a
/// failing run can be repeated).
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("VIGIL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1));
    eprintln!("{test}: seed {seed} (VIGIL_TEST_SEED={seed} repeats it)");
    seed
}

/// Starts vigil with `args`, its stderr into the file `stderr`.
pub fn spawn(args: &[String], stderr: &Path) -> Child {
    let log = std::fs::File::create(stderr).unwrap();
    Command::new(vigil_bin()).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().expect("start vigil")
}

/// Complete checkpoints in the state directory (those with a manifest).
pub fn complete(state: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(state).map(|d| d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("MANIFEST").is_file()).collect()).unwrap_or_default();
    dirs.sort();
    dirs
}

/// Whether a checkpoint file is being written (its temporary name exists), by a run started at
/// `since`: a run killed while writing leaves its temporary file behind until the next
/// checkpoint prunes it, and that one must not count.
pub fn writing(state: &Path, since: std::time::SystemTime) -> bool {
    let fresh = |f: &std::fs::DirEntry| f.metadata().and_then(|m| m.modified()).is_ok_and(|t| t >= since);
    std::fs::read_dir(state)
        .map(|d| {
            d.filter_map(Result::ok).any(|e| {
                std::fs::read_dir(e.path())
                    .map(|f| f.filter_map(Result::ok).any(|f| f.path().extension().is_some_and(|x| x == "tmp") && fresh(&f)))
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

/// How a kill point is chosen.
#[derive(Clone, Copy, Debug)]
pub enum KillAt {
    /// After a random delay.
    Delay(Duration),
    /// While a checkpoint file is being written.
    DuringWrite,
    /// Right after a new checkpoint completed.
    AfterCheckpoint,
}

/// Waits until `ready` holds or the child ends; true when it is ready (and still running).
pub fn wait_for(child: &mut Child, deadline: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready() {
            return true;
        }
        assert!(start.elapsed() < deadline, "vigil neither finished nor reached the kill point within {deadline:?}");
        std::thread::yield_now();
    }
}
