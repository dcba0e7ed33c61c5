//! Sigma rule files: YAML documents (several per file, separated by `---`) read into rule
//! descriptions that remember their lines.
//!
//! A document with a `correlation:` key is a correlation rule: it is recognized and kept as its
//! raw YAML node ([`CorrelationDocument`]) for the correlation compiler. Sigma 1 rule collections
//! are supported: `action: global` deep-merges its content into every later document of the file,
//! `action: reset` drops the global content, and `action: repeat` makes a new rule from the
//! previous one with its own content merged over it (mappings merge key by key, recursively; any
//! other value replaces). Attributes outside the specification are allowed and ignored (the spec
//! permits custom ones).

use std::path::{Path, PathBuf};

use super::yaml::{load_documents, Node, NodeKind, Scalar};
use super::RuleError;

/// The `logsource:` of a rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSource {
    /// `product`
    pub product: Option<String>,
    /// `category`
    pub category: Option<String>,
    /// `service`
    pub service: Option<String>,
    /// `definition`
    pub definition: Option<String>,
}

/// A Sigma detection rule as written, with its `detection:` still a YAML node.
#[derive(Clone, Debug)]
pub struct SigmaRule {
    /// The file it came from.
    pub file: PathBuf,
    /// Line of the document's first key.
    pub line: usize,
    /// `title` (required).
    pub title: String,
    /// `id`
    pub id: Option<String>,
    /// `name`
    pub name: Option<String>,
    /// `status`
    pub status: Option<String>,
    /// `description`
    pub description: Option<String>,
    /// `references`
    pub references: Vec<String>,
    /// `author`
    pub author: Option<String>,
    /// `date`
    pub date: Option<String>,
    /// `modified`
    pub modified: Option<String>,
    /// `tags`
    pub tags: Vec<String>,
    /// `level`
    pub level: Option<String>,
    /// `logsource` (required).
    pub logsource: LogSource,
    /// `fields`
    pub fields: Vec<String>,
    /// `falsepositives`
    pub falsepositives: Vec<String>,
    /// `detection` (required), compiled by [`super::detection`].
    pub detection: Node,
}

/// A correlation rule, recognized but not interpreted here.
#[derive(Clone, Debug)]
pub struct CorrelationDocument {
    /// The file it came from.
    pub file: PathBuf,
    /// Line of the document's first key.
    pub line: usize,
    /// `title`, when present.
    pub title: Option<String>,
    /// `id`, when present.
    pub id: Option<String>,
    /// `name`, when present.
    pub name: Option<String>,
    /// The whole document.
    pub node: Node,
}

/// One document of a Sigma file.
#[derive(Clone, Debug)]
pub enum SigmaDocument {
    /// A detection rule.
    Rule(Box<SigmaRule>),
    /// A correlation rule.
    Correlation(Box<CorrelationDocument>),
}

/// Reads and parses a file.
pub fn load_file(path: &Path) -> Result<Vec<SigmaDocument>, Vec<RuleError>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![RuleError::new(path, 0, "", format!("cannot read: {e}"))])?;
    parse_str(path, &text)
}

