//! Sigma correlation rules (spec v2.1) parsed and validated into [`CorrelationSpec`]s, and their
//! `rules:` references resolved over a whole [`super::RuleSet`] ([`resolve`]).
//!
//! All seven types of the spec are read: `event_count`, `value_count`, `temporal`,
//! `temporal_ordered`, `value_sum`, `value_avg`, `value_percentile`, plus vigil's extensions
//! (see [`super::extensions`]: the `x-vigil:` block and the `x-vigil-absence` and
//! `x-vigil-baseline` types). Every error
//! names the file, the line and the field path (`correlation.condition.gte`, ...).
//!
//! # Decisions
//!
//! Where the spec, its JSON schema and its reference tools (pySigma) disagree, vigil decides:
//!
//! * **group-by is optional.** The spec calls it mandatory and then says it "optionally
//!   defines" fields; the schema requires it; pySigma accepts rules without it. vigil accepts a
//!   missing or empty `group-by` as one global group (every event in one group). When present it
//!   is a list of distinct field names (a single string is read as a one-item list).
//! * **Ranges.** The spec allows several operators in one condition, read as their conjunction
//!   (`gt: 100` and `lte: 200` is 101 to 200); pySigma accepts exactly one. vigil accepts ranges
//!   and rejects what is ambiguous or can never hold: `gt` with `gte`, `lt` with `lte`, `eq`
//!   with any other operator, and empty ranges (`gte: 20` with `lte: 10`, `gt: 5` with `lt: 6`
//!   on counts, `gte: 5, lte: 5, neq: 5`). An empty `condition:` is an error. On the counting
//!   types an upper bound below 1 (`eq: 0`, `lt: 1`, `lte: 0`) is rejected too: a window exists
//!   only where there are events (see [`crate::correlate`]), so it could never fire; "no B after
//!   A" is what the `x-vigil-absence` type is for.
//! * **Operands.** For the counting types (`event_count`, `value_count`, `temporal`,
//!   `temporal_ordered`) an operand is a non-negative integer (as in the schema); for
//!   `value_sum`, `value_avg` and `value_percentile` any finite number (the spec allows floats
//!   for `value_avg`).
//! * **temporal conditions.** `condition` is optional for `temporal` and defaults to
//!   `gte: <number of rules>` (all rules seen, pySigma's default); a lower bound above the number
//!   of rules is rejected (it can never hold). `temporal_ordered` always needs every rule in
//!   order: its condition may be left out, or be `gte: <number of rules>`; anything else is
//!   rejected. `temporal` and `temporal_ordered` need 2 to 64 rules.
//! * **field.** `field` sits inside `condition:` (as in the spec), is required for the four
//!   `value_*` types and rejected for the others. It is one field name: a list of fields (which
//!   the schema allows for `value_count`) is rejected as not supported.
//! * **Percentile.** The spec names no percentile; vigil uses 50 (the median, the spec's own
//!   hint) unless `x-vigil: {percentile: P}` says otherwise.
//! * **timespan** is a positive integer followed by one unit: `s`, `m`, `h`, `d` (the spec) or
//!   `w` (weeks, which pySigma also accepts). Milliseconds, months and years are rejected:
//!   `ms` is in neither the spec nor pySigma, and a month or a year has no fixed length.
//! * **generate** (a boolean) defaults to `false`. A rule (detection or correlation) that no
//!   correlation references always raises its own alerts. A rule referenced by correlations
//!   raises its own alerts only if at least one correlation that references it directly says
//!   `generate: true`; otherwise its matches only feed the correlations
//!   ([`Resolution::detection_emits`], [`Resolution::correlation_emits`]).
//! * **Unknown keys inside `correlation:` are errors** (a typo such as `groupby` would
//!   otherwise silently change what the rule means). Unknown top-level attributes are allowed
//!   (the spec permits custom attributes), except those starting with `x-vigil`, which must be
//!   exactly `x-vigil`, and `detection`/`logsource`, which make no sense beside `correlation`.
//! * **title** is optional (the spec's own `temporal` examples have none, the schema requires
//!   one): a correlation without a title gets a warning.
//! * **level**, when present, is one of `informational`, `low`, `medium`, `high`, `critical`.
//! * **References.** A `rules:` entry names a detection rule or a correlation rule by its `id`
//!   or its `name`, in any file of the rule set. It must match exactly one rule: none is an
//!   "unknown rule reference" error, several an "ambiguous" one. Entries of one `rules:` list
//!   must be distinct (a single string is read as a one-item list). Correlations may reference
//!   correlations (chains); a cycle is an error, and so is a correlation naming itself. References
//!   are resolved only when every file loaded without errors (a reference to a rule that failed to
//!   compile would be a second, misleading error); unknown references and cycles are then all
//!   reported in one run.
//! * **Aliases.** Each alias maps rules to fields; a rule is named exactly as it is written in
//!   `rules:` (by id or by name). An alias must give a field for every rule in `rules:` (an
//!   event's group key would otherwise be undefined) and may not name a rule outside `rules:`.
//!   An alias not used in `group-by` is a warning.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use vigil::rules::{CompileOptions, RuleSet};
//! use vigil::rules::correlation::{CorrelationKind, ResolvedRef};
//!
//! let text = "title: Failed login\nname: failed_login\nlogsource: {product: linux, service: auth}\n\
//!             detection:\n  sel:\n    event.outcome: failure\n  condition: sel\n---\n\
//!             title: Brute force\ncorrelation:\n  type: event_count\n  rules: [failed_login]\n\
//!             \x20 group-by: [source.ip]\n  timespan: 5m\n  condition: {gte: 20}\n";
//! let set = RuleSet::from_str(Path::new("inline.yml"), text, &CompileOptions::default()).unwrap();
//! let c = &set.correlation_specs[0];
//! assert_eq!(c.kind, CorrelationKind::EventCount);
//! assert_eq!(c.timespan_ms, 300_000);
//! assert_eq!(set.resolution.refs[0], vec![ResolvedRef::Detection(0)]);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::document::CorrelationDocument;
use super::extensions::{self, Extensions, ABSENCE_TYPE, BASELINE_TYPE, EXTENSION_KEY};
use super::spec::describe;
pub use super::spec::{parse_timespan, CorrelationKind};
use super::yaml::{Node, NodeKind, Scalar};
use super::{CompiledRule, RuleError};
use crate::correlate::aggregate::DEFAULT_PERCENTILE;
use crate::correlate::temporal::MAX_RULES;
use crate::correlate::Condition;

