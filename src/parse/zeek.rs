//! Zeek logs, TSV (with `#` headers) or JSON lines, normalized the way Elastic Filebeat's zeek
//! module does it.
//!
//! Every log gets the common part: `ts` becomes the event time (not kept as a field), `uid`
//! becomes `zeek.session_id`, `id.orig_h`/`id.orig_p` and `id.resp_h`/`id.resp_p` become
//! `source.*`/`destination.*`, `proto` becomes `network.transport`, and `related.ip` lists the
//! two addresses. conn.log also maps `service`, `duration` (seconds, to `event.duration` in
//! nanoseconds, the ECS unit), bytes and packets, and its own columns to the fixed
//! `zeek.connection.*` names; it gets `event.category: [network]`, `event.type: [connection]` and
//! `network.direction` from `local_orig`/`local_resp` (internal, outbound, inbound, external).
//! Every other column is kept as `zeek.<log>.<column>` (`zeek.connection.<column>` for conn.log,
//! e.g. the Stratosphere `label` columns), or `zeek.<column>` when the log is unknown. All records
//! get `event.kind: event`, `event.module: zeek` and, when the log is known, `event.dataset:
//! zeek.<log>` (`zeek.connection` for conn.log); logs with connection ids also get
//! `event.category: [network]`.
//!
//! TSV: `#separator`, `#set_separator`, `#empty_field`, `#unset_field`, `#path`, `#fields` and
//! `#types` set the schema; `#separator` starts a new one (concatenated logs), and a new `#fields`
//! replaces the columns. When there is no `#path`, the log is guessed from the column names, as
//! it is from the keys of a JSON record (a `_path` key wins there). Values are typed by `#types`:
//! `count`/`int`/`port` as integers, `double`/`interval`/`time` as floats (seconds), `addr` as
//! addresses, `bool` (`T`/`F`) as booleans, `set[..]`/`vector[..]` as lists typed by their element
//! type, everything else as text with `\xHH` escapes decoded. A value that does not parse as its
//! type is kept as text, so every data line becomes an event. Unset (`-`) and empty (`(empty)`)
//! values are omitted: an empty set says no more than an absent one.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::OnceLock;

use memchr::memmem::{self, Finder};

use super::json::{default_key, time_from_leaf, Fields, Flattener, Leaf, Names, Take};
use super::{lossy, ErrorKind, Outcome, ParseError, ParseOptions, RecordParser, MAX_RECORD_BYTES};
use crate::event::field::{known, FieldId};
use crate::event::{canonical_ip, time, Event, Key, Value};

/// What a column means beyond where it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Plain,
    OrigH,
    RespH,
    Duration,
    LocalOrig,
    LocalResp,
}

/// Where a Zeek column or JSON key goes.
enum Target {
    /// The event time.
    Ts,
    /// A fixed field.
    Known(FieldId, Role),
    /// `zeek.<log>.<column>`.
    Prefixed,
    /// Dropped (`_path`, which only names the log).
    Skip,
}

fn target(conn: bool, col: &str) -> Target {
    use known::*;
    let (id, role) = match col {
        "ts" => return Target::Ts,
        "_path" => return Target::Skip,
        "uid" => (ZEEK_SESSION_ID, Role::Plain),
        "id.orig_h" => (SOURCE_IP, Role::OrigH),
        "id.orig_p" => (SOURCE_PORT, Role::Plain),
        "id.resp_h" => (DESTINATION_IP, Role::RespH),
        "id.resp_p" => (DESTINATION_PORT, Role::Plain),
        "proto" => (NETWORK_TRANSPORT, Role::Plain),
        _ if !conn => return Target::Prefixed,
        "service" => (NETWORK_PROTOCOL, Role::Plain),
        "duration" => (EVENT_DURATION, Role::Duration),
        "orig_bytes" => (SOURCE_BYTES, Role::Plain),
        "resp_bytes" => (DESTINATION_BYTES, Role::Plain),
        "orig_pkts" => (SOURCE_PACKETS, Role::Plain),
        "resp_pkts" => (DESTINATION_PACKETS, Role::Plain),
        "conn_state" => (ZEEK_CONN_STATE, Role::Plain),
        "history" => (ZEEK_CONN_HISTORY, Role::Plain),
        "local_orig" => (ZEEK_CONN_LOCAL_ORIG, Role::LocalOrig),
        "local_resp" => (ZEEK_CONN_LOCAL_RESP, Role::LocalResp),
        "missed_bytes" => (ZEEK_CONN_MISSED_BYTES, Role::Plain),
        "orig_ip_bytes" => (ZEEK_CONN_ORIG_IP_BYTES, Role::Plain),
        "resp_ip_bytes" => (ZEEK_CONN_RESP_IP_BYTES, Role::Plain),
        "tunnel_parents" => (ZEEK_CONN_TUNNEL_PARENTS, Role::Plain),
        _ => return Target::Prefixed,
    };
    Target::Known(id, role)
}

/// Column names that identify a log when there is no `#path`; the first log with any of its
/// names present wins, so conn's weak signature (`proto`, shared with dns.log) comes last.
const SIGNATURES: &[(&str, &[&str])] = &[
    ("conn", &["conn_state", "orig_ip_bytes"]),
    ("dns", &["qtype", "rcode", "trans_id"]),
    ("http", &["trans_depth", "request_body_len"]),
    ("files", &["seen_bytes", "total_bytes"]),
    ("ssl", &["ssl_history", "resumed", "server_name"]),
    ("x509", &["certificate.serial", "certificate.subject"]),
    ("kerberos", &["request_type"]),
    ("smb_mapping", &["share_type", "native_file_system"]),
    ("pe", &["compile_ts", "is_64bit"]),
    ("weird", &["addl"]),
    ("analyzer", &["analyzer_kind"]),
    ("packet_filter", &["init"]),
    ("notice", &["note"]),
    ("ssh", &["auth_success", "auth_attempts"]),
    ("dhcp", &["assigned_addr", "lease_time"]),
    ("ntlm", &["server_nb_computer_name"]),
    ("smtp", &["mailfrom", "rcptto"]),
    ("ftp", &["reply_code"]),
    ("software", &["software_type"]),
    ("tunnel", &["tunnel_type"]),
    ("conn", &["proto"]),
];

type Signatures = Vec<(&'static str, Vec<Finder<'static>>)>;

