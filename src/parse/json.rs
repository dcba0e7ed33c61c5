//! JSON lines of any shape: Windows event JSON (Winlogbeat, NXLog, OTRF), Cowrie honeypot JSON,
//! application JSON, and events already in ECS.
//!
//! Field names are kept as they are, because Sigma rules for Windows use the native names
//! (`EventID`, `TargetUserName`). Nested objects flatten to dotted names, so
//! `{"source":{"ip":"1.2.3.4"}}` and `{"source.ip":"1.2.3.4"}` give the same event (the ECS writer
//! nests them again on output). An empty nested object contributes no field.
//!
//! The record is walked with sonic-rs's streaming deserializer and our own visitors, straight into
//! the event: no `serde_json::Value`, keys built in one reusable buffer, strings copied once into the
//! event's arena. Values:
//! - numbers become `Int` (a `u64` above `i64::MAX` becomes `Float`) or `Float`; `null` is `Null`;
//! - a string under a key that is `ip` or ends in `.ip` and parses as an address becomes `Ip`,
//!   canonical (`::ffff:1.2.3.4` is `1.2.3.4`); other strings stay strings (Windows `IpAddress`
//!   stays a string, since it holds `-` as often as an address);
//! - an array of scalars becomes a `List`; an array holding an object or array is kept as `Raw`
//!   JSON text (re-serialized compactly, which keeps its meaning but not its whitespace);
//! - a key that appears twice keeps its last value.
//!
//! Event time, from the first of these fields that is present: `--time-field` (if given),
//! `@timestamp`, `timestamp`, `ts`. The field that is present decides: if it cannot be read the
//! record is rejected rather than silently timed by a lower-priority field. Accepted values:
//! ISO 8601 strings, and epoch numbers or numeric strings. A number whose magnitude is above
//! 1e11 is read as epoch milliseconds (1e11 seconds is the year 5138, while 1e11 milliseconds is
//! 1973), anything smaller as epoch seconds with an optional fraction (Zeek `ts`); magnitudes of
//! 1e14 and above (microseconds, nanoseconds) are rejected rather than misread.
//! `@timestamp` is consumed when it is the time source (the ECS writer writes `@timestamp` from the
//! event time); `timestamp`, `ts` or a `--time-field` stay as fields too.

use std::fmt;
use std::net::IpAddr;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{ErrorKind, Outcome, ParseError, ParseOptions, RecordParser, MAX_RECORD_BYTES};
use crate::event::field::{FieldCache, FieldId, MAX_FIELDS};
use crate::event::{canonical_ip, ecs, field::known, time, Event, Key, Value, ValueRef};

/// The default time fields, in priority order after `--time-field`.
const TIME_FIELDS: [&str; 3] = ["@timestamp", "timestamp", "ts"];

/// Epoch numbers above this magnitude are milliseconds, not seconds.
const MS_THRESHOLD: f64 = 1e11;
/// Epoch numbers at or above this magnitude are rejected (microseconds or nanoseconds).
const MS_LIMIT: f64 = 1e14;

/// A scalar JSON value at a dotted path, as [`Flattener`] offers it to a [`Fields`] hook.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Leaf<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string, unescaped.
    Str(&'a str),
}

impl fmt::Display for Leaf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Leaf::Null => f.write_str("null"),
            Leaf::Bool(b) => write!(f, "{b}"),
            Leaf::Int(i) => write!(f, "{i}"),
            Leaf::Float(x) => write!(f, "{x}"),
            Leaf::Str(s) => {
                // Bounded, so a huge bad value cannot blow up an error message.
                let cut = s.char_indices().nth(80).map_or(s.len(), |(i, _)| i);
                write!(f, "{:?}{}", &s[..cut], if cut < s.len() { "..." } else { "" })
            }
        }
    }
}

/// What a [`Fields`] hook does with a leaf it is offered.
pub(crate) enum Take {
    /// Store it the default way, under [`Fields::key`].
    Default,
    /// Do not store it.
    Drop,
    /// Store this value under this id instead.
    Store(FieldId, Value),
}

/// Lets the caller of [`Flattener::parse_object`] rename keys and intercept values while walking.
pub(crate) trait Fields {
    /// Offered every scalar leaf (not array items) before it is stored.
    fn leaf(&mut self, _path: &str, _leaf: Leaf<'_>, _ev: &mut Event) -> Take {
        Take::Default
    }

    /// The key for the value at dotted `path` (a leaf the hook did not take, or a whole array).
    fn key(&mut self, path: &str, names: &mut Names, ev: &mut Event) -> Key {
        default_key(path, names, ev)
    }
}

/// Resolves a field name to an id, or to an inline name in `ev` once the intern table is full.
pub(crate) fn default_key(name: &str, names: &mut Names, ev: &mut Event) -> Key {
    match names.resolve(name) {
        Some(id) => Key::Id(id),
        None => Key::Inline(ev.alloc_str(name)),
    }
}

/// True for names whose string values are IP addresses by ECS convention (`ip`, `source.ip`, ...).
fn is_ip_path(path: &str) -> bool {
    path == "ip" || path.ends_with(".ip")
}

