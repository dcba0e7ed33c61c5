//! Baseline correlations (`x-vigil-baseline`) in the pipeline: what a matching event
//! contributes ([`super::project::measure`], on the worker that parsed it), the per-entity tables on the worker
//! that owns each entity ([`BaselineState`], one per correlation, inside the correlate stage),
//! and the peer group ([`JudgeState`], one per correlation, on one worker).
//!
//! # Partitioning and the peer group
//!
//! Entities are spread over the workers by the group key like every other correlation, so the
//! per-entity work scales with the workers. An entity too new to have its own history is judged
//! against the peer group, the pooled history of *all* entities of the rule, wherever they live:
//! each worker's table runs in export mode ([`EntityTable::export_peer_group`]) and sends its
//! share of each complete interval (a small, order-independent stage) and its peer-group
//! verdicts to the correlation's judge ([`PeerJudge`]), which merges the stages, folds them in
//! interval order and judges. The result is exactly that of one table holding every entity
//! (property test in [`crate::baseline`]), so incidents are the same for any number of workers
//! or processes. The tables send at a time no later than their watermark, which is what the
//! judge's contract asks.
//!
//! # What crosses workers
//!
//! Per matching event: the group key, the time and one `u64` (the amount, or the value's hash);
//! the event itself (as evidence) only for new-value rules, whose incident shows the event that
//! brought the new value, and the value's display form for new-value and profile rules. Rate
//! and distinct rules move no evidence: their incidents are about an interval, not an event.
//!
//! # Anomalies as events
//!
//! An anomaly feeds the correlations that reference its rule like any alert; the evidence it
//! brings them is a synthetic event (`event.kind: alert`, `event.action: baseline-anomaly`,
//! `event.dataset: vigil.baseline`, the group fields and the `vigil.baseline.*` figures), so an
//! "anomaly, then a successful login" incident shows both.

use std::collections::HashMap;
use std::mem::size_of;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::Stream;

use super::frontier::{give, Held};
use super::lateness::Stage;
use super::plan::{Plan, PlannedBaseline, StateLimits};
use super::project::{forward_alert, Emitted, GroupKey, Measured, Projection};
use super::saved::{absorb_slots, restore_slots, save_slots, Checkpointed};
use super::stats::{BaselineStats, EngineStats};
use crate::baseline::{
    Anomaly, AnomalyKind, Baseline, Distinct, EntityTable, Expected, FixedState, NewValue, PeerJudge, PeerRequest, Profile, ProfilePending, Rate, TableConfig,
    TableStats,
};
use crate::checkpoint::OperatorCut;
use crate::correlate::Alert;
use crate::event::entity::hash_bytes;
use crate::event::field;
use crate::event::{Event, Origin, Value};
use crate::incident::{BaselineInfo, EvidenceEvent, GroupValue, Incident, Measure};
use crate::rules::baseline::{BaselineKind, BaselineSpec, Network};

/// Categories whose display form a profile rule remembers per worker (the rest show as hashes).
const MAX_SHOWN: usize = 4096;

/// The display form of an anomaly's value: an address reduced to a network as `a.b.c.0/24`.
fn display(v: GroupValue, network: Option<Network>) -> GroupValue {
    match (v, network) {
        (GroupValue::Ip(ip @ IpAddr::V4(_)), Some(n)) if n.v4 < 32 => GroupValue::Str(format!("{ip}/{}", n.v4)),
        (GroupValue::Ip(ip @ IpAddr::V6(_)), Some(n)) if n.v6 < 128 => GroupValue::Str(format!("{ip}/{}", n.v6)),
        (v, _) => v,
    }
}

/// What travels with a peer-group verdict to the judge and comes back with its anomaly.

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attach {
    key: GroupKey,
    evidence: Option<EvidenceEvent>,
    /// Display forms of the values the verdict may name (hash, value).
    shown: Vec<(u64, GroupValue)>,
}

/// A message from an entity table to its correlation's judge.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerMsg {
    /// Planned correlation index.
    pub correlation: u32,
    body: PeerBody,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum PeerBody {
    /// One table's stage of a complete interval (the kind's stage type, bincode).
    Stage { interval: i64, stage: Vec<u8> },
    /// A peer-group verdict (the pending part as the kind's type, bincode).
    Request { request: PeerRequest<Vec<u8>>, attach: Attach },
}

/// The worker that judges correlation `c`'s peer group.
pub fn judge_route(m: &PeerMsg) -> u64 {
    judge_of(m.correlation)
}

/// The routing hash of correlation `c`'s judge.
fn judge_of(c: u32) -> u64 {
    crate::baseline::mix64(u64::from(c))
}

/// An anomaly with what the incident shows about it.
struct Finding {
    anomaly: Anomaly,
    key: GroupKey,
    evidence: Option<EvidenceEvent>,
    shown: Option<GroupValue>,
}