/// Searchers for `"_path"` and for the quoted [`SIGNATURES`] keys, built once per process.
fn json_finders() -> &'static (Finder<'static>, Signatures) {
    static FINDERS: OnceLock<(Finder<'static>, Signatures)> = OnceLock::new();
    FINDERS.get_or_init(|| {
        let quoted = |name: &str| Finder::new(format!("\"{name}\"").as_bytes()).into_owned();
        let signatures = SIGNATURES.iter().map(|(log, names)| (*log, names.iter().map(|n| quoted(n)).collect())).collect();
        (quoted("_path"), signatures)
    })
}

fn guess_log(has: impl Fn(&str) -> bool) -> Option<&'static str> {
    SIGNATURES.iter().find(|(_, names)| names.iter().any(|n| has(n))).map(|(log, _)| *log)
}

/// Writes the field prefix of a log (`zeek.connection.`, `zeek.dns.`, or `zeek.` when unknown).
fn write_prefix(prefix: &mut String, log: Option<&str>) {
    prefix.clear();
    prefix.push_str("zeek.");
    if let Some(log) = log {
        prefix.push_str(if log == "conn" { "connection" } else { log });
        prefix.push('.');
    }
}

/// How a column's values are typed (from `#types`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scalar {
    Str,
    Int,
    Float,
    Ip,
    Bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    One(Scalar),
    List(Scalar),
}

fn scalar_type(name: &str) -> Scalar {
    match name {
        "count" | "int" | "port" => Scalar::Int,
        "double" | "interval" | "time" => Scalar::Float,
        "addr" => Scalar::Ip,
        "bool" => Scalar::Bool,
        _ => Scalar::Str,
    }
}

fn parse_type(name: &str) -> Ty {
    let inner = name.strip_prefix("set[").or_else(|| name.strip_prefix("vector[")).and_then(|rest| rest.strip_suffix(']'));
    match inner {
        Some(inner) => Ty::List(scalar_type(inner)),
        None => Ty::One(scalar_type(name)),
    }
}

/// The type of a column when `#types` does not say: what Zeek writes for the mapped columns.
fn default_type(id: FieldId, role: Role) -> Ty {
    use known::*;
    Ty::One(match role {
        Role::OrigH | Role::RespH => Scalar::Ip,
        Role::Duration => Scalar::Float,
        Role::LocalOrig | Role::LocalResp => Scalar::Bool,
        Role::Plain
            if [
                SOURCE_PORT,
                DESTINATION_PORT,
                SOURCE_BYTES,
                DESTINATION_BYTES,
                SOURCE_PACKETS,
                DESTINATION_PACKETS,
                ZEEK_CONN_MISSED_BYTES,
                ZEEK_CONN_ORIG_IP_BYTES,
                ZEEK_CONN_RESP_IP_BYTES,
            ]
            .contains(&id) =>
        {
            Scalar::Int
        }
        Role::Plain => Scalar::Str,
    })
}

/// Where one TSV column's value goes, resolved once per header.
enum ColKey {
    Ts,
    Skip,
    Id(FieldId),
    /// The intern table is full: the name is copied into each event.
    Inline(Box<str>),
}

struct Column {
    key: ColKey,
    role: Role,
    ty: Ty,
}

/// The TSV header state. Separators and markers are kept as UTF-8 (a non-UTF-8 byte becomes
/// U+FFFD, as it does in the data lines), so they only ever match whole characters.
#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    separator: String,
    set_separator: String,
    empty: String,
    unset: String,
    path: Option<String>,
    fields: Vec<String>,
    types: Vec<String>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            separator: "\t".into(),
            set_separator: ",".into(),
            empty: "(empty)".into(),
            unset: "-".into(),
            path: None,
            fields: Vec::new(),
            types: Vec::new(),
        }
    }
}

/// What the normalization after the columns needs to know about one record.
#[derive(Default)]
struct Facts {
    ts: Option<Result<i64, String>>,
    orig: Option<IpAddr>,
    resp: Option<IpAddr>,
    local_orig: Option<bool>,
    local_resp: Option<bool>,
}

/// Parser for Zeek logs, TSV or JSON; see the module docs. One instance per input (TSV headers
/// are state).
pub struct ZeekParser {
    flat: Flattener,
    header: Header,
    sep: Finder<'static>,
    /// Columns for the current header; rebuilt lazily after a header line changed it.
    plan: Vec<Column>,
    plan_ready: bool,
    conn: bool,
    /// Field prefix of the TSV log (`zeek.connection.`); the dataset is this without the final dot.
    prefix: String,
    log_known: bool,
    /// Scratch for JSON records: their prefix, and names built from it.
    json_prefix: String,
    name: String,
    scratch: Vec<u8>,
}

impl ZeekParser {
    /// Creates a parser expecting either a TSV header or JSON records.
    pub fn new(_opts: &ParseOptions) -> Self {
        ZeekParser {
            flat: Flattener::new(),
            header: Header::default(),
            sep: Finder::new(b"\t").into_owned(),
            plan: Vec::new(),
            plan_ready: false,
            conn: false,
            prefix: String::new(),
            log_known: false,
            json_prefix: String::new(),
            name: String::new(),
            scratch: Vec::new(),
        }
    }

    fn header_line(&mut self, line: &[u8]) -> Outcome {
        let line = lossy(line);
        if let Some(rest) = line.strip_prefix("#separator") {
            if rest.starts_with([' ', '\t']) {
                let sep = unescape(rest.trim().as_bytes());
                self.header = Header::default();
                if !sep.is_empty() {
                    self.header.separator = sep;
                }
                self.sep = Finder::new(&self.header.separator).into_owned();
                self.plan_ready = false;
                return Outcome::Skipped;
            }
        }
        let sep = self.header.separator.as_str();
        let (name, value) = match line.split_once(sep) {
            Some(parts) => parts,
            // Hand-edited headers may use a space instead of the separator.
            None => match line.split_once(|c: char| c.is_ascii_whitespace()) {
                Some((name, value)) => (name, value.trim()),
                None => (line.as_ref(), ""),
            },
        };
        match name {
            "#set_separator" => {
                let set_sep = unescape(value.as_bytes());
                if !set_sep.is_empty() {
                    self.header.set_separator = set_sep;
                }
            }
            "#empty_field" => self.header.empty = value.to_owned(),
            "#unset_field" => self.header.unset = value.to_owned(),
            "#path" => {
                self.header.path = Some(value.to_owned()).filter(|p| !p.is_empty());
                self.plan_ready = false;
            }
            "#fields" => {
                self.header.fields = value.split(sep).map(str::to_owned).collect();
                self.header.types.clear();
                self.plan_ready = false;
            }
            "#types" => {
                self.header.types = value.split(sep).map(str::to_owned).collect();
                self.plan_ready = false;
            }
            _ => {} // #open, #close, comments
        }
        Outcome::Skipped
    }

