//! Field names resolved to small integer ids once, so the hot path compares integers, not strings.
//!
//! The well-known ECS fields that vigil's parsers emit have fixed ids (the same in every process).
//! Other names (arbitrary JSON keys) are interned on first sight into a process-global, append-only
//! table with a hard cap, so an input that sprays random keys cannot grow memory without bound:
//! past the cap, a key stays inline in its event ([`Key::Inline`]).
//! Ids of interned names differ between processes; the wire format of an event therefore carries
//! names, not ids, for them (see `event::wire`).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{Mutex, OnceLock};

use xxhash_rust::xxh3::Xxh3Default;

/// Identifier of a field name, resolved once (at parse or rule compile time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct FieldId(pub u32);

/// Most distinct field names a process interns; later new names stay inline in their events.
pub const MAX_FIELDS: usize = 16_384;

macro_rules! known_fields {
    ($($konst:ident = $name:literal,)*) => {
        /// Ids of the well-known fields, fixed across processes.
        pub mod known {
            use super::FieldId;
            known_fields!(@consts 0u32, $($konst,)*);
        }
        /// Names of the well-known fields, indexed by their id.
        pub static KNOWN_NAMES: &[&str] = &[$($name,)*];
    };
    (@consts $n:expr, $konst:ident, $($rest:ident,)*) => {
        #[doc = concat!("Well-known field `", stringify!($konst), "`.")]
        pub const $konst: FieldId = FieldId($n);
        known_fields!(@consts $n + 1u32, $($rest,)*);
    };
    (@consts $n:expr,) => {};
}

known_fields! {
    TIMESTAMP = "@timestamp",
    MESSAGE = "message",
    TAGS = "tags",
    EVENT_KIND = "event.kind",
    EVENT_CATEGORY = "event.category",
    EVENT_TYPE = "event.type",
    EVENT_ACTION = "event.action",
    EVENT_OUTCOME = "event.outcome",
    EVENT_DATASET = "event.dataset",
    EVENT_MODULE = "event.module",
    EVENT_DURATION = "event.duration",
    EVENT_ORIGINAL = "event.original",
    HOST_HOSTNAME = "host.hostname",
    PROCESS_NAME = "process.name",
    PROCESS_PID = "process.pid",
    PROCESS_COMMAND_LINE = "process.command_line",
    USER_NAME = "user.name",
    USER_ID = "user.id",
    USER_EFFECTIVE_NAME = "user.effective.name",
    USER_EFFECTIVE_ID = "user.effective.id",
    USER_TARGET_NAME = "user.target.name",
    GROUP_NAME = "group.name",
    GROUP_ID = "group.id",
    SOURCE_IP = "source.ip",
    SOURCE_PORT = "source.port",
    SOURCE_ADDRESS = "source.address",
    SOURCE_DOMAIN = "source.domain",
    SOURCE_BYTES = "source.bytes",
    SOURCE_PACKETS = "source.packets",
    DESTINATION_IP = "destination.ip",
    DESTINATION_PORT = "destination.port",
    DESTINATION_ADDRESS = "destination.address",
    DESTINATION_BYTES = "destination.bytes",
    DESTINATION_PACKETS = "destination.packets",
    NETWORK_TRANSPORT = "network.transport",
    NETWORK_PROTOCOL = "network.protocol",
    NETWORK_DIRECTION = "network.direction",
    SSH_EVENT = "system.auth.ssh.event",
    SSH_METHOD = "system.auth.ssh.method",
    SSH_SIGNATURE = "system.auth.ssh.signature",
    SSH_DROPPED_IP = "system.auth.ssh.dropped_ip",
    SUDO_TTY = "system.auth.sudo.tty",
    SUDO_PWD = "system.auth.sudo.pwd",
    SUDO_USER = "system.auth.sudo.user",
    SUDO_COMMAND = "system.auth.sudo.command",
    SUDO_ERROR = "system.auth.sudo.error",
    HTTP_REQUEST_METHOD = "http.request.method",
    HTTP_REQUEST_REFERRER = "http.request.referrer",
    HTTP_VERSION = "http.version",
    HTTP_RESPONSE_STATUS_CODE = "http.response.status_code",
    HTTP_RESPONSE_BODY_BYTES = "http.response.body.bytes",
    URL_ORIGINAL = "url.original",
    URL_PATH = "url.path",
    URL_QUERY = "url.query",
    USER_AGENT_ORIGINAL = "user_agent.original",
    ZEEK_SESSION_ID = "zeek.session_id",
    ZEEK_CONN_STATE = "zeek.connection.state",
    ZEEK_CONN_HISTORY = "zeek.connection.history",
    ZEEK_CONN_LOCAL_ORIG = "zeek.connection.local_orig",
    ZEEK_CONN_LOCAL_RESP = "zeek.connection.local_resp",
    ZEEK_CONN_MISSED_BYTES = "zeek.connection.missed_bytes",
    ZEEK_CONN_ORIG_IP_BYTES = "zeek.connection.orig_ip_bytes",
    ZEEK_CONN_RESP_IP_BYTES = "zeek.connection.resp_ip_bytes",
    ZEEK_CONN_TUNNEL_PARENTS = "zeek.connection.tunnel_parents",
    LOG_FILE_PATH = "log.file.path",
    LOG_SYSLOG_PRIORITY = "log.syslog.priority",
    LOG_SYSLOG_FACILITY_CODE = "log.syslog.facility.code",
    LOG_SYSLOG_SEVERITY_CODE = "log.syslog.severity.code",
    RELATED_IP = "related.ip",
    RELATED_USER = "related.user",
    RELATED_HOSTS = "related.hosts",
}

