//! Sigma rules: loading rule files and compiling their detections into matchers over events.
//!
//! - [`document`] reads Sigma YAML files (several documents per file) into [`SigmaRule`]s and
//!   [`CorrelationDocument`]s (kept raw for the correlation compiler), remembering lines.
//! - [`detection`] compiles `detection:` (selections, modifiers, conditions) into a [`Detection`]
//!   whose [`Detection::matches`] allocates nothing per event.
//! - [`correlation`] parses and validates correlation rules into [`CorrelationSpec`]s and
//!   resolves their references (by id or name, chains, cycles); [`extensions`] holds vigil's
//!   marked extensions to them (`x-vigil:`), [`baseline`] the `x-vigil.baseline` block.
//! - [`RuleSet`] loads files and directories, collects every error (each naming file, line and
//!   field path), and evaluates all rules against an event.
//!
//! [`RuleSet::matching`] evaluates every rule against an event; [`logsource::RuleMatcher`]
//! evaluates only the rules whose `logsource` admits the event's source and that the
//! [`index`] finds a required text of in the event (what a pipeline uses).
//!
//! ```
//! use std::path::Path;
//! use vigil::event::{field::intern, Event};
//! use vigil::rules::{CompileOptions, RuleSet};
//!
//! let text = "title: whoami\nlogsource: {category: process_creation, product: windows}\n\
//!             detection:\n  sel:\n    Image|endswith: '\\whoami.exe'\n  condition: sel\n";
//! let rules = RuleSet::from_str(Path::new("inline.yml"), text, &CompileOptions::default()).unwrap();
//! let mut ev = Event::at(0);
//! ev.push_str(intern("Image").unwrap(), r"C:\Windows\System32\WHOAMI.EXE");
//! let mut hits = Vec::new();
//! rules.matching(&ev, &mut hits);
//! assert_eq!(hits, vec![0]);
//! ```

pub mod baseline;
pub mod condition;
pub mod correlation;
pub mod detection;
pub mod document;
pub mod extensions;
pub mod index;
pub mod logsource;
pub mod modifiers;
pub mod pattern;
pub mod spec;
pub mod yaml;

use std::path::{Path, PathBuf};

pub use correlation::{CorrelationKind, CorrelationSpec, Resolution, ResolvedRef};
pub use detection::{CompileOptions, Detection};
pub use document::{CorrelationDocument, LogSource, SigmaDocument, SigmaRule};

use crate::event::Event;

/// An error (or warning) in a rule file: `file:line: field.path: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}: {}{}{}", .file.display(), .line, .field_path, if .field_path.is_empty() { "" } else { ": " }, .message)]
pub struct RuleError {
    /// The rule file.
    pub file: PathBuf,
    /// 1-based line (0 when the file could not be read).
    pub line: usize,
    /// Path to the offending field, e.g. `detection.selection.CommandLine|contains`.
    pub field_path: String,
    /// What is wrong.
    pub message: String,
}

impl RuleError {
    /// Builds an error.
    pub fn new(file: &Path, line: usize, field_path: &str, message: impl Into<String>) -> Self {
        RuleError { file: file.to_path_buf(), line, field_path: field_path.to_string(), message: message.into() }
    }
}

/// A detection rule ready to match events.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    /// `id`
    pub id: Option<String>,
    /// `name` (correlations may refer to the rule by it)
    pub name: Option<String>,
    /// `title`
    pub title: String,
    /// `level`
    pub level: Option<String>,
    /// `tags`
    pub tags: Vec<String>,
    /// `logsource`
    pub logsource: LogSource,
    /// The file it came from.
    pub file: PathBuf,
    /// Line of the rule's document.
    pub line: usize,
    /// The compiled detection.
    pub matcher: Detection,
}

impl CompiledRule {
    /// Compiles a rule; errors carry the rule's file and lines; warnings are appended to `warnings`.
    pub fn compile(rule: &SigmaRule, opts: &CompileOptions, warnings: &mut Vec<RuleError>) -> Result<CompiledRule, Vec<RuleError>> {
        let (result, warns) = Detection::compile(&rule.detection, opts);
        warnings.extend(warns.into_iter().map(|p| RuleError::new(&rule.file, p.line, &p.path, p.message)));
        let matcher = result.map_err(|ps| ps.into_iter().map(|p| RuleError::new(&rule.file, p.line, &p.path, p.message)).collect::<Vec<_>>())?;
        Ok(CompiledRule {
            id: rule.id.clone(),
            name: rule.name.clone(),
            title: rule.title.clone(),
            level: rule.level.clone(),
            tags: rule.tags.clone(),
            logsource: rule.logsource.clone(),
            file: rule.file.clone(),
            line: rule.line,
            matcher,
        })
    }

    /// Whether the event matches the rule's detection.
    #[inline]
    pub fn matches(&self, ev: &Event) -> bool {
        self.matcher.matches(ev)
    }
}

