//! `vigil normalize` as a user runs it: the real binary over the fixtures, golden outputs,
//! dead letters, worker and process counts, stdin and gzip, and hostile input.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// (fixture, extra arguments) pairs with golden outputs under fixtures/expected.
const GOLDEN: &[(&str, &[&str])] = &[
    ("auth.log", &["--year", "2017"]),
    ("traps.log", &["--year", "2023"]),
    ("apache_access.log", &["--lateness", "1h"]),
    ("zeek_conn.log", &[]),
    ("zeek_dns.log", &[]),
    ("zeek_conn.json", &[]),
    ("windows_lsass.jsonl", &["--lateness", "1d"]),
    ("windows_ad.jsonl", &["--lateness", "1m"]),
    ("honeypot.json", &[]),
];

fn check_golden(actual: &Path, expected: &Path) {
    let got = std::fs::read_to_string(actual).unwrap_or_default();
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::create_dir_all(expected.parent().unwrap()).unwrap();
        std::fs::write(expected, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(expected).unwrap_or_else(|_| panic!("missing {}; run with VIGIL_BLESS=1 to create it", expected.display()));
    if got != want {
        let first = got.lines().zip(want.lines()).position(|(a, b)| a != b).unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "{} differs from {} at line {}:\n got: {}\nwant: {}",
            actual.display(),
            expected.display(),
            first + 1,
            got.lines().nth(first).unwrap_or("<none>"),
            want.lines().nth(first).unwrap_or("<none>")
        );
    }
}