/// How a field is named inside one event: by id, or inline text when the intern table is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A resolved field id.
    Id(FieldId),
    /// The name's bytes live in the event's text arena.
    Inline(super::Span),
}

struct Interner {
    by_name: HashMap<&'static str, FieldId>,
    len: usize,
}

/// Names by id; reads are lock-free so output formatting on many workers never contends.
static NAMES: [OnceLock<&'static str>; MAX_FIELDS] = [const { OnceLock::new() }; MAX_FIELDS];

fn interner() -> &'static Mutex<Interner> {
    static INTERNER: OnceLock<Mutex<Interner>> = OnceLock::new();
    INTERNER.get_or_init(|| {
        let mut by_name = HashMap::with_capacity(KNOWN_NAMES.len() * 2);
        for (i, name) in KNOWN_NAMES.iter().enumerate() {
            let _ = NAMES[i].set(name);
            by_name.insert(*name, FieldId(i as u32));
        }
        Mutex::new(Interner { by_name, len: KNOWN_NAMES.len() })
    })
}

/// Resolves `name` to an id, interning it if new; `None` once [`MAX_FIELDS`] names exist.
pub fn intern(name: &str) -> Option<FieldId> {
    let mut table = match interner().lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(id) = table.by_name.get(name) {
        return Some(*id);
    }
    if table.len >= MAX_FIELDS {
        return None;
    }
    let id = FieldId(table.len as u32);
    // Leaked on purpose: bounded by MAX_FIELDS, and lets every reader hold `&'static str`.
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let _ = NAMES[table.len].set(leaked);
    table.by_name.insert(leaked, id);
    table.len += 1;
    Some(id)
}

/// Looks `name` up without interning it.
pub fn lookup(name: &str) -> Option<FieldId> {
    let table = match interner().lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    table.by_name.get(name).copied()
}

/// The name of a field id (the empty string for an id that was never issued).
pub fn name(id: FieldId) -> &'static str {
    let i = id.0 as usize;
    if i < KNOWN_NAMES.len() {
        return KNOWN_NAMES[i];
    }
    NAMES.get(i).and_then(|cell| cell.get().copied()).unwrap_or("")
}

/// True for ids whose number means the same field in every process.
pub fn is_known(id: FieldId) -> bool {
    (id.0 as usize) < KNOWN_NAMES.len()
}

/// A per-parser cache in front of the global interner, so JSON keys cost one local hash lookup.
#[derive(Default)]
pub struct FieldCache {
    map: HashMap<Box<[u8]>, Option<FieldId>, BuildHasherDefault<Xxh3Default>>,
}

impl FieldCache {
    /// Creates an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resolves a key; `None` means the intern table is full and the key must stay inline.
    pub fn resolve(&mut self, key: &[u8]) -> Option<FieldId> {
        if let Some(hit) = self.map.get(key) {
            return *hit;
        }
        let resolved = std::str::from_utf8(key).ok().and_then(intern);
        // The cache itself is bounded too: a spray of random keys must not grow it forever.
        if self.map.len() < MAX_FIELDS * 2 {
            self.map.insert(key.into(), resolved);
        }
        resolved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids_match_names() {
        assert_eq!(name(known::TIMESTAMP), "@timestamp");
        assert_eq!(name(known::SOURCE_IP), "source.ip");
        assert_eq!(lookup("user.name"), Some(known::USER_NAME));
        for (i, n) in KNOWN_NAMES.iter().enumerate() {
            assert_eq!(intern(n), Some(FieldId(i as u32)), "{n}");
        }
    }

    #[test]
    fn interning_is_stable() {
        let a = intern("TargetUserName").unwrap();
        let b = intern("TargetUserName").unwrap();
        assert_eq!(a, b);
        assert!(!is_known(a));
        assert_eq!(name(a), "TargetUserName");
        let mut cache = FieldCache::new();
        assert_eq!(cache.resolve(b"TargetUserName"), Some(a));
    }
}
