//! Per-key state machines for Sigma correlation rules (spec v2.1), independent of YAML and of
//! timely: the keyed operator hands each key's events in event-time order, calls
//! [`Correlator::observe`] for each, and [`Correlator::advance`] whenever its input frontier (the
//! watermark) moves.
//!
//! | kind (Sigma type) | module | value of a window |
//! | --- | --- | --- |
//! | `event_count` | [`threshold`] | number of events |
//! | `value_count` | [`distinct`] | number of distinct values of a field |
//! | `temporal` | [`temporal`] | number of distinct referenced rules seen |
//! | `temporal_ordered` | [`ordered`] | all referenced rules seen in the given order |
//! | `value_sum`, `value_avg`, `value_percentile` | [`aggregate`] | sum, mean, percentile of a numeric field |
//!
//! # Time and windows
//!
//! Times are milliseconds since the Unix epoch (`i64`), `span` is the rule's `timespan` in ms.
//! A watermark `w` passed to `advance(w)` promises that every later `observe` has `ts >= w`;
//! an event older than the watermark, or older than the previous event of its own key, breaks
//! the caller's contract: it is not used, and is counted in [`Stats::rejected`].
//!
//! Equal timestamps are ordered by arrival: the caller guarantees a deterministic arrival order
//! (vigil's in-order operator sorts by (event time, partition, record)), and "before" below
//! always means "arrived before".
//!
//! Each correlator runs in one of two modes, chosen from the kind and the condition:
//!
//! * **Early (sliding windows).** Used when the window's value can only grow as events are added
//!   (`event_count`, `value_count`, `temporal`) and the condition has only lower bounds (`gt`,
//!   `gte`, or both), so a condition once true stays true. The window of an event `e` at time `t`
//!   holds the events that arrived up to and including `e`, since the last alert of the key,
//!   with a time in `[t - span, t]`: **both bounds inclusive**, so two events exactly `span` ms
//!   apart are in one window and `span + 1` ms apart are not. The condition is checked at every
//!   event, and the alert is emitted by that `observe` call, as soon as it becomes true.
//!   `window_start_ms = t - span`, `window_end_ms = t`.
//!   **Restart:** after an alert the key's state is cleared: the events up to and including the
//!   one that fired are consumed, and the next alert needs a fresh set of events arriving after
//!   it. A burst of 100 events under `gte: 10` therefore gives 10 alerts over disjoint sets of
//!   events, never one alert per event (cool-downs that merge them are a later suppression
//!   extension). `temporal_ordered` always runs in this mode (it fires when the sequence
//!   completes; see [`ordered`]).
//! * **At close (anchored windows).** Used for every other condition (`lt`, `lte`, `eq`, `neq`,
//!   ranges with an upper bound) and always for `value_sum`, `value_avg` and `value_percentile`,
//!   whose value can go up and down as events are added. The first event of a key (at `t0`)
//!   opens a window `[t0, t0 + span]` (inclusive bounds again); every event of the key with a
//!   time in that range falls in it. The window closes, and its value is checked once, when it
//!   is known to be complete: at the first event of the key later than `t0 + span` (in that
//!   `observe`, which then opens the next window with that event), or at the first
//!   `advance(w)` with `w > t0 + span`, whichever comes first. Windows of one key never
//!   overlap, so there is nothing to restart. A window exists only where there are events: an
//!   empty window never alerts, so `lt: 5` means 1 to 4 events. Anchoring (rather than one
//!   sliding window per event) gives each event exactly one window and one decision per window:
//!   a sliding `lt: 5` would hold at almost every event of a quiet key.
//!
//! The alert set is a function of each key's own event sequence only (not of the watermark
//! schedule, nor of how keys interleave), as long as no key is evicted (below). Alerts emitted by
//! one `advance` call are sorted by (`window_end_ms`, group key); alerts emitted by `observe`
//! come out at that event.
//!
//! # Group keys
//!
//! The caller builds the group key from the rule's `group-by` fields (and aliases). Events that
//! lack one of the group-by fields must not be passed in at all: they are not counted.
//!
//! # Memory
//!
//! A key's whole state is freed by the first `advance(w)` after which no future event can share
//! a window with its events (early mode: `w > last event + span`, for `temporal_ordered`
//! `w > latest partial match start + span`; at close: `w > window end`, after the window was
//! checked). Inside a live key, events that left the window are dropped at
//! the key's next event. Each correlator also has a hard cap on live keys: a new key beyond the
//! cap evicts the key whose deadline (the time above) comes first, which in early mode is exactly
//! the least recently seen key; the evicted key's partial window is dropped without an alert and
//! counted in [`Stats::evictions`]. [`Correlator::state_bytes`] estimates the memory held: a
//! fixed cost per key (its slot, which holds the key once, a hash-table entry of a slot number,
//! an index entry; see each kind's docs for the figure) plus the heap the state owns and the
//! key's own heap bytes; heap owned by evidence values themselves is not included. For a
//! 16-byte key (an IP address) and 8-byte evidence the fixed cost is 185 bytes (`event_count`),
//! 201 (`value_count`), 169 (`temporal`), 105 (`temporal_ordered`) and 185 (aggregates) on
//! 64-bit targets (test `fixed_bytes_per_key`); the held events, values and evidence come on
//! top and are bounded as each kind says. Their deques start with room for one value.
//!
//! # Inputs
//!
//! `event_count` takes `()`, `value_count` the field's value (any `Hash + Eq + Clone`),
//! `temporal` and `temporal_ordered` a bit mask of the referenced rules the event matched, the
//! aggregates the field's value as `f64`.
//!
//! # Evidence
//!
//! Alerts carry at most `evidence_cap` of the caller's evidence values (an event reference, say)
//! and [`Alert::omitted`] counts the rest; which ones are kept is said by each kind.

