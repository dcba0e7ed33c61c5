//! BSD syslog (RFC 3164) lines, normalized to ECS the way Elastic Filebeat's `system` module
//! (auth and syslog pipelines) names things.
//!
//! Header: an optional `<PRI>`, a timestamp (`Mar 27 13:08:09`, `Jun  4 ...`, an optional
//! fraction, or an RFC 3339 timestamp as rsyslog writes it), an optional hostname, then
//! `program[pid]: message` where, as in Filebeat's grok, the program is everything up to the first
//! `[pid]:` or `: ` (so `sshd(pam_unix)` and `syslogd 1.4.1` are program names). A line without a
//! `program:` part still becomes an event: its first word is the hostname, the rest `message`
//! (Filebeat would drop the hostname there; a security tool wants it).
//!
//! The message of sshd, PAM, sudo, su, cron, ftpd, klogind, systemd-logind, useradd/groupadd and
//! chpasswd/passwd is parsed further into `user.*`, `source.*`, `system.auth.*` and `event.*`
//! fields. Parsing is byte scanning without regexes or per-line allocation beyond the event.
//!
//! `message repeated N times: [ inner ]` (rsyslog's repeat reduction) stands for N further
//! occurrences of `inner`, so it becomes N events, each parsed as if `inner` were the message.
//! N is capped at [`MAX_REPEAT`] so one crafted line cannot expand without bound; the excess is
//! dropped silently.
//!
//! # Time and year
//!
//! BSD timestamps carry no zone and no year. They are read as UTC. The year is inferred per
//! parser (one parser per input, so per file), in this order:
//! 1. The first record uses `ParseOptions::year` when given; otherwise the year of
//!    `ParseOptions::now_ms`, minus one if the record's month is later than the current month
//!    (a log is not from the future).
//! 2. After that the parser keeps a current (year, month). A record whose month is at least six
//!    months *before* the current one means the year rolled over (Dec -> Jan): the year goes up
//!    by one and becomes current. A record whose month is at least six months *after* the current
//!    one is a late line from before the rollover (a Dec line after Jan lines): it gets year - 1
//!    and the state does not change. Any other record just updates the current month.
//! 3. An RFC 3339 timestamp carries its year and is read as written; it does not move the year
//!    inferred for the BSD lines: one line, which anyone who can write to the log can forge (a
//!    record dated 2099, say), must not re-date every line after it.
//!
//! A date that does not exist in the chosen year (Feb 29 in a non-leap year) is a
//! `bad-timestamp` error rather than a guess.

use std::net::IpAddr;

use memchr::{memchr, memchr_iter};

use super::{lossy, ErrorKind, Outcome, ParseError, ParseOptions, RecordParser, MAX_RECORD_BYTES};
use crate::event::field::{self, known, FieldId};
use crate::event::time::{civil_from_days, digits, from_civil, month_from_abbrev, parse_iso8601, MS_PER_DAY};
use crate::event::{canonical_ip, Event, Value};

/// Most events one `message repeated N times` line expands to.
pub const MAX_REPEAT: usize = 10_000;

/// The (year, month) the year inference is anchored to.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct YearState {
    year: i64,
    month: u32,
}

/// A header timestamp: civil time without a year, or an absolute time.
#[derive(Clone, Copy, Debug)]
enum Stamp {
    Bsd { month: u32, day: u32, hour: u32, min: u32, sec: u32, ms: u32 },
    Abs(i64),
}

/// The parts of a line before the message fields.
struct Header<'a> {
    ts: i64,
    pri: Option<u8>,
    host: Option<&'a str>,
    program: Option<&'a str>,
    pid: Option<i64>,
    message: &'a str,
}

/// Parses BSD syslog lines; keeps the year-inference state of one input.
pub struct SyslogParser {
    fixed_year: Option<i64>,
    now_year: i64,
    now_month: u32,
    state: Option<YearState>,
    useradd_home: Option<FieldId>,
    useradd_shell: Option<FieldId>,
}

impl SyslogParser {
    /// Creates a parser for one input.
    pub fn new(opts: &ParseOptions) -> Self {
        let (now_year, now_month, _) = civil_from_days(opts.now_ms.div_euclid(MS_PER_DAY));
        SyslogParser {
            fixed_year: opts.year.map(i64::from),
            now_year,
            now_month,
            state: None,
            // Not in the fixed table; interned once here so the hot path does no lookup.
            useradd_home: field::intern("system.auth.useradd.home"),
            useradd_shell: field::intern("system.auth.useradd.shell"),
        }
    }

    /// The year for a BSD month, and the state to keep if the record turns out valid.
    fn year_for(&self, month: u32) -> (i64, Option<YearState>) {
        match self.state {
            None => {
                let year = match self.fixed_year {
                    Some(y) => y,
                    None if month > self.now_month => self.now_year - 1,
                    None => self.now_year,
                };
                (year, Some(YearState { year, month }))
            }
            Some(st) if month < st.month && st.month - month >= 6 => (st.year + 1, Some(YearState { year: st.year + 1, month })),
            Some(st) if month > st.month && month - st.month >= 6 => (st.year - 1, None),
            Some(st) => (st.year, Some(YearState { year: st.year, month })),
        }
    }

    fn resolve_time(&mut self, stamp: Stamp) -> Result<i64, ParseError> {
        match stamp {
            Stamp::Abs(ms) => Ok(ms),
            Stamp::Bsd { month, day, hour, min, sec, ms } => {
                let (year, next) = self.year_for(month);
                let t = from_civil(year, month, day, hour, min, sec, ms).ok_or_else(|| {
                    ParseError::new(
                        ErrorKind::BadTimestamp,
                        format!("day {day} of month {month} does not exist in year {year} (inferred for this year-less timestamp)"),
                    )
                })?;
                if next.is_some() {
                    self.state = next;
                }
                Ok(t)
            }
        }
    }

    fn header<'a>(&mut self, line: &'a str) -> Result<Header<'a>, ParseError> {
        let b = line.as_bytes();
        let (pri, at) = parse_pri(b)?;
        let Some((stamp, end)) = parse_stamp(b, at) else {
            return Err(ParseError::new(
                ErrorKind::BadTimestamp,
                format!(
                    "expected a syslog timestamp (`Mmm dd hh:mm:ss` or RFC 3339) at the start of the line, found {:?}",
                    preview(line.get(at..).unwrap_or(""))
                ),
            ));
        };
        let ts = self.resolve_time(stamp)?;
        let rest = line.get(end..).unwrap_or("").trim_start_matches(' ');
        if rest.is_empty() {
            return Err(ParseError::new(ErrorKind::Malformed, "expected a hostname and a message after the timestamp, found nothing"));
        }
        let (tok, after) = split_word(rest);
        // `su: msg` or `sshd[1]: msg` right after the timestamp: the sender wrote no hostname.
        let (host, body) = if tok.ends_with(':') || tok.contains('[') { (None, rest) } else { (Some(tok), after) };
        let (program, pid, message) = match split_program(body) {
            Some((name, pid, msg)) => (Some(name), pid, msg),
            None => (None, None, body),
        };
        Ok(Header { ts, pri, host, program, pid, message })
    }
}

impl RecordParser for SyslogParser {
    fn carries_state(&self) -> bool {
        true
    }

    fn save_state(&self) -> Vec<u8> {
        bincode::serialize(&self.state).unwrap_or_default()
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        self.state = bincode::deserialize(state).map_err(|e| format!("the syslog parser's year state does not decode: {e}"))?;
        Ok(())
    }

    fn parse(&mut self, record: &[u8], out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
        if record.len() > MAX_RECORD_BYTES {
            return Err(ParseError::new(ErrorKind::TooLong, format!("record of {} bytes exceeds the limit of {MAX_RECORD_BYTES}", record.len())));
        }
        // `from_utf8` has a fast path that the lossy chunk iterator lacks; most lines are valid.
        let text = match std::str::from_utf8(record) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => lossy(record),
        };
        let line = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() {
            return Ok(Outcome::Skipped);
        }
        let head = self.header(line)?;
        let (count, body) = match split_repeat(head.message) {
            Some((n, inner)) => (n, inner),
            None => (1, head.message),
        };
        let mut ev = Event::with_capacity(16, line.len() + 64);
        ev.ts = head.ts;
        build(&mut ev, &head, body, self);
        out.reserve(count);
        for _ in 1..count {
            out.push(ev.clone());
        }
        out.push(ev);
        Ok(Outcome::Events(count))
    }
}

/// True if `line` starts like a syslog line (optional `<PRI>`, then a BSD or RFC 3339 timestamp
/// followed by a space); used by format sniffing, so it only looks at the first few bytes.
pub fn looks_like_syslog(line: &[u8]) -> bool {
    let Ok((_, at)) = parse_pri(line) else {
        return false;
    };
    match parse_stamp(line, at) {
        Some((_, end)) => line.get(end) == Some(&b' ') && line.get(end + 1).is_some_and(|b| !b.is_ascii_whitespace()),
        None => false,
    }
}

