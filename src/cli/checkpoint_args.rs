//! The checkpoint options `replay` and `run` share, and opening a state directory to resume.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use vigil::checkpoint::{rule_changes, rule_stamps, unchanged_rules, CheckpointStats, Coordinator, Loaded, RunRules, Store, StoreLimits, FINISHED};
use vigil::event::time::{parse_duration_ms, to_iso8601};
use vigil::pipeline::{EngineStats, Plan};
use vigil::rules::RuleSet;

/// How often checkpoints are taken, how many are kept, how large one may be.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckpointArgs {
    /// How often to checkpoint. Examples: 10s, 1m.
    #[arg(long, value_parser = parse_duration_ms, default_value = "10s", value_name = "DURATION")]
    pub checkpoint_interval: i64,
    /// How many complete checkpoints to keep (at least 2: a damaged newest one falls back).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub checkpoint_keep: usize,
    /// Largest checkpoint, all parts together, in bytes; a larger one is not written (the run
    /// goes on and says so).
    #[arg(long, default_value_t = 16 << 30, value_name = "BYTES")]
    pub checkpoint_max_bytes: u64,
}

impl CheckpointArgs {
    /// The settings for checkpoints kept in `dir`.
    pub fn settings(&self, dir: &Path) -> anyhow::Result<CheckpointSettings> {
        if self.checkpoint_interval <= 0 {
            anyhow::bail!("--checkpoint-interval must be positive");
        }
        Ok(CheckpointSettings {
            dir: dir.to_owned(),
            interval: Duration::from_millis(self.checkpoint_interval as u64),
            limits: StoreLimits { keep: self.checkpoint_keep.max(2), max_total_bytes: self.checkpoint_max_bytes, ..StoreLimits::default() },
        })
    }
}

/// Where and how often a run checkpoints.
pub struct CheckpointSettings {
    /// The state directory.
    pub dir: PathBuf,
    /// Time between checkpoints.
    pub interval: Duration,
    /// Size and retention.
    pub limits: StoreLimits,
}

/// Opens the state directory, loads the newest valid checkpoint (saying which, why newer ones
/// were rejected, and what a change of rules or workers means for its state).
pub fn open_checkpoints(program: &str, c: &CheckpointSettings, rules: &RuleSet, plan: &Plan, workers: usize) -> anyhow::Result<Arc<Coordinator>> {
    let (store, loaded) = load_latest(program, c, rules)?;
    if let Some(l) = &loaded {
        let finished = if l.manifest.cut == FINISHED { "; that run had finished: its inputs are checked and nothing is written again" } else { "" };
        let rescaled = if l.manifest.workers as usize != workers {
            format!("; it was taken with {} workers: its state is divided among {workers} by key", l.manifest.workers)
        } else {
            String::new()
        };
        eprintln!(
            "{program}: resuming from checkpoint {} of {} (taken {}){finished}{rescaled}",
            l.manifest.seq,
            c.dir.display(),
            to_iso8601(l.manifest.created_unix_ms)
        );
    }
    Coordinator::new(store, c.interval, workers, run_rules(rules, plan), loaded).with_context(|| format!("state directory {}", c.dir.display()))
}

/// What the checkpoints of a run record of its rules.
pub fn run_rules(rules: &RuleSet, plan: &Plan) -> RunRules {
    RunRules { stamps: rule_stamps(rules), correlations: plan.correlation_ids() }
}

/// The store of `c` and its newest valid checkpoint. Taken with other rules, it is used with
/// what did not change (said on stderr).
pub fn load_latest(program: &str, c: &CheckpointSettings, rules: &RuleSet) -> anyhow::Result<(Store, Option<Loaded>)> {
    let store = Store::open(&c.dir, c.limits).with_context(|| format!("state directory {}", c.dir.display()))?;
    let (loaded, rejected) = store.latest().with_context(|| format!("state directory {}", c.dir.display()))?;
    let fallback = if loaded.is_some() { "using an older one" } else { "no older one: starting from the beginning" };
    for r in &rejected {
        eprintln!("{program}: checkpoint {} in {} is not usable: {}; {fallback}", r.seq, c.dir.display(), r.reason);
    }
    if let Some(l) = &loaded {
        let now = rule_stamps(rules);
        if let Some(changes) = rule_changes(&l.manifest.rules, &now) {
            let kept = unchanged_rules(&l.manifest.rules, &now).len();
            eprintln!(
                "{program}: the rules changed since checkpoint {} ({changes}): the state of the {kept} unchanged rule(s) is kept; changed and added rules start with no state from where the checkpoint's inputs stood; removed rules' state is dropped",
                l.manifest.seq
            );
        }
    }
    Ok((store, loaded))
}

/// The checkpoints a run took (stderr).
pub fn print_checkpoints(c: &CheckpointStats, rstats: &EngineStats) {
    let errors = rstats.checkpoint_errors.load(Relaxed);
    let last = c.last_seq.map_or("none".to_owned(), |s| s.to_string());
    eprintln!(
        "  checkpoints: {} taken (last {last}, {} bytes, {} ms; largest {} bytes; longest {} ms); {} failed; {errors} state error(s)",
        c.taken, c.last_bytes, c.last_ms, c.max_bytes, c.max_ms, c.failed
    );
}
