//! Projection: what a matching event, or an alert that feeds a deeper correlation, becomes on
//! its way to the worker that owns its group. A projection carries only what its correlation
//! needs (the group key's canonical bytes, the time, the measured value, the evidence) and is
//! routed by a fixed-seed hash of (correlation, group key), so the same group meets on the same
//! worker in every run.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;

use serde::{Deserialize, Serialize};

use super::plan::{Plan, PlannedBaseline};
use super::stats::EngineStats;
use crate::baseline::FixedState;
use crate::event::entity::hash_bytes;
use crate::event::field::{self, FieldId};
use crate::event::{canonical_ip, Event, Origin, Timed, ValueRef};
use crate::incident::{EvidenceEvent, GroupValue, Incident};
use crate::rules::baseline::{BaselineKind, Network};
use crate::rules::correlation::CorrelationKind;

/// A group key: the canonical bytes of its values, which order, hash and route it. The values
/// themselves are decoded only where an alert names them: a key is built for every projection
/// and most never alert, and keeping the values beside the bytes cost an allocation and 24
/// bytes per waiting projection (and sent everything twice across workers).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupKey {
    bytes: Box<[u8]>,
}

impl crate::correlate::KeyBytes for GroupKey {
    fn key_bytes(&self) -> usize {
        self.bytes.len()
    }
}

impl GroupKey {
    /// The key of `values`, in group-by order.
    pub(crate) fn new(values: &[GroupValue]) -> Self {
        let mut buf = Vec::with_capacity(32);
        for v in values {
            v.encode(&mut buf);
        }
        GroupKey { bytes: buf.into_boxed_slice() }
    }

    /// The key whose canonical bytes `encode_group` wrote (one allocation, the key's own).
    pub(crate) fn from_encoded(bytes: &[u8]) -> Self {
        GroupKey { bytes: bytes.into() }
    }

    /// The key back from its canonical bytes (`None` when they do not decode).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        GroupValue::decode_all(bytes).map(|_| GroupKey { bytes: bytes.into() })
    }

    /// The canonical bytes (ordering, hashing, routing): [`GroupValue`]'s canonical encoding of
    /// each value, back to back, so keys are equal exactly when their values are.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The values, in group-by order (decoded from the bytes this key made itself).
    pub fn values(&self) -> Vec<GroupValue> {
        GroupValue::decode_all(&self.bytes).unwrap_or_default()
    }
}

/// Writes the group key of `ev` for `fields` into `buf` (cleared first); false when the event
/// lacks one of the fields or has it null or empty.
pub(crate) fn encode_group(ev: &Event, fields: &[Option<FieldId>], buf: &mut Vec<u8>) -> bool {
    buf.clear();
    for f in fields {
        match f.and_then(|f| ev.get(f)) {
            None | Some(ValueRef::Null) | Some(ValueRef::Str("")) => return false,
            Some(v) => GroupValue::encode_ref(ev, v, buf),
        }
    }
    true
}

impl PartialEq for GroupKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for GroupKey {}
impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}
impl Hash for GroupKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

/// The value a correlation looks at in one event.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Measured {
    /// Nothing (`event_count`).
    Nothing,
    /// The bits of the referenced rules the event matched (`temporal`, `temporal_ordered`, absence).
    Rules(u64),
    /// A value to count distinct (`value_count`): its canonical bytes.
    Value(Box<[u8]>),
    /// A number (`value_sum`, `value_avg`, `value_percentile`).
    Number(f64),
    /// A baseline's input (`x-vigil-baseline`): the amount or the value's hash, and the value's
    /// display form where the incident may name it.
    Baseline {
        /// Amount (rate) or hash of the reduced value.
        value: u64,
        /// Display form (new value, profile).
        shown: Option<GroupValue>,
    },
}

/// What crosses workers for a correlation: one matching event, projected.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Projection {
    /// Planned correlation index.
    pub correlation: u32,
    /// The group key.
    pub key: GroupKey,
    /// Event time.
    pub ts: i64,
    /// Event origin (ordering tie-break).
    pub origin: Origin,
    /// What the correlation counts.
    pub measured: Measured,
    /// The event, as evidence.
    pub evidence: EvidenceEvent,
    /// The earliest event time this projection depends on: its own time for an event, the born
    /// time of the alert's chain for a chained correlation (see [`super::chain`]).
    pub born: i64,
}

