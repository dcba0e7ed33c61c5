//! What the correlation, extension and baseline readers share: the correlation types, Sigma
//! timespans, and how a YAML node is described in messages. A leaf, so the three readers
//! import it and not each other.

use super::yaml::Node;

/// The correlation type of "A then no B within T" sequences.
pub const ABSENCE_TYPE: &str = "x-vigil-absence";
/// The correlation type of per-entity baselines (anomalies against the entity's own history).
pub const BASELINE_TYPE: &str = "x-vigil-baseline";

/// The type of a correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CorrelationKind {
    /// `event_count`
    EventCount,
    /// `value_count`
    ValueCount,
    /// `temporal`
    Temporal,
    /// `temporal_ordered`
    TemporalOrdered,
    /// `value_sum`
    ValueSum,
    /// `value_avg`
    ValueAvg,
    /// `value_percentile`
    ValuePercentile,
    /// `x-vigil-absence` (a vigil extension): the first rule, then no second rule within the
    /// timespan.
    Absence,
    /// `x-vigil-baseline` (a vigil extension): the referenced rules' events against each
    /// group's own learned history (see [`super::baseline`]).
    Baseline,
}

impl CorrelationKind {
    pub(crate) const ALL: [CorrelationKind; 9] = [
        CorrelationKind::EventCount,
        CorrelationKind::ValueCount,
        CorrelationKind::Temporal,
        CorrelationKind::TemporalOrdered,
        CorrelationKind::ValueSum,
        CorrelationKind::ValueAvg,
        CorrelationKind::ValuePercentile,
        CorrelationKind::Absence,
        CorrelationKind::Baseline,
    ];

    /// The `type:` word.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
            CorrelationKind::ValueSum => "value_sum",
            CorrelationKind::ValueAvg => "value_avg",
            CorrelationKind::ValuePercentile => "value_percentile",
            CorrelationKind::Absence => ABSENCE_TYPE,
            CorrelationKind::Baseline => BASELINE_TYPE,
        }
    }

    /// The kind for a `type:` word.
    pub fn from_type(s: &str) -> Option<CorrelationKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// True for the types that need `condition.field`.
    pub fn needs_field(self) -> bool {
        matches!(self, CorrelationKind::ValueCount | CorrelationKind::ValueSum | CorrelationKind::ValueAvg | CorrelationKind::ValuePercentile)
    }

    /// True for the types whose value is a count (integer operands).
    pub fn counts(self) -> bool {
        matches!(self, CorrelationKind::EventCount | CorrelationKind::ValueCount | CorrelationKind::Temporal | CorrelationKind::TemporalOrdered)
    }

    /// True for vigil's own types (not in the Sigma specification).
    pub fn is_extension(self) -> bool {
        matches!(self, CorrelationKind::Absence | CorrelationKind::Baseline)
    }
}

/// Parses a timespan node (`30s`, `5m`, `2h`, `1d`, `1w`) into milliseconds; the error is a
/// message without location.
pub fn parse_timespan(node: &Node) -> Result<i64, String> {
    let bad = || format!("must be a positive integer followed by s, m, h, d or w (like 5m), found {}", describe(node));
    let Some(text) = node.as_str() else { return Err(bad()) };
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        "ms" => return Err(format!("{}: milliseconds are not a Sigma unit", bad())),
        "M" | "y" => return Err(format!("{}: months and years have no fixed length", bad())),
        _ => return Err(bad()),
    };
    let n: i64 = num.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!("must be positive, found {text:?}"));
    }
    n.checked_mul(unit_ms).ok_or_else(|| format!("{text:?} is too long"))
}

/// A short description of a node for messages.
pub(crate) fn describe(v: &Node) -> String {
    match v.as_str() {
        Some(s) => format!("{s:?}"),
        None => v.kind_name().to_string(),
    }
}