/// An entity table of any kind, as the operator drives it.
trait TableOp {
    fn observe(&mut self, entity: u64, ts: i64, value: u64) -> Option<Anomaly>;
    fn advance(&mut self, watermark: i64, out: &mut Vec<Anomaly>);
    /// Moves exported stages and peer verdicts out, serialized; each verdict with the
    /// categories it counts (profile; empty for the other kinds), to name them in incidents.
    fn take_peer(&mut self, stages: &mut Vec<(i64, Vec<u8>)>, requests: &mut Vec<(PeerRequest<Vec<u8>>, Vec<u64>)>);
    fn stats(&self) -> TableStats;
    fn is_live(&self, entity: u64) -> bool;
    /// The entity table for a checkpoint (the peer buffers are empty between activations).
    fn save(&self) -> Result<Vec<u8>, String>;
    /// Replaces the entity table with a checkpoint's.
    fn load(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// Adds a checkpointed table's entities that `keep` accepts (see [`EntityTable::absorb`]).
    fn absorb(&mut self, bytes: &[u8], keep: &dyn Fn(u64) -> bool, owner: bool) -> Result<(), String>;
}

struct Table<B: Baseline> {
    table: EntityTable<B>,
    stages: Vec<(i64, B::Stage)>,
    requests: Vec<PeerRequest<B::Pending>>,
    categories: fn(&B::Pending) -> Vec<u64>,
}

fn no_categories<P>(_: &P) -> Vec<u64> {
    Vec::new()
}

fn profile_categories(p: &ProfilePending) -> Vec<u64> {
    p.categories().collect()
}

impl<B: Baseline> TableOp for Table<B> {
    fn observe(&mut self, entity: u64, ts: i64, value: u64) -> Option<Anomaly> {
        self.table.observe(entity, ts, value)
    }
    fn advance(&mut self, watermark: i64, out: &mut Vec<Anomaly>) {
        self.table.advance(watermark, out);
    }
    fn take_peer(&mut self, stages: &mut Vec<(i64, Vec<u8>)>, requests: &mut Vec<(PeerRequest<Vec<u8>>, Vec<u64>)>) {
        if self.table.peer_output_len() == 0 {
            return;
        }
        self.table.take_peer_output(&mut self.stages, &mut self.requests);
        // bincode of plain structs cannot fail; an empty message would be counted at the judge.
        stages.extend(self.stages.drain(..).map(|(i, s)| (i, bincode::serialize(&s).unwrap_or_default())));
        let categories = self.categories;
        requests.extend(self.requests.drain(..).map(|r| {
            let cats = categories(&r.pending);
            let pending = bincode::serialize(&r.pending).unwrap_or_default();
            (PeerRequest { interval: r.interval, entity: r.entity, tag: r.tag, pending }, cats)
        }));
    }
    fn stats(&self) -> TableStats {
        self.table.stats()
    }
    fn is_live(&self, entity: u64) -> bool {
        self.table.state(entity).is_some()
    }
    fn save(&self) -> Result<Vec<u8>, String> {
        bincode::serialize(&self.table).map_err(|e| e.to_string())
    }
    fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.table = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        Ok(())
    }
    fn absorb(&mut self, bytes: &[u8], keep: &dyn Fn(u64) -> bool, owner: bool) -> Result<(), String> {
        let other: EntityTable<B> = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        self.table.absorb(other, keep, owner);
        Ok(())
    }
}

fn table_op(spec: &BaselineSpec) -> Result<Box<dyn TableOp>, String> {
    fn boxed<B: Baseline + 'static>(kind: B, config: TableConfig, categories: fn(&B::Pending) -> Vec<u64>) -> Result<Box<dyn TableOp>, String> {
        let mut table = EntityTable::new(kind, config).map_err(|e| e.to_string())?;
        table.export_peer_group();
        Ok(Box::new(Table { table, stages: Vec::new(), requests: Vec::new(), categories }))
    }
    let e = |e: crate::baseline::BaselineError| e.to_string();
    let t = spec.table;
    match spec.kind {
        BaselineKind::Rate(c) => boxed(Rate::new(c).map_err(e)?, t, no_categories),
        BaselineKind::NewValue(c) => boxed(NewValue::new(c).map_err(e)?, t, no_categories),
        BaselineKind::Distinct(c) => boxed(Distinct::new(c).map_err(e)?, t, no_categories),
        BaselineKind::Profile(c) => boxed(Profile::new(c).map_err(e)?, t, profile_categories),
    }
}

