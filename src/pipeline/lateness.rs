//! Lateness classes: one event-time frontier per distinct allowed lateness, so correlations over
//! sources allowed 5 seconds are not held back by a source allowed 5 minutes.
//!
//! Every input belongs to the class of its allowed lateness. A source sends each class's events
//! on an output of their own, whose frontier is the least watermark of that class's partitions
//! (see [`super::source`]). A correlation belongs to the slowest class among the inputs that can
//! feed it (those whose format can carry events its rules' `logsource` admits, and for chains
//! the classes of the correlations it references), and its stage reads the projections of every
//! class up to its own: its frontier is the least of theirs, which is exactly when it has seen
//! everything before a time. The projections that wait in its exchange are then the events
//! inside its own class's lateness, not the slowest source's.
//!
//! Classes change when an alert fires, never what fires: a correlator's alerts are a function of
//! each key's own event sequence (see `crate::correlate`), and lateness is judged per partition.

use std::sync::Arc;

use crate::parse::Format;
use crate::rules::logsource::{admits, sources_of_module, EventSource};
use crate::rules::{ResolvedRef, RuleSet};

use super::plan::Plan;

/// The classes of a run: which inputs and correlations belong to which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatenessClasses {
    /// Allowed lateness of each class in milliseconds, ascending; at least one class.
    pub lateness_ms: Vec<i64>,
    /// Class of each input, by partition.
    pub of_input: Vec<usize>,
    /// Class of each planned correlation.
    pub of_correlation: Vec<usize>,
}

/// The sources events of a format can have; `None`: any (JSON tells its own).
fn format_sources(format: Format) -> Option<Vec<EventSource>> {
    match format {
        Format::Syslog => sources_of_module("system"),
        Format::Apache => sources_of_module("apache"),
        Format::Zeek => sources_of_module("zeek"),
        Format::Json => None,
    }
}

impl LatenessClasses {
    /// One class holding everything (a run without correlations, or without inputs).
    pub fn single() -> Self {
        LatenessClasses { lateness_ms: vec![0], of_input: Vec::new(), of_correlation: Vec::new() }
    }

    /// The classes of `inputs` (format and allowed lateness, in partition order) and of the
    /// planned correlations they can feed.
    pub fn new(plan: &Plan, rules: &RuleSet, inputs: &[(Format, i64)]) -> Self {
        let mut lateness_ms: Vec<i64> = inputs.iter().map(|&(_, l)| l.max(0)).collect();
        lateness_ms.sort_unstable();
        lateness_ms.dedup();
        if lateness_ms.is_empty() {
            return Self::single();
        }
        let of_input: Vec<usize> = inputs.iter().map(|&(_, l)| lateness_ms.binary_search(&l.max(0)).unwrap_or(0)).collect();
        // The slowest class of the inputs that can feed each detection rule.
        let formats: Vec<(Option<Vec<EventSource>>, usize)> = inputs.iter().zip(&of_input).map(|(&(f, _), &c)| (format_sources(f), c)).collect();
        let rule_class: Vec<Option<usize>> = rules
            .rules
            .iter()
            .map(|rule| {
                formats
                    .iter()
                    .filter(|(sources, _)| rules.ignore_logsource || sources.as_ref().is_none_or(|all| all.iter().any(|src| admits(&rule.logsource, src))))
                    .map(|&(_, c)| c)
                    .max()
            })
            .collect();
        // Referenced correlations are planned before their referrers, so one pass in plan order
        // sees every reference's class first.
        let mut of_correlation = vec![0usize; plan.correlations.len()];
        let planned_of: std::collections::HashMap<u32, usize> = plan.correlations.iter().enumerate().map(|(p, c)| (c.index, p)).collect();
        for (p, planned) in plan.correlations.iter().enumerate() {
            let refs = rules.resolution.refs.get(planned.index as usize).map(Vec::as_slice).unwrap_or_default();
            of_correlation[p] = refs
                .iter()
                .filter_map(|r| match r {
                    ResolvedRef::Detection(d) => rule_class.get(*d as usize).copied().flatten(),
                    ResolvedRef::Correlation(c) => planned_of.get(c).map(|&q| of_correlation[q]),
                })
                .max()
                .unwrap_or(0);
        }
        LatenessClasses { lateness_ms, of_input, of_correlation }
    }

    /// Number of classes.
    pub fn count(&self) -> usize {
        self.lateness_ms.len()
    }