/// The first characters of `s`, for error messages.
fn preview(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Reads an optional `<PRI>` prefix; returns the priority and where the timestamp starts.
fn parse_pri(b: &[u8]) -> Result<(Option<u8>, usize), ParseError> {
    if b.first() != Some(&b'<') {
        return Ok((None, 0));
    }
    let close = b.iter().take(5).position(|&c| c == b'>');
    let value = close.filter(|&c| c >= 2).and_then(|c| digits(b, 1, c - 1)).filter(|&v| v <= 191);
    match (close, value) {
        (Some(c), Some(v)) => Ok((Some(v as u8), c + 1)),
        _ => Err(ParseError::new(ErrorKind::Malformed, "expected `<PRI>` with a priority of 0 to 191 at the start of the line")),
    }
}

/// Parses the header timestamp at `b[at..]`; returns it and the index just past it.
fn parse_stamp(b: &[u8], at: usize) -> Option<(Stamp, usize)> {
    if let Some(month) = b.get(at..at + 3).and_then(month_from_abbrev) {
        if b.get(at + 3) != Some(&b' ') {
            return None;
        }
        // `Jun  4` (space padded), `Jun 4` (unpadded) or `Jun 14`.
        let (day, t) = match (b.get(at + 4), b.get(at + 5)) {
            (Some(b' '), _) => (digits(b, at + 5, 1)?, at + 7),
            (Some(d), Some(b' ')) if d.is_ascii_digit() => (u32::from(d - b'0'), at + 6),
            _ => (digits(b, at + 4, 2)?, at + 7),
        };
        if b.get(t - 1) != Some(&b' ') || b.get(t + 2) != Some(&b':') || b.get(t + 5) != Some(&b':') {
            return None;
        }
        let (hour, min, sec) = (digits(b, t, 2)?, digits(b, t + 3, 2)?, digits(b, t + 6, 2)?);
        if !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
            return None;
        }
        let mut end = t + 8;
        let mut ms = 0;
        if b.get(end) == Some(&b'.') {
            let frac = b.get(end + 1..).unwrap_or(&[]);
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            // Milliseconds from the first three digits, zero-padded; further digits are dropped.
            ms = (0..3).fold(0u32, |acc, i| acc * 10 + if i < n { u32::from(frac[i] - b'0') } else { 0 });
            end += 1 + n;
        }
        return match b.get(end) {
            None | Some(b' ') => Some((Stamp::Bsd { month, day, hour, min, sec, ms }, end)),
            _ => None,
        };
    }
    // RFC 3339 as rsyslog writes it: `2024-01-15T10:00:00.123456+01:00`.
    digits(b, at, 4)?;
    if b.get(at + 4) != Some(&b'-') {
        return None;
    }
    let rest = b.get(at..)?;
    let len = memchr(b' ', rest).unwrap_or(rest.len());
    if len <= 10 {
        return None;
    }
    let ms = parse_iso8601(&rest[..len])?;
    Some((Stamp::Abs(ms), at + len))
}

/// Splits at the first space: (word, rest after the spaces).
fn split_word(s: &str) -> (&str, &str) {
    match memchr(b' ', s.as_bytes()) {
        Some(i) => (&s[..i], s[i + 1..].trim_start_matches(' ')),
        None => (s, ""),
    }
}

/// Splits `program[pid]: message`, as Filebeat's `%{DATA}(?:\[%{POSINT}\])?:` does: the program
/// runs to the first colon that ends the line, is followed by a space, or follows `[pid]`.
fn split_program(body: &str) -> Option<(&str, Option<i64>, &str)> {
    let bytes = body.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr(b':', &bytes[from..]) {
        let colon = from + i;
        let head = &body[..colon];
        let next = bytes.get(colon + 1);
        let (name, pid) = split_pid(head);
        if matches!(next, None | Some(b' ' | b'\t')) || pid.is_some() {
            if name.is_empty() {
                return None;
            }
            let msg = body[colon + 1..].trim_start_matches([' ', '\t']);
            return Some((name, pid, msg));
        }
        from = colon + 1;
    }
    None
}

/// `name[123]` -> (`name`, Some(123)); anything else is all name.
fn split_pid(head: &str) -> (&str, Option<i64>) {
    if let Some(inner) = head.strip_suffix(']') {
        if let Some(open) = inner.rfind('[') {
            let num = &inner[open + 1..];
            if (1..=18).contains(&num.len()) && num.bytes().all(|c| c.is_ascii_digit()) {
                return (&head[..open], num.parse().ok());
            }
        }
    }
    (head, None)
}

/// `message repeated N times: [ inner ]` -> (N capped at [`MAX_REPEAT`], inner).
fn split_repeat(msg: &str) -> Option<(usize, &str)> {
    let rest = msg.strip_prefix("message repeated ")?;
    let n_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if n_len == 0 {
        return None;
    }
    // Digits beyond what fits are just "very many": the cap applies either way.
    let n = rest[..n_len].parse::<usize>().unwrap_or(usize::MAX).min(MAX_REPEAT);
    let rest = &rest[n_len..];
    let inner = rest.strip_prefix(" times: [").or_else(|| rest.strip_prefix(" time: ["))?;
    if n == 0 {
        return None;
    }
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    Some((n, inner.trim_matches(' ')))
}

/// Programs whose lines Filebeat reads from `auth.log` rather than `syslog`.
fn is_auth_program(base: &str) -> bool {
    matches!(
        base,
        "sshd"
            | "sshd-session"
            | "sshd-auth"
            | "sudo"
            | "su"
            | "CRON"
            | "cron"
            | "crond"
            | "ftpd"
            | "klogind"
            | "login"
            | "systemd-logind"
            | "useradd"
            | "userdel"
            | "usermod"
            | "groupadd"
            | "groupdel"
            | "groupmod"
            | "chpasswd"
            | "passwd"
            | "gpasswd"
            | "chage"
    )
}

/// Writes the fields of one event; `body` is the message (the inner one for repeats).
fn build(ev: &mut Event, head: &Header<'_>, body: &str, parser: &SyslogParser) {
    let name = head.program.unwrap_or("");
    let base = memchr(b'(', name.as_bytes()).map_or(name, |i| &name[..i]);
    let pam_program = find(name, "(pam_").is_some();
    let pam_message = body.starts_with("pam_");
    let auth = pam_program || pam_message || is_auth_program(base);

    ev.push(known::EVENT_MODULE, Value::Sym("system"));
    ev.push(known::EVENT_DATASET, Value::Sym(if auth { "system.auth" } else { "system.syslog" }));
    ev.push(known::EVENT_KIND, Value::Sym("event"));
    if let Some(host) = head.host {
        ev.push_str(known::HOST_HOSTNAME, host);
    }
    if let Some(program) = head.program {
        ev.push_str(known::PROCESS_NAME, program);
    }
    if let Some(pid) = head.pid {
        ev.push(known::PROCESS_PID, Value::Int(pid));
    }
    if let Some(pri) = head.pri {
        ev.push(known::LOG_SYSLOG_PRIORITY, Value::Int(i64::from(pri)));
        ev.push(known::LOG_SYSLOG_FACILITY_CODE, Value::Int(i64::from(pri >> 3)));
        ev.push(known::LOG_SYSLOG_SEVERITY_CODE, Value::Int(i64::from(pri & 7)));
    }
    ev.push_str(known::MESSAGE, body);

    let mut o = Out { ev, user: None, effective: None, ip: None };
    if pam_message {
        pam(&mut o, body);
    } else if pam_program {
        pam_body(&mut o, body);
    } else {
        match base {
            "sshd" | "sshd-session" | "sshd-auth" => ssh(&mut o, body),
            "sudo" => sudo(&mut o, body),
            "su" => su(&mut o, body),
            "CRON" | "cron" | "crond" => cron(&mut o, body),
            "ftpd" => ftpd(&mut o, body),
            "klogind" => klogind(&mut o, body),
            "systemd-logind" => logind(&mut o, body),
            "useradd" | "userdel" | "usermod" | "groupadd" | "groupdel" | "groupmod" => iam(&mut o, body, base, parser),
            _ => {}
        }
    }
    o.finish();
}

/// Field writer for one event that remembers what goes into `related.*`.
struct Out<'e> {
    ev: &'e mut Event,
    user: Option<Value>,
    effective: Option<Value>,
    ip: Option<IpAddr>,
}

impl Out<'_> {
    fn sym(&mut self, id: FieldId, s: &'static str) {
        self.ev.push(id, Value::Sym(s));
    }

    fn text(&mut self, id: FieldId, s: &str) -> Value {
        let v = Value::Str(self.ev.alloc_str(s));
        self.ev.push(id, v);
        v
    }

    fn list(&mut self, id: FieldId, items: &[&'static str]) {
        let start = self.ev.items_len();
        for s in items {
            self.ev.push_item(Value::Sym(s));
        }
        let v = self.ev.list_from(start);
        self.ev.push(id, v);
    }

    fn user(&mut self, name: &str) {
        let v = self.text(known::USER_NAME, name);
        if !name.is_empty() {
            self.user = Some(v);
        }
    }

    fn effective(&mut self, name: &str) {
        let v = self.text(known::USER_EFFECTIVE_NAME, name);
        if !name.is_empty() {
            self.effective = Some(v);
        }
    }

    fn port(&mut self, id: FieldId, s: &str) {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(p) = s[..n].parse::<u16>() {
            self.ev.push(id, Value::Int(i64::from(p)));
        }
    }

    /// `source.ip` for an address, `source.domain` for a host name (Filebeat's IPORHOST split).
    fn source(&mut self, addr: &str) {
        if let Some(ip) = parse_ip(addr) {
            self.ev.push(known::SOURCE_IP, Value::Ip(ip));
            self.ip = Some(ip);
        } else if is_hostname(addr) {
            self.text(known::SOURCE_DOMAIN, addr);
        }
    }

    /// The categorization of an authentication attempt.
    fn auth(&mut self, action: &'static str, outcome: Option<&'static str>) {
        self.list(known::EVENT_CATEGORY, &["authentication"]);
        self.list(known::EVENT_TYPE, &["info"]);
        self.sym(known::EVENT_ACTION, action);
        if let Some(outcome) = outcome {
            self.sym(known::EVENT_OUTCOME, outcome);
        }
    }

    fn finish(self) {
        let Out { ev, user, effective, ip } = self;
        let start = ev.items_len();
        if let Some(u) = user {
            ev.push_item(u);
        }
        if let Some(e) = effective {
            let dup = user.is_some_and(|u| ev.resolve(&u) == ev.resolve(&e));
            if !dup {
                ev.push_item(e);
            }
        }
        if ev.items_len() > start {
            let v = ev.list_from(start);
            ev.push(known::RELATED_USER, v);
        }
        if let Some(ip) = ip {
            let v = ev.alloc_list(&[Value::Ip(ip)]);
            ev.push(known::RELATED_IP, v);
        }
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let first = *s.as_bytes().first()?;
    if !(first.is_ascii_hexdigit() || first == b':') {
        return None;
    }
    s.parse::<IpAddr>().ok().map(canonical_ip)
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
}

fn is_addr(s: &str) -> bool {
    parse_ip(s).is_some() || is_hostname(s)
}

/// Byte offset of the ASCII `needle` in `hay` at or after `start`. The needles here are short and
/// the lines short, so a `memchr` for the first byte beats building a substring searcher.
fn find_at(hay: &str, needle: &str, start: usize) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let first = *n.first()?;
    let tail = h.get(start..)?;
    memchr_iter(first, tail).map(|i| start + i).find(|&i| h[i..].starts_with(n))
}