use std::collections::{BTreeMap, VecDeque};

// A fixed hasher, never RandomState: identical runs hash identically, and FxHash is several
// times cheaper than SipHash on the short keys (addresses, names) correlations group by.
use std::hash::{BuildHasher, Hash};
use std::mem::size_of;

pub mod absence;
pub mod aggregate;
pub mod distinct;
pub mod ordered;
pub mod persistence;
pub mod temporal;
pub mod threshold;
mod window;

/// Errors in a correlator's parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// The condition has no operator.
    #[error("the condition has no operator (gt, gte, lt, lte, eq, neq)")]
    EmptyCondition,
    /// An operand is NaN or infinite.
    #[error("condition operand {0} is not a finite number")]
    NotFinite(f64),
    /// The timespan is negative.
    #[error("timespan must not be negative, got {0} ms")]
    NegativeSpan(i64),
    /// A limit (key cap, value limit, rule count) is out of range.
    #[error("{0}")]
    Limit(String),
}

/// A Sigma correlation condition: the conjunction of every operator present
/// (`gt: 100, lte: 200` is the range 101..=200). Operands are numbers (`value_avg` allows floats;
/// counts compare exactly up to 2^53).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Condition {
    /// Greater than.
    pub gt: Option<f64>,
    /// Greater than or equal.
    pub gte: Option<f64>,
    /// Less than.
    pub lt: Option<f64>,
    /// Less than or equal.
    pub lte: Option<f64>,
    /// Equal.
    pub eq: Option<f64>,
    /// Not equal.
    pub neq: Option<f64>,
}

impl Condition {
    /// `value > x`.
    pub fn gt(x: f64) -> Self {
        Condition { gt: Some(x), ..Default::default() }
    }
    /// `value >= x`.
    pub fn gte(x: f64) -> Self {
        Condition { gte: Some(x), ..Default::default() }
    }
    /// `value < x`.
    pub fn lt(x: f64) -> Self {
        Condition { lt: Some(x), ..Default::default() }
    }
    /// `value <= x`.
    pub fn lte(x: f64) -> Self {
        Condition { lte: Some(x), ..Default::default() }
    }
    /// `value == x`.
    pub fn eq(x: f64) -> Self {
        Condition { eq: Some(x), ..Default::default() }
    }
    /// `value != x`.
    pub fn neq(x: f64) -> Self {
        Condition { neq: Some(x), ..Default::default() }
    }

    fn operands(&self) -> impl Iterator<Item = f64> {
        [self.gt, self.gte, self.lt, self.lte, self.eq, self.neq].into_iter().flatten()
    }