    /// Class of input `partition` (inputs not listed belong to the first class).
    pub fn input(&self, partition: usize) -> usize {
        self.of_input.get(partition).copied().unwrap_or(0)
    }

    /// Class of planned correlation `c`.
    pub fn correlation(&self, c: usize) -> usize {
        self.of_correlation.get(c).copied().unwrap_or(0)
    }

    /// One line for the start of a run, when there is more than one class.
    pub fn describe(&self) -> Option<String> {
        if self.count() < 2 {
            return None;
        }
        let parts: Vec<String> = self
            .lateness_ms
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let inputs = self.of_input.iter().filter(|&&c| c == k).count();
                let correlations = self.of_correlation.iter().filter(|&&c| c == k).count();
                format!("{} ms: {inputs} input(s), {correlations} correlation(s)", l)
            })
            .collect();
        Some(format!("lateness classes (one event-time frontier each): {}", parts.join("; ")))
    }
}

/// What one correlate stage evaluates: the correlations of one chain depth and one class.
#[derive(Clone, Debug)]
pub struct Stage {
    /// The chain depth (1: correlations over detection rules only).
    pub depth: u32,
    /// The lateness class.
    pub class: usize,
    /// Unique over the dataflow, the same on every worker: names the stage in chain reports.
    pub id: u32,
    /// The run's classes.
    pub classes: Arc<LatenessClasses>,
}

impl Stage {
    /// Whether planned correlation `c` is evaluated by this stage.
    pub fn evaluates(&self, plan: &Plan, c: usize) -> bool {
        plan.correlations.get(c).is_some_and(|p| p.depth == self.depth) && self.classes.correlation(c) == self.class
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> RuleSet {
        RuleSet::from_str(std::path::Path::new("classes.yml"), yaml, &Default::default()).expect("rules")
    }

    const RULES: &str = r#"
title: ssh failure
name: ssh_failure
logsource: {product: linux, service: sshd}
detection: {sel: {event.outcome: failure}, condition: sel}
---
title: zeek conn
name: zeek_conn
logsource: {product: zeek, service: conn}
detection: {sel: {destination.port: 22}, condition: sel}
---
title: ssh brute force
name: brute
correlation: {type: event_count, rules: [ssh_failure], group-by: [source.ip], timespan: 5m, condition: {gte: 3}}
---
title: scan then brute force
correlation: {type: temporal, rules: [zeek_conn, brute], group-by: [source.ip], timespan: 10m}
"#;

    #[test]
    fn a_correlation_waits_for_the_slowest_input_that_can_feed_it() {
        let set = rules(RULES);
        let plan = Plan::new(&set);
        let inputs = [(Format::Syslog, 5_000), (Format::Zeek, 300_000), (Format::Apache, 60_000)];
        let classes = LatenessClasses::new(&plan, &set, &inputs);
        assert_eq!(classes.lateness_ms, vec![5_000, 60_000, 300_000]);
        assert_eq!(classes.of_input, vec![0, 2, 1]);
        let class_of = |title: &str| classes.correlation(plan.correlations.iter().position(|c| c.info.title == title).unwrap());
        assert_eq!(class_of("ssh brute force"), 0, "only the syslog input can feed it");
        assert_eq!(class_of("scan then brute force"), 2, "it references the zeek rule");
    }

    #[test]
    fn json_inputs_can_feed_any_rule_and_ignore_logsource_feeds_all() {
        let mut set = rules(RULES);
        let plan = Plan::new(&set);
        let inputs = [(Format::Syslog, 5_000), (Format::Json, 60_000)];
        let classes = LatenessClasses::new(&plan, &set, &inputs);
        assert!(classes.of_correlation.iter().all(|&c| c == 1), "JSON may carry sshd events: {classes:?}");
        set.ignore_logsource = true;
        let inputs = [(Format::Zeek, 5_000), (Format::Apache, 60_000)];
        let classes = LatenessClasses::new(&plan, &set, &inputs);
        assert!(classes.of_correlation.iter().all(|&c| c == 1), "{classes:?}");
    }

    #[test]
    fn one_lateness_is_one_class() {
        let set = rules(RULES);
        let plan = Plan::new(&set);
        let classes = LatenessClasses::new(&plan, &set, &[(Format::Syslog, 5_000), (Format::Zeek, 5_000)]);
        assert_eq!(classes.count(), 1);
        assert!(classes.of_correlation.iter().all(|&c| c == 0));
        assert_eq!(classes.describe(), None);
    }
}