/// Reads an event time from a JSON value: ISO 8601, epoch seconds, or epoch ms (see module docs).
pub(crate) fn time_from_leaf(leaf: Leaf<'_>) -> Option<i64> {
    match leaf {
        Leaf::Int(i) => {
            if (i.unsigned_abs() as f64) > MS_THRESHOLD {
                (i.unsigned_abs() < MS_LIMIT as u64).then_some(i)
            } else {
                Some(i * time::MS_PER_SEC)
            }
        }
        Leaf::Float(f) => epoch_number_ms(f),
        Leaf::Str(s) => {
            let s = s.trim();
            if let Some(ms) = time::parse_iso8601(s.as_bytes()) {
                return Some(ms);
            }
            if !s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') {
                return None;
            }
            let v: f64 = s.parse().ok()?;
            if v.abs() > MS_THRESHOLD {
                epoch_number_ms(v)
            } else {
                // Exact decimal arithmetic: the float could land a millisecond low.
                time::parse_epoch_seconds(s.as_bytes())
            }
        }
        Leaf::Null | Leaf::Bool(_) => None,
    }
}

/// Epoch seconds or milliseconds (by magnitude) as a float, to milliseconds.
fn epoch_number_ms(v: f64) -> Option<i64> {
    if !v.is_finite() || v.abs() >= MS_LIMIT {
        return None;
    }
    if v.abs() > MS_THRESHOLD {
        return Some(v.floor() as i64);
    }
    // Round to whole microseconds first: `x.755` seconds is often stored as `x.75499999`, and
    // flooring `v * 1000` directly would lose a millisecond. Exact below 2^53 microseconds.
    let micros = (v * 1e6).round() as i64;
    Some(micros.div_euclid(1000))
}

/// Longest name [`Names`] remembers as a successor (longer ones go to the cache every time).
const MAX_REMEMBERED: usize = 96;

/// Slot of the record's start in [`Names::after`]; slot 1 is every name kept inline.
const START: usize = 0;

/// Field-name resolution for one parser. Records of one source repeat their key order, and a
/// source of a few record shapes (Windows events of several ids) still repeats which key follows
/// which: so for each key (and the record's start) the two names that last followed it are
/// remembered, and a name is first compared with those before the [`FieldCache`] hash lookup.
pub(crate) struct Names {
    cache: FieldCache,
    /// Per previous key's slot (field id + 2): the last two names after it, newest first.
    after: Vec<[Option<Successor>; 2]>,
    prev: usize,
}

/// A name seen after some key, and what it resolved to.
type Successor = (Box<str>, Option<FieldId>);

fn slot_of(id: Option<FieldId>) -> usize {
    id.map_or(1, |id| id.0 as usize + 2)
}

impl Names {
    fn new() -> Self {
        Names { cache: FieldCache::new(), after: Vec::new(), prev: START }
    }

    /// The next name resolved is a record's first.
    fn start_record(&mut self) {
        self.prev = START;
    }

    /// Resolves a name to an id; `None` once the intern table is full (keep it inline).
    pub(crate) fn resolve(&mut self, name: &str) -> Option<FieldId> {
        let slot = self.prev;
        if let Some(seen) = self.after.get_mut(slot) {
            for k in 0..2 {
                if let Some((known, id)) = &seen[k] {
                    if **known == *name {
                        let id = *id;
                        seen.swap(0, k);
                        self.prev = slot_of(id);
                        return id;
                    }
                }
            }
        }
        let id = self.cache.resolve(name.as_bytes());
        // Bounded: one entry pair per field id, names up to MAX_REMEMBERED bytes.
        if name.len() <= MAX_REMEMBERED && slot < MAX_FIELDS + 2 {
            if self.after.len() <= slot {
                self.after.resize_with(slot + 1, Default::default);
            }
            let seen = &mut self.after[slot];
            seen[1] = seen[0].take();
            seen[0] = Some((name.into(), id));
        }
        self.prev = slot_of(id);
        id
    }

    /// The underlying cache, for names resolved outside a record's key order (Zeek TSV headers).
    pub(crate) fn cache(&mut self) -> &mut FieldCache {
        &mut self.cache
    }
}

/// Reusable state for walking JSON objects into events: key cache, path buffer, scratch space.
pub(crate) struct Flattener {
    names: Names,
    path: String,
    raw: Vec<u8>,
    /// One bit per field id stored by the walk, so duplicate keys are found without a scan per key.
    seen: Box<[u64]>,
    /// Field count of the previous event, to size the next one.
    fields_hint: usize,
}

impl Default for Flattener {
    fn default() -> Self {
        Flattener {
            names: Names::new(),
            path: String::with_capacity(64),
            raw: Vec::new(),
            seen: vec![0u64; MAX_FIELDS.div_ceil(64)].into_boxed_slice(),
            fields_hint: 16,
        }
    }
}

impl Flattener {
    /// Creates a flattener with empty caches.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The field-name resolver, for callers that resolve names of their own (Zeek TSV headers).
    pub(crate) fn names(&mut self) -> &mut Names {
        &mut self.names
    }

    /// An empty event sized like the previous record's, so field storage is allocated once.
    pub(crate) fn new_event(&self, text: usize) -> Event {
        Event::with_capacity(self.fields_hint, text)
    }