    /// Checks that there is at least one operator and every operand is finite.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.operands().next().is_none() {
            return Err(ParamError::EmptyCondition);
        }
        match self.operands().find(|x| !x.is_finite()) {
            Some(x) => Err(ParamError::NotFinite(x)),
            None => Ok(()),
        }
    }

    /// True when every operator present holds for `v`.
    pub fn matches(&self, v: f64) -> bool {
        self.gt.is_none_or(|x| v > x)
            && self.gte.is_none_or(|x| v >= x)
            && self.lt.is_none_or(|x| v < x)
            && self.lte.is_none_or(|x| v <= x)
            && self.eq.is_none_or(|x| v == x)
            && self.neq.is_none_or(|x| v != x)
    }

    /// True when only `gt`/`gte` are present: for a value that only grows, the condition once
    /// true stays true, so it can be decided early.
    pub fn lower_bounds_only(&self) -> bool {
        (self.gt.is_some() || self.gte.is_some()) && self.lt.is_none() && self.lte.is_none() && self.eq.is_none() && self.neq.is_none()
    }

    /// The largest operand (0 when there is none).
    pub fn max_operand(&self) -> f64 {
        self.operands().fold(0.0, f64::max)
    }
}

/// When a correlator decides (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// Sliding windows, checked at every event, state cleared after an alert.
    Early,
    /// Windows anchored at their first event, checked once when they close.
    AtClose,
}

/// One correlation hit for one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert<K, E> {
    /// The group key (built from the rule's group-by fields).
    pub group: K,
    /// Window start, inclusive (ms).
    pub window_start_ms: i64,
    /// Window end, inclusive (ms).
    pub window_end_ms: i64,
    /// The window's value: count, distinct count, rules seen, sum, mean or percentile.
    pub value: f64,
    /// Time of the first event that counted in the alert.
    pub first_event_ts: i64,
    /// Time of the last event that counted in the alert.
    pub last_event_ts: i64,
    /// At most `evidence_cap` evidence values, oldest first.
    pub evidence: Vec<E>,
    /// How many contributing events (or values) are not in `evidence`.
    pub omitted: u64,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live keys.
    pub keys: usize,
    /// Estimated bytes of state.
    pub state_bytes: usize,
    /// Keys evicted by the key cap.
    pub evictions: u64,
    /// Events rejected because they broke the time order contract (or a value was unusable).
    pub rejected: u64,
}

/// A per-key correlation state machine over an in-order stream.
pub trait Correlator {
    /// The group key.
    type Key: Ord + Hash + Clone;
    /// What the correlation looks at for each event (nothing, a value, a rule index...).
    type Input;
    /// What an alert carries to point at its events.
    type Evidence: Clone;

    /// One event of group `key` at `ts_ms`; alerts decided at this event are pushed to `out`.
    fn observe(&mut self, key: &Self::Key, ts_ms: i64, input: Self::Input, evidence: Self::Evidence, out: &mut Vec<Alert<Self::Key, Self::Evidence>>);

    /// The watermark moved to `watermark_ms` (no later event is older): closes windows that
    /// need it, pushes their alerts to `out` in (window end, key) order, and frees state no
    /// future event can use. A watermark lower than an earlier one changes nothing.
    fn advance(&mut self, watermark_ms: i64, out: &mut Vec<Alert<Self::Key, Self::Evidence>>);

    /// Counters.
    fn stats(&self) -> Stats;

    /// Live keys.
    fn keys(&self) -> usize {
        self.stats().keys
    }

    /// Estimated bytes of state.
    fn state_bytes(&self) -> usize {
        self.stats().state_bytes
    }
}

/// Heap bytes a per-key state owns (not counting its inline size).
pub(crate) trait HeapBytes {
    fn heap_bytes(&self) -> usize;
}

/// Heap bytes a group key owns (counted twice: the key table and its expiry index each hold
/// one).
pub trait KeyBytes {
    /// Bytes on the heap, not counting the key's inline size.
    fn key_bytes(&self) -> usize {
        0
    }
}

