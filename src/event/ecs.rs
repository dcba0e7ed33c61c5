//! ECS JSON encoding of an event: one nested JSON object, `@timestamp` first.
//!
//! Fields are stored flat under dotted names; the writer sorts them by path segment and opens
//! and closes objects as the prefix changes, so `source.ip` and `source.port` share one
//! `"source"` object. A name that is both a leaf and a prefix (`a` and `a.b`) keeps the longer
//! one as a literal dotted key, so the output never repeats a key.

use super::{time, Event, Key, Value, ValueRef};
use crate::event::field::known;

/// Appends `s` as a JSON string literal.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Most strings need no escaping: skip clean 8-byte words at a time.
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[i..i + 8]);
        if needs_escape_word(u64::from_le_bytes(word)) {
            break;
        }
        i += 8;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(i) {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// True if any byte of the word is a control character, `"` or `\\` (SWAR test).
#[inline]
fn needs_escape_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    // Bytes >= 0x80 are never below 0x20, so mask them out of the "less than" test.
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    (below_space | has_zero(w ^ (ONES * b'"' as u64)) | has_zero(w ^ (ONES * b'\\' as u64))) != 0
}

/// Appends a scalar or list value as JSON.
pub fn write_value(ev: &Event, v: ValueRef<'_>, out: &mut Vec<u8>) {
    match v {
        ValueRef::Null => out.extend_from_slice(b"null"),
        ValueRef::Bool(true) => out.extend_from_slice(b"true"),
        ValueRef::Bool(false) => out.extend_from_slice(b"false"),
        ValueRef::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        ValueRef::Float(f) => {
            if f.is_finite() {
                out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes())
            } else {
                out.extend_from_slice(b"null")
            }
        }
        ValueRef::Ip(std::net::IpAddr::V4(v4)) => {
            out.push(b'"');
            let mut buf = itoa::Buffer::new();
            for (i, octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(buf.format(*octet).as_bytes());
            }
            out.push(b'"');
        }
        ValueRef::Ip(ip) => {
            out.push(b'"');
            use std::io::Write;
            let _ = write!(out, "{ip}");
            out.push(b'"');
        }
        ValueRef::Str(s) => write_json_str(out, s),
        ValueRef::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let resolved = match item {
                    Value::List { .. } => ValueRef::Null,
                    other => ev.resolve(other),
                };
                write_value(ev, resolved, out);
            }
            out.push(b']');
        }
        ValueRef::Raw(raw) => out.extend_from_slice(raw.as_bytes()),
    }
}

/// Orders names segment by segment: `.` sorts before every other byte.
fn path_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let map = |c: u8| if c == b'.' { 0 } else { c };
    a.bytes().map(map).cmp(b.bytes().map(map))
}

/// Where the layout algorithm sends its output: straight into a buffer, or into a cached plan.
trait Emit {
    /// Literal JSON bytes.
    fn lit(&mut self, bytes: &[u8]);
    /// An object key (escaped here).
    fn key(&mut self, name: &str);
    /// The value of field number `index` of the event.
    fn value(&mut self, index: usize);
}

struct Direct<'a> {
    ev: &'a Event,
    out: &'a mut Vec<u8>,
}

impl Emit for Direct<'_> {
    fn lit(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn key(&mut self, name: &str) {
        write_json_str(self.out, name);
    }
    fn value(&mut self, index: usize) {
        let (_, v) = &self.ev.fields()[index];
        write_value(self.ev, self.ev.resolve(v), self.out);
    }
}

/// A recorded layout for one shape of event (its sequence of field ids): literal bytes with
/// the field values to splice in between. Replaying it costs a few copies per field, with no
/// sorting and no key escaping.
#[derive(Default)]
struct Plan {
    lits: Vec<u8>,
    /// (end of the literal run in `lits`, index of the field to write after it or `NO_FIELD`).
    ops: Vec<(u32, u32)>,
}

const NO_FIELD: u32 = u32::MAX;

impl Emit for Plan {
    fn lit(&mut self, bytes: &[u8]) {
        self.lits.extend_from_slice(bytes);
    }
    fn key(&mut self, name: &str) {
        write_json_str(&mut self.lits, name);
    }
    fn value(&mut self, index: usize) {
        self.ops.push((self.lits.len() as u32, index as u32));
    }
}