/// [`BaselineState`] as a checkpoint holds it (maps as sorted lists: the same bytes for the
/// same state).
#[derive(Serialize, Deserialize)]
struct SavedBaseline {
    table: Vec<u8>,
    keys: Vec<(u64, Box<[u8]>)>,
    shown: Vec<(u64, GroupValue)>,
    stats: BaselineStats,
}

/// [`JudgeState`] as a checkpoint holds it.
#[derive(Serialize, Deserialize)]
struct SavedJudge {
    judge: Vec<u8>,
    peak_bytes: usize,
    broken: u64,
    anomalies: u64,
}

/// One baseline correlation's entity table on one worker, with the group keys it needs to
/// name entities in incidents.
pub struct BaselineState {
    table: Box<dyn TableOp>,
    kind: AnomalyKind,
    network: Option<Network>,
    /// entity hash -> group key bytes, for verdicts decided when an interval closes (interval
    /// kinds only: a new value is decided at its event, which carries the key).
    keys: HashMap<u64, Box<[u8]>, FixedState>,
    key_heap: usize,
    /// category hash -> display form (profile).
    shown: HashMap<u64, GroupValue, FixedState>,
    stages: Vec<(i64, Vec<u8>)>,
    requests: Vec<(PeerRequest<Vec<u8>>, Vec<u64>)>,
    anomalies: Vec<Anomaly>,
    stats: BaselineStats,
    final_stats: Option<BaselineStats>,
}

impl BaselineState {
    /// A state for `pb`; errors are the library's parameter errors.
    pub fn new(pb: &PlannedBaseline) -> Result<Self, String> {
        Ok(BaselineState {
            table: table_op(&pb.spec)?,
            kind: pb.kind(),
            network: pb.spec.network,
            keys: HashMap::with_hasher(FixedState),
            key_heap: 0,
            shown: HashMap::with_hasher(FixedState),
            stages: Vec::new(),
            requests: Vec::new(),
            anomalies: Vec::new(),
            stats: BaselineStats::default(),
            final_stats: None,
        })
    }

    /// The state for a checkpoint: the entity table, the keys that name its entities, the
    /// counters.
    pub fn save(&self) -> Result<Vec<u8>, String> {
        let mut keys: Vec<(u64, Box<[u8]>)> = self.keys.iter().map(|(k, v)| (*k, v.clone())).collect();
        let mut shown: Vec<(u64, GroupValue)> = self.shown.iter().map(|(k, v)| (*k, v.clone())).collect();
        keys.sort_unstable_by_key(|(k, _)| *k);
        shown.sort_unstable_by_key(|(k, _)| *k);
        let saved = SavedBaseline { table: self.table.save()?, keys, shown, stats: self.stats };
        bincode::serialize(&saved).map_err(|e| e.to_string())
    }

