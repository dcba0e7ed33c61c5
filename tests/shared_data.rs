//! Every log in the project's public datasets (`../shared/data`, beside the repository) through
//! the real `vigil normalize`: no panic, nothing unparsable, nothing late at the lateness the
//! README gives for it, and as many events as the dataset's PROVENANCE.md says it holds.
//! The datasets are not part of the repository, so this test is `#[ignore]`d; `scripts/test.sh`
//! runs it whenever `../shared/data` exists.

mod common;

use std::path::PathBuf;

use common::*;

/// (path under shared/data, extra arguments, events expected)
const DATASETS: &[(&str, &[&str], u64)] = &[
    // 7,121 lines; 85 "message repeated N times" lines stand for 410 events.
    ("elastic-auth-log/auth.log", &["--year", "2017"], 7_121 - 85 + 410),
    ("loghub-openssh-linux/OpenSSH_2k.log", &[], 2_000 - 2 + 10),
    ("loghub-openssh-linux/Linux_2k.log", &["--year", "2005"], 2_000),
    ("elastic-apache-access/apache_access.log", &["--lateness", "1m"], 10_000),
    ("otrf-lsass-campaign-01/host_filtered.jsonl", &["--lateness", "10m"], 1_120),
    ("otrf-lsass-campaign-01/zeek/conn.log", &["--lateness", "10m"], 112),
    ("otrf-lsass-campaign-01/zeek/dns.log", &["--lateness", "10m"], 96),
    ("otrf-lsass-campaign-01/zeek/ssl.log", &["--lateness", "10m"], 5),
    ("otrf-purplesharp-ad-playbook-1/security_sysmon1_3.jsonl", &["--lateness", "1m"], 2_993),
    ("otrf-purplesharp-ad-playbook-1/purplesharp_ad_playbook_I_host_full.zip", &["--lateness", "1m"], 25_993),
    ("stratosphere-zeek-mixed-008/conn.log.labeled", &["--lateness", "1d"], 5_663),
    ("stratosphere-zeek-portscan/conn.log", &["--lateness", "10m"], 4_504),
];

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("shared").join("data")
}

#[test]
#[ignore = "needs ../shared/data beside the repository"]
fn every_public_dataset_normalizes_completely() {
    let root = shared();
    assert!(root.is_dir(), "{} is missing", root.display());
    let mut report = Vec::new();
    for (path, extra, want) in DATASETS {
        let file = root.join(path);
        let mut args = vec!["normalize", "--out", "/dev/null"];
        args.extend_from_slice(extra);
        args.push(file.to_str().unwrap());
        let out = vigil_ok(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let events = summary_events(&out.stderr);
        assert!(stderr.contains("unparsable 0;") && stderr.contains("late 0;"), "{path}:\n{stderr}");
        assert_eq!(events, *want, "{path}:\n{stderr}");
        report.push(format!("{path}: {events} events"));
    }

    // The week of Cowrie logs: 11,907 events, in order across the seven files.
    let mut args: Vec<String> = vec!["normalize".into(), "--out".into(), "/dev/null".into()];
    let mut days: Vec<PathBuf> = std::fs::read_dir(root.join("cowrie-honeypot-2018-05"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("cowrie.json"))
        .collect();
    days.sort();
    args.extend(days.iter().map(|p| p.to_string_lossy().into_owned()));
    let out = vigil_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(summary_events(&out.stderr), 11_907, "{}", String::from_utf8_lossy(&out.stderr));
    report.push("cowrie-honeypot-2018-05 (7 files): 11907 events".into());

    // Every Zeek log of the OTRF capture parses, whatever its kind.
    let zeek: Vec<PathBuf> = std::fs::read_dir(root.join("otrf-lsass-campaign-01/zeek")).unwrap().flatten().map(|e| e.path()).collect();
    let mut args: Vec<String> = vec!["normalize".into(), "--lateness".into(), "1h".into(), "--out".into(), "/dev/null".into()];
    args.extend(zeek.iter().map(|p| p.to_string_lossy().into_owned()));
    let out = vigil_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unparsable 0;") && stderr.contains("late 0;"), "{stderr}");
    println!("{}", report.join("\n"));
}