/// One entry of `rules:`, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    /// The id or name.
    pub text: String,
    /// Its line.
    pub line: usize,
}

/// A field-name alias: the same entity under a different field per referenced rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    /// The alias, usable in `group-by`.
    pub name: String,
    /// Rule reference (as written in `rules:`) -> field name in that rule's events.
    pub per_rule: BTreeMap<String, String>,
    /// Line of the alias.
    pub line: usize,
}

/// A parsed, validated correlation rule.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationSpec {
    /// `id`
    pub id: Option<String>,
    /// `name`
    pub name: Option<String>,
    /// `title`
    pub title: Option<String>,
    /// `description`
    pub description: Option<String>,
    /// `level`
    pub level: Option<String>,
    /// `tags`
    pub tags: Vec<String>,
    /// `correlation.type`
    pub kind: CorrelationKind,
    /// `correlation.rules`, in order (the order matters for `temporal_ordered` and absence).
    pub rules: Vec<RuleRef>,
    /// `correlation.group-by`: field names or alias names (empty: one global group).
    pub group_by: Vec<String>,
    /// `correlation.timespan` in milliseconds.
    pub timespan_ms: i64,
    /// `correlation.condition` (for `temporal` without one: `gte: <number of rules>`; for
    /// `temporal_ordered`: always `gte: <number of rules>`; for absence: empty).
    pub condition: Condition,
    /// `correlation.condition.field` (the `value_*` types).
    pub field: Option<String>,
    /// The percentile in effect for `value_percentile` (default 50), `None` for other types.
    pub percentile: Option<f64>,
    /// `correlation.aliases`
    pub aliases: Vec<Alias>,
    /// `generate` (default false).
    pub generate: bool,
    /// The `x-vigil:` block.
    pub extensions: Extensions,
    /// The file it came from.
    pub file: PathBuf,
    /// Line of the document.
    pub line: usize,
}