    /// Replaces the state with a checkpoint's.
    pub fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        let saved: SavedBaseline = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        self.table.load(&saved.table)?;
        self.key_heap = saved.keys.iter().map(|(_, k)| k.len()).sum();
        self.keys = saved.keys.into_iter().collect();
        self.shown = saved.shown.into_iter().collect();
        self.stats = saved.stats;
        Ok(())
    }

    /// Adds a checkpointed state's entities that `keep` accepts (by entity: the group key's
    /// hash), with the group keys that name them; the display forms of values come from every
    /// part (they name values, not entities), the counters and open intervals' shares with
    /// `owner`.
    pub fn absorb(&mut self, bytes: &[u8], keep: &dyn Fn(u64) -> bool, owner: bool) -> Result<(), String> {
        let saved: SavedBaseline = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        self.table.absorb(&saved.table, keep, owner)?;
        for (entity, key) in saved.keys {
            if keep(entity) && self.table.is_live(entity) && !self.keys.contains_key(&entity) {
                self.key_heap += key.len();
                self.keys.insert(entity, key);
            }
        }
        for (value, shown) in saved.shown {
            if self.shown.len() < MAX_SHOWN {
                self.shown.entry(value).or_insert(shown);
            }
        }
        if owner {
            self.stats.add(&saved.stats);
        }
        Ok(())
    }

    /// Live entities plus waiting work: the operator keeps its capability while this is above 0.
    pub fn keys(&self) -> usize {
        let s = self.table.stats();
        s.entities + s.pending
    }

    /// This worker's counters so far (before the end of input, which forgets every entity).
    pub fn stats(&self) -> BaselineStats {
        if let Some(s) = self.final_stats {
            return BaselineStats { anomalies: self.stats.anomalies, ..s };
        }
        let s = self.table.stats();
        BaselineStats {
            ttl_evictions: s.ttl_evictions,
            cap_evictions: s.cap_evictions,
            rejected: s.rejected,
            overflows: s.overflows,
            pending_dropped: s.pending_dropped,
            ..self.stats
        }
    }

    fn key_bytes(&self) -> usize {
        (self.keys.len() * (size_of::<(u64, Box<[u8]>)>() + 1)) * 8 / 7 + self.key_heap
    }

    /// Sampled once per activation (the stats are O(1), but per event would still cost).
    fn note_peak(&mut self) {
        let s = self.table.stats();
        let keys = self.key_bytes();
        self.stats.peak_entities = self.stats.peak_entities.max(s.entities);
        self.stats.peak_key_bytes = self.stats.peak_key_bytes.max(keys);
        self.stats.peak_bytes = self.stats.peak_bytes.max(s.state_bytes + keys);
    }

    /// One projected event of correlation `c`: decided anomalies become incidents or
    /// projections in `out`, peer-group traffic goes to the judge.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(&mut self, plan: &Plan, c: usize, p: Projection, evidence_cap: usize, out: &mut Emitted, peer: &mut Vec<PeerMsg>, stats: &EngineStats) {
        let Measured::Baseline { value, shown } = p.measured else { return };
        let entity = hash_bytes(p.key.bytes());
        if self.kind != AnomalyKind::NewValue && !self.keys.contains_key(&entity) {
            self.key_heap += p.key.bytes().len();
            self.keys.insert(entity, p.key.bytes().into());
        }
        if let (AnomalyKind::Profile, Some(s)) = (self.kind, &shown) {
            if self.shown.len() < MAX_SHOWN && !self.shown.contains_key(&value) {
                self.shown.insert(value, s.clone());
            }
        }
        let found = self.table.observe(entity, p.ts, value);
        self.table.take_peer(&mut self.stages, &mut self.requests);
        let mut findings = Vec::new();
        if let Some(anomaly) = found {
            findings.push(match self.kind {
                // A new value is decided at its own event: the event is the evidence.
                AnomalyKind::NewValue => Finding { anomaly, key: p.key.clone(), evidence: Some(p.evidence.clone()), shown: shown.clone() },
                _ => {
                    let shown = anomaly.value.and_then(|h| self.shown.get(&h).cloned());
                    Finding { anomaly, key: p.key.clone(), evidence: None, shown }
                }
            });
        }
        for (request, categories) in std::mem::take(&mut self.requests) {
            let attach = if self.kind == AnomalyKind::NewValue {
                Attach { key: p.key.clone(), evidence: Some(p.evidence.clone()), shown: shown.iter().map(|s| (value, s.clone())).collect() }
            } else {
                Attach { key: p.key.clone(), evidence: None, shown: self.shown_of(&categories) }
            };
            peer.push(PeerMsg { correlation: c as u32, body: PeerBody::Request { request, attach } });
        }
        self.flush_stages(c, peer);
        self.emit(plan, c, findings, evidence_cap, out, stats);
    }

    /// The watermark moved: intervals it completed are judged, idle entities forgotten.
    #[allow(clippy::too_many_arguments)]
    pub fn advance(&mut self, plan: &Plan, c: usize, watermark: i64, evidence_cap: usize, out: &mut Emitted, peer: &mut Vec<PeerMsg>, stats: &EngineStats) {
        self.note_peak();
        if watermark == i64::MAX && self.final_stats.is_none() {
            self.final_stats = Some(self.stats());
        }
        self.table.advance(watermark, &mut self.anomalies);
        self.table.take_peer(&mut self.stages, &mut self.requests);
        let mut findings = Vec::new();
        for anomaly in std::mem::take(&mut self.anomalies) {
            let Some(key) = self.key_of(anomaly.entity) else {
                stats.missing_group.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            };
            let shown = anomaly.value.and_then(|h| self.shown.get(&h).cloned());
            findings.push(Finding { anomaly, key, evidence: None, shown });
        }
        for (request, categories) in std::mem::take(&mut self.requests) {
            let Some(key) = self.key_of(request.entity) else {
                stats.missing_group.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            };
            let attach = Attach { key, evidence: None, shown: self.shown_of(&categories) };
            peer.push(PeerMsg { correlation: c as u32, body: PeerBody::Request { request, attach } });
        }
        self.flush_stages(c, peer);
        self.emit(plan, c, findings, evidence_cap, out, stats);
        // Keys of forgotten entities go once they are a good part of the map (amortized O(1)).
        let live = self.table.stats().entities;
        if self.keys.len() > 2 * live + 1024 {
            let (table, heap) = (&self.table, &mut self.key_heap);
            self.keys.retain(|e, k| {
                let keep = table.is_live(*e);
                if !keep {
                    *heap -= k.len();
                }
                keep
            });
        }
    }

    fn key_of(&self, entity: u64) -> Option<GroupKey> {
        self.keys.get(&entity).and_then(|b| GroupKey::from_bytes(b))
    }

    fn shown_of(&self, categories: &[u64]) -> Vec<(u64, GroupValue)> {
        categories.iter().filter_map(|h| self.shown.get(h).map(|v| (*h, v.clone()))).collect()
    }

    fn flush_stages(&mut self, c: usize, peer: &mut Vec<PeerMsg>) {
        for (interval, stage) in self.stages.drain(..) {
            peer.push(PeerMsg { correlation: c as u32, body: PeerBody::Stage { interval, stage } });
        }
    }

    fn emit(&mut self, plan: &Plan, c: usize, findings: Vec<Finding>, evidence_cap: usize, out: &mut Emitted, stats: &EngineStats) {
        self.stats.anomalies += findings.len() as u64;
        for f in findings {
            emit(plan, c, f, self.network, evidence_cap, out, stats);
        }
    }
}

