//! A small YAML tree that remembers the line of every node, built from `saphyr-parser` events.
//!
//! Scalars keep their text and whether they were written plain (unquoted), so the rule compiler
//! decides their type (null, bool, number, string) itself, the way Sigma needs it: `'4688'` is a
//! string, `4688` a number, `null` and `~` are null only when unquoted. Anchors and aliases are
//! resolved by copying the anchored node.
//!
//! Rule files come from outside, so the loader bounds what a file can make it build: its size
//! ([`MAX_BYTES`]), the nesting of collections ([`MAX_DEPTH`]) and the nodes built, each alias
//! counting every node it copies ([`MAX_NODES`]: eight levels of ten nested aliases, a
//! "billion laughs" file, would copy 10^8 nodes). The parser itself keeps its own stack, not the
//! thread's.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// One YAML node with the 1-based line where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Line (1-based) of the node's first character.
    pub line: usize,
    /// What the node holds.
    pub kind: NodeKind,
}

/// The content of a [`Node`].
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A scalar: its text and whether it was written unquoted (plain).
    Scalar {
        /// The scalar's text after YAML unescaping.
        text: String,
        /// True for plain (unquoted, non-block) scalars, whose type depends on their text.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

/// A scalar's type under the YAML 1.2 core schema, for plain scalars.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar<'a> {
    /// `null`, `~`, or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer or float, with its source text.
    Number(f64, &'a str),
    /// Anything else, and every quoted scalar.
    Str(&'a str),
}

impl Node {
    /// The scalar text when the node is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The typed scalar, or `None` for sequences and mappings.
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let NodeKind::Scalar { text, plain } = &self.kind else { return None };
        if !plain {
            return Some(Scalar::Str(text));
        }
        Some(match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
            "true" | "True" | "TRUE" => Scalar::Bool(true),
            "false" | "False" | "FALSE" => Scalar::Bool(false),
            t => match parse_number(t) {
                Some(n) => Scalar::Number(n, t),
                None => Scalar::Str(t),
            },
        })
    }

    /// Looks a key up in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// A short word for the node's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

fn parse_number(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let first = *b.first()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return None;
    }
    if let Some(hex) = t.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    if let Some(oct) = t.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(|v| v as f64);
    }
    if t.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')) {
        return t.parse::<f64>().ok().filter(|v| v.is_finite());
    }
    None
}

/// The largest YAML text loaded, in bytes.
pub const MAX_BYTES: usize = 16 << 20;
/// The deepest nesting of sequences and mappings.
pub const MAX_DEPTH: usize = 64;
/// The most nodes one text may build, aliases counting every node they copy.
pub const MAX_NODES: usize = 1_000_000;

/// A YAML syntax error with its line.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

/// A collection being built, with the nodes it holds so far (itself included).
enum Frame {
    Seq { line: usize, anchor: usize, items: Vec<Node>, size: usize },
    Map { line: usize, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node>, size: usize },
}

