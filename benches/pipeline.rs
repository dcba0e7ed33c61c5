//! The pipeline's stages one at a time, beside the parser benchmarks: detection (logsource
//! dispatch and the matchers of the default rule set over generated events of each format), a
//! correlation kernel (threshold windows over many keys), and incident encoding (an incident
//! with its evidence to ECS JSON). Run with `cargo bench --bench pipeline`.

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use vigil::correlate::threshold::EventCount;
use vigil::correlate::{Condition, Correlator};
use vigil::event::ecs::EcsWriter;
use vigil::event::Event;
use vigil::generate::{write_all, GenFormat, GeneratorConfig};
use vigil::incident::ecs::write_incident;
use vigil::incident::{EvidenceEvent, GroupValue, Incident, Measure, RuleInfo};
use vigil::parse::{new_parser, Format, Outcome, ParseOptions};
use vigil::rules::logsource::RuleMatcher;
use vigil::rules::{CompileOptions, RuleSet};

/// Generated events of one format, parsed.
fn events(format: GenFormat, parser: Format, n: u64) -> Vec<Event> {
    let cfg = GeneratorConfig { events: n, format, ..GeneratorConfig::default() };
    let mut text = Vec::new();
    write_all(&cfg, &mut text).expect("generate into memory");
    let opts = ParseOptions { year: Some(cfg.year()), ..ParseOptions::default() };
    let mut p = new_parser(parser, &opts);
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let _ = matches!(p.parse(line, &mut out), Ok(Outcome::Events(_)));
    }
    out
}

fn bench_detect(c: &mut Criterion) {
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/rules");
    let rules = Arc::new(RuleSet::load(&[rules_dir], &CompileOptions::default()).expect("the default rules load"));
    let cases = [
        ("syslog", GenFormat::Syslog, Format::Syslog),
        ("apache", GenFormat::Apache, Format::Apache),
        ("zeek", GenFormat::Zeek, Format::Zeek),
        ("windows", GenFormat::Windows, Format::Json),
    ];
    let mut group = c.benchmark_group("detect");
    for (name, gen, format) in cases {
        let evs = events(gen, format, 20_000);
        group.throughput(Throughput::Elements(evs.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &evs, |b, evs| {
            let mut matcher = RuleMatcher::new(rules.clone());
            let mut hits = Vec::with_capacity(16);
            b.iter(|| {
                let mut n = 0;
                for ev in evs {
                    hits.clear();
                    matcher.matching(ev, &mut hits);
                    n += hits.len();
                }
                n
            });
        });
    }
    group.finish();
}

fn bench_correlate(c: &mut Criterion) {
    // 100,000 events over 10,000 keys, one a second per key on average: windows open, fill,
    // alert (>= 20 in 5 minutes) and expire as the watermark follows the events.
    let keys: Vec<u64> = (0..100_000u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 10_000).collect();
    let mut group = c.benchmark_group("correlate");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("threshold-10k-keys", |b| {
        b.iter(|| {
            let mut state: EventCount<u64, u32> = EventCount::new(300_000, Condition::gte(20.0), 1_000_000, 10).expect("valid parameters");
            let mut out = Vec::new();
            let mut alerts = 0;
            for (i, k) in keys.iter().enumerate() {
                let ts = i as i64 * 100;
                state.observe(k, ts, (), i as u32, &mut out);
                if i % 1024 == 0 {
                    state.advance(ts - 1_000, &mut out);
                }
                alerts += out.len();
                out.clear();
            }
            state.advance(i64::MAX, &mut out);
            alerts + out.len()
        });
    });
    group.finish();
}

fn bench_incident(c: &mut Criterion) {
    let evs = events(GenFormat::Windows, Format::Json, 10);
    let mut writer = EcsWriter::new();
    let info = RuleInfo { id: "bench".into(), title: "Bench".into(), kind: "event_count".into(), ..RuleInfo::default() };
    let alert = vigil::correlate::Alert {
        group: (),
        window_start_ms: evs[0].ts,
        window_end_ms: evs[evs.len() - 1].ts,
        value: evs.len() as f64,
        first_event_ts: evs[0].ts,
        last_event_ts: evs[evs.len() - 1].ts,
        evidence: evs.iter().map(|e| EvidenceEvent::from_event(e, &mut writer)).collect::<Vec<_>>(),
        omitted: 0,
    };
    let group_values = vec![("source.ip".to_string(), GroupValue::Ip("10.1.2.3".parse().expect("an address")))];
    let inc = Incident::from_alert(info, group_values, alert, Measure::Count, 10, Some);
    let mut group = c.benchmark_group("incident");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ecs-10-evidence", |b| {
        let mut line = Vec::with_capacity(1 << 16);
        b.iter(|| {
            line.clear();
            write_incident(&inc, &mut line);
            line.len()
        });
    });
    group.bench_function("deferred-evidence-encode", |b| {
        b.iter(|| evs.iter().map(|e| EvidenceEvent::deferred(e.clone()).json.len()).sum::<usize>());
    });
    group.finish();
}

criterion_group!(benches, bench_detect, bench_correlate, bench_incident);
criterion_main!(benches);
