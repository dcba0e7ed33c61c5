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
//! The traffic is benign background. Attack scenarios are meant to be mixed in through
//! [`Injection`], so detections have a known signal against realistic noise; for that reason the
//! background avoids patterns that common rules flag (LSASS read access, encoded PowerShell, ...).
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

/// An attack scenario to mix into the background traffic (brute force, password spraying, port
/// scans, kerberoasting, ...). No scenario exists yet; each will be a variant that emits its
/// lines on the generator's clock and counts toward `events`.
#[derive(Clone, Debug, PartialEq)]
pub enum Injection {}

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
    injections: Vec<Injection>,
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
        Generator {
            format: cfg.format,
            events: cfg.events,
            injections: cfg.injections,
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

    /// The hook where attack scenarios take their turn before the background traffic: the first
    /// scenario with a line due at the current event time writes it and names its format.
    fn inject(&mut self, _out: &mut Vec<u8>) -> Option<GenFormat> {
        self.injections.first().map(|injection| -> GenFormat { match *injection {} })
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
                out.extend_from_slice(b"Failed password for ");
                put_user(out, user);
                out.extend_from_slice(b" from ");
                put_ipv4(out, staff_ip);
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
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(path);
        match kind {
            PageKind::Product => put_u64(out, 1000 + skewed(&mut self.rng, 5000)),
            PageKind::Search => {
                out.extend_from_slice(pick(&mut self.rng, SEARCH_WORDS));
                out.extend_from_slice(b"&page=");
                put_u64(out, 1 + skewed(&mut self.rng, 8));
            }
            PageKind::ApiItem => {
                put_u64(out, 1000 + skewed(&mut self.rng, 5000));
                out.extend_from_slice(b"?fields=price,stock");
            }
            _ => {}
        }
        out.extend_from_slice(match self.rng.gen_range(0..100u32) {
            0..=86 => b" HTTP/1.1\" ",
            87..=96 => b" HTTP/2.0\" ",
            _ => b" HTTP/1.0\" ",
        });

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
        let w = &self.world;
        let rng = &mut self.rng;
        let user = w.user(rng);
        let ws = w.ws_ip(user);
        let mut c = Conn {
            uid: [0; 18],
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
        c.uid[0] = b'C';
        let (mut a, mut b) = (rng.next_u64(), rng.next_u64());
        for (i, slot) in c.uid[1..].iter_mut().enumerate() {
            let r = if i < 9 { &mut a } else { &mut b };
            *slot = BASE62[(*r % 62) as usize];
            *r /= 62;
        }
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
            _ => Host::Server(self.world.server_in(&mut self.rng, WINDOWS_ROLES)),
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
