//! Options shared by the subcommands that read logs, and the run plumbing they share:
//! resolving inputs, the progress bar, interruption, and the closing summary.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use vigil::cluster::ClusterArgs;
use vigil::event::time::parse_duration_ms;
use vigil::io::input::{InputOverrides, InputSource, InputSpec};
use vigil::metrics::{RunStats, ERROR_KINDS};
use vigil::parse::{sniff, Format, ParseOptions};
use vigil::pipeline::source::owner_of;
use vigil::pipeline::EngineStats;
use vigil::topology::Topology;

/// How to read the inputs.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Input format; `auto` sniffs each file from its first lines.
    #[arg(short, long, default_value = "auto", value_parser = parse_format_arg)]
    pub format: FormatArg,
    /// Year for syslog timestamps that have none (default: inferred, see the README).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1970..=9999))]
    pub year: Option<i32>,
    /// Allowed lateness per input: records older than the newest seen minus this are late
    /// (counted and sent to the dead-letter output). Examples: 5s, 30s, 5m, 7d.
    /// [default: 5s, or the topology's time.lateness]
    #[arg(long, value_parser = parse_duration_ms)]
    pub lateness: Option<i64>,
    /// JSON field holding the event time, tried before @timestamp, timestamp and ts.
    #[arg(long)]
    pub time_field: Option<String>,
}

/// A `--format` value: a concrete format or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatArg {
    /// Sniff each input.
    Auto,
    /// Use this format for every input.
    Fixed(Format),
}

fn parse_format_arg(s: &str) -> Result<FormatArg, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(FormatArg::Auto);
    }
    <Format as clap::ValueEnum>::from_str(s, true)
        .map(FormatArg::Fixed)
        .map_err(|_| format!("unknown format {s:?}: expected auto, syslog, apache, zeek or json"))
}

impl InputArgs {
    /// Parser settings from the options.
    pub fn parse_options(&self) -> ParseOptions {
        ParseOptions { year: self.year, time_field: self.time_field.clone(), ..ParseOptions::default() }
    }
}

/// Turns file arguments into partitions, checking and sniffing only the ones this process reads.
pub fn resolve_inputs(files: &[String], format: FormatArg, cluster: &ClusterArgs) -> anyhow::Result<Vec<InputSpec>> {
    if files.iter().filter(|f| *f == "-").count() > 1 {
        bail!("stdin (-) can be given only once");
    }
    let peers = cluster.peers();
    let local = cluster.local_workers();
    let mut specs = Vec::with_capacity(files.len());
    for (i, arg) in files.iter().enumerate() {
        let partition = u32::try_from(i).context("too many inputs")?;
        let source = InputSource::from_arg(arg);
        let mine = local.contains(&owner_of(partition, peers));
        let format = match (format, mine) {
            (FormatArg::Fixed(f), _) => f,
            (FormatArg::Auto, false) => Format::Json, // not read here; the owner sniffs it
            (FormatArg::Auto, true) => {
                let sample = source.sample(64 * 1024).with_context(|| format!("cannot read {arg}"))?;
                match sniff(&sample) {
                    Some(f) => f,
                    None if sample.iter().all(u8::is_ascii_whitespace) => Format::Json,
                    None => bail!("cannot tell the format of {arg} from its first lines; pass --format syslog|apache|zeek|json"),
                }
            }
        };
        if mine {
            if let InputSource::Path(p) = &source {
                std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            }
        }
        specs.push(InputSpec { partition, source, format, overrides: Default::default() });
    }
    Ok(specs)
}

/// The inputs a topology names (its sources with a `path`), each with its own format and
/// overrides; partitions follow the sources' order in the file.
pub fn topology_inputs(topology: &Topology, cluster: &ClusterArgs) -> anyhow::Result<Vec<InputSpec>> {
    let (peers, local) = (cluster.peers(), cluster.local_workers());
    let mut specs = Vec::new();
    for source in &topology.sources {
        let Some(path) = &source.path else { continue };
        let partition = u32::try_from(specs.len()).context("too many inputs")?;
        if local.contains(&owner_of(partition, peers)) {
            std::fs::File::open(path).with_context(|| format!("{}: source {:?}: cannot open {}", topology.file.display(), source.name, path.display()))?;
        }
        let overrides = InputOverrides { year: source.year, lateness_ms: source.lateness_ms, time_field: source.time_field.clone() };
        specs.push(InputSpec { partition, source: InputSource::Path(path.clone()), format: source.format, overrides });
    }
    if specs.is_empty() {
        bail!("{}: no source has a path; give the files to read as arguments", topology.file.display());
    }
    Ok(specs)
}

/// Stops reading on Ctrl-C (the run then drains and flushes); a second Ctrl-C exits at once.
pub fn install_interrupt(cancel: Arc<AtomicBool>) {
    let result = ctrlc::set_handler(move || {
        if cancel.swap(true, Relaxed) {
            std::process::exit(130);
        }
        eprintln!("vigil: interrupted, finishing what was read (Ctrl-C again to quit now)");
    });
    if let Err(e) = result {
        tracing::debug!("no interrupt handler: {e}");
    }
}