    /// Walks one JSON object (the whole record) into `ev`; any other JSON, or trailing text, is
    /// a [`ErrorKind::BadJson`] error carrying the parser's message (with the column). The
    /// parser is sonic-rs (SIMD string scanning and UTF-8 checks, x1.3 on Windows JSON against
    /// serde_json) through the same serde visitors.
    pub(crate) fn parse_object<H: Fields>(&mut self, record: &[u8], ev: &mut Event, hooks: &mut H) -> Result<(), ParseError> {
        self.path.clear();
        self.names.start_record();
        for (key, _) in ev.fields() {
            if let Key::Id(id) = key {
                set_bit(&mut self.seen, *id);
            }
        }
        let mut de = sonic_rs::Deserializer::from_slice(record);
        let result = {
            let mut walk = Walk { path: &mut self.path, raw: &mut self.raw, names: &mut self.names, seen: &mut self.seen, ev: &mut *ev, hooks };
            TopSeed(&mut walk).deserialize(&mut de).and_then(|()| de.end())
        };
        // Clearing only the bits this event set keeps the reset O(fields), not O(MAX_FIELDS).
        for (key, _) in ev.fields() {
            if let Key::Id(id) = key {
                if let Some(word) = self.seen.get_mut(id.0 as usize / 64) {
                    *word = 0;
                }
            }
        }
        // Room for the fields a caller adds after the walk (Zeek's normalization).
        self.fields_hint = (ev.len() + 8).clamp(16, 1024);
        // sonic-rs follows its message with the text around the error on further lines: the
        // dead letter carries the record itself, so the first line is enough.
        result.map_err(|e| ParseError::new(ErrorKind::BadJson, e.to_string().lines().next().unwrap_or_default().to_owned()))
    }
}

/// Sets the bit of `id`; returns whether it was already set.
fn set_bit(bits: &mut [u64], id: FieldId) -> bool {
    let i = id.0 as usize;
    match bits.get_mut(i / 64) {
        Some(word) => {
            let mask = 1u64 << (i % 64);
            let was = *word & mask != 0;
            *word |= mask;
            was
        }
        // Not expected (ids stay below MAX_FIELDS); `true` makes the caller use the safe slow path.
        None => true,
    }
}

/// The state of one walk, borrowed from the [`Flattener`] and the caller.
struct Walk<'a, H> {
    path: &'a mut String,
    raw: &'a mut Vec<u8>,
    names: &'a mut Names,
    seen: &'a mut [u64],
    ev: &'a mut Event,
    hooks: &'a mut H,
}

impl<H: Fields> Walk<'_, H> {
    fn store(&mut self, key: Key, value: Value) {
        match key {
            Key::Id(id) => {
                if set_bit(self.seen, id) {
                    self.ev.set(id, value);
                } else {
                    self.ev.push(id, value);
                }
            }
            Key::Inline(_) => self.ev.push_key(key, value),
        }
    }

    fn leaf(&mut self, leaf: Leaf<'_>) {
        match self.hooks.leaf(self.path, leaf, self.ev) {
            Take::Drop => {}
            Take::Store(id, value) => self.store(Key::Id(id), value),
            Take::Default => {
                let value = self.scalar(leaf, is_ip_path(self.path));
                let key = self.hooks.key(self.path, self.names, self.ev);
                self.store(key, value);
            }
        }
    }

    fn scalar(&mut self, leaf: Leaf<'_>, ip: bool) -> Value {
        match leaf {
            Leaf::Null => Value::Null,
            Leaf::Bool(b) => Value::Bool(b),
            Leaf::Int(i) => Value::Int(i),
            Leaf::Float(f) => Value::Float(f),
            Leaf::Str(s) => {
                if ip {
                    if let Ok(addr) = s.parse::<IpAddr>() {
                        return Value::Ip(canonical_ip(addr));
                    }
                }
                Value::Str(self.ev.alloc_str(s))
            }
        }
    }
}

fn u64_leaf(u: u64) -> Leaf<'static> {
    match i64::try_from(u) {
        Ok(i) => Leaf::Int(i),
        Err(_) => Leaf::Float(u as f64),
    }
}

struct TopSeed<'w, 'a, H>(&'w mut Walk<'a, H>);

impl<'de, H: Fields> DeserializeSeed<'de> for TopSeed<'_, '_, H> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(TopVisitor(self.0))
    }
}

struct TopVisitor<'w, 'a, H>(&'w mut Walk<'a, H>);

impl<'de, H: Fields> Visitor<'de> for TopVisitor<'_, '_, H> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        walk_map(self.0, map)
    }
}

fn walk_map<'de, A: MapAccess<'de>, H: Fields>(walk: &mut Walk<'_, H>, mut map: A) -> Result<(), A::Error> {
    let base = walk.path.len();
    while map.next_key_seed(KeySeed { path: &mut *walk.path, base })?.is_some() {
        map.next_value_seed(ValueSeed(&mut *walk))?;
    }
    walk.path.truncate(base);
    Ok(())
}

/// Writes a key into the path buffer after the parent's prefix (no allocation per key).
struct KeySeed<'p> {
    path: &'p mut String,
    base: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, key: &str) -> Result<(), E> {
        self.path.truncate(self.base);
        self.path.push_str(key);
        Ok(())
    }
}

struct ValueSeed<'w, 'a, H>(&'w mut Walk<'a, H>);

impl<'de, H: Fields> DeserializeSeed<'de> for ValueSeed<'_, '_, H> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, H: Fields> Visitor<'de> for ValueSeed<'_, '_, H> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.leaf(Leaf::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.leaf(Leaf::Int(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.leaf(u64_leaf(v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.leaf(Leaf::Float(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.leaf(Leaf::Str(v));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.leaf(Leaf::Null);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let walk = self.0;
        let len = walk.path.len();
        walk.path.push('.');
        walk_map(walk, map)?;
        walk.path.truncate(len);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let walk = self.0;
        let mut item = ItemState { ip: is_ip_path(walk.path), start: walk.ev.items_len(), raw: false };
        while seq.next_element_seed(ItemSeed { walk: &mut *walk, state: &mut item })?.is_some() {}
        let value = if item.raw {
            walk.raw.push(b']');
            // The buffer is built from `&str`s and ASCII only, so it is always UTF-8.
            let text = std::str::from_utf8(walk.raw).unwrap_or("null");
            Value::Raw(walk.ev.alloc_str(text))
        } else {
            walk.ev.list_from(item.start)
        };
        let key = walk.hooks.key(walk.path, walk.names, walk.ev);
        walk.store(key, value);
        Ok(())
    }
}