macro_rules! inline_keys {
    ($($t:ty),*) => { $(impl KeyBytes for $t {})* };
}
inline_keys!(u8, u16, u32, u64, u128, usize, i32, i64);
impl KeyBytes for String {
    fn key_bytes(&self) -> usize {
        self.capacity()
    }
}
impl KeyBytes for Box<[u8]> {
    fn key_bytes(&self) -> usize {
        self.len()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Slot<K, S> {
    key: K,
    state: S,
    last_ts: i64,
    deadline: i64,
    seq: u64,
}

/// The key table every kind shares: states by key, an index by (deadline, update sequence) for
/// expiry and eviction, the key cap and the counters. Each key is held once, in its slot: the
/// hash table and the index hold slot numbers (a spray of new keys is mostly key-table
/// entries, so a second copy of every key in the index cost a third of the memory).
pub(crate) struct Table<K, S> {
    lookup: hashbrown::HashTable<u32>,
    slots: Vec<Option<Slot<K, S>>>,
    free: Vec<u32>,
    index: BTreeMap<(i64, u64), u32>,
    hasher: rustc_hash::FxBuildHasher,
    cap: usize,
    seq: u64,
    heap: usize,
    watermark: i64,
    evictions: u64,
    rejected: u64,
}

/// A key table as a checkpoint holds it: the live slots in expiry order and the counters; the
/// hash table and the index are rebuilt on load (they hold only slot numbers).
#[derive(serde::Serialize)]
struct SavedTableRef<'a, K, S> {
    cap: usize,
    seq: u64,
    watermark: i64,
    evictions: u64,
    rejected: u64,
    slots: Vec<&'a Slot<K, S>>,
}

#[derive(serde::Deserialize)]
struct SavedTable<K, S> {
    cap: usize,
    seq: u64,
    watermark: i64,
    evictions: u64,
    rejected: u64,
    slots: Vec<Slot<K, S>>,
}

impl<K: serde::Serialize, S: serde::Serialize> serde::Serialize for Table<K, S> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let slots = self.index.values().filter_map(|&i| self.slots.get(i as usize).and_then(Option::as_ref)).collect();
        SavedTableRef { cap: self.cap, seq: self.seq, watermark: self.watermark, evictions: self.evictions, rejected: self.rejected, slots }
            .serialize(serializer)
    }
}

impl<'de, K, S> serde::Deserialize<'de> for Table<K, S>
where
    K: serde::Deserialize<'de> + Ord + Hash + Clone + KeyBytes,
    S: serde::Deserialize<'de> + HeapBytes,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let saved = SavedTable::<K, S>::deserialize(deserializer)?;
        let mut table = Table::new(saved.cap).map_err(D::Error::custom)?;
        if saved.slots.len() > saved.cap {
            return Err(D::Error::custom(format!("{} keys saved for a cap of {}", saved.slots.len(), saved.cap)));
        }
        for slot in saved.slots {
            let at = (slot.deadline, slot.seq);
            if table.find(&slot.key).is_some() || table.index.contains_key(&at) {
                return Err(D::Error::custom("a key or an expiry entry saved twice"));
            }
            let i = table.insert(slot);
            table.index.insert(at, i);
        }
        (table.seq, table.watermark, table.evictions, table.rejected) = (saved.seq, saved.watermark, saved.evictions, saved.rejected);
        Ok(table)
    }
}

impl<K: Ord + Hash + Clone + KeyBytes, S: HeapBytes> Table<K, S> {
    pub(crate) fn new(cap: usize) -> Result<Self, ParamError> {
        if cap == 0 {
            return Err(ParamError::Limit("the key cap must be at least 1".into()));
        }
        if u32::try_from(cap).is_err() {
            return Err(ParamError::Limit(format!("the key cap must be at most {}", u32::MAX)));
        }
        Ok(Table {
            lookup: hashbrown::HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            index: BTreeMap::new(),
            hasher: rustc_hash::FxBuildHasher,
            cap,
            seq: 0,
            heap: 0,
            watermark: i64::MIN,
            evictions: 0,
            rejected: 0,
        })
    }

    /// Estimated fixed bytes per live key: the slot, the hash table's entry at its 7/8 load
    /// factor plus a control byte, and the B-tree index entry with node overhead taken as one
    /// half more.
    pub(crate) fn bytes_per_key() -> usize {
        size_of::<Option<Slot<K, S>>>() + (size_of::<u32>() + 1) * 8 / 7 + size_of::<((i64, u64), u32)>() * 3 / 2
    }

