//! The rule index: which rules an event can match at all, found in one pass over its values.
//!
//! Most rules of a large rule set (SigmaHQ's 2,400 Windows rules) ask for some literal text: an
//! image name, a command-line fragment, a registry key. [`Detection::required`] tells, for each
//! rule, texts of which every event it matches holds one. One Aho-Corasick automaton over the
//! texts of all rules finds in one pass which of them occur in an event, and only the rules with
//! a text found, plus the rules that have no such list, run their matcher. An event that holds
//! none of a rule's texts never runs it.
//!
//! The index never changes a result, only the work: a rule it skips cannot match (a property
//! test runs every rule beside it). Texts are lowercased and the automaton folds ASCII case; a
//! value with non-ASCII text is searched in its lowercased form (into a reused buffer), and when
//! it holds `ſ` once more with `ſ` read as `s`, because the regexes of wildcard patterns fold
//! case that way. Only the fields some rule names are searched, all string values where a rule
//! has keywords.

use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::FxHashMap;

use super::detection::{Needle, Within};
use super::pattern::with_text;
use super::CompiledRule;
use crate::event::field::MAX_FIELDS;
use crate::event::{Event, Key, ValueRef};

/// How the index treats one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexed {
    /// Runs only on events holding one of its texts.
    Texts,
    /// Has no list of texts: runs on every event its logsource admits.
    Always,
    /// Can never match (every value it asks for is an unset placeholder).
    Never,
}

/// The texts of every rule of a set, in one automaton.
#[derive(Clone, Debug)]
pub struct RuleIndex {
    /// Every text, searched in the fields some rule names.
    all: Option<Automaton>,
    /// The keyword texts only, searched in the other string fields (where nothing else can be
    /// found): a few texts, so a long free-text field costs little.
    keywords: Option<Automaton>,
    /// For each pattern of the automaton, the rules that need it, in rule order.
    rules_of: Vec<Box<[u32]>>,
    /// Per rule, in rule order.
    kind: Vec<Indexed>,
    /// Per rule, where its texts must occur.
    within: Vec<Box<[Within]>>,
}

/// A part of the index: the indexed rules one event source admits, and where their texts are
/// searched (only the fields those rules name: an event's long free-text fields are mostly
/// named by none of them).
#[derive(Clone, Debug)]
pub struct Scope {
    rules: Bits,
    /// Field ids.
    fields: Bits,
    /// Some rule has keywords: every string value is searched.
    any_string: bool,
    len: usize,
}

impl Scope {
    /// Number of rules in the scope.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the scope holds no rule.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// An automaton over some of the texts, and which text each of its patterns is.
#[derive(Clone, Debug)]
struct Automaton {
    ac: AhoCorasick,
    text: Box<[u32]>,
}

impl Automaton {
    /// Standard semantics: an overlapping search reports every text that occurs, not only the
    /// leftmost-longest.
    fn build(texts: &[&str], ids: Vec<u32>) -> Result<Automaton, aho_corasick::BuildError> {
        let ac = AhoCorasick::builder().ascii_case_insensitive(true).match_kind(MatchKind::Standard).build(texts)?;
        Ok(Automaton { ac, text: ids.into_boxed_slice() })
    }
}

/// Per-worker scratch space of [`RuleIndex::found`], reused for every event.
#[derive(Debug, Default)]
pub struct Scratch {
    pattern_seen: Vec<u32>,
    rule_seen: Vec<u32>,
    epoch: u32,
    lowered: String,
    /// The rules found for the last event, unsorted.
    pub found: Vec<u32>,
}

/// The longest text the automaton holds, in bytes; a longer one is cut to its last bytes.
///
/// Any part of a required text is required too, and the automaton's size grows with the length
/// of its texts: SigmaHQ's 16,000 texts in full make a DFA of tens of megabytes that misses the
/// cache on every byte searched. The tail of a text (an image name, a script's last words) is
/// what sets it apart.
const TEXT_BYTES: usize = 16;

fn window(text: Box<str>) -> Box<str> {
    if text.len() <= TEXT_BYTES {
        return text;
    }
    let mut start = text.len() - TEXT_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].into()
}

