//! The `x-vigil.baseline` block of an `x-vigil-baseline` correlation: which per-entity baseline
//! ([`crate::baseline`]) to keep, over which field, and what deviation fires. The syntax and
//! its defaults are documented with examples in [`super::extensions`]; this module reads the
//! block into a [`BaselineSpec`], checking every key as strictly as the rest of the rule (errors
//! name the file, line and field path, such as `x-vigil.baseline.deviation.z`), and builds the
//! library's parameters so that a rule that loads also runs.

use std::path::Path;

use super::spec::{describe, parse_timespan};
use super::yaml::{Node, Scalar};
use super::RuleError;
use crate::baseline::{
    Deviation, Direction, Distinct, DistinctConfig, EntityTable, NewValue, NewValueConfig, Profile, ProfileConfig, Rate, RateConfig, Seasonality, TableConfig,
};

/// The path of the block in messages.
pub const BLOCK: &str = "x-vigil.baseline";

/// Default idle time after which an entity of an interval kind is forgotten: a week (or two
/// intervals, if longer), so that a weekly pattern survives a quiet weekend.
const DEFAULT_TTL_MS: i64 = 7 * 86_400_000;
/// Default learning period of a new-value baseline: a week.
const DEFAULT_LEARN_MS: i64 = 7 * 86_400_000;
/// Default granularity at which a new-value baseline's peer group learns values.
const DEFAULT_PEER_INTERVAL_MS: i64 = 60_000;
/// Most entities a rule may ask for per table.
const MAX_ENTITIES: f64 = 100_000_000.0;

/// Which baseline, with its library parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BaselineKind {
    /// `kind: rate`: events (or a numeric field's sum) per interval.
    Rate(RateConfig),
    /// `kind: new_value`: a value not seen for the entity within the window.
    NewValue(NewValueConfig),
    /// `kind: distinct`: distinct values per interval.
    Distinct(DistinctConfig),
    /// `kind: profile`: the shares of a field's values per interval.
    Profile(ProfileConfig),
}

impl BaselineKind {
    /// The `kind:` word.
    pub fn as_str(&self) -> &'static str {
        match self {
            BaselineKind::Rate(_) => "rate",
            BaselineKind::NewValue(_) => "new_value",
            BaselineKind::Distinct(_) => "distinct",
            BaselineKind::Profile(_) => "profile",
        }
    }
}

/// IP addresses reduced to their network before they are compared (new value, distinct,
/// profile): `network: 24` makes every address of a /24 one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    /// IPv4 prefix length (0 to 32).
    pub v4: u8,
    /// IPv6 prefix length (0 to 128).
    pub v6: u8,
}

/// A parsed, checked `x-vigil.baseline` block.
#[derive(Clone, Debug, PartialEq)]
pub struct BaselineSpec {
    /// The baseline and its parameters.
    pub kind: BaselineKind,
    /// The field measured: the amount (rate, optional: without it each event counts 1), the
    /// value (new value, distinct) or the category (profile).
    pub field: Option<String>,
    /// Addresses reduced to networks.
    pub network: Option<Network>,
    /// Numbers reduced to multiples of this (`bucket: 100` makes HTTP status classes).
    pub bucket: Option<u64>,
    /// Entity limits: cap, idle expiry, peer-group fallback.
    pub table: TableConfig,
    /// Line of the block.
    pub line: usize,
}

/// What a key is allowed on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum On {
    All,
    NewValue,
    Distinct,
    Profile,
    Values,
    Intervals,
}

impl On {
    fn admits(self, kind: &str) -> bool {
        match self {
            On::All => true,
            On::NewValue => kind == "new_value",
            On::Distinct => kind == "distinct",
            On::Profile => kind == "profile",
            On::Values => matches!(kind, "new_value" | "distinct" | "profile"),
            On::Intervals => matches!(kind, "rate" | "distinct" | "profile"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            On::All => "every kind",
            On::NewValue => "new_value",
            On::Distinct => "distinct",
            On::Profile => "profile",
            On::Values => "new_value, distinct and profile",
            On::Intervals => "rate, distinct and profile",
        }
    }
}

const KEYS: &[(&str, On)] = &[
    ("kind", On::All),
    ("field", On::All),
    ("deviation", On::Intervals),
    ("min_history", On::Intervals),
    ("learn", On::NewValue),
    ("peer_fallback", On::All),
    ("max_entities", On::All),
    ("ttl", On::All),
    ("network", On::Values),
    ("network6", On::Values),
    ("bucket", On::Values),
    ("precision", On::Distinct),
    ("capacity", On::NewValue),
    ("max_categories", On::Profile),
];

const SERIES_DEVIATION: &[&str] = &["z", "direction", "seasonality", "half_life", "min_std"];
const PROFILE_DEVIATION: &[&str] = &["tvd", "half_life", "min_events"];

struct Reader<'a> {
    file: &'a Path,
    errors: &'a mut Vec<RuleError>,
}