    /// Adds `other`'s keys that `keep` accepts and this table lacks (a checkpoint taken with
    /// another number of workers, divided by key), in `other`'s expiry order, evicting past the
    /// cap as [`Table::update`] does; the watermark becomes the later of both, and `other`'s
    /// counters are added when `counters`.
    pub(crate) fn absorb(&mut self, mut other: Table<K, S>, keep: &dyn Fn(&K) -> bool, counters: bool) {
        self.watermark = self.watermark.max(other.watermark);
        if counters {
            self.evictions += other.evictions;
            self.rejected += other.rejected;
        }
        let order: Vec<u32> = other.index.values().copied().collect();
        for i in order {
            let Some(mut slot) = other.slots.get_mut(i as usize).and_then(Option::take) else { continue };
            if !keep(&slot.key) || self.find(&slot.key).is_some() {
                continue;
            }
            if self.lookup.len() >= self.cap {
                if let Some((_, victim)) = self.index.pop_first() {
                    self.take(victim);
                    self.evictions += 1;
                }
            }
            self.seq += 1;
            slot.seq = self.seq;
            let deadline = slot.deadline;
            let i = self.insert(slot);
            self.index.insert((deadline, self.seq), i);
        }
    }

    pub(crate) fn reject(&mut self) {
        self.rejected += 1;
    }

    fn find(&self, key: &K) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        self.lookup.find(hash, |&i| slots[i as usize].as_ref().is_some_and(|s| s.key == *key)).copied()
    }

    /// Frees slot `i`: out of the hash table (the index entry is the caller's), and returned.
    fn take(&mut self, i: u32) -> Option<Slot<K, S>> {
        let slot = self.slots.get_mut(i as usize)?.take()?;
        let hash = self.hasher.hash_one(&slot.key);
        if let Ok(entry) = self.lookup.find_entry(hash, |&j| j == i) {
            entry.remove();
        }
        self.free.push(i);
        self.heap -= slot.state.heap_bytes() + slot.key.key_bytes();
        Some(slot)
    }

    fn insert(&mut self, slot: Slot<K, S>) -> u32 {
        let hash = self.hasher.hash_one(&slot.key);
        self.heap += slot.state.heap_bytes() + slot.key.key_bytes();
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                // Below the cap (checked to fit u32 at construction) plus the one being evicted.
                (self.slots.len() - 1) as u32
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.lookup.insert_unique(hash, i, |&j| slots[j as usize].as_ref().map_or(0, |s| hasher.hash_one(&s.key)));
        i
    }

    /// Applies `f` to the state of `key` (made by `make` if absent) for an event at `ts`. `f`
    /// returns the key's new deadline, or `None` when the key has no state left. Returns false,
    /// without calling anything, when the event breaks the time order.
    pub(crate) fn update(&mut self, key: &K, ts: i64, make: impl FnOnce() -> S, f: impl FnOnce(&mut S) -> Option<i64>) -> bool {
        if ts < self.watermark {
            self.rejected += 1;
            return false;
        }
        if let Some(i) = self.find(key) {
            let Some(slot) = self.slots[i as usize].as_mut() else { return false };
            if ts < slot.last_ts {
                self.rejected += 1;
                return false;
            }
            let before = slot.state.heap_bytes();
            let deadline = f(&mut slot.state);
            self.heap = self.heap - before + slot.state.heap_bytes();
            self.index.remove(&(slot.deadline, slot.seq));
            match deadline {
                Some(d) => {
                    self.seq += 1;
                    slot.deadline = d;
                    slot.seq = self.seq;
                    slot.last_ts = ts;
                    self.index.insert((d, self.seq), i);
                }
                None => {
                    self.take(i);
                }
            }
            return true;
        }
        let mut state = make();
        if let Some(d) = f(&mut state) {
            if self.lookup.len() >= self.cap {
                if let Some((_, victim)) = self.index.pop_first() {
                    self.take(victim);
                    self.evictions += 1;
                }
            }
            self.seq += 1;
            let i = self.insert(Slot { key: key.clone(), state, last_ts: ts, deadline: d, seq: self.seq });
            self.index.insert((d, self.seq), i);
        }
        true
    }

    /// Moves the watermark to `w` and removes every key whose deadline is before it, handing
    /// each to `close` in (deadline, update) order.
    pub(crate) fn expire(&mut self, w: i64, mut close: impl FnMut(K, S)) {
        self.watermark = self.watermark.max(w);
        while let Some(entry) = self.index.first_entry() {
            if entry.key().0 >= self.watermark {
                break;
            }
            let i = entry.remove();
            if let Some(slot) = self.take(i) {
                close(slot.key, slot.state);
            }
        }
    }

    /// Moves the watermark to `w` and hands every key whose deadline is before it to `close`,
    /// in (deadline, update) order, which keeps it with a new deadline (`Some`) or frees it
    /// (`None`). A new deadline still before the watermark comes round again in this call.
    pub(crate) fn expire_renew(&mut self, w: i64, mut close: impl FnMut(&K, &mut S) -> Option<i64>) {
        self.watermark = self.watermark.max(w);
        while let Some(entry) = self.index.first_entry() {
            if entry.key().0 >= self.watermark {
                break;
            }
            let i = entry.remove();
            let Some(slot) = self.slots.get_mut(i as usize).and_then(Option::as_mut) else { continue };
            let before = slot.state.heap_bytes();
            match close(&slot.key, &mut slot.state) {
                Some(d) => {
                    self.heap = self.heap - before + slot.state.heap_bytes();
                    self.seq += 1;
                    slot.deadline = d;
                    slot.seq = self.seq;
                    self.index.insert((d, self.seq), i);
                }
                None => {
                    self.take(i);
                }
            }
        }
    }

    /// [`Table::expire`] for `advance`: each freed key may close into one alert; the alerts
    /// are appended to `out` in (window end, key) order.
    pub(crate) fn expire_into<E>(&mut self, w: i64, out: &mut Vec<Alert<K, E>>, mut close: impl FnMut(K, S) -> Option<Alert<K, E>>) {
        let mut closed = Vec::new();
        self.expire(w, |key, state| closed.extend(close(key, state)));
        sort_closed(&mut closed);
        out.append(&mut closed);
    }

    pub(crate) fn stats(&self) -> Stats {
        let keys = self.lookup.len();
        Stats { keys, state_bytes: keys * Self::bytes_per_key() + self.heap, evictions: self.evictions, rejected: self.rejected }
    }
}

