//! Compiles a Sigma `detection:` block into a matcher over [`Event`]s.
//!
//! - A selection that is a mapping is the AND of its fields; a list of mappings is their OR.
//! - A field's value list is an OR, or an AND with `|all`. `null` matches a missing or null field;
//!   `''` matches only a present empty string.
//! - A selection that is a list of strings (or a single string) is a *keyword* selection. A keyword
//!   matches when it occurs (case-insensitively, as a substring, unless a modifier such as
//!   `startswith` or `re` is given with a `'|mod'` key) in any string value of the event: `message`
//!   and every other string field, including string items of list fields. Numbers and addresses
//!   are not searched by keywords. A mapping key with an empty field name (`'|all':`, `'|re':`)
//!   is a keyword entry with modifiers.
//! - Field names resolve to [`FieldId`](crate::event::FieldId)s once, here; matching allocates nothing.
//! - `expand` placeholders (`%name%`) take their values from [`CompileOptions::placeholders`]; a
//!   placeholder without values makes that value never match and adds a warning (so SigmaHQ's
//!   `rules-placeholder` rules load, inert until configured).

use std::collections::HashMap;

use regex::RegexBuilder;

use super::condition::{self, Cond};
use super::modifiers::{compile_str, parse_sigma_str, transform, Modifiers};
use super::pattern::{FieldRef, Pat, PatSet, Pos};
use super::yaml::{Node, NodeKind, Scalar};
use crate::event::{Event, ValueRef};

/// Options for compiling detections.
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// Values of `%placeholder%`s (name without `%`) for the `expand` modifier; each value is a
    /// Sigma string (wildcards allowed), and the values are OR-ed.
    pub placeholders: HashMap<String, Vec<String>>,
}

/// A problem found while compiling, with the node's line and the path to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// Path such as `detection.selection.CommandLine|contains`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Clone, Debug)]
enum Target {
    Field(FieldRef),
    Keywords,
}

#[derive(Clone, Debug)]
enum Test {
    /// `exists: true/false`.
    Exists(bool),
    /// Values: one set per value with `all`, else a single set.
    Values { sets: Vec<PatSet>, all: bool },
}

#[derive(Clone, Debug)]
struct FieldTest {
    target: Target,
    test: Test,
    /// `neq`: the field is present and matches none of the values.
    neq: bool,
}

impl FieldTest {
    fn matches(&self, ev: &Event) -> bool {
        match &self.target {
            Target::Field(field) => {
                let value = field.get(ev);
                match &self.test {
                    Test::Exists(want) => value.is_some() == *want,
                    Test::Values { sets, all } => {
                        let Some(v) = value else {
                            return !self.neq && sets.iter().any(PatSet::has_null) && (!*all || sets.iter().all(PatSet::has_null));
                        };
                        let hit = if *all { sets.iter().all(|s| s.matches(ev, v)) } else { sets.iter().any(|s| s.matches(ev, v)) };
                        if self.neq {
                            !matches!(v, ValueRef::Null) && !hit
                        } else {
                            hit
                        }
                    }
                }
            }
            Target::Keywords => {
                let Test::Values { sets, all } = &self.test else { return false };
                let one = |s: &PatSet| {
                    ev.fields().iter().any(|(_, v)| match ev.resolve(v) {
                        ValueRef::Str(text) => s.matches_scalar(ev, ValueRef::Str(text)),
                        ValueRef::List(items) => {
                            items.iter().any(|item| matches!(ev.resolve(item), ValueRef::Str(t) if s.matches_scalar(ev, ValueRef::Str(t))))
                        }
                        _ => false,
                    })
                };
                if *all {
                    sets.iter().all(one)
                } else {
                    sets.iter().any(one)
                }
            }
        }
    }
}

impl FieldTest {
    /// See [`Detection::required`].
    fn required(&self) -> Option<Vec<Needle>> {
        if self.neq {
            return None;
        }
        let Test::Values { sets, all } = &self.test else { return None };
        let within = match &self.target {
            Target::Field(f) => Within::Field(f.id?),
            Target::Keywords => Within::AnyString,
        };
        // A missing field satisfies a set holding `null`, so such a set requires nothing; with
        // `all` every set must match, so any one set without `null` will do.
        if !*all && sets.iter().any(PatSet::has_null) {
            return None;
        }
        best(sets.iter().filter(|s| !s.has_null()).filter_map(PatSet::required).map(|texts| texts.into_iter().map(|text| Needle { within, text }).collect()))
    }
}

