//! Sources and sinks: input files, output writers and dead letters.

pub mod dead_letter;
pub mod input;
pub mod kafka;
pub mod kafka_output;
pub mod sink;
pub mod start_probe;