/// Sorts alerts emitted by one `advance` call into their documented order.
pub(crate) fn sort_closed<K: Ord, E>(alerts: &mut [Alert<K, E>]) {
    alerts.sort_by(|a, b| (a.window_end_ms, &a.group).cmp(&(b.window_end_ms, &b.group)));
}

/// Pushes onto a deque that starts with room for one and then doubles (a new deque starts with
/// room for four): most keys of a spray of new addresses hold one event.
pub(crate) fn push_small<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() == q.capacity() {
        q.reserve_exact(q.len().max(1));
    }
    q.push_back(v);
}

/// The most recent `cap` evidence values with their times.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Evidence<E> {
    items: VecDeque<(i64, E)>,
}

impl<E> Default for Evidence<E> {
    fn default() -> Self {
        Evidence { items: VecDeque::new() }
    }
}

impl<E> Evidence<E> {
    pub(crate) fn push(&mut self, ts: i64, e: E, cap: usize) {
        if cap == 0 {
            return;
        }
        if self.items.len() == cap {
            self.items.pop_front();
        }
        push_small(&mut self.items, (ts, e));
    }

    /// Drops the values older than `min_ts`.
    pub(crate) fn prune(&mut self, min_ts: i64) {
        while self.items.front().is_some_and(|(t, _)| *t < min_ts) {
            self.items.pop_front();
        }
    }

    pub(crate) fn take(&mut self) -> Vec<E> {
        self.items.drain(..).map(|(_, e)| e).collect()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.items.capacity() * size_of::<(i64, E)>()
    }
}

