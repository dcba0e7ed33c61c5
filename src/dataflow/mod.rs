//! Building timely dataflows: sources, event time, the keyed exchange, and sinks.
//! One file per operator kind, in data-path order: `source`, `watermark`, `order`, then the
//! pipelines that wire them (`normalize`, `replay`, with `baseline` for the baseline rules and
//! `chain` for restart points inside `replay`).

pub mod baseline;
pub mod chain;
pub mod kafka_source;
pub mod normalize;
pub mod order;
pub mod replay;
pub mod source;
pub mod watermark;