impl CorrelationSpec {
    /// The fields that make the group key of events of `rules[rule]`: each `group-by` entry,
    /// with aliases replaced by the field they map that rule to.
    pub fn group_fields(&self, rule: usize) -> Vec<&str> {
        let r = &self.rules[rule].text;
        self.group_by
            .iter()
            .map(|g| match self.aliases.iter().find(|a| &a.name == g) {
                Some(a) => a.per_rule.get(r).map(String::as_str).unwrap_or(g.as_str()),
                None => g.as_str(),
            })
            .collect()
    }

    /// A short name for messages: the name, the id, the title, or `file:line`.
    pub fn label(&self) -> String {
        self.name.clone().or_else(|| self.id.clone()).or_else(|| self.title.clone()).unwrap_or_else(|| format!("{}:{}", self.file.display(), self.line))
    }
}

const CORRELATION_KEYS: &str = "type, rules, group-by, timespan, condition, aliases";
const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

struct P<'a> {
    file: &'a Path,
    errors: Vec<RuleError>,
}

impl P<'_> {
    fn err(&mut self, line: usize, path: &str, msg: impl Into<String>) {
        self.errors.push(RuleError::new(self.file, line, path, msg));
    }

    fn string(&mut self, doc: &Node, key: &str) -> Option<String> {
        let v = doc.get(key)?;
        match v.scalar() {
            Some(Scalar::Null) => None,
            Some(_) => v.as_str().map(str::to_string),
            None => {
                self.err(v.line, key, format!("must be a string, found {}", v.kind_name()));
                None
            }
        }
    }

    fn strings(&mut self, v: &Node, path: &str) -> Vec<(String, usize)> {
        match &v.kind {
            NodeKind::Scalar { .. } if v.scalar() == Some(Scalar::Null) => Vec::new(),
            NodeKind::Scalar { text, .. } => vec![(text.clone(), v.line)],
            NodeKind::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, it)| match (it.scalar(), it.as_str()) {
                    (Some(Scalar::Null), _) | (_, None) => {
                        self.err(
                            it.line,
                            &format!("{path}[{i}]"),
                            format!("must be a string, found {}", if it.as_str().is_some() { "null" } else { it.kind_name() }),
                        );
                        None
                    }
                    (_, Some(s)) => Some((s.to_string(), it.line)),
                })
                .collect(),
            NodeKind::Map(_) => {
                self.err(v.line, path, "must be a list of strings, found a mapping");
                Vec::new()
            }
        }
    }
}

