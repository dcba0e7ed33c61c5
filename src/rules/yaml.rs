//! A small YAML tree that remembers the line of every node, built from `saphyr-parser` events.
//!
//! Scalars keep their text and whether they were written plain (unquoted), so the rule compiler
//! decides their type (null, bool, number, string) itself, the way Sigma needs it: `'4688'` is a
//! string, `4688` a number, `null` and `~` are null only when unquoted. Anchors and aliases are
//! resolved by copying the anchored node.

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

/// A YAML syntax error with its line.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

enum Frame {
    Seq { line: usize, anchor: usize, items: Vec<Node> },
    Map { line: usize, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

/// Parses every document of a YAML stream; empty documents are skipped.
pub fn load_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    for item in Parser::new_from_str(text) {
        let (event, span): (Event, Span) = item.map_err(|e| YamlError { line: e.marker().line(), message: e.info().to_string() })?;
        let line = span.start.line();
        let finished = match event {
            Event::Scalar(value, style, anchor, _tag) => {
                let plain = matches!(style, ScalarStyle::Plain);
                let node = Node { line, kind: NodeKind::Scalar { text: value.into_owned(), plain } };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                Some(node)
            }
            Event::Alias(id) => Some(anchors.get(&id).cloned().ok_or_else(|| YamlError { line, message: "unknown alias".into() })?),
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq { line, anchor, items: Vec::new() });
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map { line, anchor, entries: Vec::new(), key: None });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match stack.pop() {
                    Some(Frame::Seq { line, anchor, items }) => (Node { line, kind: NodeKind::Seq(items) }, anchor),
                    Some(Frame::Map { line, anchor, entries, .. }) => (Node { line, kind: NodeKind::Map(entries) }, anchor),
                    None => return Err(YamlError { line, message: "unbalanced collection end".into() }),
                };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                Some(node)
            }
            Event::DocumentStart(_) => {
                anchors.clear();
                None
            }
            _ => None,
        };
        let Some(node) = finished else { continue };
        match stack.last_mut() {
            None => {
                if !matches!(&node.kind, NodeKind::Scalar { text, plain: true } if text.is_empty()) {
                    docs.push(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if entries.iter().any(|(k, _)| k.kind == node.kind) {
                        return Err(YamlError { line: node.line, message: format!("duplicate key {}", display_key(&node)) });
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push((k, node)),
            },
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
}