impl Timed for Projection {
    fn ts(&self) -> i64 {
        self.ts
    }
    fn order_key(&self) -> (i64, Origin) {
        (self.ts, self.origin)
    }
}

/// The routing hash of a projection: its correlation and group key, fixed-seed.
pub fn route(p: &Projection) -> u64 {
    route_key(p.correlation, &p.key)
}

/// The routing hash of a correlation's group key (see [`route`]).
pub fn route_key(correlation: u32, key: &GroupKey) -> u64 {
    route_hash(correlation, hash_bytes(key.bytes()))
}

/// [`route_key`] from the key's hash (a baseline's entity), for dividing a checkpoint by key.
pub fn route_hash(correlation: u32, key_hash: u64) -> u64 {
    // No buffer: the key's own hash, mixed with the correlation (timely routes by the low bits).
    crate::baseline::mix64(key_hash.wrapping_add(u64::from(correlation)))
}

/// What a stage hands on from one activation: incidents to write and projections for the next
/// stage, each kind in its own vector (and so its own output stream).
#[derive(Debug, Default)]
pub struct Emitted {
    /// Incidents to write.
    pub incidents: Vec<Incident>,
    /// Projections for the correlations of the next stage.
    pub forward: Vec<Projection>,
}

pub(crate) fn number(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Int(i) => Some(i as f64),
        ValueRef::Float(f) if f.is_finite() => Some(f),
        ValueRef::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// Passes an alert of planned correlation `c` (its group, window and one evidence event) to the
/// correlations it feeds, as projections for the next stage.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_alert(
    plan: &Plan,
    c: usize,
    group: &GroupKey,
    start: i64,
    end: i64,
    born: i64,
    evidence: EvidenceEvent,
    out: &mut Vec<Projection>,
    stats: &EngineStats,
) {
    let planned = &plan.correlations[c];
    let group_values = if planned.feeds.is_empty() { Vec::new() } else { group.values() };
    for &(target, pos) in &planned.feeds {
        let deeper = &plan.correlations[target as usize];
        // The deeper correlation's group key for this position, read from this alert's group.
        let values: Option<Vec<GroupValue>> = deeper.group_fields[pos as usize]
            .iter()
            .map(|f| {
                let name = field::name((*f)?);
                planned.group_names.iter().position(|g| g == name).and_then(|i| group_values.get(i).cloned())
            })
            .collect();
        let Some(values) = values else {
            stats.missing_group.fetch_add(1, Relaxed);
            continue;
        };
        let measured = match deeper.kind {
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered | CorrelationKind::Absence => Measured::Rules(1u64 << pos),
            _ => Measured::Nothing,
        };
        // A stable tie-break for alerts at the same time: the correlation and window start.
        let origin = Origin { partition: u32::MAX, record: start as u64, sub: c as u32 };
        out.push(Projection { correlation: target, key: GroupKey::new(&values), ts: end, origin, measured, evidence: evidence.clone(), born });
    }
}

/// What one event of a baseline rule contributes: the amount (rate) or the value's hash, and
/// for new-value and profile rules its display form. `None` when the event lacks a usable value
/// (it is then not counted, as a missing group-by field is not).
pub fn measure(pb: &PlannedBaseline, ev: &Event) -> Option<Measured> {
    if let BaselineKind::Rate(_) = pb.spec.kind {
        let value = match pb.field {
            None => 1,
            Some(f) => amount(ev.get(f)?)?,
        };
        return Some(Measured::Baseline { value, shown: None });
    }
    let reduced = reduce(ev.get(pb.field?)?, pb.spec.network, pb.spec.bucket)?;
    let value = reduced.hash();
    let shown = pb.shows_values().then(|| reduced.owned());
    Some(Measured::Baseline { value, shown })
}

