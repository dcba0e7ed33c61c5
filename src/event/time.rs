//! Event time: milliseconds since the Unix epoch (UTC), parsed from the timestamp forms the
//! supported formats use, without allocation. Civil-date arithmetic follows Howard Hinnant's
//! `days_from_civil` algorithm, exact over the proleptic Gregorian calendar.

/// Milliseconds per second.
pub const MS_PER_SEC: i64 = 1_000;
/// Milliseconds per day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a civil date (month 1..=12, day 1..=31).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Milliseconds since the epoch of a UTC civil time; `None` if any part is out of range.
pub fn from_civil(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32, ms: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 60 || ms > 999 {
        return None;
    }
    // A leap second (60) folds onto the next second rather than failing the record.
    Some(days_from_civil(year, month, day) * MS_PER_DAY + (hour as i64 * 3600 + min as i64 * 60 + sec as i64) * MS_PER_SEC + ms as i64)
}

/// Month number (1..=12) of an English three-letter abbreviation, any case.
pub fn month_from_abbrev(s: &[u8]) -> Option<u32> {
    if s.len() != 3 {
        return None;
    }
    let lower = [s[0].to_ascii_lowercase(), s[1].to_ascii_lowercase(), s[2].to_ascii_lowercase()];
    Some(match &lower {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// Parses exactly `n` ASCII digits at `s[at..]`.
pub fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = s.get(at..at + n)?;
    let mut v = 0u32;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (b - b'0') as u32;
    }
    Some(v)
}

/// Parses a fraction of a second (the digits after the dot), truncated to milliseconds.
/// Returns (milliseconds, digits consumed).
fn fraction_ms(s: &[u8]) -> (u32, usize) {
    let mut ms = 0u32;
    let mut n = 0usize;
    while n < s.len() && s[n].is_ascii_digit() {
        if n < 3 {
            ms = ms * 10 + (s[n] - b'0') as u32;
        }
        n += 1;
    }
    for _ in n..3 {
        ms *= 10;
    }
    (ms, n)
}

/// Parses a UTC offset (`Z`, `+hh:mm`, `+hhmm`, `+hh`) into milliseconds east of UTC.
/// Returns (offset, bytes consumed); an empty input is UTC.
fn offset_ms(s: &[u8]) -> Option<(i64, usize)> {
    match s.first() {
        None => Some((0, 0)),
        Some(b'Z') | Some(b'z') => Some((0, 1)),
        Some(&sign @ (b'+' | b'-')) => {
            let h = digits(s, 1, 2)? as i64;
            let (m, used) = if s.get(3) == Some(&b':') {
                (digits(s, 4, 2)? as i64, 6)
            } else if let Some(m) = digits(s, 3, 2) {
                (m as i64, 5)
            } else {
                (0, 3)
            };
            if h > 23 || m > 59 {
                return None;
            }
            let off = (h * 60 + m) * 60_000;
            Some((if sign == b'-' { -off } else { off }, used))
        }
        _ => None,
    }
}

/// Parses RFC 3339 / ISO 8601 date-times: `2018-05-18T00:01:32.365041Z`,
/// `2023-08-16 04:54:30.987` (no zone means UTC), `2020-10-22T08:29:55+02:00`.
pub fn parse_iso8601(s: &[u8]) -> Option<i64> {
    let s = trim_ascii(s);
    let year = digits(s, 0, 4)? as i64;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    if s.len() == 10 {
        return from_civil(year, month, day, 0, 0, 0, 0);
    }
    if !matches!(s.get(10), Some(b'T' | b't' | b' ')) || s.get(13) != Some(&b':') {
        return None;
    }
    let hour = digits(s, 11, 2)?;
    let min = digits(s, 14, 2)?;
    let (sec, mut at) = if s.get(16) == Some(&b':') { (digits(s, 17, 2)?, 19) } else { (0, 16) };
    let mut ms = 0;
    if matches!(s.get(at), Some(b'.' | b',')) {
        let (frac, used) = fraction_ms(&s[at + 1..]);
        if used == 0 {
            return None;
        }
        ms = frac;
        at += 1 + used;
    }
    let rest = &s[at..];
    let rest = if rest.first() == Some(&b' ') { &rest[1..] } else { rest };
    let (off, used) = offset_ms(rest)?;
    if used != rest.len() {
        return None;
    }
    Some(from_civil(year, month, day, hour, min, sec, ms)? - off)
}

/// Parses epoch seconds with an optional fraction (`1664462456.755299`), as Zeek writes `ts`.
pub fn parse_epoch_seconds(s: &[u8]) -> Option<i64> {
    let s = trim_ascii(s);
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let dot = body.iter().position(|&b| b == b'.').unwrap_or(body.len());
    let int_part = &body[..dot];
    if int_part.is_empty() || int_part.len() > 12 || !int_part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut secs = 0i64;
    for &b in int_part {
        secs = secs * 10 + (b - b'0') as i64;
    }
    let mut ms = 0i64;
    if dot < body.len() {
        let frac = &body[dot + 1..];
        let (m, used) = fraction_ms(frac);
        if used != frac.len() {
            return None;
        }
        ms = m as i64;
    }
    let total = secs * MS_PER_SEC + ms;
    Some(if neg { -total } else { total })
}

/// Converts a float of epoch seconds to milliseconds, if finite and in a sane range.
pub fn epoch_seconds_f64(v: f64) -> Option<i64> {
    if v.is_finite() && v.abs() < 1e13 {
        Some((v * 1000.0).floor() as i64)
    } else {
        None
    }
}

/// Parses the Apache/nginx `%t` form without brackets: `17/May/2015:10:05:03 +0000`.
pub fn parse_clf(s: &[u8]) -> Option<i64> {
    let day = digits(s, 0, 2)?;
    if s.get(2) != Some(&b'/') || s.get(6) != Some(&b'/') || s.get(11) != Some(&b':') {
        return None;
    }
    let month = month_from_abbrev(s.get(3..6)?)?;
    let year = digits(s, 7, 4)? as i64;
    let hour = digits(s, 12, 2)?;
    if s.get(14) != Some(&b':') || s.get(17) != Some(&b':') {
        return None;
    }
    let min = digits(s, 15, 2)?;
    let sec = digits(s, 18, 2)?;
    let mut at = 20;
    let mut ms = 0;
    if s.get(at) == Some(&b'.') {
        let (frac, used) = fraction_ms(&s[at + 1..]);
        ms = frac;
        at += 1 + used;
    }
    let rest = s.get(at..)?;
    let rest = if rest.first() == Some(&b' ') { &rest[1..] } else { rest };
    let (off, used) = offset_ms(rest)?;
    if used != rest.len() {
        return None;
    }
    Some(from_civil(year, month, day, hour, min, sec, ms)? - off)
}

fn trim_ascii(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &s[start..end]
}

/// Writes `ms` as RFC 3339 UTC with milliseconds: `2018-05-18T00:01:32.365Z`.
pub fn write_iso8601(ms: i64, out: &mut Vec<u8>) {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    let secs = in_day / 1000;
    let (h, mi, s, milli) = (secs / 3600, (secs / 60) % 60, secs % 60, in_day % 1000);
    if (0..=9999).contains(&y) {
        let y = y as u32;
        out.extend_from_slice(&[b'0' + (y / 1000) as u8, b'0' + (y / 100 % 10) as u8, b'0' + (y / 10 % 10) as u8, b'0' + (y % 10) as u8]);
    } else {
        out.extend_from_slice(format!("{y:+07}").as_bytes());
    }
    let two = |out: &mut Vec<u8>, v: i64| out.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8]);
    out.push(b'-');
    two(out, mo as i64);
    out.push(b'-');
    two(out, d as i64);
    out.push(b'T');
    two(out, h);
    out.push(b':');
    two(out, mi);
    out.push(b':');
    two(out, s);
    out.push(b'.');
    out.extend_from_slice(&[b'0' + (milli / 100) as u8, b'0' + (milli / 10 % 10) as u8, b'0' + (milli % 10) as u8]);
    out.push(b'Z');
}

