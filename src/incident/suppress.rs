//! Suppression: exact-duplicate removal and cool-down merging of incidents, in event time.
//!
//! # Semantics
//!
//! * **Exact duplicates.** An incident whose `id` was already offered (and is still
//!   remembered, below) is dropped and counted in [`SuppressStats::duplicates`]: the same window
//!   of the same rule and group decided twice (a replay, a rule loaded twice) is emitted once.
//!   An incident with the id and `timestamp_ms` of one still waiting (below) but other content
//!   (two early-mode alerts of one key at the same millisecond share their window start, hence
//!   their id) is merged with it as below, in an order fixed by a fingerprint of their content,
//!   and counted in [`SuppressStats::collisions`]; the same id with another timestamp, or after
//!   the first was processed, is dropped as a duplicate (which one wins then depends on arrival
//!   order; vigil's correlators never produce that).
//! * **Cool-down merge** (when `cooldown_ms` is set). Incidents are keyed by (rule id, group)
//!   ([`Incident::suppression_key`]). An incident whose `timestamp_ms` is at most
//!   `cooldown_ms` after the `timestamp_ms` of the latest incident merged into the open
//!   incident of its key (**inclusive**: exactly `cooldown_ms` later still merges) is merged into
//!   it instead of being emitted: the open incident keeps its id and its `start_ms` is the
//!   earliest start; `end_ms` and `timestamp_ms` extend to the latest; `Count` and `Sum` values
//!   add up (`Avg` and `Percentile` keep the first incident's value, their inputs being gone);
//!   `suppressed` counts the incidents merged in; evidence is appended, kept sorted by (time,
//!   origin) and capped at `evidence_cap` (the earliest kept), everything beyond adds to
//!   `evidence_omitted`, as do the merged incidents' own omitted counts; `related.*` is recomputed.
//!   A later incident beyond the cool-down closes the open one (which is emitted) and opens anew.
//!
//! # When incidents come out
//!
//! The caller offers incidents with [`Suppressor::offer`] and moves the watermark with
//! [`Suppressor::advance`]. Contract: after `advance(w)`, every offered incident has
//! `timestamp_ms >= w` (incidents carry their decision time, so the dataflow sends them at a
//! timely time no later than it). Offered incidents wait until the watermark passes their
//! timestamp, and are then processed in (`timestamp_ms`, `id`) order, whatever order they
//! arrived in. An open incident is emitted by the first `advance(w)` with
//! `w > last timestamp + cooldown_ms` (no incident that could merge into it can still come);
//! without a cool-down, an incident is emitted as soon as it is processed. Each `advance` call
//! appends what it emits sorted by (`timestamp_ms`, `id`). [`Suppressor::finish`] (end of
//! input) processes and emits everything. So the output is a function of the set of incidents
//! offered, not of their arrival order, batching or the watermark schedule, as long as no
//! incident is late (counted in [`SuppressStats::late`], processed at the next `advance`) and
//! no open key is evicted.
//!
//! # Memory
//!
//! At most `key_cap` open incidents: a new key beyond the cap emits, early, the open incident
//! whose emission deadline comes first (counted in [`SuppressStats::evictions`]; nothing is
//! lost, but a later incident of that key then starts a new one). Ids are remembered for
//! duplicate removal until the watermark passes `timestamp_ms + id_retention_ms`, and at most
//! `id_cap` of them: beyond the cap the oldest is forgotten (counted in
//! [`SuppressStats::forgotten_ids`]). An exact duplicate arriving after its id was forgotten is
//! emitted again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Incident, IncidentValue};
use crate::correlate::ParamError;

/// Parameters of a [`Suppressor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SuppressConfig {
    /// Cool-down in event-time ms; `None` merges nothing (only exact duplicates are removed).
    pub cooldown_ms: Option<i64>,
    /// Most evidence events a merged incident keeps.
    pub evidence_cap: usize,
    /// Most open (rule, group) keys.
    pub key_cap: usize,
    /// Most remembered incident ids.
    pub id_cap: usize,
    /// How long (event-time ms past an incident's timestamp) its id is remembered.
    pub id_retention_ms: i64,
}

impl Default for SuppressConfig {
    fn default() -> Self {
        SuppressConfig { cooldown_ms: None, evidence_cap: 10, key_cap: 100_000, id_cap: 1_000_000, id_retention_ms: 3_600_000 }
    }
}

