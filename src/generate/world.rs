//! The entity model: users and their workstations, servers by role, internet clients, scanners
//! and destinations. Every name and address is a pure function of an entity index, and picks
//! are Zipf-skewed with integer arithmetic only.

use rand::{Rng, SeedableRng};

use super::tables::PUBLIC_FIRST_OCTETS;
use super::write::put_padded;
use super::SmallRng;

/// The entity populations; every name and address is a pure function of an index.
pub(super) struct World {
    /// Users, each with a workstation `WS-nnnnn` at an address in 10.1.0.0 and up.
    pub(super) users: u64,
    /// Servers per role (fewer for some, see [`World::role_count`]); server `j` has role
    /// `ROLES[j % ROLES.len()]`, number `j / ROLES.len() + 1` and address 10.0.x.y.
    per_role: u64,
    /// Internet clients of the web site, internet scanners, VPN users' home addresses.
    clients: u64,
    /// Internet destinations of outbound traffic.
    dests: u64,
}

#[derive(Clone, Copy)]
pub(super) enum Role {
    Dc = 0,
    Web = 1,
    File = 4,
    Bastion = 7,
    Vpn = 10,
}

/// Roles (indexes into [`ROLES`]) of the servers that run Windows and log Security events.
pub(super) const WINDOWS_ROLES: &[u64] = &[0, 2, 3, 4, 5];
/// Roles of the servers that run Linux and log to syslog.
pub(super) const LINUX_ROLES: &[u64] = &[1, 6, 7, 8, 9, 10, 11];

pub(super) const ROLES: [&[u8]; 12] = [b"dc", b"web", b"app", b"db", b"file", b"mail", b"build", b"bastion", b"cache", b"log", b"vpn", b"k8s"];

#[derive(Clone, Copy)]
pub(super) enum Host {
    Ws(u64),
    Server(u64),
}

impl World {
    pub(super) fn new(entities: u64) -> Self {
        World { users: entities, per_role: (entities / 600).clamp(2, 200), clients: entities, dests: (entities / 5).clamp(50, 100_000) }
    }

    pub(super) fn user(&self, rng: &mut SmallRng) -> u64 {
        scatter(skewed(rng, self.users), self.users)
    }

    pub(super) fn client(&self, rng: &mut SmallRng) -> u64 {
        scatter(skewed(rng, self.clients), self.clients)
    }

    fn servers(&self) -> u64 {
        self.per_role * ROLES.len() as u64
    }

    /// How many servers a role has: a site runs a few domain controllers, bastions and VPN
    /// gateways, however large it is.
    pub(super) fn role_count(&self, role: u64) -> u64 {
        match role {
            0 => self.per_role.min(3),
            7 | 10 => self.per_role.min(2),
            _ => self.per_role,
        }
    }

    pub(super) fn server(&self, rng: &mut SmallRng) -> u64 {
        let j = scatter(skewed(rng, self.servers()), self.servers());
        let role = j % ROLES.len() as u64;
        role + ROLES.len() as u64 * (j / ROLES.len() as u64 % self.role_count(role))
    }

    /// A server with one of `roles`: popular servers stay popular, whatever their role.
    pub(super) fn server_in(&self, rng: &mut SmallRng, roles: &[u64]) -> u64 {
        let j = scatter(skewed(rng, self.servers()), self.servers());
        let mut role = j % ROLES.len() as u64;
        if !roles.contains(&role) {
            role = roles[(role % roles.len() as u64) as usize];
        }
        role + ROLES.len() as u64 * (j / ROLES.len() as u64 % self.role_count(role))
    }

    /// The `k`th of the Windows servers `user` works with, a pure function of both.
    pub(super) fn user_server(&self, user: u64, k: u64) -> u64 {
        self.server_in(&mut SmallRng::seed_from_u64(splitmix(user * 3 + k)), WINDOWS_ROLES)
    }

    pub(super) fn server_of(&self, rng: &mut SmallRng, role: Role) -> u64 {
        let role = role as u64;
        role + ROLES.len() as u64 * skewed(rng, self.role_count(role))
    }

    pub(super) fn ws_ip(&self, user: u64) -> [u8; 4] {
        [10, (1 + user / 64_000 % 254) as u8, (user / 250 % 256) as u8, (1 + user % 250) as u8]
    }

    pub(super) fn server_ip(&self, server: u64) -> [u8; 4] {
        [10, 0, (server / 250 % 256) as u8, (1 + server % 250) as u8]
    }

    pub(super) fn client_ip(&self, client: u64) -> [u8; 4] {
        public_ip(client)
    }

    /// Scanners are a separate, flatter population: internet noise comes from everywhere.
    pub(super) fn scanner_ip(&self, rng: &mut SmallRng) -> [u8; 4] {
        public_ip((1 << 40) + rng.gen_range(0..self.clients * 4))
    }

    pub(super) fn dest_ip(&self, rng: &mut SmallRng) -> [u8; 4] {
        public_ip((1 << 48) + scatter(skewed(rng, self.dests), self.dests))
    }