/// A peer judge of any kind, as the operator drives it.
trait JudgeOp {
    fn stage(&mut self, interval: i64, bytes: &[u8]) -> bool;
    fn request(&mut self, req: PeerRequest<Vec<u8>>, attach: Attach) -> Result<Option<(Anomaly, Attach)>, ()>;
    fn advance(&mut self, watermark: i64, out: &mut Vec<(Anomaly, Attach)>);
    fn idle(&self) -> bool;
    fn dropped(&self) -> u64;
    fn state_bytes(&self) -> usize;
    /// The peer group and its waiting verdicts, for a checkpoint.
    fn save(&self) -> Result<Vec<u8>, String>;
    /// Replaces them with a checkpoint's.
    fn load(&mut self, bytes: &[u8]) -> Result<(), String>;
}

impl<B: Baseline> JudgeOp for PeerJudge<B, Attach> {
    fn stage(&mut self, interval: i64, bytes: &[u8]) -> bool {
        match bincode::deserialize::<B::Stage>(bytes) {
            Ok(s) => {
                self.add_stage(interval, s);
                true
            }
            Err(_) => false,
        }
    }
    fn request(&mut self, req: PeerRequest<Vec<u8>>, attach: Attach) -> Result<Option<(Anomaly, Attach)>, ()> {
        let pending = bincode::deserialize::<B::Pending>(&req.pending).map_err(drop)?;
        Ok(PeerJudge::request(self, PeerRequest { interval: req.interval, entity: req.entity, tag: req.tag, pending }, attach))
    }
    fn advance(&mut self, watermark: i64, out: &mut Vec<(Anomaly, Attach)>) {
        PeerJudge::advance(self, watermark, out);
    }
    fn idle(&self) -> bool {
        self.is_idle()
    }
    fn dropped(&self) -> u64 {
        self.pending_dropped() + self.late_stages()
    }
    fn state_bytes(&self) -> usize {
        // The attachments' heap (group key, evidence) is estimated at a typical evidence size.
        PeerJudge::state_bytes(self) + self.pending() * ATTACH_BYTES
    }
    fn save(&self) -> Result<Vec<u8>, String> {
        bincode::serialize(self).map_err(|e| e.to_string())
    }
    fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        *self = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Typical heap of a waiting verdict's attachment: a group key and, for new values, an event's
/// ECS JSON (shared with other copies, but a waiting verdict may hold the last one).
const ATTACH_BYTES: usize = 512;

/// One baseline correlation's peer group, on the worker [`judge_route`] picks.
pub struct JudgeState {
    judge: Box<dyn JudgeOp>,
    /// Most bytes held at once (sampled per activation).
    pub peak_bytes: usize,
    network: Option<Network>,
    judged: Vec<(Anomaly, Attach)>,
    /// Messages that did not decode (never expected: both ends are this binary).
    pub broken: u64,
    anomalies: u64,
}

impl JudgeState {
    /// A judge for `pb`'s peer group.
    pub fn new(pb: &PlannedBaseline) -> Result<Self, String> {
        fn boxed<B: Baseline + 'static>(kind: B, max_pending: usize) -> Result<Box<dyn JudgeOp>, String> {
            Ok(Box::new(PeerJudge::<B, Attach>::new(kind, max_pending).map_err(|e| e.to_string())?))
        }
        let e = |e: crate::baseline::BaselineError| e.to_string();
        let m = pb.spec.table.max_pending;
        let judge = match pb.spec.kind {
            BaselineKind::Rate(c) => boxed(Rate::new(c).map_err(e)?, m)?,
            BaselineKind::NewValue(c) => boxed(NewValue::new(c).map_err(e)?, m)?,
            BaselineKind::Distinct(c) => boxed(Distinct::new(c).map_err(e)?, m)?,
            BaselineKind::Profile(c) => boxed(Profile::new(c).map_err(e)?, m)?,
        };
        Ok(JudgeState { judge, peak_bytes: 0, network: pb.spec.network, judged: Vec::new(), broken: 0, anomalies: 0 })
    }