/// Parses and validates one correlation document. Warnings (no title, unused alias) are appended
/// to `warnings`.
pub fn parse(doc: &CorrelationDocument, warnings: &mut Vec<RuleError>) -> Result<CorrelationSpec, Vec<RuleError>> {
    let file = doc.file.as_path();
    let node = &doc.node;
    let mut p = P { file, errors: Vec::new() };
    let (title, id, name) = (p.string(node, "title"), p.string(node, "id"), p.string(node, "name"));
    let description = p.string(node, "description");
    let level = p.string(node, "level");
    if let (Some(l), Some(v)) = (&level, node.get("level")) {
        if !LEVELS.contains(&l.as_str()) {
            p.err(v.line, "level", format!("must be one of {}, found {l:?}", LEVELS.join(", ")));
        }
    }
    let tags = node.get("tags").map(|t| p.strings(t, "tags").into_iter().map(|(s, _)| s).collect()).unwrap_or_default();
    if title.is_none() {
        warnings.push(RuleError::new(file, doc.line, "title", "a correlation rule should have a title"));
    }
    let generate = match node.get("generate") {
        None => false,
        Some(v) => match v.scalar() {
            Some(Scalar::Bool(b)) => b,
            _ => {
                p.err(v.line, "generate", format!("must be true or false, found {}", describe(v)));
                false
            }
        },
    };
    for (k, _) in node.as_map().unwrap_or(&[]) {
        let key = k.as_str().unwrap_or("");
        if key.starts_with("x-vigil") && key != EXTENSION_KEY {
            p.err(k.line, key, format!("unknown vigil extension attribute (extensions go inside {EXTENSION_KEY}:)"));
        } else if key == "detection" || key == "logsource" {
            p.err(k.line, key, "not allowed in a correlation rule (a document is either a detection or a correlation)");
        }
    }

    let corr = node.get("correlation").expect("a correlation document has a correlation key");
    let Some(entries) = corr.as_map() else {
        p.err(corr.line, "correlation", format!("must be a mapping, found {}", corr.kind_name()));
        return Err(p.errors);
    };
    for (k, _) in entries {
        let key = k.as_str().unwrap_or("");
        if !CORRELATION_KEYS.split(", ").any(|x| x == key) {
            let hint =
                if key == "generate" || key == "field" || key == EXTENSION_KEY { format!(" ({key} is not placed here: see the spec)") } else { String::new() };
            p.err(k.line, &format!("correlation.{key}"), format!("unknown key (expected {CORRELATION_KEYS}){hint}"));
        }
    }

    // type
    let kind = match corr.get("type") {
        None => {
            p.err(corr.line, "correlation.type", "missing required key");
            None
        }
        Some(v) => {
            let k = v.as_str().and_then(CorrelationKind::from_type);
            if k.is_none() {
                let all: Vec<_> = CorrelationKind::ALL.iter().map(|k| k.as_str()).collect();
                p.err(v.line, "correlation.type", format!("unknown correlation type {}: expected one of {}", describe(v), all.join(", ")));
            }
            k
        }
    };

    // rules
    let mut rules: Vec<RuleRef> = Vec::new();
    match corr.get("rules") {
        None => p.err(corr.line, "correlation.rules", "missing required key"),
        Some(v) => {
            for (text, line) in p.strings(v, "correlation.rules") {
                if rules.iter().any(|r| r.text == text) {
                    p.err(line, "correlation.rules", format!("{text:?} is listed twice"));
                } else {
                    rules.push(RuleRef { text, line });
                }
            }
            if rules.is_empty() && !matches!(v.kind, NodeKind::Map(_)) {
                p.err(v.line, "correlation.rules", "must name at least one rule");
            }
        }
    }
    let rules_line = corr.get("rules").map_or(corr.line, |v| v.line);
    match kind {
        Some(k @ (CorrelationKind::Temporal | CorrelationKind::TemporalOrdered)) if !rules.is_empty() && (rules.len() < 2 || rules.len() > MAX_RULES) => {
            p.err(rules_line, "correlation.rules", format!("{} needs 2 to {MAX_RULES} rules, found {}", k.as_str(), rules.len()))
        }
        Some(CorrelationKind::Absence) if !rules.is_empty() && rules.len() != 2 => p.err(
            rules_line,
            "correlation.rules",
            format!("{ABSENCE_TYPE} needs exactly 2 rules (the one that happens, then the one that must not follow), found {}", rules.len()),
        ),
        _ => {}
    }

    // group-by
    let mut group_by: Vec<String> = Vec::new();
    if let Some(v) = corr.get("group-by") {
        for (g, line) in p.strings(v, "correlation.group-by") {
            if group_by.contains(&g) {
                p.err(line, "correlation.group-by", format!("{g:?} is listed twice"));
            } else {
                group_by.push(g);
            }
        }
    }

    // timespan
    let timespan_ms = match corr.get("timespan") {
        None => {
            p.err(corr.line, "correlation.timespan", "missing required key");
            0
        }
        Some(v) => parse_timespan(v).unwrap_or_else(|m| {
            p.err(v.line, "correlation.timespan", m);
            0
        }),
    };

    // condition and field
    let (condition, field) = match kind {
        Some(k) => condition(&mut p, corr, k, rules.len()),
        None => (Condition::default(), None),
    };

    // aliases
    let mut aliases = Vec::new();
    if let Some(v) = corr.get("aliases") {
        match v.as_map() {
            None => p.err(v.line, "correlation.aliases", format!("must be a mapping of alias -> {{rule: field}}, found {}", v.kind_name())),
            Some(list) => {
                for (an, am) in list {
                    let alias_name = an.as_str().unwrap_or("").to_string();
                    let path = format!("correlation.aliases.{alias_name}");
                    let Some(m) = am.as_map() else {
                        p.err(am.line, &path, format!("must be a mapping of rule -> field, found {}", am.kind_name()));
                        continue;
                    };
                    let mut per_rule = BTreeMap::new();
                    for (rk, fv) in m {
                        let r = rk.as_str().unwrap_or("").to_string();
                        let fpath = format!("{path}.{r}");
                        if !rules.iter().any(|x| x.text == r) {
                            p.err(rk.line, &fpath, format!("{r:?} is not in correlation.rules"));
                            continue;
                        }
                        match (fv.scalar(), fv.as_str()) {
                            (Some(Scalar::Str(s)), _) if !s.is_empty() => {
                                per_rule.insert(r, s.to_string());
                            }
                            _ => p.err(fv.line, &fpath, format!("must be a field name, found {}", describe(fv))),
                        }
                    }
                    for r in &rules {
                        if !m.iter().any(|(k, _)| k.as_str() == Some(r.text.as_str())) {
                            p.err(am.line, &path, format!("gives no field for rule {:?} (an alias needs a field for every rule in correlation.rules)", r.text));
                        }
                    }
                    if !group_by.contains(&alias_name) {
                        warnings.push(RuleError::new(file, an.line, &path, "alias not used in correlation.group-by"));
                    }
                    aliases.push(Alias { name: alias_name, per_rule, line: an.line });
                }
            }
        }
    }

    // extensions
    let extensions = match node.get(EXTENSION_KEY) {
        Some(v) => extensions::parse(file, v, kind, timespan_ms, &mut p.errors),
        None => Extensions::default(),
    };
    if kind == Some(CorrelationKind::Baseline) && extensions.baseline.is_none() {
        let has_block = node.get(EXTENSION_KEY).and_then(|x| x.get("baseline")).is_some();
        if !has_block {
            let line = corr.get("type").map_or(corr.line, |v| v.line);
            p.err(
                line,
                "correlation.type",
                format!("{BASELINE_TYPE} needs an {EXTENSION_KEY}.baseline block (which baseline, which field, what deviation fires)"),
            );
        }
    }
    let percentile = (kind == Some(CorrelationKind::ValuePercentile)).then(|| extensions.percentile.unwrap_or(DEFAULT_PERCENTILE));

    match kind {
        Some(kind) if p.errors.is_empty() => Ok(CorrelationSpec {
            id,
            name,
            title,
            description,
            level,
            tags,
            kind,
            rules,
            group_by,
            timespan_ms,
            condition,
            field,
            percentile,
            aliases,
            generate,
            extensions,
            file: file.to_path_buf(),
            line: doc.line,
        }),
        _ => Err(p.errors),
    }
}

