//! Sigma correlation rules (spec v2.1) and vigil's extensions: parsing, validation (errors name
//! file:line:field), reference resolution, chains, cycles, and the documented decisions.

use std::path::{Path, PathBuf};

use vigil::correlate::Condition;
use vigil::rules::correlation::{CorrelationKind, ResolvedRef};
use vigil::rules::extensions::{Persistence, Suppress};
use vigil::rules::{CompileOptions, RuleError, RuleSet};

/// Four detection rules appended after the correlation under test (so the correlation's lines
/// start at 1).
const DETECTIONS: &str = "\
title: Failed login
id: 9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c01
name: failed_login
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4625
    condition: selection
---
title: Successful login
id: 9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c02
name: successful_login
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4624
    condition: selection
---
title: Outbound flow
id: 9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c03
name: outbound_flow
logsource: {category: network_connection}
detection:
    selection:
        network.direction: outbound
    condition: selection
---
title: Service installed
id: 9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c04
name: service_installed
logsource: {product: windows, service: system}
detection:
    selection:
        EventID: 7045
    condition: selection
";

fn load(correlation: &str) -> Result<RuleSet, Vec<RuleError>> {
    let text = format!("{correlation}\n---\n{DETECTIONS}");
    RuleSet::from_str(Path::new("c.yml"), &text, &CompileOptions::default())
}

fn ok(correlation: &str) -> RuleSet {
    match load(correlation) {
        Ok(s) => s,
        Err(e) => panic!("expected to load, got {:#?}", e.iter().map(|e| e.to_string()).collect::<Vec<_>>()),
    }
}