/// Progress through one array: scalars go to the item table until an object or array shows up,
/// then the whole array switches to raw text in `Walk::raw`.
struct ItemState {
    ip: bool,
    start: u32,
    raw: bool,
}

struct ItemSeed<'w, 's, 'a, H> {
    walk: &'w mut Walk<'a, H>,
    state: &'s mut ItemState,
}

impl<'w, H: Fields> ItemSeed<'w, '_, '_, H> {
    fn scalar(self, leaf: Leaf<'_>) {
        if self.state.raw {
            comma(self.walk.raw);
            write_leaf(self.walk.raw, leaf);
        } else {
            let value = self.walk.scalar(leaf, self.state.ip);
            self.walk.ev.push_item(value);
        }
    }

    /// Switches the array to raw text (re-writing the scalars seen so far) and returns the buffer,
    /// ready for the next element.
    fn raw_buffer(self) -> &'w mut Vec<u8> {
        let walk = self.walk;
        if !self.state.raw {
            self.state.raw = true;
            walk.raw.clear();
            walk.raw.push(b'[');
            let list = walk.ev.list_from(self.state.start);
            if let ValueRef::List(items) = walk.ev.resolve(&list) {
                for item in items {
                    comma(walk.raw);
                    ecs::write_value(walk.ev, walk.ev.resolve(item), walk.raw);
                }
            }
        }
        comma(walk.raw);
        walk.raw
    }
}

impl<'de, H: Fields> DeserializeSeed<'de> for ItemSeed<'_, '_, '_, H> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, H: Fields> Visitor<'de> for ItemSeed<'_, '_, '_, H> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.scalar(Leaf::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.scalar(Leaf::Int(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        // Raw text keeps a big unsigned number exact; the item table cannot.
        if self.state.raw {
            comma(self.walk.raw);
            self.walk.raw.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        } else {
            self.scalar(u64_leaf(v));
        }
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.scalar(Leaf::Float(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.scalar(Leaf::Str(v));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.scalar(Leaf::Null);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        RawWriter(self.raw_buffer()).visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        RawWriter(self.raw_buffer()).visit_seq(seq)
    }
}

fn comma(out: &mut Vec<u8>) {
    if out.last() != Some(&b'[') {
        out.push(b',');
    }
}

fn write_leaf(out: &mut Vec<u8>, leaf: Leaf<'_>) {
    match leaf {
        Leaf::Null => out.extend_from_slice(b"null"),
        Leaf::Bool(true) => out.extend_from_slice(b"true"),
        Leaf::Bool(false) => out.extend_from_slice(b"false"),
        Leaf::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        Leaf::Float(f) if f.is_finite() => out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes()),
        Leaf::Float(_) => out.extend_from_slice(b"null"),
        Leaf::Str(s) => ecs::write_json_str(out, s),
    }
}

/// Re-serializes any JSON value compactly into a buffer (for [`Value::Raw`] arrays).
struct RawWriter<'o>(&'o mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for RawWriter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RawWriter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        write_leaf(self.0, Leaf::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        write_leaf(self.0, Leaf::Int(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        write_leaf(self.0, Leaf::Float(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        ecs::write_json_str(self.0, v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        out.push(b'{');
        let mut first = true;
        while let Some(key) = map.next_key_seed(RawKey)? {
            if !first {
                out.push(b',');
            }
            first = false;
            ecs::write_json_str(out, &key);
            out.push(b':');
            map.next_value_seed(RawWriter(&mut *out))?;
        }
        out.push(b'}');
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let out = self.0;
        out.push(b'[');
        let mut first = true;
        loop {
            let mark = out.len();
            if !first {
                out.push(b',');
            }
            if seq.next_element_seed(RawWriter(&mut *out))?.is_none() {
                out.truncate(mark);
                break;
            }
            first = false;
        }
        out.push(b']');
        Ok(())
    }
}

/// A key inside a raw array's object; owned only because the visitor cannot write two things at once.
struct RawKey;

impl<'de> DeserializeSeed<'de> for RawKey {
    type Value = std::borrow::Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for RawKey {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v.to_owned()))
    }
}

/// Finds the event time among the leaves while the record is walked.
struct TimeFields<'o> {
    /// `--time-field`, ranked before the defaults.
    custom: Option<&'o str>,
    /// Whether `@timestamp` is kept as a field while walking (it may turn out not to be the source).
    keep_at_timestamp: bool,
    /// Best candidate so far: its rank, its name, and its time or the reason it is unreadable.
    found: Option<(usize, &'static str, Result<i64, String>)>,
}

impl TimeFields<'_> {
    fn rank(&self, path: &str) -> Option<(usize, &'static str)> {
        if self.custom == Some(path) {
            return Some((0, ""));
        }
        TIME_FIELDS.iter().position(|f| *f == path).map(|i| (i + 1, TIME_FIELDS[i]))
    }
}

impl Fields for TimeFields<'_> {
    fn leaf(&mut self, path: &str, leaf: Leaf<'_>, _ev: &mut Event) -> Take {
        let Some((rank, name)) = self.rank(path) else {
            return Take::Default;
        };
        // `<=`: a repeated key keeps its last value, as it does for fields.
        if self.found.as_ref().is_none_or(|(best, _, _)| rank <= *best) {
            let result = time_from_leaf(leaf).ok_or_else(|| leaf.to_string());
            self.found = Some((rank, name, result));
        }
        if path == TIME_FIELDS[0] && !self.keep_at_timestamp {
            Take::Drop
        } else {
            Take::Default
        }
    }
}