impl Plan {
    fn run(&self, ev: &Event, out: &mut Vec<u8>) {
        let fields = ev.fields();
        let mut start = 0usize;
        for &(end, field) in &self.ops {
            out.extend_from_slice(&self.lits[start..end as usize]);
            start = end as usize;
            if let Some((_, v)) = fields.get(field as usize) {
                write_value(ev, ev.resolve(v), out);
            }
        }
        out.extend_from_slice(&self.lits[start..]);
    }
}

/// Most distinct event shapes whose layout a writer caches; rarer shapes take the slow path.
const MAX_PLANS: usize = 4096;

type PlanMap = std::collections::HashMap<Box<[u32]>, Plan, std::hash::BuildHasherDefault<xxhash_rust::xxh3::Xxh3Default>>;

/// Reusable state for [`EcsWriter::write_event`]: scratch buffers and the layout cache, so
/// encoding allocates nothing per event once its shape has been seen.
#[derive(Default)]
pub struct EcsWriter {
    order: Vec<usize>,
    open: Vec<usize>,
    shape: Vec<u32>,
    plans: PlanMap,
}

impl EcsWriter {
    /// Creates a writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `ev` as one ECS JSON object (no trailing newline).
    pub fn write_event(&mut self, ev: &Event, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"@timestamp\":\"");
        time::write_iso8601(ev.ts, out);
        out.push(b'"');
        self.shape.clear();
        for (key, _) in ev.fields() {
            match key {
                Key::Id(id) => self.shape.push(id.0),
                Key::Inline(_) => {
                    // Inline names are per event: no shape to cache.
                    layout(ev, &mut self.order, &mut self.open, &mut Direct { ev, out });
                    return;
                }
            }
        }
        if let Some(plan) = self.plans.get(self.shape.as_slice()) {
            plan.run(ev, out);
            return;
        }
        let mut plan = Plan::default();
        layout(ev, &mut self.order, &mut self.open, &mut plan);
        plan.ops.push((plan.lits.len() as u32, NO_FIELD));
        plan.run(ev, out);
        if self.plans.len() < MAX_PLANS {
            self.plans.insert(self.shape.as_slice().into(), plan);
        }
    }
}

/// Lays out the fields of `ev` as nested JSON members after `@timestamp`, closing the object.
fn layout(ev: &Event, order: &mut Vec<usize>, open: &mut Vec<usize>, emit: &mut impl Emit) {
    let fields = ev.fields();
    order.clear();
    order.extend((0..fields.len()).filter(|&i| fields[i].0 != Key::Id(known::TIMESTAMP)));
    order.sort_by(|&a, &b| path_cmp(ev.key_name(fields[a].0), ev.key_name(fields[b].0)).then(a.cmp(&b)));

    // `open` holds the byte offsets (in `owner`) of the dots that end each open object's path.
    open.clear();
    let mut owner: &str = "";
    let mut prev: Option<&str> = None;
    let mut blocker: Option<&str> = None;
    let mut first = false;
    for &i in order.iter() {
        let name = ev.key_name(fields[i].0);
        if prev == Some(name) {
            continue; // a repeated name keeps its first value, so keys stay unique
        }
        prev = Some(name);
        let under = |leaf: &str| name.len() > leaf.len() && name.starts_with(leaf) && name.as_bytes()[leaf.len()] == b'.';
        if blocker.is_some_and(|leaf| !under(leaf)) {
            blocker = None;
        }
        // Objects may be opened only up to the dot before the key; under a leaf of the same
        // prefix, only up to that leaf's parent, and the rest becomes a literal dotted key.
        let limit = match blocker {
            Some(leaf) => leaf.rfind('.'),
            None => name.rfind('.'),
        };
        while let Some(&end) = open.last() {
            let keep = limit.is_some_and(|l| end <= l) && name.as_bytes().get(end) == Some(&b'.') && name.as_bytes()[..end] == owner.as_bytes()[..end];
            if keep {
                break;
            }
            open.pop();
            emit.lit(b"}");
            first = false;
        }
        let mut base = open.last().map_or(0, |&e| e + 1);
        if let Some(limit) = limit {
            while base <= limit {
                let Some(dot) = name[base..=limit].find('.') else { break };
                let end = base + dot;
                if !first {
                    emit.lit(b",");
                }
                emit.key(&name[base..end]);
                emit.lit(b":{");
                first = true;
                open.push(end);
                base = end + 1;
            }
        }
        if !first {
            emit.lit(b",");
        }
        first = false;
        emit.key(&name[base..]);
        emit.lit(b":");
        emit.value(i);
        owner = name;
        if blocker.is_none() {
            blocker = Some(name);
        }
    }
    for _ in open.drain(..) {
        emit.lit(b"}");
    }
    emit.lit(b"}");
}

