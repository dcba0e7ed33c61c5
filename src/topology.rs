//! Topologies: what to compute. A topology file names the rule files, the values of Sigma
//! `expand` placeholders, the sources with their formats and lateness, and the state limits.
//! Where to run it (brokers, hosts, state directory) is the run configuration's business
//! (`config/vigil.toml`), so one topology serves `vigil replay` on files and `vigil run` on Kafka.
//!
//! ```yaml
//! name: default
//! rules: [rules/]                 # files or folders, relative to this file
//! placeholders:                   # values for `|expand` placeholders (%admin_users%)
//!   admin_users: [root, admin]
//! time:
//!   lateness: 5s                  # default allowed lateness of every source
//!   idle_timeout: 30s             # a silent Kafka partition stops holding the watermark back
//! limits:
//!   evidence: 10                  # most evidence events per incident
//!   key_cap: 1000000              # most live groups per correlation per worker
//! sources:
//!   - name: auth                  # unique; names the source in metrics and dead letters
//!     format: syslog              # syslog | apache | zeek | json
//!     topic: logs.auth            # vigil run reads this topic
//!     path: ../logs/auth.log      # vigil replay reads this file when no FILE is given
//!     year: 2024                  # syslog: year of year-less timestamps
//!     lateness: 1m                # overrides time.lateness for this source
//!     time_field: ts              # json: field holding the event time
//! ```
//!
//! Loading is as strict as rule loading: every unknown key, wrong type, bad duration, unknown
//! format, duplicate source or missing rule path is reported, all at once, as
//! `file:line: field: message`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::event::time::parse_duration_ms;
use crate::parse::Format;
use crate::rules::yaml::{self, Node, NodeKind, Scalar};
use crate::rules::{CompileOptions, RuleError, RuleSet};

/// Default allowed lateness when a topology gives none.
pub const DEFAULT_LATENESS_MS: i64 = 5_000;
/// Default idle timeout of a source partition.
pub const DEFAULT_IDLE_TIMEOUT_MS: i64 = 30_000;
/// Default cap on evidence events per incident.
pub const DEFAULT_EVIDENCE: usize = 10;
/// Default cap on live groups per correlation per worker.
pub const DEFAULT_KEY_CAP: usize = 1_000_000;

/// A loaded and validated topology.
#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    /// The file it was read from.
    pub file: PathBuf,
    /// `name`
    pub name: String,
    /// Rule files and folders, resolved against the topology's folder.
    pub rules: Vec<PathBuf>,
    /// Values of `expand` placeholders, by name without `%`.
    pub placeholders: HashMap<String, Vec<String>>,
    /// Default allowed lateness in ms.
    pub lateness_ms: i64,
    /// Idle timeout of a source partition in ms.
    pub idle_timeout_ms: i64,
    /// Most evidence events per incident.
    pub evidence: usize,
    /// Most live groups per correlation per worker.
    pub key_cap: usize,
    /// The sources, in file order.
    pub sources: Vec<SourceDef>,
}

/// One source of a topology.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceDef {
    /// Unique name.
    pub name: String,
    /// Parser.
    pub format: Format,
    /// Kafka topic (`vigil run`).
    pub topic: Option<String>,
    /// File read by `vigil replay` when no FILE argument is given, resolved against the topology's folder.
    pub path: Option<PathBuf>,
    /// Year of year-less syslog timestamps.
    pub year: Option<i32>,
    /// Allowed lateness in ms, overriding the topology's default.
    pub lateness_ms: Option<i64>,
    /// JSON field holding the event time.
    pub time_field: Option<String>,
    /// Line of the source's entry, for messages.
    pub line: usize,
}

impl SourceDef {
    /// The lateness that applies to this source.
    pub fn effective_lateness_ms(&self, topology: &Topology) -> i64 {
        self.lateness_ms.unwrap_or(topology.lateness_ms)
    }
}

/// True when the YAML text's first document looks like a topology (has `sources` and no
/// `detection` or `correlation`), so `vigil check` can tell topologies from rules.
pub fn looks_like_topology(text: &str) -> bool {
    match yaml::load_documents(text) {
        Ok(docs) => docs.first().is_some_and(|d| d.get("sources").is_some() && d.get("detection").is_none() && d.get("correlation").is_none()),
        Err(_) => false,
    }
}