/// `ms` as an RFC 3339 string (convenience for messages and tests).
pub fn to_iso8601(ms: i64) -> String {
    let mut out = Vec::with_capacity(24);
    write_iso8601(ms, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Parses a duration such as `250ms`, `5s`, `30s`, `5m`, `1h`, `7d` into milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration {s:?}: {e} (examples: 5s, 30s, 5m, 1h, 7d)"))?;
    i64::try_from(d.as_millis()).map_err(|_| format!("duration {s:?} is too large"))
}

/// Current wall-clock time in ms (used only to infer a missing syslog year).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(s: &str) -> i64 {
        let t = ::time::OffsetDateTime::parse(s, &::time::format_description::well_known::Rfc3339).unwrap();
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    }

    #[test]
    fn iso_forms() {
        assert_eq!(parse_iso8601(b"2018-05-18T00:01:32.365041Z"), Some(reference("2018-05-18T00:01:32.365041Z")));
        assert_eq!(parse_iso8601(b"2023-08-16 04:54:30.987"), Some(reference("2023-08-16T04:54:30.987Z")));
        assert_eq!(parse_iso8601(b"2020-10-22T08:29:55+02:00"), Some(reference("2020-10-22T08:29:55+02:00")));
        assert_eq!(parse_iso8601(b"2020-10-22T08:29:55-0400"), Some(reference("2020-10-22T08:29:55-04:00")));
        assert_eq!(parse_iso8601(b"2020-02-30T00:00:00Z"), None);
        assert_eq!(parse_iso8601(b"2020-10-22T08:29:55Zjunk"), None);
        assert_eq!(parse_iso8601(b"not a time"), None);
    }

    #[test]
    fn epoch_and_clf() {
        assert_eq!(parse_epoch_seconds(b"1664462456.755299"), Some(1_664_462_456_755));
        assert_eq!(parse_epoch_seconds(b"1664462456"), Some(1_664_462_456_000));
        assert_eq!(parse_epoch_seconds(b"16644x"), None);
        assert_eq!(parse_clf(b"17/May/2015:10:05:03 +0000"), Some(reference("2015-05-17T10:05:03Z")));
        assert_eq!(parse_clf(b"10/Oct/2000:13:55:36 -0700"), Some(reference("2000-10-10T13:55:36-07:00")));
        assert_eq!(parse_clf(b"10/Foo/2000:13:55:36 -0700"), None);
    }

    #[test]
    fn format_round_trip() {
        assert_eq!(to_iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(to_iso8601(reference("2018-05-18T00:01:32.365Z")), "2018-05-18T00:01:32.365Z");
        assert_eq!(to_iso8601(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("5s"), Ok(5_000));
        assert_eq!(parse_duration_ms("7d"), Ok(7 * MS_PER_DAY));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert!(parse_duration_ms("soon").is_err());
    }

    proptest! {
        #[test]
        fn civil_matches_time_crate(ms in -2_000_000_000_000i64..20_000_000_000_000i64) {
            let text = to_iso8601(ms);
            prop_assert_eq!(parse_iso8601(text.as_bytes()), Some(ms));
            let t = ::time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
            let (y, m, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
            prop_assert_eq!((y, m, d), (t.year() as i64, u8::from(t.month()) as u32, t.day() as u32));
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_iso8601(&bytes);
            let _ = parse_epoch_seconds(&bytes);
            let _ = parse_clf(&bytes);
        }
    }
}
