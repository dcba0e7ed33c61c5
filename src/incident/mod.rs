//! Incidents: what vigil emits. One incident per plain Sigma detection match or per correlation
//! alert, with a deterministic id, the rule's metadata, the group, the window, the value, capped
//! evidence and the `related.*` entities. [`ecs`] writes one as an ECS JSON line and [`suppress`]
//! merges repeats within a cool-down.
//!
//! # Incident ids (a public contract)
//!
//! `event.id` is the lowercase hex (32 digits, most significant first, `{:032x}`) of
//! `xxh3_128_with_seed(bytes, INCIDENT_SEED)` with [`INCIDENT_SEED`] `= 0x7669_6769_6c00_0002`,
//! over this canonical byte encoding (`str(s)` = `u32` little-endian byte length, then the UTF-8
//! bytes; all integers little-endian):
//!
//! ```text
//! "vigil.incident.v1"                 17 bytes, no length prefix
//! kind                                1 byte: 0x01 correlation, 0x02 detection
//! str(rule id)
//! u32 number of group entries
//! per group entry, in group-by order:  str(field name) ++ value
//!     value: 0x00 null
//!          | 0x01 bool (one byte, 0 or 1)
//!          | 0x02 i64
//!          | 0x03 f64 bits (-0.0 written as 0.0, every NaN as 0x7ff8000000000000)
//!          | 0x04 str(text)
//!          | 0x05 IPv4, 4 octets (IPv4-mapped IPv6 addresses are written this way)
//!          | 0x06 IPv6, 16 octets
//! i64 start ms                        correlation: window start (sequence start for
//!                                     temporal_ordered); detection: the event's time
//! detection only: u32 partition, u64 record, u32 sub  (the matching event's Origin)
//! ```
//!
//! The id does not depend on the evidence, the value, the end time, the rule's title or level,
//! nor on the number of workers. Changing this encoding or the seed changes every id: it is a
//! breaking change (test `golden_ids`).
//!
//! # Severity
//!
//! `event.severity` comes from the Sigma `level`, on the scale of Elastic's detection rules
//! (their `risk_score` defaults per severity), so incidents sort sensibly next to theirs:
//! `informational` 1, `low` 21, `medium` 47, `high` 73, `critical` 99 (case-insensitive). A
//! missing or unknown level gives no `event.severity`.
//!
//! # related.*
//!
//! `related.ip`, `related.user` and `related.hosts` are the sorted, deduplicated values that the
//! evidence events the incident carries contribute, plus the group values of fields from the same
//! lists (so an incident with no kept evidence still names its entity). Events left out of the
//! evidence (over the cap) contribute nothing: their fields are not known here. Fields read,
//! by exact name (a `winlog.event_data.` prefix is ignored for the Windows names):
//!
//! * ip: `source.ip`, `destination.ip`, `related.ip` (lists too), `IpAddress`, Sysmon's
//!   `SourceIp`/`DestinationIp` and Cowrie's `src_ip`/`dst_ip`; text values must
//!   parse as an IP address; IPv4-mapped IPv6 addresses count as IPv4.
//! * user: `user.name`, `user.target.name`, `related.user` (lists too), `TargetUserName`,
//!   Cowrie's `username`.
//! * hosts: `host.hostname`, `related.hosts` (lists too), `Hostname`, `Computer`,
//!   `WorkstationName`.
//!
//! Empty strings and `-` are ignored. IPs sort numerically (IPv4 before IPv6), names bytewise.

pub mod ecs;
pub mod suppress;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::correlate::Alert;
use crate::event::ecs::EcsWriter;
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use crate::event::{canonical_ip, Event, Origin, Value, ValueRef};

pub use suppress::Suppressor;

/// Seed of the incident id hash; changing it changes every incident id.
pub const INCIDENT_SEED: u64 = 0x7669_6769_6c00_0002;

/// `RuleInfo::kind` of an incident from a plain Sigma detection rule.
pub const KIND_DETECTION: &str = "detection";

/// What an incident says about the rule that produced it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// The Sigma `id` (or, when the rule has none, whatever stable name the loader chose).
    pub id: String,
    /// The Sigma `title` (written as `rule.name`).
    pub title: String,
    /// The Sigma `description`.
    pub description: Option<String>,
    /// The Sigma `level`, as written in the rule.
    pub level: Option<String>,
    /// The Sigma `tags`.
    pub tags: Vec<String>,
    /// [`KIND_DETECTION`], or the Sigma correlation type (`event_count`, `value_count`,
    /// `temporal`, `temporal_ordered`, `value_sum`, `value_avg`, `value_percentile`, or an
    /// extension's name). Written as `vigil.correlation.type`.
    pub kind: String,
}

impl RuleInfo {
    /// `event.severity` for the rule's level (see the module docs).
    pub fn severity(&self) -> Option<u8> {
        severity(self.level.as_deref()?)
    }
}