/// Reads `correlation.condition` for `kind` with `n_rules` rules.
fn condition(p: &mut P<'_>, corr: &Node, kind: CorrelationKind, n_rules: usize) -> (Condition, Option<String>) {
    const PATH: &str = "correlation.condition";
    let all_rules = Condition::gte(n_rules as f64);
    let Some(v) = corr.get("condition") else {
        match kind {
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => return (all_rules, None),
            CorrelationKind::Absence | CorrelationKind::Baseline => return (Condition::default(), None),
            _ => {
                p.err(corr.line, PATH, "missing required key");
                return (Condition::default(), None);
            }
        }
    };
    if kind == CorrelationKind::Absence {
        p.err(v.line, PATH, format!("not allowed on {ABSENCE_TYPE} (there is nothing to count)"));
        return (Condition::default(), None);
    }
    if kind == CorrelationKind::Baseline {
        p.err(v.line, PATH, format!("not allowed on {BASELINE_TYPE} (the deviation in {EXTENSION_KEY}.baseline decides)"));
        return (Condition::default(), None);
    }
    let Some(entries) = v.as_map() else {
        p.err(v.line, PATH, format!("must be a mapping like {{gte: 10}}, found {}", v.kind_name()));
        return (Condition::default(), None);
    };
    let mut c = Condition::default();
    let mut field = None;
    let mut field_line = None;
    let mut bad = false;
    for (k, val) in entries {
        let key = k.as_str().unwrap_or("");
        let path = format!("{PATH}.{key}");
        if key == "field" {
            field_line = Some(k.line);
            match (&val.kind, val.scalar()) {
                (NodeKind::Seq(_), _) => p.err(val.line, &path, "a list of fields is not supported: give one field"),
                (_, Some(Scalar::Str(s))) if !s.is_empty() => field = Some(s.to_string()),
                _ => p.err(val.line, &path, format!("must be a field name, found {}", describe(val))),
            }
            continue;
        }
        let slot = match key {
            "gt" => &mut c.gt,
            "gte" => &mut c.gte,
            "lt" => &mut c.lt,
            "lte" => &mut c.lte,
            "eq" => &mut c.eq,
            "neq" => &mut c.neq,
            _ => {
                p.err(k.line, &path, "unknown key (expected gt, gte, lt, lte, eq, neq or field)");
                bad = true;
                continue;
            }
        };
        match val.scalar() {
            Some(Scalar::Number(x, _)) if !kind.counts() || (x >= 0.0 && x.fract() == 0.0) => *slot = Some(x),
            _ => {
                bad = true;
                let want = if kind.counts() { "a non-negative integer" } else { "a number" };
                p.err(val.line, &path, format!("must be {want}, found {}", describe(val)));
            }
        }
    }
    if kind.needs_field() && field.is_none() && field_line.is_none() {
        p.err(v.line, &format!("{PATH}.field"), format!("missing: {} needs the field to aggregate", kind.as_str()));
    }
    if !kind.needs_field() {
        if let Some(l) = field_line {
            p.err(l, &format!("{PATH}.field"), format!("not allowed on {} (only value_count, value_sum, value_avg, value_percentile)", kind.as_str()));
        }
    }
    if bad {
        return (c, field);
    }
    let ops = [c.gt, c.gte, c.lt, c.lte, c.eq, c.neq].iter().filter(|x| x.is_some()).count();
    if ops == 0 {
        p.err(v.line, PATH, "needs at least one of gt, gte, lt, lte, eq, neq");
        return (c, field);
    }
    if c.gt.is_some() && c.gte.is_some() {
        p.err(v.line, PATH, "gt and gte together: give one lower bound");
    } else if c.lt.is_some() && c.lte.is_some() {
        p.err(v.line, PATH, "lt and lte together: give one upper bound");
    } else if c.eq.is_some() && ops > 1 {
        p.err(v.line, PATH, "eq cannot be combined with other operators");
    } else if range_is_empty(&c, kind.counts()) {
        p.err(v.line, PATH, "the range is empty: no value satisfies every operator");
    } else if kind.counts() && upper_bound(&c, true).is_some_and(|(h, _)| h < 1.0) {
        p.err(v.line, PATH, "can never hold: a window exists only where there are events, so every count is at least 1");
    } else if kind == CorrelationKind::TemporalOrdered && c != all_rules {
        p.err(v.line, PATH, format!("temporal_ordered needs every rule in order: leave the condition out or write gte: {n_rules}"));
    } else if kind == CorrelationKind::Temporal && lower_bound(&c, true).is_some_and(|(lo, _)| lo > n_rules as f64) {
        p.err(v.line, PATH, format!("can never hold: temporal counts at most {n_rules} distinct rules"));
    }
    (c, field)
}

