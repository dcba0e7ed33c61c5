//! docker-compose.yml checked against the repository, because no container engine runs where the
//! tests do: the files it names exist and go into the image, the hostfile matches the services,
//! every `vigil` subcommand and flag is one the real binary accepts, the brokers are the kafka
//! service's advertised listener, and every topic anyone reads or writes is created.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use vigil::config::Config;
use vigil::rules::yaml::{load_documents, Node, NodeKind};

type Map = BTreeMap<String, Node>;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

fn load_yaml(rel: &str) -> Node {
    let text = read(rel);
    let mut docs = load_documents(&text).unwrap_or_else(|e| panic!("{rel}:{}: {}", e.line, e.message));
    assert_eq!(docs.len(), 1, "{rel}: expected one YAML document");
    docs.remove(0)
}

/// A mapping's entries with YAML merge keys (`<<: *anchor`) applied, as Compose does: explicit
/// keys win over merged ones.
fn entries(node: &Node) -> Map {
    let mut out = Map::new();
    let Some(pairs) = node.as_map() else { panic!("line {}: expected a mapping, found {}", node.line, node.kind_name()) };
    for (k, v) in pairs {
        if k.as_str() == Some("<<") {
            let sources: Vec<&Node> = match &v.kind {
                NodeKind::Seq(items) => items.iter().collect(),
                _ => vec![v],
            };
            for source in sources {
                for (mk, mv) in entries(source) {
                    out.entry(mk).or_insert(mv);
                }
            }
        }
    }
    for (k, v) in pairs {
        let key = k.as_str().unwrap_or_else(|| panic!("line {}: non-scalar key", k.line));
        if key != "<<" {
            out.insert(key.to_owned(), v.clone());
        }
    }
    out
}

fn text(node: &Node) -> &str {
    node.as_str().unwrap_or_else(|| panic!("line {}: expected a scalar, found {}", node.line, node.kind_name()))
}

fn strings(node: &Node) -> Vec<String> {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().map(|i| text(i).to_owned()).collect(),
        NodeKind::Scalar { text, .. } => text.split_whitespace().map(str::to_owned).collect(),
        NodeKind::Map(_) => panic!("line {}: expected a list or a string", node.line),
    }
}

/// Compose services by name, merge keys applied.
fn services() -> BTreeMap<String, Map> {
    let root = entries(&load_yaml("docker-compose.yml"));
    let services = root.get("services").expect("docker-compose.yml has services");
    entries(services).into_iter().map(|(name, svc)| (name, entries(&svc))).collect()
}

fn command(svc: &Map) -> Vec<String> {
    svc.get("command").map(strings).unwrap_or_default()
}

/// The services that run the vigil image (built here, or the image a built service tags).
fn vigil_services(all: &BTreeMap<String, Map>) -> BTreeMap<String, Map> {
    let built: BTreeSet<&str> = all.values().filter(|s| s.contains_key("build")).filter_map(|s| s.get("image").and_then(Node::as_str)).collect();
    all.iter()
        .filter(|(_, s)| s.contains_key("build") || s.get("image").and_then(Node::as_str).is_some_and(|i| built.contains(i)))
        .map(|(n, s)| (n.clone(), s.clone()))
        .collect()
}

/// The services running `vigil run`.
fn cluster_services(all: &BTreeMap<String, Map>) -> BTreeMap<String, Map> {
    vigil_services(all).into_iter().filter(|(_, s)| command(s).first().map(String::as_str) == Some("run")).collect()
}

/// The value following `flag` (`--flag value` or `--flag=value`) in a command.
fn flag_values(cmd: &[String], flag: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, arg) in cmd.iter().enumerate() {
        if arg == flag {
            out.push(cmd.get(i + 1).unwrap_or_else(|| panic!("{flag} without a value in {cmd:?}")).clone());
        } else if let Some(v) = arg.strip_prefix(&format!("{flag}=")) {
            out.push(v.to_owned());
        }
    }
    out
}

fn flag_value(cmd: &[String], flag: &str) -> String {
    let values = flag_values(cmd, flag);
    assert_eq!(values.len(), 1, "expected one {flag} in {cmd:?}");
    values[0].clone()
}

/// The service's environment as a map (Compose accepts a mapping or a list of `K=V`).
fn environment(svc: &Map) -> BTreeMap<String, String> {
    match svc.get("environment") {
        None => BTreeMap::new(),
        Some(node @ Node { kind: NodeKind::Seq(_), .. }) => {
            strings(node).into_iter().filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect()
        }
        Some(node) => entries(node).into_iter().map(|(k, v)| (k, text(&v).to_owned())).collect(),
    }
}