    fn build_plan(&mut self) {
        let fields = &self.header.fields;
        let log = self.header.path.as_deref().or_else(|| guess_log(|n| fields.iter().any(|f| f == n)));
        self.conn = log == Some("conn");
        self.log_known = log.is_some();
        write_prefix(&mut self.prefix, log);
        self.plan.clear();
        let names = self.flat.names();
        for (i, field) in fields.iter().enumerate() {
            let declared = self.header.types.get(i).map(|t| parse_type(t));
            let (key, role, ty) = match target(self.conn, field) {
                Target::Ts => (ColKey::Ts, Role::Plain, Ty::One(Scalar::Str)),
                Target::Skip => (ColKey::Skip, Role::Plain, Ty::One(Scalar::Str)),
                Target::Known(id, role) => (ColKey::Id(id), role, declared.unwrap_or_else(|| default_type(id, role))),
                Target::Prefixed => {
                    self.name.clear();
                    self.name.push_str(&self.prefix);
                    self.name.push_str(field);
                    let key = match names.cache().resolve(self.name.as_bytes()) {
                        Some(id) => ColKey::Id(id),
                        None => ColKey::Inline(self.name.as_str().into()),
                    };
                    (key, Role::Plain, declared.unwrap_or(Ty::One(Scalar::Str)))
                }
            };
            self.plan.push(Column { key, role, ty });
        }
        self.plan_ready = true;
    }

    fn parse_tsv(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
        if self.header.fields.is_empty() {
            return Err(ParseError::new(ErrorKind::NoHeader, "data line before any #fields header"));
        }
        if !self.plan_ready {
            self.build_plan();
        }
        // One UTF-8 check per line (borrowed when valid), so cells are `&str` with no further checks.
        let text = lossy(line);
        let line = text.as_ref();
        let mut ev = Event::with_capacity(self.plan.len() + 8, line.len() + 32);
        let mut facts = Facts::default();
        let sep_len = self.header.separator.len();
        let mut matches = self.sep.find_iter(line.as_bytes());
        let mut start = 0;
        let mut count = 0;
        loop {
            let next = matches.next();
            // A UTF-8 separator only matches at character boundaries, so `get` always succeeds.
            let cell = line.get(start..next.unwrap_or(line.len())).unwrap_or_default();
            if let Some(col) = self.plan.get(count) {
                if cell != self.header.unset && cell != self.header.empty && !cell.is_empty() {
                    store_cell(col, cell, &self.header, &mut self.scratch, &mut ev, &mut facts);
                }
            }
            count += 1;
            match next {
                Some(at) => start = at + sep_len,
                None => break,
            }
        }
        if count != self.plan.len() {
            return Err(ParseError::new(ErrorKind::Malformed, format!("expected {} columns (#fields), found {count}", self.plan.len())));
        }
        let dataset = self.log_known.then(|| &self.prefix[..self.prefix.len() - 1]);
        finish(ev, facts, self.conn, dataset, out)
    }

    fn parse_json(&mut self, record: &[u8], out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
        let log = json_log(record);
        let conn = log.as_deref() == Some("conn");
        write_prefix(&mut self.json_prefix, log.as_deref());
        let mut hooks = JsonFields { conn, prefix: &self.json_prefix, name: &mut self.name, facts: Facts::default() };
        let mut ev = self.flat.new_event(record.len() + 32);
        self.flat.parse_object(record, &mut ev, &mut hooks)?;
        let facts = hooks.facts;
        let dataset = log.is_some().then(|| &self.json_prefix[..self.json_prefix.len() - 1]);
        finish(ev, facts, conn, dataset, out)
    }
}

impl RecordParser for ZeekParser {
    fn carries_state(&self) -> bool {
        true
    }

    fn save_state(&self) -> Vec<u8> {
        bincode::serialize(&self.header).unwrap_or_default()
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        self.header = bincode::deserialize(state).map_err(|e| format!("the Zeek parser's header does not decode: {e}"))?;
        self.sep = Finder::new(&self.header.separator).into_owned();
        self.plan_ready = false;
        Ok(())
    }

    fn parse(&mut self, record: &[u8], out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
        if record.len() > MAX_RECORD_BYTES {
            return Err(ParseError::new(ErrorKind::TooLong, format!("{} bytes, limit {MAX_RECORD_BYTES}", record.len())));
        }
        let record = record.strip_suffix(b"\r").unwrap_or(record);
        if record.first() == Some(&b'#') {
            return Ok(self.header_line(record));
        }
        match record.trim_ascii_start().first() {
            None => Ok(Outcome::Skipped),
            Some(b'{') => self.parse_json(record, out),
            Some(_) => self.parse_tsv(record, out),
        }
    }
}

/// The log a JSON record belongs to: its `_path` value, or a guess from its keys.
fn json_log(record: &[u8]) -> Option<Cow<'_, str>> {
    let (path_key, signatures) = json_finders();
    if let Some(at) = path_key.find(record) {
        let rest = record[at + 7..].trim_ascii_start();
        if let Some(rest) = rest.strip_prefix(b":") {
            if let Some(value) = rest.trim_ascii_start().strip_prefix(b"\"") {
                let end = memchr::memchr2(b'"', b'\\', value).unwrap_or(0);
                if end > 0 && value[end] == b'"' {
                    return Some(lossy(&value[..end]));
                }
            }
        }
    }
    let (log, _) = signatures.iter().find(|(_, finders)| finders.iter().any(|f| f.find(record).is_some()))?;
    Some(Cow::Borrowed(log))
}

/// True for a JSON object line that has Zeek's connection keys (used by format sniffing).
pub fn looks_like_zeek_json(line: &[u8]) -> bool {
    let line = line.trim_ascii_start();
    line.first() == Some(&b'{')
        && (memmem::find(line, b"\"id.orig_h\"").is_some() || (memmem::find(line, b"\"ts\"").is_some() && memmem::find(line, b"\"uid\"").is_some()))
}

/// Renames Zeek JSON keys while the record is walked, and collects what [`finish`] needs.
struct JsonFields<'p> {
    conn: bool,
    prefix: &'p str,
    name: &'p mut String,
    facts: Facts,
}

