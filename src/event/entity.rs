//! Entity keys and the fixed-seed hash that routes events to the worker owning their entity.
//!
//! timely routes a record to worker `hash % peers`, so the low bits must be well mixed; xxh3 with
//! a fixed seed is, and it gives the same value in every process and on every run (never
//! `RandomState`).

use std::net::IpAddr;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{Event, FieldId, ValueRef};
use crate::event::field::known;

/// Seed of every routing hash in vigil; changing it moves every entity to another worker.
pub const ROUTING_SEED: u64 = 0x7669_6769_6c00_0001;

/// Hashes bytes for routing.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    xxh3_64_with_seed(bytes, ROUTING_SEED)
}

/// Hashes an IP address in a form independent of how it was written.
pub fn hash_ip(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => hash_bytes(&v4.octets()),
        IpAddr::V6(v6) => hash_bytes(&v6.octets()),
    }
}

/// The default entity key fields: the first present names the entity an event belongs to.
pub const DEFAULT_ENTITY_FIELDS: [FieldId; 3] = [known::SOURCE_IP, known::USER_NAME, known::HOST_HOSTNAME];

/// Which fields name an event's entity, in order of preference.
#[derive(Clone, Debug)]
pub struct EntityKey {
    fields: Vec<FieldId>,
}

impl Default for EntityKey {
    fn default() -> Self {
        EntityKey { fields: DEFAULT_ENTITY_FIELDS.to_vec() }
    }
}

impl EntityKey {
    /// An entity key over the given fields (first present wins).
    pub fn new(fields: Vec<FieldId>) -> Self {
        EntityKey { fields }
    }

    /// Parses a comma-separated list of field names (`source.ip,user.name`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut fields = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            fields.push(super::field::intern(name).ok_or_else(|| format!("too many distinct field names to add {name:?}"))?);
        }
        if fields.is_empty() {
            return Err("the entity key needs at least one field name".into());
        }
        Ok(EntityKey { fields })
    }

    /// The fields, in order of preference.
    pub fn fields(&self) -> &[FieldId] {
        &self.fields
    }

    /// Routing hash of the event's entity. Events with none of the fields are spread by their
    /// origin, which is still deterministic.
    pub fn hash(&self, ev: &Event) -> u64 {
        for &id in &self.fields {
            if let Some(v) = ev.get(id) {
                if let Some(h) = hash_value(id, v) {
                    return h;
                }
            }
        }
        let o = ev.origin;
        let mut buf = [0u8; 16];
        buf[..4].copy_from_slice(&o.partition.to_le_bytes());
        buf[4..12].copy_from_slice(&o.record.to_le_bytes());
        buf[12..].copy_from_slice(&o.sub.to_le_bytes());
        hash_bytes(&buf)
    }
}

/// Hash of one field value, mixed with the field id so `user.name=x` and `host.hostname=x` differ.
pub fn hash_value(id: FieldId, v: ValueRef<'_>) -> Option<u64> {
    let h = match v {
        ValueRef::Ip(ip) => hash_ip(ip),
        ValueRef::Str(s) if !s.is_empty() && s != "-" => hash_bytes(s.as_bytes()),
        ValueRef::Int(i) => hash_bytes(&i.to_le_bytes()),
        _ => return None,
    };
    Some(h ^ (id.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    #[test]
    fn first_present_field_wins_and_low_bits_spread() {
        let key = EntityKey::default();
        let mut a = Event::default();
        a.push_str(known::USER_NAME, "root");
        let mut b = a.clone();
        b.push(known::SOURCE_IP, Value::Ip("10.0.0.1".parse().unwrap()));
        assert_ne!(key.hash(&a), key.hash(&b));
        let mut c = Event::default();
        c.push(known::SOURCE_IP, Value::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!(key.hash(&b), key.hash(&c));

        let mut buckets = [0usize; 4];
        for i in 0..4000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            buckets[(hash_ip(ip) % 4) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n > 850), "{buckets:?}");
    }
}
