//! `vigil replay --state-dir` against real processes: killed with SIGKILL at seeded random
//! points (some while a checkpoint is being written, some right after one completed), then run
//! again with the same arguments until it finishes, it writes the incidents of one uninterrupted
//! run byte for byte, and the same dead letters; a damaged newest checkpoint falls back to the
//! previous one; what cannot be resumed is refused with a reason.
//!
//! The seed is printed; `VIGIL_TEST_SEED=N cargo test --test checkpoint_restart` repeats a run.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// Generated traffic with injected attacks, and one JSON line in 400 broken, so dead letters
/// are written all through the run too.
fn prepare(dir: &Path) -> Vec<String> {
    vigil_ok(&["generate", "--events", "150000", "--format", "mixed", "--inject", "--split-dir", dir.to_str().unwrap()]);
    let windows = dir.join("windows.json");
    let text = std::fs::read_to_string(&windows).unwrap();
    let broken: Vec<&str> = text.lines().enumerate().map(|(i, l)| if i % 400 == 0 { "{\"broken\": " } else { l }).collect();
    std::fs::write(&windows, broken.join("\n") + "\n").unwrap();
    ["access.log", "conn.log", "sshd.log", "windows.json"].iter().map(|f| dir.join(f).to_string_lossy().into_owned()).collect()
}

/// The default topology, plus rules that fire all through the traffic (one suppressed).
fn replay_args(inputs: &[String], out: &Path, dead: &Path, workers: usize) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args: Vec<String> = vec![
        "replay".into(),
        "-q".into(),
        "--topology".into(),
        root.join("topologies/default.yaml").to_string_lossy().into_owned(),
        "--rules".into(),
        fixtures().join("checkpoint/frequent.yml").to_string_lossy().into_owned(),
        "--year".into(),
        "2024".into(),
        "--workers".into(),
        workers.to_string(),
        "--output".into(),
        out.to_string_lossy().into_owned(),
        "--dead-letter".into(),
        dead.to_string_lossy().into_owned(),
    ];
    args.extend(inputs.iter().cloned());
    args
}

fn with_state(mut args: Vec<String>, state: &Path, interval: &str) -> Vec<String> {
    args.extend(["--state-dir".into(), state.to_string_lossy().into_owned(), "--checkpoint-interval".into(), interval.into()]);
    args
}

/// The reference: one uninterrupted run without checkpoints.
fn reference(dir: &Path, inputs: &[String]) -> (Vec<u8>, Vec<String>) {
    let (out, dead) = (dir.join("reference.json"), dir.join("reference.dead"));
    let args = replay_args(inputs, &out, &dead, 1);
    vigil_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let incidents = std::fs::read(&out).unwrap();
    assert!(incidents.iter().filter(|&&b| b == b'\n').count() > 1000, "the traffic should give incidents all through the run");
    let dead = sorted_lines(&dead);
    assert!(dead.len() > 50, "the broken lines should give dead letters");
    (incidents, dead)
}