    pub(super) fn put_server(&self, out: &mut Vec<u8>, server: u64) {
        out.extend_from_slice(ROLES[(server % ROLES.len() as u64) as usize]);
        out.push(b'-');
        put_padded(out, server / ROLES.len() as u64 + 1, 2);
    }

    pub(super) fn put_server_upper(&self, out: &mut Vec<u8>, server: u64) {
        let from = out.len();
        self.put_server(out, server);
        out[from..].make_ascii_uppercase();
    }

    pub(super) fn put_host(&self, out: &mut Vec<u8>, host: Host) {
        match host {
            Host::Ws(user) => {
                out.extend_from_slice(b"WS-");
                put_padded(out, user + 1, 5);
            }
            Host::Server(server) => self.put_server(out, server),
        }
    }

    pub(super) fn put_host_upper(&self, out: &mut Vec<u8>, host: Host) {
        let from = out.len();
        self.put_host(out, host);
        out[from..].make_ascii_uppercase();
    }
}

/// A rank in `[0, n)` with P(k) roughly proportional to 1/(k+1) (Zipf, s = 1): a uniformly
/// chosen power-of-two bucket, then uniform within it. Integer-only, so it is the same everywhere.
pub(super) fn skewed(rng: &mut SmallRng, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let buckets = 64 - n.leading_zeros();
    let lo = 1u64 << rng.gen_range(0..buckets);
    let hi = (lo << 1).min(n + 1);
    rng.gen_range(lo..hi) - 1
}

/// Maps a popularity rank to an entity index, so the busiest entities are not indexes 0, 1, 2.
pub(super) fn scatter(rank: u64, n: u64) -> u64 {
    ((rank as u128 * 2_654_435_761 + 7) % n.max(1) as u128) as u64
}

pub(super) fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A routable-looking IPv4 address for an index, in /8s that real internet traffic comes from.
pub(super) fn public_ip(index: u64) -> [u8; 4] {
    let h = splitmix(index ^ 0x5eed_e47e_7e1a_1b0b);
    [PUBLIC_FIRST_OCTETS[(h % PUBLIC_FIRST_OCTETS.len() as u64) as usize], (h >> 8) as u8, (h >> 16) as u8, (1 + (h >> 24) % 254) as u8]
}

pub(super) fn is_local(ip: [u8; 4]) -> bool {
    ip[0] == 10
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::tests::{cfg, generate, lines};
    use crate::generate::GenFormat;
    use crate::generate::GeneratorConfig;
    use std::collections::{BTreeMap, HashSet};

    #[test]
    fn roles_are_consistent() {
        assert!(WINDOWS_ROLES.iter().chain(LINUX_ROLES).all(|&r| (r as usize) < ROLES.len()));
        assert_eq!(WINDOWS_ROLES.len() + LINUX_ROLES.len(), ROLES.len());
    }

    #[test]
    fn skew_is_in_range_and_heavy_headed() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[skewed(&mut rng, 1000) as usize] += 1;
        }
        assert!(counts[0] > counts[10] && counts[10] > counts[500]);
        assert!(counts.iter().filter(|&&c| c > 0).count() > 900);
        assert_eq!(skewed(&mut rng, 1), 0);
        assert_eq!(skewed(&mut rng, 0), 0);
    }

    #[test]
    fn many_distinct_entities_with_skew() {
        let bytes = generate(&cfg(GenFormat::Apache, 50_000, 2));
        let mut per_client: BTreeMap<&[u8], u64> = BTreeMap::new();
        for line in lines(&bytes) {
            *per_client.entry(line.split(|&b| b == b' ').next().unwrap()).or_default() += 1;
        }
        let busiest = per_client.values().max().copied().unwrap();
        assert!(per_client.len() > 3_000, "only {} clients", per_client.len());
        assert!(busiest > 1_000, "no heavy hitter: busiest client has {busiest} requests");

        let bytes = generate(&cfg(GenFormat::Windows, 50_000, 2));
        let mut users = HashSet::new();
        let mut hosts = HashSet::new();
        for line in lines(&bytes) {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            for key in ["TargetUserName", "SubjectUserName"] {
                if let Some(u) = v[key].as_str() {
                    users.insert(u.to_string());
                }
            }
            hosts.insert(v["Hostname"].as_str().unwrap().to_string());
        }
        assert!(users.len() > 2_000, "only {} users", users.len());
        assert!(hosts.len() > 2_000, "only {} hosts", hosts.len());

        let bytes = generate(&cfg(GenFormat::Syslog, 20_000, 2));
        let hosts: HashSet<&[u8]> = lines(&bytes).map(|l| l[16..].split(|&b| b == b' ').next().unwrap()).collect();
        assert!(hosts.len() >= 20, "only {} syslog hosts", hosts.len());
    }

    #[test]
    fn entity_population_follows_config() {
        let few = GeneratorConfig { entities: 10, ..cfg(GenFormat::Windows, 5_000, 2) };
        let bytes = generate(&few);
        let mut users = HashSet::new();
        for line in lines(&bytes) {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            if let Some(u) = v["TargetUserName"].as_str().filter(|u| u.contains('.')) {
                users.insert(u.split('@').next().unwrap().to_string());
            }
        }
        assert!(users.len() <= 10, "{users:?}");
    }
}
