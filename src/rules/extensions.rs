//! vigil's extensions to Sigma correlation rules: what Sigma lacks, in a clearly marked form.
//!
//! Every extension lives in one of two places, both outside what a standard Sigma tool reads as
//! a correlation it understands:
//!
//! 1. **The `x-vigil:` mapping**, a top-level attribute of a correlation document (beside
//!    `title` and `correlation`, never inside `correlation:`). The Sigma specification allows
//!    custom top-level attributes, so standard tools (pySigma, sigma-cli) load such a rule and
//!    **ignore** the block: they run the plain correlation. Only extensions whose absence makes
//!    the rule fire *more* (never differently) go here: persistence, suppression and the
//!    percentile of `value_percentile`.
//! 2. **The correlation type `x-vigil-absence`**, for "A then no B within T". Running it without
//!    its meaning would be wrong, so it uses a `type` that standard tools **reject** clearly
//!    (an unknown correlation type), rather than one they would silently misread.
//!
//! Validation is as strict as for the rest of the rule: an unknown key inside `x-vigil:` (or a
//! top-level key that starts with `x-vigil` but is not `x-vigil`, such as `x-vigil-suppress`)
//! is an error naming the file, line and field. These parsers build the model only; evaluating
//! the extensions is the dataflow's job.
//!
//! # `persistence`: holds in K consecutive windows
//!
//! ```yaml
//! title: Sustained upload to one host
//! correlation:
//!     type: value_sum
//!     rules:
//!         - outbound_flow
//!     group-by:
//!         - destination.ip
//!     timespan: 1m                 # the window length W
//!     condition:
//!         field: network.bytes
//!         gt: 60000000             # > 1 MB/s over the minute
//! x-vigil:
//!     persistence:
//!         windows: 10              # K: 10 consecutive minutes
//! ```
//!
//! The correlation's condition must hold, for one group, in `windows` (K) consecutive
//! non-overlapping windows of length `timespan` (W), aligned to multiples of W since the Unix
//! epoch (so that every worker and every rerun agrees on the windows). For a detection that must
//! hold in K consecutive windows, use `event_count` with `condition: {gte: 1}`. K is an integer
//! from 2 to 10,000. There is no separate window length: `window:` is rejected with a message
//! saying the window is the correlation's `timespan`. Allowed on `event_count`, `value_count`,
//! `temporal` and the `value_*` types; rejected on `temporal_ordered` and `x-vigil-absence`,
//! whose matches are sequences, not window values.
//!
//! # `suppress`: cooldown per group and rule
//!
//! ```yaml
//! x-vigil:
//!     suppress:
//!         for: 1h
//! ```
//!
//! After an incident for a group of this rule, further matches of the same group within `for`
//! (a timespan, same units as `timespan`) raise no new incident; they update the open incident's
//! count and end time. Allowed on every correlation type.
//!
//! # `percentile`: which percentile `value_percentile` computes
//!
//! ```yaml
//! title: Slow responses per backend
//! correlation:
//!     type: value_percentile
//!     rules:
//!         - http_response
//!     group-by:
//!         - service.name
//!     timespan: 10m
//!     condition:
//!         field: event.duration
//!         gt: 2000
//! x-vigil:
//!     percentile: 95
//! ```
//!
//! A number from 0 to 100; without it the percentile is 50 (the median, the spec's own hint).
//! Only allowed on `value_percentile`.
//!
//! # `x-vigil-absence`: A then no B within T
//!
//! ```yaml
//! title: Admin account created without an approval ticket
//! correlation:
//!     type: x-vigil-absence
//!     rules:
//!         - admin_account_created   # A: the step that happens
//!         - change_ticket_approved  # B: the step that must follow and does not
//!     group-by:
//!         - user.name
//!     timespan: 30m                 # T
//! ```
//!
//! Fires for a group when an event of the first rule is not followed, within `timespan`
//! (inclusive), by an event of the second rule of the same group. `rules` must hold exactly two
//! references (detections or correlations); `condition` is not allowed (there is nothing to
//! count). `group-by`, `aliases`, `generate`, references and `x-vigil: {suppress: ...}` work
//! as for any correlation.

use std::path::Path;

use super::correlation::{parse_timespan, CorrelationKind};
use super::yaml::{Node, Scalar};
use super::RuleError;

/// The top-level attribute holding vigil's extensions.
pub const EXTENSION_KEY: &str = "x-vigil";
/// The correlation type of "A then no B within T" sequences.
pub const ABSENCE_TYPE: &str = "x-vigil-absence";
/// The largest `persistence.windows`.
pub const MAX_PERSISTENCE_WINDOWS: u32 = 10_000;

/// vigil extensions of one correlation rule (from its `x-vigil:` block).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extensions {
    /// `persistence`: the condition holds in K consecutive windows.
    pub persistence: Option<Persistence>,
    /// `suppress`: cooldown per group.
    pub suppress: Option<Suppress>,
    /// `percentile` as written (see [`super::correlation::CorrelationSpec::percentile`] for the
    /// value in effect).
    pub percentile: Option<f64>,
}