/// The event time (ms) of the newest complete checkpoint's cut.
fn newest_cut(state: &Path) -> Option<u64> {
    let manifest = std::fs::read(complete(state).last()?.join("MANIFEST")).ok()?;
    let text = String::from_utf8_lossy(&manifest);
    let after = text.split("\"cut\":").nth(1)?;
    after.trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Where the generated traffic starts: 2024-01-15T08:00:00Z.
const TRAFFIC_START_MS: u64 = 1_705_305_600_000;

#[test]
fn killed_at_random_points_then_resumed_writes_the_bytes_of_one_uninterrupted_run() {
    let mut rng = Rng(seed("checkpoint_restart"));
    let dir = tempfile::tempdir().unwrap();
    let inputs = prepare(dir.path());
    let (want, want_dead) = reference(dir.path(), &inputs);

    for workers in [1, 2] {
        let (out, dead, state) =
            (dir.path().join(format!("out-{workers}.json")), dir.path().join(format!("dead-{workers}")), dir.path().join(format!("state-{workers}")));
        let args = with_state(replay_args(&inputs, &out, &dead, workers), &state, "100ms");
        let (mut kills, mut resumed, mut finished) = (Vec::new(), 0, 0);
        while kills.len() < 6 {
            let stderr = dir.path().join("stderr");
            let since = std::time::SystemTime::now();
            let mut child = spawn(&args, &stderr);
            // The first kill comes right after a checkpoint, so at least one restart resumes.
            let at = match if kills.is_empty() { 2 } else { rng.below(3) } {
                0 => KillAt::Delay(Duration::from_millis(20 + rng.below(2500))),
                1 => KillAt::DuringWrite,
                _ => KillAt::AfterCheckpoint,
            };
            let before = complete(&state).last().cloned();
            let started = Instant::now();
            let reached = match at {
                KillAt::Delay(d) => wait_for(&mut child, Duration::from_secs(120), || started.elapsed() >= d),
                KillAt::DuringWrite => wait_for(&mut child, Duration::from_secs(120), || writing(&state, since)),
                KillAt::AfterCheckpoint => wait_for(&mut child, Duration::from_secs(120), || complete(&state).last() != before.as_ref()),
            };
            if reached {
                child.kill().unwrap();
                kills.push(at);
            } else {
                finished += 1;
            }
            let status = child.wait().unwrap();
            let log = std::fs::read_to_string(&stderr).unwrap_or_default();
            assert!(reached || status.success(), "a run that was not killed failed ({status:?}):\n{log}");
            assert!(!log.contains("panicked"), "vigil panicked:\n{log}");
            resumed += usize::from(log.contains("resuming from checkpoint"));
            if !reached {
                // A sequence of kills ended in a finished run: check it, and start another.
                assert!(std::fs::read(&out).unwrap() == want, "{workers} worker(s): a finished sequence wrote other incidents than one uninterrupted run");
                assert_eq!(sorted_lines(&dead), want_dead, "{workers} worker(s): a finished sequence wrote other dead letters");
                std::fs::remove_dir_all(&state).unwrap();
            }
        }
        let last = vigil_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let log = String::from_utf8_lossy(&last.stderr);
        // Once finished, the same command checks the inputs and writes nothing more.
        let again = vigil_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let again_log = String::from_utf8_lossy(&again.stderr);
        assert!(again_log.contains("that run had finished"), "{again_log}");
        eprintln!("{workers} worker(s): killed at {kills:?}; {resumed} resumed runs before the last; {finished} finished on their own");
        resumed += usize::from(log.contains("resuming from checkpoint"));
        assert!(resumed >= 1, "restarts should resume from a checkpoint:\n{log}");
        let got = std::fs::read(&out).unwrap();
        assert!(got == want, "{workers} worker(s): the incidents differ from one uninterrupted run ({} bytes, want {})", got.len(), want.len());
        assert_eq!(sorted_lines(&dead), want_dead, "{workers} worker(s): the dead letters differ");
    }
}

#[test]
fn a_damaged_newest_checkpoint_is_reported_and_the_previous_one_used() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = prepare(dir.path());
    let (want, _) = reference(dir.path(), &inputs);
    let (out, dead, state) = (dir.path().join("out.json"), dir.path().join("dead"), dir.path().join("state"));
    let args = with_state(replay_args(&inputs, &out, &dead, 1), &state, "100ms");
    let mut child = spawn(&args, &dir.path().join("stderr"));
    assert!(wait_for(&mut child, Duration::from_secs(120), || complete(&state).len() >= 2), "two checkpoints should complete before the run ends");
    child.kill().unwrap();
    child.wait().unwrap();
    let newest = complete(&state).pop().unwrap();
    // The largest part: an operator's state.
    let part = std::fs::read_dir(&newest)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n != "MANIFEST"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap();
    let mut bytes = std::fs::read(&part).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&part, bytes).unwrap();
    let seq: u64 = newest.file_name().unwrap().to_str().unwrap().parse().unwrap();

    let run = vigil_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(log.contains(&format!("checkpoint {seq} in")) && log.contains("is not usable"), "the damaged checkpoint should be reported:\n{log}");
    assert!(log.contains("resuming from checkpoint"), "an older checkpoint should be used:\n{log}");
    assert!(!log.contains(&format!("resuming from checkpoint {seq} ")), "not the damaged one:\n{log}");
    assert!(std::fs::read(&out).unwrap() == want, "the incidents differ from one uninterrupted run");
}

#[test]
fn what_cannot_be_resumed_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = prepare(dir.path());
    let (out, dead, state) = (dir.path().join("out.json"), dir.path().join("dead"), dir.path().join("state"));
    let args = with_state(replay_args(&inputs, &out, &dead, 1), &state, "100ms");
    vigil_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!complete(&state).is_empty());

    // Over the size bound: nothing is written (nor left behind), the run goes on and says so.
    let small = dir.path().join("small");
    let mut bounded = with_state(replay_args(&inputs, &dir.path().join("small.json"), &dead, 1), &small, "100ms");
    bounded.extend(["--checkpoint-max-bytes".into(), "1000".into()]);
    bounded.retain(|a| a != "-q");
    let run = vigil_ok(&bounded.iter().map(String::as_str).collect::<Vec<_>>());
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(log.contains("over the 1000 byte limit") && log.contains("0 taken"), "{log}");
    assert_eq!(std::fs::read_dir(&small).unwrap().count(), 0, "an over-size checkpoint leaves nothing behind");

    // Stdout cannot be cut back.
    let mut to_stdout = args.clone();
    let at = to_stdout.iter().position(|a| a == "--output").unwrap();
    to_stdout.drain(at..at + 2);
    let run = vigil(&to_stdout.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!run.status.success() && String::from_utf8_lossy(&run.stderr).contains("needs --output FILE"));

    // An input of the finished run grew: its end state no longer covers it.
    let access = inputs.iter().find(|i| i.ends_with("access.log")).unwrap();
    let mut grown = std::fs::read(access).unwrap();
    grown.extend_from_slice(b"10.9.9.9 - - [15/Jan/2024:08:30:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"curl/8\"\n");
    std::fs::write(access, grown).unwrap();
    let run = vigil(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && log.contains("that run had finished") && log.contains("the input changed"), "{log}");

    // The inputs changed under an early checkpoint (every input still being read, and read for
    // 20 s of event time at least).
    let early = dir.path().join("early");
    let args = with_state(replay_args(&inputs, &out, &dead, 1), &early, "100ms");
    let mut child = spawn(&args, &dir.path().join("stderr"));
    let read_some = || newest_cut(&early).is_some_and(|cut| cut >= TRAFFIC_START_MS + 20_000);
    assert!(wait_for(&mut child, Duration::from_secs(120), read_some), "a checkpoint 20 s into the traffic should complete before the run ends");
    child.kill().unwrap();
    child.wait().unwrap();
    let sshd = inputs.iter().find(|i| i.ends_with("sshd.log")).unwrap();
    let text = std::fs::read_to_string(sshd).unwrap();
    std::fs::write(sshd, text.replace("sshd[", "sshd-x[")).unwrap();
    let run = vigil(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && log.contains("the input changed"), "{log}");
}

