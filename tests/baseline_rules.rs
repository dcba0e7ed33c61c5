//! The default baseline rules (topologies/rules/baselines.yml) end to end, on traffic generated
//! here with injected anomalies: three weeks of SSH logins, three days of Zeek connections of
//! twenty local hosts and two days of web clients, each entity with a steady routine, and one
//! departure per rule. Every injected anomaly is found by its rule, no baseline incident names
//! an entity that was not injected, the incidents are byte-identical for 1, 2 and 4 workers and
//! for 2 processes, and learn-then-watch (`--learn`, `--warm-up`) writes only what follows the
//! learning.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// 2024-03-01T00:00:00Z.
const START: i64 = 1_709_251_200_000;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// (year, month 1-12, day, hour, minute, second) of a time in ms (UTC).
fn civil(ms: i64) -> (i64, usize, i64, i64, i64, i64) {
    let days = ms.div_euclid(DAY);
    let secs = ms.rem_euclid(DAY) / 1000;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as usize, d, secs / 3600, secs / 60 % 60, secs % 60)
}

fn syslog_time(ms: i64) -> String {
    let (_, m, d, h, mi, s) = civil(ms);
    format!("{} {d:>2} {h:02}:{mi:02}:{s:02}", MONTHS[m - 1])
}

fn apache_time(ms: i64) -> String {
    let (y, m, d, h, mi, s) = civil(ms);
    format!("{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000", MONTHS[m - 1])
}

