//! Property tests of the invariants the dataflow promises (normalize and replay): for any input within the lateness,
//! any number of workers gives byte-identical output; no event is lost; every keyed operator
//! sees each key's events in event-time order, and each key lives on exactly one worker.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use timely::dataflow::operators::Inspect;

use vigil::event::entity::EntityKey;
use vigil::event::field::known;
use vigil::io::input::{InputSource, InputSpec};
use vigil::io::sink::OutputTarget;
use vigil::metrics::RunStats;
use vigil::parse::{Format, ParseOptions};
use vigil::pipeline::exchange::in_event_time_order;
use vigil::pipeline::lateness::LatenessClasses;
use vigil::pipeline::normalize::{self, NormalizeConfig};
use vigil::pipeline::source::{file_source, SourceConfig};

const LATENESS_MS: i64 = 10_000;
const BASE_MS: i64 = 1_700_000_000_000;

/// One generated record: (event time, entity index, sequence number within the whole input).
type Rec = (i64, u8, u32);

/// What the keyed operator saw: (worker, entity key, event time, sequence number).
type Seen = (usize, String, i64, u64);

/// Partitions of records whose times stay within the lateness of the newest before them: each
/// time is a non-decreasing base minus a jitter smaller than the lateness.
fn partitions() -> impl Strategy<Value = Vec<Vec<(i64, u8)>>> {
    let part = prop::collection::vec((0i64..3_000, 0i64..LATENESS_MS, 0u8..12), 0..50).prop_map(|steps| {
        let mut base = BASE_MS;
        steps
            .into_iter()
            .map(|(step, jitter, entity)| {
                base += step;
                (base - jitter, entity)
            })
            .collect::<Vec<_>>()
    });
    prop::collection::vec(part, 1..5)
}

fn write_inputs(dir: &Path, parts: &[Vec<(i64, u8)>]) -> (Vec<InputSpec>, Vec<(Rec, u32, u64)>) {
    let mut specs = Vec::new();
    let mut all = Vec::new();
    let mut seq = 0u32;
    for (p, recs) in parts.iter().enumerate() {
        let path: PathBuf = dir.join(format!("part{p}.json"));
        let mut text = String::new();
        for (line, (ts, entity)) in recs.iter().enumerate() {
            let ip = if entity % 3 == 0 { String::new() } else { format!(",\"source\":{{\"ip\":\"10.0.0.{entity}\"}}") };
            text.push_str(&format!("{{\"@timestamp\":\"{}\",\"user\":{{\"name\":\"u{entity}\"}},\"seq\":{seq}{ip}}}\n", vigil::event::time::to_iso8601(*ts)));
            all.push(((*ts, *entity, seq), p as u32, line as u64 + 1));
            seq += 1;
        }
        std::fs::write(&path, text).unwrap();
        specs.push(InputSpec { partition: p as u32, source: InputSource::Path(path), format: Format::Json, overrides: Default::default() });
    }
    (specs, all)
}

fn source_config(specs: &[InputSpec]) -> SourceConfig {
    SourceConfig {
        inputs: specs.to_vec(),
        parse: ParseOptions::default(),
        lateness_ms: LATENESS_MS,
        stats: Arc::new(RunStats::new(specs.iter().map(|s| s.source.display()).collect())),
        cancel: Arc::new(AtomicBool::new(false)),
    }
}