/// A bit set over small indexes (rules, field ids).
#[derive(Clone, Debug, Default)]
pub struct Bits(Vec<u64>);

impl Bits {
    /// An empty set for indexes below `n`.
    pub fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }

    /// Adds `i` (ignored when out of range).
    pub fn insert(&mut self, i: u32) {
        if let Some(w) = self.0.get_mut(i as usize / 64) {
            *w |= 1u64 << (i % 64);
        }
    }

    /// Whether `i` is in the set.
    #[inline]
    pub fn contains(&self, i: u32) -> bool {
        self.0.get(i as usize / 64).is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }
}

impl RuleIndex {
    /// Builds the index of a rule set (once per set; workers share it).
    pub fn build(rules: &[CompiledRule]) -> RuleIndex {
        let mut ids: FxHashMap<Box<str>, u32> = FxHashMap::default();
        let mut texts: Vec<Box<str>> = Vec::new();
        let mut rules_of: Vec<Vec<u32>> = Vec::new();
        let mut kind = Vec::with_capacity(rules.len());
        let mut within = Vec::with_capacity(rules.len());
        let mut keyword_texts: Vec<u32> = Vec::new();
        for (r, rule) in rules.iter().enumerate() {
            let Some(needles) = rule.matcher.required() else {
                tracing::debug!(rule = %rule.title, file = %rule.file.display(), "rule index: no text every match holds; the rule runs on every event its logsource admits");
                kind.push(Indexed::Always);
                within.push(Box::default());
                continue;
            };
            kind.push(if needles.is_empty() { Indexed::Never } else { Indexed::Texts });
            let mut places: Vec<Within> = needles.iter().map(|n| n.within).collect();
            places.sort_unstable();
            places.dedup();
            within.push(places.into_boxed_slice());
            for Needle { text, within } in needles {
                let text = window(text);
                let id = *ids.entry(text.clone()).or_insert_with(|| {
                    texts.push(text);
                    rules_of.push(Vec::new());
                    (texts.len() - 1) as u32
                });
                if within == Within::AnyString {
                    keyword_texts.push(id);
                }
                let list = &mut rules_of[id as usize];
                if list.last() != Some(&(r as u32)) {
                    list.push(r as u32);
                }
            }
        }
        keyword_texts.sort_unstable();
        keyword_texts.dedup();
        let strs: Vec<&str> = texts.iter().map(|t| &**t).collect();
        let built = (!strs.is_empty())
            .then(|| {
                let all = Automaton::build(&strs, (0..strs.len() as u32).collect())?;
                let kw: Vec<&str> = keyword_texts.iter().map(|&i| strs[i as usize]).collect();
                let keywords = (!kw.is_empty()).then(|| Automaton::build(&kw, keyword_texts.clone())).transpose()?;
                Ok::<_, aho_corasick::BuildError>((all, keywords))
            })
            .transpose();
        // Plain literals always build; should they not, every rule runs: slower, never wrong.
        let (all, keywords) = match built {
            Ok(Some((all, keywords))) => (Some(all), keywords),
            Ok(None) => (None, None),
            Err(e) => {
                tracing::warn!("rule index not built ({e}); every rule runs on every event");
                kind.iter_mut().filter(|k| **k == Indexed::Texts).for_each(|k| *k = Indexed::Always);
                (None, None)
            }
        };
        RuleIndex { all, keywords, rules_of: rules_of.into_iter().map(Vec::into_boxed_slice).collect(), kind, within }
    }

    /// The scope of the indexed rules for which `admit` holds.
    pub fn scope(&self, admit: impl Fn(u32) -> bool) -> Scope {
        let mut scope = Scope { rules: Bits::new(self.kind.len()), fields: Bits::new(MAX_FIELDS), any_string: false, len: 0 };
        for (i, k) in self.kind.iter().enumerate() {
            let i = i as u32;
            if *k != Indexed::Texts || !admit(i) {
                continue;
            }
            scope.rules.insert(i);
            scope.len += 1;
            for w in self.within[i as usize].iter() {
                match w {
                    Within::Field(f) => scope.fields.insert(f.0),
                    Within::AnyString => scope.any_string = true,
                }
            }
        }
        scope
    }