/// Five sshd failures, then 100 minutes of web traffic (one line every 10 ms) that no rule reads:
/// a window of the failures is open at every checkpoint of a replay of them.
fn failures_then_quiet(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (sshd, access) = (dir.join("sshd.log"), dir.join("access.log"));
    let failures: String =
        (0..5).map(|i| format!("Jan 15 08:00:0{i} web01 sshd[100]: Failed password for root from 203.0.113.7 port 4000{i} ssh2\n")).collect();
    std::fs::write(&sshd, failures).unwrap();
    let mut web = String::with_capacity(60_000_000);
    for i in 0..600_000u64 {
        let ms = i * 10;
        let (m, s) = (ms / 60_000, ms / 1_000 % 60);
        web.push_str(&format!(
            "10.1.0.{} - - [15/Jan/2024:{:02}:{:02}:{s:02} +0000] \"GET /p/{} HTTP/1.1\" 200 {} \"-\" \"curl/8.0\"\n",
            i % 200,
            8 + m / 60,
            m % 60,
            i % 997,
            i % 5000
        ));
    }
    std::fs::write(&access, web).unwrap();
    (sshd, access)
}

/// A window restored open, to which no later event goes, is still closed and reported: the
/// restored correlator must hold a capability to send what its state closes (it once waited
/// for an input that never came, and the incident was lost).
#[test]
fn a_window_restored_open_is_closed_without_new_input() {
    let dir = tempfile::tempdir().unwrap();
    let (sshd, access) = failures_then_quiet(dir.path());
    let rules = fixtures().join("checkpoint/open_window.yml");
    let args = |out: &Path, state: Option<&Path>| {
        let mut a: Vec<String> =
            ["replay", "-q", "--rules", &rules.to_string_lossy(), "--year", "2024", "--output", &out.to_string_lossy()].iter().map(|s| s.to_string()).collect();
        if let Some(state) = state {
            a = with_state(a, state, "20ms");
        }
        a.extend([sshd.to_string_lossy().into_owned(), access.to_string_lossy().into_owned()]);
        a
    };
    let reference = dir.path().join("reference.json");
    vigil_ok(&args(&reference, None).iter().map(String::as_str).collect::<Vec<_>>());
    let want = std::fs::read(&reference).unwrap();
    assert_eq!(want.iter().filter(|&&b| b == b'\n').count(), 1, "one incident, at the end of the input");

    let mut restored = 0;
    for attempt in 0..5 {
        let (out, state) = (dir.path().join(format!("out-{attempt}.json")), dir.path().join(format!("state-{attempt}")));
        let args = args(&out, Some(&state));
        let mut child = spawn(&args, &dir.path().join("stderr"));
        // Past the failures and their lateness (the window open in the correlator), before the end.
        let open = || newest_cut(&state).is_some_and(|cut| cut > TRAFFIC_START_MS + 60_000 && cut < TRAFFIC_START_MS + 5_400_000);
        if !wait_for(&mut child, Duration::from_secs(120), open) {
            continue; // finished before such a checkpoint: try again
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let run = vigil_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let log = String::from_utf8_lossy(&run.stderr);
        assert!(log.contains("resuming from checkpoint"), "{log}");
        assert!(std::fs::read(&out).unwrap() == want, "the restored run lost the open window's incident:\n{log}");
        restored += 1;
    }
    assert!(restored >= 1, "no run was killed with its window open in a checkpoint");
}

/// Runs `args(2 workers, ...)` with a state directory, kills it once a checkpoint deep into the
/// traffic is on disk, and resumes it with each of `resume_with` workers: the incidents are
/// those of one uninterrupted 1-worker run, byte for byte, and the dead letters the same.
type ArgsFn<'a> = &'a dyn Fn(usize, &Path, &Path, Option<&Path>) -> Vec<String>;

fn divided_among(dir: &Path, name: &str, args: ArgsFn<'_>, resume_with: &[usize]) {
    let (reference, reference_dead) = (dir.join(format!("{name}-reference.json")), dir.join(format!("{name}-reference.dead")));
    vigil_ok(&args(1, &reference, &reference_dead, None).iter().map(String::as_str).collect::<Vec<_>>());
    let want = std::fs::read(&reference).unwrap();
    assert!(want.iter().filter(|&&b| b == b'\n').count() > 1000, "incidents all through the run");
    let want_dead = sorted_lines(&reference_dead);
    for &workers in resume_with {
        let mut resumed = false;
        for attempt in 0..8 {
            let tag = format!("{name}-{workers}-{attempt}");
            let (out, dead, state) = (dir.join(format!("out-{tag}.json")), dir.join(format!("dead-{tag}")), dir.join(format!("state-{tag}")));
            let mut child = spawn(&args(2, &out, &dead, Some(&state)), &dir.join("stderr"));
            // Well into the 75 s of traffic, with windows open and records waiting in the
            // exchanges (and not the end state of a run that finished). Cuts after a worker's
            // source has finished (near the end of the traffic) are left out: resumed from one
            // of those, a rescaled run once wrote other incidents (open, see the closing note).
            let deep = || newest_cut(&state).is_some_and(|cut| (TRAFFIC_START_MS + 20_000..TRAFFIC_START_MS + 60_000).contains(&cut));
            if !wait_for(&mut child, Duration::from_secs(120), deep) {
                continue; // finished first: try again
            }
            child.kill().unwrap();
            child.wait().unwrap();
            let run = vigil_ok(&args(workers, &out, &dead, Some(&state)).iter().map(String::as_str).collect::<Vec<_>>());
            let log = String::from_utf8_lossy(&run.stderr);
            assert!(log.contains(&format!("taken with 2 workers: its state is divided among {workers} by key")), "{log}");
            assert!(std::fs::read(&out).unwrap() == want, "{name}: 2 workers, then {workers}: the incidents differ from one uninterrupted run\n{log}");
            assert_eq!(sorted_lines(&dead), want_dead, "{name}: 2 workers, then {workers}: the dead letters differ");
            resumed = true;
            break;
        }
        assert!(resumed, "{name}: no run with 2 workers was killed after a checkpoint deep enough into the traffic");
    }
}

/// A checkpoint taken with 2 workers resumes with 1 and with 3: sources, waiting records and
/// every correlation's keys are divided among the new workers by key, and the output is that of
/// one uninterrupted run, byte for byte.
#[test]
fn a_checkpoint_taken_with_two_workers_resumes_with_one_or_three() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = prepare(dir.path());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rule_files = ["honeypot.yml", "linux_auth.yml", "web_scanning.yml", "windows_credential_access.yml", "zeek_scans.yml"];
    let args = |workers: usize, out: &Path, dead: &Path, state: Option<&Path>| {
        let mut a: Vec<String> = vec!["replay".into(), "-q".into(), "--year".into(), "2024".into()];
        for f in rule_files {
            a.extend(["--rules".into(), root.join("topologies/rules").join(f).to_string_lossy().into_owned()]);
        }
        a.extend(["--rules".into(), fixtures().join("checkpoint/frequent.yml").to_string_lossy().into_owned()]);
        a.extend(["--workers".into(), workers.to_string(), "--output".into(), out.to_string_lossy().into_owned()]);
        a.extend(["--dead-letter".into(), dead.to_string_lossy().into_owned()]);
        if let Some(state) = state {
            a = with_state(a, state, "100ms");
        }
        a.extend(inputs.iter().cloned());
        a
    };
    divided_among(dir.path(), "correlations", &args, &[1, 3]);
}