fn run_normalize(specs: &[InputSpec], workers: usize, out: &Path) -> Arc<RunStats> {
    let source = source_config(specs);
    let stats = source.stats.clone();
    let cfg =
        NormalizeConfig { source, entity: EntityKey::default(), output: OutputTarget::File(out.to_owned()), dead_letter: None, workers_per_process: workers };
    let guards = timely::execute(timely::Config::process(workers), move |w| normalize::build(w, &cfg)).unwrap();
    for r in guards.join() {
        r.unwrap();
    }
    stats
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn output_is_identical_for_any_worker_count_and_loses_nothing(parts in partitions()) {
        let dir = tempfile::tempdir().unwrap();
        let (specs, mut all) = write_inputs(dir.path(), &parts);
        let mut outputs = Vec::new();
        for workers in [1, 2, 4] {
            let out = dir.path().join(format!("out{workers}.json"));
            let stats = run_normalize(&specs, workers, &out);
            prop_assert_eq!(stats.total(|s| &s.late), 0);
            outputs.push(std::fs::read_to_string(&out).unwrap());
        }
        prop_assert_eq!(&outputs[0], &outputs[1]);
        prop_assert_eq!(&outputs[0], &outputs[2]);

        // The output is every input record, ordered by (event time, partition, line).
        all.sort_by_key(|((ts, _, _), p, line)| (*ts, *p, *line));
        let want: Vec<u64> = all.iter().map(|((_, _, seq), _, _)| *seq as u64).collect();
        let got: Vec<u64> = outputs[0].lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap()).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn keyed_operator_sees_each_key_in_order_on_one_worker(parts in partitions(), workers in 1usize..5) {
        let dir = tempfile::tempdir().unwrap();
        let (specs, all) = write_inputs(dir.path(), &parts);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let cfg = source_config(&specs);
        let sink = seen.clone();
        let guards = timely::execute(timely::Config::process(workers), move |worker| {
            let index = worker.index();
            let (cfg, sink) = (cfg.clone(), sink.clone());
            worker.dataflow::<u64, _, _>(move |scope| {
                let (mut events, _dead) = file_source(scope, cfg, Arc::new(LatenessClasses::single()), None, None);
                in_event_time_order(events.remove(0), EntityKey::default()).inspect(move |ev| {
                    let key = ev.get(known::SOURCE_IP).map(|v| format!("{v:?}")).or_else(|| ev.get_str(known::USER_NAME).map(str::to_owned)).unwrap_or_default();
                    let seq = match ev.get(vigil::event::field::lookup("seq").unwrap()) { Some(vigil::event::ValueRef::Int(i)) => i as u64, _ => u64::MAX };
                    sink.lock().unwrap().push((index, key, ev.ts, seq));
                });
            });
        }).unwrap();
        for r in guards.join() {
            r.unwrap();
        }
        let seen = seen.lock().unwrap();
        prop_assert_eq!(seen.len(), all.len(), "no event lost or duplicated");
        let mut owner: std::collections::HashMap<&str, usize> = Default::default();
        let mut last: std::collections::HashMap<&str, i64> = Default::default();
        for (worker, key, ts, _) in seen.iter() {
            prop_assert_eq!(*owner.entry(key.as_str()).or_insert(*worker), *worker, "key {} on two workers", key);
            let prev = last.insert(key.as_str(), *ts);
            prop_assert!(prev.is_none_or(|p| p <= *ts), "key {} went back in time", key);
        }
    }
}

const REPLAY_RULES: &str = r#"
title: Any user event
name: any_event
logsource:
    product: test
detection:
    sel:
        user.name|startswith: u
    condition: sel
level: informational
---
title: Busy user
name: busy_user
correlation:
    type: event_count
    rules:
        - any_event
    group-by:
        - user.name
    timespan: 5s
    condition:
        gte: 3
level: low
---
title: Busy address, suppressed
correlation:
    type: event_count
    rules:
        - any_event
    group-by:
        - source.ip
    timespan: 10s
    condition:
        gte: 2
level: low
x-vigil:
    suppress:
        for: 30s
---
title: Busy user, then busy address
correlation:
    type: temporal
    rules:
        - busy_user
        - any_event
    group-by:
        - user.name
    timespan: 1m
level: medium
---
title: User rate departs from its history
correlation:
    type: x-vigil-baseline
    rules:
        - any_event
    group-by:
        - user.name
    timespan: 1s
x-vigil:
    baseline:
        kind: rate
        deviation: {z: 1.5, direction: both, half_life: 3, min_std: 0.5}
        min_history: 2
---
title: User distinct sequence buckets depart from history
correlation:
    type: x-vigil-baseline
    rules:
        - any_event
    group-by:
        - user.name
    timespan: 2s
x-vigil:
    baseline:
        kind: distinct
        field: seq
        bucket: 3
        precision: 4
        deviation: {z: 1, direction: both, half_life: 2, min_std: 0.5}
        min_history: 2
---
title: User reaches a new sequence bucket
name: new_bucket
correlation:
    type: x-vigil-baseline
    rules:
        - any_event
    group-by:
        - user.name
    timespan: 1m
