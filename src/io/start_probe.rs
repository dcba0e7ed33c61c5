//! Confirming a read that starts at an explicit offset.
//!
//! A broker asked for an offset inside a record batch must answer with that batch (the client
//! skips its first records). tansu 0.6 answers with the next batch instead, and with nothing at
//! all inside its last batch; its listed end offset is that batch's base plus one. Without a
//! check the records in between are lost without a word, and a topic read "to its end" is not.
//! So a read started at an offset counts as started only once a record at or before that
//! offset has come: a later record sends the partition further back (twice as far each time),
//! and so does silence (eight times as far, or straight to just before the listed end). The
//! records before the offset are then read past.

use std::time::{Duration, Instant};

/// How long a partition being confirmed may stay silent before it is sought further back.
/// Longer than a fetch that waits for data (`fetch.wait.max.ms`, 500 ms by default) plus the
/// one in flight when the seek came.
pub const PROBE_QUIET: Duration = Duration::from_millis(1200);

/// A read started at an explicit offset, not yet confirmed by a record at or before it.
#[derive(Clone, Copy, Debug)]
pub struct StartProbe {
    /// The offset asked for: the next record to read.
    asked: i64,
    /// How far back the next seek goes.
    back: i64,
    /// A record at or before `asked` came: the records before it are read past, quietly.
    confirmed: bool,
    /// When the partition was last sought for it.
    sought: Instant,
}

/// What to do with a record of a partition being confirmed.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Read past it: it comes before the offset asked for.
    Skip,
    /// The probe is over: take the record as usual.
    Done,
    /// The broker answered with a later record than asked for: seek back to this offset.
    Rewind(i64),
}

/// What to do with a partition being confirmed that has been silent.
#[derive(Debug, PartialEq, Eq)]
pub enum Silence {
    /// Not for long enough yet.
    Wait,
    /// Seek it back to this offset.
    Seek(i64),
    /// Nothing lies before the offset asked for (a read at 0, or one sought back to the
    /// beginning that stayed silent): the probe is over.
    Over,
}

impl StartProbe {
    /// A read started at `asked` at `sought`.
    pub fn new(asked: i64, sought: Instant) -> StartProbe {
        StartProbe { asked, back: 1, confirmed: false, sought }
    }

    /// A read at `asked` that is due to be sought back at once (see [`StartProbe::quiet`]).
    pub fn due(asked: i64, now: Instant) -> StartProbe {
        StartProbe::new(asked, now.checked_sub(PROBE_QUIET).unwrap_or(now))
    }

    /// The offset asked for.
    pub fn asked(&self) -> i64 {
        self.asked
    }

    /// Whether a record at or before the offset asked for has come.
    pub fn confirmed(&self) -> bool {
        self.confirmed
    }

    /// Judges the record at `offset`, received at `now`.
    pub fn record(&mut self, offset: i64, now: Instant) -> Answer {
        if offset < self.asked {
            self.confirmed = true;
            return Answer::Skip;
        }
        // Nothing lies before 0; and a seek to the beginning answered with a later record
        // means nothing before it is kept any more.
        if offset == self.asked || self.confirmed || self.asked == 0 || self.back == i64::MAX {
            return Answer::Done;
        }
        // Back by `back` or by the gap, whichever is larger, down to the beginning at most: a
        // batch may start there and hold the offset asked for (tansu answers a fetch anywhere
        // inside a batch but at its base with the batch after it).
        let step = self.back.max(offset - self.asked);
        let to = self.asked.saturating_sub(step).max(0);
        self.back = if to == 0 { i64::MAX } else { step.saturating_mul(2) };
        self.sought = now;
        Answer::Rewind(to)
    }

    /// Whether the partition, silent since it was last sought, is due to be sought back now.
    pub fn is_due(&self, now: Instant) -> bool {
        !self.confirmed && now.duration_since(self.sought) >= PROBE_QUIET
    }