/// Where a required text must occur.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Within {
    /// In the text of this field's value (numbers and addresses as text, list items each).
    Field(crate::event::FieldId),
    /// In any string value of the event (keywords).
    AnyString,
}

/// A text some event value must contain (lowercased: the search ignores case).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Needle {
    /// Where.
    pub within: Within,
    /// The text, lowercased.
    pub text: Box<str>,
}

/// Of several requirements that all hold, the one that rules out most: the longest shortest
/// text (short texts occur everywhere), then the fewest texts. An empty one (never matches)
/// wins outright.
fn best(options: impl Iterator<Item = Vec<Needle>>) -> Option<Vec<Needle>> {
    let score = |n: &Vec<Needle>| (n.iter().map(|x| x.text.len()).min().unwrap_or(usize::MAX), std::cmp::Reverse(n.len()));
    options.max_by(|a, b| score(a).cmp(&score(b)))
}

/// The union of requirements of which one holds; `None` if any of them is `None`.
fn union(options: impl Iterator<Item = Option<Vec<Needle>>>) -> Option<Vec<Needle>> {
    let mut out = Vec::new();
    for o in options {
        out.extend(o?);
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// A search identifier: the OR of alternatives, each the AND of its field tests.
#[derive(Clone, Debug)]
struct Selection {
    alternatives: Vec<Vec<FieldTest>>,
}

impl Selection {
    fn matches(&self, ev: &Event) -> bool {
        self.alternatives.iter().any(|tests| tests.iter().all(|t| t.matches(ev)))
    }

    fn required(&self) -> Option<Vec<Needle>> {
        union(self.alternatives.iter().map(|tests| best(tests.iter().filter_map(FieldTest::required))))
    }
}

/// A compiled `detection:` block.
#[derive(Clone, Debug)]
pub struct Detection {
    names: Vec<String>,
    selections: Vec<Selection>,
    condition: Cond,
}

impl Detection {
    /// Whether the event satisfies the condition.
    pub fn matches(&self, ev: &Event) -> bool {
        self.eval(&self.condition, ev)
    }

    fn eval(&self, c: &Cond, ev: &Event) -> bool {
        match c {
            Cond::Sel(i) => self.selections[*i].matches(ev),
            Cond::Not(inner) => !self.eval(inner, ev),
            Cond::And(cs) => cs.iter().all(|c| self.eval(c, ev)),
            Cond::Or(cs) => cs.iter().any(|c| self.eval(c, ev)),
        }
    }

    /// Texts of which every event this detection matches contains at least one, each where
    /// it must occur; `None` when no such list can be told (a condition that holds through a
    /// `not`, a number, a regex). An empty list: the detection never matches. The rule index
    /// runs a detection only on events holding one of its texts.
    pub fn required(&self) -> Option<Vec<Needle>> {
        self.required_of(&self.condition)
    }

    fn required_of(&self, c: &Cond) -> Option<Vec<Needle>> {
        match c {
            Cond::Sel(i) => self.selections.get(*i)?.required(),
            Cond::Not(_) => None,
            Cond::And(cs) => best(cs.iter().filter_map(|c| self.required_of(c))),
            Cond::Or(cs) => union(cs.iter().map(|c| self.required_of(c))),
        }
    }

    /// The search identifiers, in definition order.
    pub fn selection_names(&self) -> &[String] {
        &self.names
    }

    /// Compiles a `detection:` node. Returns the detection or every problem found, plus warnings.
    pub fn compile(node: &Node, opts: &CompileOptions) -> (Result<Detection, Vec<Problem>>, Vec<Problem>) {
        let mut cx = Cx { opts, errors: Vec::new(), warnings: Vec::new() };
        let det = cx.detection(node);
        let warnings = std::mem::take(&mut cx.warnings);
        if cx.errors.is_empty() {
            match det {
                Some(d) => (Ok(d), warnings),
                None => (Err(vec![Problem { line: node.line, path: "detection".into(), message: "invalid detection".into() }]), warnings),
            }
        } else {
            (Err(cx.errors), warnings)
        }
    }
}

struct Cx<'o> {
    opts: &'o CompileOptions,
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Cx<'_> {
    fn err(&mut self, node: &Node, path: &str, message: impl Into<String>) {
        self.errors.push(Problem { line: node.line, path: path.to_string(), message: message.into() });
    }

    fn detection(&mut self, node: &Node) -> Option<Detection> {
        let Some(entries) = node.as_map() else {
            self.err(node, "detection", format!("must be a mapping, found {}", node.kind_name()));
            return None;
        };
        let mut names = Vec::new();
        let mut selections = Vec::new();
        let mut condition_node = None;
        for (k, v) in entries {
            let Some(name) = k.as_str() else {
                self.err(k, "detection", "keys must be strings");
                continue;
            };
            match name {
                "condition" => condition_node = Some(v),
                "timeframe" => self.err(k, "detection.timeframe", "timeframe in a detection is not supported; use a correlation rule"),
                _ => {
                    let path = format!("detection.{name}");
                    if let Some(sel) = self.selection(v, &path) {
                        names.push(name.to_string());
                        selections.push(sel);
                    } else {
                        // Keep indexes aligned so the condition still resolves; errors are recorded.
                        names.push(name.to_string());
                        selections.push(Selection { alternatives: Vec::new() });
                    }
                }
            }
        }
        if names.is_empty() {
            self.err(node, "detection", "no search identifiers defined");
        }
        let Some(cnode) = condition_node else {
            self.err(node, "detection.condition", "missing condition");
            return None;
        };
        let texts: Vec<(&Node, &str)> = match &cnode.kind {
            NodeKind::Scalar { text, .. } => vec![(cnode, text.as_str())],
            NodeKind::Seq(items) => items.iter().filter_map(|i| i.as_str().map(|s| (i, s))).collect(),
            NodeKind::Map(_) => Vec::new(),
        };
        if texts.is_empty() {
            self.err(cnode, "detection.condition", "must be a string or a list of strings");
            return None;
        }
        let mut conds = Vec::new();
        for (n, text) in texts {
            match condition::parse(text, &names) {
                Ok(c) => conds.push(c),
                Err(e) => self.err(n, "detection.condition", e),
            }
        }
        let condition = if conds.len() == 1 { conds.pop()? } else { Cond::Or(conds) };
        Some(Detection { names, selections, condition })
    }

    fn selection(&mut self, node: &Node, path: &str) -> Option<Selection> {
        match &node.kind {
            NodeKind::Map(entries) => {
                if entries.is_empty() {
                    self.err(node, path, "empty selection");
                    return None;
                }
                Some(Selection { alternatives: vec![self.map(entries, path)?] })
            }
            NodeKind::Seq(items) if items.is_empty() => {
                self.err(node, path, "empty selection");
                None
            }
            NodeKind::Seq(items) if items.iter().all(|i| matches!(i.kind, NodeKind::Map(_))) => {
                let mut alternatives = Vec::new();
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    let sub = format!("{path}[{i}]");
                    match item.as_map() {
                        Some([]) => {
                            self.err(item, &sub, "empty mapping");
                            ok = false;
                        }
                        Some(entries) => match self.map(entries, &sub) {
                            Some(tests) => alternatives.push(tests),
                            None => ok = false,
                        },
                        None => ok = false,
                    }
                }
                ok.then_some(Selection { alternatives })
            }
            NodeKind::Seq(items) if items.iter().all(|i| matches!(i.kind, NodeKind::Scalar { .. })) => {
                let test = self.field_test(None, &[], node, path)?;
                Some(Selection { alternatives: vec![vec![test]] })
            }
            NodeKind::Seq(_) => {
                self.err(node, path, "a list selection must hold only mappings or only values");
                None
            }
            NodeKind::Scalar { .. } => {
                let test = self.field_test(None, &[], node, path)?;
                Some(Selection { alternatives: vec![vec![test]] })
            }
        }
    }

    fn map(&mut self, entries: &[(Node, Node)], path: &str) -> Option<Vec<FieldTest>> {
        let mut tests = Vec::new();
        let mut ok = true;
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.err(k, path, "field names must be strings");
                ok = false;
                continue;
            };
            let sub = format!("{path}.{key}");
            let mut parts = key.split('|');
            let field = parts.next().unwrap_or("");
            let mods: Vec<&str> = parts.collect();
            let target = if field.is_empty() { None } else { Some(field) };
            match self.field_test(target, &mods, v, &sub) {
                Some(t) => tests.push(t),
                None => ok = false,
            }
        }
        ok.then_some(tests)
    }

    fn field_test(&mut self, field: Option<&str>, mods: &[&str], node: &Node, path: &str) -> Option<FieldTest> {
        let m = match Modifiers::parse(mods) {
            Ok(m) => m,
            Err(e) => {
                self.err(node, path, e);
                return None;
            }
        };
        let values: Vec<&Node> = match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Scalar { .. } => vec![node],
            NodeKind::Map(_) => {
                self.err(node, path, "a field value must be a value or a list of values, not a mapping");
                return None;
            }
        };
        if values.is_empty() {
            self.err(node, path, "empty value list");
            return None;
        }
        let target = match field {
            Some(f) => Target::Field(FieldRef::new(f)),
            None => Target::Keywords,
        };
        if m.exists {
            if field.is_none() {
                self.err(node, path, "exists needs a field name");
                return None;
            }
            return match (values.as_slice(), node.scalar()) {
                ([_], Some(Scalar::Bool(b))) => Some(FieldTest { target, test: Test::Exists(b), neq: false }),
                _ => {
                    self.err(node, path, "exists takes a single true or false");
                    None
                }
            };
        }
        let keyword = matches!(target, Target::Keywords);
        let mut groups: Vec<Vec<Pat>> = Vec::new();
        let mut ok = true;
        for v in values {
            match self.value(v, &m, keyword, path) {
                Some(pats) => groups.push(pats),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let sets: Vec<PatSet> = if m.all { groups.into_iter().map(PatSet::new).collect() } else { vec![PatSet::new(groups.into_iter().flatten().collect())] };
        Some(FieldTest { target, test: Test::Values { sets, all: m.all }, neq: m.neq })
    }

    /// Compiles one value into its alternatives.
    fn value(&mut self, node: &Node, m: &Modifiers, keyword: bool, path: &str) -> Option<Vec<Pat>> {
        let Some(scalar) = node.scalar() else {
            self.err(node, path, format!("expected a value, found {}", node.kind_name()));
            return None;
        };
        if let Some(op) = m.cmp {
            // Finite numbers only: `inf` and `NaN` parse as f64 but are words, and `gt: inf`
            // would silently never match (or `lt: inf` match every number).
            let operand = match scalar {
                Scalar::Number(n, _) => Some(n),
                Scalar::Str(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            return match operand.filter(|n| n.is_finite()) {
                Some(n) => Some(vec![Pat::Cmp(op, n)]),
                None => {
                    self.err(node, path, "lt/lte/gt/gte need a number");
                    None
                }
            };
        }
        let text: &str = match scalar {
            Scalar::Null if m.transforms.is_empty() && m.re.is_none() && !m.cidr && !m.fieldref => {
                if keyword {
                    self.err(node, path, "null is not a keyword");
                    return None;
                }
                return Some(vec![Pat::Null]);
            }
            Scalar::Null => {
                self.err(node, path, "null cannot take this modifier");
                return None;
            }
            Scalar::Bool(b) if m.transforms.is_empty() && m.re.is_none() && !m.cidr && !m.fieldref && !keyword => return Some(vec![Pat::Bool(b)]),
            Scalar::Number(n, t) if m.transforms.is_empty() && m.re.is_none() && !m.cidr && !m.fieldref && !keyword => {
                let exact = t.parse::<i64>().ok().or_else(|| t.strip_prefix("0x").and_then(|h| i64::from_str_radix(h, 16).ok()));
                return Some(vec![Pat::Num(n, exact.or((n.fract() == 0.0 && n.abs() < 9.0e15).then_some(n as i64)), t.into())]);
            }
            Scalar::Bool(_) | Scalar::Number(..) | Scalar::Str(_) => node.as_str().unwrap_or(""),
        };
        if let Some(flags) = m.re {
            return match RegexBuilder::new(text).case_insensitive(flags.insensitive).multi_line(flags.multi_line).dot_matches_new_line(flags.dot_all).build() {
                Ok(re) => Some(vec![Pat::Re(re)]),
                Err(e) => {
                    self.err(node, path, format!("invalid regular expression: {}", e.to_string().lines().last().unwrap_or("")));
                    None
                }
            };
        }
        if m.cidr {
            return match super::pattern::Cidr::parse(text) {
                Ok(c) => Some(vec![Pat::Cidr(c)]),
                Err(e) => {
                    self.err(node, path, e);
                    None
                }
            };
        }
        if m.fieldref {
            // A field reference names one field (pySigma rejects wildcards here too): with a
            // wildcard it would look up a field literally named `Parent*` and never match.
            if parse_sigma_str(text).iter().any(|t| !matches!(t, super::modifiers::Tok::Lit(_))) {
                self.err(node, path, "fieldref takes a field name, not a pattern with wildcards");
                return None;
            }
            let pos = match m.transforms.first() {
                Some(super::modifiers::Transform::Position(p)) => *p,
                _ => Pos::Exact,
            };
            return Some(vec![Pat::FieldRef { other: FieldRef::new(text), pos, cased: m.cased }]);
        }
        let raws: Vec<String> = if m.expand {
            match self.expand(text, node, path) {
                Some(r) => r,
                None => return Some(vec![Pat::Never]),
            }
        } else {
            vec![text.to_string()]
        };
        let mut pats = Vec::new();
        for raw in raws {
            let mut parsed = parse_sigma_str(&raw);
            if keyword && !m.transforms.iter().any(|t| matches!(t, super::modifiers::Transform::Position(_))) {
                parsed.insert(0, super::modifiers::Tok::Star);
                parsed.push(super::modifiers::Tok::Star);
            }
            let (alts, cased) = match transform(parsed, m) {
                Ok(x) => x,
                Err(e) => {
                    self.err(node, path, e);
                    return None;
                }
            };
            for alt in alts {
                match compile_str(alt, cased) {
                    Ok(p) => pats.push(Pat::Str(p)),
                    Err(e) => {
                        self.err(node, path, e);
                        return None;
                    }
                }
            }
        }
        Some(pats)
    }

    /// Expands `%name%` placeholders (`\%` is a plain `%`); `None` when one has no values.
    fn expand(&mut self, text: &str, node: &Node, path: &str) -> Option<Vec<String>> {
        let mut outs = vec![String::new()];
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("\\%") {
                outs.iter_mut().for_each(|o| o.push('%'));
                rest = after;
                continue;
            }
            if let Some(after) = rest.strip_prefix('%') {
                if let Some(end) = after.find('%') {
                    let name = &after[..end];
                    match self.opts.placeholders.get(name).filter(|v| !v.is_empty()) {
                        Some(values) => {
                            outs = outs.iter().flat_map(|o| values.iter().map(move |v| format!("{o}{v}"))).collect();
                        }
                        None => {
                            self.warnings.push(Problem {
                                line: node.line,
                                path: path.to_string(),
                                message: format!("placeholder %{name}% has no values; this value never matches"),
                            });
                            return None;
                        }
                    }
                    rest = &after[end + 1..];
                    continue;
                }
            }
            let c = rest.chars().next()?;
            outs.iter_mut().for_each(|o| o.push(c));
            rest = &rest[c.len_utf8()..];
        }
        Some(outs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::yaml::load_documents;

    fn compile(yaml: &str) -> Result<Detection, Vec<Problem>> {
        let docs = load_documents(yaml).expect("test YAML");
        Detection::compile(&docs[0], &CompileOptions::default()).0
    }

    fn first_error(yaml: &str) -> String {
        compile(yaml).err().and_then(|e| e.into_iter().next()).map(|p| p.message).unwrap_or_default()
    }

    #[test]
    fn comparison_operands_must_be_finite_numbers() {
        assert!(compile("sel: {F|gt: 10}\ncondition: sel").is_ok());
        assert!(compile("sel: {F|lte: ' 2.5 '}\ncondition: sel").is_ok());
        for bad in ["inf", "'-inf'", "NaN", "Infinity", "ten"] {
            assert_eq!(first_error(&format!("sel: {{F|gt: {bad}}}\ncondition: sel")), "lt/lte/gt/gte need a number", "{bad}");
        }
    }

    #[test]
    fn fieldref_takes_a_plain_field_name() {
        assert!(compile("sel: {A|fieldref: B}\ncondition: sel").is_ok());
        assert!(compile("sel: {A|fieldref|contains: process.parent.name}\ncondition: sel").is_ok());
        for bad in ["'B*'", "'?B'", "'a*b'"] {
            assert_eq!(
                first_error(&format!("sel: {{A|fieldref: {bad}}}\ncondition: sel")),
                "fieldref takes a field name, not a pattern with wildcards",
                "{bad}"
            );
        }
    }
}