/// Parses every document of a YAML stream; empty documents are skipped. Refuses a text over
/// [`MAX_BYTES`], collections nested deeper than [`MAX_DEPTH`] and more than [`MAX_NODES`] nodes.
pub fn load_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    if text.len() > MAX_BYTES {
        return Err(YamlError { line: 1, message: format!("the text is {} bytes; at most {MAX_BYTES} are loaded", text.len()) });
    }
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    // Anchored nodes, each with the number of nodes it holds.
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut built = 0usize;
    let mut count = |line: usize, n: usize| -> Result<(), YamlError> {
        built = built.saturating_add(n);
        if built > MAX_NODES {
            return Err(YamlError {
                line,
                message: format!(
                    "more than {MAX_NODES} nodes, aliases counting every node they copy (aliases nested to multiply, as in a \"billion laughs\" file?)"
                ),
            });
        }
        Ok(())
    };
    for item in Parser::new_from_str(text) {
        let (event, span): (Event, Span) = item.map_err(|e| YamlError { line: e.marker().line(), message: e.info().to_string() })?;
        let line = span.start.line();
        // The finished node and the nodes it holds.
        let finished: Option<(Node, usize)> = match event {
            Event::Scalar(value, style, anchor, _tag) => {
                count(line, 1)?;
                let plain = matches!(style, ScalarStyle::Plain);
                let node = Node { line, kind: NodeKind::Scalar { text: value.into_owned(), plain } };
                if anchor > 0 {
                    anchors.insert(anchor, (node.clone(), 1));
                }
                Some((node, 1))
            }
            Event::Alias(id) => {
                let (node, size) = anchors.get(&id).ok_or_else(|| YamlError { line, message: "unknown alias".into() })?;
                // Counted before the copy is made: the copies are what a bomb multiplies.
                count(line, *size)?;
                Some((node.clone(), *size))
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(YamlError { line, message: format!("collections nested deeper than {MAX_DEPTH} levels") });
            }
            Event::SequenceStart(anchor, _) => {
                count(line, 1)?;
                stack.push(Frame::Seq { line, anchor, items: Vec::new(), size: 1 });
                None
            }
            Event::MappingStart(anchor, _) => {
                count(line, 1)?;
                stack.push(Frame::Map { line, anchor, entries: Vec::new(), key: None, size: 1 });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, size) = match stack.pop() {
                    Some(Frame::Seq { line, anchor, items, size }) => (Node { line, kind: NodeKind::Seq(items) }, anchor, size),
                    Some(Frame::Map { line, anchor, entries, size, .. }) => (Node { line, kind: NodeKind::Map(entries) }, anchor, size),
                    None => return Err(YamlError { line, message: "unbalanced collection end".into() }),
                };
                if anchor > 0 {
                    anchors.insert(anchor, (node.clone(), size));
                }
                Some((node, size))
            }
            Event::DocumentStart(_) => {
                anchors.clear();
                None
            }
            _ => None,
        };
        let Some((node, held)) = finished else { continue };
        match stack.last_mut() {
            None => {
                if !matches!(&node.kind, NodeKind::Scalar { text, plain: true } if text.is_empty()) {
                    docs.push(node);
                }
            }
            Some(Frame::Seq { items, size, .. }) => {
                *size += held;
                items.push(node);
            }
            Some(Frame::Map { entries, key, size, .. }) => {
                *size += held;
                match key.take() {
                    None => {
                        if entries.iter().any(|(k, _)| k.kind == node.kind) {
                            return Err(YamlError { line: node.line, message: format!("duplicate key {}", display_key(&node)) });
                        }
                        *key = Some(node);
                    }
                    Some(k) => entries.push((k, node)),
                }
            }
        }
    }
    Ok(docs)
}

fn display_key(node: &Node) -> String {
    match node.as_str() {
        Some(s) => format!("{s:?}"),
        None => node.kind_name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_types_and_documents() {
        let docs = load_documents("a: 1\nb:\n  - 'x'\n  - null\n---\nc: &x {d: true}\ne: *x\n").unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[0].get("b").unwrap();
        assert_eq!(b.line, 3);
        let NodeKind::Seq(items) = &b.kind else { panic!() };
        assert_eq!(items[0].scalar(), Some(Scalar::Str("x")));
        assert_eq!(items[1].scalar(), Some(Scalar::Null));
        assert_eq!(docs[0].get("a").unwrap().scalar(), Some(Scalar::Number(1.0, "1")));
        assert_eq!(docs[1].get("e").unwrap().get("d").unwrap().scalar(), Some(Scalar::Bool(true)));
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_lines() {
        let err = load_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(load_documents("a: [1,\n").is_err());
    }

    #[test]
    fn aliases_that_multiply_are_refused_before_they_are_copied() {
        // Eight levels of ten aliases each: 10^8 copies of the first.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=8 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let started = std::time::Instant::now();
        let err = load_documents(&text).unwrap_err();
        assert!(err.message.contains("billion laughs") && (6..=10).contains(&err.line), "{err:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused before copying: {:?}", started.elapsed());
        // A few levels are fine: a rule may reuse a list.
        assert!(load_documents("l: &l [a, b]\nm: [*l, *l]\n").is_ok());
    }

    #[test]
    fn deep_nesting_and_huge_texts_are_refused() {
        // Deep flow collections the parser refuses itself; block ones this loader.
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let err = load_documents(&deep).unwrap_err();
        assert!(err.message.contains("recursion limit") || err.message.contains("nested deeper"), "{err:?}");
        let nested_maps: String = (0..70).map(|i| format!("{}k{i}:\n", "  ".repeat(i))).collect::<String>() + &"  ".repeat(70) + "v\n";
        assert!(load_documents(&nested_maps).unwrap_err().message.contains("nested deeper"));
        let big = "x: ".to_string() + &"y".repeat(MAX_BYTES);
        assert!(load_documents(&big).unwrap_err().message.contains("at most"));
    }
}