impl Fields for JsonFields<'_> {
    fn leaf(&mut self, path: &str, leaf: Leaf<'_>, _ev: &mut Event) -> Take {
        match target(self.conn, path) {
            Target::Ts => {
                self.facts.ts = Some(time_from_leaf(leaf).ok_or_else(|| leaf.to_string()));
                Take::Drop
            }
            Target::Skip => Take::Drop,
            Target::Prefixed => Take::Default,
            Target::Known(id, role) => match (role, leaf) {
                (Role::OrigH | Role::RespH, Leaf::Str(s)) => match s.parse::<IpAddr>() {
                    Ok(ip) => {
                        let ip = canonical_ip(ip);
                        *(if role == Role::OrigH { &mut self.facts.orig } else { &mut self.facts.resp }) = Some(ip);
                        Take::Store(id, Value::Ip(ip))
                    }
                    Err(_) => Take::Default,
                },
                (Role::Duration, Leaf::Float(secs)) => float_secs_to_ns(secs).map_or(Take::Default, |ns| Take::Store(id, Value::Int(ns))),
                (Role::Duration, Leaf::Int(secs)) => secs.checked_mul(1_000_000_000).map_or(Take::Default, |ns| Take::Store(id, Value::Int(ns))),
                (Role::Duration, Leaf::Str(s)) => seconds_to_ns(s.as_bytes()).map_or(Take::Default, |ns| Take::Store(id, Value::Int(ns))),
                (Role::LocalOrig, Leaf::Bool(b)) => {
                    self.facts.local_orig = Some(b);
                    Take::Default
                }
                (Role::LocalResp, Leaf::Bool(b)) => {
                    self.facts.local_resp = Some(b);
                    Take::Default
                }
                _ => Take::Default,
            },
        }
    }

    fn key(&mut self, path: &str, names: &mut Names, ev: &mut Event) -> Key {
        if let Target::Known(id, _) = target(self.conn, path) {
            return Key::Id(id);
        }
        self.name.clear();
        self.name.push_str(self.prefix);
        self.name.push_str(path);
        default_key(self.name, names, ev)
    }
}

/// Stores one set TSV value according to its column.
fn store_cell(col: &Column, cell: &str, header: &Header, scratch: &mut Vec<u8>, ev: &mut Event, facts: &mut Facts) {
    let value = match col.key {
        ColKey::Skip => return,
        ColKey::Ts => {
            let ms = time::parse_epoch_seconds(cell.as_bytes()).or_else(|| time::parse_iso8601(cell.as_bytes()));
            facts.ts = Some(ms.ok_or_else(|| format!("{cell:?}")));
            return;
        }
        ColKey::Id(_) | ColKey::Inline(_) => match (col.role, col.ty) {
            (Role::Duration, _) => match seconds_to_ns(cell.as_bytes()) {
                Some(ns) => Value::Int(ns),
                None => typed(cell, Scalar::Str, scratch, ev),
            },
            (_, Ty::One(scalar)) => typed(cell, scalar, scratch, ev),
            (_, Ty::List(scalar)) => {
                let start = ev.items_len();
                for item in cell.split(header.set_separator.as_str()) {
                    let value = if item == header.unset { Value::Null } else { typed(item, scalar, scratch, ev) };
                    ev.push_item(value);
                }
                ev.list_from(start)
            }
        },
    };
    match (col.role, value) {
        (Role::OrigH, Value::Ip(ip)) => facts.orig = Some(ip),
        (Role::RespH, Value::Ip(ip)) => facts.resp = Some(ip),
        (Role::LocalOrig, Value::Bool(b)) => facts.local_orig = Some(b),
        (Role::LocalResp, Value::Bool(b)) => facts.local_resp = Some(b),
        _ => {}
    }
    match &col.key {
        ColKey::Id(id) => ev.push(*id, value),
        ColKey::Inline(name) => ev.push_inline(name, value),
        ColKey::Ts | ColKey::Skip => {}
    }
}

/// A TSV value as its declared type, or as text when it does not parse as that type.
fn typed(cell: &str, scalar: Scalar, scratch: &mut Vec<u8>, ev: &mut Event) -> Value {
    let parsed = match scalar {
        Scalar::Int => cell.parse::<i64>().map(Value::Int).ok().or_else(|| cell.parse::<u64>().ok().map(|u| Value::Float(u as f64))),
        Scalar::Float => cell.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::Float),
        Scalar::Ip => cell.parse::<IpAddr>().ok().map(|ip| Value::Ip(canonical_ip(ip))),
        Scalar::Bool => match cell {
            "T" => Some(Value::Bool(true)),
            "F" => Some(Value::Bool(false)),
            _ => None,
        },
        Scalar::Str => None,
    };
    match parsed {
        Some(value) => value,
        None if cell.contains('\\') => {
            scratch.clear();
            unescape_into(cell.as_bytes(), scratch);
            Value::Str(ev.alloc_str(&lossy(scratch)))
        }
        None => Value::Str(ev.alloc_str(cell)),
    }
}

/// Adds the normalization shared by both forms and emits the event.
fn finish(mut ev: Event, facts: Facts, conn: bool, dataset: Option<&str>, out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
    ev.ts = match facts.ts {
        Some(Ok(ms)) => ms,
        Some(Err(bad)) => return Err(ParseError::new(ErrorKind::BadTimestamp, format!("unreadable ts: {bad} (expected epoch seconds)"))),
        None => return Err(ParseError::new(ErrorKind::BadTimestamp, "no ts in Zeek record")),
    };
    ev.push(known::EVENT_KIND, Value::Sym("event"));
    ev.push(known::EVENT_MODULE, Value::Sym("zeek"));
    if let Some(dataset) = dataset {
        ev.push_str(known::EVENT_DATASET, dataset);
    }
    if conn || facts.orig.is_some() || facts.resp.is_some() {
        let category = ev.alloc_list(&[Value::Sym("network")]);
        ev.push(known::EVENT_CATEGORY, category);
    }
    if conn {
        let kind = ev.alloc_list(&[Value::Sym("connection")]);
        ev.push(known::EVENT_TYPE, kind);
        if let (Some(orig), Some(resp)) = (facts.local_orig, facts.local_resp) {
            let direction = match (orig, resp) {
                (true, true) => "internal",
                (true, false) => "outbound",
                (false, true) => "inbound",
                (false, false) => "external",
            };
            ev.push(known::NETWORK_DIRECTION, Value::Sym(direction));
        }
    }
    let resp = facts.resp.filter(|ip| facts.orig != Some(*ip));
    let start = ev.items_len();
    for ip in [facts.orig, resp].into_iter().flatten() {
        ev.push_item(Value::Ip(ip));
    }
    if ev.items_len() > start {
        let related = ev.list_from(start);
        ev.push(known::RELATED_IP, related);
    }
    out.push(ev);
    Ok(Outcome::Events(1))
}