/// Parser for JSON lines of any shape; see the module docs.
pub struct JsonParser {
    flat: Flattener,
    time_field: Option<String>,
}

impl JsonParser {
    /// Creates a parser; `opts.time_field` is tried before the default time fields.
    pub fn new(opts: &ParseOptions) -> Self {
        JsonParser { flat: Flattener::new(), time_field: opts.time_field.clone().filter(|f| !f.is_empty()) }
    }

    fn no_timestamp(&self) -> ParseError {
        let mut looked = String::new();
        for name in self.time_field.iter().map(String::as_str).chain(TIME_FIELDS.iter().copied()) {
            if !looked.is_empty() {
                looked.push_str(", ");
            }
            looked.push_str(name);
        }
        ParseError::new(ErrorKind::BadTimestamp, format!("no timestamp: looked for {looked} (use --time-field)"))
    }
}

impl RecordParser for JsonParser {
    fn parse(&mut self, record: &[u8], out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
        if record.len() > MAX_RECORD_BYTES {
            return Err(ParseError::new(ErrorKind::TooLong, format!("{} bytes, limit {MAX_RECORD_BYTES}", record.len())));
        }
        let record = record.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(record);
        if record.trim_ascii().is_empty() {
            return Ok(Outcome::Skipped);
        }
        let custom = self.time_field.as_deref();
        let mut times = TimeFields { custom, keep_at_timestamp: custom.is_some_and(|f| f != TIME_FIELDS[0]), found: None };
        let mut ev = self.flat.new_event(record.len());
        self.flat.parse_object(record, &mut ev, &mut times)?;
        let (rank, name, result) = match times.found {
            Some(found) => found,
            None => return Err(self.no_timestamp()),
        };
        let name = if rank == 0 { custom.unwrap_or_default() } else { name };
        match result {
            Ok(ms) => ev.ts = ms,
            Err(bad) => {
                return Err(ParseError::new(
                    ErrorKind::BadTimestamp,
                    format!("unreadable timestamp in field {name}: {bad} (expected ISO 8601, or epoch seconds or milliseconds)"),
                ))
            }
        }
        if rank == 1 && times.keep_at_timestamp {
            ev.remove(known::TIMESTAMP);
        }
        out.push(ev);
        Ok(Outcome::Events(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ecs::to_json_string;
    use crate::event::field;
    use crate::event::time::to_iso8601;
    use proptest::prelude::*;

    fn opts(time_field: Option<&str>) -> ParseOptions {
        ParseOptions { year: None, now_ms: 0, time_field: time_field.map(str::to_owned) }
    }

    proptest! {
        // Whatever order names come in (records of several shapes, a name after many different
        // predecessors, more than two successors of one key), the remembered successors give
        // the id the interner gives.
        #[test]
        fn names_resolve_as_the_interner_for_any_key_order(records in prop::collection::vec(prop::collection::vec(0usize..12, 0..10), 1..40)) {
            let pool: Vec<String> = (0..12).map(|i| format!("names_test.key{i}")).collect();
            let mut names = Names::new();
            for record in records {
                names.start_record();
                for k in record {
                    prop_assert_eq!(names.resolve(&pool[k]), field::intern(&pool[k]));
                }
            }
        }
    }

    fn parse_with(line: &str, time_field: Option<&str>) -> Result<Event, ParseError> {
        let mut out = Vec::new();
        match JsonParser::new(&opts(time_field)).parse(line.as_bytes(), &mut out)? {
            Outcome::Events(1) => Ok(out.pop().unwrap()),
            other => panic!("{other:?}"),
        }
    }

    fn parse(line: &str) -> Event {
        parse_with(line, None).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    fn get<'a>(ev: &'a Event, name: &str) -> Option<ValueRef<'a>> {
        ev.get(field::lookup(name)?)
    }

    fn ip(s: &str) -> ValueRef<'static> {
        ValueRef::Ip(s.parse().unwrap())
    }

    #[test]
    fn cowrie_like_lines() {
        // Written for this test in the shape of Cowrie honeypot output.
        let ev = parse(
            r#"{"eventid": "cowrie.login.failed", "username": "admin", "password": "1234", "src_ip": "203.0.113.7", "src_port": 50122, "timestamp": "2018-05-18T00:01:32.640251Z", "session": "a1b2c3d4e5f6", "isError": 0}"#,
        );
        assert_eq!(to_iso8601(ev.ts), "2018-05-18T00:01:32.640Z");
        assert_eq!(get(&ev, "eventid"), Some(ValueRef::Str("cowrie.login.failed")));
        assert_eq!(get(&ev, "src_ip"), Some(ValueRef::Str("203.0.113.7")));
        assert_eq!(get(&ev, "src_port"), Some(ValueRef::Int(50122)));
        // `timestamp` is the time source and also stays a field.
        assert_eq!(get(&ev, "timestamp"), Some(ValueRef::Str("2018-05-18T00:01:32.640251Z")));

        let ev = parse(
            r#"{"eventid":"cowrie.client.version","version":"SSH-2.0-Go","kexAlgs":["curve25519-sha256@libssh.org","diffie-hellman-group14-sha1"],"compCS":["none"],"timestamp":"2018-05-18T00:02:00.000001Z","isError":0}"#,
        );
        match get(&ev, "kexAlgs") {
            Some(ValueRef::List(items)) => {
                let names: Vec<_> = items.iter().map(|v| ev.resolve(v)).collect();
                assert_eq!(names, [ValueRef::Str("curve25519-sha256@libssh.org"), ValueRef::Str("diffie-hellman-group14-sha1")]);
            }
            other => panic!("{other:?}"),
        }
        let json: serde_json::Value = serde_json::from_str(&to_json_string(&ev)).unwrap();
        assert_eq!(json["compCS"], serde_json::json!(["none"]));
    }

    #[test]
    fn otrf_windows_lines() {
        // From OTRF Security-Datasets (SDWIN-201022042947, trimmed to key fields), MIT licence.
        let ev = parse(
            r#"{"@timestamp":"2020-10-22T08:29:55.210Z","EventID":4625,"Hostname":"WORKSTATION5.theshire.local","TargetUserName":"lrodriguez","Status":"0xc000006d","SubStatus":"0xc000006a","LogonType":"2","WorkstationName":"WORKSTATION5","IpAddress":"-","ProcessName":"C:\\Users\\pgustavo\\Downloads\\PurpleSharp.exe"}"#,
        );
        assert_eq!(to_iso8601(ev.ts), "2020-10-22T08:29:55.210Z");
        assert_eq!(ev.get(known::TIMESTAMP), None, "@timestamp is consumed into ev.ts");
        assert_eq!(get(&ev, "EventID"), Some(ValueRef::Int(4625)));
        assert_eq!(get(&ev, "TargetUserName"), Some(ValueRef::Str("lrodriguez")));
        assert_eq!(get(&ev, "ProcessName"), Some(ValueRef::Str(r"C:\Users\pgustavo\Downloads\PurpleSharp.exe")));
        let ev = parse(
            r#"{"@timestamp":"2020-10-22T08:29:55.403Z","EventID":4769,"Hostname":"MORDORDC.theshire.local","TargetUserName":"pgustavo@THESHIRE.LOCAL","ServiceName":"sysmonsvc","IpAddress":"::ffff:172.18.39.5","TicketEncryptionType":"0x17","Keywords":-9214364837600035000}"#,
        );
        // Native Windows names are not ECS IP fields: the text stays as it is.
        assert_eq!(get(&ev, "IpAddress"), Some(ValueRef::Str("::ffff:172.18.39.5")));
        assert_eq!(get(&ev, "Keywords"), Some(ValueRef::Int(-9214364837600035000)));
        let json = to_json_string(&ev);
        assert!(json.starts_with(r#"{"@timestamp":"2020-10-22T08:29:55.403Z","EventID":4769,"#), "{json}");
    }

    #[test]
    fn nested_ecs_matches_dotted() {
        let nested = parse(
            r#"{"@timestamp":"2024-01-02T03:04:05.678Z","event":{"category":["authentication"],"outcome":"failure"},"source":{"ip":"::ffff:10.1.2.3","port":22},"user":{"name":"root"},"related":{"ip":["10.1.2.3","2001:db8::1"]}}"#,
        );
        let dotted = parse(
            r#"{"related.ip":["10.1.2.3","2001:db8::1"],"user.name":"root","source.port":22,"source.ip":"::ffff:10.1.2.3","event.outcome":"failure","event.category":["authentication"],"@timestamp":"2024-01-02T03:04:05.678Z"}"#,
        );
        assert_eq!(to_json_string(&nested), to_json_string(&dotted));
        assert_eq!(
            to_json_string(&nested),
            r#"{"@timestamp":"2024-01-02T03:04:05.678Z","event":{"category":["authentication"],"outcome":"failure"},"related":{"ip":["10.1.2.3","2001:db8::1"]},"source":{"ip":"10.1.2.3","port":22},"user":{"name":"root"}}"#
        );
        assert_eq!(nested.get(known::SOURCE_IP), Some(ip("10.1.2.3")));
        assert_eq!(nested.get_str(known::USER_NAME), Some("root"));
        match nested.get(known::RELATED_IP) {
            Some(ValueRef::List(items)) => assert_eq!(nested.resolve(&items[1]), ip("2001:db8::1")),
            other => panic!("{other:?}"),
        }
        // A plain `ip` key is an address too; text that is not one stays text.
        let ev = parse(r#"{"ts":1,"ip":"192.0.2.1","host":{"ip":"not-an-ip"}}"#);
        assert_eq!(get(&ev, "ip"), Some(ip("192.0.2.1")));
        assert_eq!(get(&ev, "host.ip"), Some(ValueRef::Str("not-an-ip")));
    }

    #[test]
    fn arrays_of_scalars_and_of_objects() {
        let ev = parse(
            r#"{"ts":1,"mixed":[1,2.5,"x",true,null],"empty":[],"objs":[{"a":1,"b":[true,null]},{"c":"d\"e"}],"late":[1,"two",{"k":18446744073709551615}],"deep":[[1,2],[3]]}"#,
        );
        match get(&ev, "mixed") {
            Some(ValueRef::List(items)) => {
                let v: Vec<_> = items.iter().map(|i| ev.resolve(i)).collect();
                assert_eq!(v, [ValueRef::Int(1), ValueRef::Float(2.5), ValueRef::Str("x"), ValueRef::Bool(true), ValueRef::Null]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(get(&ev, "empty"), Some(ValueRef::List(&[])));
        assert_eq!(get(&ev, "objs"), Some(ValueRef::Raw(r#"[{"a":1,"b":[true,null]},{"c":"d\"e"}]"#)));
        assert_eq!(get(&ev, "late"), Some(ValueRef::Raw(r#"[1,"two",{"k":18446744073709551615}]"#)));
        assert_eq!(get(&ev, "deep"), Some(ValueRef::Raw("[[1,2],[3]]")));
        let json: serde_json::Value = serde_json::from_str(&to_json_string(&ev)).unwrap();
        assert_eq!(json["objs"][1]["c"], "d\"e");
        assert_eq!(json["deep"][0][1], 2);
    }

    #[test]
    fn escapes_and_unicode() {
        let ev = parse(r#"{"ts":1,"k\u0065y":"tab\there \u00e9 \ud83d\ude00 \"q\" \\","ключ":"значение","list":["a\nb"]}"#);
        assert_eq!(get(&ev, "key"), Some(ValueRef::Str("tab\there é 😀 \"q\" \\")));
        assert_eq!(get(&ev, "ключ"), Some(ValueRef::Str("значение")));
        match get(&ev, "list") {
            Some(ValueRef::List(items)) => assert_eq!(ev.resolve(&items[0]), ValueRef::Str("a\nb")),
            other => panic!("{other:?}"),
        }
        let err = parse_with("{\"ts\":1,\"bad\":\"\\ud800\"}", None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadJson);
        let mut out = Vec::new();
        let err = JsonParser::new(&opts(None)).parse(b"{\"ts\":1,\"k\":\"\xff\"}", &mut out).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadJson);
    }

    #[test]
    fn duplicate_keys_keep_the_last() {
        let ev = parse(r#"{"ts":1,"a":1,"b":"x","a":2,"source":{"ip":"192.0.2.1"},"source.ip":"192.0.2.2","b":[1]}"#);
        assert_eq!(ev.len(), 4, "{:?}", ev.fields());
        assert_eq!(get(&ev, "a"), Some(ValueRef::Int(2)));
        assert_eq!(ev.get(known::SOURCE_IP), Some(ip("192.0.2.2")));
        assert!(matches!(get(&ev, "b"), Some(ValueRef::List(_))));
        // The dedup state does not leak into the next record.
        let mut parser = JsonParser::new(&opts(None));
        let mut out = Vec::new();
        for _ in 0..2 {
            parser.parse(br#"{"ts":1,"a":1,"z":2}"#, &mut out).unwrap();
        }
        assert!(out.iter().all(|ev| ev.len() == 3));
    }

    #[test]
    fn big_integers() {
        let ev = parse(r#"{"ts":1,"max":9223372036854775807,"min":-9223372036854775808,"u":18446744073709551615,"f":1e300}"#);
        assert_eq!(get(&ev, "max"), Some(ValueRef::Int(i64::MAX)));
        assert_eq!(get(&ev, "min"), Some(ValueRef::Int(i64::MIN)));
        assert_eq!(get(&ev, "u"), Some(ValueRef::Float(u64::MAX as f64)));
        assert_eq!(get(&ev, "f"), Some(ValueRef::Float(1e300)));
        assert_eq!(parse_with(r#"{"ts":1,"f":1e400}"#, None).unwrap_err().kind, ErrorKind::BadJson);
    }

    #[test]
    fn timestamps() {
        let err = parse_with(r#"{"a":1,"time":"2020-01-01T00:00:00Z"}"#, None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadTimestamp);
        assert_eq!(err.detail, "no timestamp: looked for @timestamp, timestamp, ts (use --time-field)");
        let err = parse_with(r#"{"timestamp":"yesterday"}"#, None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadTimestamp);
        assert!(err.detail.contains("timestamp") && err.detail.contains("\"yesterday\""), "{}", err.detail);
        // The highest-priority field present decides, even when a lower one would be readable.
        let err = parse_with(r#"{"@timestamp":null,"ts":1}"#, None).unwrap_err();
        assert!(err.detail.contains("@timestamp: null"), "{}", err.detail);

        let secs = parse(r#"{"ts":1664462456.755299}"#);
        assert_eq!(secs.ts, 1_664_462_456_755);
        assert_eq!(parse(r#"{"ts":1664462456.755}"#).ts, 1_664_462_456_755);
        assert_eq!(parse(r#"{"ts":"1664462456.755"}"#).ts, 1_664_462_456_755);
        assert_eq!(parse(r#"{"ts":1664462456}"#).ts, 1_664_462_456_000);
        assert_eq!(secs.get(field::lookup("ts").unwrap()), Some(ValueRef::Float(1664462456.755299)));
        // Above 1e11 an epoch number is milliseconds.
        assert_eq!(parse(r#"{"timestamp":1664462456755}"#).ts, 1_664_462_456_755);
        assert_eq!(parse(r#"{"timestamp":"1664462456755"}"#).ts, 1_664_462_456_755);
        assert_eq!(parse(r#"{"timestamp":1664462456755.9}"#).ts, 1_664_462_456_755);
        assert_eq!(parse_with(r#"{"timestamp":1664462456755000}"#, None).unwrap_err().kind, ErrorKind::BadTimestamp);
        assert_eq!(parse(r#"{"@timestamp":"2020-10-22T08:29:55+02:00"}"#).ts, parse(r#"{"ts":"2020-10-22T06:29:55Z"}"#).ts);
    }

    #[test]
    fn time_field_override() {
        let line = r#"{"@timestamp":"2020-10-22T08:29:48.785Z","EventTime":"2020-10-22 04:29:46","EventID":5156}"#;
        let ev = parse_with(line, Some("EventTime")).unwrap();
        assert_eq!(to_iso8601(ev.ts), "2020-10-22T04:29:46.000Z");
        assert_eq!(get(&ev, "EventTime"), Some(ValueRef::Str("2020-10-22 04:29:46")));
        assert_eq!(ev.get(known::TIMESTAMP), Some(ValueRef::Str("2020-10-22T08:29:48.785Z")), "not the source: kept");
        // Absent custom field: the defaults apply, and a consumed @timestamp is not kept.
        let ev = parse_with(r#"{"@timestamp":"2020-10-22T08:29:48.785Z","a":1}"#, Some("EventTime")).unwrap();
        assert_eq!(to_iso8601(ev.ts), "2020-10-22T08:29:48.785Z");
        assert_eq!(ev.get(known::TIMESTAMP), None);
        // Nested custom field.
        let ev = parse_with(r#"{"event":{"created":1600000000}}"#, Some("event.created")).unwrap();
        assert_eq!(ev.ts, 1_600_000_000_000);
        let err = parse_with(r#"{"a":1}"#, Some("EventTime")).unwrap_err();
        assert_eq!(err.detail, "no timestamp: looked for EventTime, @timestamp, timestamp, ts (use --time-field)");
        let err = parse_with(r#"{"EventTime":"soon","ts":1}"#, Some("EventTime")).unwrap_err();
        assert!(err.detail.contains("EventTime: \"soon\""), "{}", err.detail);
    }

    #[test]
    fn not_an_object_and_other_errors() {
        for line in ["[1,2]", "\"x\"", "5", "null", "true", "{\"ts\":1} x", "{\"ts\":1,}", "{ts:1}", "{\"ts\":1", "}"] {
            let err = parse_with(line, None).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadJson, "{line}");
            assert!(err.detail.contains("column"), "{line}: {}", err.detail);
        }
        assert!(parse_with("[1]", None).unwrap_err().detail.contains("expected a JSON object"));
        let mut p = JsonParser::new(&opts(None));
        let mut out = Vec::new();
        assert_eq!(p.parse(b"", &mut out), Ok(Outcome::Skipped));
        assert_eq!(p.parse(b"  \t\r", &mut out), Ok(Outcome::Skipped));
        let long = vec![b' '; MAX_RECORD_BYTES + 1];
        assert_eq!(p.parse(&long, &mut out).unwrap_err().kind, ErrorKind::TooLong);
        assert_eq!(p.parse(b"\xEF\xBB\xBF{\"ts\":1}\r", &mut out), Ok(Outcome::Events(1)));
        assert!(out.len() == 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let ok = format!("{{\"ts\":1,\"a\":{}1{}}}", "{\"b\":".repeat(100), "}".repeat(100));
        let ev = parse(&ok);
        assert_eq!(ev.len(), 2);
        for depth in [127, 128, 200, 5000] {
            let objects = format!("{{\"ts\":1,\"a\":{}1{}}}", "{\"b\":".repeat(depth), "}".repeat(depth));
            let arrays = format!("{{\"ts\":1,\"a\":[{}{}]}}", "[{\"b\":".repeat(depth), "}]".repeat(depth));
            for line in [objects, arrays] {
                if let Err(e) = parse_with(&line, None) {
                    assert_eq!(e.kind, ErrorKind::BadJson);
                }
            }
        }
    }

    #[test]
    fn every_prefix_of_a_line_is_safe() {
        let line = r#"{"@timestamp":"2020-10-22T08:29:55.210Z","EventID":4625,"a":{"b":[1,{"c":"\u00e9\n"}],"d":null},"e":[true,-1.5e3],"f":"::ffff:1.2.3.4"}"#;
        let mut p = JsonParser::new(&opts(None));
        let mut out = Vec::new();
        for end in 0..line.len() {
            let result = p.parse(&line.as_bytes()[..end], &mut out);
            assert!(result.is_err() || end == 0, "{end}: {result:?}");
        }
        assert_eq!(p.parse(line.as_bytes(), &mut out), Ok(Outcome::Events(1)));
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            let _ = JsonParser::new(&opts(Some("t"))).parse(&bytes, &mut out);
        }

        #[test]
        fn never_panics_on_json_ish(line in r#"\{("(ts|@timestamp|t|a|a\.b|ip|x\.ip|\\u00e9|)": ?([0-9eE.+-]{1,12}|"[0-9a-f:.TZ\\ -]{0,24}"|\[[\[\]{}0-9,"a:]{0,16}\]|\{[\[\]{}0-9,"a:]{0,16}\}|null|true),?){0,6}\}?"#) {
            let mut out = Vec::new();
            let mut p = JsonParser::new(&opts(Some("t")));
            if let Ok(Outcome::Events(_)) = p.parse(line.as_bytes(), &mut out) {
                let json = to_json_string(&out[0]);
                prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{}", json);
            }
        }
    }
}
