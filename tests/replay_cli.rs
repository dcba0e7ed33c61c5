//! `vigil replay` end to end: generated traffic with injected attacks through the default rule
//! set finds every attack and nothing else, and the incidents are byte-identical for 1, 2 and
//! 4 workers and for 2 processes.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// Attack kind (as `vigil generate --inject` reports it) -> the rule that must find it.
const EXPECTED: &[(&str, &str)] = &[
    ("ssh_brute_force", "SSH Brute Force"),
    ("ssh_brute_force_success", "SSH Brute Force Followed By Successful Login"),
    ("password_spray", "SSH Password Spraying"),
    ("pam_brute_force", "PAM Authentication Failure Brute Force"),
    ("web_scan", "Web Content Discovery Scan"),
    ("vertical_port_scan", "Vertical Port Scan"),
    ("horizontal_port_scan", "Horizontal Port Scan Of Internal Hosts"),
    ("compromise_chain", "Linux Server Compromise Chain"),
    ("windows_logon_failures", "Windows Logon Failures For Many Accounts From One Source"),
    ("kerberoasting", "Kerberoasting"),
    ("lateral_movement", "Lateral Movement Via Network Logons To Many Hosts"),
    ("lsass_access", "LSASS Memory Access With Credential Dumping Rights"),
];

fn rules() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/rules").to_string_lossy().into_owned()
}

/// Generates injected traffic into `dir`; returns the ground truth as (kind, entity).
fn generate(dir: &Path) -> Vec<(String, String)> {
    let out = vigil_ok(&["generate", "--events", "700000", "--format", "mixed", "--inject", "--split-dir", dir.to_str().unwrap()]);
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("injected "))
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            (parts[0].to_string(), parts[2].to_string())
        })
        .collect()
}

fn inputs(dir: &Path) -> Vec<String> {
    ["sshd.log", "access.log", "conn.log", "windows.json"].iter().map(|f| dir.join(f).to_string_lossy().into_owned()).collect()
}

fn replay(dir: &Path, extra: &[String], out: &Path) -> String {
    let mut args: Vec<String> =
        vec!["replay".into(), "--rules".into(), rules(), "--year".into(), "2024".into(), "--output".into(), out.to_string_lossy().into_owned()];
    args.extend_from_slice(extra);
    args.extend(inputs(dir));
    let run = vigil_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    String::from_utf8_lossy(&run.stderr).into_owned()
}

#[test]
fn injected_attacks_are_found_and_nothing_else_for_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path());
    assert!(truth.len() >= EXPECTED.len(), "ground truth: {truth:?}");

    let mut outputs = Vec::new();
    for workers in ["1", "2", "4"] {
        let out = dir.path().join(format!("incidents-{workers}.json"));
        replay(dir.path(), &["--workers".into(), workers.into()], &out);
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(outputs[0] == outputs[1] && outputs[1] == outputs[2], "incidents differ between 1, 2 and 4 workers");

    let text = String::from_utf8(outputs[0].clone()).unwrap();
    let incidents: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let attackers: BTreeSet<&str> = truth.iter().map(|(_, e)| e.as_str()).collect();
    for (kind, rule) in EXPECTED {
        let Some((_, entity)) = truth.iter().find(|(k, _)| k == kind) else { panic!("{kind} was not injected") };
        let found = incidents.iter().any(|i| i["rule"]["name"] == *rule && i.to_string().contains(&entity.replace('\\', "\\\\")));
        assert!(found, "{kind} ({entity}) not found by {rule:?}");
    }
    for inc in &incidents {
        let line = inc.to_string();
        assert!(
            attackers.iter().any(|a| line.contains(&a.replace('\\', "\\\\"))),
            "incident about no injected attacker (a false positive): {} {}",
            inc["rule"]["name"],
            inc["vigil"]["group"]
        );
    }
}