/// Parses the text of a Sigma file named `path`.
pub fn parse_str(path: &Path, text: &str) -> Result<Vec<SigmaDocument>, Vec<RuleError>> {
    let docs = load_documents(text).map_err(|e| vec![RuleError::new(path, e.line, "", format!("YAML: {}", e.message))])?;
    if docs.is_empty() {
        return Err(vec![RuleError::new(path, 1, "", "no YAML document")]);
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut global: Option<Node> = None;
    let mut previous: Option<Node> = None;
    for doc in docs {
        let doc = match doc.get("action") {
            None => {
                let merged = match &global {
                    Some(g) => merge(g, &doc),
                    None => doc,
                };
                previous = Some(merged.clone());
                merged
            }
            Some(action) => {
                let content = without_key(&doc, "action");
                match action.as_str() {
                    Some("global") => {
                        global = Some(match &global {
                            Some(g) => merge(g, &content),
                            None => content,
                        });
                        continue;
                    }
                    Some("reset") => {
                        global = None;
                        continue;
                    }
                    Some("repeat") => match &previous {
                        Some(p) => {
                            let merged = merge(p, &content);
                            previous = Some(merged.clone());
                            merged
                        }
                        None => {
                            errors.push(RuleError::new(path, action.line, "action", "repeat needs a previous rule in the file"));
                            continue;
                        }
                    },
                    other => {
                        errors.push(RuleError::new(
                            path,
                            action.line,
                            "action",
                            format!("unknown action {:?}: expected global, reset or repeat", other.unwrap_or("")),
                        ));
                        continue;
                    }
                }
            }
        };
        match document(path, doc) {
            Ok(d) => out.push(d),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// `over` deep-merged onto `base`: mappings merge key by key, anything else replaces.
fn merge(base: &Node, over: &Node) -> Node {
    match (&base.kind, &over.kind) {
        (NodeKind::Map(b), NodeKind::Map(o)) => {
            let mut entries: Vec<(Node, Node)> = b.clone();
            for (k, v) in o {
                match entries.iter_mut().find(|(bk, _)| bk.kind == k.kind) {
                    Some(slot) => slot.1 = merge(&slot.1, v),
                    None => entries.push((k.clone(), v.clone())),
                }
            }
            Node { line: over.line, kind: NodeKind::Map(entries) }
        }
        _ => over.clone(),
    }
}

fn without_key(doc: &Node, key: &str) -> Node {
    match &doc.kind {
        NodeKind::Map(entries) => Node { line: doc.line, kind: NodeKind::Map(entries.iter().filter(|(k, _)| k.as_str() != Some(key)).cloned().collect()) },
        _ => doc.clone(),
    }
}

struct Reader<'a> {
    path: &'a Path,
    errors: Vec<RuleError>,
}

impl Reader<'_> {
    fn string(&mut self, doc: &Node, key: &str) -> Option<String> {
        let node = doc.get(key)?;
        match node.scalar() {
            Some(Scalar::Null) => None,
            Some(_) => node.as_str().map(str::to_string),
            None => {
                self.errors.push(RuleError::new(self.path, node.line, key, format!("must be a string, found {}", node.kind_name())));
                None
            }
        }
    }

    fn list(&mut self, doc: &Node, key: &str) -> Vec<String> {
        let Some(node) = doc.get(key) else { return Vec::new() };
        if node.scalar() == Some(Scalar::Null) {
            return Vec::new();
        }
        match &node.kind {
            NodeKind::Scalar { text, .. } => vec![text.clone()],
            NodeKind::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item.as_str() {
                    Some(s) => Some(s.to_string()),
                    None => {
                        self.errors.push(RuleError::new(self.path, item.line, &format!("{key}[{i}]"), "must be a string"));
                        None
                    }
                })
                .collect(),
            NodeKind::Map(_) => {
                self.errors.push(RuleError::new(self.path, node.line, key, "must be a list of strings"));
                Vec::new()
            }
        }
    }
}

fn document(path: &Path, doc: Node) -> Result<SigmaDocument, Vec<RuleError>> {
    if doc.as_map().is_none() {
        return Err(vec![RuleError::new(path, doc.line, "", format!("a Sigma document must be a mapping, found {}", doc.kind_name()))]);
    }
    // A vigil topology (sources, rules, outputs) is not a rule; say so instead of listing the
    // rule attributes it lacks.
    if doc.get("sources").is_some() && doc.get("detection").is_none() && doc.get("correlation").is_none() {
        return Err(vec![RuleError::new(
            path,
            doc.line,
            "sources",
            "this is a vigil topology, not a Sigma rule: pass it with --topology (vigil check tells topologies from rules by themselves)",
        )]);
    }
    let mut r = Reader { path, errors: Vec::new() };
    if doc.get("correlation").is_some() {
        let title = r.string(&doc, "title");
        let id = r.string(&doc, "id");
        let name = r.string(&doc, "name");
        if !r.errors.is_empty() {
            return Err(r.errors);
        }
        return Ok(SigmaDocument::Correlation(Box::new(CorrelationDocument { file: path.to_path_buf(), line: doc.line, title, id, name, node: doc })));
    }
    let title = r.string(&doc, "title");
    if title.is_none() && doc.get("title").is_none() {
        r.errors.push(RuleError::new(path, doc.line, "title", "missing required attribute"));
    }
    let logsource = match doc.get("logsource") {
        None => {
            r.errors.push(RuleError::new(path, doc.line, "logsource", "missing required attribute"));
            LogSource::default()
        }
        Some(ls) if ls.as_map().is_none() => {
            r.errors.push(RuleError::new(path, ls.line, "logsource", "must be a mapping"));
            LogSource::default()
        }
        Some(ls) => LogSource {
            product: r.string(ls, "product"),
            category: r.string(ls, "category"),
            service: r.string(ls, "service"),
            definition: r.string(ls, "definition"),
        },
    };
    let detection = doc.get("detection").cloned();
    if detection.is_none() {
        r.errors.push(RuleError::new(path, doc.line, "detection", "missing required attribute"));
    }
    let rule = SigmaRule {
        file: path.to_path_buf(),
        line: doc.line,
        title: title.unwrap_or_default(),
        id: r.string(&doc, "id"),
        name: r.string(&doc, "name"),
        status: r.string(&doc, "status"),
        description: r.string(&doc, "description"),
        references: r.list(&doc, "references"),
        author: r.string(&doc, "author"),
        date: r.string(&doc, "date"),
        modified: r.string(&doc, "modified"),
        tags: r.list(&doc, "tags"),
        level: r.string(&doc, "level"),
        logsource,
        fields: r.list(&doc, "fields"),
        falsepositives: r.list(&doc, "falsepositives"),
        detection: detection.unwrap_or(Node { line: doc.line, kind: NodeKind::Map(Vec::new()) }),
    };
    if r.errors.is_empty() {
        Ok(SigmaDocument::Rule(Box::new(rule)))
    } else {
        Err(r.errors)
    }
}