/// A non-negative amount as an integer (the library's sums must be exact); fractions round.
fn amount(v: ValueRef<'_>) -> Option<u64> {
    let x = match v {
        ValueRef::Int(i) => return u64::try_from(i).ok(),
        ValueRef::Float(f) => f,
        ValueRef::Str(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (x.is_finite() && x >= 0.0).then(|| x.round().min(u64::MAX as f64) as u64)
}

/// A value after `network` and `bucket`, borrowed where it can be.
enum Reduced<'a> {
    Ip(IpAddr),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'a str),
}

impl Reduced<'_> {
    /// A fixed-seed hash: equal values (an address written as text or as an address) hash alike.
    fn hash(&self) -> u64 {
        let mut h = FixedState.build_hasher();
        match self {
            Reduced::Ip(IpAddr::V4(v4)) => {
                h.write_u8(4);
                h.write(&v4.octets());
            }
            Reduced::Ip(IpAddr::V6(v6)) => {
                h.write_u8(6);
                h.write(&v6.octets());
            }
            Reduced::Int(i) => {
                h.write_u8(2);
                h.write_u64(*i as u64);
            }
            Reduced::Float(f) => {
                h.write_u8(3);
                h.write_u64(if *f == 0.0 { 0 } else { f.to_bits() });
            }
            Reduced::Bool(b) => {
                h.write_u8(1);
                h.write_u64(*b as u64);
            }
            Reduced::Str(s) => {
                h.write_u8(5);
                h.write(s.as_bytes());
            }
        }
        h.finish()
    }

    fn owned(&self) -> GroupValue {
        match self {
            Reduced::Ip(ip) => GroupValue::Ip(*ip),
            Reduced::Int(i) => GroupValue::Int(*i),
            Reduced::Float(f) => GroupValue::Float(*f),
            Reduced::Bool(b) => GroupValue::Bool(*b),
            Reduced::Str(s) => GroupValue::Str((*s).to_owned()),
        }
    }
}

pub(crate) fn mask(ip: IpAddr, network: Network) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = if network.v4 == 0 { 0 } else { u32::MAX << (32 - u32::from(network.v4.min(32))) };
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = if network.v6 == 0 { 0 } else { u128::MAX << (128 - u32::from(network.v6.min(128))) };
            IpAddr::V6((bits & keep).into())
        }
    }
}