/// Milliseconds for a timespan, checked.
pub(crate) fn check_span(span_ms: i64) -> Result<i64, ParamError> {
    if span_ms < 0 {
        Err(ParamError::NegativeSpan(span_ms))
    } else {
        Ok(span_ms)
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::Alert;

    /// Alerts in a canonical order, for comparing alert sets.
    pub fn canonical<K: Ord + Clone, E: Clone>(mut v: Vec<Alert<K, E>>) -> Vec<Alert<K, E>> {
        v.sort_by(|a, b| (&a.group, a.window_end_ms, a.first_event_ts).cmp(&(&b.group, b.window_end_ms, b.first_event_ts)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::canonical;
    use super::*;
    use proptest::prelude::*;

    type Alerts = Vec<Alert<u32, u32>>;

    /// Alerts of `per_key` fed key after key with one final advance, and fed in time order
    /// (ties between keys broken by `salt`) with an advance after every event.
    fn both_orders<C: Correlator<Key = u32, Evidence = u32>>(make: impl Fn() -> C, per_key: &[Vec<(i64, C::Input)>], salt: u64) -> (Alerts, Alerts)
    where
        C::Input: Clone,
    {
        let mut a = make();
        let mut out_a = Vec::new();
        for (k, evs) in per_key.iter().enumerate() {
            for (i, (t, x)) in evs.iter().enumerate() {
                a.observe(&(k as u32), *t, x.clone(), i as u32, &mut out_a);
            }
        }
        a.advance(i64::MAX, &mut out_a);
        let mut all: Vec<(i64, u64, u32, usize)> = per_key
            .iter()
            .enumerate()
            .flat_map(|(k, evs)| evs.iter().enumerate().map(move |(i, (t, _))| (*t, (k as u64 ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15), k as u32, i)))
            .collect();
        all.sort();
        let mut b = make();
        let mut out_b = Vec::new();
        for (t, _, k, i) in all {
            b.observe(&k, t, per_key[k as usize][i].1.clone(), i as u32, &mut out_b);
            b.advance(t, &mut out_b);
        }
        b.advance(i64::MAX, &mut out_b);
        (canonical(out_a), canonical(out_b))
    }

    fn keyed<T: std::fmt::Debug>(x: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<Vec<(i64, T)>>> {
        prop::collection::vec(
            prop::collection::vec((0i64..80, x), 0..20).prop_map(|mut v| {
                v.sort_by_key(|e| e.0);
                v
            }),
            1..5,
        )
    }

    proptest! {
        #[test]
        fn temporal_and_ordered_do_not_depend_on_key_interleaving(per_key in keyed(0u64..8), span in 0i64..30, salt: u64, lt in any::<bool>()) {
            let cond = if lt { Some(Condition::lt(3.0)) } else { None };
            let (a, b) = both_orders(|| temporal::Temporal::new(span, 3, cond, 64, 4).unwrap(), &per_key, salt);
            prop_assert_eq!(a, b);
            let (a, b) = both_orders(|| ordered::TemporalOrdered::new(span, 3, 64, 4).unwrap(), &per_key, salt);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn aggregates_do_not_depend_on_key_interleaving(per_key in keyed(-100i32..100), span in 0i64..30, salt: u64, which in 0usize..3) {
            let per_key: Vec<Vec<(i64, f64)>> = per_key.into_iter().map(|v| v.into_iter().map(|(t, x)| (t, x as f64)).collect()).collect();
            let agg = [aggregate::Aggregate::Sum, aggregate::Aggregate::Avg, aggregate::Aggregate::Percentile(75.0)][which];
            let (a, b) = both_orders(|| aggregate::ValueAggregate::new(span, agg, Condition::gt(0.0), 64, 64, 4).unwrap(), &per_key, salt);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn absence_does_not_depend_on_key_interleaving(per_key in keyed(1u64..4), span in 1i64..30, salt: u64) {
            // Masks 1 (A), 2 (B) and 3 (both), as the pipeline sends them.
            let (a, b) = both_orders(|| absence::Absence::new(span, 64, 4).unwrap(), &per_key, salt);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn persistence_does_not_depend_on_key_interleaving(per_key in keyed(0u8..6), span in 1i64..20, windows in 1u32..4, salt: u64, zero in any::<bool>()) {
            let per_key: Vec<Vec<(i64, persistence::Input)>> =
                per_key.into_iter().map(|v| v.into_iter().map(|(t, x)| (t, persistence::Input::Value(Box::new([x])))).collect()).collect();
            // gte 0 holds for empty windows too; gte 2 does not.
            let cond = if zero { Condition::gte(0.0) } else { Condition::gte(2.0) };
            let (a, b) = both_orders(|| persistence::Persistence::new(span, windows, persistence::Measure::Distinct, cond, 64, 16, 2).unwrap(), &per_key, salt);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn distinct_does_not_depend_on_key_interleaving(per_key in keyed(0u8..6), span in 0i64..30, salt: u64, eq in any::<bool>()) {
            let cond = if eq { Condition::eq(2.0) } else { Condition::gte(3.0) };
            let (a, b) = both_orders(|| distinct::ValueCount::<u32, u8, u32>::new(span, cond, 64, 16, 2).unwrap(), &per_key, salt);
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn condition_operators_and_ranges() {
        assert!(Condition::gt(3.0).matches(4.0) && !Condition::gt(3.0).matches(3.0));
        assert!(Condition::gte(3.0).matches(3.0) && !Condition::gte(3.0).matches(2.0));
        assert!(Condition::lt(3.0).matches(2.0) && !Condition::lt(3.0).matches(3.0));
        assert!(Condition::lte(3.0).matches(3.0) && !Condition::lte(3.0).matches(4.0));
        assert!(Condition::eq(3.0).matches(3.0) && !Condition::eq(3.0).matches(4.0));
        assert!(Condition::neq(3.0).matches(4.0) && !Condition::neq(3.0).matches(3.0));
        let range = Condition { gt: Some(100.0), lte: Some(200.0), ..Default::default() };
        assert!(!range.matches(100.0) && range.matches(101.0) && range.matches(200.0) && !range.matches(201.0));
        assert!(Condition::gte(1.0).lower_bounds_only());
        assert!(!range.lower_bounds_only() && !Condition::neq(1.0).lower_bounds_only());
        assert_eq!(range.max_operand(), 200.0);
        assert_eq!(Condition::default().validate(), Err(ParamError::EmptyCondition));
        assert!(Condition::gt(f64::NAN).validate().is_err());
        assert!(range.validate().is_ok());
    }

    #[test]
    fn fixed_bytes_per_key() {
        // A 16-byte key (an IP address) and 8-byte evidence (an event offset).
        let sizes = [
            threshold::EventCount::<u128, u64>::bytes_per_key(),
            distinct::ValueCount::<u128, u64, u64>::bytes_per_key(),
            temporal::Temporal::<u128, u64>::bytes_per_key(),
            ordered::TemporalOrdered::<u128, u64>::bytes_per_key(),
            aggregate::ValueAggregate::<u128, u64>::bytes_per_key(),
        ];
        eprintln!("fixed bytes per key (u128 key, u64 evidence): {sizes:?}");
        assert!(sizes.iter().all(|&b| b <= 256), "{sizes:?}");
    }

    struct Held(Vec<u8>);
    impl HeapBytes for Held {
        fn heap_bytes(&self) -> usize {
            self.0.capacity()
        }
    }

    #[test]
    fn table_reuses_freed_slots_and_gives_back_every_byte() {
        let mut t: Table<Box<[u8]>, Held> = Table::new(100).unwrap();
        let key = |i: u32| -> Box<[u8]> { i.to_le_bytes().into() };
        for round in 0..5i64 {
            for i in 0..100u32 {
                let ts = round * 1_000 + i as i64;
                assert!(t.update(&key(i + round as u32 * 100), ts, || Held(vec![0; 10]), |_| Some(ts + 10)));
            }
            assert_eq!(t.stats().keys, 100);
            let mut freed = Vec::new();
            t.expire((round + 1) * 1_000, |k, _| freed.push(k));
            assert_eq!(freed.len(), 100, "every key expires, in deadline order");
            assert!(freed.windows(2).all(|w| u32::from_le_bytes(w[0][..].try_into().unwrap()) < u32::from_le_bytes(w[1][..].try_into().unwrap())));
            assert_eq!((t.stats().keys, t.heap), (0, 0), "round {round}");
        }
        assert!(t.slots.len() <= 100, "freed slots are reused: {}", t.slots.len());
        // The cap evicts the key whose deadline comes first, and the others stay found.
        for i in 0..101u32 {
            t.update(&key(i), 10_000 + i as i64, || Held(Vec::new()), |_| Some(20_000 + i as i64));
        }
        assert_eq!((t.stats().keys, t.stats().evictions), (100, 1));
        let mut seen = 0;
        for i in 1..101u32 {
            assert!(t.update(&key(i), 10_500, || unreachable!("key {i} is live"), |_| Some(30_000)));
            seen += 1;
        }
        assert_eq!(seen, 100);
    }

    #[test]
    fn evidence_keeps_most_recent() {
        let mut ev = Evidence::default();
        for i in 0..5 {
            ev.push(i, i, 3);
        }
        ev.prune(3);
        assert_eq!(ev.take(), vec![3, 4]);
    }
}
