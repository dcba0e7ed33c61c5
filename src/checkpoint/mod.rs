//! Checkpoints: the state of every stateful operator as of one cut of event time, with each
//! partition's position and clock, so a restart resumes exactly where the cut left off.
//!
//! [`store`] is the on-disk format: versioned, checksummed part files (one per worker and
//! operator kind) and a manifest written last, each by temporary file and rename; a checkpoint
//! is complete only when its manifest and every part it names verify, and loading falls back to
//! the previous complete one, reporting why the newer ones were rejected.
//!
//! # The cut (how the pipeline will take one; the store does not depend on it)
//!
//! A cut `T` is a timely time that no operator has passed when it is announced. The state as of
//! `T` is what every operator holds after consuming exactly the events whose time is before `T`
//! and advancing its windows to `T`. No barrier flows with the data; every operator already
//! works in frontier order, so each one snapshots when its own input frontier first reaches `T`:
//!
//! - **Announcing.** Worker 0's source chooses `T` at or above its own capability (every
//!   frontier is at or below the least source capability, so no operator has passed `T`) and
//!   sends it on a broadcast edge that loops back, through a feedback of summary 1, into every
//!   worker's source. No frontier downstream of the sources can pass `T` before each source has
//!   consumed the announcement and written it into its worker's plan, which every operator of
//!   the worker reads: this works across processes, with no shared memory.
//! - **Sources.** A partition's records are not in time order, so an offset alone cannot
//!   split them at `T`. Each partition keeps a short ring of (position, clock, parser state,
//!   latest consequence time) per read batch, pruned below the frontier. Its cut is the start
//!   of the first batch with a consequence at or after `T` (an on-time event at or after `T`, or
//!   a dead letter judged at a watermark at or after `T`). On restore the source re-reads from
//!   there with that clock and parser state, which judge every record as before, and emits only
//!   the consequences at or after `T`: the others are in the restored state already.
//! - **Operators.** A correlate or judge stage receiving, in one activation, projections on both
//!   sides of `T` applies those before `T`, advances to `T`, snapshots, moves its capabilities
//!   to `T`, then goes on. Every output derived before the snapshot is then before `T`, and every
//!   output after it at or after `T`, so downstream stages split their inputs the same way. The
//!   in-order exchange holds only records at or after its frontier, which the sources re-emit:
//!   it needs no state of its own.
//! - **Writers.** A writer snapshots once everything before `T` is written and acknowledged:
//!   the suppressors and repeat detection, and the output position (a file's length; in Kafka,
//!   the transaction that carries the interval's incidents, dead letters and the offsets). A
//!   restart truncates a file to that length, so nothing is appended twice.
//! - **Completion.** Each worker writes its parts; the checkpoint exists once worker 0 has
//!   written the manifest naming them all. Restoring reads every old part and keeps the keys the
//!   new worker owns (the same routing as the exchange), which is what makes rescaling work.

pub mod cut;
pub mod stamps;
pub mod store;

pub use cut::{operator_states, CheckpointStats, Coordinator, Cut, Gate, OperatorCut};
pub use stamps::{rule_changes, rule_stamps};
pub use store::{CheckpointError, Loaded, Manifest, PartInfo, Rejected, RuleStamp, Store, StoreLimits, FORMAT_VERSION};
