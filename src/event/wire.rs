//! How an event crosses process boundaries (timely serializes exchanged data with bincode).
//!
//! Well-known field ids are sent as numbers; interned ids are sent by name, because each process
//! interns names in its own order. Constant strings travel as text.

use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::field::{self, FieldId, Key};
use super::{Event, Origin, Span, Value};

#[derive(Serialize, Deserialize)]
enum WireKey {
    Known(u32),
    Name(String),
    Inline(u32, u32),
}

#[derive(Serialize, Deserialize)]
enum WireValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Ip(IpAddr),
    Str(u32, u32),
    List(u32, u32),
    Raw(u32, u32),
}

#[derive(Serialize, Deserialize)]
struct WireEvent {
    ts: i64,
    partition: u32,
    record: u64,
    sub: u32,
    text: String,
    fields: Vec<(WireKey, WireValue)>,
    items: Vec<WireValue>,
}

fn to_wire(text: &mut String, v: &Value) -> WireValue {
    match *v {
        Value::Null => WireValue::Null,
        Value::Bool(b) => WireValue::Bool(b),
        Value::Int(i) => WireValue::Int(i),
        Value::Float(f) => WireValue::Float(f),
        Value::Ip(ip) => WireValue::Ip(ip),
        Value::Str(s) => WireValue::Str(s.start, s.len),
        Value::Sym(s) => {
            let start = text.len() as u32;
            text.push_str(s);
            WireValue::Str(start, s.len() as u32)
        }
        Value::List { start, len } => WireValue::List(start, len),
        Value::Raw(s) => WireValue::Raw(s.start, s.len),
    }
}

fn from_wire(v: &WireValue) -> Value {
    match *v {
        WireValue::Null => Value::Null,
        WireValue::Bool(b) => Value::Bool(b),
        WireValue::Int(i) => Value::Int(i),
        WireValue::Float(f) => Value::Float(f),
        WireValue::Ip(ip) => Value::Ip(ip),
        WireValue::Str(start, len) => Value::Str(Span { start, len }),
        WireValue::List(start, len) => Value::List { start, len },
        WireValue::Raw(start, len) => Value::Raw(Span { start, len }),
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = self.text.clone();
        let fields = self
            .fields
            .iter()
            .map(|(k, v)| {
                let key = match *k {
                    Key::Id(id) if field::is_known(id) => WireKey::Known(id.0),
                    Key::Id(id) => WireKey::Name(field::name(id).to_owned()),
                    Key::Inline(s) => WireKey::Inline(s.start, s.len),
                };
                (key, to_wire(&mut text, v))
            })
            .collect();
        let items = self.items.iter().map(|v| to_wire(&mut text, v)).collect();
        WireEvent { ts: self.ts, partition: self.origin.partition, record: self.origin.record, sub: self.origin.sub, text, fields, items }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let w = WireEvent::deserialize(deserializer)?;
        let mut ev = Event {
            ts: w.ts,
            origin: Origin { partition: w.partition, record: w.record, sub: w.sub },
            text: w.text,
            fields: Vec::with_capacity(w.fields.len()),
            items: w.items.iter().map(from_wire).collect(),
            present: 0,
        };
        for (k, v) in &w.fields {
            let key = match k {
                WireKey::Known(id) => Key::Id(FieldId(*id)),
                WireKey::Name(name) => match field::intern(name) {
                    Some(id) => Key::Id(id),
                    None => Key::Inline(ev.alloc_str(name)),
                },
                WireKey::Inline(start, len) => Key::Inline(Span { start: *start, len: *len }),
            };
            ev.push_key(key, from_wire(v));
        }
        // Spans from the wire are only trusted as far as `span_str` checks them (it never panics).
        Ok(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::field::known;

    #[test]
    fn round_trips_through_bincode() {
        let mut ev = Event { ts: 42, ..Event::default() };
        ev.origin = Origin { partition: 3, record: 9, sub: 1 };
        ev.push_str(known::USER_NAME, "root");
        ev.push(known::EVENT_OUTCOME, Value::Sym("failure"));
        ev.push(field::intern("CustomField").unwrap(), Value::Int(7));
        let list = ev.alloc_list(&[Value::Sym("authentication")]);
        ev.push(known::EVENT_CATEGORY, list);
        let bytes = bincode::serialize(&ev).unwrap();
        let back: Event = bincode::deserialize(&bytes).unwrap();
        assert_eq!(crate::event::ecs::to_json_string(&back), crate::event::ecs::to_json_string(&ev));
        assert_eq!(back.origin, ev.origin);
    }
}