/// Counters for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SuppressStats {
    /// Open incidents (keys in their cool-down).
    pub open: usize,
    /// Offered incidents waiting for the watermark.
    pub pending: usize,
    /// Remembered ids.
    pub remembered_ids: usize,
    /// Incidents merged into an earlier one.
    pub merged: u64,
    /// Exact duplicates dropped.
    pub duplicates: u64,
    /// Open incidents emitted early by the key cap.
    pub evictions: u64,
    /// Ids forgotten early by the id cap.
    pub forgotten_ids: u64,
    /// Incidents offered with a timestamp below the watermark.
    pub late: u64,
    /// Incidents with the id and timestamp of a waiting one but other content (merged).
    pub collisions: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Open {
    inc: Incident,
    /// Emission deadline: last merged timestamp + cool-down.
    deadline: i64,
}

/// Exact-duplicate removal and cool-down merging (see the module docs).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Suppressor {
    cfg: SuppressConfig,
    watermark: i64,
    /// Offered incidents by (timestamp, id, content fingerprint).
    pending: BTreeMap<(i64, String, u64), Incident>,
    open: HashMap<u128, Open>,
    deadlines: BTreeSet<(i64, u128)>,
    ids: HashMap<String, i64>,
    id_index: BTreeSet<(i64, String)>,
    stats: SuppressStats,
}

impl Suppressor {
    /// A suppressor; caps must be at least 1, durations not negative.
    pub fn new(cfg: SuppressConfig) -> Result<Self, ParamError> {
        if cfg.key_cap == 0 || cfg.id_cap == 0 {
            return Err(ParamError::Limit("the suppression key and id caps must be at least 1".into()));
        }
        if let Some(c) = cfg.cooldown_ms.filter(|&c| c < 0) {
            return Err(ParamError::NegativeSpan(c));
        }
        if cfg.id_retention_ms < 0 {
            return Err(ParamError::NegativeSpan(cfg.id_retention_ms));
        }
        Ok(Suppressor {
            cfg,
            watermark: i64::MIN,
            pending: BTreeMap::new(),
            open: HashMap::new(),
            deadlines: BTreeSet::new(),
            ids: HashMap::new(),
            id_index: BTreeSet::new(),
            stats: SuppressStats::default(),
        })
    }

    /// Offers one incident; nothing comes out before the next [`Suppressor::advance`].
    pub fn offer(&mut self, inc: Incident) {
        let fp = fingerprint(&inc);
        let key = (inc.timestamp_ms, inc.id.clone(), fp);
        if self.pending.contains_key(&key) {
            self.stats.duplicates += 1;
            return;
        }
        if let Some(&ts) = self.ids.get(&inc.id) {
            let waiting = self.pending.range((ts, inc.id.clone(), 0)..=(ts, inc.id.clone(), u64::MAX)).next().is_some();
            if ts == inc.timestamp_ms && waiting {
                // Same id and time, other content: merged with the others when processed.
                self.stats.collisions += 1;
                self.pending.insert(key, inc);
            } else {
                self.stats.duplicates += 1;
            }
            return;
        }
        if inc.timestamp_ms < self.watermark {
            self.stats.late += 1;
        }
        if self.ids.len() >= self.cfg.id_cap {
            if let Some((_, id)) = self.id_index.pop_first() {
                self.ids.remove(&id);
                self.stats.forgotten_ids += 1;
            }
        }
        self.ids.insert(inc.id.clone(), inc.timestamp_ms);
        self.id_index.insert((inc.timestamp_ms, inc.id.clone()));
        self.pending.insert(key, inc);
    }

