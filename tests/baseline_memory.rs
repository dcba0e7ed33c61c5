//! Memory stays bounded when an attacker sprays source addresses: 10 million distinct source
//! addresses go through a new-value table and a distinct table, each capped at 100,000
//! entities, and the process's peak resident memory (VmHWM from /proc/self/status, measured
//! here, not a timing) stays under a stated bound.
//!
//! The bound: 100,000 entities at the stated bytes per entity (at most about 160 bytes each for
//! one value in the interval or window) is 16 MB per table; the peer groups (65,536 values),
//! waiting peer verdicts (capped at 100,000) and the hash map's spare capacity add a few tens of
//! MB. 256 MiB leaves room for the allocator and the test harness while still failing loudly if
//! state grew with the number of addresses (10 million entities would take more than 1 GB).

use std::net::{IpAddr, Ipv4Addr};

use vigil::baseline::{Distinct, DistinctConfig, EntityTable, NewValue, NewValueConfig, TableConfig};
use vigil::event::entity::{hash_bytes, hash_ip};

const ADDRESSES: u32 = 10_000_000;
const CAP: usize = 100_000;
const BOUND_BYTES: u64 = 256 << 20;

/// A field of /proc/self/status in bytes (Linux reports kB).
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn spraying_ten_million_addresses_stays_bounded() {
    let Some(before) = status_bytes("VmHWM:") else {
        eprintln!("no /proc/self/status here: nothing to measure");
        return;
    };
    let table = TableConfig { max_entities: CAP, ttl_ms: 30 * 86_400_000, peer_fallback: true, max_pending: CAP };
    let mut new_value = EntityTable::new(NewValue::new(NewValueConfig::default()).unwrap(), table).unwrap();
    let mut distinct = EntityTable::new(Distinct::new(DistinctConfig::default()).unwrap(), table).unwrap();
    let ports: Vec<u64> = (0..1024u16).map(|p| hash_bytes(&p.to_le_bytes())).collect();
    let mut out = Vec::new();
    let t0 = 1_700_000_000_000i64;
    for i in 0..ADDRESSES {
        // Every event a source address never seen before, one per millisecond of event time.
        let ip = IpAddr::V4(Ipv4Addr::from(0x0A00_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761))));
        let entity = hash_ip(ip);
        let ts = t0 + i64::from(i);
        let port = ports[(i % 1024) as usize];
        out.extend(new_value.observe(entity, ts, port));
        out.extend(distinct.observe(entity, ts, port));
        if i % 1000 == 999 {
            // The watermark trails by a second of allowed lateness.
            new_value.advance(ts - 1000, &mut out);
            distinct.advance(ts - 1000, &mut out);
        }
    }
    let peak = status_bytes("VmHWM:").unwrap_or(0);
    let (nv, d) = (new_value.stats(), distinct.stats());
    eprintln!("VmHWM before {} MiB, after {} MiB; new value: {nv:?}; distinct: {d:?}; verdicts {}", before >> 20, peak >> 20, out.len());
    assert_eq!((nv.entities, d.entities), (CAP, CAP));
    assert_eq!(nv.cap_evictions, u64::from(ADDRESSES) - CAP as u64);
    assert_eq!(d.cap_evictions, u64::from(ADDRESSES) - CAP as u64);
    assert_eq!(nv.pending_dropped + d.pending_dropped, 0);
    // Sprayed addresses use common ports: nothing is new to the peer group or unusual.
    assert!(out.is_empty(), "{:?}", &out[..out.len().min(5)]);
    assert!(nv.state_bytes < 64 << 20 && d.state_bytes < 64 << 20, "{} {}", nv.state_bytes, d.state_bytes);
    assert!(peak < BOUND_BYTES, "peak resident memory {} MiB over the {} MiB bound", peak >> 20, BOUND_BYTES >> 20);
}