impl Reader<'_> {
    fn err(&mut self, line: usize, path: &str, msg: impl Into<String>) {
        self.errors.push(RuleError::new(self.file, line, path, msg));
    }

    /// A number in `range` (integer when `integer`), or an error naming what was expected.
    fn number(&mut self, v: &Node, path: &str, range: (f64, f64), integer: bool, what: &str) -> Option<f64> {
        match v.scalar() {
            Some(Scalar::Number(x, _)) if x.is_finite() && x >= range.0 && x <= range.1 && (!integer || x.fract() == 0.0) => Some(x),
            _ => {
                self.err(v.line, path, format!("must be {what}, found {}", describe(v)));
                None
            }
        }
    }

    fn positive(&mut self, v: &Node, path: &str) -> Option<f64> {
        match v.scalar() {
            Some(Scalar::Number(x, _)) if x.is_finite() && x > 0.0 => Some(x),
            _ => {
                self.err(v.line, path, format!("must be a positive number, found {}", describe(v)));
                None
            }
        }
    }

    fn timespan(&mut self, v: &Node, path: &str) -> Option<i64> {
        parse_timespan(v).map_err(|m| self.err(v.line, path, m)).ok()
    }

    fn word<T: Copy>(&mut self, v: &Node, path: &str, words: &[(&str, T)]) -> Option<T> {
        let found = v.as_str().and_then(|s| words.iter().find(|(w, _)| *w == s));
        if found.is_none() {
            let all: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
            self.err(v.line, path, format!("must be one of {}, found {}", all.join(", "), describe(v)));
        }
        found.map(|(_, t)| *t)
    }
}