fn find(hay: &str, needle: &str) -> Option<usize> {
    find_at(hay, needle, 0)
}

/// `str::split_once` for an ASCII needle, via [`find`].
fn split2<'a>(hay: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let i = find(hay, needle)?;
    Some((&hay[..i], &hay[i + needle.len()..]))
}

/// The text of the earliest of `needles` in `s`, as a byte offset.
fn earliest(s: &str, needles: &[&str]) -> Option<usize> {
    needles.iter().filter_map(|n| find(s, n)).min()
}

/// `USER from ADDR[ port P][ tail]`: the first ` from ` followed by an address, as Filebeat's
/// lazy `%{DATA:user.name} from %{IPORHOST}` takes it. Returns (user, addr, port, tail).
fn user_from(s: &str) -> Option<(&str, &str, Option<&str>, &str)> {
    let mut from = 0;
    while let Some(i) = find_at(s, " from ", from) {
        from = i + 1;
        let (addr, tail) = split_word(&s[i + 6..]);
        if !is_addr(addr) {
            continue;
        }
        let (port, tail) = match tail.strip_prefix("port ") {
            Some(p) => {
                let (port, tail) = split_word(p);
                (Some(port), tail)
            }
            None => (None, tail),
        };
        return Some((&s[..i], addr, port, tail));
    }
    None
}

/// `[authenticating user X |invalid user X |user X ]ADDR[ port P]...` as sshd writes a peer.
/// Returns (user, addr, port).
fn peer(s: &str) -> Option<(Option<&str>, &str, Option<&str>)> {
    let end = earliest(s, &[" port ", " [", ": "]).unwrap_or(s.len());
    let head = &s[..end];
    let who = head.strip_prefix("authenticating user ").or_else(|| head.strip_prefix("invalid user ")).or_else(|| head.strip_prefix("user "));
    let (user, addr) = match who {
        Some(rest) => match rest.rsplit_once(' ') {
            Some((user, addr)) => (Some(user), addr),
            None => (None, rest),
        },
        None => (None, head),
    };
    let addr = if is_addr(addr) { addr } else { addr.strip_suffix(':').filter(|a| is_addr(a))? };
    let port = s[end..].strip_prefix(" port ");
    Some((user, addr, port))
}

fn ssh_method(m: &str) -> Option<&'static str> {
    Some(match m {
        "password" => "password",
        "publickey" => "publickey",
        "keyboard-interactive/pam" => "keyboard-interactive/pam",
        "keyboard-interactive" => "keyboard-interactive",
        "none" => "none",
        "hostbased" => "hostbased",
        "gssapi-with-mic" => "gssapi-with-mic",
        _ => return None,
    })
}

/// `METHOD for [invalid user ]USER from ADDR port P ssh2[: SIGNATURE]` after Failed/Accepted.
fn ssh_login(o: &mut Out<'_>, event: &'static str, rest: &str) -> bool {
    let Some((method, r)) = rest.split_once(' ') else {
        return false;
    };
    let Some(r) = r.strip_prefix("for ") else {
        return false;
    };
    let r = r.strip_prefix("invalid user ").unwrap_or(r);
    let Some((user, addr, port, tail)) = user_from(r) else {
        return false;
    };
    o.sym(known::SSH_EVENT, event);
    match ssh_method(method) {
        Some(m) => o.sym(known::SSH_METHOD, m),
        None => {
            o.text(known::SSH_METHOD, method);
        }
    }
    let tail = tail.strip_prefix("ssh2").unwrap_or(tail);
    if let Some(sig) = tail.strip_prefix(": ") {
        let sig = sig.strip_suffix(" [preauth]").unwrap_or(sig).trim_end();
        if !sig.is_empty() {
            o.text(known::SSH_SIGNATURE, sig);
        }
    }
    o.user(user);
    o.source(addr);
    if let Some(p) = port {
        o.port(known::SOURCE_PORT, p);
    }
    if event == "Accepted" {
        // Filebeat's categorization script: a login is an authentication that starts a session.
        o.list(known::EVENT_CATEGORY, &["authentication", "session"]);
        o.list(known::EVENT_TYPE, &["info"]);
        o.sym(known::EVENT_ACTION, "ssh_login");
        o.sym(known::EVENT_OUTCOME, "success");
    } else {
        o.auth("ssh_login", Some("failure"));
    }
    true
}

/// Sets user, source and port of a peer and the action, if the peer parses.
fn ssh_peer(o: &mut Out<'_>, s: &str, action: &'static str) -> bool {
    let Some((user, addr, port)) = peer(s) else {
        return false;
    };
    if let Some(u) = user {
        o.user(u);
    }
    o.source(addr);
    if let Some(p) = port {
        o.port(known::SOURCE_PORT, p);
    }
    o.sym(known::EVENT_ACTION, action);
    true
}

fn ssh(o: &mut Out<'_>, m: &str) {
    let m = m.strip_prefix("error: ").or_else(|| m.strip_prefix("fatal: ")).unwrap_or(m);
    let handled = if let Some(r) = m.strip_prefix("Failed ") {
        ssh_login(o, "Failed", r)
    } else if let Some(r) = m.strip_prefix("Accepted ") {
        ssh_login(o, "Accepted", r)
    } else if let Some(r) = m.strip_prefix("Invalid user ") {
        match user_from(r) {
            Some((user, addr, port, _)) => {
                o.sym(known::SSH_EVENT, "Invalid");
                o.user(user);
                o.source(addr);
                if let Some(p) = port {
                    o.port(known::SOURCE_PORT, p);
                }
                o.auth("ssh_login", Some("failure"));
                true
            }
            None => false,
        }
    } else if let Some(r) = m.strip_prefix("Connection closed by ") {
        ssh_peer(o, r, "ssh_connection_closed")
    } else if let Some(r) = m.strip_prefix("Connection reset by ") {
        ssh_peer(o, r, "ssh_connection_reset")
    } else if let Some(r) = m.strip_prefix("Disconnected from ").or_else(|| m.strip_prefix("Received disconnect from ")) {
        ssh_peer(o, r, "ssh_disconnect")
    } else if let Some(r) = m.strip_prefix("Disconnecting ") {
        ssh_peer(o, r, "ssh_disconnect")
    } else if let Some(r) = m.strip_prefix("Disconnecting: ") {
        if let Some(user) = split2(r, " for ").map(|(_, u)| u.strip_suffix(" [preauth]").unwrap_or(u)) {
            o.user(user);
        }
        o.sym(known::EVENT_ACTION, "ssh_disconnect");
        true
    } else if let Some(r) = m.strip_prefix("Did not receive identification string from ") {
        let (addr, rest) = split_word(r);
        match parse_ip(addr) {
            Some(ip) => {
                o.ev.push(known::SSH_DROPPED_IP, Value::Ip(ip));
                o.ev.push(known::SOURCE_IP, Value::Ip(ip));
                o.ip = Some(ip);
                if let Some(p) = rest.strip_prefix("port ") {
                    o.port(known::SOURCE_PORT, p);
                }
                o.sym(known::EVENT_ACTION, "ssh_dropped");
                true
            }
            None => false,
        }
    } else if let Some(r) = m.strip_prefix("maximum authentication attempts exceeded for ") {
        let r = r.strip_prefix("invalid user ").unwrap_or(r);
        match user_from(r) {
            Some((user, addr, port, _)) => {
                o.user(user);
                o.source(addr);
                if let Some(p) = port {
                    o.port(known::SOURCE_PORT, p);
                }
                o.sym(known::EVENT_ACTION, "ssh_max_auth_exceeded");
                true
            }
            None => false,
        }
    } else if let Some(r) = m.strip_prefix("reverse mapping checking getaddrinfo for ") {
        // `HOST [IP] failed - POSSIBLE BREAK-IN ATTEMPT!`
        let (host, rest) = split_word(r);
        let ip = rest.strip_prefix('[').and_then(|x| x.split_once(']')).map(|(ip, _)| ip);
        match ip.and_then(parse_ip) {
            Some(ip) => {
                o.ev.push(known::SOURCE_IP, Value::Ip(ip));
                o.ip = Some(ip);
                if is_hostname(host) {
                    o.text(known::SOURCE_DOMAIN, host);
                }
                o.sym(known::EVENT_ACTION, "ssh_reverse_mapping_failed");
                true
            }
            None => false,
        }
    } else if let Some(r) = m.strip_prefix("Address ") {
        // `IP maps to HOST, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!`
        let (addr, rest) = split_word(r);
        match (parse_ip(addr), rest.strip_prefix("maps to ")) {
            (Some(ip), Some(host)) => {
                o.ev.push(known::SOURCE_IP, Value::Ip(ip));
                o.ip = Some(ip);
                let host = split_word(host).0.trim_end_matches(',');
                if is_hostname(host) {
                    o.text(known::SOURCE_DOMAIN, host);
                }
                o.sym(known::EVENT_ACTION, "ssh_reverse_mapping_failed");
                true
            }
            _ => false,
        }
    } else if let Some(r) = m.strip_prefix("Connection from ") {
        // `IP port P on IP port P`
        let (addr, rest) = split_word(r);
        match parse_ip(addr) {
            Some(ip) => {
                o.ev.push(known::SOURCE_IP, Value::Ip(ip));
                o.ip = Some(ip);
                let rest = match rest.strip_prefix("port ") {
                    Some(p) => {
                        o.port(known::SOURCE_PORT, p);
                        split_word(p).1
                    }
                    None => rest,
                };
                if let Some(dst) = rest.strip_prefix("on ") {
                    let (daddr, drest) = split_word(dst);
                    if let Some(dip) = parse_ip(daddr) {
                        o.ev.push(known::DESTINATION_IP, Value::Ip(dip));
                    }
                    if let Some(p) = drest.strip_prefix("port ") {
                        o.port(known::DESTINATION_PORT, p);
                    }
                }
                o.sym(known::EVENT_ACTION, "ssh_connection");
                true
            }
            None => false,
        }
    } else if let Some(r) = m.strip_prefix("Unable to negotiate with ") {
        ssh_peer(o, r, "ssh_negotiation_failed")
    } else if let Some(r) = m.strip_prefix("input_userauth_request: invalid user ") {
        o.user(r.strip_suffix(" [preauth]").unwrap_or(r));
        true
    } else if let Some(r) = m.strip_prefix("PAM ") {
        // `PAM 2 more authentication failures; logname= ... rhost=IP  user=root`
        match split2(r, "; ") {
            Some((_, kv)) => {
                pam_kv(o, kv);
                true
            }
            None => false,
        }
    } else {
        false
    };
    if !handled {
        ssh_fallback(o, m);
    }
}

