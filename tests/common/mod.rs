//! Helpers shared by the integration tests: running the real `vigil` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Path of the built binary.
pub fn vigil_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vigil"))
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