/// The lower bound `(value, inclusive)`; for integers `gt: x` is `>= x + 1`.
fn lower_bound(c: &Condition, integer: bool) -> Option<(f64, bool)> {
    match (c.eq, c.gt, c.gte) {
        (Some(x), _, _) | (_, _, Some(x)) => Some((x, true)),
        (_, Some(x), _) if integer => Some((x.floor() + 1.0, true)),
        (_, Some(x), _) => Some((x, false)),
        _ => None,
    }
}

fn upper_bound(c: &Condition, integer: bool) -> Option<(f64, bool)> {
    match (c.eq, c.lt, c.lte) {
        (Some(x), _, _) | (_, _, Some(x)) => Some((x, true)),
        (_, Some(x), _) if integer => Some((x.ceil() - 1.0, true)),
        (_, Some(x), _) => Some((x, false)),
        _ => None,
    }
}

fn range_is_empty(c: &Condition, integer: bool) -> bool {
    let lo = lower_bound(c, integer);
    let hi = upper_bound(c, integer);
    if let Some((h, _)) = hi {
        if integer && h < 0.0 {
            return true; // counts are never negative
        }
    }
    match (lo, hi) {
        (Some((l, li)), Some((h, hi_inc))) => l > h || (l == h && (!li || !hi_inc || c.neq == Some(l))),
        _ => false,
    }
}

