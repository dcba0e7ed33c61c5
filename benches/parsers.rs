//! Per-parser throughput: records/s and bytes/s of each format's parser over fixture lines,
//! plus the ECS JSON encoder. Run with `cargo bench --bench parsers`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use vigil::event::ecs::EcsWriter;
use vigil::parse::{new_parser, Format, Outcome, ParseOptions};

fn lines(text: &str) -> Vec<&[u8]> {
    text.lines().map(str::as_bytes).collect()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).expect("fixture")
}

fn bench_parsers(c: &mut Criterion) {
    let cases = [
        ("syslog", Format::Syslog, fixture("auth.log")),
        ("apache", Format::Apache, fixture("apache_access.log")),
        ("zeek-tsv", Format::Zeek, fixture("zeek_conn.log")),
        ("zeek-json", Format::Zeek, fixture("zeek_conn.json")),
        ("json-windows", Format::Json, fixture("windows_ad.jsonl")),
        ("json-cowrie", Format::Json, fixture("honeypot.json")),
    ];
    let opts = ParseOptions { year: Some(2017), ..ParseOptions::default() };
    let mut group = c.benchmark_group("parse");
    for (name, format, text) in &cases {
        let records = lines(text);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &records, |b, records| {
            let mut out = Vec::with_capacity(records.len() * 2);
            b.iter(|| {
                // A fresh parser per pass: headers (Zeek) and the syslog year are per input.
                let mut parser = new_parser(*format, &opts);
                out.clear();
                let mut n = 0usize;
                for r in records {
                    if let Ok(Outcome::Events(k)) = parser.parse(r, &mut out) {
                        n += k;
                    }
                }
                n
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("encode-ecs");
    for (name, format, text) in &cases {
        let mut parser = new_parser(*format, &opts);
        let mut events = Vec::new();
        for r in lines(text) {
            let _ = parser.parse(r, &mut events);
        }
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &events, |b, events| {
            let mut writer = EcsWriter::new();
            let mut buf = Vec::with_capacity(1 << 20);
            b.iter(|| {
                buf.clear();
                for ev in events {
                    writer.write_event(ev, &mut buf);
                    buf.push(b'\n');
                }
                buf.len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parsers);
criterion_main!(benches);
