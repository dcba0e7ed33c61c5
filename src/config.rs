//! Where `vigil run` runs: brokers, Kafka client settings, output topics, state directory,
//! metrics address and cluster defaults, read from a TOML file (`config/vigil.toml`) and then
//! overridden by `VIGIL_*` environment variables. What to compute lives in the topology instead.
//!
//! Every section and key is optional (an empty file is the local default) but unknown keys are
//! errors, named with their file, line and dotted field, so a typo never silently falls back to a
//! default. Relative paths in the file resolve against the file's folder, so a config works from
//! any working directory.
//!
//! | variable | overrides |
//! | --- | --- |
//! | `VIGIL_KAFKA_BROKERS` | `kafka.brokers` |
//! | `VIGIL_KAFKA_GROUP_ID` | `kafka.group_id` |
//! | `VIGIL_KAFKA_CLIENT_<NAME>` | `kafka.client."<name>"`, lowercased, `_` becomes `.`; empty removes it |
//! | `VIGIL_TOPIC_INCIDENTS` | `topics.incidents` |
//! | `VIGIL_TOPIC_DEAD_LETTER` | `topics.dead_letter` |
//! | `VIGIL_STATE_DIR` | `state.dir` (relative to the working directory) |
//! | `VIGIL_METRICS_ADDRESS` | `metrics.address`; empty disables the endpoint |

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// Broker list used when neither the file nor the environment names one.
pub const DEFAULT_BROKERS: &str = "localhost:9092";
/// Consumer group used when neither the file nor the environment names one.
pub const DEFAULT_GROUP_ID: &str = "vigil";
/// Default topic for incidents.
pub const DEFAULT_INCIDENTS_TOPIC: &str = "vigil.incidents";
/// Default topic for dead letters (unparsable, late and undeliverable records).
pub const DEFAULT_DEAD_LETTER_TOPIC: &str = "vigil.dead-letter";
/// Default state directory, relative to the config file's folder.
pub const DEFAULT_STATE_DIR: &str = "state";
/// Default Prometheus endpoint (loopback only: exposing it is an explicit choice).
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9464";

/// Shown instead of secret values by [`Config`]'s `Display` and [`ClientProperties`]' `Debug`.
pub const REDACTED: &str = "<redacted>";

/// A configuration that cannot be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema.
    #[error("{}{}: {message}", path.display(), location(*line, field.as_deref()))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the offending text, when known.
        line: Option<usize>,
        /// Dotted path of the offending key (`kafka.brokers`), when known.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// An environment variable is unknown or holds an invalid value.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable's name.
        var: String,
        /// What is wrong.
        message: String,
    },
}

fn location(line: Option<usize>, field: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(line) = line {
        s.push_str(&format!(":{line}"));
    }
    if let Some(field) = field {
        s.push_str(": ");
        s.push_str(field);
    }
    s
}

/// The whole run configuration.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Kafka connection and client settings.
    pub kafka: KafkaConfig,
    /// Output topics.
    pub topics: TopicsConfig,
    /// Where restart points are kept.
    pub state: StateConfig,
    /// Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Cluster defaults; command-line flags win over them.
    pub cluster: ClusterConfig,
}

/// `[kafka]`: where the brokers are and how to talk to them.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    #[serde(deserialize_with = "de_non_empty")]
    pub brokers: String,
    /// Consumer group, used only to commit offsets for lag monitoring (partitions are assigned,
    /// never rebalanced).
    #[serde(deserialize_with = "de_non_empty")]
    pub group_id: String,
    /// `[kafka.client]`: librdkafka properties passed through verbatim (TLS, SASL, tuning).
    pub client: ClientProperties,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig { brokers: DEFAULT_BROKERS.into(), group_id: DEFAULT_GROUP_ID.into(), client: ClientProperties::default() }
    }
}

/// `[topics]`: where vigil writes.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicsConfig {
    /// Incidents, keyed by incident id.
    #[serde(deserialize_with = "de_topic")]
    pub incidents: String,
    /// Records that could not be parsed, arrived late or could not be delivered.
    #[serde(deserialize_with = "de_topic")]
    pub dead_letter: String,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig { incidents: DEFAULT_INCIDENTS_TOPIC.into(), dead_letter: DEFAULT_DEAD_LETTER_TOPIC.into() }
    }
}