/// Any other sshd line naming ` from IP[ port P]` still gets the source address.
fn ssh_fallback(o: &mut Out<'_>, m: &str) {
    let Some(i) = find(m, " from ") else {
        return;
    };
    let (addr, rest) = split_word(&m[i + 6..]);
    if let Some(ip) = parse_ip(addr) {
        o.ev.push(known::SOURCE_IP, Value::Ip(ip));
        o.ip = Some(ip);
        if let Some(p) = rest.strip_prefix("port ") {
            o.port(known::SOURCE_PORT, p);
        }
    }
}

/// `pam_unix(sshd:auth): rest`.
fn pam(o: &mut Out<'_>, m: &str) {
    if let Some((_, rest)) = split2(m, "): ") {
        pam_body(o, rest);
    }
}

/// The text after `pam_module(service:type): `, or the whole message of `sshd(pam_unix)`.
fn pam_body(o: &mut Out<'_>, m: &str) {
    if let Some(kv) = m.strip_prefix("authentication failure; ") {
        pam_kv(o, kv);
        o.auth("pam_authentication_failure", Some("failure"));
    } else if m.starts_with("check pass; user unknown") {
        o.sym(known::EVENT_ACTION, "pam_check_pass_user_unknown");
    } else if let Some(r) = m.strip_prefix("session opened for user ") {
        session_users(o, r);
        o.sym(known::EVENT_ACTION, "session_opened");
        o.list(known::EVENT_CATEGORY, &["session"]);
        o.list(known::EVENT_TYPE, &["start"]);
    } else if let Some(r) = m.strip_prefix("session closed for user ") {
        o.user(strip_uid(r.trim_end()));
        o.sym(known::EVENT_ACTION, "session_closed");
        o.list(known::EVENT_CATEGORY, &["session"]);
        o.list(known::EVENT_TYPE, &["end"]);
    } else if let Some(r) = m.strip_prefix("password changed for ") {
        o.user(r.trim_end());
        o.sym(known::EVENT_ACTION, "password_changed");
        o.list(known::EVENT_CATEGORY, &["iam"]);
        o.list(known::EVENT_TYPE, &["user", "change"]);
        o.sym(known::EVENT_OUTCOME, "success");
    } else if let Some(user) = quoted_user(m) {
        o.user(user);
    }
}

/// `X by Y(uid=N)`: like Filebeat, the invoking user `Y` is `user.name` and `X` the effective
/// user; without an invoker (`by (uid=0)`, or `LOGIN`) `X` is `user.name`. `user.id` is set only
/// with a named invoker, so that it is always the id of `user.name`.
fn session_users(o: &mut Out<'_>, r: &str) {
    let r = r.trim_end();
    let (target, by) = match split2(r, " by ") {
        Some((t, b)) => (strip_uid(t), Some(b)),
        None => (strip_uid(r), None),
    };
    let by_user = by.map(|b| match split2(b, "(uid=") {
        Some((name, uid)) => (name, uid.strip_suffix(')').unwrap_or(uid)),
        None => (b, ""),
    });
    match by_user {
        Some((name, uid)) if !name.is_empty() && name != "LOGIN" => {
            o.user(name);
            if !uid.is_empty() && uid.bytes().all(|c| c.is_ascii_digit()) {
                o.text(known::USER_ID, uid);
            }
            o.effective(target);
        }
        _ => o.user(target),
    }
}

/// `root(uid=0)` -> `root`.
fn strip_uid(s: &str) -> &str {
    split2(s, "(uid=").map_or(s, |(name, _)| name)
}

/// Filebeat's `user "X"` / `user 'X'` pattern, as in chpasswd and useradd messages.
fn quoted_user(m: &str) -> Option<&str> {
    let i = find(m, " user ")?;
    let rest = &m[i + 6..];
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    rest.find(quote).map(|end| &rest[..end])
}

/// `logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root`.
fn pam_kv(o: &mut Out<'_>, kv: &str) {
    let mut user = None;
    let mut rhost = None;
    for tok in kv.split_ascii_whitespace() {
        if let Some(v) = tok.strip_prefix("rhost=") {
            rhost = Some(v);
        } else if let Some(v) = tok.strip_prefix("user=") {
            user = Some(v);
        }
    }
    if let Some(u) = user.filter(|u| !u.is_empty()) {
        o.user(u);
    }
    if let Some(h) = rhost.filter(|h| !h.is_empty()) {
        o.source(h);
    }
}

/// `alice : [ERROR ; ]TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls -la`.
fn sudo(o: &mut Out<'_>, m: &str) {
    let Some((user, mut rest)) = split2(m, " : ") else {
        return;
    };
    let user = user.trim();
    if user.is_empty() || user.contains(' ') {
        return;
    }
    let (mut error, mut tty, mut pwd, mut runas, mut command) = (None, None, None, None, None);
    let mut first = true;
    loop {
        // COMMAND is last and may itself contain ` ; `.
        if let Some(c) = rest.strip_prefix("COMMAND=") {
            command = Some(c);
            break;
        }
        let (part, next) = split2(rest, " ; ").unwrap_or((rest, ""));
        match part.split_once('=') {
            Some(("TTY", v)) => tty = Some(v),
            Some(("PWD", v)) => pwd = Some(v),
            Some(("USER", v)) => runas = Some(v),
            Some(_) => {}
            None if first => error = Some(part),
            None => {}
        }
        first = false;
        if next.is_empty() {
            break;
        }
        rest = next;
    }
    if command.is_none() && runas.is_none() {
        return;
    }
    o.user(user);
    if let Some(e) = error {
        o.text(known::SUDO_ERROR, e);
    }
    if let Some(v) = tty {
        o.text(known::SUDO_TTY, v);
    }
    if let Some(v) = pwd {
        o.text(known::SUDO_PWD, v);
    }
    if let Some(v) = runas {
        o.text(known::SUDO_USER, v);
        o.effective(v);
    }
    if let Some(v) = command {
        o.text(known::SUDO_COMMAND, v);
    }
    o.sym(known::EVENT_ACTION, "sudo_command");
    o.list(known::EVENT_CATEGORY, &["process"]);
    if error.is_some() {
        o.list(known::EVENT_TYPE, &["info"]);
        o.sym(known::EVENT_OUTCOME, "failure");
    } else {
        o.list(known::EVENT_TYPE, &["start"]);
        o.sym(known::EVENT_OUTCOME, "success");
    }
}

/// `Successful su for root by alice`, `FAILED su for root by alice`, `+ pts/0 alice:root`,
/// `- pts/0 alice:root`, and util-linux's `(to root) alice on pts/0` / `FAILED SU (to root) ...`.
fn su(o: &mut Out<'_>, m: &str) {
    let (ok, by, target) = if let Some(r) = m.strip_prefix("Successful su for ") {
        let Some((t, b)) = split2(r, " by ") else {
            return;
        };
        (true, b, t)
    } else if let Some(r) = m.strip_prefix("FAILED su for ") {
        let Some((t, b)) = split2(r, " by ") else {
            return;
        };
        (false, b, t)
    } else if let Some(sign @ ('+' | '-')) = m.chars().next().filter(|_| m.as_bytes().get(1) == Some(&b' ')) {
        // `+ TTY FROM:TO`
        let Some((b, t)) = split_word(&m[2..]).1.split_once(':') else {
            return;
        };
        (sign == '+', b, t)
    } else if let Some((ok, r)) = m.strip_prefix("(to ").map(|r| (true, r)).or_else(|| m.strip_prefix("FAILED SU (to ").map(|r| (false, r))) {
        let Some((t, rest)) = split2(r, ") ") else {
            return;
        };
        (ok, split_word(rest).0, t)
    } else {
        return;
    };
    o.user(by.trim());
    o.effective(target.trim());
    o.auth("su", Some(if ok { "success" } else { "failure" }));
}

/// `(root) CMD (command line)`.
fn cron(o: &mut Out<'_>, m: &str) {
    let Some(r) = m.strip_prefix('(') else { return };
    let Some((user, rest)) = split2(r, ") CMD (") else {
        return;
    };
    let cmd = rest.strip_suffix(')').unwrap_or(rest);
    o.user(user);
    o.text(known::PROCESS_COMMAND_LINE, cmd);
    o.sym(known::EVENT_ACTION, "cron_command");
    o.list(known::EVENT_CATEGORY, &["process"]);
    o.list(known::EVENT_TYPE, &["start"]);
}

