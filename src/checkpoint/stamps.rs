//! What a checkpoint records of the rules it was taken with, so a restart can tell whether the
//! state it restores belongs to the rules it runs.

use std::collections::{BTreeMap, BTreeSet};

use xxhash_rust::xxh3::xxh3_128;

use super::store::RuleStamp;
use crate::rules::correlation::ResolvedRef;
use crate::rules::RuleSet;

/// One stamp per detection and correlation rule: its id (or title) and a hash of its compiled
/// form (moving a rule to another file or line does not change it; editing it does). A
/// correlation's hash covers the rules it references too, to the bottom of the chain: its
/// state is kept across a rule change only when everything that feeds it is unchanged.
pub fn rule_stamps(rules: &RuleSet) -> Vec<RuleStamp> {
    let hash = |form: &str| format!("{:032x}", xxh3_128(form.as_bytes()));
    let detections: Vec<RuleStamp> = rules
        .rules
        .iter()
        .map(|r| {
            let id = r.id.clone().unwrap_or_else(|| r.title.clone());
            RuleStamp { id, hash: hash(&format!("{:?}|{:?}|{:?}|{:?}|{:?}", r.title, r.level, r.tags, r.logsource, r.matcher)) }
        })
        .collect();
    // Dependencies first (the resolution's order), so each reference's hash is known.
    let specs = &rules.correlation_specs;
    let mut deep: Vec<Option<String>> = vec![None; specs.len()];
    let order = rules.resolution.order.iter().map(|&c| c as usize).chain(0..specs.len());
    for c in order {
        if c >= specs.len() || deep[c].is_some() {
            continue;
        }
        let refs = rules.resolution.refs.get(c).map(Vec::as_slice).unwrap_or_default();
        let inputs: Vec<&str> = refs
            .iter()
            .map(|r| match r {
                ResolvedRef::Detection(d) => detections.get(*d as usize).map_or("", |s| s.hash.as_str()),
                ResolvedRef::Correlation(k) => deep.get(*k as usize).and_then(|h| h.as_deref()).unwrap_or(""),
            })
            .collect();
        // Where it is written is not what it is: the file and lines are left out.
        let mut form = specs[c].clone();
        form.file = Default::default();
        form.line = 0;
        form.rules.iter_mut().for_each(|r| r.line = 0);
        form.aliases.iter_mut().for_each(|a| a.line = 0);
        deep[c] = Some(hash(&format!("{form:?}|{inputs:?}")));
    }
    let correlations = specs
        .iter()
        .zip(deep)
        .map(|(c, h)| RuleStamp { id: c.id.clone().or_else(|| c.title.clone()).or_else(|| c.name.clone()).unwrap_or_default(), hash: h.unwrap_or_default() });
    detections.into_iter().chain(correlations).collect()
}

/// The ids whose stamps are the same in both: the rules whose state a restart keeps.
pub fn unchanged_rules(then: &[RuleStamp], now: &[RuleStamp]) -> BTreeSet<String> {
    let then: BTreeMap<&str, &str> = then.iter().map(|r| (r.id.as_str(), r.hash.as_str())).collect();
    now.iter().filter(|r| then.get(r.id.as_str()) == Some(&r.hash.as_str())).map(|r| r.id.clone()).collect()
}

/// How the rules of a run differ from those of a checkpoint, by id: `None` when they are the
/// same; otherwise a sentence naming what was added, removed and changed.
pub fn rule_changes(then: &[RuleStamp], now: &[RuleStamp]) -> Option<String> {
    let index = |s: &[RuleStamp]| s.iter().map(|r| (r.id.clone(), r.hash.clone())).collect::<BTreeMap<_, _>>();
    let (then, now) = (index(then), index(now));
    if then == now {
        return None;
    }
    let added: Vec<&str> = now.keys().filter(|k| !then.contains_key(*k)).map(String::as_str).collect();
    let removed: Vec<&str> = then.keys().filter(|k| !now.contains_key(*k)).map(String::as_str).collect();
    let changed: Vec<&str> = now.iter().filter(|(k, h)| then.get(*k).is_some_and(|old| old != *h)).map(|(k, _)| k.as_str()).collect();
    let list = |what: &str, ids: &[&str]| {
        (!ids.is_empty()).then(|| {
            let shown: Vec<&str> = ids.iter().take(5).copied().collect();
            let more = if ids.len() > 5 { format!(" and {} more", ids.len() - 5) } else { String::new() };
            format!("{what} {}: {}{more}", ids.len(), shown.join(", "))
        })
    };
    let parts: Vec<String> = [list("added", &added), list("removed", &removed), list("changed", &changed)].into_iter().flatten().collect();
    Some(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(id: &str, hash: &str) -> RuleStamp {
        RuleStamp { id: id.into(), hash: hash.into() }
    }

    #[test]
    fn changes_name_what_was_added_removed_and_changed() {
        let then = [stamp("a", "1"), stamp("b", "2"), stamp("c", "3")];
        assert_eq!(rule_changes(&then, &then), None);
        let now = [stamp("a", "1"), stamp("b", "9"), stamp("d", "4")];
        assert_eq!(rule_changes(&then, &now).as_deref(), Some("added 1: d; removed 1: c; changed 1: b"));
    }

    #[test]
    fn the_same_rules_give_the_same_stamps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yml");
        std::fs::write(&path, "title: t\nid: r1\nlogsource: {product: linux}\ndetection:\n  sel: {a|contains: [x, y]}\n  condition: sel\n").unwrap();
        let load = || RuleSet::load(std::slice::from_ref(&path), &Default::default()).unwrap();
        assert_eq!(rule_stamps(&load()), rule_stamps(&load()));
        std::fs::write(&path, "title: t\nid: r1\nlogsource: {product: linux}\ndetection:\n  sel: {a|contains: [x, z]}\n  condition: sel\n").unwrap();
        let before = rule_stamps(&load());
        assert_eq!(before.len(), 1);
        std::fs::write(&path, "title: t\nid: r1\nlogsource: {product: linux}\ndetection:\n  sel: {a|contains: [x, y]}\n  condition: sel\n").unwrap();
        assert_ne!(before, rule_stamps(&load()), "an edited detection changes the stamp");
    }

    #[test]
    fn a_correlation_changes_with_the_rules_it_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yml");
        let write = |needle: &str| {
            let text = format!(
                "title: d\nid: d1\nname: d\nlogsource: {{product: linux}}\ndetection:\n  sel: {{a: {needle}}}\n  condition: sel\n---\ntitle: c\nid: c1\ncorrelation:\n  type: event_count\n  rules: [d]\n  group-by: [b]\n  timespan: 5m\n  condition: {{gte: 3}}\n"
            );
            std::fs::write(&path, text).unwrap();
            rule_stamps(&RuleSet::load(std::slice::from_ref(&path), &Default::default()).unwrap())
        };
        let (x, y) = (write("x"), write("y"));
        assert_eq!(x.len(), 2);
        assert_ne!(x[1].hash, y[1].hash, "the correlation's stamp follows its detection's");
        assert_eq!(unchanged_rules(&x, &y), BTreeSet::new());
        assert_eq!(unchanged_rules(&x, &write("x")), ["c1".to_owned(), "d1".to_owned()].into_iter().collect());
        // Elsewhere, after a blank line: the same rules.
        let moved = dir.path().join("sub");
        std::fs::create_dir(&moved).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(moved.join("r.yml"), format!("\n{text}")).unwrap();
        assert_eq!(rule_stamps(&RuleSet::load(&[moved.join("r.yml")], &Default::default()).unwrap()), x);
    }
}