impl Topology {
    /// Reads and validates a topology file.
    pub fn load(path: &Path) -> Result<Topology, Vec<RuleError>> {
        let text = std::fs::read_to_string(path).map_err(|e| vec![RuleError::new(path, 0, "", format!("cannot read topology: {e}"))])?;
        Self::from_str(path, &text)
    }

    /// Parses a topology from text; `path` names it in errors and anchors relative paths.
    pub fn from_str(path: &Path, text: &str) -> Result<Topology, Vec<RuleError>> {
        let docs = yaml::load_documents(text).map_err(|e| vec![RuleError::new(path, e.line, "", format!("YAML syntax: {}", e.message))])?;
        let doc = match docs.as_slice() {
            [doc] => doc,
            [] => return Err(vec![RuleError::new(path, 1, "", "the topology file is empty")]),
            [_, second, ..] => return Err(vec![RuleError::new(path, second.line, "", "a topology file holds one YAML document")]),
        };
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut r = Reader { path, errors: Vec::new() };
        let topology = r.topology(doc, &base);
        if r.errors.is_empty() {
            Ok(topology)
        } else {
            Err(r.errors)
        }
    }

    /// Compile options carrying the topology's placeholder values.
    pub fn compile_options(&self) -> CompileOptions {
        CompileOptions { placeholders: self.placeholders.clone() }
    }

    /// Loads the topology's rules plus `extra` rule paths, with its placeholders.
    pub fn load_rules(&self, extra: &[PathBuf]) -> Result<RuleSet, Vec<RuleError>> {
        let mut paths = self.rules.clone();
        paths.extend(extra.iter().cloned());
        RuleSet::load(&paths, &self.compile_options())
    }

    /// The source with this name.
    pub fn source(&self, name: &str) -> Option<&SourceDef> {
        self.sources.iter().find(|s| s.name == name)
    }
}

struct Reader<'a> {
    path: &'a Path,
    errors: Vec<RuleError>,
}

const TOP_KEYS: &[&str] = &["name", "description", "rules", "placeholders", "time", "limits", "sources"];
const TIME_KEYS: &[&str] = &["lateness", "idle_timeout"];
const LIMIT_KEYS: &[&str] = &["evidence", "key_cap"];
const SOURCE_KEYS: &[&str] = &["name", "format", "topic", "path", "year", "lateness", "time_field", "description"];