/// `x-vigil.persistence`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persistence {
    /// K: consecutive windows (of the correlation's `timespan`) in which the condition holds.
    pub windows: u32,
}

/// `x-vigil.suppress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suppress {
    /// The cooldown in milliseconds.
    pub for_ms: i64,
}

/// Parses the `x-vigil:` block (`node`) of a correlation of kind `kind`; errors go to `errors`.
pub fn parse(file: &Path, node: &Node, kind: Option<CorrelationKind>, errors: &mut Vec<RuleError>) -> Extensions {
    let mut ext = Extensions::default();
    let Some(entries) = node.as_map() else {
        errors.push(RuleError::new(file, node.line, EXTENSION_KEY, format!("must be a mapping, found {}", node.kind_name())));
        return ext;
    };
    for (k, v) in entries {
        let key = k.as_str().unwrap_or("");
        let path = format!("{EXTENSION_KEY}.{key}");
        match key {
            "persistence" => ext.persistence = persistence(file, v, &path, kind, errors),
            "suppress" => ext.suppress = suppress(file, v, &path, errors),
            "percentile" => {
                if kind.is_some_and(|k| k != CorrelationKind::ValuePercentile) {
                    errors.push(RuleError::new(file, k.line, &path, "only allowed on value_percentile correlations"));
                }
                match v.scalar() {
                    Some(Scalar::Number(p, _)) if (0.0..=100.0).contains(&p) => ext.percentile = Some(p),
                    _ => errors.push(RuleError::new(file, v.line, &path, format!("must be a number from 0 to 100, found {}", describe(v)))),
                }
            }
            _ => errors.push(RuleError::new(file, k.line, &path, "unknown vigil extension (expected persistence, suppress or percentile)")),
        }
    }
    ext
}

fn persistence(file: &Path, v: &Node, path: &str, kind: Option<CorrelationKind>, errors: &mut Vec<RuleError>) -> Option<Persistence> {
    if let Some(k) = kind.filter(|k| matches!(k, CorrelationKind::TemporalOrdered | CorrelationKind::Absence)) {
        errors.push(RuleError::new(file, v.line, path, format!("not allowed on {} correlations (their matches are sequences, not window values)", k.as_str())));
    }
    let Some(entries) = v.as_map() else {
        errors.push(RuleError::new(file, v.line, path, format!("must be a mapping like {{windows: 10}}, found {}", v.kind_name())));
        return None;
    };
    let mut windows = None;
    for (k, val) in entries {
        let key = k.as_str().unwrap_or("");
        let p = format!("{path}.{key}");
        match key {
            "windows" => match val.scalar() {
                Some(Scalar::Number(n, _)) if n.fract() == 0.0 && (2.0..=MAX_PERSISTENCE_WINDOWS as f64).contains(&n) => windows = Some(n as u32),
                _ => {
                    errors.push(RuleError::new(file, val.line, &p, format!("must be an integer from 2 to {MAX_PERSISTENCE_WINDOWS}, found {}", describe(val))))
                }
            },
            "window" => errors.push(RuleError::new(file, k.line, &p, "not allowed: the window length is the correlation's timespan")),
            _ => errors.push(RuleError::new(file, k.line, &p, "unknown key (expected windows)")),
        }
    }
    match windows {
        Some(w) => Some(Persistence { windows: w }),
        None => {
            if !entries.iter().any(|(k, _)| k.as_str() == Some("windows")) {
                errors.push(RuleError::new(file, v.line, &format!("{path}.windows"), "missing required key"));
            }
            None
        }
    }
}

fn suppress(file: &Path, v: &Node, path: &str, errors: &mut Vec<RuleError>) -> Option<Suppress> {
    let Some(entries) = v.as_map() else {
        errors.push(RuleError::new(file, v.line, path, format!("must be a mapping like {{for: 1h}}, found {}", v.kind_name())));
        return None;
    };
    let mut out = None;
    for (k, val) in entries {
        let key = k.as_str().unwrap_or("");
        let p = format!("{path}.{key}");
        match key {
            "for" => match parse_timespan(val) {
                Ok(ms) => out = Some(Suppress { for_ms: ms }),
                Err(m) => errors.push(RuleError::new(file, val.line, &p, m)),
            },
            _ => errors.push(RuleError::new(file, k.line, &p, "unknown key (expected for)")),
        }
    }
    if out.is_none() && !entries.iter().any(|(k, _)| k.as_str() == Some("for")) {
        errors.push(RuleError::new(file, v.line, &format!("{path}.for"), "missing required key"));
    }
    out
}

/// A short description of a node for messages.
pub(crate) fn describe(v: &Node) -> String {
    match v.as_str() {
        Some(s) => format!("{s:?}"),
        None => v.kind_name().to_string(),
    }
}
