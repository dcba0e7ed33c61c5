//! Event-time watermarks per partition and per worker.
//!
//! A partition's watermark is the largest event time it has shown minus the allowed lateness.
//! A record older than its own partition's watermark is late. Lateness is judged per partition,
//! never per worker, so whether a record is late depends only on its partition's own sequence and
//! not on which other partitions share its worker: that keeps results identical for any number of
//! workers. A worker's watermark (its timely time) is the minimum over its unfinished partitions,
//! so every record it sends at that time has an event time at or after it.

/// Lowest representable watermark: nothing seen yet.
pub const NO_WATERMARK: i64 = i64::MIN;

/// Event-time progress of one partition.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PartitionClock {
    max_ts: Option<i64>,
    lateness_ms: i64,
    done: bool,
    idle: bool,
}

/// What the clock says about one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// On time: at or after the partition's watermark.
    OnTime,
    /// Late: before the watermark by this many milliseconds.
    Late {
        /// The watermark the record fell behind.
        watermark: i64,
    },
}

impl PartitionClock {
    /// A clock allowing records up to `lateness_ms` older than the newest seen.
    pub fn new(lateness_ms: i64) -> Self {
        PartitionClock { max_ts: None, lateness_ms: lateness_ms.max(0), done: false, idle: false }
    }

    /// The partition's watermark.
    pub fn watermark(&self) -> i64 {
        match self.max_ts {
            Some(max) => max.saturating_sub(self.lateness_ms),
            None => NO_WATERMARK,
        }
    }

    /// Restores the clock of a partition read up to a point whose greatest event time was
    /// `max_ts` (a restart from committed offsets).
    pub fn resume(&mut self, max_ts: i64) {
        self.max_ts = Some(self.max_ts.map_or(max_ts, |m| m.max(max_ts)));
    }

    /// Judges a record's event time against the watermark, then advances the clock.
    pub fn observe(&mut self, ts: i64) -> Arrival {
        let watermark = self.watermark();
        if ts < watermark {
            return Arrival::Late { watermark };
        }
        if self.max_ts.is_none_or(|m| ts > m) {
            self.max_ts = Some(ts);
        }
        Arrival::OnTime
    }

    /// Marks the partition finished: it no longer holds back its worker's watermark.
    pub fn finish(&mut self) {
        self.done = true;
    }

    /// True once finished.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Marks the partition idle (silent for a while) or active again. The caller leaves idle
    /// partitions out of its watermark; a record arriving later is judged against the
    /// partition's own watermark as always.
    pub fn set_idle(&mut self, idle: bool) {
        self.idle = idle;
    }

    /// True while idle.
    pub fn is_idle(&self) -> bool {
        self.idle
    }
}

/// The watermark of a worker: the least over its unfinished partitions; `None` when all are done.
pub fn worker_watermark<'a>(clocks: impl IntoIterator<Item = &'a PartitionClock>) -> Option<i64> {
    clocks.into_iter().filter(|c| !c.done).map(PartitionClock::watermark).min()
}

/// Maps an event-time watermark to timely's `u64` time (times before 1970 clamp to 0).
pub fn to_timely(watermark: i64) -> u64 {
    watermark.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_is_judged_against_own_partition() {
        let mut c = PartitionClock::new(5_000);
        assert_eq!(c.observe(10_000), Arrival::OnTime);
        assert_eq!(c.watermark(), 5_000);
        assert_eq!(c.observe(6_000), Arrival::OnTime);
        assert_eq!(c.observe(5_000), Arrival::OnTime, "the watermark itself is on time");
        assert_eq!(c.observe(4_999), Arrival::Late { watermark: 5_000 });
        assert_eq!(c.watermark(), 5_000, "a late record does not move the clock");
    }

    #[test]
    fn worker_watermark_is_min_of_unfinished() {
        let mut a = PartitionClock::new(0);
        let mut b = PartitionClock::new(0);
        a.observe(100);
        assert_eq!(worker_watermark([&a, &b]), Some(NO_WATERMARK));
        b.observe(50);
        assert_eq!(worker_watermark([&a, &b]), Some(50));
        b.finish();
        assert_eq!(worker_watermark([&a, &b]), Some(100));
        a.finish();
        assert_eq!(worker_watermark([&a, &b]), None);
    }
}