#[test]
fn two_processes_write_the_same_incidents_as_one() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let single = dir.path().join("single.json");
    replay(dir.path(), &[], &single);

    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port())).unwrap();
    let pattern = dir.path().join("proc-{process}.json");
    let children: Vec<_> = (0..2)
        .map(|p| {
            let mut args: Vec<String> = vec!["replay".into(), "-q".into(), "--rules".into(), rules(), "--year".into(), "2024".into()];
            args.extend(["--processes", "2", "--process"].map(String::from));
            args.push(p.to_string());
            args.extend(["--hosts".to_string(), hosts.to_string_lossy().into_owned(), "--output".into(), pattern.to_string_lossy().into_owned()]);
            args.extend(inputs(dir.path()));
            Command::new(vigil_bin()).args(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut union = sorted_lines(&dir.path().join("proc-0.json"));
    union.extend(sorted_lines(&dir.path().join("proc-1.json")));
    union.sort();
    let want = sorted_lines(&single);
    assert!(!want.is_empty());
    assert_eq!(union, want);
}

#[test]
fn absence_fires_only_where_b_did_not_follow_a_in_time() {
    let dir = fixtures().join("absence");
    let out = vigil_ok(&["replay", "--rules", dir.join("rules.yml").to_str().unwrap(), "--year", "2024", dir.join("auth.log").to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    let incidents: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(incidents.len(), 1, "{text}");
    assert_eq!(incidents[0]["vigil"]["group"]["host.hostname"], "h2");
    assert_eq!(incidents[0]["vigil"]["correlation"]["type"], "x-vigil-absence");
    assert_eq!(incidents[0]["event"]["start"], "2024-01-10T10:01:00.000Z");
    assert_eq!(incidents[0]["event"]["end"], "2024-01-10T10:02:00.000Z");
}

#[test]
fn persistence_finds_low_and_slow_guessing_over_hours() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("slow.log");
    // Five records a second of event time: 150,000 records span more than 8 hours.
    vigil_ok(&["generate", "-q", "--events", "150000", "--rate", "5", "--format", "syslog", "--inject", "--out", log.to_str().unwrap()]);
    let out = vigil_ok(&["replay", "-q", "--rules", &rules(), "--year", "2024", log.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    let slow: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|i| i["rule"]["name"] == "SSH Low And Slow Root Password Guessing")
        .collect();
    assert_eq!(slow.len(), 1, "one incident, later windows merged into it:\n{text}");
    assert_eq!(slow[0]["vigil"]["group"]["source.ip"], "43.99.252.130");
    assert!(slow[0]["vigil"]["suppressed"].as_u64().unwrap() >= 1);
}

#[test]
fn honeypot_chain_is_found_in_one_session() {
    let out = vigil_ok(&["replay", "-q", "--rules", &rules(), fixtures().join("honeypot.json").to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    let incidents: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(incidents.len(), 1, "{text}");
    assert_eq!(incidents[0]["rule"]["name"], "Honeypot Compromise Chain");
    assert_eq!(incidents[0]["vigil"]["group"]["session"], "aa11");
    assert_eq!(incidents[0]["related"]["ip"][0], "192.0.2.10");
}

/// A match whose event lacks the value its correlation measures is not dropped silently: the
/// summary counts it.
#[test]
fn matches_without_the_measured_value_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "title: Failed\nname: failed\nlogsource:\n    product: linux\n    service: sshd\ndetection:\n    selection:\n        system.auth.ssh.event: Failed\n    condition: selection\n---\n\
title: Bytes Per Source\ncorrelation:\n    type: value_sum\n    rules: [failed]\n    group-by: [source.ip]\n    timespan: 5m\n    condition:\n        field: no.such.field\n        gt: 0\n",
    )
    .unwrap();
    let auth = fixtures().join("auth.log");
    let run = vigil_ok(&["replay", "--rules", rules.to_str().unwrap(), "--year", "2017", "--output", "/dev/null", auth.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let line = stderr.lines().find(|l| l.contains("without the value their correlation measures")).unwrap_or_else(|| panic!("no count in:\n{stderr}"));
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n > 0, "{line}");
}

#[test]
fn alerts_of_one_group_in_the_same_millisecond_are_all_written_with_their_own_ids() {
    // Two logon failures and a success of one account, then a failure and a success, all in one
    // millisecond: two sequence alerts with the same group, window start and time. They once
    // shared an id, and the writer took the second for a copy of the first.
    let dir = tempfile::tempdir().unwrap();
    let at = "2024-01-15T08:37:34.222Z";
    let line =
        |id: u32, n: u32| format!("{{\"@timestamp\":\"{at}\",\"Channel\":\"Security\",\"EventID\":{id},\"TargetUserName\":\"heidi\",\"RecordNumber\":{n}}}\n");
    let events = [line(4625, 1), line(4624, 2), line(4625, 3), line(4624, 4), line(4624, 4)].concat();
    std::fs::write(dir.path().join("logons.json"), events).unwrap();
    let rules = dir.path().join("sequence.yml");
    std::fs::write(
        &rules,
        "title: Logon Failure\nname: failure\nlogsource: {product: windows, service: security}\ndetection: {sel: {EventID: 4625}, condition: sel}\n---\n\
         title: Logon Success\nname: success\nlogsource: {product: windows, service: security}\ndetection: {sel: {EventID: 4624}, condition: sel}\n---\n\
         title: Failure Then Success\ncorrelation: {type: temporal_ordered, rules: [failure, success], group-by: [TargetUserName], timespan: 10m}\n",
    )
    .unwrap();
    let out = vigil_ok(&["replay", "--rules", rules.to_str().unwrap(), dir.path().join("logons.json").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let incidents: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(incidents.len(), 2, "{text}");
    let ids: BTreeSet<&str> = incidents.iter().map(|i| i["event"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "each alert has its own id: {text}");
    let records: Vec<Vec<u64>> =
        incidents.iter().map(|i| i["vigil"]["evidence"].as_array().unwrap().iter().map(|e| e["RecordNumber"].as_u64().unwrap()).collect()).collect();
    assert_eq!(records, [vec![1, 2], vec![3, 4]], "{text}");
}
