//! A stage's per-correlation states as its checkpoint holds them: each by its place in the plan
//! and its rule id, so a state is restored only into the correlation it was taken from.

use std::sync::atomic::Ordering::Relaxed;

use super::plan::Plan;
use super::project::GroupKey;
use super::stats::EngineStats;
use crate::event::entity::hash_bytes;

/// The hash a state is divided by: the group key's (for baselines, their entity).
pub(super) fn key_hash(key: &GroupKey) -> u64 {
    hash_bytes(key.bytes())
}

/// One correlation's state that a checkpoint can hold.
pub(super) trait Checkpointed {
    /// The state as bytes.
    fn save(&self) -> Result<Vec<u8>, String>;
    /// Replaces the state with saved bytes of the same kind.
    fn load(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// Adds the keys of saved bytes of the same kind whose hash ([`key_hash`]) `keep` accepts
    /// (a checkpoint taken with another number of workers, or other rules); `owner`: this
    /// worker also inherits the old worker's parts that belong to no key (counters, a
    /// baseline's shares of open intervals), which exactly one new worker does.
    fn absorb(&mut self, bytes: &[u8], keep: &dyn Fn(u64) -> bool, owner: bool) -> Result<(), String>;
}

/// (place in the plan, rule id, state) per correlation the stage holds.
type Saved = Vec<(u32, String, Vec<u8>)>;

/// Saves every slot of a stage; `what` names the state in messages. One that cannot be
/// encoded is counted and left out: the restart then starts it fresh.
pub(super) fn save_slots<S: Checkpointed>(plan: &Plan, slots: &[Option<S>], stats: &EngineStats, what: &str) -> Vec<u8> {
    let mut saved: Saved = Vec::new();
    for (c, slot) in slots.iter().enumerate() {
        let Some(state) = slot else { continue };
        match state.save() {
            Ok(bytes) => saved.push((c as u32, plan.correlations[c].info.id.clone(), bytes)),
            Err(e) => {
                stats.checkpoint_errors.fetch_add(1, Relaxed);
                tracing::error!("{}: {what} not saved in the checkpoint: {e}", plan.correlations[c].info.title);
            }
        }
    }
    bincode::serialize(&saved).unwrap_or_default()
}

/// Hands each saved state to `apply` with the slot of the same rule, at its place now (`remap`:
/// each old correlation's place, for a checkpoint taken with other rules); what does not decode
/// or apply is counted and said, `fresh` naming what then starts fresh.
fn each_saved<S>(
    bytes: &[u8],
    plan: &Plan,
    remap: Option<&[Option<u32>]>,
    slots: &mut [Option<S>],
    stats: &EngineStats,
    (what, fresh): (&str, &str),
    mut apply: impl FnMut(u32, &mut S, &[u8]) -> Result<(), String>,
) {
    let saved: Saved = match bincode::deserialize(bytes) {
        Ok(s) => s,
        Err(e) => {
            stats.checkpoint_errors.fetch_add(1, Relaxed);
            tracing::error!("a stage's checkpointed {what} does not decode ({e}); {fresh}");
            return;
        }
    };
    for (old, id, bytes) in saved {
        // Taken with other rules: the correlation's place now, if it is unchanged.
        let Some(c) = remap.map_or(Some(old), |m| m.get(old as usize).copied().flatten()) else { continue };
        let Some(Some(state)) = slots.get_mut(c as usize) else { continue };
        let planned = &plan.correlations[c as usize];
        if planned.info.id != id {
            continue;
        }
        if let Err(e) = apply(c, state, &bytes) {
            stats.checkpoint_errors.fetch_add(1, Relaxed);
            tracing::error!("{}: its checkpointed {what} does not load ({e}); {fresh}", planned.info.title);
        }
    }
}

/// How many of one old worker's saved states belong to correlations that changed or were
/// removed (`remap` gives them no place now): their state is dropped.
pub(super) fn dropped_by_rules(bytes: &[u8], remap: &[Option<u32>]) -> u64 {
    let saved: Saved = bincode::deserialize(bytes).unwrap_or_default();
    saved.iter().filter(|(old, _, _)| remap.get(*old as usize).copied().flatten().is_none()).count() as u64
}

/// Loads saved states into the slots of the same place and rule; what does not decode or load
/// is counted and starts fresh.
pub(super) fn restore_slots<S: Checkpointed>(bytes: &[u8], plan: &Plan, slots: &mut [Option<S>], stats: &EngineStats, what: &str) {
    each_saved(bytes, plan, None, slots, stats, (what, "it starts fresh"), |_, state, b| state.load(b));
}

/// Adds to the slots of a stage the keys of one old worker's saved states that route to this
/// worker now (`keep(correlation, key hash)`), for a checkpoint taken with another number of
/// workers or other rules (`remap`: each old correlation's place now); the old worker's
/// keyless parts come along when `owner` (on one new worker only, so nothing is counted
/// twice). What does not decode or divide is counted and left out.
#[allow(clippy::too_many_arguments)]
pub(super) fn absorb_slots<S: Checkpointed>(
    bytes: &[u8],
    plan: &Plan,
    remap: Option<&[Option<u32>]>,
    slots: &mut [Option<S>],
    stats: &EngineStats,
    what: &str,
    keep: impl Fn(u32, u64) -> bool,
    owner: bool,
) {
    each_saved(bytes, plan, remap, slots, stats, (what, "those keys start fresh"), |c, state, b| state.absorb(b, &|hash| keep(c, hash), owner));
}