/// Encodes one event as a JSON string (convenience for tests and small tools).
pub fn to_json_string(ev: &Event) -> String {
    let mut out = Vec::new();
    EcsWriter::new().write_event(ev, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::field;
    use proptest::prelude::any;

    #[test]
    fn nests_and_orders() {
        let mut ev = Event::at(1_526_601_692_365);
        ev.push_str(known::USER_NAME, "root");
        ev.push(known::SOURCE_PORT, Value::Int(22));
        ev.push(known::SOURCE_IP, Value::Ip("10.0.0.1".parse().unwrap()));
        ev.push_str(known::MESSAGE, "a \"quoted\"\nline");
        let cat = ev.alloc_list(&[Value::Sym("authentication")]);
        ev.push(known::EVENT_CATEGORY, cat);
        let json = to_json_string(&ev);
        assert_eq!(
            json,
            r#"{"@timestamp":"2018-05-18T00:01:32.365Z","event":{"category":["authentication"]},"message":"a \"quoted\"\nline","source":{"ip":"10.0.0.1","port":22},"user":{"name":"root"}}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["source"]["port"], 22);
    }

    #[test]
    fn leaf_and_prefix_conflict_stays_valid() {
        let mut ev = Event::default();
        let a = field::intern("conflict").unwrap();
        let ab = field::intern("conflict.b").unwrap();
        let ac = field::intern("conflict-c").unwrap();
        ev.push(ab, Value::Int(2));
        ev.push(a, Value::Int(1));
        ev.push(ac, Value::Int(3));
        ev.push(a, Value::Int(9));
        let json = to_json_string(&ev);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["conflict"], 1);
        assert_eq!(parsed["conflict.b"], 2);
        assert_eq!(parsed["conflict-c"], 3);
    }

    #[test]
    fn deep_nesting_closes_correctly() {
        let mut ev = Event::default();
        for (name, v) in [("a.b.c", 1), ("a.b.d", 2), ("a.e", 3), ("f", 4), ("a.b.c.x", 5)] {
            ev.push(field::intern(name).unwrap(), Value::Int(v));
        }
        let json = to_json_string(&ev);
        let parsed: serde_json::Value = serde_json::from_str(&json).expect(&json);
        assert_eq!(parsed["a"]["b"]["c"], 1);
        assert_eq!(parsed["a"]["b"]["d"], 2);
        assert_eq!(parsed["a"]["e"], 3);
        assert_eq!(parsed["f"], 4);
        assert_eq!(parsed["a"]["b"]["c.x"], 5);
    }

    proptest::proptest! {
        #[test]
        fn strings_round_trip_through_json(text in ".*", raw in proptest::collection::vec(0u8..0x80, 0..40)) {
            let ascii = String::from_utf8(raw).unwrap();
            for s in [text.as_str(), ascii.as_str()] {
                let mut out = Vec::new();
                write_json_str(&mut out, s);
                let back: String = serde_json::from_slice(&out).unwrap();
                proptest::prop_assert_eq!(back, s);
            }
        }

        #[test]
        fn cached_plans_write_what_the_direct_layout_writes(
            names in proptest::collection::vec("[a-c]{1,2}(\\.[a-c]{1,2}){0,2}", 1..8),
            values in proptest::collection::vec(any::<i64>(), 8),
        ) {
            let mut ev = Event::at(1_000);
            for (i, name) in names.iter().enumerate() {
                ev.push(field::intern(name).unwrap(), Value::Int(values[i]));
            }
            let mut direct = Vec::new();
            let (mut order, mut open) = (Vec::new(), Vec::new());
            direct.extend_from_slice(b"{\"@timestamp\":\"1970-01-01T00:00:01.000Z\"");
            layout(&ev, &mut order, &mut open, &mut Direct { ev: &ev, out: &mut direct });
            let mut writer = EcsWriter::new();
            let (mut first, mut second) = (Vec::new(), Vec::new());
            writer.write_event(&ev, &mut first);
            writer.write_event(&ev, &mut second);
            proptest::prop_assert_eq!(&first, &direct);
            proptest::prop_assert_eq!(&second, &direct);
            let parsed: serde_json::Value = serde_json::from_slice(&first).unwrap();
            proptest::prop_assert!(parsed.is_object());
        }
    }
}