/// `(host port, container port)` of each published port.
fn published_ports(svc: &Map) -> Vec<(u16, u16)> {
    svc.get("ports")
        .map(strings)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let parts: Vec<&str> = p.split(':').collect();
            let port = |s: &str| s.parse::<u16>().unwrap_or_else(|_| panic!("bad port mapping {p:?}"));
            match parts.as_slice() {
                [host, container] => (port(host), port(container)),
                [_ip, host, container] => (port(host), port(container)),
                _ => panic!("expected host:container in port mapping {p:?}"),
            }
        })
        .collect()
}

fn compose_config() -> Config {
    Config::load(&repo().join("config/vigil.compose.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn split_host_port(addr: &str) -> (&str, u16) {
    let (host, port) = addr.rsplit_once(':').unwrap_or_else(|| panic!("{addr:?} is not host:port"));
    (host, port.parse().unwrap_or_else(|_| panic!("{addr:?}: bad port")))
}

/// Sources copied into the Dockerfile's final stage (`COPY src... dst`, not `--from`).
fn copied_into_runtime_image() -> Vec<String> {
    let dockerfile = read("Dockerfile");
    let last_stage = dockerfile.rsplit_once("\nFROM ").map(|(_, s)| s).expect("a multi-stage Dockerfile");
    let mut out = Vec::new();
    for line in last_stage.lines() {
        let Some(rest) = line.trim().strip_prefix("COPY ") else { continue };
        let args: Vec<&str> = rest.split_whitespace().collect();
        if args.iter().any(|a| a.starts_with("--from")) {
            continue;
        }
        let srcs = &args[..args.len().saturating_sub(1)];
        out.extend(srcs.iter().filter(|a| !a.starts_with("--")).map(|s| s.trim_end_matches('/').to_owned()));
    }
    out
}

#[test]
fn referenced_files_exist_and_go_into_the_image() {
    let all = services();
    for (name, svc) in vigil_services(&all) {
        if let Some(build) = svc.get("build") {
            let (context, dockerfile) = match &build.kind {
                NodeKind::Scalar { text, .. } => (text.clone(), "Dockerfile".to_owned()),
                _ => {
                    let b = entries(build);
                    (
                        b.get("context").map(|n| text(n).to_owned()).unwrap_or(".".into()),
                        b.get("dockerfile").map(|n| text(n).to_owned()).unwrap_or("Dockerfile".into()),
                    )
                }
            };
            let path = repo().join(&context).join(&dockerfile);
            assert!(path.is_file(), "service {name}: {} does not exist", path.display());
        }
    }
    let copied = copied_into_runtime_image();
    assert!(!copied.is_empty(), "the Dockerfile's final stage copies no files");
    let mut checked = 0;
    for (name, svc) in vigil_services(&all) {
        let cmd = command(&svc);
        for flag in ["--config", "--topology", "--hosts"] {
            for rel in flag_values(&cmd, flag) {
                assert!(Path::new(&rel).is_relative(), "service {name}: {flag} {rel}: use a path relative to the image's working directory");
                assert!(repo().join(&rel).is_file(), "service {name}: {flag} {rel} does not exist in the repository");
                assert!(
                    copied.iter().any(|c| rel == *c || rel.starts_with(&format!("{c}/"))),
                    "service {name}: {flag} {rel} is not copied into the image (COPY sources: {copied:?})"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 9, "expected --config, --topology and --hosts on three vigil services, checked {checked}");
}

/// `"1.88"` or `"1.88.0"` as a comparable (major, minor).
fn rust_version(v: &str) -> (u32, u32) {
    let mut parts = v.trim_matches('"').split('.').map(|p| p.parse::<u32>().unwrap_or_else(|_| panic!("bad Rust version {v:?}")));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The newest `rust-version` among the locked registry dependencies whose sources are in the
/// local cargo registry (they are, after any build), with the crate that asks for it.
fn newest_dependency_msrv() -> Option<((u32, u32), String)> {
    let cargo_home = std::env::var_os("CARGO_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let registries: Vec<PathBuf> = std::fs::read_dir(cargo_home.join("registry/src")).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    let lock = read("Cargo.lock");
    let mut newest: Option<((u32, u32), String)> = None;
    for package in lock.split("[[package]]") {
        let field = |key: &str| package.lines().find_map(|l| l.strip_prefix(&format!("{key} = "))).map(|v| v.trim_matches('"').to_owned());
        let (Some(name), Some(version), Some(_)) = (field("name"), field("version"), field("source")) else { continue };
        let Some(manifest) = registries.iter().map(|r| r.join(format!("{name}-{version}/Cargo.toml"))).find(|p| p.is_file()) else { continue };
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        let Some(msrv) = text.lines().find_map(|l| l.strip_prefix("rust-version = ")).map(rust_version) else { continue };
        if newest.as_ref().is_none_or(|(v, _)| msrv > *v) {
            newest = Some((msrv, format!("{name} {version}")));
        }
    }
    newest
}

#[test]
fn dockerfile_builds_with_a_new_enough_toolchain() {
    let dockerfile = read("Dockerfile");
    let tag = dockerfile.lines().find_map(|l| l.strip_prefix("FROM rust:")).expect("a rust:<version>-bookworm build stage");
    let image = rust_version(tag.split('-').next().unwrap_or(tag));
    let manifest = read("Cargo.toml");
    if let Some(msrv) = manifest.lines().find_map(|l| l.strip_prefix("rust-version = ")).map(rust_version) {
        assert!(image >= msrv, "the build image rust:{tag} is older than the crate's rust-version {msrv:?}");
    }
    // `cargo build --locked` refuses a dependency that needs a newer compiler.
    match newest_dependency_msrv() {
        Some((msrv, krate)) => assert!(image >= msrv, "the build image rust:{tag} is older than {krate}'s rust-version {msrv:?}"),
        None => eprintln!("no cargo registry sources found: dependency rust-versions not checked"),
    }
    assert!(dockerfile.contains("cargo build --release --locked"), "the image must build from Cargo.lock");
    assert!(dockerfile.contains("FROM debian:bookworm-slim"), "runtime image");
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"), ".dockerignore must keep target/ out of the build context");
}

#[test]
fn hostfile_matches_the_cluster_services() {
    let all = services();
    let cluster = cluster_services(&all);
    assert!(!cluster.is_empty(), "no service runs `vigil run`");
    let mut hostfiles = BTreeSet::new();
    let mut indexes = Vec::new();
    for (name, svc) in &cluster {
        let cmd = command(svc);
        let hostfile = flag_value(&cmd, "--hosts");
        hostfiles.insert(hostfile.clone());
        let hosts = vigil::cluster::read_hostfile(&repo().join(&hostfile)).unwrap_or_else(|e| panic!("{e}"));
        let processes: usize = flag_value(&cmd, "--processes").parse().expect("--processes is a number");
        assert_eq!(processes, hosts.len(), "service {name}: --processes {processes} but {hostfile} lists {} hosts", hosts.len());
        assert_eq!(processes, cluster.len(), "--processes {processes} but {} services run `vigil run`", cluster.len());
        let process: usize = flag_value(&cmd, "--process").parse().expect("--process is a number");
        assert!(process < processes, "service {name}: --process {process} out of range");
        indexes.push(process);
        // Other containers resolve a Compose service by its name (not by `hostname:`), and process
        // i listens on line i of the hostfile, so line i must name this very service.
        let (host, _port) = split_host_port(&hosts[process]);
        assert_eq!(host, name, "line {} of {hostfile} is {:?}, but --process {process} runs in service {name}", process + 1, hosts[process]);
        if let Some(hostname) = svc.get("hostname") {
            assert_eq!(text(hostname), name, "service {name}: hostname differs from the service name");
        }
        assert!(svc.get("network_mode").is_none(), "service {name}: cluster traffic needs the default Compose network");
    }
    indexes.sort_unstable();
    assert_eq!(indexes, (0..cluster.len()).collect::<Vec<_>>(), "process indexes must be 0..n-1, each once");
    assert_eq!(hostfiles.len(), 1, "all processes must share one hostfile: {hostfiles:?}");
}

#[test]
fn commands_use_only_subcommands_and_flags_the_binary_accepts() {
    let all = services();
    let mut help_cache: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, svc) in vigil_services(&all) {
        let cmd = command(&svc);
        let Some(sub) = cmd.first() else { continue };
        let help = help_cache.entry(sub.clone()).or_insert_with(|| {
            let out = Command::new(common::vigil_bin()).args([sub.as_str(), "--help"]).output().expect("start vigil");
            if out.status.success() {
                String::from_utf8_lossy(&out.stdout).into_owned()
            } else {
                String::new()
            }
        });
        if help.is_empty() {
            problems.push(format!("service {name}: `vigil {sub} --help` fails: vigil has no `{sub}` subcommand"));
            continue;
        }
        for arg in cmd.iter().filter(|a| a.starts_with("--")) {
            let flag = arg.split('=').next().unwrap_or(arg);
            if !mentions_flag(help, flag) {
                problems.push(format!("service {name}: `vigil {sub}` has no {flag} flag"));
            }
        }
        // Value-enum flags: the value must be one clap lists.
        if sub == "generate" {
            for format in flag_values(&cmd, "--format") {
                if !possible_values(help).contains(&format) {
                    problems.push(format!("service {name}: `vigil generate --format {format}` is not a known format"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "docker-compose.yml uses what vigil does not accept:\n  {}", problems.join("\n  "));
}

/// True when `--flag` appears in help text as a whole option name.
fn mentions_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(i, _)| {
        let next = help[i + flag.len()..].chars().next();
        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// Every value clap lists in help text: `[possible values: a, b]` (short help) or a
/// `Possible values:` block of `- a: doc` lines (long help).
fn possible_values(help: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in help.match_indices("[possible values: ") {
        let rest = &help[i + "[possible values: ".len()..];
        let list = rest.split(']').next().unwrap_or("");
        out.extend(list.split(',').map(|v| v.trim().to_owned()));
    }
    let mut in_block = false;
    for line in help.lines().map(str::trim) {
        if line == "Possible values:" {
            in_block = true;
        } else if let Some(item) = line.strip_prefix("- ").filter(|_| in_block) {
            out.insert(item.split(':').next().unwrap_or(item).trim().to_owned());
        } else {
            in_block = false;
        }
    }
    out
}

/// Checks that `addr` (host:port) is a Compose service's advertised Kafka listener.
fn assert_is_kafka_listener(all: &BTreeMap<String, Map>, addr: &str, used_by: &str) {
    let (host, port) = split_host_port(addr);
    let svc = all.get(host).unwrap_or_else(|| panic!("{used_by}: broker {addr}: no service named {host:?}"));
    let env = environment(svc);
    let advertised = env.get("KAFKA_ADVERTISED_LISTENERS").unwrap_or_else(|| panic!("service {host} has no KAFKA_ADVERTISED_LISTENERS"));
    // A client bootstraps from `addr` and then connects to whatever the broker advertises, so the
    // address must be advertised verbatim, on a listener the broker really opens.
    let listener = advertised
        .split(',')
        .find_map(|l| l.trim().split_once("://").filter(|(_, a)| *a == addr).map(|(n, _)| n.to_owned()))
        .unwrap_or_else(|| panic!("{used_by}: broker {addr} is not among service {host}'s advertised listeners {advertised:?}"));
    let listeners = env.get("KAFKA_LISTENERS").expect("KAFKA_LISTENERS");
    let opened = listeners.split(',').any(|l| l.trim().split_once("://").is_some_and(|(n, a)| n == listener && a.ends_with(&format!(":{port}"))));
    assert!(opened, "{used_by}: listener {listener} is advertised as {addr} but KAFKA_LISTENERS {listeners:?} does not open port {port}");
}

#[test]
fn brokers_name_the_kafka_service() {
    let all = services();
    let config = compose_config();
    for broker in config.kafka.brokers.split(',') {
        assert_is_kafka_listener(&all, broker.trim(), "config/vigil.compose.toml");
    }
    for (name, svc) in vigil_services(&all) {
        for broker in flag_values(&command(&svc), "--kafka") {
            assert_is_kafka_listener(&all, &broker, &format!("service {name}"));
        }
    }
    let topics_script = command(&all["topics"]).join(" ");
    for (i, _) in topics_script.match_indices("--bootstrap-server ") {
        let addr = topics_script[i + "--bootstrap-server ".len()..].split_whitespace().next().unwrap_or("");
        assert_is_kafka_listener(&all, addr, "service topics");
    }
}

#[test]
fn local_config_reaches_the_published_broker() {
    // config/vigil.toml is for a vigil run from the checkout against `docker compose up kafka`.
    let config = Config::load(&repo().join("config/vigil.toml")).unwrap_or_else(|e| panic!("{e}"));
    let all = services();
    let kafka = &all["kafka"];
    let env = environment(kafka);
    for broker in config.kafka.brokers.split(',') {
        let (host, port) = split_host_port(broker.trim());
        assert_eq!(host, "localhost");
        let advertised = env.get("KAFKA_ADVERTISED_LISTENERS").expect("advertised listeners");
        let listener = advertised
            .split(',')
            .find_map(|l| l.trim().split_once("://").filter(|(_, a)| *a == broker).map(|(n, _)| n.to_owned()))
            .unwrap_or_else(|| panic!("{broker} is not advertised by the kafka service: {advertised:?}"));
        let container_port = env["KAFKA_LISTENERS"]
            .split(',')
            .find_map(|l| l.trim().split_once("://").filter(|(n, _)| *n == listener).map(|(_, a)| split_host_port(a).1))
            .expect("the advertised listener is opened");
        assert!(published_ports(kafka).contains(&(port, container_port)), "kafka must publish {port}:{container_port} for {broker}");
    }
}

/// Topic name -> partitions, from the `topics` service's `--topic T --partitions N` commands.
fn created_topics(all: &BTreeMap<String, Map>) -> BTreeMap<String, u32> {
    let script = command(&all["topics"]).join(" ");
    let words: Vec<&str> = script.split_whitespace().collect();
    let mut out = BTreeMap::new();
    for (i, w) in words.iter().enumerate() {
        if *w != "--topic" {
            continue;
        }
        let topic = words.get(i + 1).unwrap_or_else(|| panic!("--topic without a name")).to_string();
        let end = words[i + 1..].iter().position(|w| *w == "--topic").map_or(words.len(), |p| i + 1 + p);
        let partitions = words[i..end].windows(2).find(|w| w[0] == "--partitions").and_then(|w| w[1].parse().ok());
        out.insert(topic.clone(), partitions.unwrap_or_else(|| panic!("topic {topic}: no --partitions")));
    }
    out
}

#[test]
fn every_topic_used_is_created() {
    let all = services();
    let created = created_topics(&all);
    let mut inputs = BTreeSet::new();
    for (name, svc) in vigil_services(&all) {
        for topic in flag_values(&command(&svc), "--topic") {
            assert!(created.contains_key(&topic), "service {name} writes {topic}, which the topics service does not create ({created:?})");
            inputs.insert(topic);
        }
    }
    assert!(!inputs.is_empty(), "no generator writes to Kafka");
    // The topology the cluster runs reads these topics.
    let topology = entries(&load_yaml("topologies/default.yaml"));
    let sources = topology.get("sources").expect("topology sources");
    let NodeKind::Seq(sources) = &sources.kind else { panic!("sources is not a list") };
    for source in sources {
        if let Some(topic) = entries(source).get("topic") {
            let topic = text(topic);
            assert_eq!(created.get(topic), Some(&4), "topologies/default.yaml reads {topic}: create it with 4 partitions");
            assert!(inputs.contains(topic), "no generator writes {topic}, which the topology reads");
        }
    }
    let config = compose_config();
    for topic in [&config.topics.incidents, &config.topics.dead_letter] {
        assert!(created.contains_key(topic), "vigil writes {topic}, which the topics service does not create");
    }
}

#[test]
fn metrics_and_state_are_reachable_per_process() {
    let all = services();
    let config = compose_config();
    let addr: SocketAddr = config.metrics.address.expect("metrics enabled in config/vigil.compose.toml");
    assert!(addr.ip().is_unspecified(), "metrics on {addr} cannot be reached through a published port; listen on 0.0.0.0");
    let state = &config.state.dir;
    assert!(state.is_absolute(), "state dir {} must be absolute inside the container", state.display());
    let root = entries(&load_yaml("docker-compose.yml"));
    let declared: BTreeSet<String> = root.get("volumes").map(|v| entries(v).into_keys().collect()).unwrap_or_default();
    let mut host_ports = BTreeSet::new();
    let mut volumes = BTreeSet::new();
    for (name, svc) in cluster_services(&all) {
        let ports = published_ports(&svc);
        let metrics: Vec<u16> = ports.iter().filter(|(_, c)| *c == addr.port()).map(|(h, _)| *h).collect();
        assert_eq!(metrics.len(), 1, "service {name} must publish the metrics port {}", addr.port());
        assert!(host_ports.insert(metrics[0]), "service {name}: host port {} published twice", metrics[0]);
        let mounts = svc.get("volumes").map(strings).unwrap_or_default();
        let mount = mounts
            .iter()
            .find(|m| m.split(':').nth(1).is_some_and(|t| Path::new(t) == state))
            .unwrap_or_else(|| panic!("service {name} mounts nothing at the state dir {}", state.display()));
        let volume = mount.split(':').next().unwrap_or("").to_owned();
        assert!(declared.contains(&volume), "service {name}: volume {volume} is not declared");
        assert!(volumes.insert(volume.clone()), "service {name}: state volume {volume} is shared with another process");
    }
    assert_eq!(host_ports, BTreeSet::from([9464, 9465, 9466]));
}