impl Reader<'_> {
    fn err(&mut self, line: usize, field: &str, message: impl Into<String>) {
        self.errors.push(RuleError::new(self.path, line, field, message));
    }

    /// The mapping's entries, reporting keys outside `known`.
    fn entries<'n>(&mut self, node: &'n Node, field: &str, known: &[&str]) -> &'n [(Node, Node)] {
        let Some(entries) = node.as_map() else {
            self.err(node.line, field, format!("must be a mapping, found {}", node.kind_name()));
            return &[];
        };
        let mut seen = HashSet::new();
        for (k, _) in entries {
            let key = k.as_str().unwrap_or("");
            let at = join(field, key);
            if !known.contains(&key) {
                self.err(k.line, &at, format!("unknown key (expected one of: {})", known.join(", ")));
            } else if !seen.insert(key) {
                self.err(k.line, &at, "duplicate key");
            }
        }
        entries
    }

    fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match node.scalar() {
            Some(Scalar::Str(s)) if !s.trim().is_empty() => Some(s.to_string()),
            Some(Scalar::Number(_, t)) => Some(t.to_string()),
            _ => {
                self.err(node.line, field, format!("must be a non-empty string, found {}", describe(node)));
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, field: &str) -> Option<i64> {
        let text = self.string(node, field)?;
        match parse_duration_ms(&text) {
            Ok(ms) => Some(ms),
            Err(e) => {
                self.err(node.line, field, e);
                None
            }
        }
    }

    fn count(&mut self, node: &Node, field: &str, min: u64) -> Option<u64> {
        match node.scalar() {
            Some(Scalar::Number(v, _)) if v.fract() == 0.0 && v >= min as f64 && v <= u32::MAX as f64 * 1024.0 => Some(v as u64),
            _ => {
                self.err(node.line, field, format!("must be a whole number >= {min}, found {}", describe(node)));
                None
            }
        }
    }

    fn topology(&mut self, doc: &Node, base: &Path) -> Topology {
        let mut t = Topology {
            file: self.path.to_path_buf(),
            name: String::new(),
            rules: Vec::new(),
            placeholders: HashMap::new(),
            lateness_ms: DEFAULT_LATENESS_MS,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            evidence: DEFAULT_EVIDENCE,
            key_cap: DEFAULT_KEY_CAP,
            sources: Vec::new(),
        };
        let entries = self.entries(doc, "", TOP_KEYS);
        for (k, v) in entries {
            let key = k.as_str().unwrap_or("");
            match key {
                "name" => t.name = self.string(v, key).unwrap_or_default(),
                "description" => {
                    self.string(v, key);
                }
                "rules" => t.rules = self.rule_paths(v, base),
                "placeholders" => t.placeholders = self.placeholders(v),
                "time" => {
                    for (tk, tv) in self.entries(v, "time", TIME_KEYS) {
                        let field = join("time", tk.as_str().unwrap_or(""));
                        match tk.as_str() {
                            Some("lateness") => t.lateness_ms = self.duration(tv, &field).unwrap_or(t.lateness_ms),
                            Some("idle_timeout") => t.idle_timeout_ms = self.duration(tv, &field).unwrap_or(t.idle_timeout_ms),
                            _ => {}
                        }
                    }
                }
                "limits" => {
                    for (lk, lv) in self.entries(v, "limits", LIMIT_KEYS) {
                        let field = join("limits", lk.as_str().unwrap_or(""));
                        match lk.as_str() {
                            Some("evidence") => t.evidence = self.count(lv, &field, 0).map_or(t.evidence, |n| n as usize),
                            Some("key_cap") => t.key_cap = self.count(lv, &field, 1).map_or(t.key_cap, |n| n as usize),
                            _ => {}
                        }
                    }
                }
                "sources" => t.sources = self.sources(v, base),
                _ => {}
            }
        }
        if t.name.is_empty() && doc.get("name").is_none() {
            self.err(doc.line, "name", "missing: a topology needs a name");
        }
        if t.rules.is_empty() && doc.get("rules").is_none() {
            self.err(doc.line, "rules", "missing: a topology needs at least one rule file or folder");
        }
        if doc.get("sources").is_none() {
            self.err(doc.line, "sources", "missing: a topology needs at least one source");
        }
        t
    }

    fn list<'n>(&mut self, node: &'n Node, field: &str) -> &'n [Node] {
        match &node.kind {
            NodeKind::Seq(items) if !items.is_empty() => items,
            _ => {
                self.err(node.line, field, format!("must be a non-empty list, found {}", describe(node)));
                &[]
            }
        }
    }

    fn rule_paths(&mut self, node: &Node, base: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for (i, item) in self.list(node, "rules").iter().enumerate() {
            let field = format!("rules[{i}]");
            let Some(text) = self.string(item, &field) else { continue };
            let p = base.join(&text);
            if !p.exists() {
                self.err(item.line, &field, format!("{} does not exist (paths are relative to the topology file)", p.display()));
            }
            out.push(p);
        }
        out
    }

    fn placeholders(&mut self, node: &Node) -> HashMap<String, Vec<String>> {
        let mut out = HashMap::new();
        let Some(entries) = node.as_map() else {
            self.err(node.line, "placeholders", format!("must be a mapping of name to values, found {}", node.kind_name()));
            return out;
        };
        for (k, v) in entries {
            let name = k.as_str().unwrap_or("").trim_matches('%').to_string();
            let field = join("placeholders", &name);
            if name.is_empty() {
                self.err(k.line, "placeholders", "a placeholder needs a name");
                continue;
            }
            let values: Vec<String> = match &v.kind {
                NodeKind::Seq(items) => items.iter().enumerate().filter_map(|(i, it)| self.string(it, &format!("{field}[{i}]"))).collect(),
                NodeKind::Scalar { .. } => self.string(v, &field).into_iter().collect(),
                NodeKind::Map(_) => {
                    self.err(v.line, &field, "must be a value or a list of values");
                    Vec::new()
                }
            };
            if out.insert(name, values).is_some() {
                self.err(k.line, &field, "duplicate placeholder");
            }
        }
        out
    }

    fn sources(&mut self, node: &Node, base: &Path) -> Vec<SourceDef> {
        let mut out: Vec<SourceDef> = Vec::new();
        for (i, item) in self.list(node, "sources").iter().enumerate() {
            let field = format!("sources[{i}]");
            let mut s = SourceDef {
                name: String::new(),
                format: Format::Json,
                topic: None,
                path: None,
                year: None,
                lateness_ms: None,
                time_field: None,
                line: item.line,
            };
            let mut has_format = false;
            for (k, v) in self.entries(item, &field, SOURCE_KEYS) {
                let key = k.as_str().unwrap_or("");
                let f = join(&field, key);
                match key {
                    "name" => s.name = self.string(v, &f).unwrap_or_default(),
                    "description" => {
                        self.string(v, &f);
                    }
                    "format" => {
                        has_format = true;
                        if let Some(text) = self.string(v, &f) {
                            match <Format as clap::ValueEnum>::from_str(&text, true) {
                                Ok(fmt) => s.format = fmt,
                                Err(_) => self.err(v.line, &f, format!("unknown format {text:?} (expected syslog, apache, zeek or json)")),
                            }
                        }
                    }
                    "topic" => s.topic = self.string(v, &f),
                    "path" => s.path = self.string(v, &f).map(|p| base.join(p)),
                    "year" => match v.scalar() {
                        Some(Scalar::Number(y, _)) if y.fract() == 0.0 && (1970.0..=9999.0).contains(&y) => s.year = Some(y as i32),
                        _ => self.err(v.line, &f, format!("must be a year between 1970 and 9999, found {}", describe(v))),
                    },
                    "lateness" => s.lateness_ms = self.duration(v, &f),
                    "time_field" => s.time_field = self.string(v, &f),
                    _ => {}
                }
            }
            if item.as_map().is_none() {
                continue;
            }
            if item.get("name").is_none() {
                self.err(item.line, &join(&field, "name"), "missing: every source needs a name");
            }
            if !has_format {
                self.err(item.line, &join(&field, "format"), "missing (syslog, apache, zeek or json)");
            }
            if s.topic.is_none() && s.path.is_none() && item.get("topic").is_none() && item.get("path").is_none() {
                self.err(item.line, &field, "a source needs a topic (vigil run) or a path (vigil replay), or both");
            }
            if !s.name.is_empty() && out.iter().any(|o| o.name == s.name) {
                self.err(item.line, &join(&field, "name"), format!("duplicate source name {:?}", s.name));
            }
            if let Some(topic) = &s.topic {
                if let Some(other) = out.iter().find(|o| o.topic.as_deref() == Some(topic.as_str())) {
                    self.err(item.line, &join(&field, "topic"), format!("topic {topic:?} is already read by source {:?}", other.name));
                }
            }
            out.push(s);
        }
        out
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn describe(node: &Node) -> String {
    match node.scalar() {
        Some(Scalar::Null) => "nothing".to_string(),
        Some(Scalar::Str(s)) => format!("{s:?}"),
        Some(Scalar::Number(_, t)) => t.to_string(),
        Some(Scalar::Bool(b)) => b.to_string(),
        None => node.kind_name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Topology, Vec<RuleError>> {
        Topology::from_str(Path::new("t/topo.yaml"), text)
    }

    fn messages(text: &str) -> Vec<String> {
        load(text).err().unwrap_or_default().iter().map(|e| e.to_string()).collect()
    }

    const GOOD: &str = "name: t\nrules: [.]\nplaceholders:\n  admins: [root, '%admin']\n  one: x\ntime:\n  lateness: 1m\nlimits: {evidence: 3, key_cap: 100}\nsources:\n  - name: auth\n    format: syslog\n    topic: logs.auth\n    path: auth.log\n    year: 2017\n    lateness: 10s\n  - {name: web, format: apache, topic: logs.web}\n";

    #[test]
    fn a_full_topology_loads_with_paths_relative_to_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("topo.yaml");
        std::fs::write(&path, GOOD).unwrap();
        let t = Topology::load(&path).unwrap();
        assert_eq!(t.name, "t");
        assert_eq!(t.rules, vec![dir.path().join(".")]);
        assert_eq!(t.placeholders["admins"], vec!["root".to_string(), "%admin".to_string()]);
        assert_eq!(t.placeholders["one"], vec!["x".to_string()]);
        assert_eq!((t.lateness_ms, t.idle_timeout_ms, t.evidence, t.key_cap), (60_000, DEFAULT_IDLE_TIMEOUT_MS, 3, 100));
        assert_eq!(t.sources.len(), 2);
        let auth = t.source("auth").unwrap();
        assert_eq!((auth.format, auth.year, auth.lateness_ms), (Format::Syslog, Some(2017), Some(10_000)));
        assert_eq!(auth.path.as_deref(), Some(dir.path().join("auth.log").as_path()));
        assert_eq!(t.source("web").unwrap().effective_lateness_ms(&t), 60_000);
        assert!(looks_like_topology(GOOD));
        assert!(!looks_like_topology("title: x\nlogsource: {}\ndetection: {sel: {a: 1}, condition: sel}\n"));
    }

    #[test]
    fn every_problem_is_reported_with_its_line_and_field() {
        let text = "name: t\nrules: [does-not-exist/]\ntime:\n  lateness: soon\n  window: 5m\nlimits: {key_cap: 0}\nsources:\n  - name: a\n    format: csv\n    topic: x\n  - name: a\n    format: json\n    topic: x\n  - name: b\n    format: json\n  - {name: c, format: zeek, path: c.log, year: 20}\nextra: 1\n";
        let msgs = messages(text);
        let expect = [
            "t/topo.yaml:2: rules[0]: t/does-not-exist/ does not exist",
            "t/topo.yaml:4: time.lateness: invalid duration \"soon\"",
            "t/topo.yaml:5: time.window: unknown key",
            "t/topo.yaml:6: limits.key_cap: must be a whole number >= 1",
            "t/topo.yaml:9: sources[0].format: unknown format \"csv\"",
            "t/topo.yaml:11: sources[1].name: duplicate source name \"a\"",
            "t/topo.yaml:11: sources[1].topic: topic \"x\" is already read by source \"a\"",
            "t/topo.yaml:14: sources[2]: a source needs a topic",
            "t/topo.yaml:16: sources[3].year: must be a year between 1970 and 9999, found 20",
            "t/topo.yaml:17: extra: unknown key",
        ];
        for e in expect {
            assert!(msgs.iter().any(|m| m.starts_with(e)), "missing {e:?} in {msgs:#?}");
        }
        assert_eq!(msgs.len(), expect.len(), "{msgs:#?}");
    }

    #[test]
    fn missing_sections_and_bad_shapes_are_named() {
        let msgs = messages("description: nothing else\n");
        assert!(msgs.iter().any(|m| m.contains(": name: missing")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains(": rules: missing")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains(": sources: missing")), "{msgs:?}");
        let msgs = messages("name: t\nrules: .\nsources: []\n");
        assert!(msgs.iter().any(|m| m.starts_with("t/topo.yaml:2: rules: must be a non-empty list")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.starts_with("t/topo.yaml:3: sources: must be a non-empty list")), "{msgs:?}");
        assert_eq!(messages("")[0], "t/topo.yaml:1: the topology file is empty");
        assert!(messages("a: [\n")[0].contains("YAML syntax"));
        assert!(messages("name: a\n---\nname: b\n")[0].contains("one YAML document"));
    }

    #[test]
    fn placeholders_reach_the_rule_compiler() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rule.yml"),
            "title: admin login\nlogsource: {product: linux}\ndetection:\n  sel:\n    user.name|expand: '%admins%'\n  condition: sel\n",
        )
        .unwrap();
        let topo = dir.path().join("topo.yaml");
        std::fs::write(&topo, "name: t\nrules: [rule.yml]\nplaceholders: {admins: [root, toor]}\nsources: [{name: s, format: syslog, path: x.log}]\n").unwrap();
        let rules = Topology::load(&topo).unwrap().load_rules(&[]).unwrap();
        assert!(rules.warnings.is_empty(), "{:?}", rules.warnings);
        let field = crate::event::field::intern("user.name").unwrap();
        for (user, hit) in [("root", true), ("toor", true), ("alice", false)] {
            let mut ev = crate::event::Event::at(0);
            ev.push_str(field, user);
            assert_eq!(rules.rules[0].matches(&ev), hit, "{user}");
        }
    }
}