    /// Where to seek a partition that has stayed silent and unconfirmed for [`PROBE_QUIET`]:
    /// further back, or to just before `end` (its listed end offset) where that is earlier.
    pub fn quiet(&mut self, now: Instant, end: Option<i64>) -> Silence {
        if !self.is_due(now) {
            return Silence::Wait;
        }
        if self.asked == 0 || self.back == i64::MAX {
            return Silence::Over;
        }
        let mut to = self.asked.saturating_sub(self.back).max(0);
        if let Some(e) = end.filter(|e| (1..=self.asked).contains(e)) {
            to = to.min(e - 1);
        }
        // Once at the beginning, the next silence ends the probe.
        self.back = if to == 0 { i64::MAX } else { self.back.saturating_mul(8).max(self.asked - to + 1) };
        self.sought = now;
        Silence::Seek(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_starting_at_the_beginning_is_reached_before_the_probe_gives_up() {
        // Offsets 0..=679 are one batch: any fetch inside it but at 0 is answered from 680.
        let now = Instant::now();
        let mut p = StartProbe::new(493, now);
        assert_eq!(p.record(680, now), Answer::Rewind(306));
        assert_eq!(p.record(680, now), Answer::Rewind(119));
        assert_eq!(p.record(680, now), Answer::Rewind(0));
        assert_eq!(p.record(0, now), Answer::Skip);
        assert_eq!(p.record(492, now), Answer::Skip);
        assert_eq!(p.record(493, now), Answer::Done);
        // Sought to the beginning and still answered later: nothing before is kept.
        let mut p = StartProbe::new(493, now);
        for to in [306, 119, 0] {
            assert_eq!(p.record(680, now), Answer::Rewind(to));
        }
        assert_eq!(p.record(680, now), Answer::Done);
        assert_eq!(StartProbe::new(0, now).record(5, now), Answer::Done, "nothing lies before 0");
    }

    #[test]
    fn a_later_record_seeks_back_by_the_gap_then_twice_as_far() {
        let now = Instant::now();
        let mut p = StartProbe::new(833, now);
        assert_eq!(p.record(2127, now), Answer::Rewind(0));
        let mut p = StartProbe::new(5000, now);
        assert_eq!(p.record(5100, now), Answer::Rewind(4900));
        assert_eq!(p.record(5100, now), Answer::Rewind(4800));
        assert_eq!(p.record(4800, now), Answer::Skip);
        assert_eq!(p.record(4999, now), Answer::Skip);
        assert!(p.confirmed());
        assert_eq!(p.record(5000, now), Answer::Done);
        assert_eq!(StartProbe::new(7, now).record(7, now), Answer::Done);
    }

    #[test]
    fn silence_seeks_back_eight_times_as_far_or_to_the_listed_end_and_ends_at_the_beginning() {
        let t0 = Instant::now();
        let mut p = StartProbe::new(6000, t0);
        assert_eq!(p.quiet(t0, None), Silence::Wait, "not silent long enough yet");
        let t1 = t0 + PROBE_QUIET;
        // tansu lists the base of the last batch plus one as the end: straight there.
        assert_eq!(p.quiet(t1, Some(5059)), Silence::Seek(5058));
        assert_eq!(p.quiet(t1, Some(5059)), Silence::Wait, "just sought");
        let mut q = StartProbe::new(100, t0);
        let mut at = t0;
        let mut seeks = Vec::new();
        loop {
            at += PROBE_QUIET;
            match q.quiet(at, Some(100)) {
                Silence::Seek(to) => seeks.push(to),
                Silence::Wait => panic!("due every time"),
                Silence::Over => break,
            }
        }
        assert_eq!(seeks, vec![99, 92, 36, 0]);
        // Once a record at or before the start has come, silence no longer seeks.
        assert_eq!(p.record(5058, t1), Answer::Skip);
        assert_eq!(p.quiet(t1 + PROBE_QUIET * 9, None), Silence::Wait);
        assert_eq!(StartProbe::new(0, t0).quiet(t1, None), Silence::Over, "nothing before 0");
    }
}