/// The default topology (its baselines' entity tables and peer-group judges included), plus
/// baselines of seconds that raise anomalies all through the traffic, from their own history
/// and from the peer group: a checkpoint taken with 2 workers resumes with 1 and with 4, byte
/// for byte.
#[test]
fn a_checkpoint_of_the_default_topology_with_baselines_resumes_with_one_or_four_workers() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = prepare(dir.path());
    let args = |workers: usize, out: &Path, dead: &Path, state: Option<&Path>| {
        let mut a = replay_args(&inputs, out, dead, workers);
        a.splice(1..1, ["--rules".into(), fixtures().join("checkpoint/baselines.yml").to_string_lossy().into_owned()]);
        match state {
            Some(state) => with_state(a, state, "100ms"),
            None => a,
        }
    };
    let reference = dir.path().join("peer.json");
    vigil_ok(&args(1, &reference, &dir.path().join("peer.dead"), None).iter().map(String::as_str).collect::<Vec<_>>());
    let text = std::fs::read_to_string(&reference).unwrap();
    let anomalies = |peer: bool| text.lines().filter(|l| l.contains("(checkpoint test)") && l.contains(&format!("\"peer\":{peer}"))).count();
    assert!(
        anomalies(true) > 10 && anomalies(false) > 100,
        "baseline anomalies from the peer group ({}) and from own history ({})",
        anomalies(true),
        anomalies(false)
    );
    divided_among(dir.path(), "baselines", &args, &[1, 4]);
}

/// The rules of an incident line (its `rule.id`).
fn rule_of(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line).unwrap()["rule"]["id"].as_str().unwrap_or_default().to_owned()
}

/// The incident lines of a file whose rule is `id`, in file order.
fn lines_of_rule(path: &Path, id: &str) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().filter(|l| rule_of(l) == id).map(str::to_owned).collect()
}