/// What a `rules:` entry resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResolvedRef {
    /// Index into [`super::RuleSet::rules`].
    Detection(u32),
    /// Index into [`super::RuleSet::correlation_specs`].
    Correlation(u32),
}

/// Correlation references resolved over a rule set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// For each correlation, what each of its `rules:` entries names (same order).
    pub refs: Vec<Vec<ResolvedRef>>,
    /// Correlation indexes, each after every correlation it references (dependencies first,
    /// otherwise in load order).
    pub order: Vec<u32>,
    /// For each detection rule, whether it raises alerts of its own (see `generate` in the
    /// module docs).
    pub detection_emits: Vec<bool>,
    /// For each correlation, whether it raises alerts of its own.
    pub correlation_emits: Vec<bool>,
}

/// Resolves every correlation's references by id or name over `detections` and
/// `correlations`, checks for unknown and ambiguous references and for cycles, and orders the
/// correlations.
pub fn resolve(detections: &[CompiledRule], correlations: &[CorrelationSpec]) -> Result<Resolution, Vec<RuleError>> {
    let keys = detections
        .iter()
        .enumerate()
        .flat_map(|(i, d)| [(d.id.as_deref(), ResolvedRef::Detection(i as u32)), (d.name.as_deref(), ResolvedRef::Detection(i as u32))])
        .chain(
            correlations
                .iter()
                .enumerate()
                .flat_map(|(i, c)| [(c.id.as_deref(), ResolvedRef::Correlation(i as u32)), (c.name.as_deref(), ResolvedRef::Correlation(i as u32))]),
        );
    let mut index: HashMap<&str, Vec<ResolvedRef>> = HashMap::new();
    for (key, r) in keys {
        if let Some(k) = key {
            let v = index.entry(k).or_default();
            if !v.contains(&r) {
                v.push(r);
            }
        }
    }
    let place = |r: &ResolvedRef| match *r {
        ResolvedRef::Detection(i) => format!("{}:{}", detections[i as usize].file.display(), detections[i as usize].line),
        ResolvedRef::Correlation(i) => format!("{}:{}", correlations[i as usize].file.display(), correlations[i as usize].line),
    };
    let mut errors = Vec::new();
    let mut refs = Vec::with_capacity(correlations.len());
    for (ci, c) in correlations.iter().enumerate() {
        let mut out = Vec::new();
        for r in &c.rules {
            match index.get(r.text.as_str()).map(Vec::as_slice) {
                None | Some([]) => errors.push(RuleError::new(
                    &c.file,
                    r.line,
                    "correlation.rules",
                    format!("unknown rule reference {:?}: no detection or correlation rule has this id or name", r.text),
                )),
                Some([one]) => {
                    if *one == ResolvedRef::Correlation(ci as u32) {
                        errors.push(RuleError::new(&c.file, r.line, "correlation.rules", format!("{:?} refers to this correlation itself (a cycle)", r.text)));
                    } else {
                        out.push(*one);
                    }
                }
                Some(many) => errors.push(RuleError::new(
                    &c.file,
                    r.line,
                    "correlation.rules",
                    format!("ambiguous rule reference {:?}: matches the rules at {}", r.text, many.iter().map(place).collect::<Vec<_>>().join(", ")),
                )),
            }
        }
        refs.push(out);
    }
    // Cycles are looked for among the references that resolved, so that one run reports both.
    // Topological order (Kahn), smallest index first among the ready ones.
    let n = correlations.len();
    let deps: Vec<Vec<usize>> = refs
        .iter()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| match r {
                    ResolvedRef::Correlation(j) => Some(*j as usize),
                    ResolvedRef::Detection(_) => None,
                })
                .collect()
        })
        .collect();
    let mut pending: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            users[d].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i as u32);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() < n {
        // Report one cycle per strongly stuck start: walk dependencies among the stuck nodes.
        let stuck: Vec<bool> = (0..n).map(|i| pending[i] > 0).collect();
        let mut reported = vec![false; n];
        for start in (0..n).filter(|&i| stuck[i]) {
            if reported[start] {
                continue;
            }
            let mut path = vec![start];
            let mut cur = start;
            loop {
                let next = deps[cur].iter().copied().find(|&d| stuck[d]).expect("a stuck correlation depends on a stuck one");
                if let Some(pos) = path.iter().position(|&x| x == next) {
                    let cycle = &path[pos..];
                    if cycle.iter().any(|&x| reported[x]) {
                        break;
                    }
                    for &x in cycle {
                        reported[x] = true;
                    }
                    let first = cycle[0];
                    let names: Vec<String> = cycle.iter().chain(std::iter::once(&first)).map(|&x| correlations[x].label()).collect();
                    let c = &correlations[first];
                    let line = c.rules.first().map_or(c.line, |r| r.line);
                    errors.push(RuleError::new(&c.file, line, "correlation.rules", format!("correlation rules form a cycle: {}", names.join(" -> "))));
                    break;
                }
                path.push(next);
                cur = next;
            }
            reported[start] = true;
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut detection_emits = vec![true; detections.len()];
    let mut correlation_emits = vec![true; n];
    let mut referenced_d = vec![false; detections.len()];
    let mut referenced_c = vec![false; n];
    let mut generated_d = vec![false; detections.len()];
    let mut generated_c = vec![false; n];
    for (ci, rs) in refs.iter().enumerate() {
        for r in rs {
            let (referenced, generated, i) = match *r {
                ResolvedRef::Detection(i) => (&mut referenced_d, &mut generated_d, i as usize),
                ResolvedRef::Correlation(i) => (&mut referenced_c, &mut generated_c, i as usize),
            };
            referenced[i] = true;
            generated[i] |= correlations[ci].generate;
        }
    }
    for i in 0..detections.len() {
        detection_emits[i] = !referenced_d[i] || generated_d[i];
    }
    for i in 0..n {
        correlation_emits[i] = !referenced_c[i] || generated_c[i];
    }
    Ok(Resolution { refs, order, detection_emits, correlation_emits })
}