/// Maps a Sigma level to `event.severity`: informational 1, low 21, medium 47, high 73,
/// critical 99; anything else `None`.
pub fn severity(level: &str) -> Option<u8> {
    const LEVELS: [(&str, u8); 5] = [("informational", 1), ("low", 21), ("medium", 47), ("high", 73), ("critical", 99)];
    LEVELS.iter().find(|(name, _)| name.eq_ignore_ascii_case(level.trim())).map(|&(_, s)| s)
}

/// One group-by value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum GroupValue {
    /// Null (a field present without a value).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// Text.
    Str(String),
    /// An IP address.
    Ip(IpAddr),
}

impl GroupValue {
    /// The owned form of an event value. IPv4-mapped addresses become IPv4; lists and raw JSON
    /// keep their JSON text as a string.
    pub fn from_value_ref(ev: &Event, v: ValueRef<'_>) -> GroupValue {
        match v {
            ValueRef::Null => GroupValue::Null,
            ValueRef::Bool(b) => GroupValue::Bool(b),
            ValueRef::Int(i) => GroupValue::Int(i),
            ValueRef::Float(f) => GroupValue::Float(f),
            ValueRef::Ip(ip) => GroupValue::Ip(canonical_ip(ip)),
            ValueRef::Str(s) => GroupValue::Str(s.to_owned()),
            ValueRef::Raw(s) => GroupValue::Str(s.to_owned()),
            ValueRef::List(_) => {
                let mut out = Vec::new();
                crate::event::ecs::write_value(ev, v, &mut out);
                GroupValue::Str(String::from_utf8(out).unwrap_or_default())
            }
        }
    }

    /// Appends the canonical encoding (the one incident ids hash): equal values, and only
    /// equal values, encode alike (`-0.0` as `0.0`, every NaN as one NaN).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            GroupValue::Null => buf.push(0),
            GroupValue::Bool(b) => buf.extend_from_slice(&[1, *b as u8]),
            GroupValue::Int(i) => {
                buf.push(2);
                buf.extend_from_slice(&i.to_le_bytes());
            }
            GroupValue::Float(f) => {
                let bits = if f.is_nan() {
                    0x7ff8_0000_0000_0000u64
                } else if *f == 0.0 {
                    0
                } else {
                    f.to_bits()
                };
                buf.push(3);
                buf.extend_from_slice(&bits.to_le_bytes());
            }
            GroupValue::Str(s) => {
                buf.push(4);
                encode_str(buf, s);
            }
            GroupValue::Ip(ip) => match canonical_ip(*ip) {
                IpAddr::V4(v4) => {
                    buf.push(5);
                    buf.extend_from_slice(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    buf.push(6);
                    buf.extend_from_slice(&v6.octets());
                }
            },
        }
    }
}

impl GroupValue {
    /// Appends the canonical encoding of an event value, exactly as
    /// `from_value_ref(ev, v).encode(buf)` would, without building the owned value (no
    /// allocation but for lists, which are rare in group keys).
    pub fn encode_ref(ev: &Event, v: ValueRef<'_>, buf: &mut Vec<u8>) {
        match v {
            ValueRef::Str(s) | ValueRef::Raw(s) => {
                buf.push(4);
                encode_str(buf, s);
            }
            ValueRef::Null => buf.push(0),
            ValueRef::Bool(b) => GroupValue::Bool(b).encode(buf),
            ValueRef::Int(i) => GroupValue::Int(i).encode(buf),
            ValueRef::Float(f) => GroupValue::Float(f).encode(buf),
            ValueRef::Ip(ip) => GroupValue::Ip(ip).encode(buf),
            ValueRef::List(_) => GroupValue::from_value_ref(ev, v).encode(buf),
        }
    }

    /// Decodes values encoded back to back; `None` when the bytes are not such an encoding.
    pub fn decode_all(mut bytes: &[u8]) -> Option<Vec<GroupValue>> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = (bytes.get(..n)?, bytes.get(n..)?);
            *bytes = rest;
            Some(head)
        }
        let mut out = Vec::new();
        while let Some((&tag, rest)) = bytes.split_first() {
            bytes = rest;
            let v = match tag {
                0 => GroupValue::Null,
                1 => GroupValue::Bool(take(&mut bytes, 1)?[0] != 0),
                2 => GroupValue::Int(i64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?)),
                3 => GroupValue::Float(f64::from_bits(u64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?))),
                4 => {
                    let len = u32::from_le_bytes(take(&mut bytes, 4)?.try_into().ok()?) as usize;
                    GroupValue::Str(std::str::from_utf8(take(&mut bytes, len)?).ok()?.to_owned())
                }
                5 => GroupValue::Ip(IpAddr::from(<[u8; 4]>::try_from(take(&mut bytes, 4)?).ok()?)),
                6 => GroupValue::Ip(IpAddr::from(<[u8; 16]>::try_from(take(&mut bytes, 16)?).ok()?)),
                _ => return None,
            };
            out.push(v);
        }
        Some(out)
    }
}