/// A progress bar on stderr while a run is going, only when stderr is a terminal.
pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts the display; `total_bytes` is the size of the inputs this process reads, if known.
    pub fn start(stats: Arc<RunStats>, total_bytes: Option<u64>, quiet: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { stop, handle: None };
        }
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let bar = match total_bytes {
                Some(total) => indicatif::ProgressBar::new(total).with_style(
                    indicatif::ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} [{bar:30}] {msg} ({eta})")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                ),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let started = Instant::now();
            while !flag.load(Relaxed) {
                let events = stats.total(|s| &s.events);
                bar.set_position(stats.total(|s| &s.bytes));
                let rate = events as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!("{events} events, {rate:.0}/s"));
                std::thread::sleep(Duration::from_millis(150));
            }
            bar.finish_and_clear();
        });
        Progress { stop, handle: Some(handle) }
    }

    /// Removes the display.
    pub fn finish(mut self) {
        self.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Size of the local inputs in bytes, when all are plain files.
pub fn local_input_bytes(specs: &[InputSpec], cluster: &ClusterArgs) -> Option<u64> {
    let local = cluster.local_workers();
    let mut total = 0;
    for spec in specs.iter().filter(|s| local.contains(&owner_of(s.partition, cluster.peers()))) {
        match &spec.source {
            InputSource::Path(p) => total += std::fs::metadata(p).ok()?.len(),
            InputSource::Stdin => return None,
        }
    }
    Some(total)
}

/// What the correlators dropped and held (stderr): evicted keys, matches that could not be
/// projected and why, and the correlation state at its largest.
pub fn print_correlation_state(rstats: &EngineStats) {
    let evicted = rstats.evictions.load(Relaxed);
    let missing = rstats.missing_group.load(Relaxed);
    let no_value = rstats.missing_value.load(Relaxed);
    if evicted + missing + no_value > 0 {
        eprintln!(
            "  correlation keys evicted {evicted}; matches without their group-by fields {missing}; without the value their correlation measures {no_value}"
        );
    }
    let unrouted = rstats.unrouted.load(Relaxed);
    if unrouted > 0 {
        eprintln!("  {unrouted} projection(s) reached a lateness class below their input's and were not used (a bug: please report it)");
    }
    let (keys, bytes) = (rstats.correlation_peak_keys.load(Relaxed), rstats.correlation_peak_bytes.load(Relaxed));
    if let Some(per) = bytes.checked_div(keys) {
        eprintln!("  correlation state: at most {keys} live key(s) and about {bytes} bytes at once, {per} bytes per key");
    }
}

/// Prints the run summary to stderr.
pub fn print_summary(command: &str, specs: &[InputSpec], cluster: &ClusterArgs, stats: &RunStats, elapsed: Duration) {
    let local = cluster.local_workers();
    let mine: Vec<&InputSpec> = specs.iter().filter(|s| local.contains(&owner_of(s.partition, cluster.peers()))).collect();
    let lines = stats.total(|s| &s.lines);
    let events = stats.total(|s| &s.events);
    let bytes = stats.total(|s| &s.bytes);
    let errors = stats.total(|s| &s.errors);
    let late = stats.total(|s| &s.late);
    let skipped = stats.total(|s| &s.skipped);
    let lost = stats.total(|s| &s.lost);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let proc_note = if cluster.processes > 1 { format!(" (process {} of {})", cluster.process, cluster.processes) } else { String::new() };
    eprintln!(
        "vigil {command}{proc_note}: {} input(s), {lines} lines, {bytes} bytes -> {events} events in {secs:.2} s ({:.0} events/s, {:.1} MB/s)",
        mine.len(),
        events as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    let by_kind: Vec<String> = ERROR_KINDS.iter().map(|k| (k, stats.errors_of(*k))).filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
    eprintln!(
        "  written {} {}; unparsable {errors}{}; late {late}; skipped lines {skipped}; dead letters {}",
        stats.written.load(Relaxed),
        if command == "replay" { "incidents" } else { "events" },
        if by_kind.is_empty() { String::new() } else { format!(" ({})", by_kind.join(", ")) },
        stats.dead_letters.load(Relaxed),
    );
    if lost > 0 {
        eprintln!("  lost {lost} record(s): resumed partitions no longer held them on the broker (retention shorter than the time since the checkpoint)");
    }
    if mine.len() > 1 || errors + late > 0 {
        eprintln!("  {:<48} {:>7} {:>9} {:>9} {:>7} {:>7} {:>7}", "input", "format", "lines", "events", "errors", "late", "skipped");
        for spec in &mine {
            let (name, s) = &stats.inputs[spec.partition as usize];
            let shown = if name.len() > 48 { format!("...{}", &name[name.len() - 45..]) } else { name.clone() };
            eprintln!(
                "  {:<48} {:>7} {:>9} {:>9} {:>7} {:>7} {:>7}",
                shown,
                spec.format.name(),
                s.lines.load(Relaxed),
                s.events.load(Relaxed),
                s.errors.load(Relaxed),
                s.late.load(Relaxed),
                s.skipped.load(Relaxed)
            );
        }
    }
    if let Ok(samples) = stats.samples.lock() {
        if !samples.is_empty() {
            eprintln!("  first problems:");
            for s in samples.iter() {
                eprintln!("    {s}");
            }
        }
    }
}
