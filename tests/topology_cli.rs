//! Topologies as a user runs them: `vigil check` validates a topology with its rules, and
//! `vigil replay --topology` takes rules, placeholder values, sources and per-source lateness
//! from it.

mod common;

use std::path::Path;

use common::*;

fn repo(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel).to_string_lossy().into_owned()
}

#[test]
fn check_validates_the_shipped_topologies_and_their_rules() {
    let out = vigil_ok(&["check", "--strict", &repo("topologies")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(\"default\"): 4 source(s), "), "{err}");
    assert!(!err.contains(" 0 detection"), "{err}");
    assert!(err.contains("(\"samples\")"), "{err}");
}

#[test]
fn check_names_file_line_and_field_of_every_topology_error() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("broken.yaml");
    std::fs::write(
        &topo,
        "name: broken\nrules: [missing-rules/]\ntime:\n  lateness: whenever\nsources:\n  - name: auth\n    format: cef\n    topic: logs.auth\n  - name: auth\n    format: syslog\n",
    )
    .unwrap();
    let out = vigil(&["check", topo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let shown = topo.display().to_string();
    for want in [
        format!("{shown}:2: rules[0]: "),
        format!("{shown}:4: time.lateness: invalid duration \"whenever\""),
        format!("{shown}:7: sources[0].format: unknown format \"cef\""),
        format!("{shown}:9: sources[1].name: duplicate source name \"auth\""),
        format!("{shown}:9: sources[1]: a source needs a topic"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in\n{err}");
    }
    assert!(err.contains("vigil check: 5 error(s)"), "{err}");
    // The same file given to replay as rules says what it is.
    let out = vigil(&["replay", "--rules", topo.to_str().unwrap(), "-"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("this is a vigil topology, not a Sigma rule: pass it with --topology"));
}

#[test]
fn replay_takes_rules_placeholders_sources_and_lateness_from_the_topology() {
    let dir = tempfile::tempdir().unwrap();
    // Two sshd successes, for root and for alice; the rule fires for the placeholder's users only.
    std::fs::write(
        dir.path().join("auth.log"),
        "Mar  1 10:00:00 srv sshd[1]: Accepted password for root from 203.0.113.9 port 5000 ssh2\n\
         Mar  1 10:00:05 srv sshd[2]: Accepted password for alice from 203.0.113.9 port 5001 ssh2\n\
         Mar  1 09:59:00 srv sshd[3]: Accepted password for toor from 203.0.113.9 port 5002 ssh2\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("admin.yml"),
        "title: Admin Login Over SSH\nid: 5f0d7c52-1a3e-4b8e-9a51-0c1f7a3a1e01\nlevel: high\nlogsource: {product: linux, service: sshd}\n\
         detection:\n  sel:\n    event.outcome: success\n    user.name|expand: '%admins%'\n  condition: sel\n",
    )
    .unwrap();
    let topo = |lateness: &str| {
        format!(
            "name: t\nrules: [admin.yml]\nplaceholders:\n  admins: [root, toor]\nsources:\n  - name: auth\n    format: syslog\n    path: auth.log\n    year: 2019\n    lateness: {lateness}\n"
        )
    };
    std::fs::write(dir.path().join("strict.yaml"), topo("5s")).unwrap();
    std::fs::write(dir.path().join("loose.yaml"), topo("5m")).unwrap();

    // With 5 s lateness the 09:59 line is late (dead-lettered), so only root's login fires.
    let out = vigil_ok(&["replay", "--topology", dir.path().join("strict.yaml").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let users: Vec<&str> = text
        .lines()
        .map(|l| {
            if l.contains("\"root\"") {
                "root"
            } else if l.contains("\"toor\"") {
                "toor"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(users, ["root"], "{text}");
    assert!(text.contains("\"@timestamp\":\"2019-03-01T10:00:00.000Z\""), "the topology's year applies: {text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("late 1"), "{}", String::from_utf8_lossy(&out.stderr));

    // The source's own lateness admits it; the CLI's --lateness overrides neither (it sets the default).
    let out = vigil_ok(&["replay", "--topology", dir.path().join("loose.yaml").to_str().unwrap(), "--lateness", "1s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().next().unwrap().contains("\"toor\""), "incidents in time order: {text}");
}

#[test]
fn samples_topology_runs_without_arguments() {
    let out = vigil_ok(&["replay", "--topology", &repo("topologies/samples.yaml")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("6 input(s)"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).is_empty(), "{err}");
}

/// The most live correlation keys a replay's summary reports.
fn peak_keys(stderr: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().find(|l| l.contains("correlation state: at most")).unwrap_or_else(|| panic!("no correlation state line: {text}"));
    line.split_whitespace().skip_while(|w| *w != "most").nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn a_slow_source_does_not_hold_back_correlations_over_fast_ones() {
    // A hundred SSH failures a second, each from a new address, for 20 minutes, beside one Zeek
    // record a second. The brute-force correlation (5 minutes) can only be fed by the syslog
    // source, so it waits for that source's lateness alone: its keys are freed 5 minutes after
    // their event (about 30,000 live, plus what one read of the source adds) whatever Zeek's
    // lateness. With one frontier for the run, a Zeek lateness of 5 minutes held every key 5
    // minutes longer (about 60,000 live), as a lateness of 5 minutes for the syslog source does.
    let dir = tempfile::tempdir().unwrap();
    let (mut auth, mut zeek) = (String::new(), String::new());
    for i in 0..120_000u32 {
        let (m, s) = (i / 100 / 60, i / 100 % 60);
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        auth.push_str(&format!("Mar  1 10:{m:02}:{s:02} srv sshd[{i}]: Failed password for root from {ip} port 5000 ssh2\n"));
    }
    for t in 0..1200u32 {
        // 2019-03-01T10:00:00Z is 1551434400.
        zeek.push_str(&format!(
            "{{\"ts\":{}.0,\"uid\":\"C{t}\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":4000,\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":80,\"proto\":\"tcp\"}}\n",
            1551434400 + t
        ));
    }
    std::fs::write(dir.path().join("auth.log"), auth).unwrap();
    std::fs::write(dir.path().join("conn.log"), zeek).unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "title: SSH Failure\nname: ssh_failure\nlogsource: {product: linux, service: sshd}\n\
         detection:\n  sel:\n    event.outcome: failure\n  condition: sel\n---\n\
         title: SSH Brute Force\ncorrelation:\n  type: event_count\n  rules: [ssh_failure]\n  group-by: [source.ip]\n  timespan: 5m\n  condition: {gte: 3}\n",
    )
    .unwrap();
    let topo = |auth: &str, zeek: &str| {
        format!(
            "name: t\nrules: [rules.yml]\nsources:\n  - name: auth\n    format: syslog\n    path: auth.log\n    year: 2019\n    lateness: {auth}\n  \
             - name: zeek\n    format: zeek\n    path: conn.log\n    lateness: {zeek}\n"
        )
    };
    let run = |name: &str, auth: &str, zeek: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, topo(auth, zeek)).unwrap();
        let out = vigil_ok(&["replay", "--topology", path.to_str().unwrap(), "--workers", "2"]);
        assert_eq!(summary_events(&out.stderr), 121_200, "{}", String::from_utf8_lossy(&out.stderr));
        peak_keys(&out.stderr)
    };
    let alone = run("alone.yaml", "5s", "5s");
    let beside_slow = run("slow.yaml", "5s", "5m");
    let slow_itself = run("self.yaml", "5m", "5m");
    assert!(alone >= 30_000, "at least 5 minutes of keys live at once: {alone}");
    assert!(beside_slow * 4 <= alone * 5, "a 5-minute Zeek source held the SSH correlation back: {beside_slow} keys against {alone}");
    assert!(slow_itself * 10 >= alone * 13, "the measure cannot tell waiting from not waiting: {slow_itself} against {alone}");
}
