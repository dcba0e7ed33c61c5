//! vigil: distributed, deterministic correlation of security events on timely-dataflow.
//!
//! Data path, in module order: [`io`] sources read records, [`parse`] turns them into
//! [`event::Event`]s with ECS field names, [`dataflow`] assigns event time, exchanges events
//! by entity and hands each key's events in event-time order to keyed operators, and [`io`]
//! sinks write them out.

pub mod baseline;
pub mod cluster;
pub mod config;
pub mod correlate;
pub mod event;
pub mod generate;
pub mod incident;
pub mod io;
pub mod metrics;
pub mod parse;
pub mod pipeline;
pub mod rules;
pub mod topology;
