//! Byte writers: numbers, padded numbers, hex, Zeek intervals, addresses, GUIDs and user names
//! appended straight to the line buffer, without `format!` or allocation.

use rand::{Rng, RngCore};

use super::tables::{FIRST_NAMES, HEX_LOWER, LAST_NAMES};
use super::world::splitmix;
use super::SmallRng;

pub(super) fn pick<'a>(rng: &mut SmallRng, table: &[&'a [u8]]) -> &'a [u8] {
    table[rng.gen_range(0..table.len())]
}

pub(super) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

pub(super) fn put_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v).as_bytes();
    for _ in digits.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(digits);
}

pub(super) fn put_hex(out: &mut Vec<u8>, v: u64) {
    let digits = ((64 - v.leading_zeros() as usize).max(1)).div_ceil(4);
    for i in (0..digits).rev() {
        out.push(HEX_LOWER[((v >> (i * 4)) & 15) as usize]);
    }
}

/// Seconds with six decimals, as Zeek writes intervals.
pub(super) fn put_micros(out: &mut Vec<u8>, us: u64) {
    put_u64(out, us / 1_000_000);
    out.push(b'.');
    put_padded(out, us % 1_000_000, 6);
}

pub(super) fn put_ipv4(out: &mut Vec<u8>, ip: [u8; 4]) {
    for (i, octet) in ip.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        put_u64(out, *octet as u64);
    }
}

/// A global-unicast IPv6 address for a client index (`2a02:…`, a range European ISPs use).
pub(super) fn put_ipv6(out: &mut Vec<u8>, client: u64) {
    let h = splitmix(client ^ 0x0006_0006);
    out.extend_from_slice(b"2a02:");
    put_hex(out, 0x1000 + (h & 0xfff));
    out.push(b':');
    put_hex(out, (h >> 12) & 0xffff);
    out.push(b':');
    put_hex(out, (h >> 28) & 0xffff);
    out.extend_from_slice(b"::");
    put_hex(out, 1 + ((h >> 44) & 0xfffe));
}

pub(super) fn put_guid(out: &mut Vec<u8>, rng: &mut SmallRng) {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    out.push(b'{');
    for nibble in 0..32 {
        if matches!(nibble, 8 | 12 | 16 | 20) {
            out.push(b'-');
        }
        let word = if nibble < 16 { a } else { b };
        out.push(HEX_LOWER[((word >> ((nibble % 16) * 4)) & 15) as usize]);
    }
    out.push(b'}');
}

/// `first.last`, with a number once the name combinations run out.
pub(super) fn put_user(out: &mut Vec<u8>, user: u64) {
    let first = FIRST_NAMES.len() as u64;
    let last = LAST_NAMES.len() as u64;
    out.extend_from_slice(FIRST_NAMES[(user % first) as usize]);
    out.push(b'.');
    out.extend_from_slice(LAST_NAMES[(user / first % last) as usize]);
    let round = user / (first * last);
    if round > 0 {
        put_u64(out, round + 1);
    }
}