    /// Takes the first pending incident merged with the others of the same (timestamp, id).
    fn pop_pending(&mut self) -> Option<Incident> {
        let (key, mut inc) = self.pending.pop_first()?;
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 != key.0 || entry.key().1 != key.1 {
                break;
            }
            merge(&mut inc, entry.remove(), self.cfg.evidence_cap);
        }
        Some(inc)
    }

    /// Moves the watermark to `watermark_ms`: processes the offered incidents older than it,
    /// appends what is now decided to `out` in (timestamp, id) order and forgets expired ids.
    /// A watermark lower than an earlier one changes nothing.
    pub fn advance(&mut self, watermark_ms: i64, out: &mut Vec<Incident>) {
        self.watermark = self.watermark.max(watermark_ms);
        let start = out.len();
        while self.pending.first_key_value().is_some_and(|(k, _)| k.0 < self.watermark) {
            if let Some(inc) = self.pop_pending() {
                self.process(inc, out);
            }
        }
        while let Some(&(deadline, key)) = self.deadlines.first() {
            if deadline >= self.watermark {
                break;
            }
            self.deadlines.pop_first();
            if let Some(open) = self.open.remove(&key) {
                out.push(open.inc);
            }
        }
        let horizon = self.watermark.saturating_sub(self.cfg.id_retention_ms);
        while let Some((ts, _)) = self.id_index.first() {
            if *ts >= horizon {
                break;
            }
            if let Some((_, id)) = self.id_index.pop_first() {
                self.ids.remove(&id);
            }
        }
        sort_incidents(&mut out[start..]);
    }

    /// End of input: processes every offered incident and emits every open one, appended to
    /// `out` in (timestamp, id) order. Ids stay remembered.
    pub fn finish(&mut self, out: &mut Vec<Incident>) {
        let start = out.len();
        while let Some(inc) = self.pop_pending() {
            self.process(inc, out);
        }
        self.deadlines.clear();
        out.extend(self.open.drain().map(|(_, open)| open.inc));
        sort_incidents(&mut out[start..]);
    }

    /// Counters.
    pub fn stats(&self) -> SuppressStats {
        SuppressStats { open: self.open.len(), pending: self.pending.len(), remembered_ids: self.ids.len(), ..self.stats }
    }

    fn process(&mut self, inc: Incident, out: &mut Vec<Incident>) {
        let Some(cooldown) = self.cfg.cooldown_ms else {
            out.push(inc);
            return;
        };
        let key = inc.suppression_key();
        let deadline = inc.timestamp_ms.saturating_add(cooldown);
        if let Some(open) = self.open.get_mut(&key) {
            self.deadlines.remove(&(open.deadline, key));
            if inc.timestamp_ms <= open.deadline {
                merge(&mut open.inc, inc, self.cfg.evidence_cap);
                open.deadline = open.deadline.max(deadline);
                self.stats.merged += 1;
            } else {
                let done = std::mem::replace(&mut open.inc, inc);
                out.push(done);
                open.deadline = deadline;
            }
            self.deadlines.insert((open.deadline, key));
            return;
        }
        if self.open.len() >= self.cfg.key_cap {
            if let Some((_, victim)) = self.deadlines.pop_first() {
                if let Some(open) = self.open.remove(&victim) {
                    out.push(open.inc);
                }
                self.stats.evictions += 1;
            }
        }
        let mut inc = inc;
        if inc.evidence.len() > self.cfg.evidence_cap {
            inc.normalize_evidence(self.cfg.evidence_cap);
        }
        self.deadlines.insert((deadline, key));
        self.open.insert(key, Open { inc, deadline });
    }
}

/// A fingerprint of an incident's whole content (its bincode form).
fn fingerprint(inc: &Incident) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&bincode::serialize(inc).unwrap_or_default())
}

fn sort_incidents(v: &mut [Incident]) {
    v.sort_by(|a, b| (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id)));
}

