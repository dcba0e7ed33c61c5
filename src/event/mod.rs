//! The in-memory event: event time, origin, and fields keyed by id with compact values.
//!
//! Strings live in one per-event text arena and values point into it, so a parsed event costs a
//! handful of allocations however many fields it has. Constant strings (`"authentication"`,
//! `"failure"`, ...) are `&'static str` and cost nothing. ECS JSON is an output format
//! (see [`ecs`]), not the model.

pub mod ecs;
pub mod entity;
pub mod field;
pub mod time;
mod wire;

use std::net::IpAddr;

pub use field::{FieldId, Key};

/// A byte range in an event's text arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Span {
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// A field value; strings point into the owning event's arena.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// JSON null, or a field present without a value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// An IP address (IPv4-mapped IPv6 addresses are stored as IPv4).
    Ip(IpAddr),
    /// Text in the event's arena.
    Str(Span),
    /// Constant text known at compile time.
    Sym(&'static str),
    /// A list of scalar values: a range of the event's item table.
    List { start: u32, len: u32 },
    /// Raw JSON (an array holding objects or arrays), kept verbatim.
    Raw(Span),
}

/// A value borrowed from its event, with strings resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// JSON null.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// An IP address.
    Ip(IpAddr),
    /// Text.
    Str(&'a str),
    /// A list of scalar values.
    List(&'a [Value]),
    /// Raw JSON text.
    Raw(&'a str),
}

/// Where a record came from: which partition (input), which record in it, which expansion of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    /// Global partition index (input file order, or a Kafka topic-partition slot).
    pub partition: u32,
    /// Record index within the partition (line number from 1, or a Kafka offset).
    pub record: u64,
    /// Index among the events one record expands to (`message repeated N times`).
    pub sub: u32,
}

/// One normalized security event.
#[derive(Clone, Debug, Default)]
pub struct Event {
    /// Event time in milliseconds since the Unix epoch (UTC).
    pub ts: i64,
    /// Where the record came from; with `ts` it gives a total, deterministic order.
    pub origin: Origin,
    text: String,
    fields: Vec<(Key, Value)>,
    items: Vec<Value>,
    /// Bit `id % 64` is set for every field id the event has (and may stay set after a
    /// removal): most rule tests ask for fields an event does not have, and this answers
    /// them without scanning the fields.
    present: u64,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        // `present` is a summary of `fields` (with possible stale bits), not content.
        self.ts == other.ts && self.origin == other.origin && self.text == other.text && self.fields == other.fields && self.items == other.items
    }
}

/// The presence bit of a field id.
#[inline]
fn presence_bit(id: FieldId) -> u64 {
    1u64 << (id.0 & 63)
}

/// Normalizes an address so `::ffff:10.0.0.1` and `10.0.0.1` are one entity.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

impl Event {
    /// Creates an empty event at event time `ts` (ms since the epoch).
    pub fn at(ts: i64) -> Self {
        Event { ts, ..Event::default() }
    }

    /// Creates an empty event with room for `fields` fields and `text` bytes of strings.
    pub fn with_capacity(fields: usize, text: usize) -> Self {
        Event { ts: 0, origin: Origin::default(), text: String::with_capacity(text), fields: Vec::with_capacity(fields), items: Vec::new(), present: 0 }
    }

    /// The order key that makes output deterministic: event time, then origin.
    pub fn order_key(&self) -> (i64, Origin) {
        (self.ts, self.origin)
    }

    /// Copies `s` into the arena and returns its span.
    #[inline]
    pub fn alloc_str(&mut self, s: &str) -> Span {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        Span { start, len: s.len() as u32 }
    }

    /// The text of a span of this event's arena.
    #[inline]
    pub fn span_str(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }

    /// Appends a field without checking for an existing one (parsers that emit each key once).
    #[inline]
    pub fn push(&mut self, id: FieldId, value: Value) {
        self.present |= presence_bit(id);
        self.fields.push((Key::Id(id), value));
    }

    /// Appends a string field, copying the text into the arena.
    #[inline]
    pub fn push_str(&mut self, id: FieldId, s: &str) {
        let span = self.alloc_str(s);
        self.present |= presence_bit(id);
        self.fields.push((Key::Id(id), Value::Str(span)));
    }

    /// Appends a field under a key (id or inline name).
    pub fn push_key(&mut self, key: Key, value: Value) {
        if let Key::Id(id) = key {
            self.present |= presence_bit(id);
        }
        self.fields.push((key, value));
    }

    /// Appends a field under an inline name (when the intern table is full).
    pub fn push_inline(&mut self, name: &str, value: Value) {
        let span = self.alloc_str(name);
        self.fields.push((Key::Inline(span), value));
    }

    /// Sets a field, replacing an existing value with the same id.
    pub fn set(&mut self, id: FieldId, value: Value) {
        if let Some(slot) = self.fields.iter_mut().find(|(k, _)| *k == Key::Id(id)) {
            slot.1 = value;
        } else {
            self.present |= presence_bit(id);
            self.fields.push((Key::Id(id), value));
        }
    }

