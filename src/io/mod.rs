//! Sources and sinks: input files, the generator, output writers and dead letters.

pub mod dead_letter;
pub mod generator;
pub mod input;
pub mod kafka;
pub mod sink;