/// Parses the `baseline` block (`node`) of an `x-vigil-baseline` correlation whose `timespan` is
/// `timespan_ms` (0 when it is missing or wrong: then only the block's own keys are checked).
/// Errors go to `errors`; `None` when there is any.
pub fn parse(file: &Path, node: &Node, timespan_ms: i64, errors: &mut Vec<RuleError>) -> Option<BaselineSpec> {
    let before = errors.len();
    let mut r = Reader { file, errors };
    let Some(entries) = node.as_map() else {
        r.err(node.line, BLOCK, format!("must be a mapping like {{kind: rate}}, found {}", node.kind_name()));
        return None;
    };
    let get = |key: &str| entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v);
    let kind = match get("kind") {
        None => {
            r.err(node.line, &format!("{BLOCK}.kind"), "missing required key (rate, new_value, distinct or profile)");
            None
        }
        Some(v) => r.word(v, &format!("{BLOCK}.kind"), &[("rate", "rate"), ("new_value", "new_value"), ("distinct", "distinct"), ("profile", "profile")]),
    };
    for (k, _) in entries {
        let key = k.as_str().unwrap_or("");
        let path = format!("{BLOCK}.{key}");
        match KEYS.iter().find(|(name, _)| *name == key) {
            None => {
                let all: Vec<&str> = KEYS.iter().map(|(n, _)| *n).collect();
                r.err(k.line, &path, format!("unknown key (expected {})", all.join(", ")));
            }
            Some((_, on)) => {
                if let Some(kind) = kind {
                    if !on.admits(kind) {
                        let hint = match (key, kind) {
                            ("min_history", "new_value") => " (a new-value baseline learns for a time: use learn)",
                            ("learn", _) => " (an interval baseline learns for a number of intervals: use min_history)",
                            ("deviation", "new_value") => " (a new value fires when it is first seen: there is no threshold)",
                            _ => "",
                        };
                        r.err(k.line, &path, format!("not allowed on kind {kind} (only on {}){hint}", on.describe()));
                    }
                }
            }
        }
    }
    let kind = kind?;

    let field = match get("field") {
        Some(v) => match v.scalar() {
            Some(Scalar::Str(s)) if !s.is_empty() => Some(s.to_string()),
            _ => {
                r.err(v.line, &format!("{BLOCK}.field"), format!("must be a field name, found {}", describe(v)));
                None
            }
        },
        None => {
            if kind != "rate" {
                r.err(node.line, &format!("{BLOCK}.field"), format!("missing: kind {kind} needs the field whose values it learns"));
            }
            None
        }
    };

    let mut dev = Deviation::default();
    let mut profile = ProfileConfig { interval_ms: timespan_ms.max(1), ..ProfileConfig::default() };
    if let Some(d) = get("deviation").filter(|_| kind != "new_value") {
        let path = format!("{BLOCK}.deviation");
        match d.as_map() {
            None => r.err(d.line, &path, format!("must be a mapping like {{z: 4}}, found {}", d.kind_name())),
            Some(items) => {
                let allowed = if kind == "profile" { PROFILE_DEVIATION } else { SERIES_DEVIATION };
                for (k, v) in items {
                    let key = k.as_str().unwrap_or("");
                    let p = format!("{path}.{key}");
                    match key {
                        "z" if kind != "profile" => dev.threshold = r.positive(v, &p).unwrap_or(dev.threshold),
                        "min_std" if kind != "profile" => dev.min_std = r.positive(v, &p).unwrap_or(dev.min_std),
                        "half_life" => {
                            let h = r.positive(v, &p);
                            dev.half_life = h.unwrap_or(dev.half_life);
                            profile.half_life = h.unwrap_or(profile.half_life);
                        }
                        "direction" if kind != "profile" => {
                            dev.direction =
                                r.word(v, &p, &[("high", Direction::High), ("low", Direction::Low), ("both", Direction::Both)]).unwrap_or(dev.direction)
                        }
                        "seasonality" if kind != "profile" => {
                            let words = [("none", Seasonality::None), ("hour_of_day", Seasonality::HourOfDay), ("day_of_week", Seasonality::DayOfWeek)];
                            dev.seasonality = r.word(v, &p, &words).unwrap_or(dev.seasonality);
                        }
                        "tvd" if kind == "profile" => {
                            profile.threshold = r.number(v, &p, (f64::MIN_POSITIVE, 1.0), false, "a share distance in (0, 1]").unwrap_or(profile.threshold)
                        }
                        "min_events" if kind == "profile" => {
                            profile.min_events = r.number(v, &p, (1.0, u32::MAX as f64), true, "a positive integer").map_or(profile.min_events, |x| x as u32)
                        }
                        _ => r.err(k.line, &p, format!("unknown key for kind {kind} (expected {})", allowed.join(", "))),
                    }
                }
            }
        }
    }
    if let Some(v) = get("min_history").filter(|_| kind != "new_value") {
        if let Some(n) = r.number(v, &format!("{BLOCK}.min_history"), (0.0, 1_000_000.0), true, "an integer from 0 to 1000000 (intervals)") {
            dev.min_history = n as u32;
            profile.min_history = n as u32;
        }
    }

    let mut table = TableConfig::default();
    if let Some(v) = get("peer_fallback") {
        match v.scalar() {
            Some(Scalar::Bool(b)) => table.peer_fallback = b,
            _ => r.err(v.line, &format!("{BLOCK}.peer_fallback"), format!("must be true or false, found {}", describe(v))),
        }
    }
    if let Some(v) = get("max_entities") {
        if let Some(n) = r.number(v, &format!("{BLOCK}.max_entities"), (1.0, MAX_ENTITIES), true, "an integer from 1 to 100000000") {
            table.max_entities = n as usize;
        }
    }
    let learn_ms = match get("learn").filter(|_| kind == "new_value") {
        Some(v) => r.timespan(v, &format!("{BLOCK}.learn")),
        None => Some(DEFAULT_LEARN_MS),
    };
    // An entity idle past the TTL starts over: a new-value entity keeps its whole window, an
    // interval entity a week (or two intervals).
    table.ttl_ms = if kind == "new_value" { timespan_ms } else { DEFAULT_TTL_MS.max(timespan_ms.saturating_mul(2)) };
    if let Some(v) = get("ttl") {
        let path = format!("{BLOCK}.ttl");
        if let Some(ttl) = r.timespan(v, &path) {
            if timespan_ms > 0 && ttl < timespan_ms {
                r.err(v.line, &path, "must be at least the correlation's timespan (an entity must live through one interval or window)");
            }
            table.ttl_ms = ttl;
        }
    }

    let mut network = None;
    if let Some(v) = get("network") {
        if let Some(n) = r.number(v, &format!("{BLOCK}.network"), (0.0, 32.0), true, "an IPv4 prefix length from 0 to 32") {
            network = Some(Network { v4: n as u8, v6: 64 });
        }
    }
    if let Some(v) = get("network6") {
        if let Some(n) = r.number(v, &format!("{BLOCK}.network6"), (0.0, 128.0), true, "an IPv6 prefix length from 0 to 128") {
            network = Some(Network { v4: network.map_or(32, |n| n.v4), v6: n as u8 });
        }
    }
    let bucket = match get("bucket") {
        Some(v) => r.number(v, &format!("{BLOCK}.bucket"), (1.0, 9.007_199_254_740_992e15), true, "a positive integer").map(|x| x as u64),
        None => None,
    };
    let precision = match get("precision").filter(|_| kind == "distinct") {
        Some(v) => r.number(v, &format!("{BLOCK}.precision"), (4.0, 16.0), true, "an integer from 4 to 16").map_or(10, |x| x as u8),
        None => DistinctConfig::default().precision,
    };
    let capacity = match get("capacity").filter(|_| kind == "new_value") {
        Some(v) => r.number(v, &format!("{BLOCK}.capacity"), (1.0, 4096.0), true, "an integer from 1 to 4096").map_or(64, |x| x as usize),
        None => NewValueConfig::default().capacity,
    };
    if let Some(v) = get("max_categories").filter(|_| kind == "profile") {
        if let Some(n) = r.number(v, &format!("{BLOCK}.max_categories"), (1.0, 64.0), true, "an integer from 1 to 64") {
            profile.max_categories = n as usize;
        }
    }

    if r.errors.len() > before || timespan_ms <= 0 {
        return None;
    }
    let kind = match kind {
        "rate" => BaselineKind::Rate(RateConfig { interval_ms: timespan_ms, deviation: dev }),
        "distinct" => BaselineKind::Distinct(DistinctConfig { interval_ms: timespan_ms, precision, deviation: dev }),
        "profile" => BaselineKind::Profile(profile),
        _ => BaselineKind::NewValue(NewValueConfig {
            window_ms: timespan_ms,
            learn_ms: learn_ms.unwrap_or(DEFAULT_LEARN_MS),
            capacity,
            peer_interval_ms: DEFAULT_PEER_INTERVAL_MS.min(timespan_ms),
            ..NewValueConfig::default()
        }),
    };
    let spec = BaselineSpec { kind, field, network, bucket, table, line: node.line };
    // The library checks what is left (a seasonal bucket the interval does not divide, say).
    if let Err(e) = spec.check() {
        r.err(node.line, BLOCK, format!("{e} (with correlation.timespan as the interval)"));
        return None;
    }
    Some(spec)
}