    /// Sets a string field, replacing an existing value with the same id.
    pub fn set_str(&mut self, id: FieldId, s: &str) {
        let span = self.alloc_str(s);
        self.set(id, Value::Str(span));
    }

    /// Removes a field; returns whether it was there.
    pub fn remove(&mut self, id: FieldId) -> bool {
        let before = self.fields.len();
        self.fields.retain(|(k, _)| *k != Key::Id(id));
        before != self.fields.len()
    }

    /// Appends a list of scalar values and returns the value that refers to it.
    #[inline]
    pub fn alloc_list(&mut self, values: &[Value]) -> Value {
        let start = self.items.len() as u32;
        self.items.extend_from_slice(values);
        Value::List { start, len: values.len() as u32 }
    }

    /// Appends one item to the item table (building a list incrementally); see [`Event::list_from`].
    pub fn push_item(&mut self, value: Value) {
        self.items.push(value);
    }

    /// Number of entries in the item table, to mark the start of a list built with `push_item`.
    pub fn items_len(&self) -> u32 {
        self.items.len() as u32
    }

    /// The list value covering items from `start` to the end of the item table.
    pub fn list_from(&self, start: u32) -> Value {
        Value::List { start, len: self.items.len() as u32 - start }
    }

    /// Looks a field up by id.
    #[inline]
    pub fn get(&self, id: FieldId) -> Option<ValueRef<'_>> {
        if self.present & presence_bit(id) == 0 {
            return None;
        }
        self.fields.iter().find(|(k, _)| *k == Key::Id(id)).map(|(_, v)| self.resolve(v))
    }

    /// The text of a string field (or a constant), if present and a string.
    pub fn get_str(&self, id: FieldId) -> Option<&str> {
        match self.get(id)? {
            ValueRef::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Resolves a value of this event to a borrowed form.
    #[inline]
    pub fn resolve<'a>(&'a self, value: &'a Value) -> ValueRef<'a> {
        match *value {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(b),
            Value::Int(i) => ValueRef::Int(i),
            Value::Float(f) => ValueRef::Float(f),
            Value::Ip(ip) => ValueRef::Ip(ip),
            Value::Str(span) => ValueRef::Str(self.span_str(span)),
            Value::Sym(s) => ValueRef::Str(s),
            Value::List { start, len } => {
                let range = start as usize..start as usize + len as usize;
                ValueRef::List(self.items.get(range).unwrap_or(&[]))
            }
            Value::Raw(span) => ValueRef::Raw(self.span_str(span)),
        }
    }

    /// The name of a key of this event.
    pub fn key_name(&self, key: Key) -> &str {
        match key {
            Key::Id(id) => field::name(id),
            Key::Inline(span) => self.span_str(span),
        }
    }

    /// All fields in insertion order.
    pub fn fields(&self) -> &[(Key, Value)] {
        &self.fields
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the event has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Gives back the spare capacity of its buffers (parsers size them for the longest
    /// line): for an event that is kept, as evidence, for a window's length.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.fields.shrink_to_fit();
        self.items.shrink_to_fit();
    }

    /// Heap bytes held by this event (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.fields.capacity() * std::mem::size_of::<(Key, Value)>() + self.items.capacity() * std::mem::size_of::<Value>()
    }
}

/// A record with an event time and a total, deterministic order (event time, then origin).
pub trait Timed {
    /// Event time in ms since the epoch.
    fn ts(&self) -> i64;
    /// The order key: event time, then where the record came from.
    fn order_key(&self) -> (i64, Origin);
}

impl Timed for Event {
    fn ts(&self) -> i64 {
        self.ts
    }
    fn order_key(&self) -> (i64, Origin) {
        Event::order_key(self)
    }
}

#[cfg(test)]
mod tests {
    use super::field::known;
    use super::*;

    #[test]
    fn set_replaces_and_get_resolves() {
        let mut ev = Event::default();
        ev.push_str(known::USER_NAME, "root");
        ev.set_str(known::USER_NAME, "admin");
        ev.push(known::EVENT_OUTCOME, Value::Sym("failure"));
        assert_eq!(ev.len(), 2);
        assert_eq!(ev.get_str(known::USER_NAME), Some("admin"));
        assert_eq!(ev.get_str(known::EVENT_OUTCOME), Some("failure"));
        assert!(ev.remove(known::USER_NAME));
        assert_eq!(ev.get(known::USER_NAME), None);
    }

    #[test]
    fn lists_resolve() {
        let mut ev = Event::default();
        let list = ev.alloc_list(&[Value::Sym("authentication"), Value::Int(3)]);
        ev.push(known::EVENT_CATEGORY, list);
        match ev.get(known::EVENT_CATEGORY) {
            Some(ValueRef::List(items)) => assert_eq!(items.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mapped_ipv4_is_canonical() {
        let ip: IpAddr = "::ffff:172.18.39.5".parse().unwrap();
        assert_eq!(canonical_ip(ip), "172.18.39.5".parse::<IpAddr>().unwrap());
    }
}
