//! Simulated event time: the jittered clock every line is stamped with, and the text forms of
//! its current second (syslog, Apache CLF, ISO 8601, Zeek's `#open`/`#close` stamps).

use rand::Rng;

use super::tables::MONTHS;
use super::write::{put_padded, put_u64};
use super::SmallRng;
use crate::event::time;

/// Simulated event time, with the text forms of the current second cached: the second changes
/// only every `rate` records, so formatting dates costs nothing per line.
pub(super) struct Clock {
    pub(super) start_us: i64,
    elapsed_us: f64,
    mean_gap_us: f64,
    pub(super) now_us: i64,
    started: bool,
    pub(super) second: i64,
    /// `Jan 15 08:00:00`
    pub(super) syslog: Vec<u8>,
    /// `15/Jan/2024:08:00:00 +0000`
    pub(super) clf: Vec<u8>,
    /// `2024-01-15T08:00:00`
    pub(super) iso: Vec<u8>,
}

impl Clock {
    pub(super) fn new(start_ms: i64, rate: f64) -> Self {
        let start_us = start_ms.saturating_mul(1000);
        let mut clock = Clock {
            start_us,
            elapsed_us: 0.0,
            mean_gap_us: 1e6 / rate,
            now_us: start_us,
            started: false,
            second: i64::MIN,
            syslog: Vec::with_capacity(16),
            clf: Vec::with_capacity(32),
            iso: Vec::with_capacity(24),
        };
        clock.render();
        clock
    }

    /// Advances by a jittered gap of mean `1/rate`; the first record sits at the start.
    pub(super) fn tick(&mut self, rng: &mut SmallRng) {
        if self.started {
            self.elapsed_us += self.mean_gap_us * rng.gen_range(0.5..1.5);
        }
        self.started = true;
        self.now_us = self.start_us.saturating_add(self.elapsed_us as i64);
        self.render();
    }

    fn render(&mut self) {
        let second = self.now_us.div_euclid(1_000_000);
        if second == self.second {
            return;
        }
        self.second = second;
        let (y, mo, d) = time::civil_from_days(second.div_euclid(86_400));
        let in_day = second.rem_euclid(86_400) as u64;
        let (h, mi, s) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
        let year = y.clamp(0, 9999) as u64;
        let month = MONTHS[(mo as usize).clamp(1, 12) - 1];

        self.syslog.clear();
        self.syslog.extend_from_slice(month);
        self.syslog.push(b' ');
        if d < 10 {
            self.syslog.push(b' ');
        }
        put_u64(&mut self.syslog, d as u64);
        self.syslog.push(b' ');
        put_hms(&mut self.syslog, h, mi, s, b':');

        self.clf.clear();
        put_padded(&mut self.clf, d as u64, 2);
        self.clf.push(b'/');
        self.clf.extend_from_slice(month);
        self.clf.push(b'/');
        put_padded(&mut self.clf, year, 4);
        self.clf.push(b':');
        put_hms(&mut self.clf, h, mi, s, b':');
        self.clf.extend_from_slice(b" +0000");

        self.iso.clear();
        put_padded(&mut self.iso, year, 4);
        self.iso.push(b'-');
        put_padded(&mut self.iso, mo as u64, 2);
        self.iso.push(b'-');
        put_padded(&mut self.iso, d as u64, 2);
        self.iso.push(b'T');
        put_hms(&mut self.iso, h, mi, s, b':');
    }

    pub(super) fn millis(&self) -> u64 {
        (self.now_us.rem_euclid(1_000_000) / 1000) as u64
    }

    /// Zeek's `ts`: epoch seconds with microseconds.
    pub(super) fn put_epoch_micros(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(itoa::Buffer::new().format(self.second).as_bytes());
        out.push(b'.');
        put_padded(out, self.now_us.rem_euclid(1_000_000) as u64, 6);
    }
}

/// Zeek's `#open`/`#close` stamp: `2024-01-15-08-00-00`.
pub(super) fn put_zeek_stamp(out: &mut Vec<u8>, ms: i64) {
    let second = ms.div_euclid(1000);
    let (y, mo, d) = time::civil_from_days(second.div_euclid(86_400));
    let in_day = second.rem_euclid(86_400) as u64;
    put_padded(out, y.clamp(0, 9999) as u64, 4);
    out.push(b'-');
    put_padded(out, mo as u64, 2);
    out.push(b'-');
    put_padded(out, d as u64, 2);
    out.push(b'-');
    put_hms(out, in_day / 3600, in_day / 60 % 60, in_day % 60, b'-');
}

fn put_hms(out: &mut Vec<u8>, h: u64, m: u64, s: u64, sep: u8) {
    put_padded(out, h, 2);
    out.push(sep);
    put_padded(out, m, 2);
    out.push(sep);
    put_padded(out, s, 2);
}
