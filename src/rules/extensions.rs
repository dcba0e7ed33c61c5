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
//!    percentile of `value_percentile` (and the parameters of the `x-vigil-baseline` type, which
//!    standard tools reject anyway).
//! 2. **The correlation types `x-vigil-absence`**, for "A then no B within T", and
//!    **`x-vigil-baseline`**, for a group against its own learned history. Running them without
//!    their meaning would be wrong, so they use a `type` that standard tools **reject** clearly
//!    (an unknown correlation type), rather than one they would silently misread. A baseline's
//!    parameters sit in `x-vigil: {baseline: ...}`, which is only allowed on that type.
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
//!
//! # `x-vigil-baseline`: a group against its own history
//!
//! ```yaml
//! title: SSH Login From A New Source Network For The User
//! correlation:
//!     type: x-vigil-baseline
//!     rules:
//!         - ssh_successful_login    # the events it learns from (one or more rules)
//!     group-by:
//!         - user.name               # the entity: each user has its own baseline
//!     timespan: 30d                 # new_value: the history window; other kinds: the interval
//! x-vigil:
//!     baseline:
//!         kind: new_value           # rate | new_value | distinct | profile
//!         field: source.ip          # the value learned
//!         network: 24               # compare IPv4 addresses by /24 (IPv6 by /64)
//!         learn: 7d                 # each user learns for a week before its own verdicts
//!         peer_fallback: true       # meanwhile: new if no user used it (the peer group)
//!     suppress:
//!         for: 1d
//! ```
//!
//! ```yaml
//! title: Host Outbound Traffic Volume Departs From Its History
//! correlation:
//!     type: x-vigil-baseline
//!     rules: [zeek_local_connection]
//!     group-by: [source.ip]
//!     timespan: 1h                  # one value per host per hour
//! x-vigil:
//!     baseline:
//!         kind: rate
//!         field: source.bytes       # summed; without field, events are counted
//!         deviation: {z: 5, direction: high, seasonality: none, half_life: 24, min_std: 1000000}
//!         min_history: 12           # hours of the host's own history before it is judged
//! ```
//!
//! The correlation's `group-by` is the entity (one baseline per group; empty: one global
//! entity), `rules` are the events it learns from, and `timespan` is the interval whose value is
//! judged (`rate`, `distinct`, `profile`) or how long a value stays known (`new_value`). There is
//! no `condition`: the deviation decides. An anomaly is an incident of the rule (with
//! `vigil.baseline`: kind, field, observed, expected mean and standard deviation or shares,
//! score, whether the peer group judged, the value) and an event for the correlations that
//! reference the rule, at the end of the judged interval (a new value: at its event). Keys of
//! the block (all but `kind` optional; a key not allowed for the kind is an error):
//!
//! | key | kinds | meaning | default |
//! | --- | --- | --- | --- |
//! | `kind` | all | `rate` (events or a field's sum per interval), `new_value` (a value unseen within the window), `distinct` (distinct values per interval), `profile` (shares of a field's values per interval) | required |
//! | `field` | all | the amount (`rate`; omitted: count events), the value or the category | required but for `rate` |
//! | `deviation` | rate, distinct | `z` (threshold on the z-score), `direction` (`high`, `low`, `both`), `seasonality` (`none`, `hour_of_day`, `day_of_week`: a history per hour or weekday, UTC; the interval must divide an hour or a day), `half_life` (intervals after which an observation weighs half), `min_std` (floor of the standard deviation) | `z: 4, direction: high, seasonality: none, half_life: 30, min_std: 1` |
//! | `deviation` | profile | `tvd` (total-variation distance from the usual shares, 0 to 1), `min_events` (events an interval needs to be judged), `half_life` | `tvd: 0.5, min_events: 20, half_life: 30` |
//! | `min_history` | rate, distinct, profile | intervals of the entity's own history before its own verdicts | 10 |
//! | `learn` | new_value | how long an entity learns before its own verdicts | 7d |
//! | `peer_fallback` | all | judge entities still learning against the peer group (all entities of the rule, on every worker) | true |
//! | `max_entities` | all | hard cap on entities per worker; beyond, the least recently seen is evicted (counted) | 100000 |
//! | `ttl` | all | an entity idle this long is forgotten (at least the timespan) | new_value: the window; others: 7d (or 2 intervals) |
//! | `network`, `network6` | new_value, distinct, profile | compare addresses by IPv4 /N and IPv6 /N networks | off (`network: N` sets IPv6 to /64) |
//! | `bucket` | new_value, distinct, profile | compare numbers by multiples of N (`bucket: 100`: HTTP status classes) | off |
//! | `precision` | distinct | HyperLogLog precision, 4 to 16 (2^p bytes once dense) | 10 |
//! | `capacity` | new_value | values remembered per entity (16 bytes each) | 64 |
//! | `max_categories` | profile | categories learned per entity; the rest fold into "other" | 8 |
//!
//! The statistics, their memory per entity and the peer group are documented in
//! [`crate::baseline`]; how they run across workers in [`crate::pipeline::baseline`].

use std::path::Path;

use super::baseline::{self, BaselineSpec};
use super::spec::{describe, parse_timespan, CorrelationKind};
use super::yaml::{Node, Scalar};
use super::RuleError;

/// The top-level attribute holding vigil's extensions.
pub const EXTENSION_KEY: &str = "x-vigil";
pub use super::spec::{ABSENCE_TYPE, BASELINE_TYPE};
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
    /// `baseline`: the per-entity baseline of an `x-vigil-baseline` correlation.
    pub baseline: Option<BaselineSpec>,
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

/// Parses the `x-vigil:` block (`node`) of a correlation of kind `kind` whose `timespan` is
/// `timespan_ms` (0 when missing); errors go to `errors`.
pub fn parse(file: &Path, node: &Node, kind: Option<CorrelationKind>, timespan_ms: i64, errors: &mut Vec<RuleError>) -> Extensions {
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
            "baseline" => {
                if kind.is_some_and(|k| k != CorrelationKind::Baseline) {
                    errors.push(RuleError::new(file, k.line, &path, format!("only allowed on {BASELINE_TYPE} correlations")));
                } else {
                    ext.baseline = baseline::parse(file, v, timespan_ms, errors);
                }
            }
            _ => errors.push(RuleError::new(file, k.line, &path, "unknown vigil extension (expected persistence, suppress, percentile or baseline)")),
        }
    }
    ext
}

fn persistence(file: &Path, v: &Node, path: &str, kind: Option<CorrelationKind>, errors: &mut Vec<RuleError>) -> Option<Persistence> {
    if let Some(k) = kind.filter(|k| matches!(k, CorrelationKind::TemporalOrdered | CorrelationKind::Absence)) {
        errors.push(RuleError::new(file, v.line, path, format!("not allowed on {} correlations (their matches are sequences, not window values)", k.as_str())));
    }
    if kind == Some(CorrelationKind::Baseline) {
        errors.push(RuleError::new(file, v.line, path, format!("not allowed on {BASELINE_TYPE} correlations (the baseline decides per interval)")));
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