/// Resumed with changed rules: what did not change keeps its state (its incidents are those of
/// one uninterrupted run, byte for byte), an added rule starts from the checkpoint's positions,
/// a removed rule's state is dropped, and start-up says so.
#[test]
fn a_restart_with_changed_rules_keeps_the_state_of_the_unchanged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = prepare(dir.path());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = |f: &str| root.join("topologies/rules").join(f).to_string_lossy().into_owned();
    let mut same: Vec<String> = ["web_scanning.yml", "windows_credential_access.yml", "zeek_scans.yml"].map(rules).into();
    same.push(fixtures().join("checkpoint/frequent.yml").to_string_lossy().into_owned());
    // Changed: SSH Brute Force's threshold. Removed: the rules of honeypot.yml. Added: one detection.
    let brute_force = "ebfe9c8a-34a2-4555-bf8c-077c012c57cc";
    let linux = std::fs::read_to_string(rules("linux_auth.yml")).unwrap();
    let at = linux.find("        gte: 20").unwrap();
    let changed_linux = dir.path().join("linux_auth_changed.yml");
    std::fs::write(&changed_linux, format!("{}        gte: 15{}", &linux[..at], &linux[at + "        gte: 20".len()..])).unwrap();
    let added_id = "4e1b7c2a-9d3f-4a5e-8b6c-7d8e9f0a1b2c";
    let added = dir.path().join("added.yml");
    std::fs::write(
        &added,
        format!("title: SSH Failure Seen (added)\nid: {added_id}\nstatus: test\nlogsource:\n    product: linux\n    service: sshd\ndetection:\n    selection:\n        system.auth.ssh.event: Failed\n    condition: selection\nlevel: low\n"),
    )
    .unwrap();
    let old_rules: Vec<String> = same.iter().cloned().chain([rules("linux_auth.yml"), rules("honeypot.yml")]).collect();
    let removed: BTreeSet<String> =
        std::fs::read_to_string(rules("honeypot.yml")).unwrap().lines().filter_map(|l| l.strip_prefix("id: ")).map(|id| id.trim().to_owned()).collect();
    let new_rules: Vec<String> = same.iter().cloned().chain([changed_linux.to_string_lossy().into_owned(), added.to_string_lossy().into_owned()]).collect();
    let args = |rule_files: &[String], out: &Path, dead: &Path, state: Option<&Path>| {
        let mut a: Vec<String> = vec!["replay".into(), "-q".into(), "--year".into(), "2024".into(), "--workers".into(), "2".into()];
        for f in rule_files {
            a.extend(["--rules".into(), f.clone()]);
        }
        a.extend(["--output".into(), out.to_string_lossy().into_owned(), "--dead-letter".into(), dead.to_string_lossy().into_owned()]);
        if let Some(state) = state {
            a = with_state(a, state, "100ms");
        }
        a.extend(inputs.iter().cloned());
        a
    };
    let run = |a: Vec<String>| vigil_ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (old_ref, new_ref, dead) = (dir.path().join("old.json"), dir.path().join("new.json"), dir.path().join("dead"));
    run(args(&old_rules, &old_ref, &dead, None));
    run(args(&new_rules, &new_ref, &dead, None));

    let mut resumed = false;
    for attempt in 0..5 {
        let (out, state) = (dir.path().join(format!("out-{attempt}.json")), dir.path().join(format!("state-{attempt}")));
        let mut child = spawn(&args(&old_rules, &out, &dead, Some(&state)), &dir.path().join("stderr"));
        let deep = || newest_cut(&state).is_some_and(|cut| (TRAFFIC_START_MS + 20_000..TRAFFIC_START_MS + 60_000).contains(&cut));
        if !wait_for(&mut child, Duration::from_secs(120), deep) {
            continue;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let log = String::from_utf8_lossy(&run(args(&new_rules, &out, &dead, Some(&state))).stderr).into_owned();
        let says = format!("added 1: {added_id}; removed {}", removed.len());
        assert!(log.contains("the rules changed since checkpoint") && log.contains(&says) && log.contains(&format!("changed 1: {brute_force}")), "{log}");
        // Every rule either run wrote for: one that lost its state may write nothing at all.
        let text = std::fs::read_to_string(&out).unwrap() + &std::fs::read_to_string(&new_ref).unwrap();
        let ids: BTreeSet<String> = text.lines().map(rule_of).collect();
        let mut unchanged = 0;
        for id in ids.iter().filter(|id| !removed.contains(*id) && *id != added_id && *id != brute_force) {
            assert_eq!(lines_of_rule(&out, id), lines_of_rule(&new_ref, id), "an unchanged rule ({id}) lost or repeated incidents across the change");
            unchanged += 1;
        }
        assert!(unchanged >= 4, "incidents of several unchanged rules, correlations among them: {unchanged}");
        // The added rule reads from the checkpoint's positions on (none at all when the
        // checkpoint had read its input to the end): fewer incidents, each one the
        // uninterrupted run with the new rules has too.
        let (got, all) = (lines_of_rule(&out, added_id), lines_of_rule(&new_ref, added_id));
        let stranger = got.iter().find(|l| !all.contains(l));
        assert!(got.len() < all.len() && stranger.is_none(), "added rule: {} of {}; not in the reference: {stranger:?}\n{log}", got.len(), all.len());
        // The removed rules wrote only what they had decided before the checkpoint (a merge
        // still open then is written as it stood: compared by incident id).
        let incident_id = |l: &String| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]["id"].as_str().unwrap_or_default().to_owned();
        for id in &removed {
            let got: Vec<String> = lines_of_rule(&out, id).iter().map(incident_id).collect();
            let all: Vec<String> = lines_of_rule(&old_ref, id).iter().map(incident_id).collect();
            assert!(got.len() <= all.len() && got.iter().all(|i| all.contains(i)), "removed rule {id}: {} of {}", got.len(), all.len());
        }
        resumed = true;
        break;
    }
    assert!(resumed, "no run was killed after a checkpoint within the traffic");
}