impl BaselineSpec {
    /// Builds the library's table once, so that a rule that loads also runs.
    pub fn check(&self) -> Result<(), crate::baseline::BaselineError> {
        let t = self.table;
        match self.kind {
            BaselineKind::Rate(c) => EntityTable::new(Rate::new(c)?, t).map(drop),
            BaselineKind::NewValue(c) => EntityTable::new(NewValue::new(c)?, t).map(drop),
            BaselineKind::Distinct(c) => EntityTable::new(Distinct::new(c)?, t).map(drop),
            BaselineKind::Profile(c) => EntityTable::new(Profile::new(c)?, t).map(drop),
        }
    }

    /// The interval (rate, distinct, profile) or history window (new value) in ms.
    pub fn span_ms(&self) -> i64 {
        match self.kind {
            BaselineKind::Rate(c) => c.interval_ms,
            BaselineKind::NewValue(c) => c.window_ms,
            BaselineKind::Distinct(c) => c.interval_ms,
            BaselineKind::Profile(c) => c.interval_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::rules::extensions::BASELINE_TYPE;
    use crate::rules::{CompileOptions, RuleSet};

    use super::*;

    const DETECTION: &str =
        "title: Login\nname: login\nlogsource: {product: linux, service: auth}\ndetection:\n  sel:\n    event.outcome: success\n  condition: sel\n---\n";

    fn load(correlation: &str) -> Result<RuleSet, Vec<RuleError>> {
        RuleSet::from_str(Path::new("b.yml"), &format!("{DETECTION}{correlation}"), &CompileOptions::default())
    }

    fn errors(correlation: &str) -> Vec<String> {
        match load(correlation) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(|e| format!("{}: {}: {}", e.line, e.field_path, e.message)).collect(),
        }
    }

    fn rule(timespan: &str, block: &str) -> String {
        format!("title: B\ncorrelation:\n  type: {BASELINE_TYPE}\n  rules: [login]\n  group-by: [user.name]\n  timespan: {timespan}\nx-vigil:\n  baseline:\n{block}")
    }

    #[test]
    fn full_blocks_load_with_their_parameters() {
        let set = load(&rule(
            "30d",
            "    kind: new_value\n    field: source.ip\n    network: 24\n    learn: 3d\n    capacity: 16\n    max_entities: 5000\n    peer_fallback: false\n",
        ))
        .unwrap();
        let b = set.correlation_specs[0].extensions.baseline.clone().unwrap();
        let BaselineKind::NewValue(c) = b.kind else { panic!("{b:?}") };
        assert_eq!((c.window_ms, c.learn_ms, c.capacity), (30 * 86_400_000, 3 * 86_400_000, 16));
        assert_eq!(b.network, Some(Network { v4: 24, v6: 64 }));
        assert_eq!((b.table.max_entities, b.table.peer_fallback, b.table.ttl_ms), (5000, false, 30 * 86_400_000));
        assert_eq!(b.field.as_deref(), Some("source.ip"));

        let set = load(&rule(
            "1h",
            "    kind: rate\n    deviation: {z: 3, direction: both, seasonality: hour_of_day, half_life: 7, min_std: 2}\n    min_history: 48\n    ttl: 14d\n",
        ))
        .unwrap();
        let b = set.correlation_specs[0].extensions.baseline.clone().unwrap();
        let BaselineKind::Rate(c) = b.kind else { panic!("{b:?}") };
        assert_eq!(c.interval_ms, 3_600_000);
        assert_eq!(
            c.deviation,
            Deviation { half_life: 7.0, min_history: 48, threshold: 3.0, min_std: 2.0, direction: Direction::Both, seasonality: Seasonality::HourOfDay }
        );
        assert_eq!((b.table.ttl_ms, b.table.peer_fallback, b.field), (14 * 86_400_000, true, None));

        let set = load(&rule(
            "1h",
            "    kind: profile\n    field: http.response.status_code\n    bucket: 100\n    deviation: {tvd: 0.4, min_events: 30}\n    max_categories: 6\n",
        ))
        .unwrap();
        let b = set.correlation_specs[0].extensions.baseline.clone().unwrap();
        let BaselineKind::Profile(c) = b.kind else { panic!("{b:?}") };
        assert_eq!((c.interval_ms, c.threshold, c.min_events, c.max_categories, c.min_history), (3_600_000, 0.4, 30, 6, 10));
        assert_eq!(b.bucket, Some(100));

        let set = load(&rule("10m", "    kind: distinct\n    field: destination.port\n    precision: 8\n    min_history: 12\n")).unwrap();
        let b = set.correlation_specs[0].extensions.baseline.clone().unwrap();
        assert!(matches!(b.kind, BaselineKind::Distinct(DistinctConfig { interval_ms: 600_000, precision: 8, .. })));
    }

    #[test]
    fn every_mistake_names_its_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("1h", "    field: x\n", "x-vigil.baseline.kind: missing required key"),
            ("1h", "    kind: ewma\n", "x-vigil.baseline.kind: must be one of rate, new_value, distinct, profile"),
            ("1h", "    kind: rate\n    windw: 1h\n", "x-vigil.baseline.windw: unknown key"),
            ("1h", "    kind: distinct\n", "x-vigil.baseline.field: missing: kind distinct needs the field"),
            ("1h", "    kind: new_value\n    field: a\n    min_history: 3\n", "x-vigil.baseline.min_history: not allowed on kind new_value"),
            ("1h", "    kind: rate\n    learn: 7d\n", "x-vigil.baseline.learn: not allowed on kind rate"),
            ("1h", "    kind: new_value\n    field: a\n    deviation: {z: 3}\n", "x-vigil.baseline.deviation: not allowed on kind new_value"),
            ("1h", "    kind: rate\n    deviation: {z: -1}\n", "x-vigil.baseline.deviation.z: must be a positive number"),
            ("1h", "    kind: rate\n    deviation: {tvd: 0.5}\n", "x-vigil.baseline.deviation.tvd: unknown key for kind rate"),
            ("1h", "    kind: profile\n    field: a\n    deviation: {tvd: 1.5}\n", "x-vigil.baseline.deviation.tvd: must be a share distance"),
            ("1h", "    kind: rate\n    deviation: {direction: up}\n", "x-vigil.baseline.deviation.direction: must be one of high, low, both"),
            ("1h", "    kind: rate\n    min_history: 2.5\n", "x-vigil.baseline.min_history: must be an integer"),
            ("1h", "    kind: rate\n    ttl: 30m\n", "x-vigil.baseline.ttl: must be at least the correlation's timespan"),
            ("1h", "    kind: rate\n    ttl: 1month\n", "x-vigil.baseline.ttl: must be a positive integer"),
            ("1h", "    kind: rate\n    network: 24\n", "x-vigil.baseline.network: not allowed on kind rate"),
            ("1h", "    kind: new_value\n    field: a\n    network: 33\n", "x-vigil.baseline.network: must be an IPv4 prefix length"),
            ("1h", "    kind: rate\n    peer_fallback: yes please\n", "x-vigil.baseline.peer_fallback: must be true or false"),
            ("1h", "    kind: rate\n    max_entities: 0\n", "x-vigil.baseline.max_entities: must be an integer from 1"),
            ("7m", "    kind: rate\n    deviation: {seasonality: hour_of_day}\n", "x-vigil.baseline: baseline parameter interval_ms must be a divisor"),
            ("1h", "  - kind: rate\n", "x-vigil.baseline: must be a mapping"),
        ];
        for (timespan, block, want) in cases {
            let got = errors(&rule(timespan, block));
            assert!(got.iter().any(|e| e.contains(want)), "{block:?}: want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn the_type_and_the_block_go_together() {
        let no_block = format!("title: B\ncorrelation:\n  type: {BASELINE_TYPE}\n  rules: [login]\n  group-by: [user.name]\n  timespan: 1h\n");
        assert!(errors(&no_block).iter().any(|e| e.contains("correlation.type: x-vigil-baseline needs an x-vigil.baseline block")), "{:?}", errors(&no_block));
        let with_condition = rule("1h", "    kind: rate\n").replace("  timespan: 1h\n", "  timespan: 1h\n  condition: {gte: 3}\n");
        assert!(errors(&with_condition).iter().any(|e| e.contains("correlation.condition: not allowed on x-vigil-baseline")), "{:?}", errors(&with_condition));
        let on_count =
            "title: C\ncorrelation:\n  type: event_count\n  rules: [login]\n  timespan: 1h\n  condition: {gte: 3}\nx-vigil:\n  baseline:\n    kind: rate\n";
        assert!(errors(on_count).iter().any(|e| e.contains("x-vigil.baseline: only allowed on x-vigil-baseline correlations")), "{:?}", errors(on_count));
        let persist = rule("1h", "    kind: rate\n  persistence: {windows: 3}\n");
        assert!(errors(&persist).iter().any(|e| e.contains("x-vigil.persistence: not allowed on x-vigil-baseline")), "{:?}", errors(&persist));
        let suppress = rule("1h", "    kind: rate\n  suppress: {for: 1d}\n");
        assert_eq!(errors(&suppress), Vec::<String>::new());
    }
}