    /// True while stages or verdicts wait.
    pub fn busy(&self) -> bool {
        !self.judge.idle()
    }

    /// Verdicts dropped by the waiting cap, plus stages that came too late.
    pub fn dropped(&self) -> u64 {
        self.judge.dropped()
    }

    /// Anomalies found against the peer group.
    pub fn anomalies(&self) -> u64 {
        self.anomalies
    }

    /// One message from a table.
    pub fn receive(&mut self, plan: &Plan, m: PeerMsg, evidence_cap: usize, out: &mut Emitted, stats: &EngineStats) {
        let c = m.correlation as usize;
        match m.body {
            PeerBody::Stage { interval, stage } => {
                if !self.judge.stage(interval, &stage) {
                    self.broken += 1;
                }
            }
            PeerBody::Request { request, attach } => match self.judge.request(request, attach) {
                Ok(Some(found)) => self.judged.push(found),
                Ok(None) => {}
                Err(()) => self.broken += 1,
            },
        }
        self.flush(plan, c, evidence_cap, out, stats);
    }

    /// The watermark moved: folds complete intervals and judges what waited for them.
    pub fn advance(&mut self, plan: &Plan, c: usize, watermark: i64, evidence_cap: usize, out: &mut Emitted, stats: &EngineStats) {
        self.peak_bytes = self.peak_bytes.max(self.judge.state_bytes());
        self.judge.advance(watermark, &mut self.judged);
        self.flush(plan, c, evidence_cap, out, stats);
    }

    fn flush(&mut self, plan: &Plan, c: usize, evidence_cap: usize, out: &mut Emitted, stats: &EngineStats) {
        for (anomaly, a) in self.judged.drain(..) {
            let shown = anomaly.value.and_then(|h| a.shown.iter().find(|(k, _)| *k == h).map(|(_, v)| v.clone()));
            self.anomalies += 1;
            emit(plan, c, Finding { anomaly, key: a.key, evidence: a.evidence, shown }, self.network, evidence_cap, out, stats);
        }
    }
}

impl Checkpointed for JudgeState {
    fn save(&self) -> Result<Vec<u8>, String> {
        let saved = SavedJudge { judge: self.judge.save()?, peak_bytes: self.peak_bytes, broken: self.broken, anomalies: self.anomalies };
        bincode::serialize(&saved).map_err(|e| e.to_string())
    }

    fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        let saved: SavedJudge = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        self.judge.load(&saved.judge)?;
        (self.peak_bytes, self.broken, self.anomalies) = (saved.peak_bytes, saved.broken, saved.anomalies);
        Ok(())
    }

    /// A peer group is one state per correlation, on one worker: taken whole by the worker
    /// that judges the correlation now (the caller's `keep` decides by correlation alone).
    fn absorb(&mut self, bytes: &[u8], keep: &dyn Fn(u64) -> bool, _owner: bool) -> Result<(), String> {
        if keep(0) {
            self.load(bytes)?;
        }
        Ok(())
    }
}

/// Turns a finding of planned correlation `c` into its incident (if the rule raises incidents)
/// and into projections for the correlations it feeds.
fn emit(plan: &Plan, c: usize, f: Finding, network: Option<Network>, evidence_cap: usize, out: &mut Emitted, stats: &EngineStats) {
    let planned = &plan.correlations[c];
    let a = &f.anomaly;
    // Inclusive window: the interval's last millisecond (a new value: its event's time).
    let (start, end) = (a.interval_start_ms, a.interval_end_ms.saturating_sub(1).max(a.interval_start_ms));
    let (expected_mean, expected_std, share, usual_share) = match a.expected {
        Expected::Usual { mean, std } => (Some(mean), Some(std), None, None),
        Expected::FirstSeen => (None, None, None, None),
        Expected::Share { share, usual_share, .. } => (None, None, Some(share), Some(usual_share)),
    };
    let field = planned.baseline.as_ref().and_then(|b| b.spec.field.clone());
    let info = BaselineInfo {
        kind: a.kind.as_str().to_string(),
        field,
        observed: a.observed,
        expected_mean,
        expected_std,
        share,
        usual_share,
        score: a.score,
        peer: a.peer,
        value: f
            .shown
            .map(|v| display(v, network))
            .or_else(|| a.value.filter(|_| a.kind == AnomalyKind::Profile).map(|h| GroupValue::Str(format!("#{h:016x}")))),
    };
    if !planned.feeds.is_empty() {
        let ev = anomaly_event(plan, c, &f.key, start, end, &info);
        // A baseline's learned history is not re-read on restart: its chain starts with the interval.
        forward_alert(plan, c, &f.key, start, end, start, ev, &mut out.forward, stats);
    }
    if planned.emits {
        let alert = Alert {
            group: (),
            window_start_ms: start,
            window_end_ms: end,
            value: 1.0,
            first_event_ts: start,
            last_event_ts: end,
            evidence: f.evidence.into_iter().collect(),
            omitted: 0,
        };
        let group = planned.group_names.iter().cloned().zip(f.key.values()).collect();
        let mut inc = Incident::from_alert(planned.info.clone(), group, alert, Measure::Count, evidence_cap, Some);
        inc.baseline = Some(Box::new(info));
        out.incidents.push(inc);
    }
}