/// `connection from IP (HOST) at DATE`, `FTP LOGIN FROM HOST [IP], USER`,
/// `ANONYMOUS FTP LOGIN FROM IP,  (anonymous)`.
fn ftpd(o: &mut Out<'_>, m: &str) {
    if let Some(r) = m.strip_prefix("connection from ") {
        let (addr, rest) = split_word(r);
        if parse_ip(addr).is_none() {
            return;
        }
        o.source(addr);
        if let Some((host, _)) = rest.strip_prefix('(').and_then(|x| x.split_once(')')) {
            if is_hostname(host) {
                o.text(known::SOURCE_DOMAIN, host);
            }
        }
        o.sym(known::EVENT_ACTION, "ftp_connection");
        o.list(known::EVENT_CATEGORY, &["network"]);
        o.list(known::EVENT_TYPE, &["connection", "start"]);
        return;
    }
    let r = m.strip_prefix("ANONYMOUS ").unwrap_or(m);
    let Some(r) = r.strip_prefix("FTP LOGIN FROM ") else {
        return;
    };
    let Some((addrs, user)) = r.split_once(',') else {
        return;
    };
    let (host, ip) = match split2(addrs, " [") {
        Some((h, ip)) => (Some(h), ip.trim_end_matches(']')),
        None => (None, addrs),
    };
    o.source(ip);
    if let Some(h) = host.filter(|h| parse_ip(h).is_none() && is_hostname(h)) {
        o.text(known::SOURCE_DOMAIN, h);
    }
    let user = user.trim().trim_start_matches('(').trim_end_matches(')');
    if !user.is_empty() {
        o.user(user);
    }
    o.auth("ftp_login", Some("success"));
}

/// `Authentication failed from IP (HOST): reason`, `Kerberos authentication failed`.
fn klogind(o: &mut Out<'_>, m: &str) {
    if let Some(r) = m.strip_prefix("Authentication failed from ") {
        let (addr, rest) = split_word(r);
        o.source(addr);
        if let Some((host, _)) = rest.strip_prefix('(').and_then(|x| x.split_once(')')) {
            if parse_ip(host).is_none() && is_hostname(host) {
                o.text(known::SOURCE_DOMAIN, host);
            }
        }
    } else if !m.starts_with("Kerberos authentication failed") {
        return;
    }
    o.auth("klogind_authentication_failed", Some("failure"));
}

/// `New session 5 of user ubuntu.`, `Removed session 5.`
fn logind(o: &mut Out<'_>, m: &str) {
    if let Some(r) = m.strip_prefix("New session ") {
        let Some((_, user)) = split2(r, " of user ") else {
            return;
        };
        o.user(user.trim_end_matches('.'));
        o.sym(known::EVENT_ACTION, "session_new");
        o.list(known::EVENT_CATEGORY, &["session"]);
        o.list(known::EVENT_TYPE, &["start"]);
    } else if m.starts_with("Removed session ") {
        o.sym(known::EVENT_ACTION, "session_removed");
        o.list(known::EVENT_CATEGORY, &["session"]);
        o.list(known::EVENT_TYPE, &["end"]);
    }
}

/// Value of `key=` in a `, `-separated list (`name=foo, UID=1001, ...`).
fn comma_kv<'a>(list: &'a str, key: &str) -> Option<&'a str> {
    list.split(", ").find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