impl From<&str> for GroupValue {
    fn from(s: &str) -> Self {
        GroupValue::Str(s.to_owned())
    }
}

impl From<IpAddr> for GroupValue {
    fn from(ip: IpAddr) -> Self {
        GroupValue::Ip(canonical_ip(ip))
    }
}

impl From<i64> for GroupValue {
    fn from(i: i64) -> Self {
        GroupValue::Int(i)
    }
}

/// The value of an incident.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum IncidentValue {
    /// A count: matching events, distinct values, referenced rules seen (1 for a detection).
    Count(u64),
    /// `value_sum`.
    Sum(f64),
    /// `value_avg`.
    Avg(f64),
    /// `value_percentile`: the percentile `p` (0..=100) and its value.
    Percentile {
        /// Which percentile.
        p: f64,
        /// Its value.
        value: f64,
    },
}

/// How a correlation alert's `value` is read (see [`Incident::from_alert`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// `event_count`, `value_count`, `temporal`, `temporal_ordered`: a count.
    Count,
    /// `value_sum`.
    Sum,
    /// `value_avg`.
    Avg,
    /// `value_percentile` with this percentile.
    Percentile(f64),
}

impl Measure {
    /// The incident value for an alert value.
    pub fn value(self, v: f64) -> IncidentValue {
        match self {
            Measure::Count => IncidentValue::Count(if v.is_finite() && v > 0.0 { v.round() as u64 } else { 0 }),
            Measure::Sum => IncidentValue::Sum(v),
            Measure::Avg => IncidentValue::Avg(v),
            Measure::Percentile(p) => IncidentValue::Percentile { p, value: v },
        }
    }
}

/// What a baseline anomaly measured: `vigil.baseline` in the ECS form (see
/// [`crate::rules::baseline`] for the kinds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineInfo {
    /// `rate`, `new_value`, `distinct` or `profile`.
    pub kind: String,
    /// The field measured (none for a rate that counts events).
    pub field: Option<String>,
    /// Observed: the interval's total or distinct count, 1 for a new value, the share distance
    /// (total variation, 0 to 1) for a profile.
    pub observed: f64,
    /// The usual value (rate, distinct): the history's exponentially weighted mean.
    pub expected_mean: Option<f64>,
    /// Its standard deviation (before the `min_std` floor).
    pub expected_std: Option<f64>,
    /// Profile: the share, in the interval, of the category that rose most.
    pub share: Option<f64>,
    /// Profile: that category's usual share.
    pub usual_share: Option<f64>,
    /// z-score (rate, distinct), 1 (new value), share distance (profile).
    pub score: f64,
    /// True when judged against the peer group (the entity's own history was too short).
    pub peer: bool,
    /// The value first seen (new value) or the category that rose most (profile), as read
    /// from the events (an address reduced to its network, a number to its bucket).
    pub value: Option<GroupValue>,
}

/// One evidence event: its order key, and a shared body (the ECS JSON object and what it
/// contributes to `related.*`). An event that feeds several correlations, or sits in several
/// windows, is held once; every copy of it is a reference count.
///
/// The body is encoded when it is first read ([`Deref`](std::ops::Deref)): a projected event
/// travels to its window as the parsed event itself, and only the few that end up in an
/// alert are ever written as ECS, on the worker that owns the window. The encoding is the
/// same whenever it happens, so incidents do not depend on it.
#[derive(Clone, Debug)]
pub struct EvidenceEvent {
    /// Event time (ms).
    pub ts: i64,
    /// Where the event came from; `(ts, origin)` orders evidence.
    pub origin: Origin,
    /// The shared body; its fields read through `Deref` (`e.json`, `e.ips`, ...).
    body: Arc<Deferred>,
}

/// The event until it is read, and its encoding once it is.
#[derive(Debug, Default)]
struct Deferred {
    event: Option<Event>,
    encoded: OnceLock<EvidenceBody>,
}

/// The wire form of an evidence event's body (between processes): the event while unread.
#[derive(Deserialize)]
enum WireBody {
    Event(Event),
    Encoded(EvidenceBody),
}

/// [`WireBody`] borrowed, for sending (serde writes `&T` as it writes `T`), so serializing
/// copies nothing.
#[derive(Serialize)]
enum WireBodyRef<'a> {
    Event(&'a Event),
    Encoded(&'a EvidenceBody),
}

impl Serialize for EvidenceEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let empty = EvidenceBody::default();
        let body = match (&self.body.event, self.body.encoded.get()) {
            (_, Some(b)) => WireBodyRef::Encoded(b),
            (Some(ev), None) => WireBodyRef::Event(ev),
            (None, None) => WireBodyRef::Encoded(&empty),
        };
        (self.ts, self.origin, body).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EvidenceEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (ts, origin, body) = <(i64, Origin, WireBody)>::deserialize(deserializer)?;
        let body = match body {
            WireBody::Event(ev) => Deferred { event: Some(ev), encoded: OnceLock::new() },
            WireBody::Encoded(b) => Deferred { event: None, encoded: OnceLock::from(b) },
        };
        Ok(EvidenceEvent { ts, origin, body: Arc::new(body) })
    }
}