generate: true
x-vigil:
    baseline:
        kind: new_value
        field: seq
        bucket: 20
        learn: 3s
        capacity: 4
---
title: Two new buckets for a user within 10 seconds
correlation:
    type: event_count
    rules:
        - new_bucket
    group-by:
        - user.name
    timespan: 10s
    condition:
        gte: 2
level: medium
"#;

fn run_replay(specs: &[InputSpec], workers: usize, out: &Path) {
    use vigil::pipeline::{self, EngineConfig, EngineStats, Plan, StateLimits};
    let rules = vigil::rules::RuleSet::from_str(Path::new("determinism.yml"), REPLAY_RULES, &Default::default()).expect("rules load");
    let plan = Arc::new(Plan::new(&rules));
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
    let stats = Arc::new(EngineStats { matches: (0..rules.rules.len()).map(|_| Default::default()).collect(), ..Default::default() });
    let cfg = EngineConfig {
        source: source_config(specs),
        rules: Arc::new(rules),
        output: OutputTarget::File(out.to_owned()),
        dead_letter: None,
        workers_per_process: workers,
        limits: StateLimits::default(),
        stats,
        checkpoint: None,
    };
    let guards = timely::execute(timely::Config::process(workers), move |w| pipeline::build(w, &cfg, plan.clone())).unwrap();
    for r in guards.join() {
        r.unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn replay_incidents_are_identical_for_any_worker_count(parts in partitions()) {
        let dir = tempfile::tempdir().unwrap();
        let (mut specs, _) = write_inputs(dir.path(), &parts);
        // Odd partitions allowed twice the lateness: two lateness classes, each with its own
        // frontier. Which incidents fire must not depend on it: the same as when every
        // partition waits the longer lateness (one class).
        for spec in specs.iter_mut().filter(|s| s.partition % 2 == 1) {
            spec.overrides.lateness_ms = Some(2 * LATENESS_MS);
        }
        let mut outputs = Vec::new();
        for workers in [1, 2, 3] {
            let out = dir.path().join(format!("incidents{workers}.json"));
            run_replay(&specs, workers, &out);
            outputs.push(std::fs::read_to_string(&out).unwrap());
        }
        for spec in specs.iter_mut() {
            spec.overrides.lateness_ms = Some(2 * LATENESS_MS);
        }
        let out = dir.path().join("one-class.json");
        run_replay(&specs, 2, &out);
        outputs.push(std::fs::read_to_string(&out).unwrap());
        prop_assert_eq!(&outputs[0], &outputs[1]);
        prop_assert_eq!(&outputs[0], &outputs[2]);
        prop_assert_eq!(&outputs[0], &outputs[3], "lateness classes changed what fired");
        for line in outputs[0].lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            prop_assert_eq!(&v["event"]["kind"], "alert");
        }
    }
}

#[test]
fn replay_on_a_busy_fixed_input_raises_incidents_identically() {
    let dir = tempfile::tempdir().unwrap();
    // Three partitions of 200 records over 12 entities, a record every 100 ms with 2 s jitter.
    let parts: Vec<Vec<(i64, u8)>> = (0..3u64)
        .map(|p| (0..200u64).map(|i| (BASE_MS + (i * 100) as i64 - ((i * 7919 + p) % 2000) as i64, ((i * 31 + p * 7) % 12) as u8)).collect())
        .collect();
    let (specs, _) = write_inputs(dir.path(), &parts);
    let mut outputs = Vec::new();
    for workers in [1, 2, 4] {
        let out = dir.path().join(format!("incidents{workers}.json"));
        run_replay(&specs, workers, &out);
        outputs.push(std::fs::read_to_string(&out).unwrap());
    }
    assert!(outputs[0].lines().count() > 10, "the rules must fire on this input:\n{}", outputs[0]);
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
    let kinds: std::collections::BTreeSet<String> = outputs[0]
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["vigil"]["correlation"]["type"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains("event_count") && kinds.contains("temporal") && kinds.contains("x-vigil-baseline"), "{kinds:?}");
    let peer = outputs[0].lines().filter(|l| l.contains("\"peer\":true")).count();
    assert!(peer > 0, "young entities are judged against the peer group here:\n{}", outputs[0]);
}