    /// How the index treats rule `i`.
    pub fn kind(&self, i: u32) -> Indexed {
        self.kind.get(i as usize).copied().unwrap_or(Indexed::Always)
    }

    /// How many rules the index treats each way: (by texts, always, never).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |k| self.kind.iter().filter(|x| **x == k).count();
        (n(Indexed::Texts), n(Indexed::Always), n(Indexed::Never))
    }

    /// Number of distinct texts in the automaton.
    pub fn texts(&self) -> usize {
        self.rules_of.len()
    }

    /// Collects into `s.found` the rules of `scope` with a text in `ev`.
    pub fn found(&self, ev: &Event, scope: &Scope, s: &mut Scratch) {
        s.found.clear();
        let Some(all) = &self.all else { return };
        if s.pattern_seen.len() != self.rules_of.len() {
            s.pattern_seen = vec![0; self.rules_of.len()];
            s.rule_seen = vec![0; self.kind.len()];
            s.epoch = 0;
        }
        s.epoch = s.epoch.wrapping_add(1);
        if s.epoch == 0 {
            s.pattern_seen.fill(0);
            s.rule_seen.fill(0);
            s.epoch = 1;
        }
        let Scratch { pattern_seen, rule_seen, epoch, lowered, found } = s;
        let epoch = *epoch;
        let mut search = |automaton: &Automaton, text: &str| {
            let mut one = |hay: &str| {
                for m in automaton.ac.find_overlapping_iter(hay) {
                    let p = automaton.text[m.pattern().as_usize()] as usize;
                    if pattern_seen[p] == epoch {
                        continue;
                    }
                    pattern_seen[p] = epoch;
                    for &r in self.rules_of[p].iter() {
                        if rule_seen[r as usize] != epoch && scope.rules.contains(r) {
                            rule_seen[r as usize] = epoch;
                            found.push(r);
                        }
                    }
                }
            };
            if text.is_ascii() {
                one(text);
                return;
            }
            lowered.clear();
            lowered.extend(text.chars().flat_map(char::to_lowercase));
            one(lowered);
            if lowered.contains('ſ') {
                // Rare enough that the copy does not matter.
                let folded = lowered.replace('ſ', "s");
                one(&folded);
            }
        };
        let keywords = if scope.any_string { self.keywords.as_ref() } else { None };
        for (k, v) in ev.fields() {
            let named = matches!(k, Key::Id(id) if scope.fields.contains(id.0));
            if named {
                match ev.resolve(v) {
                    ValueRef::List(items) => {
                        for item in items {
                            with_text(ev.resolve(item), |t| search(all, t));
                        }
                    }
                    other => {
                        with_text(other, |t| search(all, t));
                    }
                }
            } else if let Some(kw) = keywords {
                // Keywords look at string values only.
                match ev.resolve(v) {
                    ValueRef::Str(t) => search(kw, t),
                    ValueRef::List(items) => {
                        for item in items {
                            if let ValueRef::Str(t) = ev.resolve(item) {
                                search(kw, t);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;
    use crate::event::field::intern;
    use crate::event::Value;
    use crate::rules::{CompileOptions, RuleSet};

    // Letters whose case folds in odd ways (`ſ`, the Kelvin sign, dotted `İ`, `ß`), wildcards,
    // the escape and a space: where an index over lowercased text could go wrong.
    const ALPHABET: &str = "[aAsSkKſKİiß*?\\\\ 1]{0,4}";

    fn rule_yaml(i: usize, field: &str, modifier: &str, values: &[String], negate: bool) -> String {
        let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
        let sel = if field == "keywords" {
            format!("    sel:\n      - {}\n", quoted.join("\n      - "))
        } else {
            format!("    sel:\n      {field}{modifier}:\n        - {}\n", quoted.join("\n        - "))
        };
        let condition = if negate { "sel and not other" } else { "sel or other" };
        format!("title: r{i}\nlogsource: {{product: test}}\ndetection:\n{sel}    other:\n      C|endswith: 'zz'\n    condition: {condition}\n")
    }

    fn value_of(s: &str, numeric: bool) -> Value {
        match s.parse::<i64>() {
            Ok(n) if numeric => Value::Int(n),
            _ => Value::Null,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// A rule the index leaves out cannot match: for every event, every rule that matches is
        /// either run always or found by the index.
        #[test]
        fn the_index_never_hides_a_match(
            specs in proptest::collection::vec((
                prop_oneof![Just("A"), Just("B"), Just("keywords")],
                prop_oneof![Just(""), Just("|contains"), Just("|startswith"), Just("|endswith"), Just("|contains|all"), Just("|cased"), Just("|contains|cased"), Just("|endswith|cased")],
                proptest::collection::vec(ALPHABET, 1..3),
                any::<bool>(),
            ), 1..5),
            events in proptest::collection::vec((ALPHABET, ALPHABET, ALPHABET, any::<bool>()), 1..6),
        ) {
            let text: Vec<String> = specs.iter().enumerate().map(|(i, (f, m, v, n))| rule_yaml(i, f, m, v, *n)).collect();
            let Ok(set) = RuleSet::from_str(Path::new("prop.yml"), &text.join("---\n"), &CompileOptions::default()) else {
                return Ok(()); // a value the grammar cannot take (a lone escape): not this test's concern
            };
            let index = set.index();
            let scope = index.scope(|_| true);
            let mut scratch = Scratch::default();
            let (a, b, c, x) = (intern("A").unwrap(), intern("B").unwrap(), intern("C").unwrap(), intern("X").unwrap());
            for (va, vb, vc, numeric) in &events {
                let mut ev = Event::at(0);
                ev.push_str(a, va);
                match value_of(vb, *numeric) {
                    Value::Null => ev.push_str(b, vb),
                    v => ev.push(b, v),
                }
                ev.push_str(c, vc);
                ev.push_str(x, &format!("{va}{vb}"));
                index.found(&ev, &scope, &mut scratch);
                for (i, rule) in set.rules.iter().enumerate() {
                    let i = i as u32;
                    if !rule.matches(&ev) {
                        continue;
                    }
                    match index.kind(i) {
                        Indexed::Always => {}
                        Indexed::Never => prop_assert!(false, "rule {i} matched but the index says it never can:\n{}", text[i as usize]),
                        Indexed::Texts => prop_assert!(scratch.found.contains(&i), "rule {i} matched {:?} but was not found:\n{}", ev, text[i as usize]),
                    }
                }
            }
        }
    }

    #[test]
    fn texts_are_found_in_named_fields_and_keywords_anywhere() {
        let yaml = "title: img\nlogsource: {product: test}\ndetection:\n  sel:\n    Image|endswith: '\\whoami.exe'\n  condition: sel\n---\n\
                    title: kw\nlogsource: {product: test}\ndetection:\n  sel:\n    - 'sekurlsa::'\n  condition: sel\n---\n\
                    title: num\nlogsource: {product: test}\ndetection:\n  sel:\n    EventID: 4688\n  condition: sel\n";
        let set = RuleSet::from_str(Path::new("t.yml"), yaml, &CompileOptions::default()).unwrap();
        let index = set.index();
        assert_eq!(index.counts(), (2, 1, 0));
        let scope = index.scope(|_| true);
        let mut s = Scratch::default();
        let mut ev = Event::at(0);
        ev.push_str(intern("Image").unwrap(), r"C:\Windows\System32\WHOAMI.EXE");
        ev.push_str(intern("Message").unwrap(), "mimikatz SEKURLSA::logonpasswords");
        index.found(&ev, &scope, &mut s);
        s.found.sort_unstable();
        assert_eq!(s.found, vec![0, 1]);
        // The image name in a field no rule names finds nothing.
        let mut other = Event::at(0);
        other.push_str(intern("CommandLine").unwrap(), r"C:\Windows\System32\whoami.exe");
        index.found(&other, &scope, &mut s);
        assert!(s.found.is_empty());
    }
}
