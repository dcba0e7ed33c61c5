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