/// Merges `later` into `into` (see the module docs).
fn merge(into: &mut Incident, later: Incident, evidence_cap: usize) {
    into.suppressed += 1 + later.suppressed;
    into.value = match (into.value, later.value) {
        (IncidentValue::Count(a), IncidentValue::Count(b)) => IncidentValue::Count(a.saturating_add(b)),
        (IncidentValue::Sum(a), IncidentValue::Sum(b)) => IncidentValue::Sum(a + b),
        (first, _) => first,
    };
    into.start_ms = into.start_ms.min(later.start_ms);
    into.end_ms = into.end_ms.max(later.end_ms);
    into.timestamp_ms = into.timestamp_ms.max(later.timestamp_ms);
    into.evidence_omitted += later.evidence_omitted;
    into.evidence.extend(later.evidence);
    into.normalize_evidence(evidence_cap);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::Alert;
    use crate::event::ecs::EcsWriter;
    use crate::event::field::known;
    use crate::event::{Event, Origin, Value};
    use crate::incident::{EvidenceEvent, GroupValue, Measure, RuleInfo};
    use proptest::prelude::*;

    fn rule(id: &str) -> RuleInfo {
        RuleInfo { id: id.into(), title: "t".into(), level: Some("low".into()), kind: "event_count".into(), ..Default::default() }
    }

    /// An incident of rule `r` for group `g` over [start, end], with `n` counted events of which
    /// the first two are evidence.
    fn inc(r: &str, g: &str, start: i64, end: i64, n: u64) -> Incident {
        let mut w = EcsWriter::new();
        let evidence = (0..n.min(2))
            .map(|i| {
                let mut ev = Event::at(start + i as i64);
                ev.origin = Origin { partition: 0, record: (start as u64) * 10 + i, sub: 0 };
                ev.push(known::SOURCE_IP, Value::Ip(g.parse().unwrap()));
                ev.push_str(known::USER_NAME, &format!("u{start}-{i}"));
                EvidenceEvent::from_event(&ev, &mut w)
            })
            .collect();
        let alert = Alert {
            group: (),
            window_start_ms: start,
            window_end_ms: end,
            value: n as f64,
            first_event_ts: start,
            last_event_ts: end,
            evidence,
            omitted: n.saturating_sub(2),
        };
        Incident::from_alert(rule(r), vec![("source.ip".into(), GroupValue::Ip(g.parse().unwrap()))], alert, Measure::Count, 10, Some)
    }

    fn cfg(cooldown: Option<i64>) -> SuppressConfig {
        SuppressConfig { cooldown_ms: cooldown, evidence_cap: 3, ..Default::default() }
    }

    #[test]
    fn exact_duplicates_are_emitted_once() {
        let mut s = Suppressor::new(cfg(None)).unwrap();
        let a = inc("r", "10.0.0.1", 0, 100, 5);
        let mut out = Vec::new();
        s.offer(a.clone());
        s.offer(a.clone());
        s.advance(101, &mut out);
        s.offer(a.clone()); // a replay after emission
        s.advance(1_000, &mut out);
        assert_eq!(out, vec![a.clone()]);
        assert_eq!(s.stats().duplicates, 2);
        assert_eq!(s.stats().late, 0);
        // Forgotten after the retention: a replay that late is emitted again.
        s.advance(100 + 3_600_001, &mut out);
        assert_eq!(s.stats().remembered_ids, 0);
        s.offer(a.clone());
        s.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(s.stats().late, 1);
    }

    #[test]
    fn merge_within_cooldown_and_emit_after_it() {
        let mut s = Suppressor::new(cfg(Some(1_000))).unwrap();
        let mut out = Vec::new();
        let first = inc("r", "10.0.0.1", 0, 100, 5);
        s.offer(first.clone());
        s.offer(inc("r", "10.0.0.1", 500, 1_100, 4)); // exactly cooldown after 100: merges
        s.offer(inc("r", "10.0.0.2", 0, 100, 1)); // another group: its own incident
        s.offer(inc("q", "10.0.0.1", 0, 100, 1)); // another rule: its own incident
        s.advance(1_100, &mut out);
        assert!(out.is_empty(), "still within the cool-downs");
        s.offer(inc("r", "10.0.0.1", 1_200, 2_100, 3)); // within 1000 of 1100: merges (chained)
        s.advance(1_101, &mut out);
        // The other two keys' deadline is 1100: emitted by the watermark 1101, in (ts, id) order.
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|i| i.timestamp_ms == 100 && i.suppressed == 0));
        assert!(out[0].id < out[1].id);
        out.clear();
        s.advance(2_101, &mut out);
        s.advance(3_100, &mut out);
        assert!(out.is_empty(), "deadline 2100 + 1000 is not passed by 3100");
        s.advance(3_101, &mut out);
        assert_eq!(out.len(), 1);
        let m = &out[0];
        assert_eq!(m.id, first.id);
        assert_eq!((m.start_ms, m.end_ms, m.timestamp_ms), (0, 2_100, 2_100));
        assert_eq!(m.value, IncidentValue::Count(12));
        assert_eq!(m.suppressed, 2);
        assert_eq!(m.evidence.len(), 3, "capped at 3");
        assert_eq!(m.evidence_omitted, 3 + 2 + 1 + 3);
        assert_eq!(m.related_user, ["u0-0", "u0-1", "u500-0"]);
        assert_eq!(s.stats().merged, 2);
        assert_eq!(s.stats().open, 0);

        // One ms past the cool-down: two incidents.
        let mut s = Suppressor::new(cfg(Some(1_000))).unwrap();
        let mut out = Vec::new();
        s.offer(inc("r", "10.0.0.1", 0, 100, 5));
        s.offer(inc("r", "10.0.0.1", 500, 1_101, 4));
        s.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|i| i.suppressed == 0));
    }

    #[test]
    fn same_id_other_content_merges_in_any_order() {
        let (a, b) = (inc("r", "10.0.0.1", 0, 100, 3), inc("r", "10.0.0.1", 0, 100, 4));
        assert_eq!(a.id, b.id);
        let run = |first: &Incident, second: &Incident| {
            let mut s = Suppressor::new(cfg(None)).unwrap();
            let mut out = Vec::new();
            s.offer(first.clone());
            s.offer(second.clone());
            s.offer(first.clone());
            s.advance(101, &mut out);
            assert_eq!((s.stats().collisions, s.stats().duplicates), (1, 1));
            out
        };
        let out = run(&a, &b);
        assert_eq!(out, run(&b, &a));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, IncidentValue::Count(7));
    }

    #[test]
    fn key_cap_emits_early_and_counts() {
        let mut s = Suppressor::new(SuppressConfig { key_cap: 2, ..cfg(Some(10_000)) }).unwrap();
        let mut out = Vec::new();
        for (i, g) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            s.offer(inc("r", g, i as i64, 100 + i as i64, 1));
        }
        s.advance(1_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].group[0].1, GroupValue::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!(s.stats().evictions, 1);
        assert_eq!(s.stats().open, 2);
        s.finish(&mut out);
        assert_eq!(out.len(), 3);
        assert!(Suppressor::new(SuppressConfig { key_cap: 0, ..cfg(None) }).is_err());
        assert!(Suppressor::new(cfg(Some(-1))).is_err());
    }

    #[test]
    fn id_cap_forgets_oldest() {
        let mut s = Suppressor::new(SuppressConfig { id_cap: 2, ..cfg(None) }).unwrap();
        let (a, b, c) = (inc("r", "10.0.0.1", 0, 10, 1), inc("r", "10.0.0.1", 20, 30, 1), inc("r", "10.0.0.1", 40, 50, 1));
        let mut out = Vec::new();
        s.offer(a.clone());
        s.offer(b);
        s.offer(c);
        assert_eq!(s.stats().forgotten_ids, 1);
        s.offer(a.clone()); // forgotten, but still pending: a duplicate all the same
        assert_eq!(s.stats().duplicates, 1);
        s.advance(51, &mut out);
        assert_eq!(out.len(), 3);
        s.offer(a); // forgotten and emitted: not recognised as a duplicate
        s.finish(&mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(s.stats().late, 1);
    }

    proptest! {
        #[test]
        fn output_does_not_depend_on_arrival_order_or_watermarks(
            specs in prop::collection::vec((0usize..2, 0usize..3, 0i64..5_000, 1u64..6, any::<bool>()), 1..30),
            cooldown in prop::option::of(0i64..1_500),
            seed: u64,
            steps in prop::collection::vec(1i64..700, 1..20),
        ) {
            let rules = ["r1", "r2"];
            let groups = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
            let mut incidents: Vec<Incident> = Vec::new();
            for &(r, g, start, n, dup) in &specs {
                // One end per (rule, group, start): the same id always has the same timestamp.
                let len = (start * 7 + r as i64 * 13 + g as i64 * 29) % 400;
                let i = inc(rules[r], groups[g], start, start + len, n);
                if dup {
                    incidents.push(i.clone());
                }
                incidents.push(i);
            }
            // Reference: everything at once.
            let mut s = Suppressor::new(cfg(cooldown)).unwrap();
            let mut reference = Vec::new();
            for i in &incidents {
                s.offer(i.clone());
            }
            s.finish(&mut reference);

            // Shuffled arrival, offered in timestamp batches with watermarks that respect the contract.
            let mut shuffled = incidents.clone();
            let mut x = seed | 1;
            for k in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(k, (x % (k as u64 + 1)) as usize);
            }
            shuffled.sort_by_key(|i| i.timestamp_ms / 1_000); // coarse batches, shuffled within
            let mut suffix_min = vec![i64::MAX; shuffled.len() + 1];
            for k in (0..shuffled.len()).rev() {
                suffix_min[k] = suffix_min[k + 1].min(shuffled[k].timestamp_ms);
            }
            let mut s = Suppressor::new(cfg(cooldown)).unwrap();
            let mut out = Vec::new();
            let mut w = i64::MIN;
            let mut step = steps.iter().cycle();
            for (k, i) in shuffled.into_iter().enumerate() {
                // The watermark may move up to the oldest incident still to come, never past it.
                let next = (w.max(0) + step.next().unwrap()).min(suffix_min[k]);
                if next > w {
                    w = next;
                    s.advance(w, &mut out);
                }
                s.offer(i);
            }
            s.finish(&mut out);
            prop_assert_eq!(s.stats().late, 0);
            let key = |v: &mut Vec<Incident>| v.sort_by(|a, b| (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id)));
            let (mut a, mut b) = (reference, out);
            key(&mut a);
            key(&mut b);
            prop_assert_eq!(a, b);
        }
    }
}
