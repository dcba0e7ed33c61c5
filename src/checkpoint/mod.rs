//! Checkpoints: the state of every stateful operator as of one cut of event time, with each
//! partition's position and clock, so a restart resumes exactly where the cut left off.
//!
//! [`store`] is the on-disk format: versioned, checksummed part files (one per worker and
//! operator kind) and a manifest written last, each by temporary file and rename; a checkpoint
//! is complete only when its manifest and every part it names verify, and loading falls back to
//! the previous complete one, reporting why the newer ones were rejected.
//!
//! # How a replay takes one (see [`cut`])
//!
//! No barrier flows with the data. Every interval, the sources **pause** (read nothing, move no
//! capability) until each has reported the latest timely time it has sent at; the cut `T` is
//! one past the latest of those, so no record in the dataflow is at or after `T` yet. Sources
//! then read on, and every stateful operator works in frontier order as always:
//!
//! - **Sources** deliver each partition's position (records and bytes read, clock, and the
//!   parser's clock of "now" for year inference) once their class's capability has passed `T`:
//!   everything read before went out before `T`, everything after at or after it. A restored
//!   source skips the records it had read (through the parser when the parser carries state,
//!   as syslog's year inference does) and refuses to go on when they no longer take the same
//!   bytes (the input changed). A Kafka source delivers each partition's next offset, clock
//!   and parser state, and a restored one starts each partition there.
//! - **The capability times** a source saves are those of the moment its positions were
//!   taken, not of the moment it finished the cut: records read in between, read again after
//!   a restore, must go out at the times they first did.
//! - **Exchanges, correlate and peer-judge stages** set aside inputs at or after `T`; once
//!   their input frontier reaches `T` they close what `T` closes, send it before `T`, deliver
//!   their state (for an exchange: the records still waiting), then go on with what was set
//!   aside. Outputs derived before the snapshot are before `T`, so downstream stages split
//!   their inputs the same way.
//! - **Writers** write what is before `T`, sync the file and deliver their state with its
//!   length (the incident writer: its pending incidents, suppressors and repeat detection). A
//!   resumed run cuts each file back to that length and continues it, so nothing is written
//!   twice and the bytes equal those of one uninterrupted run. A Kafka writer waits until
//!   everything before `T` is delivered and records where each partition of its topic ends;
//!   a resumed run reads what was delivered after that and does not send it again
//!   ([`crate::io::kafka_output`]).
//! - **Completion.** The last delivery hands every operator's state to a writing thread: one
//!   part file per worker and operator, then the manifest. The workers never wait for it; the
//!   next cut waits until it is on disk.
//! - **The end.** A run that finished writes a last checkpoint of its end states (cut
//!   [`FINISHED`]); one that was interrupted or failed completes no more cuts.
//!
//! - **Several processes.** Process 0's first source starts every cut; the coordinators of the
//!   processes tell each other, through a dataflow of their own
//!   ([`crate::pipeline::cut_bridge`]), that they pause for it and the latest time their
//!   sources sent at, so every process cuts at the same `T`. Each process writes its own
//!   checkpoint (in `p<index>` of a state directory they all see); a restart uses the newest
//!   one that every process completed and that verifies everywhere.
//!
//! Not yet: Kafka output in transactions (`vigil run --exactly-once` is exactly once without
//! them), dividing a checkpoint among another number of processes, and `vigil run
//! --exactly-once` with history to learn on first.

pub mod cut;
pub mod stamps;
pub mod store;

pub use cut::{operator_states, CheckpointStats, Coordinator, Cut, CutMsg, Gate, OperatorCut, Processes, RestoredRules, RunRules, FINISHED};
pub use stamps::{rule_changes, rule_stamps, unchanged_rules};
pub use store::{CheckpointError, Loaded, Manifest, PartInfo, Rejected, RuleStamp, Store, StoreLimits, FORMAT_VERSION};