/// Decodes Zeek's `\xHH` escapes (other backslashes stay as they are), as UTF-8.
fn unescape(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    unescape_into(s, &mut out);
    lossy(&out).into_owned()
}

fn unescape_into(s: &[u8], out: &mut Vec<u8>) {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'x') {
            if let (Some(hi), Some(lo)) = (s.get(i + 2).and_then(|b| hex(*b)), s.get(i + 3).and_then(|b| hex(*b))) {
                out.push(hi << 4 | lo);
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
}

/// Decimal seconds (`1.201128`) to nanoseconds, exactly (digits past the ninth are truncated).
fn seconds_to_ns(s: &[u8]) -> Option<i64> {
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let dot = body.iter().position(|&b| b == b'.').unwrap_or(body.len());
    let (int_part, frac) = (&body[..dot], body.get(dot + 1..).unwrap_or_default());
    if (int_part.is_empty() && frac.is_empty()) || !int_part.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    let mut ns: i64 = 0;
    for &b in int_part {
        ns = ns.checked_mul(10)?.checked_add((b - b'0') as i64)?;
    }
    ns = ns.checked_mul(1_000_000_000)?;
    let mut scale = 100_000_000;
    for &b in frac.iter().take(9) {
        ns += (b - b'0') as i64 * scale;
        scale /= 10;
    }
    Some(if neg { -ns } else { ns })
}

/// Float seconds (Zeek JSON `duration`) to nanoseconds, if finite and in range.
fn float_secs_to_ns(secs: f64) -> Option<i64> {
    let ns = (secs * 1e9).round();
    (ns.is_finite() && ns.abs() < 9.2e18).then_some(ns as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ecs::to_json_string;
    use crate::event::field;
    use crate::event::time::to_iso8601;
    use crate::event::ValueRef;
    use proptest::prelude::*;

    /// A conn.log header in the shape Zeek writes, with two label columns as the Stratosphere
    /// labelled logs have them.
    const CONN_HEADER: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2024-01-01-00-00-00
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tlabel\tdetailedlabel
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tstring\tstring";

    fn parser() -> ZeekParser {
        ZeekParser::new(&ParseOptions { year: None, now_ms: 0, time_field: None })
    }

    /// Feeds lines; returns the events and the last result.
    fn feed(p: &mut ZeekParser, text: &str) -> (Vec<Event>, Result<Outcome, ParseError>) {
        let mut out = Vec::new();
        let mut last = Ok(Outcome::Skipped);
        for line in text.lines() {
            last = p.parse(line.as_bytes(), &mut out);
        }
        (out, last)
    }

    fn one(p: &mut ZeekParser, text: &str) -> Event {
        let (mut out, last) = feed(p, text);
        assert_eq!(last, Ok(Outcome::Events(1)), "{text}");
        out.pop().unwrap()
    }

    fn get<'a>(ev: &'a Event, name: &str) -> Option<ValueRef<'a>> {
        ev.get(field::lookup(name)?)
    }

    fn ip(s: &str) -> ValueRef<'static> {
        ValueRef::Ip(s.parse().unwrap())
    }

    fn strs<'a>(ev: &'a Event, v: Option<ValueRef<'a>>) -> Vec<ValueRef<'a>> {
        match v {
            Some(ValueRef::List(items)) => items.iter().map(|i| ev.resolve(i)).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tsv_conn_with_labels() {
        let mut p = parser();
        let (out, last) = feed(&mut p, CONN_HEADER);
        assert!(out.is_empty() && last == Ok(Outcome::Skipped));
        let ev = one(&mut p, "1655071198.444458\tCAbc1\t198.51.100.167\t62771\t203.0.113.123\t443\ttcp\tssl\t1.135424\t1596\t4039\tSF\tT\tF\t0\tShADdaFf\t14\t1016\t16\t1226\t(empty)\tBenign\tVendor-Update");
        assert_eq!(to_iso8601(ev.ts), "2022-06-12T21:59:58.444Z");
        assert_eq!(get(&ev, "ts"), None);
        assert_eq!(ev.get_str(known::ZEEK_SESSION_ID), Some("CAbc1"));
        assert_eq!(ev.get(known::SOURCE_IP), Some(ip("198.51.100.167")));
        assert_eq!(ev.get(known::SOURCE_PORT), Some(ValueRef::Int(62771)));
        assert_eq!(ev.get(known::DESTINATION_IP), Some(ip("203.0.113.123")));
        assert_eq!(ev.get(known::DESTINATION_PORT), Some(ValueRef::Int(443)));
        assert_eq!(ev.get_str(known::NETWORK_TRANSPORT), Some("tcp"));
        assert_eq!(ev.get_str(known::NETWORK_PROTOCOL), Some("ssl"));
        assert_eq!(ev.get(known::EVENT_DURATION), Some(ValueRef::Int(1_135_424_000)));
        assert_eq!(ev.get(known::SOURCE_BYTES), Some(ValueRef::Int(1596)));
        assert_eq!(ev.get(known::DESTINATION_BYTES), Some(ValueRef::Int(4039)));
        assert_eq!(ev.get(known::SOURCE_PACKETS), Some(ValueRef::Int(14)));
        assert_eq!(ev.get(known::DESTINATION_PACKETS), Some(ValueRef::Int(16)));
        assert_eq!(ev.get_str(known::ZEEK_CONN_STATE), Some("SF"));
        assert_eq!(ev.get_str(known::ZEEK_CONN_HISTORY), Some("ShADdaFf"));
        assert_eq!(ev.get(known::ZEEK_CONN_LOCAL_ORIG), Some(ValueRef::Bool(true)));
        assert_eq!(ev.get(known::ZEEK_CONN_LOCAL_RESP), Some(ValueRef::Bool(false)));
        assert_eq!(ev.get(known::ZEEK_CONN_MISSED_BYTES), Some(ValueRef::Int(0)));
        assert_eq!(ev.get(known::ZEEK_CONN_ORIG_IP_BYTES), Some(ValueRef::Int(1016)));
        assert_eq!(ev.get(known::ZEEK_CONN_RESP_IP_BYTES), Some(ValueRef::Int(1226)));
        assert_eq!(ev.get(known::ZEEK_CONN_TUNNEL_PARENTS), None, "(empty) is omitted");
        assert_eq!(get(&ev, "zeek.connection.label"), Some(ValueRef::Str("Benign")));
        assert_eq!(get(&ev, "zeek.connection.detailedlabel"), Some(ValueRef::Str("Vendor-Update")));
        assert_eq!(ev.get_str(known::NETWORK_DIRECTION), Some("outbound"));
        assert_eq!(ev.get_str(known::EVENT_KIND), Some("event"));
        assert_eq!(ev.get_str(known::EVENT_MODULE), Some("zeek"));
        assert_eq!(ev.get_str(known::EVENT_DATASET), Some("zeek.connection"));
        assert_eq!(strs(&ev, ev.get(known::EVENT_CATEGORY)), [ValueRef::Str("network")]);
        assert_eq!(strs(&ev, ev.get(known::EVENT_TYPE)), [ValueRef::Str("connection")]);
        assert_eq!(strs(&ev, ev.get(known::RELATED_IP)), [ip("198.51.100.167"), ip("203.0.113.123")]);
        let json: serde_json::Value = serde_json::from_str(&to_json_string(&ev)).unwrap();
        assert_eq!(json["zeek"]["connection"]["state"], "SF");
        assert_eq!(json["source"]["ip"], "198.51.100.167");
    }

    #[test]
    fn unset_and_empty_fields() {
        let mut p = parser();
        assert_eq!(feed(&mut p, CONN_HEADER).1, Ok(Outcome::Skipped));
        let ev = one(&mut p, "1655071231.749548\tCdef2\t192.0.2.232\t46563\t192.0.2.232\t3933\ttcp\t-\t-\t-\t-\tS0\tF\tT\t0\tS\t2\t80\t0\t0\tparent1,parent2\tMalicious\t(empty)");
        for id in [known::NETWORK_PROTOCOL, known::EVENT_DURATION, known::SOURCE_BYTES, known::DESTINATION_BYTES] {
            assert_eq!(ev.get(id), None, "{}", field::name(id));
        }
        assert_eq!(get(&ev, "zeek.connection.detailedlabel"), None);
        assert_eq!(strs(&ev, ev.get(known::ZEEK_CONN_TUNNEL_PARENTS)), [ValueRef::Str("parent1"), ValueRef::Str("parent2")]);
        assert_eq!(ev.get_str(known::NETWORK_DIRECTION), Some("inbound"));
        assert_eq!(strs(&ev, ev.get(known::RELATED_IP)), [ip("192.0.2.232")], "one address once");
        // Unset booleans: no direction.
        let ev = one(&mut p, "1655071231.749548\tCdef2\t192.0.2.1\t1\t192.0.2.2\t2\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t2\t80\t0\t0\t-\t-\t-");
        assert_eq!(ev.get(known::NETWORK_DIRECTION), None);
    }

    #[test]
    fn wrong_column_count_and_bad_values() {
        let mut p = parser();
        assert_eq!(feed(&mut p, CONN_HEADER).1, Ok(Outcome::Skipped));
        let err = p.parse(b"1655071231.749548\tCdef2\t192.0.2.1", &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Malformed);
        assert_eq!(err.detail, "expected 23 columns (#fields), found 3");
        let long = format!("1655071231.749548{}", "\tx".repeat(30));
        assert_eq!(p.parse(long.as_bytes(), &mut Vec::new()).unwrap_err().detail, "expected 23 columns (#fields), found 31");
        // Values that do not parse as their type stay text; a bad ts is an error.
        let ev = one(&mut p, "1655071231.749548\tC\tnot-an-ip\tport?\t192.0.2.2\t2\ttcp\t-\tlong\t-\t-\tS0\tmaybe\tT\t0\tS\t2\t80\t0\t0\t-\t-\t-");
        assert_eq!(ev.get(known::SOURCE_IP), Some(ValueRef::Str("not-an-ip")));
        assert_eq!(ev.get(known::SOURCE_PORT), Some(ValueRef::Str("port?")));
        assert_eq!(ev.get(known::EVENT_DURATION), Some(ValueRef::Str("long")));
        assert_eq!(ev.get(known::ZEEK_CONN_LOCAL_ORIG), Some(ValueRef::Str("maybe")));
        assert_eq!(strs(&ev, ev.get(known::RELATED_IP)), [ip("192.0.2.2")]);
        let err = p.parse(b"yesterday\tC\t192.0.2.1\t1\t192.0.2.2\t2\ttcp\t-\t-\t-\t-\tS0\tT\tT\t0\tS\t2\t80\t0\t0\t-\t-\t-", &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadTimestamp);
        assert!(err.detail.contains("yesterday"), "{}", err.detail);
        let err = p.parse(b"-\tC\t192.0.2.1\t1\t192.0.2.2\t2\ttcp\t-\t-\t-\t-\tS0\tT\tT\t0\tS\t2\t80\t0\t0\t-\t-\t-", &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadTimestamp);
    }

    #[test]
    fn data_before_header() {
        let mut p = parser();
        let err = p.parse(b"1655071231.749548\tCdef2\t192.0.2.1", &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NoHeader);
        // A #separator starts a new log: the old columns are forgotten.
        assert_eq!(feed(&mut p, CONN_HEADER).1, Ok(Outcome::Skipped));
        assert_eq!(p.parse(b"#separator \\x09", &mut Vec::new()), Ok(Outcome::Skipped));
        assert_eq!(p.parse(b"1\tC", &mut Vec::new()).unwrap_err().kind, ErrorKind::NoHeader);
        assert_eq!(p.parse(b"", &mut Vec::new()), Ok(Outcome::Skipped));
        assert_eq!(p.parse(b"#close\t2024-01-01-00-00-00", &mut Vec::new()), Ok(Outcome::Skipped));
    }

    #[test]
    fn header_reset_mid_file() {
        let mut p = parser();
        assert_eq!(feed(&mut p, CONN_HEADER).1, Ok(Outcome::Skipped));
        one(&mut p, "1655071231.749548\tC\t192.0.2.1\t1\t192.0.2.2\t2\ttcp\t-\t-\t-\t-\tS0\tT\tT\t0\tS\t2\t80\t0\t0\t-\t-\t-");
        let ev = one(&mut p, "#close\t2024-01-01-01-00-00\n#path\tweird\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tname\taddl\tnotice\tpeer\tsource\n#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tbool\tstring\tstring\n1692161618.098276\t-\t192.168.1.41\t0\t239.255.255.250\t0\tbad_IP_checksum\t-\tF\tzeek\tIP");
        assert_eq!(ev.get_str(known::EVENT_DATASET), Some("zeek.weird"));
        assert_eq!(get(&ev, "zeek.weird.name"), Some(ValueRef::Str("bad_IP_checksum")));
        assert_eq!(get(&ev, "zeek.weird.notice"), Some(ValueRef::Bool(false)));
        assert_eq!(get(&ev, "zeek.weird.source"), Some(ValueRef::Str("IP")));
        assert_eq!(ev.get(known::ZEEK_SESSION_ID), None);
        assert_eq!(ev.get(known::EVENT_TYPE), None);
        assert_eq!(strs(&ev, ev.get(known::EVENT_CATEGORY)), [ValueRef::Str("network")]);
        // A new #fields without #path/#types: the log is guessed, mapped columns get Zeek's types.
        let ev = one(&mut p, "#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\torig_bytes\tduration\n1.5\t192.0.2.1\t10\t192.0.2.2\t20\tudp\tSF\t7\t0.25");
        assert_eq!(ev.ts, 1500);
        assert_eq!(ev.get_str(known::EVENT_DATASET), Some("zeek.connection"));
        assert_eq!(ev.get(known::SOURCE_PORT), Some(ValueRef::Int(10)));
        assert_eq!(ev.get(known::SOURCE_BYTES), Some(ValueRef::Int(7)));
        assert_eq!(ev.get(known::EVENT_DURATION), Some(ValueRef::Int(250_000_000)));
        // Nothing to guess from: `zeek.<column>`, no dataset.
        let ev = one(&mut p, "#fields\tts\tcolour\n2\tblue");
        assert_eq!(get(&ev, "zeek.colour"), Some(ValueRef::Str("blue")));
        assert_eq!(ev.get(known::EVENT_DATASET), None);
        assert_eq!(ev.get(known::EVENT_CATEGORY), None);
    }

    #[test]
    fn dns_tsv_line() {
        // Header and line from OTRF Security-Datasets (LSASS_campaign_01 zeek dns.log), MIT licence.
        let mut p = parser();
        let ev = one(&mut p, "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool\n1692161901.757679\tC93HYr25Z16GTmQOt\t192.168.1.41\t65187\t192.168.1.4\t53\tudp\t54906\t-\t_ldap._tcp.default-first-site-name._sites.dc._msdcs.pandalab.com\t-\t-\t-\t-\t0\tNOERROR\tT\tF\tF\tT\t0\tdc01.pandalab.com\t600.000000\tF");
        assert_eq!(to_iso8601(ev.ts), "2023-08-16T04:58:21.757Z");
        assert_eq!(ev.get_str(known::EVENT_DATASET), Some("zeek.dns"));
        assert_eq!(ev.get_str(known::NETWORK_TRANSPORT), Some("udp"));
        assert_eq!(ev.get(known::DESTINATION_PORT), Some(ValueRef::Int(53)));
        assert_eq!(get(&ev, "zeek.dns.query"), Some(ValueRef::Str("_ldap._tcp.default-first-site-name._sites.dc._msdcs.pandalab.com")));
        assert_eq!(get(&ev, "zeek.dns.trans_id"), Some(ValueRef::Int(54906)));
        assert_eq!(get(&ev, "zeek.dns.AA"), Some(ValueRef::Bool(true)));
        assert_eq!(get(&ev, "zeek.dns.rtt"), None);
        assert_eq!(strs(&ev, get(&ev, "zeek.dns.answers")), [ValueRef::Str("dc01.pandalab.com")]);
        assert_eq!(strs(&ev, get(&ev, "zeek.dns.TTLs")), [ValueRef::Float(600.0)]);
        assert_eq!(ev.get(known::EVENT_DURATION), None);
        assert_eq!(ev.get(known::NETWORK_DIRECTION), None);
    }

    #[test]
    fn logs_without_connection_ids() {
        // Line from OTRF Security-Datasets (LSASS_campaign_01 zeek packet_filter.log), MIT licence.
        let mut p = parser();
        let ev = one(&mut p, "#separator \\x09\n#path\tpacket_filter\n#fields\tts\tnode\tfilter\tinit\tsuccess\tfailure_reason\n#types\ttime\tstring\tstring\tbool\tbool\tstring\n1692163735.003071\tzeek\tip or not ip\tT\tT\t-");
        assert_eq!(ev.get_str(known::EVENT_DATASET), Some("zeek.packet_filter"));
        assert_eq!(get(&ev, "zeek.packet_filter.filter"), Some(ValueRef::Str("ip or not ip")));
        assert_eq!(ev.get(known::RELATED_IP), None);
        assert_eq!(ev.get(known::EVENT_CATEGORY), None);
    }

    #[test]
    fn other_separators_and_escapes() {
        let mut p = parser();
        let ev = one(&mut p, "#separator \\x7c\n#set_separator|;\n#path|http\n#fields|ts|uri|tags|id.orig_h\n#types|time|string|set[enum]|addr\n10.000001|/a\\x7cb\\x09c\\\\d|x;y\\x3bz|::ffff:10.0.0.1");
        assert_eq!(ev.ts, 10_000);
        assert_eq!(get(&ev, "zeek.http.uri"), Some(ValueRef::Str("/a|b\tc\\\\d")));
        assert_eq!(strs(&ev, get(&ev, "zeek.http.tags")), [ValueRef::Str("x"), ValueRef::Str("y;z")]);
        assert_eq!(ev.get(known::SOURCE_IP), Some(ip("10.0.0.1")));
        // CRLF line ends and invalid UTF-8 are tolerated.
        let ev = one(&mut p, "11|/caf\u{e9}|-|10.0.0.2\r");
        assert_eq!(get(&ev, "zeek.http.uri"), Some(ValueRef::Str("/café")));
        let mut out = Vec::new();
        assert_eq!(p.parse(b"12|/\xff|-|10.0.0.3", &mut out), Ok(Outcome::Events(1)));
        assert_eq!(get(&out[0], "zeek.http.uri"), Some(ValueRef::Str("/\u{fffd}")));
    }

    #[test]
    fn json_conn_with_optional_fields_absent() {
        let mut p = parser();
        let ev = one(
            &mut p,
            r#"{"ts":1664463972.711412,"uid":"CG03th2rfWi0ctENra","id.orig_h":"172.16.1.11","id.orig_p":3,"id.resp_h":"172.16.1.30","id.resp_p":3,"proto":"icmp","conn_state":"OTH","local_orig":true,"local_resp":true,"missed_bytes":0,"orig_pkts":1,"orig_ip_bytes":56,"resp_pkts":0,"resp_ip_bytes":0}"#,
        );
        assert_eq!(ev.ts, 1_664_463_972_711);
        assert_eq!(ev.get_str(known::EVENT_DATASET), Some("zeek.connection"));
        assert_eq!(ev.get(known::SOURCE_IP), Some(ip("172.16.1.11")));
        assert_eq!(ev.get(known::DESTINATION_PORT), Some(ValueRef::Int(3)));
        assert_eq!(ev.get_str(known::NETWORK_TRANSPORT), Some("icmp"));
        assert_eq!(ev.get(known::EVENT_DURATION), None);
        assert_eq!(ev.get(known::NETWORK_PROTOCOL), None);
        assert_eq!(ev.get(known::SOURCE_BYTES), None);
        assert_eq!(ev.get(known::SOURCE_PACKETS), Some(ValueRef::Int(1)));
        assert_eq!(ev.get(known::ZEEK_CONN_LOCAL_RESP), Some(ValueRef::Bool(true)));
        assert_eq!(ev.get_str(known::NETWORK_DIRECTION), Some("internal"));
        assert_eq!(get(&ev, "ts"), None);
        assert_eq!(strs(&ev, ev.get(known::RELATED_IP)), [ip("172.16.1.11"), ip("172.16.1.30")]);

        // The same record as TSV gives the same ECS document.
        let tsv = one(
            &mut p,
            &format!(
                "{CONN_HEADER}\n1664463972.711412\tCG03th2rfWi0ctENra\t172.16.1.11\t3\t172.16.1.30\t3\ticmp\t-\t-\t-\t-\tOTH\tT\tT\t0\t-\t1\t56\t0\t0\t-\t-\t-"
            ),
        );
        assert_eq!(to_json_string(&tsv), to_json_string(&ev));
    }

    #[test]
    fn json_other_logs() {
        let mut p = parser();
        let ev = one(
            &mut p,
            r#"{"_path":"ssh","_write_ts":"2024-01-01T00:00:01.000000Z","ts":"2024-01-01T00:00:00.5Z","uid":"C1","id.orig_h":"192.0.2.9","id.orig_p":5555,"id.resp_h":"192.0.2.10","id.resp_p":22,"auth_success":false,"auth_attempts":3,"client":"SSH-2.0-libssh"}"#,
        );
        assert_eq!(to_iso8601(ev.ts), "2024-01-01T00:00:00.500Z");
        assert_eq!(ev.get_str(known::EVENT_DATASET), Some("zeek.ssh"));
        assert_eq!(get(&ev, "zeek.ssh.auth_attempts"), Some(ValueRef::Int(3)));
        assert_eq!(get(&ev, "zeek.ssh._write_ts"), Some(ValueRef::Str("2024-01-01T00:00:01.000000Z")));
        assert_eq!(get(&ev, "_path"), None);
        let ev = one(
            &mut p,
            r#"{"ts":1,"uid":"C2","id.orig_h":"192.0.2.1","id.orig_p":1,"id.resp_h":"192.0.2.2","id.resp_p":53,"proto":"udp","trans_id":7,"query":"example.org","answers":["192.0.2.3"],"TTLs":[60.0]}"#,
        );
        assert_eq!(ev.get_str(known::EVENT_DATASET), Some("zeek.dns"));
        assert_eq!(strs(&ev, get(&ev, "zeek.dns.TTLs")), [ValueRef::Float(60.0)]);
        let err = p.parse(br#"{"uid":"C3","proto":"tcp"}"#, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadTimestamp);
        assert_eq!(p.parse(br#"{"ts":1,"#, &mut Vec::new()).unwrap_err().kind, ErrorKind::BadJson);
    }

    #[test]
    fn duration_in_nanoseconds() {
        assert_eq!(seconds_to_ns(b"1.201128"), Some(1_201_128_000));
        assert_eq!(seconds_to_ns(b"0.000010"), Some(10_000));
        assert_eq!(seconds_to_ns(b"57.9720900058746337"), Some(57_972_090_005));
        assert_eq!(seconds_to_ns(b"3"), Some(3_000_000_000));
        assert_eq!(seconds_to_ns(b".5"), Some(500_000_000));
        assert_eq!(seconds_to_ns(b"-1.5"), Some(-1_500_000_000));
        assert_eq!(seconds_to_ns(b"99999999999"), None);
        assert_eq!(seconds_to_ns(b"1e3"), None);
        assert_eq!(seconds_to_ns(b"."), None);
        assert_eq!(seconds_to_ns(b""), None);
        let mut p = parser();
        let ev = one(
            &mut p,
            r#"{"ts":1664462456.755299,"uid":"C5","id.orig_h":"172.16.1.11","id.orig_p":40042,"id.resp_h":"8.8.8.8","id.resp_p":53,"proto":"udp","service":"dns","duration":0.012166976928710938,"conn_state":"SHR"}"#,
        );
        assert_eq!(ev.get(known::EVENT_DURATION), Some(ValueRef::Int(12_166_977)));
    }

    #[test]
    fn sniffing_zeek_json() {
        assert!(looks_like_zeek_json(br#"{"ts":1.0,"uid":"C1","id.orig_h":"10.0.0.1"}"#));
        assert!(looks_like_zeek_json(br#" {"ts":1.0,"uid":"C1"}"#));
        assert!(!looks_like_zeek_json(br#"{"ts":1.0,"user":"x"}"#));
        assert!(!looks_like_zeek_json(b"1.0\tC1\t10.0.0.1"));
    }

    proptest! {
        #[test]
        fn never_panics(lines in proptest::collection::vec(r"(#(separator|set_separator|fields|types|path|empty_field|unset_field)[ \t][a-z._,\\x0-9\[\] \t-]{0,30}|[0-9a-z.,:\t\\{}()-]{0,60}|\{[\x22a-z_.:0-9,\[\]{} ]{0,60}\}?)", 0..8),
                       bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut p = parser();
            let mut out = Vec::new();
            for line in CONN_HEADER.lines() {
                let _ = p.parse(line.as_bytes(), &mut out);
            }
            let _ = p.parse(&bytes, &mut out);
            for line in &lines {
                let _ = p.parse(line.as_bytes(), &mut out);
            }
            for ev in &out {
                prop_assert!(serde_json::from_str::<serde_json::Value>(&to_json_string(ev)).is_ok());
            }
        }
    }
}