/// `[state]`: where `vigil run` keeps its restart points (the resume log beside the commits).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// State directory; after [`Config::load`] a relative path is already resolved against the
    /// config file's folder.
    #[serde(deserialize_with = "de_path")]
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig { dir: PathBuf::from(DEFAULT_STATE_DIR) }
    }
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address to serve `GET /metrics` on; `None` (written `""`) disables the endpoint.
    #[serde(deserialize_with = "de_metrics_address")]
    pub address: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { address: parse_metrics_address(DEFAULT_METRICS_ADDRESS).ok().flatten() }
    }
}

/// `[cluster]`: defaults for the cluster flags, which win over them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Worker threads per process.
    #[serde(deserialize_with = "de_workers")]
    pub workers: Option<usize>,
    /// Hostfile, one `host:port` per process; resolved against the config file's folder.
    #[serde(deserialize_with = "de_opt_path")]
    pub hosts: Option<PathBuf>,
}

/// librdkafka properties by name. Secret values never appear in `Debug` output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientProperties(BTreeMap<String, String>);

impl ClientProperties {
    /// The value of one property.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Sets a property, refusing those that have their own key in `[kafka]`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> Result<(), String> {
        let name = name.into();
        check_property_name(&name)?;
        self.0.insert(name, value.into());
        Ok(())
    }

    /// Removes a property, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// All properties in name order (secrets included: for building clients, not for printing).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn shown(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().map(|(k, v)| (k, if is_secret(k) { REDACTED } else { v }))
    }
}

impl fmt::Debug for ClientProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.shown()).finish()
    }
}

/// True for librdkafka properties whose values must never be printed or logged (passwords,
/// private keys, OAuth secrets and tokens).
pub fn is_secret(name: &str) -> bool {
    const MARKERS: [&str; 7] = ["password", "secret", "key.pem", "ssl_key", "oauthbearer.config", "token", "credential"];
    let name = name.to_ascii_lowercase();
    MARKERS.iter().any(|m| name.contains(m))
}

fn check_property_name(name: &str) -> Result<(), String> {
    match name {
        "" => Err("empty librdkafka property name".into()),
        // Two sources for one setting would make the effective value depend on merge order.
        "bootstrap.servers" | "metadata.broker.list" => Err(format!("set kafka.brokers instead of the librdkafka property {name:?}")),
        "group.id" => Err(format!("set kafka.group_id instead of the librdkafka property {name:?}")),
        _ => Ok(()),
    }
}

impl<'de> Deserialize<'de> for ClientProperties {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PropertiesVisitor)
    }
}

struct PropertiesVisitor;

impl<'de> Visitor<'de> for PropertiesVisitor {
    type Value = ClientProperties;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of librdkafka properties")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut props = ClientProperties::default();
        while let Some(name) = map.next_key::<String>()? {
            let PropertyValue(value) = map.next_value()?;
            props.set(name, value).map_err(de::Error::custom)?;
        }
        Ok(props)
    }
}

/// A librdkafka property value: every property is a string to librdkafka, but TOML users
/// naturally write numbers and booleans unquoted.
struct PropertyValue(String);

impl<'de> Deserialize<'de> for PropertyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PropertyValueVisitor)
    }
}

struct PropertyValueVisitor;

impl Visitor<'_> for PropertyValueVisitor {
    type Value = PropertyValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PropertyValue(v.to_owned()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(PropertyValue(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(PropertyValue(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(PropertyValue(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(PropertyValue(v.to_string()))
    }
}

fn check_non_empty(v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(())
}

/// Kafka's own rule for topic names, checked here so a bad name fails at startup, not at the
/// first incident.
fn check_topic(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 249 || v == "." || v == ".." {
        return Err(format!("invalid topic name {v:?}: 1 to 249 characters, not \".\" or \"..\""));
    }
    if let Some(c) = v.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!("invalid topic name {v:?}: character {c:?} (allowed: ASCII letters, digits, '.', '_', '-')"));
    }
    Ok(())
}

fn parse_metrics_address(v: &str) -> Result<Option<SocketAddr>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| format!("invalid address {v:?}: expected ip:port (e.g. 127.0.0.1:9464, 0.0.0.0:9464), or \"\" to disable"))
}

fn parse_workers(v: usize) -> Result<usize, String> {
    if v == 0 {
        return Err("must be at least 1".into());
    }
    Ok(v)
}

fn de_non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    check_non_empty(&v).map_err(de::Error::custom)?;
    Ok(v)
}

fn de_topic<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    check_topic(&v).map_err(de::Error::custom)?;
    Ok(v)
}