/// What was injected: (rule title, entity as it appears in the incident's group).
type Truth = Vec<(&'static str, String)>;

struct Traffic {
    auth: Vec<(i64, String)>,
    conn: Vec<(i64, String)>,
    web: Vec<(i64, String)>,
    truth: Truth,
}

fn sshd(t: i64, pid: u64, msg: &str) -> (i64, String) {
    (t, format!("{} bastion sshd[{pid}]: {msg}", syslog_time(t)))
}

fn conn(t: i64, rng: &mut Rng, src: &str, dst: &str, port: u64, bytes: u64) -> (i64, String) {
    let uid = format!("C{:017x}", rng.next() >> 4);
    let line = format!(
        "{{\"ts\":{}.{:03},\"uid\":\"{uid}\",\"id.orig_h\":\"{src}\",\"id.orig_p\":{},\"id.resp_h\":\"{dst}\",\"id.resp_p\":{port},\"proto\":\"tcp\",\"duration\":0.5,\"orig_bytes\":{bytes},\"resp_bytes\":4000,\"conn_state\":\"SF\",\"local_orig\":true,\"local_resp\":false,\"missed_bytes\":0,\"history\":\"ShADadFf\",\"orig_pkts\":10,\"orig_ip_bytes\":{},\"resp_pkts\":8,\"resp_ip_bytes\":4400}}",
        t / 1000,
        t % 1000,
        40_000 + rng.below(20_000),
        bytes + 400
    );
    (t, line)
}

fn request(t: i64, client: &str, path: &str, status: u16) -> (i64, String) {
    (t, format!("{client} - - [{}] \"GET {path} HTTP/1.1\" {status} 5120 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"", apache_time(t)))
}

/// The whole traffic, with the anomalies of `truth` injected.
fn traffic() -> Traffic {
    let mut rng = Rng(7);
    let mut truth: Truth = Vec::new();
    let mut pid = 1000;
    let mut next_pid = || {
        pid += 1;
        pid
    };

    // SSH: 20 users, 21 days; each logs in from its office /24 or its home /24, a few times a
    // day, and mistypes now and then.
    let mut auth = Vec::new();
    for day in 0..21 {
        for u in 0..20u64 {
            for _ in 0..2 + rng.below(3) {
                let t = START + day * DAY + 7 * HOUR + rng.below(11 * HOUR as u64) as i64;
                let ip = if rng.below(3) == 0 { format!("172.20.{u}.{}", 2 + rng.below(200)) } else { format!("10.1.{u}.{}", 2 + rng.below(200)) };
                if rng.below(6) == 0 {
                    auth.push(sshd(t - 20_000, next_pid(), &format!("Failed password for user{u} from {ip} port {} ssh2", 50_000 + rng.below(9000))));
                }
                auth.push(sshd(t, next_pid(), &format!("Accepted password for user{u} from {ip} port {} ssh2", 50_000 + rng.below(9000))));
            }
        }
    }
    // Day 10 (still in the learn files of the learn-then-watch test): user8 from a new network.
    let t = START + 10 * DAY + 9 * HOUR;
    auth.push(sshd(t, next_pid(), "Accepted password for user8 from 198.18.7.9 port 51515 ssh2"));
    truth.push(("SSH Login From A New Source Network For The User", "user8".into()));
    // Day 15: user3 logs in from a network it never used.
    let t = START + 15 * DAY + 14 * HOUR;
    auth.push(sshd(t, next_pid(), "Accepted password for user3 from 203.0.113.77 port 40001 ssh2"));
    truth.push(("SSH Login From A New Source Network For The User", "user3".into()));
    // Day 16: 60 wrong passwords for user5 in half an hour, then a success: the anomaly, then
    // the success (the chain).
    let t0 = START + 16 * DAY + 13 * HOUR;
    for i in 0..60 {
        auth.push(sshd(t0 + i * 30_000, next_pid(), &format!("Failed password for user5 from 198.51.100.9 port {} ssh2", 30_000 + i)));
    }
    // An interval's anomaly is decided when the interval ends (14:00): the success follows it.
    auth.push(sshd(t0 + 70 * 60_000, next_pid(), "Accepted password for user5 from 198.51.100.9 port 31000 ssh2"));
    truth.push(("Unusual Failed SSH Logins Followed By A Successful Login", "user5".into()));
    truth.push(("SSH Login From A New Source Network For The User", "user5".into()));
    // Day 17: a brand-new account (still learning) from a network nobody uses: the peer group
    // judges it. A second new account from a network the others use stays quiet.
    let t = START + 17 * DAY + 10 * HOUR;
    auth.push(sshd(t, next_pid(), "Accepted password for svc_backup from 198.19.5.200 port 40100 ssh2"));
    auth.push(sshd(t + 60_000, next_pid(), "Accepted password for intern from 10.1.4.77 port 40200 ssh2"));
    truth.push(("SSH Login From A New Source Network For The User", "svc_backup".into()));

    // Zeek: 20 local hosts, 3 days from 2024-03-20; each talks to its own 12 servers on 443, 80
    // and 53, 10 to 20 connections an hour with a few kB each.
    let mut conns = Vec::new();
    let zeek_start = START + 19 * DAY;
    for hour in 0..72 {
        for h in 1..=20u64 {
            let src = format!("10.0.0.{h}");
            for _ in 0..10 + rng.below(11) {
                let t = zeek_start + hour * HOUR + rng.below(HOUR as u64) as i64;
                let server = rng.below(12);
                let dst = format!("93.184.{h}.{}", 10 + server);
                let port = [443, 443, 443, 80, 53][rng.below(5) as usize];
                let bytes = 2_000 + rng.below(30_000);
                conns.push(conn(t, &mut rng, &src, &dst, port, bytes));
            }
        }
    }
    let day2 = zeek_start + 2 * DAY;
    // Host 7 contacts a port it never used.
    conns.push(conn(day2 + 3 * HOUR, &mut rng, "10.0.0.7", "93.184.7.10", 4444, 900));
    truth.push(("Host Contacting A New Destination Port", "10.0.0.7".into()));
    // Host 9 sweeps 200 addresses on port 445 in five minutes (new port and many new addresses).
    for i in 0..200 {
        let t = day2 + 5 * HOUR + i * 1500;
        conns.push(conn(t, &mut rng, "10.0.0.9", &format!("10.0.{}.{}", 100 + i / 100, i % 100 + 1), 445, 60));
    }
    truth.push(("Host Contacting Many New Destinations", "10.0.0.9".into()));
    truth.push(("Host Contacting A New Destination Port", "10.0.0.9".into()));
    // Host 11 uploads 2 GB in an hour to one of its usual servers.
    for i in 0..20 {
        conns.push(conn(day2 + 8 * HOUR + i * 120_000, &mut rng, "10.0.0.11", "93.184.11.12", 443, 100_000_000));
    }
    truth.push(("Host Outbound Traffic Volume Departs From Its History", "10.0.0.11".into()));

    // Web: 20 clients, 2 days from 2024-03-21; each about 25 requests an hour, almost all 200.
    let mut web = Vec::new();
    let web_start = START + 20 * DAY;
    for hour in 0..48 {
        for c in 0..20u64 {
            let client = format!("192.0.2.{}", 10 + c);
            for _ in 0..20 + rng.below(11) {
                let t = web_start + hour * HOUR + rng.below(HOUR as u64) as i64;
                let status = if rng.below(30) == 0 { 304 } else { 200 };
                web.push(request(t, &client, &format!("/docs/page{}.html", rng.below(50)), status));
            }
        }
    }
    let hour40 = web_start + 40 * HOUR;
    // Client 15 requests 400 pages in one hour.
    for i in 0..400 {
        web.push(request(hour40 + i * 8_000, "192.0.2.25", &format!("/docs/page{}.html", i % 50), 200));
    }
    truth.push(("Web Client Request Rate Departs From Its History", "192.0.2.25".into()));
    // Client 16 meets mostly 404s for an hour (probing for files).
    for i in 0..60 {
        web.push(request(hour40 + i * 55_000, "192.0.2.26", &format!("/backup{i}.zip"), 404));
    }
    truth.push(("Web Client Error Share Departs From Its History", "192.0.2.26".into()));

    for v in [&mut auth, &mut conns, &mut web] {
        v.sort_by_key(|(t, _)| *t);
    }
    Traffic { auth, conn: conns, web, truth }
}

fn write(path: &Path, lines: &[(i64, String)]) {
    let mut text = String::new();
    for (_, l) in lines {
        let _ = writeln!(text, "{l}");
    }
    std::fs::write(path, text).unwrap();
}

/// Writes the traffic into `dir`: auth.log (plus its first 14 days and the rest, for
/// learn-then-watch), conn.log, access.log.
fn setup(dir: &Path) -> Truth {
    let t = traffic();
    write(&dir.join("auth.log"), &t.auth);
    let split = START + 14 * DAY;
    write(&dir.join("auth-history.log"), &t.auth.iter().filter(|(ts, _)| *ts < split).cloned().collect::<Vec<_>>());
    write(&dir.join("auth-new.log"), &t.auth.iter().filter(|(ts, _)| *ts >= split).cloned().collect::<Vec<_>>());
    write(&dir.join("conn.log"), &t.conn);
    write(&dir.join("access.log"), &t.web);
    t.truth
}

fn rules() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/rules").to_string_lossy().into_owned()
}

fn inputs(dir: &Path) -> Vec<String> {
    ["auth.log", "conn.log", "access.log"].iter().map(|f| dir.join(f).to_string_lossy().into_owned()).collect()
}

fn replay(args: &[String]) -> (Vec<serde_json::Value>, String, Vec<u8>) {
    let mut all: Vec<String> = vec!["replay".into(), "--rules".into(), rules(), "--year".into(), "2024".into(), "--lateness".into(), "1m".into()];
    all.extend_from_slice(args);
    let out = vigil_ok(&all.iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let incidents = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (incidents, String::from_utf8_lossy(&out.stderr).into_owned(), out.stdout)
}

fn group_entity(inc: &serde_json::Value) -> String {
    let g = inc["vigil"]["group"].as_object().unwrap();
    g.values().map(|v| v.as_str().map_or(v.to_string(), str::to_owned)).collect::<Vec<_>>().join(" ")
}

fn is_baseline(inc: &serde_json::Value, truth: &Truth) -> bool {
    inc["vigil"].get("baseline").is_some() || truth.iter().any(|(rule, _)| inc["rule"]["name"] == *rule)
}

#[test]
fn injected_anomalies_are_found_and_nothing_else_for_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let truth = setup(dir.path());
    let mut outputs = Vec::new();
    let mut found = Vec::new();
    for workers in ["1", "2", "4"] {
        let mut args: Vec<String> = vec!["--workers".into(), workers.into()];
        args.extend(inputs(dir.path()));
        let (incidents, stderr, bytes) = replay(&args);
        assert!(stderr.contains("baselines:"), "{stderr}");
        outputs.push(bytes);
        found = incidents;
    }
    assert!(outputs[0] == outputs[1] && outputs[1] == outputs[2], "incidents differ between 1, 2 and 4 workers");

    for (rule, entity) in &truth {
        assert!(
            found.iter().any(|i| i["rule"]["name"] == *rule && group_entity(i) == *entity),
            "{rule} did not find {entity}; baseline incidents: {:?}",
            found.iter().filter(|i| is_baseline(i, &truth)).map(|i| (i["rule"]["name"].to_string(), group_entity(i))).collect::<Vec<_>>()
        );
    }
    let injected: BTreeSet<&str> = truth.iter().map(|(_, e)| e.as_str()).collect();
    for inc in found.iter().filter(|i| is_baseline(i, &truth)) {
        assert!(injected.contains(group_entity(inc).as_str()), "a baseline incident about an entity with no injected anomaly: {inc}");
    }

    // What the incidents say about the anomaly.
    let get = |rule: &str, entity: &str| found.iter().find(|i| i["rule"]["name"] == rule && group_entity(i) == entity).unwrap().clone();
    let net = get("SSH Login From A New Source Network For The User", "user3");
    assert_eq!(net["vigil"]["correlation"]["type"], "x-vigil-baseline");
    assert_eq!(net["vigil"]["baseline"]["kind"], "new_value");
    assert_eq!(net["vigil"]["baseline"]["value"], "203.0.113.0/24");
    assert_eq!(net["vigil"]["baseline"]["peer"], false);
    assert_eq!(net["vigil"]["evidence"][0]["source"]["ip"], "203.0.113.77", "the login is the evidence");
    assert!(net["tags"].as_array().unwrap().iter().any(|t| t == "attack.t1078"));
    let young = get("SSH Login From A New Source Network For The User", "svc_backup");
    assert_eq!(young["vigil"]["baseline"]["peer"], true, "a new account is judged against the peer group");
    let volume = get("Host Outbound Traffic Volume Departs From Its History", "10.0.0.11");
    let b = &volume["vigil"]["baseline"];
    assert_eq!(b["kind"], "rate");
    assert!(b["observed"].as_f64().unwrap() >= 2e9 && b["expected_mean"].as_f64().unwrap() < 1e6 && b["score"].as_f64().unwrap() >= 5.0, "{b}");
    assert_eq!(volume["event"]["start"], "2024-03-22T08:00:00.000Z");
    assert_eq!(volume["event"]["end"], "2024-03-22T08:59:59.999Z");
    let share = get("Web Client Error Share Departs From Its History", "192.0.2.26");
    assert_eq!(share["vigil"]["baseline"]["value"], 400, "the class that rose: 4xx");
    // The chain's evidence holds the anomaly (a synthetic event) and then the success.
    let chain = get("Unusual Failed SSH Logins Followed By A Successful Login", "user5");
    let ev = chain["vigil"]["evidence"].as_array().unwrap();
    assert_eq!(ev[0]["event"]["action"], "baseline-anomaly", "{chain}");
    assert_eq!(ev[0]["vigil"]["baseline"]["kind"], "rate");
    assert_eq!(ev.last().unwrap()["message"], "Accepted password for user5 from 198.51.100.9 port 31000 ssh2");
}

#[test]
fn two_processes_write_the_same_incidents_as_one() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let single = dir.path().join("single.json");
    let mut args = vec!["--output".to_string(), single.to_string_lossy().into_owned()];
    args.extend(inputs(dir.path()));
    replay(&args);

    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port())).unwrap();
    let pattern = dir.path().join("proc-{process}.json");
    let children: Vec<_> = (0..2)
        .map(|p| {
            let mut args: Vec<String> =
                vec!["replay".into(), "-q".into(), "--rules".into(), rules(), "--year".into(), "2024".into(), "--lateness".into(), "1m".into()];
            args.extend(["--processes", "2", "--workers", "2", "--process"].map(String::from));
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
    assert!(want.iter().any(|l| l.contains("\"x-vigil-baseline\"")));
    assert_eq!(union, want);
}

fn at(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

#[test]
fn learn_then_watch_writes_only_what_follows_the_history() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let d = dir.path();
    let (full, _, _) = replay(&[at(d, "auth.log")]);
    let last_history = START + 14 * DAY;
    let after: Vec<&serde_json::Value> = full.iter().filter(|i| event_ms(i) >= last_history).collect();
    assert!(full.iter().any(|i| group_entity(i) == "user8"), "the day-10 anomaly is found when everything is watched");

    let (watched, stderr, _) = replay(&["--learn".into(), at(d, "auth-history.log"), "--then".into(), at(d, "auth-new.log")]);
    assert!(watched.iter().all(|i| event_ms(i) >= last_history - DAY), "{watched:?}");
    assert!(!watched.iter().any(|i| group_entity(i) == "user8"), "the anomaly inside the history is not written");
    assert_eq!(watched.iter().map(|i| i["event"]["id"].clone()).collect::<Vec<_>>(), after.iter().map(|i| i["event"]["id"].clone()).collect::<Vec<_>>());
    let held = full.len() - after.len();
    assert!(stderr.contains("learn: 1 history input(s) up to 2024-03-14T"), "{stderr}");
    assert!(stderr.contains(&format!("; {held} incident(s) at or before it not written")), "{stderr}");

    // A warm-up of 12 days from the first event drops the day-10 anomaly and keeps the rest.
    let (warm, stderr, _) = replay(&["--warm-up".into(), "12d".into(), at(d, "auth.log")]);
    assert!(stderr.contains("warm-up: until 2024-03-13T"), "{stderr}");
    assert!(!warm.iter().any(|i| group_entity(i) == "user8"));
    assert!(warm.iter().any(|i| group_entity(i) == "user3"));
    assert_eq!(warm.len(), full.iter().filter(|i| event_ms(i) > first_ms(d) + 12 * DAY).count());
}

/// `@timestamp` of an incident in ms.
fn event_ms(inc: &serde_json::Value) -> i64 {
    parse_iso(inc["@timestamp"].as_str().unwrap())
}

fn parse_iso(s: &str) -> i64 {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The first event time of auth.log.
fn first_ms(dir: &Path) -> i64 {
    let first = std::fs::read_to_string(dir.join("auth.log")).unwrap().lines().next().unwrap().to_string();
    let (_, m, d, h, mi, s) = {
        let parts: Vec<&str> = first.split_whitespace().collect();
        let hms: Vec<i64> = parts[2].split(':').map(|x| x.parse().unwrap()).collect();
        (2024, MONTHS.iter().position(|x| *x == parts[0]).unwrap() + 1, parts[1].parse::<i64>().unwrap(), hms[0], hms[1], hms[2])
    };
    assert_eq!(m, 3);
    START + (d - 1) * DAY + h * HOUR + mi * 60_000 + s * 1000
}

#[test]
fn check_reports_baseline_mistakes_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "title: Login\nname: login\nlogsource: {product: linux, service: sshd}\ndetection:\n  sel:\n    system.auth.ssh.event: Accepted\n  condition: sel\n---\n\
         title: New network\ncorrelation:\n  type: x-vigil-baseline\n  rules: [login]\n  group-by: [user.name]\n  timespan: 30d\nx-vigil:\n  baseline:\n    kind: new_value\n    field: source.ip\n    network: 40\n",
    )
    .unwrap();
    let out = vigil(&["check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yml:19: x-vigil.baseline.network: must be an IPv4 prefix length from 0 to 32, found \"40\""), "{stderr}");
    let ok = vigil(&["check", &rules()]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}
