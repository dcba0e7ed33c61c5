//! Zeek conn.log records, as JSON lines or as TSV with Zeek's header and `#close` line: staff
//! traffic to the internet and to internal services, web clients, and internet scanning.

use rand::{Rng, RngCore};

use super::clock::put_zeek_stamp;
use super::tables::{BASE62, TCP_HISTORIES};
use super::world::{is_local, skewed, Role};
use super::write::{pick, put_ipv4, put_micros, put_u64};
use super::Generator;

/// One connection, written by [`Generator::conn_json`] or [`Generator::conn_tsv`].
pub(super) struct Conn {
    pub(super) uid: [u8; 18],
    pub(super) orig: [u8; 4],
    pub(super) orig_p: u64,
    pub(super) resp: [u8; 4],
    pub(super) resp_p: u64,
    pub(super) proto: &'static [u8],
    pub(super) service: Option<&'static [u8]>,
    pub(super) state: &'static [u8],
    pub(super) history: Option<&'static [u8]>,
    pub(super) duration_us: Option<u64>,
    pub(super) bytes: Option<(u64, u64)>,
    pub(super) orig_pkts: u64,
    pub(super) resp_pkts: u64,
}

impl Conn {
    /// IP-level byte counts: payload plus per-packet IP and transport headers.
    fn ip_bytes(&self) -> (u64, u64) {
        let header = if self.proto == b"tcp" { 52 } else { 28 };
        let (orig, resp) = self.bytes.unwrap_or((0, 0));
        let orig_header = if self.bytes.is_none() && self.proto == b"tcp" { 44 } else { header };
        (orig + self.orig_pkts * orig_header, resp + self.resp_pkts * header)
    }
}

impl Generator {
    pub(super) fn conn(&mut self) -> Conn {
        let user = self.world.user(&mut self.rng);
        let ws = self.world.ws_ip(user);
        let uid = self.new_uid();
        let w = &self.world;
        let rng = &mut self.rng;
        let mut c = Conn {
            uid,
            orig: ws,
            orig_p: rng.gen_range(1024..65535),
            resp: [0; 4],
            resp_p: 443,
            proto: b"tcp",
            service: None,
            state: b"SF",
            history: None,
            duration_us: None,
            bytes: None,
            orig_pkts: 0,
            resp_pkts: 0,
        };
        let dc = w.server_ip(w.server_of(rng, Role::Dc));
        let roll = rng.gen_range(0..100u32);
        match roll {
            0..=29 => {
                c.resp = w.dest_ip(rng);
                c.service = Some(b"ssl");
            }
            30..=34 => {
                c.resp = w.dest_ip(rng);
                c.resp_p = 80;
                c.service = Some(b"http");
            }
            35..=59 => {
                c.resp = dc;
                c.resp_p = 53;
                c.proto = b"udp";
                c.service = Some(b"dns");
            }
            60..=64 => {
                c.resp = dc;
                c.resp_p = 88;
                if rng.gen_bool(0.3) {
                    c.proto = b"udp";
                    c.service = Some(b"krb");
                } else {
                    c.service = Some(b"krb_tcp");
                }
            }
            65..=69 => {
                c.resp = w.server_ip(w.server_of(rng, Role::File));
                c.resp_p = 445;
                c.service = Some(b"smb");
            }
            70..=72 => {
                c.resp = dc;
                c.resp_p = 389;
                c.service = Some(b"ldap");
            }
            73..=74 => {
                c.resp = w.dest_ip(rng);
                c.resp_p = 123;
                c.proto = b"udp";
                c.service = Some(b"ntp");
            }
            75..=86 => {
                let client = w.client(rng);
                c.orig = w.client_ip(client);
                c.resp = w.server_ip(w.server_of(rng, Role::Web));
                c.service = Some(b"ssl");
            }
            87..=89 => {
                c.orig = w.scanner_ip(rng);
                c.resp = w.server_ip(w.server_of(rng, Role::Bastion));
                c.resp_p = 22;
                c.service = Some(b"ssh");
            }
            90..=92 => {
                c.resp = w.server_ip(w.server(rng));
                c.resp_p = 22;
                c.service = Some(b"ssh");
            }
            93..=94 => {
                c.resp = w.server_ip(w.server(rng));
                c.resp_p = 3389;
                c.service = Some(b"rdp");
            }
            95..=97 => {
                c.resp = w.server_ip(w.server(rng));
                c.proto = b"icmp";
                c.orig_p = 8;
                c.resp_p = 0;
            }
            _ => {
                c.orig = w.scanner_ip(rng);
                c.resp = w.server_ip(w.server(rng));
                c.resp_p = rng.gen_range(1..10_000);
            }
        }

        // Internet background scanning mostly goes unanswered; the rest mostly completes.
        let state_roll = if roll >= 98 {
            rng.gen_range(90..100u32)
        } else if (87..=89).contains(&roll) {
            rng.gen_range(60..100u32)
        } else {
            rng.gen_range(0..100u32)
        };
        match (c.proto, state_roll) {
            (b"icmp", _) => {
                c.state = b"OTH";
                c.orig_pkts = rng.gen_range(1..5);
                c.resp_pkts = c.orig_pkts;
                c.duration_us = Some(rng.gen_range(10..4_000_000));
                c.bytes = Some((c.orig_pkts * 56, c.resp_pkts * 56));
            }
            (b"udp", 0..=94) => {
                c.history = Some(b"Dd");
                c.orig_pkts = rng.gen_range(1..3);
                c.resp_pkts = c.orig_pkts;
                c.duration_us = Some(rng.gen_range(200..200_000));
                c.bytes = Some((c.orig_pkts * rng.gen_range(30..90), c.resp_pkts * rng.gen_range(60..500)));
            }
            (b"udp", _) => {
                c.state = b"S0";
                c.history = Some(b"D");
                c.orig_pkts = 1;
                c.service = None;
            }
            (_, 0..=87) => {
                c.history = Some(pick(rng, TCP_HISTORIES));
                let orig_bytes = 100 + skewed(rng, 20_000);
                let resp_bytes = 200 + skewed(rng, 3_000_000);
                c.orig_pkts = 3 + orig_bytes / 1_200 + rng.gen_range(0..6);
                c.resp_pkts = 2 + resp_bytes / 1_400 + rng.gen_range(0..6);
                // At most ~50 Mbit/s per connection, plus think time.
                c.duration_us = Some(2_000 + resp_bytes / 6 + skewed(rng, 120_000_000));
                c.bytes = Some((orig_bytes, resp_bytes));
            }
            (_, 88..=89) => {
                c.state = b"S1";
                c.history = Some(b"ShADad");
                let orig_bytes = 100 + skewed(rng, 5_000);
                c.orig_pkts = 3 + rng.gen_range(0..6);
                c.resp_pkts = 2 + rng.gen_range(0..6);
                c.duration_us = Some(2_000 + skewed(rng, 60_000_000));
                c.bytes = Some((orig_bytes, 100 + skewed(rng, 50_000)));
            }
            (_, 90..=91) => {
                let originator = rng.gen_bool(0.5);
                c.state = if originator { b"RSTO" } else { b"RSTR" };
                c.history = Some(if originator { b"ShADadR" } else { b"ShADadr" });
                c.orig_pkts = 3 + rng.gen_range(0..6);
                c.resp_pkts = 2 + rng.gen_range(0..6);
                c.duration_us = Some(1_000 + skewed(rng, 10_000_000));
                c.bytes = Some((100 + skewed(rng, 2_000), skewed(rng, 20_000)));
            }
            (_, 92..=95) => {
                c.state = b"REJ";
                c.history = Some(b"Sr");
                c.orig_pkts = 1;
                c.resp_pkts = 1;
                c.duration_us = Some(rng.gen_range(20..3_000));
                c.bytes = Some((0, 0));
                c.service = None;
            }
            _ => {
                c.state = b"S0";
                c.history = Some(b"S");
                c.orig_pkts = rng.gen_range(1..4);
                if c.orig_pkts > 1 {
                    c.duration_us = Some(rng.gen_range(900_000..6_000_000));
                    c.bytes = Some((0, 0));
                }
                c.service = None;
            }
        }
        c
    }