fn de_path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let v = String::deserialize(d)?;
    check_non_empty(&v).map_err(de::Error::custom)?;
    Ok(PathBuf::from(v))
}

fn de_opt_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    de_path(d).map(Some)
}

fn de_metrics_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let v = String::deserialize(d)?;
    parse_metrics_address(&v).map_err(de::Error::custom)
}

fn de_workers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let v = usize::deserialize(d)?;
    parse_workers(v).map(Some).map_err(de::Error::custom)
}

impl Config {
    /// Reads and validates a config file, resolving relative paths against its folder. The
    /// environment is not consulted: see [`Config::apply_env`] and [`Config::load_with_env`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Config::parse(&text, path)
    }

    /// [`Config::load`], then the process's `VIGIL_*` environment variables.
    pub fn load_with_env(path: &Path) -> Result<Config, ConfigError> {
        let mut config = Config::load(path)?;
        // `std::env::vars` panics on a non-UTF-8 variable anywhere in the environment; such a
        // variable cannot be one of ours, so skip it.
        config.apply_env(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))))?;
        Ok(config)
    }

    /// Parses config text; `path` names the file in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        let base = path.parent().unwrap_or(Path::new(""));
        config.state.dir = base.join(&config.state.dir);
        if let Some(hosts) = &mut config.cluster.hosts {
            *hosts = base.join(&*hosts);
        }
        Ok(config)
    }

    /// Applies `VIGIL_*` overrides from `(name, value)` pairs (normally `std::env::vars()`;
    /// tests pass their own). Variables outside vigil's prefixes are ignored; an unknown name
    /// under `VIGIL_KAFKA_`, `VIGIL_TOPIC_`, `VIGIL_STATE_` or `VIGIL_METRICS_` is an error, so a
    /// misspelt override does not go unnoticed. Cluster variables (`VIGIL_WORKERS`, ...) belong
    /// to the command-line parser and are ignored here.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
        // Sorted so that the first error reported does not depend on the environment's order.
        let mut vars: Vec<(String, String)> = vars.into_iter().filter(|(k, _)| is_config_var(k)).collect();
        vars.sort();
        for (var, value) in vars {
            self.apply_var(&var, value).map_err(|message| ConfigError::Env { var, message })?;
        }
        Ok(())
    }

    fn apply_var(&mut self, var: &str, value: String) -> Result<(), String> {
        if let Some(name) = var.strip_prefix("VIGIL_KAFKA_CLIENT_") {
            let name = name.to_ascii_lowercase().replace('_', ".");
            if name.is_empty() {
                return Err("no property name after VIGIL_KAFKA_CLIENT_".into());
            }
            if value.is_empty() {
                check_property_name(&name)?;
                self.kafka.client.remove(&name);
                return Ok(());
            }
            return self.kafka.client.set(name, value);
        }
        match var {
            "VIGIL_KAFKA_BROKERS" => {
                check_non_empty(&value)?;
                self.kafka.brokers = value;
            }
            "VIGIL_KAFKA_GROUP_ID" => {
                check_non_empty(&value)?;
                self.kafka.group_id = value;
            }
            "VIGIL_TOPIC_INCIDENTS" => {
                check_topic(&value)?;
                self.topics.incidents = value;
            }
            "VIGIL_TOPIC_DEAD_LETTER" => {
                check_topic(&value)?;
                self.topics.dead_letter = value;
            }
            "VIGIL_STATE_DIR" => {
                check_non_empty(&value)?;
                self.state.dir = PathBuf::from(value);
            }
            "VIGIL_METRICS_ADDRESS" => self.metrics.address = parse_metrics_address(&value)?,
            _ => {
                return Err("unknown variable; known: VIGIL_KAFKA_BROKERS, VIGIL_KAFKA_GROUP_ID, VIGIL_KAFKA_CLIENT_<PROPERTY>, \
                     VIGIL_TOPIC_INCIDENTS, VIGIL_TOPIC_DEAD_LETTER, VIGIL_STATE_DIR, VIGIL_METRICS_ADDRESS"
                    .into())
            }
        }
        Ok(())
    }

    /// librdkafka settings for any client: `bootstrap.servers` plus the `[kafka.client]`
    /// properties. Producers use it as is.
    pub fn client_config(&self) -> rdkafka::ClientConfig {
        let mut c = rdkafka::ClientConfig::new();
        c.set("bootstrap.servers", &self.kafka.brokers);
        for (k, v) in self.kafka.client.iter() {
            c.set(k, v);
        }
        c
    }

    /// [`Config::client_config`] plus `group.id`, for consumers (set only there because
    /// librdkafka warns when a producer is given a consumer property).
    pub fn consumer_config(&self) -> rdkafka::ClientConfig {
        let mut c = self.client_config();
        c.set("group.id", &self.kafka.group_id);
        c
    }
}

