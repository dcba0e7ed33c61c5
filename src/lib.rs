//! vigil: distributed, deterministic correlation of security events on timely-dataflow.
//!
//! Data path, in module order: [`io`] reads records (files, Kafka), [`parse`] turns them into
//! [`event::Event`]s with ECS field names, and [`pipeline`] runs the stages: the [`rules`]
//! ([`topology`] names them) are compiled into a plan, matched where each event was parsed,
//! projected and exchanged by group, correlated in event-time windows ([`correlate`],
//! [`baseline`]), and written as [`incident`]s through [`io`]'s sinks; [`checkpoint`] keeps their state across restarts. [`generate`] makes
//! synthetic traffic; [`config`], [`cluster`] and [`metrics`] say where and how a run goes.

pub mod baseline;
pub mod checkpoint;
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