/// The anomaly as an event, the evidence it brings to the correlations built on it.
fn anomaly_event(plan: &Plan, c: usize, key: &GroupKey, start: i64, end: i64, info: &BaselineInfo) -> EvidenceEvent {
    let planned = &plan.correlations[c];
    let mut ev = Event::at(end);
    ev.origin = Origin { partition: u32::MAX, record: start as u64, sub: c as u32 };
    let put = |name: &str, v: &GroupValue, ev: &mut Event| {
        let Some(id) = field::intern(name) else { return };
        match v {
            GroupValue::Null => ev.push(id, Value::Null),
            GroupValue::Bool(b) => ev.push(id, Value::Bool(*b)),
            GroupValue::Int(i) => ev.push(id, Value::Int(*i)),
            GroupValue::Float(f) => ev.push(id, Value::Float(*f)),
            GroupValue::Str(s) => ev.push_str(id, s),
            GroupValue::Ip(ip) => ev.push(id, Value::Ip(*ip)),
        }
    };
    put("event.kind", &GroupValue::Str("alert".into()), &mut ev);
    put("event.action", &GroupValue::Str("baseline-anomaly".into()), &mut ev);
    put("event.dataset", &GroupValue::Str("vigil.baseline".into()), &mut ev);
    put("rule.name", &GroupValue::Str(planned.info.title.clone()), &mut ev);
    for (name, v) in planned.group_names.iter().zip(key.values()) {
        put(name, &v, &mut ev);
    }
    put("vigil.baseline.kind", &GroupValue::Str(info.kind.clone()), &mut ev);
    put("vigil.baseline.observed", &GroupValue::Float(info.observed), &mut ev);
    if let Some(m) = info.expected_mean {
        put("vigil.baseline.expected_mean", &GroupValue::Float(m), &mut ev);
    }
    put("vigil.baseline.score", &GroupValue::Float(info.score), &mut ev);
    put("vigil.baseline.peer", &GroupValue::Bool(info.peer), &mut ev);
    if let Some(v) = &info.value {
        put("vigil.baseline.value", v, &mut ev);
    }
    EvidenceEvent::deferred(ev)
}