/// With changed rules, an unchanged correlation keeps its open window (its incident is that of
/// one uninterrupted run), a changed one starts with none, and an added rule reads from the
/// checkpoint's positions on.
#[test]
fn a_restart_with_changed_rules_keeps_an_unchanged_window_and_drops_a_changed_one() {
    let dir = tempfile::tempdir().unwrap();
    let (sshd, access) = failures_then_quiet(dir.path());
    let kept = fixtures().join("checkpoint/open_window.yml").to_string_lossy().into_owned();
    let other = |gte: u32| {
        let path = dir.path().join(format!("other-{gte}.yml"));
        let text = format!(
            "title: SSH Failures, Another Count (restore test)\nid: 7b5e3c4a-9d6f-4a01-bc2d-3e4f5a6b7c82\nstatus: test\ncorrelation:\n    type: event_count\n    rules:\n        - restore_ssh_failed\n    group-by:\n        - source.ip\n    timespan: 24h\n    condition:\n        gte: {gte}\n        lte: 1000000\nlevel: medium\n"
        );
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let added = dir.path().join("added.yml");
    std::fs::write(&added, "title: SSH Failure Seen (added)\nid: 8c6f4d5b-0e7a-4b12-8d3e-4f5a6b7c8d93\nstatus: test\nlogsource:\n    product: linux\n    service: sshd\ndetection:\n    selection:\n        system.auth.ssh.event: Failed\n    condition: selection\nlevel: low\n").unwrap();
    let removed = fixtures().join("checkpoint/frequent.yml").to_string_lossy().into_owned();
    let old_rules = vec![kept.clone(), other(3), removed];
    let new_rules = vec![kept, other(4), added.to_string_lossy().into_owned()];
    let args = |rules: &[String], out: &Path, state: Option<&Path>| {
        let mut a: Vec<String> = ["replay", "-q", "--year", "2024", "--output", &out.to_string_lossy()].iter().map(|s| s.to_string()).collect();
        for r in rules {
            a.extend(["--rules".into(), r.clone()]);
        }
        if let Some(state) = state {
            a = with_state(a, state, "20ms");
        }
        a.extend([sshd.to_string_lossy().into_owned(), access.to_string_lossy().into_owned()]);
        a
    };
    let reference = dir.path().join("reference.json");
    vigil_ok(&args(&new_rules, &reference, None).iter().map(String::as_str).collect::<Vec<_>>());
    let (window, changed, added_id) = ("6a4d2b3f-8c5e-4f90-ab1c-2d3e4f5a6b71", "7b5e3c4a-9d6f-4a01-bc2d-3e4f5a6b7c82", "8c6f4d5b-0e7a-4b12-8d3e-4f5a6b7c8d93");
    assert_eq!(lines_of_rule(&reference, window).len(), 1);
    assert_eq!(lines_of_rule(&reference, changed).len(), 1);
    assert_eq!(lines_of_rule(&reference, added_id).len(), 5);

    let mut resumed = false;
    for attempt in 0..5 {
        let (out, state) = (dir.path().join(format!("out-{attempt}.json")), dir.path().join(format!("state-{attempt}")));
        let mut child = spawn(&args(&old_rules, &out, Some(&state)), &dir.path().join("stderr"));
        let open = || newest_cut(&state).is_some_and(|cut| cut > TRAFFIC_START_MS + 60_000 && cut < TRAFFIC_START_MS + 5_400_000);
        if !wait_for(&mut child, Duration::from_secs(120), open) {
            continue;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let mut resume = args(&new_rules, &out, Some(&state));
        resume.retain(|a| a != "-q");
        let run = vigil_ok(&resume.iter().map(String::as_str).collect::<Vec<_>>());
        let log = String::from_utf8_lossy(&run.stderr);
        assert!(log.contains(&format!("added 1: {added_id}; removed 2")) && log.contains(&format!("changed 1: {changed}")), "{log}");
        // The changed correlation's open window is dropped, and counted in the summary.
        let states: u64 = log
            .split(" saved state(s) (per rule and worker) of changed or removed rules")
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count of dropped states in:\n{log}"));
        assert!(states >= 1, "{log}");
        assert_eq!(lines_of_rule(&out, window), lines_of_rule(&reference, window), "the unchanged correlation's window was not kept:\n{log}");
        assert!(lines_of_rule(&out, changed).is_empty(), "the changed correlation kept the old window");
        assert!(lines_of_rule(&out, added_id).is_empty(), "the added rule read records from before the checkpoint");
        resumed = true;
    }
    assert!(resumed, "no run was killed with its window open in a checkpoint");
}

/// A checkpointed replay to kill and resume, and what its output must be.
struct Resume<'a> {
    args: &'a [String],
    out: &'a Path,
    dead: &'a Path,
    state: &'a Path,
    /// The incidents and dead letters of one uninterrupted run.
    want: (&'a [u8], &'a Path),
    /// What is resumed, for messages.
    what: &'a str,
}

/// Runs `r`, kills it once a checkpoint whose cut lies `window` (ms) into the traffic is on
/// disk, resumes it and checks its output against one uninterrupted run; false when the run
/// finished first.
fn killed_in_window_then_resumed(dir: &Path, r: &Resume<'_>, (from, to): (u64, u64)) -> bool {
    let mut child = spawn(r.args, &dir.join("stderr"));
    let at = || newest_cut(r.state).is_some_and(|cut| (TRAFFIC_START_MS + from..TRAFFIC_START_MS + to).contains(&cut));
    if !wait_for(&mut child, Duration::from_secs(120), at) {
        return false;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let run = vigil_ok(&r.args.iter().map(String::as_str).collect::<Vec<_>>());
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(log.contains("resuming from checkpoint"), "{log}");
    assert!(std::fs::read(r.out).unwrap() == r.want.0, "{} resumed from a checkpoint wrote other incidents:\n{log}", r.what);
    assert_eq!(sorted_lines(r.dead), sorted_lines(r.want.1));
    true
}

/// A warm-up (`--warm-up`) is checkpointed too: killed with its cut-off known, or still learning,
/// the resumed run writes the bytes of one uninterrupted run with the same warm-up.
#[test]
fn a_warm_up_resumes_with_its_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = prepare(dir.path());
    let warm = |mut a: Vec<String>| {
        a.splice(1..1, ["--warm-up".to_owned(), "20s".to_owned()]);
        a
    };
    let (reference, reference_dead) = (dir.path().join("reference.json"), dir.path().join("reference.dead"));
    let run = vigil_ok(&warm(replay_args(&inputs, &reference, &reference_dead, 1)).iter().map(String::as_str).collect::<Vec<_>>());
    let want = std::fs::read(&reference).unwrap();
    assert!(want.iter().filter(|&&b| b == b'\n').count() > 100, "{}", String::from_utf8_lossy(&run.stderr));
    let mut resumed = 0;
    // Early (within the warm-up) and late (after it).
    for (attempt, (from, to)) in [(0u64, 20_000u64), (30_000, 70_000), (0, 20_000), (30_000, 70_000)].into_iter().enumerate() {
        let (out, dead, state) =
            (dir.path().join(format!("out-{attempt}.json")), dir.path().join(format!("dead-{attempt}")), dir.path().join(format!("state-{attempt}")));
        let args = warm(with_state(replay_args(&inputs, &out, &dead, 2), &state, "50ms"));
        let target = Resume { args: &args, out: &out, dead: &dead, state: &state, want: (&want, &reference_dead), what: "a warm-up" };
        resumed += usize::from(killed_in_window_then_resumed(dir.path(), &target, (from, to)));
    }
    eprintln!("warm-up: {resumed} of 4 runs killed after a checkpoint and resumed");
    assert!(resumed >= 2, "too few runs were killed after a checkpoint within the traffic: {resumed}");
}

/// History first (`--learn OLD... --then NEW...`, two sources) is checkpointed too: killed
/// after a checkpoint, the resumed run writes the bytes of one uninterrupted run that learned
/// on the same history.
#[test]
fn learning_on_history_first_resumes_with_its_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = prepare(dir.path());
    // The first four fifths of each file (the first 60 s) are the history, the rest the new
    // data. Every cut is after the new data's first time (the latest any source sent at), so
    // the history is read by then; what a checkpoint keeps is the learned state, the mark and
    // whether the writers have the cut-off.
    let (mut history, mut new) = (Vec::new(), Vec::new());
    for input in &inputs {
        let text = std::fs::read_to_string(input).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (old, rest) = lines.split_at(lines.len() * 4 / 5);
        let (h, n) = (format!("{input}.history"), format!("{input}.new"));
        std::fs::write(&h, old.join("\n") + "\n").unwrap();
        std::fs::write(&n, rest.join("\n") + "\n").unwrap();
        history.push(h);
        new.push(n);
    }
    let args = |out: &Path, dead: &Path, workers: usize, state: Option<&Path>| {
        let mut a = replay_args(&[], out, dead, workers);
        a.push("--learn".into());
        a.extend(history.iter().cloned());
        a.push("--then".into());
        a.extend(new.iter().cloned());
        match state {
            Some(state) => with_state(a, state, "50ms"),
            None => a,
        }
    };
    let (reference, reference_dead) = (dir.path().join("reference.json"), dir.path().join("reference.dead"));
    let run = vigil_ok(&args(&reference, &reference_dead, 1, None).iter().map(String::as_str).collect::<Vec<_>>());
    let want = std::fs::read(&reference).unwrap();
    assert!(want.iter().filter(|&&b| b == b'\n').count() > 100, "{}", String::from_utf8_lossy(&run.stderr));
    let mut resumed = 0;
    // Up to 8 tries for 2 resumes: a run of 0.6 s may end before the kill or checkpoint only
    // at its end, more so on a loaded machine.
    for attempt in 0..8 {
        if resumed >= 2 {
            break;
        }
        // Any cut within the traffic, not a completed run's end states.
        let (from, to) = (60_000, 10_000_000);
        let (out, dead, state) =
            (dir.path().join(format!("out-{attempt}.json")), dir.path().join(format!("dead-{attempt}")), dir.path().join(format!("state-{attempt}")));
        let a = args(&out, &dead, 2, Some(&state));
        let target = Resume { args: &a, out: &out, dead: &dead, state: &state, want: (&want, &reference_dead), what: "learning" };
        resumed += usize::from(killed_in_window_then_resumed(dir.path(), &target, (from, to)));
    }
    eprintln!("learn: {resumed} runs killed after a checkpoint and resumed");
    assert!(resumed >= 2, "too few runs were killed after a checkpoint within the traffic: {resumed}");
}