fn reduce(v: ValueRef<'_>, network: Option<Network>, bucket: Option<u64>) -> Option<Reduced<'_>> {
    let floor = |i: i64, b: u64| -> i64 {
        let b = i64::try_from(b).unwrap_or(i64::MAX);
        i.div_euclid(b).saturating_mul(b)
    };
    let r = match v {
        ValueRef::Null | ValueRef::List(_) => return None,
        ValueRef::Str(s) if s.is_empty() || s == "-" => return None,
        ValueRef::Ip(ip) => Reduced::Ip(canonical_ip(ip)),
        ValueRef::Int(i) => Reduced::Int(i),
        ValueRef::Float(f) if !f.is_finite() => return None,
        ValueRef::Float(f) => match bucket {
            Some(_) => Reduced::Int(f.floor() as i64),
            None => Reduced::Float(f),
        },
        ValueRef::Bool(b) => Reduced::Bool(b),
        ValueRef::Str(s) | ValueRef::Raw(s) => {
            // Parsers keep some addresses and numbers as text: compare them by what they are.
            if let Ok(ip) = s.parse::<IpAddr>() {
                Reduced::Ip(canonical_ip(ip))
            } else if let (Some(_), Ok(i)) = (bucket, s.trim().parse::<i64>()) {
                Reduced::Int(i)
            } else {
                Reduced::Str(s)
            }
        }
    };
    Some(match (r, network, bucket) {
        (Reduced::Ip(ip), Some(n), _) => Reduced::Ip(mask(ip, n)),
        (Reduced::Int(i), _, Some(b)) => Reduced::Int(floor(i, b)),
        (r, _, _) => r,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce_hash(v: ValueRef<'_>, network: Option<Network>, bucket: Option<u64>) -> u64 {
        reduce(v, network, bucket).unwrap().hash()
    }

    #[test]
    fn values_reduce_and_hash_alike_whatever_their_form() {
        let n24 = Some(Network { v4: 24, v6: 64 });
        let a = reduce_hash(ValueRef::Ip("10.1.2.3".parse().unwrap()), n24, None);
        assert_eq!(a, reduce_hash(ValueRef::Str("10.1.2.200"), n24, None));
        assert_eq!(a, reduce_hash(ValueRef::Ip("::ffff:10.1.2.9".parse().unwrap()), n24, None));
        assert_ne!(a, reduce_hash(ValueRef::Str("10.1.3.1"), n24, None));
        assert_ne!(reduce_hash(ValueRef::Str("10.1.2.3"), None, None), reduce_hash(ValueRef::Str("10.1.2.4"), None, None));
        let v6 = reduce_hash(ValueRef::Str("2001:db8:1:2::1"), n24, None);
        assert_eq!(v6, reduce_hash(ValueRef::Str("2001:db8:1:2:ffff::"), n24, None));
        // Buckets: 404 and 418 are one class, 500 another; text digits count as numbers.
        let b = Some(100);
        assert_eq!(reduce_hash(ValueRef::Int(404), None, b), reduce_hash(ValueRef::Str("418"), None, b));
        assert_ne!(reduce_hash(ValueRef::Int(404), None, b), reduce_hash(ValueRef::Int(500), None, b));
        assert!(reduce(ValueRef::Str("-"), None, None).is_none() && reduce(ValueRef::Null, None, None).is_none());
    }

    #[test]
    fn amounts_are_non_negative_integers() {
        assert_eq!(amount(ValueRef::Int(1500)), Some(1500));
        assert_eq!(amount(ValueRef::Int(-1)), None);
        assert_eq!(amount(ValueRef::Float(2.6)), Some(3));
        assert_eq!(amount(ValueRef::Str(" 42 ")), Some(42));
        assert_eq!(amount(ValueRef::Str("-")), None);
        assert_eq!(amount(ValueRef::Float(f64::NAN)), None);
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = GroupValue> {
        prop_oneof![
            Just(GroupValue::Null),
            any::<bool>().prop_map(GroupValue::Bool),
            any::<i64>().prop_map(GroupValue::Int),
            prop_oneof![any::<f64>(), Just(0.0), Just(-0.0), Just(f64::NAN)].prop_map(GroupValue::Float),
            ".{0,12}".prop_map(GroupValue::Str),
            any::<[u8; 4]>().prop_map(|o| GroupValue::Ip(IpAddr::from(o))),
            any::<[u8; 16]>().prop_map(|o| GroupValue::Ip(IpAddr::from(o))),
        ]
    }

    /// Equal as values, with the canonical rules for floats (`-0.0` is `0.0`, NaNs are one).
    fn same(a: &GroupValue, b: &GroupValue) -> bool {
        match (a, b) {
            (GroupValue::Float(x), GroupValue::Float(y)) => (x.is_nan() && y.is_nan()) || x == y,
            (GroupValue::Ip(x), GroupValue::Ip(y)) => canonical_ip(*x) == canonical_ip(*y),
            _ => a == b,
        }
    }

    proptest! {
        #[test]
        fn keys_are_equal_exactly_when_their_values_are(a in prop::collection::vec(value(), 1..4), b in prop::collection::vec(value(), 1..4)) {
            let equal = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| same(x, y));
            prop_assert_eq!(GroupKey::new(&a) == GroupKey::new(&b), equal);
            // The bytes decode back to the values.
            let back = GroupKey::new(&a).values();
            prop_assert!(back.len() == a.len() && back.iter().zip(&a).all(|(x, y)| same(x, y)));
            prop_assert!(GroupKey::from_bytes(GroupKey::new(&a).bytes()).is_some());
        }

        #[test]
        fn keys_from_events_equal_keys_from_values(user in "[a-z]{0,8}", ip in any::<[u8; 4]>(), port in any::<i64>()) {
            let mut ev = Event::at(0);
            let (u, s, p) = (field::intern("user.name").unwrap(), field::intern("source.ip").unwrap(), field::intern("source.port").unwrap());
            ev.push_str(u, &user);
            ev.push(s, crate::event::Value::Ip(IpAddr::from(ip)));
            ev.push(p, crate::event::Value::Int(port));
            let mut buf = Vec::new();
            let found = encode_group(&ev, &[Some(u), Some(s), Some(p)], &mut buf);
            // An empty text value is no group (the event is counted as missing a field).
            prop_assert_eq!(found, !user.is_empty());
            if found {
                let values = [GroupValue::Str(user.clone()), GroupValue::Ip(IpAddr::from(ip)), GroupValue::Int(port)];
                prop_assert_eq!(GroupKey::from_encoded(&buf), GroupKey::new(&values));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = GroupValue::decode_all(&bytes);
        }
    }
}
