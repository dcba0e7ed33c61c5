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
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
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

/// Reusable scratch space for [`EcsWriter::write_event`], so encoding allocates nothing per event.
#[derive(Default)]
pub struct EcsWriter {
    order: Vec<usize>,
    open: Vec<usize>,
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
        let fields = ev.fields();
        self.order.clear();
        self.order.extend((0..fields.len()).filter(|&i| fields[i].0 != Key::Id(known::TIMESTAMP)));
        self.order.sort_by(|&a, &b| path_cmp(ev.key_name(fields[a].0), ev.key_name(fields[b].0)).then(a.cmp(&b)));

        // `open` holds the byte offsets (in `owner`) of the dots that end each open object's path.
        self.open.clear();
        let mut owner: &str = "";
        let mut prev: Option<&str> = None;
        let mut blocker: Option<&str> = None;
        let mut first = false;
        for &i in &self.order {
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
            while let Some(&end) = self.open.last() {
                let keep = limit.is_some_and(|l| end <= l) && name.as_bytes().get(end) == Some(&b'.') && name.as_bytes()[..end] == owner.as_bytes()[..end];
                if keep {
                    break;
                }
                self.open.pop();
                out.push(b'}');
                first = false;
            }
            let mut base = self.open.last().map_or(0, |&e| e + 1);
            if let Some(limit) = limit {
                while base <= limit {
                    let Some(dot) = name[base..=limit].find('.') else { break };
                    let end = base + dot;
                    if !first {
                        out.push(b',');
                    }
                    write_json_str(out, &name[base..end]);
                    out.extend_from_slice(b":{");
                    first = true;
                    self.open.push(end);
                    base = end + 1;
                }
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_str(out, &name[base..]);
            out.push(b':');
            write_value(ev, ev.resolve(&fields[i].1), out);
            owner = name;
            if blocker.is_none() {
                blocker = Some(name);
            }
        }
        for _ in self.open.drain(..) {
            out.push(b'}');
        }
        out.push(b'}');
    }
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
}