    pub(super) fn conn_json(&self, c: &Conn, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"ts\":");
        self.clock.put_epoch_micros(out);
        out.extend_from_slice(b",\"uid\":\"");
        out.extend_from_slice(&c.uid);
        out.extend_from_slice(b"\",\"id.orig_h\":\"");
        put_ipv4(out, c.orig);
        out.extend_from_slice(b"\",\"id.orig_p\":");
        put_u64(out, c.orig_p);
        out.extend_from_slice(b",\"id.resp_h\":\"");
        put_ipv4(out, c.resp);
        out.extend_from_slice(b"\",\"id.resp_p\":");
        put_u64(out, c.resp_p);
        out.extend_from_slice(b",\"proto\":\"");
        out.extend_from_slice(c.proto);
        out.push(b'"');
        if let Some(service) = c.service {
            out.extend_from_slice(b",\"service\":\"");
            out.extend_from_slice(service);
            out.push(b'"');
        }
        if let Some(us) = c.duration_us {
            out.extend_from_slice(b",\"duration\":");
            put_micros(out, us);
        }
        if let Some((orig, resp)) = c.bytes {
            out.extend_from_slice(b",\"orig_bytes\":");
            put_u64(out, orig);
            out.extend_from_slice(b",\"resp_bytes\":");
            put_u64(out, resp);
        }
        out.extend_from_slice(b",\"conn_state\":\"");
        out.extend_from_slice(c.state);
        out.extend_from_slice(b"\",\"local_orig\":");
        out.extend_from_slice(if is_local(c.orig) { b"true" } else { b"false" });
        out.extend_from_slice(b",\"local_resp\":");
        out.extend_from_slice(if is_local(c.resp) { b"true" } else { b"false" });
        out.extend_from_slice(b",\"missed_bytes\":0");
        if let Some(history) = c.history {
            out.extend_from_slice(b",\"history\":\"");
            out.extend_from_slice(history);
            out.push(b'"');
        }
        let (orig_ip, resp_ip) = c.ip_bytes();
        out.extend_from_slice(b",\"orig_pkts\":");
        put_u64(out, c.orig_pkts);
        out.extend_from_slice(b",\"orig_ip_bytes\":");
        put_u64(out, orig_ip);
        out.extend_from_slice(b",\"resp_pkts\":");
        put_u64(out, c.resp_pkts);
        out.extend_from_slice(b",\"resp_ip_bytes\":");
        put_u64(out, resp_ip);
        out.push(b'}');
    }

    pub(super) fn conn_tsv(&self, c: &Conn, out: &mut Vec<u8>) {
        self.clock.put_epoch_micros(out);
        out.push(b'\t');
        out.extend_from_slice(&c.uid);
        out.push(b'\t');
        put_ipv4(out, c.orig);
        out.push(b'\t');
        put_u64(out, c.orig_p);
        out.push(b'\t');
        put_ipv4(out, c.resp);
        out.push(b'\t');
        put_u64(out, c.resp_p);
        out.push(b'\t');
        out.extend_from_slice(c.proto);
        out.push(b'\t');
        out.extend_from_slice(c.service.unwrap_or(b"-"));
        out.push(b'\t');
        match c.duration_us {
            Some(us) => put_micros(out, us),
            None => out.push(b'-'),
        }
        match c.bytes {
            Some((orig, resp)) => {
                out.push(b'\t');
                put_u64(out, orig);
                out.push(b'\t');
                put_u64(out, resp);
            }
            None => out.extend_from_slice(b"\t-\t-"),
        }
        out.push(b'\t');
        out.extend_from_slice(c.state);
        out.extend_from_slice(if is_local(c.orig) { b"\tT" } else { b"\tF" });
        out.extend_from_slice(if is_local(c.resp) { b"\tT" } else { b"\tF" });
        out.extend_from_slice(b"\t0\t");
        out.extend_from_slice(c.history.unwrap_or(b"-"));
        let (orig_ip, resp_ip) = c.ip_bytes();
        for v in [c.orig_pkts, orig_ip, c.resp_pkts, resp_ip] {
            out.push(b'\t');
            put_u64(out, v);
        }
        out.extend_from_slice(b"\t-");
    }

    pub(super) fn zeek_tsv_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t");
        put_zeek_stamp(out, self.clock.start_us.div_euclid(1000));
        out.extend_from_slice(
            b"\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n",
        );
    }

    pub(super) fn new_uid(&mut self) -> [u8; 18] {
        let mut uid = [0; 18];
        uid[0] = b'C';
        let (mut a, mut b) = (self.rng.next_u64(), self.rng.next_u64());
        for (i, slot) in uid[1..].iter_mut().enumerate() {
            let r = if i < 9 { &mut a } else { &mut b };
            *slot = BASE62[(*r % 62) as usize];
            *r /= 62;
        }
        uid
    }
}