/// The error messages (as displayed: `file:line: field: message`).
fn errs(correlation: &str) -> Vec<String> {
    match load(correlation) {
        Ok(_) => panic!("expected errors for:\n{correlation}"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

/// Asserts that some error starts with `prefix` (`c.yml:LINE: field`) and contains `text`.
#[track_caller]
fn has_err(correlation: &str, prefix: &str, text: &str) {
    let e = errs(correlation);
    assert!(e.iter().any(|m| m.starts_with(prefix) && m.contains(text)), "no error {prefix:?} containing {text:?} in {e:#?}");
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigma/correlation")
}

// ---------------------------------------------------------------- every type

#[test]
fn event_count() {
    let set = ok("title: Many failed logins on one host
id: 3c2d1e0f-aaaa-4bbb-8ccc-000000000001
name: many_failed
description: At least 50 failed logins on one host within an hour
level: high
tags:
    - attack.credential-access
correlation:
    type: event_count
    rules:
        - 9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c01
    group-by:
        - ComputerName
    timespan: 1h
    condition:
        gte: 50");
    let c = &set.correlation_specs[0];
    assert_eq!(c.kind, CorrelationKind::EventCount);
    assert_eq!(c.id.as_deref(), Some("3c2d1e0f-aaaa-4bbb-8ccc-000000000001"));
    assert_eq!(c.name.as_deref(), Some("many_failed"));
    assert_eq!(c.title.as_deref(), Some("Many failed logins on one host"));
    assert_eq!(c.level.as_deref(), Some("high"));
    assert_eq!(c.tags, vec!["attack.credential-access"]);
    assert_eq!(c.group_by, vec!["ComputerName"]);
    assert_eq!(c.timespan_ms, 3_600_000);
    assert_eq!(c.condition, Condition::gte(50.0));
    assert_eq!(c.field, None);
    assert_eq!(c.percentile, None);
    assert!(!c.generate);
    assert_eq!((c.file.as_path(), c.line), (Path::new("c.yml"), 1));
    assert_eq!(set.correlations.len(), 1, "the raw document is kept beside the spec");
    assert_eq!(set.resolution.refs, vec![vec![ResolvedRef::Detection(0)]]);
}

#[test]
fn value_count_with_several_group_by_fields() {
    let set = ok("title: Password spraying
correlation:
    type: value_count
    rules:
        - failed_login
    group-by:
        - SourceIp
        - TargetHost
    timespan: 1d
    condition:
        field: TargetUserName
        gt: 30");
    let c = &set.correlation_specs[0];
    assert_eq!(c.kind, CorrelationKind::ValueCount);
    assert_eq!(c.group_by, vec!["SourceIp", "TargetHost"]);
    assert_eq!(c.group_fields(0), vec!["SourceIp", "TargetHost"]);
    assert_eq!(c.field.as_deref(), Some("TargetUserName"));
    assert_eq!(c.condition, Condition::gt(30.0));
    assert_eq!(c.timespan_ms, 86_400_000);
}

#[test]
fn temporal_defaults_to_all_rules() {
    let set = ok("title: Recon burst
correlation:
    type: temporal
    rules:
        - failed_login
        - successful_login
        - service_installed
    group-by:
        - host.name
        - user.name
    timespan: 5m");
    let c = &set.correlation_specs[0];
    assert_eq!(c.kind, CorrelationKind::Temporal);
    assert_eq!(c.condition, Condition::gte(3.0));
    assert_eq!(set.resolution.refs[0], vec![ResolvedRef::Detection(0), ResolvedRef::Detection(1), ResolvedRef::Detection(3)]);
    // An explicit condition below the number of rules is fine (2 of 3 rules).
    let set = ok("title: Two of three
correlation:
    type: temporal
    rules: [failed_login, successful_login, service_installed]
    group-by: [host.name]
    timespan: 5m
    condition:
        gte: 2");
    assert_eq!(set.correlation_specs[0].condition, Condition::gte(2.0));
}

#[test]
fn temporal_ordered_keeps_rule_order() {
    let set = ok("title: Failures then success
correlation:
    type: temporal_ordered
    rules:
        - failed_login
        - successful_login
    group-by:
        - TargetUserName
    timespan: 30m");
    let c = &set.correlation_specs[0];
    assert_eq!(c.kind, CorrelationKind::TemporalOrdered);
    assert_eq!(c.rules.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(), vec!["failed_login", "successful_login"]);
    assert_eq!(c.rules[1].line, 6);
    assert_eq!(c.condition, Condition::gte(2.0));
    assert_eq!(set.resolution.refs[0], vec![ResolvedRef::Detection(0), ResolvedRef::Detection(1)]);
}

#[test]
fn value_sum_avg_percentile() {
    let set = ok("title: Large upload
correlation:
    type: value_sum
    rules: [outbound_flow]
    group-by: [source.ip, user.name]
    timespan: 1h
    condition:
        field: network.bytes
        gt: 1000000");
    let c = &set.correlation_specs[0];
    assert_eq!((c.kind, c.field.as_deref(), c.condition), (CorrelationKind::ValueSum, Some("network.bytes"), Condition::gt(1e6)));

    let set = ok("title: High average
correlation:
    type: value_avg
    rules: [outbound_flow]
    group-by: [source.ip]
    timespan: 24h
    condition:
        field: network.bytes
        gte: 512.5");
    let c = &set.correlation_specs[0];
    assert_eq!((c.kind, c.condition), (CorrelationKind::ValueAvg, Condition::gte(512.5)), "value_avg takes float operands");

    let set = ok("title: Median flow size
correlation:
    type: value_percentile
    rules: [outbound_flow]
    group-by: [host.name]
    timespan: 24h
    condition:
        field: network.bytes
        lte: 100");
    let c = &set.correlation_specs[0];
    assert_eq!(c.kind, CorrelationKind::ValuePercentile);
    assert_eq!(c.percentile, Some(50.0), "decision: the default percentile is the median");
    assert_eq!(c.extensions.percentile, None);

    let set = ok("title: p95 flow size
correlation:
    type: value_percentile
    rules: [outbound_flow]
    group-by: [host.name]
    timespan: 24h
    condition:
        field: network.bytes
        gt: 100000
x-vigil:
    percentile: 95");
    assert_eq!(set.correlation_specs[0].percentile, Some(95.0));
}

// ---------------------------------------------------------------- files, references, chains

#[test]
fn multi_document_file_with_chain_spec_style() {
    // Written after the spec's "failed logins followed by a successful login" example: outer
    // correlation first, then the inner one, then the detections, all in one file.
    let set = ok("title: Brute force followed by success
id: 5d6e7f80-1111-4222-8333-444455556666
correlation:
    type: temporal_ordered
    rules:
        - many_failed_logins
        - successful_login
    group-by:
        - TargetUserName
    timespan: 10m
level: high
---
title: Many failed logins
id: 5d6e7f80-1111-4222-8333-444455556667
name: many_failed_logins
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - TargetUserName
    timespan: 10m
    condition:
        gte: 10");
    assert_eq!(set.len(), 4);
    assert_eq!(set.correlation_specs.len(), 2);
    let r = &set.resolution;
    assert_eq!(r.refs[0], vec![ResolvedRef::Correlation(1), ResolvedRef::Detection(1)]);
    assert_eq!(r.refs[1], vec![ResolvedRef::Detection(0)]);
    assert_eq!(r.order, vec![1, 0], "the inner correlation comes first");
    // generate defaults to false: referenced rules raise no alerts of their own.
    assert_eq!(r.correlation_emits, vec![true, false]);
    assert_eq!(r.detection_emits, vec![false, false, true, true]);
}

#[test]
fn references_by_id_and_by_name_across_files() {
    let d = fixtures();
    let set = RuleSet::load(&[d.join("chain.yml"), d.join("detections.yml")], &CompileOptions::default()).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(set.correlation_specs.len(), 2);
    // rules: [ssh_bruteforce (a correlation, by name), <id of ssh_accepted> (a detection, by id)]
    assert_eq!(set.resolution.refs[0], vec![ResolvedRef::Correlation(1), ResolvedRef::Detection(1)]);
    assert_eq!(set.resolution.refs[1], vec![ResolvedRef::Detection(0)]);
    assert_eq!(set.resolution.order, vec![1, 0]);
    let outer = &set.correlation_specs[0];
    assert_eq!(outer.level.as_deref(), Some("critical"));
    assert_eq!(outer.extensions.suppress, Some(Suppress { for_ms: 3_600_000 }));
    assert_eq!(outer.line, 2);
    assert_eq!(set.correlation_specs[1].group_by, vec!["source.ip", "user.name"]);
    // Loading the directory finds the same (plus the bad fixtures, which fail).
    let errors = RuleSet::load(&[d], &CompileOptions::default()).unwrap_err();
    assert_eq!(errors.len(), 2, "an unknown reference does not hide a cycle: {errors:?}");
    assert!(errors[0].file.ends_with("unknown_ref.yml") && errors[0].message.starts_with("unknown rule reference"), "{errors:?}");
    assert!(errors[1].file.ends_with("cycle.yml") && errors[1].message.contains("cycle"), "{errors:?}");
}

#[test]
fn cycle_is_an_error() {
    let d = fixtures();
    let errors = RuleSet::load(&[d.join("cycle.yml")], &CompileOptions::default()).unwrap_err();
    let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].ends_with("cycle.yml:6: correlation.rules: correlation rules form a cycle: loop_one -> loop_two -> loop_one"), "{msgs:?}");

    has_err(
        "title: Me
name: me
correlation:
    type: event_count
    rules: [me, failed_login]
    timespan: 5m
    condition: {gte: 2}",
        "c.yml:5: correlation.rules",
        "refers to this correlation itself",
    );

    // A longer cycle behind a correct chain is reported once.
    let e = errs(
        "title: A
name: a
correlation: {type: event_count, rules: [b], timespan: 5m, condition: {gte: 1}}
---
title: B
name: b
correlation: {type: event_count, rules: [c], timespan: 5m, condition: {gte: 1}}
---
title: C
name: c
correlation: {type: event_count, rules: [d], timespan: 5m, condition: {gte: 1}}
---
title: D
name: d
correlation: {type: event_count, rules: [b], timespan: 5m, condition: {gte: 1}}",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("cycle: b -> c -> d -> b"), "{e:?}");
}

#[test]
fn unknown_and_ambiguous_references() {
    let d = fixtures();
    let errors = RuleSet::load(&[d.join("detections.yml"), d.join("unknown_ref.yml")], &CompileOptions::default()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .ends_with("unknown_ref.yml:6: correlation.rules: unknown rule reference \"no_such_rule\": no detection or correlation rule has this id or name"),
        "{errors:?}"
    );
    has_err(
        "title: Two rules named the same
name: failed_login
correlation:
    type: event_count
    rules: [successful_login]
    timespan: 5m
    condition: {gte: 2}
---
title: Refers to the twin name
correlation:
    type: event_count
    rules: [failed_login]
    timespan: 5m
    condition: {gte: 2}",
        "c.yml:12: correlation.rules",
        "ambiguous rule reference \"failed_login\": matches the rules at",
    );
    has_err(
        "title: Listed twice
correlation:
    type: temporal
    rules: [failed_login, failed_login]
    timespan: 5m",
        "c.yml:4: correlation.rules",
        "\"failed_login\" is listed twice",
    );
}

// ---------------------------------------------------------------- aliases

#[test]
fn aliases_map_fields_per_rule() {
    let set = ok("title: Failed logins then outbound flow, same addresses
correlation:
    type: temporal
    rules:
        - failed_login
        - 9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c03
    group-by:
        - internal_ip
        - remote_ip
        - host.name
    timespan: 10s
    aliases:
        internal_ip:
            failed_login: destination.ip
            9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c03: source.ip
        remote_ip:
            failed_login: source.ip
            9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c03: destination.ip");
    let c = &set.correlation_specs[0];
    assert_eq!(c.aliases.len(), 2);
    assert_eq!(c.aliases[0].name, "internal_ip");
    assert_eq!(c.aliases[0].per_rule.get("failed_login").map(String::as_str), Some("destination.ip"));
    assert_eq!(c.group_fields(0), vec!["destination.ip", "source.ip", "host.name"]);
    assert_eq!(c.group_fields(1), vec!["source.ip", "destination.ip", "host.name"]);
    assert!(set.warnings.is_empty(), "{:?}", set.warnings);
}

#[test]
fn alias_errors_and_warnings() {
    let base = "title: Aliased
correlation:
    type: temporal
    rules: [failed_login, outbound_flow]
    group-by: [ip]
    timespan: 1m
    aliases:
        ip:
";
    has_err(
        &format!("{base}            failed_login: source.ip\n            outbound_flow: destination.ip\n            successful_login: source.ip"),
        "c.yml:11: correlation.aliases.ip.successful_login",
        "\"successful_login\" is not in correlation.rules",
    );
    has_err(&format!("{base}            failed_login: source.ip"), "c.yml:9: correlation.aliases.ip", "gives no field for rule \"outbound_flow\"");
    has_err(
        &format!("{base}            failed_login: [a, b]\n            outbound_flow: x"),
        "c.yml:9: correlation.aliases.ip.failed_login",
        "must be a field name",
    );
    has_err(
        "title: x\ncorrelation:\n    type: temporal\n    rules: [failed_login, outbound_flow]\n    timespan: 1m\n    aliases: [ip]",
        "c.yml:6: correlation.aliases",
        "must be a mapping",
    );
    let set = ok("title: Unused alias
correlation:
    type: temporal
    rules: [failed_login, outbound_flow]
    group-by: [host.name]
    timespan: 1m
    aliases:
        ip:
            failed_login: source.ip
            outbound_flow: destination.ip");
    assert_eq!(set.warnings.len(), 1);
    assert_eq!(set.warnings[0].to_string(), "c.yml:8: correlation.aliases.ip: alias not used in correlation.group-by");
}

// ---------------------------------------------------------------- conditions

fn count_condition(cond: &str) -> Result<Condition, Vec<String>> {
    let text = format!("title: t\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition:\n{cond}");
    match load(&text) {
        Ok(s) => Ok(s.correlation_specs[0].condition),
        Err(e) => Err(e.iter().map(|e| e.to_string()).collect()),
    }
}

#[test]
fn every_operator_and_ranges() {
    let c = |s: &str| count_condition(s).unwrap();
    assert_eq!(c("        gt: 10"), Condition::gt(10.0));
    assert_eq!(c("        gte: 10"), Condition::gte(10.0));
    assert_eq!(c("        lt: 10"), Condition::lt(10.0));
    assert_eq!(c("        lte: 10"), Condition::lte(10.0));
    assert_eq!(c("        eq: 10"), Condition::eq(10.0));
    assert_eq!(c("        neq: 0"), Condition::neq(0.0));
    let r = c("        gt: 100\n        lte: 200");
    assert_eq!((r.gt, r.lte), (Some(100.0), Some(200.0)));
    assert!(!r.matches(100.0) && r.matches(101.0) && r.matches(200.0) && !r.matches(201.0));
    let r = c("        gte: 10\n        lte: 20");
    assert!(r.matches(10.0) && r.matches(20.0) && !r.matches(21.0));
    let r = c("        gte: 1\n        lt: 10\n        neq: 5");
    assert!(r.matches(4.0) && !r.matches(5.0) && !r.matches(10.0));
    // A one-value range is fine.
    assert_eq!(c("        gte: 5\n        lte: 5").gte, Some(5.0));
}

#[test]
fn condition_errors() {
    let e = |s: &str| {
        let v = count_condition(s).unwrap_err();
        assert_eq!(v.len(), 1, "{v:?}");
        v[0].clone()
    };
    assert_eq!(e("        gt: 1\n        gte: 2"), "c.yml:7: correlation.condition: gt and gte together: give one lower bound");
    assert_eq!(e("        lt: 1\n        lte: 2"), "c.yml:7: correlation.condition: lt and lte together: give one upper bound");
    assert_eq!(e("        eq: 3\n        gte: 2"), "c.yml:7: correlation.condition: eq cannot be combined with other operators");
    let empty = "c.yml:7: correlation.condition: the range is empty: no value satisfies every operator";
    assert_eq!(e("        gte: 20\n        lte: 10"), empty);
    assert_eq!(e("        gt: 5\n        lt: 6"), empty, "no integer count between 5 and 6");
    assert_eq!(e("        gte: 5\n        lte: 5\n        neq: 5"), empty);
    assert_eq!(e("        lt: 0"), empty, "counts are never negative");
    let never = "c.yml:7: correlation.condition: can never hold: a window exists only where there are events, so every count is at least 1";
    assert_eq!(e("        eq: 0"), never);
    assert_eq!(e("        lt: 1"), never);
    assert_eq!(e("        lte: 0"), never);
    assert_eq!(e("        gte: 2.5"), "c.yml:7: correlation.condition.gte: must be a non-negative integer, found \"2.5\"");
    assert_eq!(e("        gte: -1"), "c.yml:7: correlation.condition.gte: must be a non-negative integer, found \"-1\"");
    assert_eq!(e("        gte: '10'"), "c.yml:7: correlation.condition.gte: must be a non-negative integer, found \"10\"");
    assert_eq!(e("        above: 10"), "c.yml:7: correlation.condition.above: unknown key (expected gt, gte, lt, lte, eq, neq or field)");
    assert_eq!(e("        {}"), "c.yml:7: correlation.condition: needs at least one of gt, gte, lt, lte, eq, neq");
    assert_eq!(e("        - gte: 1"), "c.yml:7: correlation.condition: must be a mapping like {gte: 10}, found a list");
    // Missing condition on event_count.
    has_err(
        "title: t\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m",
        "c.yml:3: correlation.condition",
        "missing required key",
    );
    // Empty float range on value_avg: 5 < x < 5.
    has_err(
        "title: t\ncorrelation:\n    type: value_avg\n    rules: [outbound_flow]\n    timespan: 5m\n    condition:\n        field: f\n        gt: 5\n        lt: 5",
        "c.yml:7: correlation.condition",
        "the range is empty",
    );
}

#[test]
fn temporal_condition_decisions() {
    has_err(
        "title: t\ncorrelation:\n    type: temporal\n    rules: [failed_login, successful_login]\n    timespan: 5m\n    condition:\n        gte: 3",
        "c.yml:7: correlation.condition",
        "can never hold: temporal counts at most 2 distinct rules",
    );
    has_err(
        "title: t\ncorrelation:\n    type: temporal_ordered\n    rules: [failed_login, successful_login]\n    timespan: 5m\n    condition:\n        gte: 1",
        "c.yml:7: correlation.condition",
        "temporal_ordered needs every rule in order: leave the condition out or write gte: 2",
    );
    let set =
        ok("title: t\ncorrelation:\n    type: temporal_ordered\n    rules: [failed_login, successful_login]\n    timespan: 5m\n    condition:\n        gte: 2");
    assert_eq!(set.correlation_specs[0].condition, Condition::gte(2.0));
    has_err(
        "title: t\ncorrelation:\n    type: temporal\n    rules: [failed_login]\n    timespan: 5m",
        "c.yml:4: correlation.rules",
        "temporal needs 2 to 64 rules, found 1",
    );
}

#[test]
fn field_rules() {
    has_err(
        "title: t\ncorrelation:\n    type: value_count\n    rules: [failed_login]\n    timespan: 5m\n    condition:\n        gte: 3",
        "c.yml:7: correlation.condition.field",
        "missing: value_count needs the field to aggregate",
    );
    for kind in ["value_sum", "value_avg", "value_percentile"] {
        has_err(
            &format!("title: t\ncorrelation:\n    type: {kind}\n    rules: [outbound_flow]\n    timespan: 5m\n    condition:\n        gte: 3"),
            "c.yml:7: correlation.condition.field",
            &format!("missing: {kind} needs the field"),
        );
    }
    has_err(
        "title: t\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition:\n        field: user\n        gte: 3",
        "c.yml:7: correlation.condition.field",
        "not allowed on event_count",
    );
    has_err(
        "title: t\ncorrelation:\n    type: value_count\n    rules: [failed_login]\n    timespan: 5m\n    condition:\n        field: [user, host]\n        gte: 3",
        "c.yml:7: correlation.condition.field",
        "a list of fields is not supported",
    );
    has_err(
        "title: t\ncorrelation:\n    type: value_count\n    rules: [failed_login]\n    timespan: 5m\n    field: user\n    condition:\n        gte: 3",
        "c.yml:6: correlation.field",
        "unknown key",
    );
}

// ---------------------------------------------------------------- shape errors

#[test]
fn type_errors() {
    has_err(
        "title: t\ncorrelation:\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 1}",
        "c.yml:3: correlation.type",
        "missing required key",
    );
    has_err(
        "title: t\ncorrelation:\n    type: event_counts\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 1}",
        "c.yml:3: correlation.type",
        "unknown correlation type \"event_counts\": expected one of event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile, x-vigil-absence",
    );
    has_err("title: t\ncorrelation: [1]", "c.yml:2: correlation", "must be a mapping");
    has_err("title: t\ncorrelation:\n    type: event_count\n    timespan: 5m\n    condition: {gte: 1}", "c.yml:3: correlation.rules", "missing required key");
    has_err(
        "title: t\ncorrelation:\n    type: event_count\n    rules: []\n    timespan: 5m\n    condition: {gte: 1}",
        "c.yml:4: correlation.rules",
        "must name at least one rule",
    );
    has_err(
        "title: t\ncorrelation:\n    type: event_count\n    rules: {a: b}\n    timespan: 5m\n    condition: {gte: 1}",
        "c.yml:4: correlation.rules",
        "must be a list of strings",
    );
}

#[test]
fn timespan_units() {
    let span =
        |t: &str| load(&format!("title: t\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: {t}\n    condition: {{gte: 1}}"));
    let ms = |t: &str| span(t).unwrap().correlation_specs[0].timespan_ms;
    assert_eq!(ms("30s"), 30_000);
    assert_eq!(ms("90m"), 5_400_000);
    assert_eq!(ms("2h"), 7_200_000);
    assert_eq!(ms("7d"), 604_800_000);
    assert_eq!(ms("1w"), 604_800_000, "decision: weeks are accepted, like pySigma");
    let err = |t: &str| span(t).unwrap_err()[0].to_string();
    assert!(err("500ms").starts_with("c.yml:5: correlation.timespan: must be a positive integer followed by s, m, h, d or w"), "{}", err("500ms"));
    assert!(err("500ms").ends_with("milliseconds are not a Sigma unit"));
    assert!(err("1M").ends_with("months and years have no fixed length"));
    assert!(err("1y").ends_with("months and years have no fixed length"));
    assert_eq!(err("0m"), "c.yml:5: correlation.timespan: must be positive, found \"0m\"");
    for bad in ["5", "5H", "1.5h", "m", "5 m", "-5m", "[5m]"] {
        assert!(err(bad).starts_with("c.yml:5: correlation.timespan: must be a positive integer"), "{bad}: {}", err(bad));
    }
    has_err(
        "title: t\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    condition: {gte: 1}",
        "c.yml:3: correlation.timespan",
        "missing required key",
    );
}

#[test]
fn group_by_shapes() {
    let gb =
        |g: &str| load(&format!("title: t\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {{gte: 1}}\n{g}"));
    // Decision: group-by is optional (one global group).
    assert!(gb("").unwrap().correlation_specs[0].group_by.is_empty());
    assert!(gb("    group-by: []").unwrap().correlation_specs[0].group_by.is_empty());
    assert_eq!(gb("    group-by: user.name").unwrap().correlation_specs[0].group_by, vec!["user.name"]);
    assert_eq!(gb("    group-by: [a, b, c]").unwrap().correlation_specs[0].group_by, vec!["a", "b", "c"]);
    let e = |g: &str| gb(g).unwrap_err()[0].to_string();
    assert_eq!(e("    group-by: {user: x}"), "c.yml:7: correlation.group-by: must be a list of strings, found a mapping");
    assert_eq!(e("    group-by: [a, a]"), "c.yml:7: correlation.group-by: \"a\" is listed twice");
    assert_eq!(e("    group-by:\n        - a\n        - [b]"), "c.yml:9: correlation.group-by[1]: must be a string, found a list");
}

#[test]
fn unknown_keys_and_attributes() {
    // Decision: an unknown key inside correlation: is an error.
    has_err(
        "title: t\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    groupby: [user]\n    timespan: 5m\n    condition: {gte: 1}",
        "c.yml:5: correlation.groupby",
        "unknown key (expected type, rules, group-by, timespan, condition, aliases)",
    );
    has_err(
        "title: t\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 1}\n    generate: true",
        "c.yml:7: correlation.generate",
        "generate is not placed here",
    );
    // Unknown top-level attributes are allowed (custom attributes) ...
    let set = ok("title: t\nmy-team: blue\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 1}");
    assert_eq!(set.correlation_specs.len(), 1);
    // ... but not vigil look-alikes, nor detection parts.
    has_err(
        "title: t\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 1}\nx-vigil-suppress: 1h",
        "c.yml:7: x-vigil-suppress",
        "unknown vigil extension attribute",
    );
    has_err(
        "title: t\ndetection: {sel: {a: 1}, condition: sel}\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 1}",
        "c.yml:2: detection",
        "not allowed in a correlation rule",
    );
}

#[test]
fn metadata_decisions() {
    // Decision: a missing title is a warning.
    let set = ok("name: untitled\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 1}");
    assert_eq!(set.warnings.len(), 1);
    assert_eq!(set.warnings[0].to_string(), "c.yml:1: title: a correlation rule should have a title");
    has_err(
        "title: t\nlevel: severe\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 1}",
        "c.yml:2: level",
        "must be one of informational, low, medium, high, critical, found \"severe\"",
    );
    has_err(
        "title: t\ngenerate: yes\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 1}",
        "c.yml:2: generate",
        "must be true or false",
    );
}

#[test]
fn generate_decides_who_emits() {
    let two = |generate: &str| {
        ok(&format!(
            "title: A\n{generate}correlation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {{gte: 5}}\n---\n\
             title: B\ncorrelation:\n    type: event_count\n    rules: [failed_login, successful_login]\n    timespan: 5m\n    condition: {{gte: 5}}"
        ))
    };
    let set = two("");
    assert!(!set.correlation_specs[0].generate);
    assert_eq!(set.resolution.detection_emits, vec![false, false, true, true]);
    assert_eq!(set.resolution.correlation_emits, vec![true, true]);
    // One referencing correlation with generate: true is enough.
    let set = two("generate: true\n");
    assert!(set.correlation_specs[0].generate);
    assert_eq!(set.resolution.detection_emits, vec![true, false, true, true]);
}

#[test]
fn errors_are_collected_not_just_the_first() {
    let e = errs(
        "title: t
correlation:
    type: value_count
    rules: [failed_login]
    group-by: {a: 1}
    timespan: 5 minutes
    condition:
        gte: x",
    );
    assert!(e.iter().any(|m| m.starts_with("c.yml:5: correlation.group-by")), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("c.yml:6: correlation.timespan")), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("c.yml:8: correlation.condition.gte")), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("c.yml:8: correlation.condition.field")), "{e:?}");
}

// ---------------------------------------------------------------- extensions

fn with_ext(kind: &str, ext: &str) -> Result<RuleSet, Vec<RuleError>> {
    let (rules, cond) = match kind {
        "temporal_ordered" | "x-vigil-absence" => ("[failed_login, successful_login]", ""),
        "value_sum" => ("[outbound_flow]", "\n    condition: {field: network.bytes, gt: 1000}"),
        _ => ("[failed_login]", "\n    condition: {gte: 1}"),
    };
    load(&format!("title: t\ncorrelation:\n    type: {kind}\n    rules: {rules}\n    group-by: [host.name]\n    timespan: 1m{cond}\nx-vigil:\n{ext}"))
}

fn ext_err(kind: &str, ext: &str) -> String {
    let e = with_ext(kind, ext).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    e[0].to_string()
}

#[test]
fn persistence_extension() {
    let set = with_ext("value_sum", "    persistence:\n        windows: 10").unwrap();
    let c = &set.correlation_specs[0];
    assert_eq!(c.extensions.persistence, Some(Persistence { windows: 10 }));
    assert_eq!(c.timespan_ms, 60_000, "the window length is the timespan");
    assert!(with_ext("event_count", "    persistence: {windows: 2}").is_ok());
    assert_eq!(
        ext_err("event_count", "    persistence: {windows: 1}"),
        "c.yml:9: x-vigil.persistence.windows: must be an integer from 2 to 10000, found \"1\""
    );
    assert_eq!(
        ext_err("event_count", "    persistence: {windows: 2.5}"),
        "c.yml:9: x-vigil.persistence.windows: must be an integer from 2 to 10000, found \"2.5\""
    );
    assert_eq!(
        ext_err("event_count", "    persistence: {windows: 3, window: 10m}"),
        "c.yml:9: x-vigil.persistence.window: not allowed: the window length is the correlation's timespan"
    );
    let e = with_ext("event_count", "    persistence: {count: 3}").unwrap_err();
    assert_eq!(e[0].to_string(), "c.yml:9: x-vigil.persistence.count: unknown key (expected windows)");
    assert_eq!(e[1].to_string(), "c.yml:9: x-vigil.persistence.windows: missing required key");
    assert_eq!(ext_err("event_count", "    persistence: {}"), "c.yml:9: x-vigil.persistence.windows: missing required key");
    assert_eq!(ext_err("event_count", "    persistence: 3"), "c.yml:9: x-vigil.persistence: must be a mapping like {windows: 10}, found a scalar");
    assert_eq!(
        ext_err("temporal_ordered", "    persistence: {windows: 3}"),
        "c.yml:8: x-vigil.persistence: not allowed on temporal_ordered correlations (their matches are sequences, not window values)"
    );
}

#[test]
fn suppress_extension() {
    let set = with_ext("event_count", "    suppress:\n        for: 2h").unwrap();
    assert_eq!(set.correlation_specs[0].extensions.suppress, Some(Suppress { for_ms: 7_200_000 }));
    assert!(with_ext("temporal_ordered", "    suppress: {for: 30m}").is_ok());
    assert!(ext_err("event_count", "    suppress: {for: 2 hours}")
        .starts_with("c.yml:9: x-vigil.suppress.for: must be a positive integer followed by s, m, h, d or w"));
    assert_eq!(ext_err("event_count", "    suppress: {for: 1h, count: 3}"), "c.yml:9: x-vigil.suppress.count: unknown key (expected for)");
    assert_eq!(ext_err("event_count", "    suppress: {}"), "c.yml:9: x-vigil.suppress.for: missing required key");
    assert_eq!(ext_err("event_count", "    suppress: 1h"), "c.yml:9: x-vigil.suppress: must be a mapping like {for: 1h}, found a scalar");
}

#[test]
fn extension_block_is_strict() {
    assert_eq!(
        ext_err("event_count", "    cooldown: 1h"),
        "c.yml:9: x-vigil.cooldown: unknown vigil extension (expected persistence, suppress, percentile or baseline)"
    );
    assert_eq!(ext_err("event_count", "    percentile: 90"), "c.yml:9: x-vigil.percentile: only allowed on value_percentile correlations");
    let e = load("title: t\ncorrelation:\n    type: value_percentile\n    rules: [outbound_flow]\n    timespan: 1m\n    condition: {field: f, gt: 1}\nx-vigil:\n    percentile: 101").unwrap_err();
    assert_eq!(e[0].to_string(), "c.yml:8: x-vigil.percentile: must be a number from 0 to 100, found \"101\"");
    let e = load("title: t\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 1m\n    condition: {gte: 1}\nx-vigil: [suppress]")
        .unwrap_err();
    assert_eq!(e[0].to_string(), "c.yml:7: x-vigil: must be a mapping, found a list");
}

#[test]
fn absence_extension_type() {
    let set = ok("title: Service installed without a prior login
correlation:
    type: x-vigil-absence
    rules:
        - service_installed
        - successful_login
    group-by:
        - host.name
    timespan: 30m
x-vigil:
    suppress:
        for: 1d");
    let c = &set.correlation_specs[0];
    assert_eq!(c.kind, CorrelationKind::Absence);
    assert!(c.kind.is_extension());
    assert_eq!(c.timespan_ms, 1_800_000);
    assert_eq!(c.condition, Condition::default());
    assert_eq!(set.resolution.refs[0], vec![ResolvedRef::Detection(3), ResolvedRef::Detection(1)]);
    assert_eq!(c.extensions.suppress, Some(Suppress { for_ms: 86_400_000 }));
    has_err(
        "title: t\ncorrelation:\n    type: x-vigil-absence\n    rules: [service_installed]\n    timespan: 5m",
        "c.yml:4: correlation.rules",
        "x-vigil-absence needs exactly 2 rules",
    );
    has_err(
        "title: t\ncorrelation:\n    type: x-vigil-absence\n    rules: [service_installed, successful_login]\n    timespan: 5m\n    condition: {gte: 1}",
        "c.yml:6: correlation.condition",
        "not allowed on x-vigil-absence",
    );
    assert_eq!(
        ext_err("x-vigil-absence", "    persistence: {windows: 3}"),
        "c.yml:8: x-vigil.persistence: not allowed on x-vigil-absence correlations (their matches are sequences, not window values)"
    );
}