impl PartialEq for EvidenceEvent {
    fn eq(&self, other: &Self) -> bool {
        self.ts == other.ts && self.origin == other.origin && **self == **other
    }
}
impl Eq for EvidenceEvent {}

/// The shared part of an [`EvidenceEvent`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceBody {
    /// The event as one ECS JSON object (as [`EcsWriter::write_event`] writes it).
    pub json: String,
    /// IPs for `related.ip`, sorted and deduplicated.
    pub ips: Vec<IpAddr>,
    /// Names for `related.user`, sorted and deduplicated.
    pub users: Vec<String>,
    /// Names for `related.hosts`, sorted and deduplicated.
    pub hosts: Vec<String>,
}

impl std::ops::Deref for EvidenceEvent {
    type Target = EvidenceBody;

    fn deref(&self) -> &EvidenceBody {
        let body = &*self.body;
        body.encoded.get_or_init(|| match &body.event {
            Some(ev) => ENCODER.with(|w| encode(ev, &mut w.borrow_mut())),
            None => EvidenceBody::default(),
        })
    }
}

/// Which `related.*` list a field feeds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Related {
    Ip,
    User,
    Host,
}

/// The `related.*` list a field name feeds (see the module docs).
fn related_of(name: &str) -> Option<Related> {
    match name {
        "source.ip" | "destination.ip" | "related.ip" => return Some(Related::Ip),
        "user.name" | "user.target.name" | "related.user" => return Some(Related::User),
        "host.hostname" | "related.hosts" => return Some(Related::Host),
        _ => {}
    }
    match name.strip_prefix("winlog.event_data.").unwrap_or(name) {
        // Windows (IpAddress, Sysmon's SourceIp/DestinationIp) and Cowrie (src_ip, dst_ip, username).
        "IpAddress" | "SourceIp" | "DestinationIp" | "src_ip" | "dst_ip" => Some(Related::Ip),
        "TargetUserName" | "username" => Some(Related::User),
        "Hostname" | "Computer" | "WorkstationName" => Some(Related::Host),
        _ => None,
    }
}

#[derive(Default)]
struct RelatedSets {
    ips: Vec<IpAddr>,
    users: Vec<String>,
    hosts: Vec<String>,
}

impl RelatedSets {
    fn add_text(&mut self, kind: Related, s: &str) {
        let s = s.trim();
        if s.is_empty() || s == "-" {
            return;
        }
        match kind {
            Related::Ip => {
                if let Ok(ip) = s.parse::<IpAddr>() {
                    self.ips.push(canonical_ip(ip));
                }
            }
            Related::User => self.users.push(s.to_owned()),
            Related::Host => self.hosts.push(s.to_owned()),
        }
    }