#[cfg(test)]
mod tests {
    use crate::generate::tests::{cfg, generate, lines};
    use crate::generate::GenFormat;
    use std::collections::HashSet;

    #[test]
    fn zeek_tsv_has_header_and_close() {
        let bytes = generate(&cfg(GenFormat::ZeekTsv, 10, 1));
        let text = String::from_utf8(bytes).unwrap();
        let all: Vec<&str> = text.lines().collect();
        assert_eq!(all[0], "#separator \\x09");
        assert_eq!(all[4], "#path\tconn");
        assert_eq!(all[5], "#open\t2024-01-15-08-00-00");
        let fields: Vec<&str> = all[6].split('\t').collect();
        let types: Vec<&str> = all[7].split('\t').collect();
        assert_eq!(fields[0], "#fields");
        assert_eq!(types[0], "#types");
        assert_eq!(fields.len(), types.len());
        for record in &all[8..all.len() - 1] {
            assert_eq!(record.split('\t').count(), fields.len() - 1, "{record}");
        }
        assert!(all[all.len() - 1].starts_with("#close\t2024-01-15-08-00-0"));
        assert_eq!(all.len(), 8 + 10 + 1);
    }

    /// Checks the JSON lines with serde_json, independently of vigil's own parsers.
    #[test]
    fn zeek_json_lines_are_valid_and_realistic() {
        let bytes = generate(&cfg(GenFormat::Zeek, 20_000, 3));
        let mut total = 0;
        let mut states = HashSet::new();
        for line in lines(&bytes) {
            total += line.len();
            let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
            assert!(v["ts"].as_f64().unwrap() >= 1_705_305_600.0);
            assert_eq!(v["uid"].as_str().unwrap().len(), 18);
            assert!(v["id.orig_h"].as_str().unwrap().parse::<std::net::Ipv4Addr>().is_ok());
            assert!(v["id.resp_p"].as_u64().is_some());
            states.insert(v["conn_state"].as_str().unwrap().to_string());
        }
        let avg = total / 20_000;
        assert!((200..400).contains(&avg), "zeek average line {avg} bytes");
        for state in ["SF", "S0", "REJ", "OTH", "RSTO", "RSTR", "S1"] {
            assert!(states.contains(state), "no {state}");
        }
    }
}
