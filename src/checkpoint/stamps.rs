//! What a checkpoint records of the rules it was taken with, so a restart can tell whether the
//! state it restores belongs to the rules it runs.

use std::collections::BTreeMap;

use xxhash_rust::xxh3::xxh3_128;

use super::store::RuleStamp;
use crate::rules::RuleSet;

/// One stamp per detection and correlation rule: its id (or title) and a hash of its compiled
/// form (moving a rule to another file or line does not change it; editing it does).
pub fn rule_stamps(rules: &RuleSet) -> Vec<RuleStamp> {
    let detections = rules.rules.iter().map(|r| {
        let id = r.id.clone().unwrap_or_else(|| r.title.clone());
        let form = format!("{:?}|{:?}|{:?}|{:?}|{:?}", r.title, r.level, r.tags, r.logsource, r.matcher);
        (id, form)
    });
    let correlations = rules.correlation_specs.iter().map(|c| {
        let id = c.id.clone().or_else(|| c.title.clone()).or_else(|| c.name.clone()).unwrap_or_default();
        (id, format!("{c:?}"))
    });
    detections.chain(correlations).map(|(id, form)| RuleStamp { id, hash: format!("{:032x}", xxh3_128(form.as_bytes())) }).collect()
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
}