#[test]
fn fixtures_match_golden_output() {
    let dir = tempfile::tempdir().unwrap();
    for (name, extra) in GOLDEN {
        let out = dir.path().join(format!("{name}.json"));
        let dead = dir.path().join(format!("{name}.dead.json"));
        let mut args = vec!["normalize", "--out", out.to_str().unwrap(), "--dead-letter", dead.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(name);
        vigil_ok_in(&fixtures(), &args);
        check_golden(&out, &fixtures().join("expected").join(format!("{name}.json")));
        check_golden(&dead, &fixtures().join("expected").join(format!("{name}.dead.json")));
    }
}

#[test]
fn every_line_is_accounted_for() {
    // auth.log: 74 lines, 5 of them "message repeated 5 times" (each becomes 5 events).
    let out = vigil_ok(&["normalize", "--year", "2017", "--out", "/dev/null", fixtures().join("auth.log").to_str().unwrap()]);
    assert_eq!(summary_events(&out.stderr), 74 - 5 + 5 * 5);

    // traps.log: 11 lines = 1 blank + 1 unparsable + 9 records; one record is late and one
    // (`message repeated 3 times`) expands to 3 events: 8 on-time records give 10 events.
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.json");
    let out = vigil_ok(&[
        "normalize",
        "--year",
        "2023",
        "--out",
        "/dev/null",
        "--dead-letter",
        dead.to_str().unwrap(),
        fixtures().join("traps.log").to_str().unwrap(),
    ]);
    assert_eq!(summary_events(&out.stderr), 7 + 3);
    let dead_lines: Vec<serde_json::Value> = std::fs::read_to_string(&dead).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reasons: Vec<(&str, u64)> = dead_lines.iter().map(|d| (d["reason"].as_str().unwrap(), d["line"].as_u64().unwrap())).collect();
    assert_eq!(reasons, vec![("bad-timestamp", 5), ("late", 9)], "{dead_lines:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("traps.log:5:"), "the summary names file and line:\n{stderr}");
}

#[test]
fn year_rolls_over_inside_one_file() {
    let out = vigil_ok(&["normalize", "--year", "2023", fixtures().join("traps.log").to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    let stamps: Vec<String> = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["@timestamp"].as_str().unwrap().to_owned()).collect();
    assert!(stamps.first().unwrap().starts_with("2023-12-31T23:59:58"), "{stamps:?}");
    assert!(stamps.last().unwrap().starts_with("2024-01-01T00:00:06"), "{stamps:?}");
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "output is in event-time order");
}

fn all_fixture_args() -> Vec<String> {
    let mut v: Vec<String> =
        ["auth.log", "apache_access.log", "zeek_conn.log", "zeek_dns.log", "zeek_conn.json", "windows_lsass.jsonl", "windows_ad.jsonl", "honeypot.json"]
            .iter()
            .map(|n| fixtures().join(n).to_string_lossy().into_owned())
            .collect();
    v.splice(0..0, ["--year".to_string(), "2017".to_string(), "--lateness".to_string(), "2d".to_string()]);
    v
}

#[test]
fn worker_count_does_not_change_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for workers in ["1", "2", "4"] {
        let out = dir.path().join(format!("w{workers}.json"));
        let mut args: Vec<String> =
            vec!["normalize".into(), "-q".into(), "--workers".into(), workers.into(), "--out".into(), out.to_string_lossy().into_owned()];
        args.extend(all_fixture_args());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        vigil_ok(&argv);
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(outputs[0].len() > 10_000);
    assert!(outputs[0] == outputs[1] && outputs[1] == outputs[2], "1, 2 and 4 workers must write identical bytes");
}

#[test]
fn two_processes_write_the_same_events_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port())).unwrap();
    let single = dir.path().join("single.json");
    let mut base: Vec<String> = vec!["normalize".into(), "-q".into()];
    base.extend(all_fixture_args());

    let mut args = base.clone();
    args.extend(["--out".into(), single.to_string_lossy().into_owned()]);
    vigil_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let pattern = dir.path().join("proc-{process}.json");
    let children: Vec<_> = (0..2)
        .map(|p| {
            let mut args = base.clone();
            args.extend([
                "--processes".into(),
                "2".into(),
                "--process".into(),
                p.to_string(),
                "--hosts".into(),
                hosts.to_string_lossy().into_owned(),
                "--out".into(),
                pattern.to_string_lossy().into_owned(),
            ]);
            Command::new(vigil_bin()).args(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut union = sorted_lines(&dir.path().join("proc-0.json"));
    let p1 = sorted_lines(&dir.path().join("proc-1.json"));
    assert!(!union.is_empty() && !p1.is_empty(), "both processes own some entities");
    union.extend(p1);
    union.sort();
    assert_eq!(union, sorted_lines(&single));
}

#[test]
fn stdin_and_gzip_read_like_files() {
    let auth = fixtures().join("auth.log");
    let plain = vigil_ok(&["normalize", "--year", "2017", auth.to_str().unwrap()]).stdout;

    let mut child = Command::new(vigil_bin())
        .args(["normalize", "--year", "2017", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&std::fs::read(&auth).unwrap()).unwrap();
    let from_stdin = child.wait_with_output().unwrap();
    assert!(from_stdin.status.success());
    assert_eq!(from_stdin.stdout, plain, "stdin with --format auto sniffs and replays");

    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("auth.log.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&std::fs::read(&auth).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    assert_eq!(vigil_ok(&["normalize", "--year", "2017", gz.to_str().unwrap()]).stdout, plain);
}

#[test]
fn hostile_input_never_panics_and_is_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.log");
    let mut data = Vec::new();
    data.extend_from_slice(b"Jan  1 00:00:00 h sshd[1]: Failed password for root from 10.0.0.1 port 1 ssh2\n");
    data.extend_from_slice(&[0xff, 0xfe, 0x00, 0x01, b'\n']);
    data.extend(std::iter::repeat_n(b'A', 3 << 20));
    data.push(b'\n');
    data.extend_from_slice(b"Jan  1 00:00:01 h sshd[1]: Failed password for \xff\xfe from 10.0.0.1 port 1 ssh2\n");
    data.extend_from_slice(b"{\"truncated\": \n");
    let mut rng_state = 0x1234_5678u64;
    for _ in 0..2000 {
        rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        data.push((rng_state >> 33) as u8);
    }
    data.extend_from_slice(b"\nJan  1 00:00:02 h sshd[1]: Accepted password for bob from 10.0.0.2 port 2 ssh2");
    std::fs::write(&path, &data).unwrap();
    let lines = data.split(|&b| b == b'\n').count() as u64;

    for format in ["syslog", "apache", "zeek", "json"] {
        let dead = dir.path().join(format!("{format}.dead"));
        let out = vigil_ok(&[
            "normalize",
            "--format",
            format,
            "--year",
            "2020",
            "--out",
            "/dev/null",
            "--dead-letter",
            dead.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        let events = summary_events(&out.stderr);
        let dead_count = std::fs::read_to_string(&dead).unwrap().lines().count() as u64;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let skipped: u64 = stderr.split("skipped lines ").nth(1).and_then(|s| s.split(';').next()).and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        assert!(events + dead_count + skipped >= lines, "{format}: {events} events + {dead_count} dead + {skipped} skipped < {lines} lines\n{stderr}");
        if format == "syslog" {
            assert_eq!(events, 3, "{stderr}");
        }
    }
}

#[test]
fn clear_errors_for_bad_invocations() {
    let out = vigil(&["normalize", "/no/such/file.log"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/file.log"), "{err}");

    let out = vigil(&["normalize", "--format", "csv", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected auto, syslog, apache, zeek or json"));

    let out = vigil(&["normalize", "--lateness", "soon", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("5m"), "lateness errors show examples");

    let out = vigil(&["normalize", "--processes", "2", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hosts"));
}