/// The peer-group judges of the baseline correlations of `stage`: each correlation's tables
/// (on every worker) send their complete stages and peer verdicts to one worker, which folds
/// and judges them in event time. Returns the incidents and the projections for deeper stages.
pub fn judge_stage<'s>(
    msgs: Stream<'s, u64, Vec<PeerMsg>>,
    stage: &Stage,
    plan: Arc<Plan>,
    limits: StateLimits,
    stats: Arc<EngineStats>,
    mut checkpoint: Option<OperatorCut>,
    remap: Option<Arc<Vec<Option<u32>>>>,
) -> (Stream<'s, u64, Vec<Incident>>, Stream<'s, u64, Vec<Projection>>) {
    let (judges_index, judges_peers) = (msgs.scope().index(), msgs.scope().peers());
    let mut builder = OperatorBuilder::new("PeerJudge".to_owned(), msgs.scope());
    let mut input = builder.new_input(msgs, Exchange::new(judge_route));
    let (inc_out, incidents) = builder.new_output::<Vec<Incident>>();
    let (fwd_out, forward) = builder.new_output::<Vec<Projection>>();
    let mut inc_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<Incident>>>::from(inc_out);
    let mut fwd_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<Projection>>>::from(fwd_out);
    builder.build(move |initial| {
        let mut judges: Vec<Option<JudgeState>> = plan
            .correlations
            .iter()
            .enumerate()
            .map(|(c, p)| p.baseline.as_ref().filter(|b| stage.evaluates(&plan, c) && b.peer_group()).and_then(|b| JudgeState::new(b).ok()))
            .collect();
        let mut held = Held::default();
        let restored = match checkpoint.as_ref().map(|op| (op.restored_all(), op)) {
            Some((Some(all), _)) => {
                // Taken with another number of workers or other rules: each correlation's peer
                // group (on one old worker) goes to the worker that judges it now.
                let (index, peers) = (judges_index as u64, judges_peers as u64);
                let owns = |c: u32, _: u64| judge_of(c) % peers == index;
                for (_, bytes) in &all {
                    absorb_slots(bytes, &plan, remap.as_deref().map(Vec::as_slice), &mut judges, &stats, "peer group", owns, false);
                }
                true
            }
            Some((None, op)) => op.restored().map(|bytes| restore_slots(&bytes, &plan, &mut judges, &stats, "peer group")).is_some(),
            None => false,
        };
        if restored {
            // Restored stages are judged as the frontier moves, with or without new input.
            held = Held::initial(initial);
        }
        let mut reported = false;
        let mut finished = false;
        let mut produced = Emitted::default();
        // Messages at or after a cut in progress, set aside until the state before it is saved.
        let mut after_cut: Vec<(Held, Vec<PeerMsg>)> = Vec::new();
        move |frontiers| {
            let pending_cut = checkpoint.as_ref().and_then(OperatorCut::pending);
            let receive = |data: &mut Vec<PeerMsg>, judges: &mut [Option<JudgeState>], produced: &mut Emitted| {
                for m in data.drain(..) {
                    let c = m.correlation as usize;
                    if let Some(j) = judges.get_mut(c).and_then(Option::as_mut) {
                        j.receive(&plan, m, limits.evidence_cap, produced, &stats);
                    }
                }
            };
            input.for_each(|cap, data: &mut Vec<PeerMsg>| match pending_cut {
                Some(cut) if cap.least().is_some_and(|&t| t >= cut.at) => {
                    let mut h = Held::default();
                    h.hold(&cap, 2);
                    after_cut.push((h, std::mem::take(data)));
                }
                _ => {
                    held.hold(&cap, 2);
                    receive(data, &mut judges, &mut produced);
                }
            });
            let bound = frontiers[0].frontier().first().copied();
            if let Some(cut) = pending_cut.filter(|c| bound.is_none_or(|f| f >= c.at)) {
                // Everything before the cut is in: judge what it closes, send it before the
                // cut, save, and go on with what was set aside.
                for (c, slot) in judges.iter_mut().enumerate() {
                    if let Some(j) = slot.as_mut() {
                        j.advance(&plan, c, cut.at as i64, limits.evidence_cap, &mut produced, &stats);
                    }
                }
                if held.time().is_some() {
                    give(&held, 0, &mut produced.incidents, &mut inc_out);
                    give(&held, 1, &mut produced.forward, &mut fwd_out);
                }
                if let Some(op) = checkpoint.as_mut() {
                    op.deliver(cut, save_slots(&plan, &judges, &stats, "peer group"));
                }
                held.downgrade(cut.at);
                for (h, mut data) in after_cut.drain(..) {
                    held.absorb(h);
                    receive(&mut data, &mut judges, &mut produced);
                }
            }
            let watermark = bound.map_or(i64::MAX, |f| f as i64);
            for (c, slot) in judges.iter_mut().enumerate() {
                if let Some(j) = slot.as_mut() {
                    j.advance(&plan, c, watermark, limits.evidence_cap, &mut produced, &stats);
                }
            }
            if held.time().is_some() {
                give(&held, 0, &mut produced.incidents, &mut inc_out);
                give(&held, 1, &mut produced.forward, &mut fwd_out);
                let busy = judges.iter().flatten().any(JudgeState::busy);
                match bound {
                    Some(f) if busy => held.downgrade(f),
                    _ => held.release(),
                }
            }
            if bound.is_none() && !reported {
                reported = true;
                if let Ok(mut all) = stats.baselines.lock() {
                    for (c, j) in judges.iter().enumerate() {
                        if let Some(j) = j {
                            let s = all.entry(plan.correlations[c].info.title.clone()).or_default();
                            s.add(&BaselineStats {
                                pending_dropped: j.dropped() + j.broken,
                                anomalies: j.anomalies(),
                                judge_peak_bytes: j.peak_bytes,
                                ..BaselineStats::default()
                            });
                        }
                    }
                }
            }
            if bound.is_none() && !finished {
                finished = true;
                if let Some(op) = checkpoint.as_mut() {
                    op.finish(save_slots(&plan, &judges, &stats, "peer group"));
                }
            }
        }
    });
    (incidents, forward)
}

#[cfg(test)]
mod tests {
    use super::super::project::mask;
    use super::*;

    #[test]
    fn networks_display_as_cidr() {
        let n24 = Some(Network { v4: 24, v6: 64 });
        assert_eq!(display(GroupValue::Ip(mask("10.1.2.3".parse().unwrap(), Network { v4: 24, v6: 64 })), n24), GroupValue::Str("10.1.2.0/24".into()));
        assert_eq!(display(GroupValue::Ip(mask("10.1.2.3".parse().unwrap(), Network { v4: 0, v6: 0 })), None), GroupValue::Ip("0.0.0.0".parse().unwrap()));
    }
}
