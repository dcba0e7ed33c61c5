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

/// The rule index changes no result on real rules and real events: SigmaHQ's Windows rules over
/// the OTRF recordings give, event by event, the same matches through the index as running every
/// rule the event's logsource admits.
#[test]
#[ignore = "reads ../shared/data"]
fn the_rule_index_agrees_with_running_every_rule() {
    use std::io::Read;
    use vigil::parse::{new_parser, Format, ParseOptions};
    use vigil::rules::logsource::{admits, event_source, RuleMatcher, SourceFields};
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let set = std::sync::Arc::new(RuleSet::load(&[data.join("sigmahq-rules/rules/windows")], &CompileOptions::default()).expect("SigmaHQ compiles"));
    let mut matcher = RuleMatcher::new(set.clone());
    let fields = SourceFields::default();
    let (mut events_seen, mut hits_seen) = (0usize, 0usize);
    let mut recordings = Vec::new();
    let zip = "otrf-purplesharp-ad-playbook-1/purplesharp_ad_playbook_I_host_full.zip";
    let file = std::fs::File::open(data.join(zip)).unwrap_or_else(|e| panic!("{zip}: {e}"));
    let mut archive = zip::ZipArchive::new(file).expect("a zip archive");
    for n in 0..archive.len() {
        let mut text = String::new();
        archive.by_index(n).expect("an entry").read_to_string(&mut text).expect("UTF-8 JSON lines");
        recordings.push((zip.to_string(), text));
    }
    let lsass = "otrf-lsass-campaign-01/host_filtered.jsonl";
    recordings.push((lsass.to_string(), std::fs::read_to_string(data.join(lsass)).unwrap_or_else(|e| panic!("{lsass}: {e}"))));
    for (zip, text) in &recordings {
        {
            let mut parser = new_parser(Format::Json, &ParseOptions::default());
            let mut events = Vec::new();
            for line in text.lines() {
                let _ = parser.parse(line.as_bytes(), &mut events);
            }
            let (mut indexed, mut every) = (Vec::new(), Vec::new());
            for ev in &events {
                indexed.clear();
                matcher.matching(ev, &mut indexed);
                let src = event_source(ev, &fields);
                every.clear();
                every.extend((0..set.rules.len() as u32).filter(|&i| admits(&set.rules[i as usize].logsource, &src) && set.rules[i as usize].matches(ev)));
                assert_eq!(indexed, every, "{zip}: {ev:?}");
                hits_seen += every.len();
            }
            events_seen += events.len();
        }
    }
    println!("{events_seen} events, {hits_seen} rule matches, the same with and without the index");
    assert!(events_seen > 25_000 && hits_seen > 100, "too little to compare: {events_seen} events, {hits_seen} matches");
}