/// A set of compiled detection rules plus the correlation documents found beside them.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    /// Detection rules, in load order.
    pub rules: Vec<CompiledRule>,
    /// Correlation rules as read (raw YAML), parallel to `correlation_specs`.
    pub correlations: Vec<CorrelationDocument>,
    /// Correlation rules parsed and validated, in load order.
    pub correlation_specs: Vec<CorrelationSpec>,
    /// The correlations' references resolved over all the files loaded, and their order.
    pub resolution: Resolution,
    /// Warnings (e.g. `expand` placeholders without values).
    pub warnings: Vec<RuleError>,
    /// Every rule runs on every event, whatever its `logsource` (`replay --ignore-logsource`,
    /// for comparisons with engines that ignore it).
    pub ignore_logsource: bool,
    /// The index over `rules`, built on first use (after loading, which is when `rules` is
    /// complete) and shared by every worker matching with this set.
    index: std::sync::OnceLock<index::RuleIndex>,
}

impl RuleSet {
    /// Loads rule files; a directory is searched recursively for `*.yml` and `*.yaml` (sorted).
    /// Returns every error found, not just the first.
    pub fn load(paths: &[PathBuf], opts: &CompileOptions) -> Result<RuleSet, Vec<RuleError>> {
        let (files, errors) = rule_files(paths);
        Self::load_files(&files, errors, opts)
    }

    /// Loads the given files (no directory walk), adding to errors already found.
    pub fn load_files(files: &[PathBuf], mut errors: Vec<RuleError>, opts: &CompileOptions) -> Result<RuleSet, Vec<RuleError>> {
        let mut set = RuleSet::default();
        for f in files {
            match document::load_file(f) {
                Ok(docs) => set.add(docs, opts, &mut errors),
                Err(mut e) => errors.append(&mut e),
            }
        }
        set.resolve(&mut errors);
        if errors.is_empty() {
            // Built now, while there is one set: clones made later share it.
            set.index();
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// Loads rules from text, `path` naming it in errors.
    pub fn from_str(path: &Path, text: &str, opts: &CompileOptions) -> Result<RuleSet, Vec<RuleError>> {
        let docs = document::parse_str(path, text)?;
        let mut set = RuleSet::default();
        let mut errors = Vec::new();
        set.add(docs, opts, &mut errors);
        set.resolve(&mut errors);
        if errors.is_empty() {
            // Built now, while there is one set: clones made later share it.
            set.index();
            Ok(set)
        } else {
            Err(errors)
        }
    }

    fn add(&mut self, docs: Vec<SigmaDocument>, opts: &CompileOptions, errors: &mut Vec<RuleError>) {
        for doc in docs {
            match doc {
                SigmaDocument::Rule(rule) => match CompiledRule::compile(&rule, opts, &mut self.warnings) {
                    Ok(c) => self.rules.push(c),
                    Err(mut e) => errors.append(&mut e),
                },
                SigmaDocument::Correlation(c) => match correlation::parse(&c, &mut self.warnings) {
                    Ok(spec) => {
                        self.correlation_specs.push(spec);
                        self.correlations.push(*c);
                    }
                    Err(mut e) => errors.append(&mut e),
                },
            }
        }
    }

    /// Resolves correlation references once everything is loaded (only when nothing failed so
    /// far: a reference to a rule that did not compile would be a second, misleading error).
    fn resolve(&mut self, errors: &mut Vec<RuleError>) {
        if !errors.is_empty() {
            return;
        }
        match correlation::resolve(&self.rules, &self.correlation_specs) {
            Ok(r) => self.resolution = r,
            Err(mut e) => errors.append(&mut e),
        }
    }

    /// The rule index over the detection rules.
    pub fn index(&self) -> &index::RuleIndex {
        self.index.get_or_init(|| index::RuleIndex::build(&self.rules))
    }

    /// Number of detection rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no detection rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Appends the indexes of the rules matching `ev` to `out` (all rules, no logsource filter).
    pub fn matching(&self, ev: &Event, out: &mut Vec<u32>) {
        for (i, r) in self.rules.iter().enumerate() {
            if r.matches(ev) {
                out.push(i as u32);
            }
        }
    }
}

/// The rule files under `paths`: files as given, directories searched recursively for `*.yml`
/// and `*.yaml` in name order; directories that cannot be read are reported.
pub fn rule_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<RuleError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        collect_files(p, &mut files, &mut errors);
    }
    (files, errors)
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<RuleError>) {
    if path.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Ok(e) => e,
            Err(e) => {
                errors.push(RuleError::new(path, 0, "", format!("cannot read directory: {e}")));
                return;
            }
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        for c in children {
            if c.is_dir() || c.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                collect_files(&c, files, errors);
            }
        }
    } else {
        files.push(path.to_path_buf());
    }
}