/// useradd/groupadd and friends: `new user: name=..., UID=..., GID=..., home=..., shell=...`,
/// `new group: name=..., GID=...`, and `user 'X'` messages, categorized as Filebeat does.
fn iam(o: &mut Out<'_>, m: &str, base: &str, parser: &SyslogParser) {
    let failed = find(m, "fail").is_some();
    let outcome = if failed { "failure" } else { "success" };
    if let Some(r) = m.strip_prefix("new user: ") {
        if let Some(v) = comma_kv(r, "name") {
            o.user(v);
        }
        if let Some(v) = comma_kv(r, "UID") {
            o.text(known::USER_ID, v);
        }
        if let Some(v) = comma_kv(r, "GID") {
            o.text(known::GROUP_ID, v);
        }
        for (key, id) in [("home", parser.useradd_home), ("shell", parser.useradd_shell)] {
            if let (Some(v), Some(id)) = (comma_kv(r, key), id) {
                o.text(id, v);
            }
        }
        o.sym(known::EVENT_ACTION, "user_created");
        o.list(known::EVENT_CATEGORY, &["iam"]);
        o.list(known::EVENT_TYPE, &["user", "creation"]);
        o.sym(known::EVENT_OUTCOME, outcome);
        return;
    }
    if let Some(r) = m.strip_prefix("new group: ") {
        if let Some(v) = comma_kv(r, "name") {
            o.text(known::GROUP_NAME, v);
        }
        if let Some(v) = comma_kv(r, "GID") {
            o.text(known::GROUP_ID, v);
        }
        o.sym(known::EVENT_ACTION, "group_created");
        o.list(known::EVENT_CATEGORY, &["iam"]);
        o.list(known::EVENT_TYPE, &["group", "creation"]);
        o.sym(known::EVENT_OUTCOME, outcome);
        return;
    }
    if let Some(user) = quoted_user(m) {
        o.user(user);
    }
    o.list(known::EVENT_CATEGORY, &["iam"]);
    let kind = if base.starts_with("group") { "group" } else { "user" };
    let change = match base {
        "useradd" | "groupadd" => "creation",
        "userdel" | "groupdel" => "deletion",
        _ => "change",
    };
    o.list(known::EVENT_TYPE, &[kind, change]);
    if base == "useradd" && failed {
        o.sym(known::EVENT_ACTION, "user_creation_failed");
    }
    o.sym(known::EVENT_OUTCOME, outcome);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ecs::to_json_string;
    use crate::event::time::to_iso8601;
    use proptest::prelude::*;
    use serde_json::{json, Value as Json};

    /// 2024-06-15T12:00:00Z.
    const NOW: i64 = 1_718_452_800_000;

    fn opts() -> ParseOptions {
        ParseOptions { year: None, now_ms: NOW, time_field: None }
    }

    fn parse_all(parser: &mut SyslogParser, line: &str) -> Result<Vec<Json>, ParseError> {
        let mut out = Vec::new();
        parser.parse(line.as_bytes(), &mut out)?;
        Ok(out.iter().map(|ev| serde_json::from_str(&to_json_string(ev)).expect("valid JSON")).collect())
    }

    fn one(line: &str) -> Json {
        let mut p = SyslogParser::new(&opts());
        let mut evs = parse_all(&mut p, line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(evs.len(), 1);
        evs.remove(0)
    }

    // Lines marked "elastic" are from elastic/examples auth.log, Apache-2.0.

    #[test]
    fn accepted_publickey_with_signature() {
        // elastic
        let j = one("Mar 27 13:08:09 ip-10-77-20-248 sshd[1361]: Accepted publickey for ubuntu from 85.245.107.41 port 54259 ssh2: RSA SHA256:Kl8kPGZrTiz7g4FO1hyqHdsSBBb5Fge6NWOobN03XJg");
        assert_eq!(j["@timestamp"], "2024-03-27T13:08:09.000Z");
        assert_eq!(j["host"]["hostname"], "ip-10-77-20-248");
        assert_eq!(j["process"], json!({"name": "sshd", "pid": 1361}));
        assert_eq!(j["message"], "Accepted publickey for ubuntu from 85.245.107.41 port 54259 ssh2: RSA SHA256:Kl8kPGZrTiz7g4FO1hyqHdsSBBb5Fge6NWOobN03XJg");
        assert_eq!(
            j["system"]["auth"]["ssh"],
            json!({"event": "Accepted", "method": "publickey", "signature": "RSA SHA256:Kl8kPGZrTiz7g4FO1hyqHdsSBBb5Fge6NWOobN03XJg"})
        );
        assert_eq!(j["user"]["name"], "ubuntu");
        assert_eq!(j["source"], json!({"ip": "85.245.107.41", "port": 54259}));
        assert_eq!(
            j["event"],
            json!({"module": "system", "dataset": "system.auth", "kind": "event", "category": ["authentication", "session"], "type": ["info"], "action": "ssh_login", "outcome": "success"})
        );
        assert_eq!(j["related"], json!({"user": ["ubuntu"], "ip": ["85.245.107.41"]}));
    }

    #[test]
    fn failed_password_forms() {
        let j = one("Dec 10 07:02:47 gw sshd[24231]: Failed password for root from 203.0.113.9 port 40512 ssh2");
        assert_eq!(j["system"]["auth"]["ssh"], json!({"event": "Failed", "method": "password"}));
        assert_eq!(j["user"]["name"], "root");
        assert_eq!(j["source"], json!({"ip": "203.0.113.9", "port": 40512}));
        assert_eq!(j["event"]["outcome"], "failure");
        assert_eq!(j["event"]["category"], json!(["authentication"]));
        assert_eq!(j["event"]["type"], json!(["info"]));
        assert_eq!(j["event"]["action"], "ssh_login");

        let j = one("Dec 10 07:02:47 gw sshd[24231]: Failed password for invalid user admin from 203.0.113.9 port 40512 ssh2");
        assert_eq!(j["user"]["name"], "admin");
        assert_eq!(j["related"]["user"], json!(["admin"]));

        let j = one("Dec 10 07:02:47 gw sshd[24231]: Failed none for invalid user guest from 203.0.113.9 port 40512 ssh2");
        assert_eq!(j["system"]["auth"]["ssh"]["method"], "none");
        assert_eq!(j["user"]["name"], "guest");

        let j = one("Mar 28 07:41:02 gw sshd[901]: Failed publickey for git from 2001:db8::7 port 50022 ssh2: ED25519 SHA256:abcDEF0123");
        assert_eq!(j["system"]["auth"]["ssh"]["signature"], "ED25519 SHA256:abcDEF0123");
        assert_eq!(j["source"]["ip"], "2001:db8::7");

        // An empty invalid user name stays empty and stays out of related.user.
        let j = one("Mar 28 07:41:02 gw sshd[901]: Failed password for invalid user  from 198.51.100.4 port 3311 ssh2");
        assert_eq!(j["user"]["name"], "");
        assert!(j["related"].get("user").is_none());
        assert_eq!(j["related"]["ip"], json!(["198.51.100.4"]));

        let j = one("Apr  2 09:15:00 gw sshd[77]: Accepted keyboard-interactive/pam for alice from 192.0.2.10 port 60000 ssh2");
        assert_eq!(j["system"]["auth"]["ssh"]["method"], "keyboard-interactive/pam");
        assert_eq!(j["event"]["outcome"], "success");
    }

    #[test]
    fn invalid_user_lines() {
        let j = one("Dec 10 06:55:46 gw sshd[24200]: Invalid user webadmin from 198.51.100.23");
        assert_eq!(j["system"]["auth"]["ssh"]["event"], "Invalid");
        assert_eq!(j["user"]["name"], "webadmin");
        assert_eq!(j["source"]["ip"], "198.51.100.23");
        assert_eq!(j["event"]["outcome"], "failure");
        assert_eq!(j["event"]["action"], "ssh_login");

        let j = one("Dec 10 06:55:46 gw sshd[24200]: Invalid user oracle from 198.51.100.23 port 41234");
        assert_eq!(j["source"]["port"], 41234);

        let j = one("Dec 10 06:55:46 gw sshd[24200]: Invalid user  from 198.51.100.23");
        assert_eq!(j["user"]["name"], "");
        assert_eq!(j["source"]["ip"], "198.51.100.23");
        assert_eq!(j["system"]["auth"]["ssh"]["event"], "Invalid");
    }

    #[test]
    fn other_sshd_lines() {
        let j = one("Dec 10 07:08:28 gw sshd[24208]: Did not receive identification string from 192.0.2.77");
        assert_eq!(j["system"]["auth"]["ssh"]["dropped_ip"], "192.0.2.77");
        assert_eq!(j["source"]["ip"], "192.0.2.77");
        assert_eq!(j["event"]["action"], "ssh_dropped");

        let j = one("Mar 28 01:02:03 gw sshd[5]: error: maximum authentication attempts exceeded for invalid user pi from 192.0.2.8 port 4455 ssh2 [preauth]");
        assert_eq!(j["user"]["name"], "pi");
        assert_eq!(j["source"], json!({"ip": "192.0.2.8", "port": 4455}));
        assert_eq!(j["event"]["action"], "ssh_max_auth_exceeded");
        assert!(j["event"].get("outcome").is_none());

        let j = one("Mar 28 01:02:03 gw sshd[5]: Connection closed by authenticating user root 192.0.2.8 port 4455 [preauth]");
        assert_eq!(j["user"]["name"], "root");
        assert_eq!(j["source"], json!({"ip": "192.0.2.8", "port": 4455}));
        assert_eq!(j["event"]["action"], "ssh_connection_closed");

        let j = one("Mar 28 01:02:03 gw sshd[5]: Connection closed by 192.0.2.8 [preauth]");
        assert_eq!(j["source"], json!({"ip": "192.0.2.8"}));

        let j = one("Mar 28 01:02:03 gw sshd[5]: Disconnected from invalid user test 192.0.2.8 port 4455 [preauth]");
        assert_eq!(j["user"]["name"], "test");
        assert_eq!(j["event"]["action"], "ssh_disconnect");

        let j = one("Mar 28 01:02:03 gw sshd[5]: Received disconnect from 192.0.2.8 port 4455:11: Bye Bye [preauth]");
        assert_eq!(j["source"], json!({"ip": "192.0.2.8", "port": 4455}));
        assert_eq!(j["event"]["action"], "ssh_disconnect");

        let j = one("Dec 10 09:12:35 gw sshd[24490]: Received disconnect from 192.0.2.8: 11: Bye Bye [preauth]");
        assert_eq!(j["source"], json!({"ip": "192.0.2.8"}));

        let j = one(
            "Dec 10 06:55:46 gw sshd[24200]: reverse mapping checking getaddrinfo for host-7.example.net [198.51.100.7] failed - POSSIBLE BREAK-IN ATTEMPT!",
        );
        assert_eq!(j["source"], json!({"ip": "198.51.100.7", "domain": "host-7.example.net"}));
        assert_eq!(j["event"]["action"], "ssh_reverse_mapping_failed");

        let j = one("Mar 28 01:02:03 gw sshd[5]: Connection from 192.0.2.8 port 4455 on 10.0.0.2 port 22");
        assert_eq!(j["source"], json!({"ip": "192.0.2.8", "port": 4455}));
        assert_eq!(j["destination"], json!({"ip": "10.0.0.2", "port": 22}));

        let j = one("Mar 28 01:02:03 gw sshd[5]: Bad protocol version identification 'GET / HTTP/1.1' from 192.0.2.8 port 4455");
        assert_eq!(j["source"], json!({"ip": "192.0.2.8", "port": 4455}));

        let j = one("Mar 28 01:02:03 gw sshd[5]: Server listening on 0.0.0.0 port 22.");
        assert!(j.get("source").is_none());
        assert_eq!(j["event"]["dataset"], "system.auth");
    }

    #[test]
    fn pam_lines() {
        let j =
            one("Mar 28 01:02:03 gw sshd[5]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.4  user=root");
        assert_eq!(j["user"]["name"], "root");
        assert_eq!(j["source"]["ip"], "203.0.113.4");
        assert_eq!(j["event"]["action"], "pam_authentication_failure");
        assert_eq!(j["event"]["outcome"], "failure");
        assert_eq!(j["event"]["category"], json!(["authentication"]));

        let j = one("Jun 15 02:04:59 combo sshd(pam_unix)[20882]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=dsl-42.example.org  user=root");
        assert_eq!(j["process"]["name"], "sshd(pam_unix)");
        assert_eq!(j["process"]["pid"], 20882);
        assert_eq!(j["source"], json!({"domain": "dsl-42.example.org"}));
        assert_eq!(j["user"]["name"], "root");
        assert_eq!(j["event"]["dataset"], "system.auth");
        assert!(j["related"].get("ip").is_none());

        let j = one("Jun 15 02:04:59 combo sshd(pam_unix)[20882]: check pass; user unknown");
        assert_eq!(j["event"]["action"], "pam_check_pass_user_unknown");

        let j = one("Mar 28 01:02:03 gw sshd[5]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=::ffff:172.18.39.5");
        assert_eq!(j["source"]["ip"], "172.18.39.5");
        assert!(j.get("user").is_none());

        // elastic
        let j = one("Mar 27 13:08:09 ip-10-77-20-248 sshd[1361]: pam_unix(sshd:session): session opened for user ubuntu by (uid=0)");
        assert_eq!(j["user"], json!({"name": "ubuntu"}));
        assert_eq!(j["event"]["action"], "session_opened");
        assert_eq!(j["event"]["category"], json!(["session"]));

        // elastic
        let j = one("Mar 27 13:09:37 ip-10-77-20-248 sudo: pam_unix(sudo:session): session opened for user root by ubuntu(uid=0)");
        assert_eq!(j["user"], json!({"name": "ubuntu", "id": "0", "effective": {"name": "root"}}));
        assert_eq!(j["related"]["user"], json!(["ubuntu", "root"]));
        assert!(j["process"].get("pid").is_none());

        let j = one("Mar 27 13:09:38 ip-10-77-20-248 sudo: pam_unix(sudo:session): session closed for user root");
        assert_eq!(j["user"]["name"], "root");
        assert_eq!(j["event"]["action"], "session_closed");

        let j = one("Mar 27 13:20:01 h CRON[1]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)");
        assert_eq!(j["user"], json!({"name": "root"}));

        let j = one("Mar 27 13:20:01 h chpasswd[2]: pam_unix(chpasswd:chauthtok): password changed for elastic_user_3");
        assert_eq!(j["user"]["name"], "elastic_user_3");
        assert_eq!(j["event"]["action"], "password_changed");

        let j = one("Mar 27 13:20:01 h systemd: pam_unix(systemd-user:session): session opened for user bob by (uid=0)");
        assert_eq!(j["event"]["dataset"], "system.auth");
        assert_eq!(j["user"]["name"], "bob");
    }

    #[test]
    fn sudo_lines() {
        let j = one("Mar 27 13:09:37 ip-10-77-20-248 sudo:   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls -la ; echo");
        assert_eq!(j["message"], "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls -la ; echo");
        assert_eq!(j["user"], json!({"name": "alice", "effective": {"name": "root"}}));
        assert_eq!(j["system"]["auth"]["sudo"], json!({"tty": "pts/0", "pwd": "/home/alice", "user": "root", "command": "/bin/ls -la ; echo"}));
        assert_eq!(j["event"]["action"], "sudo_command");
        assert_eq!(j["event"]["category"], json!(["process"]));
        assert!(j["process"].get("command_line").is_none());

        let j = one("Mar 27 13:09:37 h sudo:    alice : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/usr/bin/id");
        assert_eq!(j["system"]["auth"]["sudo"]["error"], "3 incorrect password attempts");
        assert_eq!(j["event"]["outcome"], "failure");

        let j = one("Mar 27 13:09:37 h sudo:    mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh");
        assert_eq!(j["system"]["auth"]["sudo"]["error"], "user NOT in sudoers");
        assert_eq!(j["user"]["name"], "mallory");
        assert_eq!(j["event"]["outcome"], "failure");
    }

    #[test]
    fn su_cron_ftpd_klogind_logind_useradd() {
        let j = one("Mar 27 13:30:00 h su[100]: Successful su for root by alice");
        assert_eq!(j["user"], json!({"name": "alice", "effective": {"name": "root"}}));
        assert_eq!((j["event"]["action"].clone(), j["event"]["outcome"].clone()), (json!("su"), json!("success")));
        let j = one("Mar 27 13:30:00 h su[100]: FAILED su for root by alice");
        assert_eq!(j["event"]["outcome"], "failure");
        let j = one("Mar 27 13:30:00 h su[100]: + pts/0 alice:root");
        assert_eq!(j["user"], json!({"name": "alice", "effective": {"name": "root"}}));
        assert_eq!(j["event"]["outcome"], "success");
        let j = one("Mar 27 13:30:00 h su[100]: - pts/0 alice:root");
        assert_eq!(j["event"]["outcome"], "failure");

        let j = one("Apr  3 06:25:01 h CRON[3101]: (root) CMD (test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily ))");
        assert_eq!(j["user"]["name"], "root");
        assert_eq!(j["process"]["command_line"], "test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )");
        assert_eq!(j["event"]["action"], "cron_command");

        let j = one("Jun 17 07:07:00 combo ftpd[29504]: connection from 198.51.100.216 (cpe-216.example.net) at Fri Jun 17 07:07:00 2005");
        assert_eq!(j["source"], json!({"ip": "198.51.100.216", "domain": "cpe-216.example.net"}));
        assert_eq!(j["event"]["action"], "ftp_connection");
        let j = one("Jun 17 07:07:00 combo ftpd[29504]: connection from 198.51.100.216 () at Fri Jun 17 07:07:00 2005");
        assert_eq!(j["source"], json!({"ip": "198.51.100.216"}));

        let j = one("Jun 30 20:53:04 combo klogind[19272]: Authentication failed from 192.0.2.39 (192.0.2.39): Permission denied in replay cache code");
        assert_eq!(j["source"], json!({"ip": "192.0.2.39"}));
        assert_eq!(j["event"]["outcome"], "failure");
        assert_eq!(j["event"]["category"], json!(["authentication"]));
        assert_eq!(j["event"]["action"], "klogind_authentication_failed");

        let j = one("Mar 27 13:08:09 h systemd-logind[1118]: New session 5 of user ubuntu.");
        assert_eq!(j["user"]["name"], "ubuntu");
        assert_eq!(j["event"]["action"], "session_new");

        let j = one("Mar 27 14:00:00 h useradd[4000]: new user: name=foo, UID=1001, GID=1002, home=/home/foo, shell=/bin/bash");
        assert_eq!(j["user"], json!({"name": "foo", "id": "1001"}));
        assert_eq!(j["group"], json!({"id": "1002"}));
        assert_eq!(j["system"]["auth"]["useradd"], json!({"home": "/home/foo", "shell": "/bin/bash"}));
        assert_eq!(j["event"]["action"], "user_created");
        let j = one("Mar 27 14:00:00 h groupadd[4001]: new group: name=foo, GID=1002");
        assert_eq!(j["group"], json!({"name": "foo", "id": "1002"}));
        assert_eq!(j["event"]["action"], "group_created");
        let j = one("Mar 27 14:00:00 h useradd[4002]: failed adding user 'bar', data deleted");
        assert_eq!(j["user"]["name"], "bar");
        assert_eq!(j["event"]["outcome"], "failure");
    }

    #[test]
    fn syslog_dataset_and_headers() {
        let j = one("Jun 14 15:16:01 combo kernel: usbcore: registered new driver hub");
        assert_eq!(j["event"]["dataset"], "system.syslog");
        assert_eq!(j["process"], json!({"name": "kernel"}));
        assert_eq!(j["message"], "usbcore: registered new driver hub");

        let j = one("Jun 14 15:16:01 combo no program here");
        assert_eq!(j["host"]["hostname"], "combo");
        assert_eq!(j["message"], "no program here");
        assert!(j.get("process").is_none());

        let j = one("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(j["log"]["syslog"], json!({"priority": 34, "facility": {"code": 4}, "severity": {"code": 2}}));
        assert_eq!(j["process"]["name"], "su");
        assert_eq!(j["@timestamp"], "2023-10-11T22:14:15.000Z");

        // No hostname: the first word is the program.
        let j = one("<13>Oct 11 22:14:15 sshd[7]: Failed password for root from 192.0.2.1 port 1 ssh2");
        assert!(j.get("host").is_none());
        assert_eq!(j["process"], json!({"name": "sshd", "pid": 7}));
        assert_eq!(j["user"]["name"], "root");

        let j = one("2024-01-15T10:00:00.123456+01:00 web-1 sshd[4242]: Accepted password for deploy from 192.0.2.50 port 51000 ssh2");
        assert_eq!(j["@timestamp"], "2024-01-15T09:00:00.123Z");
        assert_eq!(j["host"]["hostname"], "web-1");
        assert_eq!(j["user"]["name"], "deploy");

        let j = one("Mar 27 13:08:09.250 h app: hi");
        assert_eq!(j["@timestamp"], "2024-03-27T13:08:09.250Z");
    }

    #[test]
    fn message_repeated_expands() {
        let mut p = SyslogParser::new(&opts());
        let mut out = Vec::new();
        let line = "Dec 10 07:51:15 gw sshd[24329]: message repeated 5 times: [ Failed password for root from 192.0.2.44 port 46213 ssh2]";
        assert_eq!(p.parse(line.as_bytes(), &mut out), Ok(Outcome::Events(5)));
        assert_eq!(out.len(), 5);
        for ev in &out {
            let j: Json = serde_json::from_str(&to_json_string(ev)).unwrap();
            assert_eq!(j["message"], "Failed password for root from 192.0.2.44 port 46213 ssh2");
            assert_eq!(j["system"]["auth"]["ssh"]["event"], "Failed");
            assert_eq!(j["source"]["ip"], "192.0.2.44");
            assert_eq!(j["event"]["outcome"], "failure");
        }

        out.clear();
        let huge = "Dec 10 07:51:15 gw sshd[1]: message repeated 99999999999999999999999 times: [ Failed password for root from 192.0.2.44 port 1 ssh2]";
        assert_eq!(p.parse(huge.as_bytes(), &mut out), Ok(Outcome::Events(MAX_REPEAT)));
        assert_eq!(out.len(), MAX_REPEAT);

        out.clear();
        let zero = "Dec 10 07:51:15 gw sshd[1]: message repeated 0 times: [ x]";
        assert_eq!(p.parse(zero.as_bytes(), &mut out), Ok(Outcome::Events(1)));
    }

    fn ts_of(p: &mut SyslogParser, line: &str) -> String {
        let mut out = Vec::new();
        p.parse(line.as_bytes(), &mut out).unwrap_or_else(|e| panic!("{line}: {e}"));
        to_iso8601(out[0].ts)
    }

    #[test]
    fn year_inference_rolls_over() {
        // now = 2024-01-10: a December line is from 2023, then January is 2024.
        let now = from_civil(2024, 1, 10, 0, 0, 0, 0).unwrap();
        let mut p = SyslogParser::new(&ParseOptions { year: None, now_ms: now, time_field: None });
        assert_eq!(ts_of(&mut p, "Dec 30 23:59:58 h a: x"), "2023-12-30T23:59:58.000Z");
        assert_eq!(ts_of(&mut p, "Dec 31 23:59:59 h a: x"), "2023-12-31T23:59:59.000Z");
        assert_eq!(ts_of(&mut p, "Jan  1 00:00:01 h a: x"), "2024-01-01T00:00:01.000Z");
        // A late December line after the rollover belongs to the old year, and does not move it.
        assert_eq!(ts_of(&mut p, "Dec 31 23:59:59 h a: late"), "2023-12-31T23:59:59.000Z");
        assert_eq!(ts_of(&mut p, "Jan  2 00:00:00 h a: x"), "2024-01-02T00:00:00.000Z");
        // Small steps back (Feb -> Jan) are not rollovers.
        assert_eq!(ts_of(&mut p, "Feb  2 00:00:00 h a: x"), "2024-02-02T00:00:00.000Z");
        assert_eq!(ts_of(&mut p, "Jan 31 00:00:00 h a: x"), "2024-01-31T00:00:00.000Z");
    }

    #[test]
    fn an_explicit_year_in_one_line_does_not_re_date_the_others() {
        let mut p = SyslogParser::new(&ParseOptions { year: Some(2017), now_ms: NOW, time_field: None });
        assert_eq!(ts_of(&mut p, "Mar  5 10:00:00 h sshd[1]: x"), "2017-03-05T10:00:00.000Z");
        assert_eq!(ts_of(&mut p, "2099-03-05T10:00:01Z h sshd[1]: forged"), "2099-03-05T10:00:01.000Z");
        assert_eq!(ts_of(&mut p, "Mar  5 10:00:02 h sshd[1]: x"), "2017-03-05T10:00:02.000Z");
        // Nor does it anchor the inference before any BSD line.
        let mut q = SyslogParser::new(&ParseOptions { year: Some(2017), now_ms: NOW, time_field: None });
        assert_eq!(ts_of(&mut q, "2099-03-05T10:00:01Z h sshd[1]: forged"), "2099-03-05T10:00:01.000Z");
        assert_eq!(ts_of(&mut q, "Mar  5 10:00:02 h sshd[1]: x"), "2017-03-05T10:00:02.000Z");
    }

    #[test]
    fn year_given_and_leap_day() {
        let mut p = SyslogParser::new(&ParseOptions { year: Some(2005), now_ms: NOW, time_field: None });
        assert_eq!(ts_of(&mut p, "Jun 14 15:16:01 combo a: x"), "2005-06-14T15:16:01.000Z");
        assert_eq!(ts_of(&mut p, "Jul 27 14:41:57 combo a: x"), "2005-07-27T14:41:57.000Z");
        assert_eq!(ts_of(&mut p, "Jan  1 00:00:00 combo a: x"), "2006-01-01T00:00:00.000Z");

        let mut p = SyslogParser::new(&ParseOptions { year: Some(2023), now_ms: NOW, time_field: None });
        let err = parse_all(&mut p, "Feb 29 10:00:00 h a: x").unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadTimestamp);
        // The failed line leaves the year unset, so the next one still uses the given year.
        assert_eq!(ts_of(&mut p, "Feb 28 10:00:00 h a: x"), "2023-02-28T10:00:00.000Z");
        let mut p = SyslogParser::new(&ParseOptions { year: Some(2024), now_ms: NOW, time_field: None });
        assert_eq!(ts_of(&mut p, "Feb 29 10:00:00 h a: x"), "2024-02-29T10:00:00.000Z");

        // Inferred from now (June 2024): a July line is from last year.
        let mut p = SyslogParser::new(&opts());
        assert_eq!(ts_of(&mut p, "Jul  1 00:00:00 h a: x"), "2023-07-01T00:00:00.000Z");
    }

    #[test]
    fn errors_and_skips() {
        let mut p = SyslogParser::new(&opts());
        let mut out = Vec::new();
        assert_eq!(p.parse(b"   \t ", &mut out), Ok(Outcome::Skipped));
        assert_eq!(p.parse(b"", &mut out), Ok(Outcome::Skipped));
        assert_eq!(p.parse(b"hello world", &mut out).unwrap_err().kind, ErrorKind::BadTimestamp);
        assert_eq!(p.parse(b"Foo 27 13:08:09 h a: x", &mut out).unwrap_err().kind, ErrorKind::BadTimestamp);
        assert_eq!(p.parse(b"Mar 27 25:08:09 h a: x", &mut out).unwrap_err().kind, ErrorKind::BadTimestamp);
        assert_eq!(p.parse(b"<999>Mar 27 13:08:09 h a: x", &mut out).unwrap_err().kind, ErrorKind::Malformed);
        assert_eq!(p.parse(b"Mar 27 13:08:09", &mut out).unwrap_err().kind, ErrorKind::Malformed);
        let long = vec![b'a'; MAX_RECORD_BYTES + 1];
        assert_eq!(p.parse(&long, &mut out).unwrap_err().kind, ErrorKind::TooLong);
        assert!(out.is_empty());
        // Invalid UTF-8 is replaced, not rejected.
        assert_eq!(p.parse(b"Mar 27 13:08:09 h app: caf\xe9 \xff", &mut out), Ok(Outcome::Events(1)));
        assert_eq!(out[0].get_str(known::MESSAGE), Some("caf\u{fffd} \u{fffd}"));
    }

    #[test]
    fn sniffing() {
        assert!(looks_like_syslog(b"Mar 27 13:08:09 ip-10-77-20-248 sshd[1361]: x"));
        assert!(looks_like_syslog(b"Jun  4 13:08:09 h x"));
        assert!(looks_like_syslog(b"<34>Oct 11 22:14:15 mymachine su: x"));
        assert!(looks_like_syslog(b"2024-01-15T10:00:00.123456+01:00 host prog[1]: msg"));
        assert!(!looks_like_syslog(b"83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 203023 \"-\" \"-\""));
        assert!(!looks_like_syslog(br#"{"timestamp":"2018-05-18T00:01:32.365041Z","eventid":"x"}"#));
        assert!(!looks_like_syslog(b"#fields\tts\tuid"));
        assert!(!looks_like_syslog(b"Mar 27 13:08:09"));
    }

    const SAMPLES: &[&str] = &[
        "<34>Mar 27 13:08:09.123 ip-10-77-20-248 sshd[1361]: Accepted publickey for ubuntu from 85.245.107.41 port 54259 ssh2: RSA SHA256:Kl8kPGZrTiz7g4FO1hyqHdsSBBb5Fge6NWOobN03XJg",
        "Dec 10 07:51:15 gw sshd[24329]: message repeated 5 times: [ Failed password for invalid user x from ::ffff:192.0.2.44 port 46213 ssh2]",
        "2024-01-15T10:00:00.123456+01:00 web-1 sudo:   alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls -la",
        "Jun 15 02:04:59 combo sshd(pam_unix)[20882]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=dsl-42.example.org  user=root",
        "Mar 27 13:09:37 h sudo: pam_unix(sudo:session): session opened for user root by ubuntu(uid=0)",
        "Mar 28 01:02:03 gw sshd[5]: Connection closed by authenticating user root 192.0.2.8 port 4455 [preauth]",
        "Jun 17 07:07:00 combo ftpd[29504]: connection from 198.51.100.216 (cpe-216.example.net) at Fri Jun 17 07:07:00 2005",
        "Mar 27 14:00:00 h useradd[4000]: new user: name=foo, UID=1001, GID=1002, home=/home/foo, shell=/bin/bash",
        "Dec 10 06:55:46 gw sshd[24200]: reverse mapping checking getaddrinfo for host-7.example.net [198.51.100.7] failed - POSSIBLE BREAK-IN ATTEMPT!",
        "Mar 27 13:30:00 h su[100]: + pts/0 alice:root",
    ];

    #[test]
    fn every_prefix_parses_without_panic() {
        for line in SAMPLES {
            for end in 0..=line.len() {
                let mut p = SyslogParser::new(&opts());
                let mut out = Vec::new();
                let _ = p.parse(&line.as_bytes()[..end], &mut out);
                for ev in &out {
                    serde_json::from_str::<Json>(&to_json_string(ev)).expect("valid JSON");
                }
            }
        }
    }

    #[test]
    #[ignore = "reads /work/shared/data; run with --ignored"]
    fn shared_data_check() {
        use std::collections::BTreeMap;
        let files = [
            "/work/shared/data/elastic-auth-log/auth.log",
            "/work/shared/data/loghub-openssh-linux/OpenSSH_2k.log",
            "/work/shared/data/loghub-openssh-linux/Linux_2k.log",
        ];
        for path in files {
            let Ok(data) = std::fs::read(path) else {
                eprintln!("{path}: not present, skipped");
                continue;
            };
            let mut p = SyslogParser::new(&opts());
            let (mut lines, mut events, mut repeated, mut sshd_auth, mut sshd_auth_fields) = (0, 0, 0, 0, 0);
            let mut failures: BTreeMap<String, usize> = BTreeMap::new();
            let mut actions: BTreeMap<String, usize> = BTreeMap::new();
            for line in data.split(|&b| b == b'\n') {
                if line.is_empty() {
                    continue;
                }
                lines += 1;
                let text = String::from_utf8_lossy(line);
                if text.contains("message repeated") {
                    repeated += 1;
                }
                let is_auth_line = text.contains("sshd[")
                    && (text.contains(": Failed ") || text.contains(": Accepted ") || text.contains(": Invalid user ") || text.contains("times: [ Failed"));
                let mut out = Vec::new();
                match p.parse(line, &mut out) {
                    Ok(Outcome::Events(n)) => {
                        events += n;
                        if is_auth_line {
                            sshd_auth += 1;
                            let ev = &out[0];
                            if ev.get(known::SSH_EVENT).is_some() && ev.get(known::SOURCE_IP).is_some() && ev.get(known::USER_NAME).is_some() {
                                sshd_auth_fields += 1;
                            }
                        }
                        *actions.entry(out[0].get_str(known::EVENT_ACTION).unwrap_or("-").to_string()).or_default() += 1;
                    }
                    Ok(Outcome::Skipped) => {}
                    Err(e) => *failures.entry(format!("{}: {}", e.kind, e.detail)).or_default() += 1,
                }
            }
            eprintln!("{path}: {lines} lines, {events} events, {repeated} `message repeated` lines, failures {failures:?}");
            eprintln!("  sshd auth lines {sshd_auth}, with ssh.event+source.ip+user.name {sshd_auth_fields}");
            eprintln!("  actions {actions:?}");
            assert!(failures.is_empty(), "{path}: {failures:?}");
            assert_eq!(sshd_auth, sshd_auth_fields, "{path}");
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut p = SyslogParser::new(&opts());
            let mut out = Vec::new();
            let _ = p.parse(&bytes, &mut out);
            let _ = looks_like_syslog(&bytes);
        }

        #[test]
        fn parser_never_panics_after_valid_header(
            header in prop::sample::select(vec![
                "Mar 27 13:08:09 host ",
                "<38>Jun  4 01:02:03 host ",
                "2024-01-15T10:00:00Z host ",
                "Dec 10 07:51:15 ",
            ]),
            program in prop::sample::select(vec!["sshd[12]: ", "sshd(pam_unix)[3]: ", "sudo: ", "su[1]: ", "CRON[2]: ", "ftpd[3]: ", "klogind[4]: ", "systemd-logind[5]: ", "useradd[6]: ", "kernel: ", ""]),
            lead in prop::sample::select(vec![
                "", "Failed password for ", "Accepted publickey for ", "Invalid user ", "message repeated 3 times: [ ",
                "pam_unix(sshd:auth): authentication failure; ", "pam_unix(x:session): session opened for user ",
                "Connection closed by ", "Disconnected from user ", "Received disconnect from ", "Connection from ",
                "reverse mapping checking getaddrinfo for ", "Did not receive identification string from ",
                "error: maximum authentication attempts exceeded for ", "alice : ", "(root) CMD (", "connection from ",
                "Authentication failed from ", "New session 1 of user ", "new user: ", "new group: ", "+ ", "FTP LOGIN FROM ",
                "Address ", "PAM 2 more authentication failures; ", "Disconnecting: ", "input_userauth_request: invalid user ",
            ]),
            tail in "[ -~]{0,120}",
        ) {
            let line = format!("{header}{program}{lead}{tail}");
            let mut p = SyslogParser::new(&opts());
            let mut out = Vec::new();
            let res = p.parse(line.as_bytes(), &mut out);
            // Only a header with nothing after it may fail (blank tail, no program).
            prop_assert!(res.as_ref().map_or_else(|e| e.kind == ErrorKind::Malformed, |_| true), "{}: {:?}", line, res);
            for ev in &out {
                let json = to_json_string(ev);
                prop_assert!(serde_json::from_str::<Json>(&json).is_ok(), "{}", json);
            }
        }
    }
}