    fn add(&mut self, kind: Related, v: ValueRef<'_>, ev: Option<&Event>) {
        match v {
            ValueRef::Ip(ip) if kind == Related::Ip => self.ips.push(canonical_ip(ip)),
            ValueRef::Str(s) => self.add_text(kind, s),
            ValueRef::List(items) => {
                if let Some(ev) = ev {
                    for item in items {
                        if !matches!(item, Value::List { .. }) {
                            self.add(kind, ev.resolve(item), None);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn add_group(&mut self, name: &str, v: &GroupValue) {
        let Some(kind) = related_of(name) else { return };
        match v {
            GroupValue::Ip(ip) if kind == Related::Ip => self.ips.push(canonical_ip(*ip)),
            GroupValue::Str(s) => self.add_text(kind, s),
            _ => {}
        }
    }

    fn finish(mut self) -> Self {
        sort_dedup(&mut self.ips);
        sort_dedup(&mut self.users);
        sort_dedup(&mut self.hosts);
        self
    }
}

fn sort_dedup<T: Ord>(v: &mut Vec<T>) {
    v.sort_unstable();
    v.dedup();
}

thread_local! {
    /// The writer deferred evidence is encoded with (its plans are cached per event shape).
    static ENCODER: RefCell<EcsWriter> = RefCell::new(EcsWriter::new());
}

/// The ECS JSON of `ev` and its `related.*` contributions.
fn encode(ev: &Event, writer: &mut EcsWriter) -> EvidenceBody {
    let mut json = Vec::with_capacity(256);
    writer.write_event(ev, &mut json);
    let mut sets = RelatedSets::default();
    for (key, value) in ev.fields() {
        if let Some(kind) = related_of(ev.key_name(*key)) {
            sets.add(kind, ev.resolve(value), Some(ev));
        }
    }
    let sets = sets.finish();
    EvidenceBody {
        // The writer emits UTF-8 only (every string it copies is a `&str`).
        json: String::from_utf8(json).unwrap_or_default(),
        ips: sets.ips,
        users: sets.users,
        hosts: sets.hosts,
    }
}

impl EvidenceEvent {
    /// Encodes `ev` with `writer` now, and extracts its `related.*` contributions.
    pub fn from_event(ev: &Event, writer: &mut EcsWriter) -> EvidenceEvent {
        let body = Deferred { event: None, encoded: OnceLock::from(encode(ev, writer)) };
        EvidenceEvent { ts: ev.ts, origin: ev.origin, body: Arc::new(body) }
    }

    /// Keeps `ev` as it is, to be encoded only if the evidence is ever read.
    pub fn deferred(mut ev: Event) -> EvidenceEvent {
        ev.shrink_to_fit();
        EvidenceEvent { ts: ev.ts, origin: ev.origin, body: Arc::new(Deferred { event: Some(ev), encoded: OnceLock::new() }) }
    }

    /// The order key of evidence: event time, then origin.
    pub fn order_key(&self) -> (i64, Origin) {
        (self.ts, self.origin)
    }
}

/// One incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// The deterministic id (see the module docs), `event.id`.
    pub id: String,
    /// The rule.
    pub rule: RuleInfo,
    /// `@timestamp`: when the incident was decided, equal to `end_ms`.
    pub timestamp_ms: i64,
    /// `event.start`: the window start (detection: the event's time).
    pub start_ms: i64,
    /// `event.end`: the window end (detection: the event's time).
    pub end_ms: i64,
    /// Group-by field names and values, in group-by order (empty for detections).
    pub group: Vec<(String, GroupValue)>,
    /// The value.
    pub value: IncidentValue,
    /// Evidence, ordered by (event time, origin), no two with the same order key.
    pub evidence: Vec<EvidenceEvent>,
    /// Contributing events not in `evidence`.
    pub evidence_omitted: u64,
    /// How many later incidents [`Suppressor`] merged into this one.
    pub suppressed: u64,
    /// `related.ip`, sorted and deduplicated.
    pub related_ip: Vec<IpAddr>,
    /// `related.user`, sorted and deduplicated.
    pub related_user: Vec<String>,
    /// `related.hosts`, sorted and deduplicated.
    pub related_hosts: Vec<String>,
    /// What the baseline measured, for incidents of baseline rules.
    pub baseline: Option<Box<BaselineInfo>>,
}

fn encode_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

const ID_MAGIC: &[u8; 17] = b"vigil.incident.v1";
const ID_CORRELATION: u8 = 1;
const ID_DETECTION: u8 = 2;
/// Kind byte of the (rule, group) key used by the suppressor (never an incident id).
const ID_SUPPRESSION_KEY: u8 = 3;
/// Kind byte of the id of a later incident that would have had an earlier one's id.
const ID_REPEAT: u8 = 4;

fn encode_head(buf: &mut Vec<u8>, kind: u8, rule_id: &str, group: &[(String, GroupValue)]) {
    buf.extend_from_slice(ID_MAGIC);
    buf.push(kind);
    encode_str(buf, rule_id);
    buf.extend_from_slice(&(group.len() as u32).to_le_bytes());
    for (name, value) in group {
        encode_str(buf, name);
        value.encode(buf);
    }
}

fn hex_id(bytes: &[u8]) -> String {
    format!("{:032x}", xxh3_128_with_seed(bytes, INCIDENT_SEED))
}

/// The id of a correlation incident: (rule id, group in group-by order, window start).
pub fn correlation_id(rule_id: &str, group: &[(String, GroupValue)], start_ms: i64) -> String {
    let mut buf = Vec::with_capacity(64);
    encode_head(&mut buf, ID_CORRELATION, rule_id, group);
    buf.extend_from_slice(&start_ms.to_le_bytes());
    hex_id(&buf)
}

/// The id of a detection incident: (rule id, no group, event time, the event's ECS encoding).
/// The event's content, not its position (file line, Kafka offset), so the same event gives
/// the same id whether it was read from a file or a topic, and a record delivered twice
/// gives one incident downstream.
pub fn detection_id(rule_id: &str, ts_ms: i64, event_json: &[u8]) -> String {
    let mut buf = Vec::with_capacity(64 + event_json.len());
    encode_head(&mut buf, ID_DETECTION, rule_id, &[]);
    buf.extend_from_slice(&ts_ms.to_le_bytes());
    buf.extend_from_slice(&(event_json.len() as u64).to_le_bytes());
    buf.extend_from_slice(event_json);
    hex_id(&buf)
}

/// The id of the `n`-th (from 1) further incident that has the id `first` and the same time but
/// other content: two alerts of one group completing in the same millisecond (a burst of
/// records sharing a timestamp) share (rule, group, window start). The first keeps its id.
pub fn repeat_id(first: &str, n: u32) -> String {
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(ID_MAGIC);
    buf.push(ID_REPEAT);
    encode_str(&mut buf, first);
    buf.extend_from_slice(&n.to_le_bytes());
    hex_id(&buf)
}

/// The 128-bit (rule id, group) key the suppressor merges by.
pub fn suppression_key(rule_id: &str, group: &[(String, GroupValue)]) -> u128 {
    let mut buf = Vec::with_capacity(64);
    encode_head(&mut buf, ID_SUPPRESSION_KEY, rule_id, group);
    xxh3_128_with_seed(&buf, INCIDENT_SEED)
}

impl Incident {
    /// The incident of a plain Sigma detection rule matching `ev`.
    pub fn from_detection(rule: RuleInfo, ev: &Event, writer: &mut EcsWriter) -> Incident {
        let evidence = EvidenceEvent::from_event(ev, writer);
        let id = detection_id(&rule.id, ev.ts, evidence.json.as_bytes());
        let mut inc = Incident {
            id,
            rule,
            timestamp_ms: ev.ts,
            start_ms: ev.ts,
            end_ms: ev.ts,
            group: Vec::new(),
            value: IncidentValue::Count(1),
            evidence: vec![evidence],
            evidence_omitted: 0,
            suppressed: 0,
            related_ip: Vec::new(),
            related_user: Vec::new(),
            related_hosts: Vec::new(),
            baseline: None,
        };
        inc.refresh_related();
        inc
    }

    /// The incident of a correlation alert. `group` names the alert's group key (field names
    /// and values in group-by order); `to_evidence` turns the alert's evidence values into
    /// events (a value it maps to `None` counts as omitted). At most `evidence_cap` events are
    /// kept, the earliest by (time, origin); the rest add to `evidence_omitted`, as does
    /// `alert.omitted`.
    pub fn from_alert<K, E>(
        rule: RuleInfo,
        group: Vec<(String, GroupValue)>,
        alert: Alert<K, E>,
        measure: Measure,
        evidence_cap: usize,
        mut to_evidence: impl FnMut(E) -> Option<EvidenceEvent>,
    ) -> Incident {
        let id = correlation_id(&rule.id, &group, alert.window_start_ms);
        let mut omitted = alert.omitted;
        let mut evidence = Vec::with_capacity(alert.evidence.len());
        for e in alert.evidence {
            match to_evidence(e) {
                Some(ev) => evidence.push(ev),
                None => omitted += 1,
            }
        }
        let mut inc = Incident {
            id,
            rule,
            timestamp_ms: alert.window_end_ms,
            start_ms: alert.window_start_ms,
            end_ms: alert.window_end_ms,
            group,
            value: measure.value(alert.value),
            evidence,
            evidence_omitted: omitted,
            suppressed: 0,
            related_ip: Vec::new(),
            related_user: Vec::new(),
            related_hosts: Vec::new(),
            baseline: None,
        };
        inc.normalize_evidence(evidence_cap);
        inc
    }

    /// Sorts evidence by (time, origin), drops repeated order keys, keeps the first `cap`
    /// (counting the rest in `evidence_omitted`) and recomputes `related.*`.
    pub fn normalize_evidence(&mut self, cap: usize) {
        self.evidence.sort_by(|a, b| a.order_key().cmp(&b.order_key()).then_with(|| a.json.cmp(&b.json)));
        self.evidence.dedup_by(|a, b| a.order_key() == b.order_key());
        if self.evidence.len() > cap {
            self.evidence_omitted += (self.evidence.len() - cap) as u64;
            self.evidence.truncate(cap);
        }
        self.refresh_related();
    }

    /// Recomputes `related.*` from the evidence and the group (see the module docs).
    pub fn refresh_related(&mut self) {
        let mut sets = RelatedSets::default();
        for e in &self.evidence {
            sets.ips.extend_from_slice(&e.ips);
            sets.users.extend(e.users.iter().cloned());
            sets.hosts.extend(e.hosts.iter().cloned());
        }
        for (name, value) in &self.group {
            sets.add_group(name, value);
        }
        let sets = sets.finish();
        self.related_ip = sets.ips;
        self.related_user = sets.users;
        self.related_hosts = sets.hosts;
    }

    /// The (rule id, group) key the suppressor merges by.
    pub fn suppression_key(&self) -> u128 {
        suppression_key(&self.rule.id, &self.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::field::{self, known};

    fn rule(kind: &str) -> RuleInfo {
        RuleInfo {
            id: "5c0f5e4a-7a0a-4d5c-9e0e-000000000001".into(),
            title: "Brute force".into(),
            description: Some("Many failed logins".into()),
            level: Some("high".into()),
            tags: vec!["attack.t1110".into()],
            kind: kind.into(),
        }
    }

    fn login(ts: i64, record: u64, ip: &str, user: &str) -> Event {
        let mut ev = Event::at(ts);
        ev.origin = Origin { partition: 0, record, sub: 0 };
        ev.push(known::SOURCE_IP, Value::Ip(ip.parse().unwrap()));
        ev.push_str(known::USER_NAME, user);
        ev
    }

    fn group_ip(ip: &str) -> Vec<(String, GroupValue)> {
        vec![("source.ip".into(), GroupValue::Ip(ip.parse().unwrap()))]
    }

    #[test]
    fn golden_ids() {
        // A changed value here changes every incident id downstream: a breaking change.
        let group = vec![("source.ip".to_string(), GroupValue::Ip("10.0.0.1".parse().unwrap())), ("user.name".to_string(), GroupValue::from("root"))];
        let a = correlation_id("rule-1", &group, 1_700_000_000_000);
        let b = correlation_id("rule-1", &[], 0);
        let c = detection_id("rule-1", 1_700_000_000_000, br#"{"user":{"name":"root"}}"#);
        // The documented encoding, written out by hand, gives the same id.
        let mut doc = b"vigil.incident.v1\x01".to_vec();
        doc.extend_from_slice(&6u32.to_le_bytes());
        doc.extend_from_slice(b"rule-1");
        doc.extend_from_slice(&2u32.to_le_bytes());
        doc.extend_from_slice(&9u32.to_le_bytes());
        doc.extend_from_slice(b"source.ip\x05\x0a\x00\x00\x01");
        doc.extend_from_slice(&9u32.to_le_bytes());
        doc.extend_from_slice(b"user.name\x04");
        doc.extend_from_slice(&4u32.to_le_bytes());
        doc.extend_from_slice(b"root");
        doc.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
        assert_eq!(format!("{:032x}", xxh3_128_with_seed(&doc, 0x7669_6769_6c00_0002)), a);
        assert_eq!(
            [a.as_str(), b.as_str(), c.as_str()],
            ["7297ad613fc00d9d74a6b88bef7c8446", "ba738acbc1653136941803fe512d779b", "9a367d85abb7e652d44537ec464c9f3f"]
        );
    }

    #[test]
    fn id_encoding_separates_fields() {
        let g = |v: GroupValue| vec![("f".to_string(), v)];
        // Length prefixes: ("ab", "c") differs from ("a", "bc").
        assert_ne!(correlation_id("ab", &g("c".into()), 0), correlation_id("a", &g("bc".into()), 0));
        // Types are tagged: the string "1" is not the integer 1.
        assert_ne!(correlation_id("r", &g(GroupValue::Int(1)), 0), correlation_id("r", &g("1".into()), 0));
        // Mapped IPv6 is IPv4; -0.0 is 0.0.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(correlation_id("r", &g(GroupValue::Ip(mapped)), 0), correlation_id("r", &g(GroupValue::Ip("10.0.0.1".parse().unwrap())), 0));
        assert_eq!(correlation_id("r", &g(GroupValue::Float(-0.0)), 0), correlation_id("r", &g(GroupValue::Float(0.0)), 0));
        // The start is part of the id; a detection is never a correlation.
        assert_ne!(correlation_id("r", &[], 0), correlation_id("r", &[], 1));
        assert_ne!(correlation_id("r", &[], 0), detection_id("r", 0, b""));
        assert_eq!(correlation_id("r", &[], 0).len(), 32);
    }

    #[test]
    fn severity_mapping() {
        let levels = [("informational", Some(1)), ("low", Some(21)), ("Medium", Some(47)), ("high", Some(73)), ("critical", Some(99)), ("urgent", None)];
        for (level, want) in levels {
            assert_eq!(severity(level), want, "{level}");
        }
        let mut r = rule("detection");
        assert_eq!(r.severity(), Some(73));
        r.level = None;
        assert_eq!(r.severity(), None);
    }

    #[test]
    fn related_extraction() {
        let mut ev = login(1_000, 1, "::ffff:10.0.0.9", "alice");
        ev.push(known::DESTINATION_IP, Value::Ip("2001:db8::1".parse().unwrap()));
        let list = ev.alloc_list(&[Value::Ip("10.0.0.9".parse().unwrap()), Value::Sym("192.168.1.1"), Value::Sym("not-an-ip")]);
        ev.push(known::RELATED_IP, list);
        ev.push_str(known::HOST_HOSTNAME, "web-1");
        ev.push_str(known::USER_TARGET_NAME, "-");
        ev.push_str(field::intern("TargetUserName").unwrap(), "bob");
        ev.push_str(field::intern("IpAddress").unwrap(), "::ffff:172.18.39.5");
        ev.push_str(field::intern("winlog.event_data.WorkstationName").unwrap(), "WS5");
        ev.push_str(field::intern("Computer").unwrap(), "");
        ev.push_str(known::MESSAGE, "10.9.9.9 is not read from the message");
        let e = EvidenceEvent::from_event(&ev, &mut EcsWriter::new());
        let ips: Vec<IpAddr> = ["10.0.0.9", "172.18.39.5", "192.168.1.1", "2001:db8::1"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(e.ips, ips);
        assert_eq!(e.users, ["alice", "bob"]);
        assert_eq!(e.hosts, ["WS5", "web-1"]);
        let parsed: serde_json::Value = serde_json::from_str(&e.json).unwrap();
        assert_eq!(parsed["user"]["name"], "alice");
    }

    #[test]
    fn detection_incident() {
        let ev = login(5_000, 7, "10.0.0.1", "root");
        let inc = Incident::from_detection(rule(KIND_DETECTION), &ev, &mut EcsWriter::new());
        assert_eq!(inc.id, detection_id(&inc.rule.id, 5_000, inc.evidence[0].json.as_bytes()));
        assert_eq!((inc.timestamp_ms, inc.start_ms, inc.end_ms), (5_000, 5_000, 5_000));
        assert_eq!(inc.value, IncidentValue::Count(1));
        assert_eq!(inc.evidence.len(), 1);
        assert_eq!(inc.related_ip, vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(inc.related_user, ["root"]);
    }

    fn alert(evidence: Vec<EvidenceEvent>, omitted: u64) -> Alert<u32, EvidenceEvent> {
        Alert { group: 0, window_start_ms: 1_000, window_end_ms: 61_000, value: 12.0, first_event_ts: 1_000, last_event_ts: 61_000, evidence, omitted }
    }

    #[test]
    fn alert_incident_cap_order_and_related() {
        let mut w = EcsWriter::new();
        let evs: Vec<EvidenceEvent> =
            (0..5).map(|i| EvidenceEvent::from_event(&login(1_000 + i * 10, i as u64, "10.0.0.1", &format!("u{i}")), &mut w)).collect();
        let mut reversed = evs.clone();
        reversed.reverse();
        let a = Incident::from_alert(rule("event_count"), group_ip("10.0.0.1"), alert(evs.clone(), 2), Measure::Count, 3, Some);
        let b = Incident::from_alert(rule("event_count"), group_ip("10.0.0.1"), alert(reversed, 2), Measure::Count, 3, Some);
        assert_eq!(a, b, "evidence order does not matter");
        assert_eq!(a.id, correlation_id(&a.rule.id, &a.group, 1_000));
        assert_eq!(a.evidence, evs[..3].to_vec());
        assert_eq!(a.evidence_omitted, 4);
        assert_eq!(a.value, IncidentValue::Count(12));
        assert_eq!((a.timestamp_ms, a.start_ms, a.end_ms), (61_000, 1_000, 61_000));
        assert_eq!(a.related_user, ["u0", "u1", "u2"]);
        // Only the id's inputs make the id.
        let c = Incident::from_alert(rule("event_count"), group_ip("10.0.0.1"), alert(evs[3..].to_vec(), 0), Measure::Count, 3, Some);
        assert_eq!(a.id, c.id);
        // With no evidence the group still names the entity; unmapped evidence counts as omitted.
        let d = Incident::from_alert(rule("event_count"), group_ip("10.0.0.2"), alert(evs.clone(), 0), Measure::Count, 3, |_| None);
        assert_eq!(d.evidence_omitted, 5);
        assert_eq!(d.related_ip, vec!["10.0.0.2".parse::<IpAddr>().unwrap()]);
        let p = Incident::from_alert(rule("value_percentile"), vec![], alert(vec![], 0), Measure::Percentile(95.0), 3, Some);
        assert_eq!(p.value, IncidentValue::Percentile { p: 95.0, value: 12.0 });
    }

    #[test]
    fn bincode_round_trip() {
        let mut w = EcsWriter::new();
        let evs: Vec<EvidenceEvent> = (0..3).map(|i| EvidenceEvent::from_event(&login(1_000 + i, i as u64, "10.0.0.1", "root"), &mut w)).collect();
        let mut group = group_ip("10.0.0.1");
        group.push(("n".into(), GroupValue::Float(1.5)));
        group.push(("b".into(), GroupValue::Bool(true)));
        group.push(("z".into(), GroupValue::Null));
        group.push(("i".into(), GroupValue::Int(-3)));
        let inc = Incident::from_alert(rule("value_avg"), group, alert(evs, 1), Measure::Avg, 10, Some);
        let bytes = bincode::serialize(&inc).unwrap();
        let back: Incident = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, inc);
    }

    #[test]
    fn deferred_evidence_crosses_processes_unread_and_reads_as_if_encoded_at_once() {
        let ev = login(1_000, 7, "10.0.0.9", "alice");
        let eager = EvidenceEvent::from_event(&ev, &mut EcsWriter::new());
        let deferred = EvidenceEvent::deferred(ev);
        let back: EvidenceEvent = bincode::deserialize(&bincode::serialize(&deferred).unwrap()).unwrap();
        assert_eq!(back, eager);
        assert_eq!(deferred, eager);
        // Read once, it travels encoded; the result is the same.
        let again: EvidenceEvent = bincode::deserialize(&bincode::serialize(&deferred).unwrap()).unwrap();
        assert_eq!(again.json, eager.json);
    }
}