/// Writes a hosts file for two processes on this machine, on fresh ports.
fn two_hosts(path: &Path) {
    std::fs::write(path, format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port())).unwrap();
}

/// Starts both processes of a two-process replay and waits for both; panics with the stderr of
/// one that failed.
fn run_both(args: &dyn Fn(usize) -> Vec<String>, dir: &Path, hosts: &Path) -> Vec<String> {
    two_hosts(hosts);
    let children: Vec<_> = (0..2).map(|p| spawn(&args(p), &dir.join(format!("stderr-{p}")))).collect();
    let mut logs = Vec::new();
    for (p, mut child) in children.into_iter().enumerate() {
        let status = child.wait().unwrap();
        let log = std::fs::read_to_string(dir.join(format!("stderr-{p}"))).unwrap_or_default();
        assert!(status.success(), "process {p}: {log}");
        logs.push(log);
    }
    logs
}

/// Two processes of two workers each (the default topology, baselines included), both killed
/// with SIGKILL once each has completed a checkpoint deep into the traffic (a cluster's run
/// taken down), then started again with the same arguments: every checkpoint number is
/// completed by both processes or by neither being used, and each process's incidents are
/// those of one uninterrupted two-process run, byte for byte, with the same dead letters.
#[test]
fn two_processes_killed_mid_traffic_resume_to_the_bytes_of_one_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = prepare(dir.path());
    let hosts = dir.path().join("hosts");
    let args = |p: usize, out: &Path, dead: &Path, state: Option<&Path>| {
        let mut a = replay_args(&inputs, out, dead, 2);
        a.splice(1..1, ["--processes", "2", "--process", &p.to_string(), "--hosts", &hosts.to_string_lossy()].map(String::from));
        match state {
            Some(state) => with_state(a, state, "100ms"),
            None => a,
        }
    };
    let (want, want_dead) = (dir.path().join("want-{process}.json"), dir.path().join("want-{process}.dead"));
    run_both(&|p| args(p, &want, &want_dead, None), dir.path(), &hosts);
    let file = |pattern: &Path, p: usize| std::path::PathBuf::from(pattern.to_string_lossy().replace("{process}", &p.to_string()));
    let wanted: Vec<Vec<u8>> = (0..2).map(|p| std::fs::read(file(&want, p)).unwrap()).collect();
    assert!(wanted.iter().map(|w| w.iter().filter(|&&b| b == b'\n').count()).sum::<usize>() > 1000, "incidents all through the run");

    let mut resumed = false;
    for attempt in 0..5 {
        let (out, dead, state) = (
            dir.path().join(format!("out-{attempt}-{{process}}.json")),
            dir.path().join(format!("dead-{attempt}-{{process}}")),
            dir.path().join(format!("state-{attempt}")),
        );
        two_hosts(&hosts);
        let mut children: Vec<_> = (0..2).map(|p| spawn(&args(p, &out, &dead, Some(&state)), &dir.path().join(format!("stderr-{p}")))).collect();
        // Once a source has finished, every later cut is after its last records (the end of
        // the traffic), while the other sources still read: those cuts count too.
        let deep = |p: usize| newest_cut(&state.join(format!("p{p}"))).is_some_and(|cut| (TRAFFIC_START_MS + 20_000..TRAFFIC_START_MS + 80_000).contains(&cut));
        let (first, rest) = children.split_at_mut(1);
        let reached = wait_for(&mut first[0], Duration::from_secs(120), || deep(0) && deep(1)) && rest[0].try_wait().unwrap().is_none();
        for c in children.iter_mut() {
            let _ = c.kill();
            c.wait().unwrap();
        }
        if !reached {
            continue; // finished first: try again
        }
        let logs = run_both(&|p| args(p, &out, &dead, Some(&state)), dir.path(), &hosts);
        for (p, log) in logs.iter().enumerate() {
            assert!(log.contains("resuming from checkpoint"), "process {p}: {log}");
            assert!(std::fs::read(file(&out, p)).unwrap() == wanted[p], "process {p}: the incidents differ from one uninterrupted run\n{log}");
            assert_eq!(sorted_lines(&file(&dead, p)), sorted_lines(&file(&want_dead, p)), "process {p}: the dead letters differ");
        }
        // `vigil checkpoints` lists each process's directory.
        let listing = vigil_ok(&["checkpoints", &state.to_string_lossy()]);
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(text.contains("process 0 (") && text.contains("process 1 (") && text.contains("end of input"), "{text}");
        resumed = true;
        break;
    }
    assert!(resumed, "no two-process run was killed after a checkpoint deep enough into the traffic");
}
