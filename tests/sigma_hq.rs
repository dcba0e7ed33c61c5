//! Compiles every SigmaHQ rule under ../shared/data/sigmahq-rules (beside the repository,
//! hence ignored): `cargo test --test sigma_hq -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vigil::rules::{CompileOptions, RuleSet};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for c in children {
        if c.is_dir() {
            yaml_files(&c, out);
        } else if c.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(c);
        }
    }
}

#[test]
#[ignore = "reads ../shared/data/sigmahq-rules"]
fn every_sigmahq_rule_compiles() {
    let root = &Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/sigmahq-rules");
    let mut files = Vec::new();
    yaml_files(root, &mut files);
    assert!(!files.is_empty(), "no rules under {}", root.display());
    let opts = CompileOptions::default();
    let (mut ok, mut rules, mut warnings) = (0usize, 0usize, 0usize);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut examples = Vec::new();
    for f in &files {
        match RuleSet::load(std::slice::from_ref(f), &opts) {
            Ok(set) => {
                ok += 1;
                rules += set.len();
                warnings += set.warnings.len();
            }
            Err(errors) => {
                for e in &errors {
                    let reason: String = e.message.split('"').next().unwrap_or("").to_string();
                    *reasons.entry(reason).or_default() += 1;
                    if examples.len() < 20 {
                        examples.push(e.to_string());
                    }
                }
            }
        }
    }
    println!("SigmaHQ: {ok}/{} files compile ({rules} detection rules, {warnings} warnings)", files.len());
    for (reason, n) in &reasons {
        println!("  {n:5}  {reason}");
    }
    for e in &examples {
        println!("  e.g. {e}");
    }
    assert_eq!(ok, files.len(), "some SigmaHQ rules failed to compile");
}

/// Runs every SigmaHQ rule (filtered by logsource) over the Windows JSON fixtures and prints what fires (a smoke test of
/// semantics on real rules and real events; every event must be evaluable by every rule).
#[test]
#[ignore = "reads ../shared/data/sigmahq-rules"]
fn sigmahq_rules_on_windows_fixtures() {
    use vigil::parse::{new_parser, Format, ParseOptions};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/sigmahq-rules");
    let set = std::sync::Arc::new(RuleSet::load(&[root], &CompileOptions::default()).expect("SigmaHQ compiles"));
    let mut matcher = vigil::rules::logsource::RuleMatcher::new(set.clone());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut fired = 0;
    for name in ["windows_ad.jsonl", "windows_lsass.jsonl"] {
        let text = std::fs::read_to_string(fixtures.join(name)).unwrap();
        let mut parser = new_parser(Format::Json, &ParseOptions::default());
        let mut events = Vec::new();
        for line in text.lines() {
            let _ = parser.parse(line.as_bytes(), &mut events);
        }
        let mut hits = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            hits.clear();
            matcher.matching(ev, &mut hits);
            for h in &hits {
                fired += 1;
                println!("{name} event {i}: {}", set.rules[*h as usize].title);
            }
        }
    }
    println!("{fired} rule hits");
}