fn is_config_var(name: &str) -> bool {
    ["VIGIL_KAFKA_", "VIGIL_TOPIC_", "VIGIL_STATE_", "VIGIL_METRICS_"].iter().any(|p| name.starts_with(p))
}

/// Turns a toml error into file, line, dotted field and message.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map(|s| text.as_bytes()[..s.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1);
    // toml keeps the key path private but prints it as "in `a.b`" when it has no input to
    // quote, so render a copy without the input to recover it.
    let mut bare = e.clone();
    bare.set_input(None);
    let shown = bare.to_string();
    let mut field: Option<String> = shown.lines().rev().find_map(|l| l.strip_prefix("in `")?.strip_suffix('`')).map(str::to_owned);
    // An unknown key is reported at its parent table; name the key itself.
    if let Some(unknown) = e.message().strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
        field = Some(match field {
            Some(parent) => format!("{parent}.{unknown}"),
            None => unknown.to_owned(),
        });
    }
    ConfigError::Invalid { path: path.to_owned(), line, field, message: e.message().trim_end().to_owned() }
}

/// A TOML basic string, for [`Config`]'s `Display`.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The effective configuration as TOML, secrets replaced by [`REDACTED`]: safe to log.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[kafka]")?;
        writeln!(f, "brokers = {}", quoted(&self.kafka.brokers))?;
        writeln!(f, "group_id = {}", quoted(&self.kafka.group_id))?;
        if !self.kafka.client.is_empty() {
            writeln!(f, "\n[kafka.client]")?;
            for (k, v) in self.kafka.client.shown() {
                writeln!(f, "{} = {}", quoted(k), quoted(v))?;
            }
        }
        writeln!(f, "\n[topics]")?;
        writeln!(f, "incidents = {}", quoted(&self.topics.incidents))?;
        writeln!(f, "dead_letter = {}", quoted(&self.topics.dead_letter))?;
        writeln!(f, "\n[state]")?;
        writeln!(f, "dir = {}", quoted(&self.state.dir.to_string_lossy()))?;
        writeln!(f, "\n[metrics]")?;
        writeln!(f, "address = {}", quoted(&self.metrics.address.map(|a| a.to_string()).unwrap_or_default()))?;
        if self.cluster != ClusterConfig::default() {
            writeln!(f, "\n[cluster]")?;
            if let Some(w) = self.cluster.workers {
                writeln!(f, "workers = {w}")?;
            }
            if let Some(h) = &self.cluster.hosts {
                writeln!(f, "hosts = {}", quoted(&h.to_string_lossy()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[kafka]
brokers = "k1:9092,k2:9092"
group_id = "g"

[kafka.client]
"security.protocol" = "sasl_ssl"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "vigil"
"sasl.password" = "hunter2"
"ssl.key.password" = "s3cret"
"message.max.bytes" = 2000000
"enable.ssl.certificate.verification" = true

[topics]
incidents = "inc"
dead_letter = "dlq"

[state]
dir = "var/state"

[metrics]
address = "0.0.0.0:9000"

[cluster]
workers = 4
hosts = "hosts.txt"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("conf/vigil.toml"))
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn full_file_parses_and_resolves_paths() {
        let c = parse(FULL).unwrap();
        assert_eq!(c.kafka.brokers, "k1:9092,k2:9092");
        assert_eq!(c.kafka.group_id, "g");
        assert_eq!(c.kafka.client.get("message.max.bytes"), Some("2000000"));
        assert_eq!(c.kafka.client.get("enable.ssl.certificate.verification"), Some("true"));
        assert_eq!(c.topics.incidents, "inc");
        assert_eq!(c.topics.dead_letter, "dlq");
        assert_eq!(c.state.dir, Path::new("conf/var/state"));
        assert_eq!(c.metrics.address, Some("0.0.0.0:9000".parse().unwrap()));
        assert_eq!(c.cluster.workers, Some(4));
        assert_eq!(c.cluster.hosts.as_deref(), Some(Path::new("conf/hosts.txt")));
    }

    #[test]
    fn empty_file_is_the_local_default() {
        let c = parse("").unwrap();
        assert_eq!(c.kafka.brokers, DEFAULT_BROKERS);
        assert_eq!(c.kafka.group_id, DEFAULT_GROUP_ID);
        assert!(c.kafka.client.is_empty());
        assert_eq!(c.topics.incidents, DEFAULT_INCIDENTS_TOPIC);
        assert_eq!(c.topics.dead_letter, DEFAULT_DEAD_LETTER_TOPIC);
        assert_eq!(c.state.dir, Path::new("conf/state"));
        assert_eq!(c.metrics.address, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(c.cluster, ClusterConfig::default());
    }

    #[test]
    fn absolute_paths_stay() {
        let c = parse("[state]\ndir = \"/var/lib/vigil\"\n").unwrap();
        assert_eq!(c.state.dir, Path::new("/var/lib/vigil"));
    }

    #[test]
    fn empty_metrics_address_disables_the_endpoint() {
        assert_eq!(parse("[metrics]\naddress = \"\"\n").unwrap().metrics.address, None);
    }

    fn invalid(text: &str) -> (Option<usize>, Option<String>, String, String) {
        match parse(text) {
            Err(e @ ConfigError::Invalid { .. }) => {
                let shown = e.to_string();
                let ConfigError::Invalid { line, field, message, .. } = e else { unreachable!() };
                (line, field, message, shown)
            }
            other => panic!("expected an invalid-config error, got {other:?}"),
        }
    }

    #[test]
    fn unknown_key_is_named_with_line_and_dotted_field() {
        let (line, field, message, shown) = invalid("[kafka]\nbrokers = \"x:1\"\nbrokr = \"y\"\n");
        assert_eq!(line, Some(3));
        assert_eq!(field.as_deref(), Some("kafka.brokr"));
        assert!(message.contains("unknown field `brokr`"), "{message}");
        assert!(shown.starts_with("conf/vigil.toml:3: kafka.brokr: unknown field"), "{shown}");
    }

    #[test]
    fn unknown_section_is_named() {
        let (line, field, _, _) = invalid("[kafka]\n\n[kafak]\nbrokers = \"x\"\n");
        assert_eq!(line, Some(3));
        assert_eq!(field.as_deref(), Some("kafak"));
    }

    #[test]
    fn wrong_type_is_named() {
        let (line, field, _, shown) = invalid("[topics]\nincidents = \"i\"\ndead_letter = 5\n");
        assert_eq!(line, Some(3));
        assert_eq!(field.as_deref(), Some("topics.dead_letter"));
        assert!(shown.starts_with("conf/vigil.toml:3: topics.dead_letter: "), "{shown}");
    }

    #[test]
    fn invalid_values_are_named() {
        let (line, field, message, _) = invalid("[metrics]\naddress = \"localhost\"\n");
        assert_eq!((line, field.as_deref()), (Some(2), Some("metrics.address")));
        assert!(message.contains("expected ip:port"), "{message}");

        let (line, field, _, _) = invalid("\n[cluster]\nworkers = 0\n");
        assert_eq!((line, field.as_deref()), (Some(3), Some("cluster.workers")));

        let (line, field, message, _) = invalid("[topics]\nincidents = \"bad topic\"\n");
        assert_eq!((line, field.as_deref()), (Some(2), Some("topics.incidents")));
        assert!(message.contains("invalid topic name"), "{message}");

        let (line, field, _, _) = invalid("[kafka]\nbrokers = \"\"\n");
        assert_eq!((line, field.as_deref()), (Some(2), Some("kafka.brokers")));

        let (_, _, message, _) = invalid("[kafka.client]\n\"bootstrap.servers\" = \"x:1\"\n");
        assert!(message.contains("set kafka.brokers instead"), "{message}");

        let (line, field, message, _) = invalid("[kafka.client]\n\"a\" = \"b\"\n\"linger.ms\" = [1]\n");
        assert_eq!((line, field.as_deref()), (Some(3), Some("kafka.client.linger.ms")));
        assert!(message.contains("a string, number or boolean"), "{message}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let (line, field, _, shown) = invalid("[kafka]\nbrokers = \"x\"\ngroup_id = \n");
        assert_eq!(line, Some(3));
        assert_eq!(field, None);
        assert!(shown.starts_with("conf/vigil.toml:3: "), "{shown}");
    }

    #[test]
    fn missing_file_names_the_file() {
        let e = Config::load(Path::new("/no/such/vigil.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        assert!(e.to_string().starts_with("cannot read /no/such/vigil.toml: "), "{e}");
    }

    #[test]
    fn load_reads_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigil.toml");
        std::fs::write(&path, "[topics]\nincidents = \"x\"\n").unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.topics.incidents, "x");
        assert_eq!(c.state.dir, dir.path().join("state"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut c = parse(FULL).unwrap();
        c.apply_env(env(&[
            ("VIGIL_KAFKA_BROKERS", "e:1"),
            ("VIGIL_KAFKA_GROUP_ID", "eg"),
            ("VIGIL_TOPIC_INCIDENTS", "e.inc"),
            ("VIGIL_TOPIC_DEAD_LETTER", "e.dlq"),
            ("VIGIL_STATE_DIR", "rel/state"),
            ("VIGIL_METRICS_ADDRESS", ""),
            ("VIGIL_KAFKA_CLIENT_SASL_PASSWORD", "from-env"),
            ("VIGIL_KAFKA_CLIENT_LINGER_MS", "5"),
            ("VIGIL_KAFKA_CLIENT_MESSAGE_MAX_BYTES", ""),
            ("VIGIL_WORKERS", "8"),
            ("PATH", "/bin"),
        ]))
        .unwrap();
        assert_eq!(c.kafka.brokers, "e:1");
        assert_eq!(c.kafka.group_id, "eg");
        assert_eq!(c.topics.incidents, "e.inc");
        assert_eq!(c.topics.dead_letter, "e.dlq");
        assert_eq!(c.state.dir, Path::new("rel/state"));
        assert_eq!(c.metrics.address, None);
        assert_eq!(c.kafka.client.get("sasl.password"), Some("from-env"));
        assert_eq!(c.kafka.client.get("linger.ms"), Some("5"));
        assert_eq!(c.kafka.client.get("message.max.bytes"), None);
        assert_eq!(c.cluster.workers, Some(4), "cluster variables belong to the CLI");
    }

    #[test]
    fn bad_environment_is_named() {
        let cases = [
            ("VIGIL_KAFKA_BROKER", "x:1", "unknown variable"),
            ("VIGIL_METRICS_ADDRESS", "nope", "expected ip:port"),
            ("VIGIL_TOPIC_INCIDENTS", "a/b", "invalid topic name"),
            ("VIGIL_KAFKA_BROKERS", " ", "must not be empty"),
            ("VIGIL_KAFKA_CLIENT_GROUP_ID", "x", "kafka.group_id"),
            ("VIGIL_KAFKA_CLIENT_", "x", "no property name"),
        ];
        for (var, value, expected) in cases {
            let e = Config::default().apply_env(env(&[(var, value)])).unwrap_err();
            let shown = e.to_string();
            assert!(shown.starts_with(&format!("environment variable {var}: ")), "{shown}");
            assert!(shown.contains(expected), "{var}: {shown}");
        }
    }

    #[test]
    fn client_config_has_brokers_and_properties() {
        let c = parse(FULL).unwrap();
        let cc = c.client_config();
        assert_eq!(cc.get("bootstrap.servers"), Some("k1:9092,k2:9092"));
        assert_eq!(cc.get("sasl.password"), Some("hunter2"));
        assert_eq!(cc.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(cc.get("group.id"), None);
        assert_eq!(c.consumer_config().get("group.id"), Some("g"));
    }

    #[test]
    fn display_and_debug_hide_secrets() {
        let c = parse(FULL).unwrap();
        for shown in [c.to_string(), format!("{c:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains(REDACTED), "{shown}");
            assert!(shown.contains("SCRAM-SHA-512"), "{shown}");
        }
        for name in ["sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem", "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config"] {
            assert!(is_secret(name), "{name}");
        }
        for name in ["sasl.username", "ssl.ca.location", "ssl.certificate.location", "security.protocol"] {
            assert!(!is_secret(name), "{name}");
        }
    }

    #[test]
    fn display_is_valid_toml_that_parses_back() {
        let mut c = parse(FULL).unwrap();
        c.kafka.client.remove("sasl.password");
        c.kafka.client.remove("ssl.key.password");
        let again = Config::parse(&c.to_string(), Path::new("vigil.toml")).unwrap();
        // Paths were already resolved, so they come back unchanged under an empty base.
        assert_eq!(again, c);
    }
}
