//! The `normalize` pipeline: source -> keyed in-order exchange -> ECS JSON encoding -> one
//! ordered writer per process. Each process writes the events its workers own.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::probe::{Handle as ProbeHandle, Probe};
use timely::worker::Worker;

use super::dead_letters::{write_dead_letters, DeadLetterSink};
use super::exchange::{in_event_time_order_gauged, in_order_by};
use super::lateness::LatenessClasses;
use super::source::{file_source, Backpressure, SourceConfig, MAX_PENDING_EVENTS};
use super::watermark::to_timely;
use crate::event::ecs::EcsWriter;
use crate::event::entity::EntityKey;
use crate::event::Event;
use crate::io::sink::{EncodedChunk, EncodedEvent, LazyOutput, OrderedMerger, OutputTarget, RecordSink};
use std::sync::Arc;

/// Events per encoded chunk.
const CHUNK_EVENTS: usize = 256;

/// Everything a worker needs to build the normalize dataflow.
#[derive(Clone)]
pub struct NormalizeConfig {
    /// Inputs, parsing and lateness.
    pub source: SourceConfig,
    /// Fields naming the entity that events are partitioned by.
    pub entity: EntityKey,
    /// Where this process writes events.
    pub output: OutputTarget,
    /// Where this process writes dead letters (`None`: counted and sampled only).
    pub dead_letter: Option<OutputTarget>,
    /// Worker threads per process (the first worker of each process writes its output).
    pub workers_per_process: usize,
}

/// Builds the normalize dataflow on one worker.
pub fn build(worker: &mut Worker, cfg: &NormalizeConfig) {
    let index = worker.index();
    let peers = worker.peers();
    let wpp = cfg.workers_per_process.max(1);
    let leader = (index / wpp * wpp) as u64;
    let is_leader = index.is_multiple_of(wpp);
    let stats = cfg.source.stats.clone();
    let cancel = cfg.source.cancel.clone();
    let output = cfg.output.clone();
    let dead_target = cfg.dead_letter.clone();
    let entity = cfg.entity.clone();
    let source_cfg = cfg.source.clone();

    worker.dataflow::<u64, _, _>(move |scope| {
        let probe = ProbeHandle::new();
        let gauge = Rc::new(Cell::new(0));
        let backpressure = Backpressure { probe: probe.clone(), pending: gauge.clone(), max_pending: MAX_PENDING_EVENTS };
        // No correlations wait on event time here: one class.
        let (mut events, dead) = file_source(scope, source_cfg, Arc::new(LatenessClasses::single()), Some(backpressure), None);
        let events = events.remove(0);
        let chunks = if peers == 1 {
            // One worker: nothing crosses cores, so order whole events and encode each sorted
            // batch straight into a chunk (no per-event line buffer).
            let ordered = in_event_time_order_gauged(events, entity, gauge).probe_with(&probe);
            ordered.unary(Pipeline, "EncodeEcs", move |_cap, _info| {
                let mut writer = EcsWriter::new();
                move |input, output| {
                    input.for_each(|cap, data: &mut Vec<Event>| {
                        for part in data.chunks(CHUNK_EVENTS) {
                            let mut chunk = EncodedChunk::encode(part, &mut writer);
                            chunk.worker = index as u32;
                            output.session(&cap).give(chunk);
                        }
                    });
                }
            })
        } else {
            // Encode where the event was parsed: its memory is hot in this core's cache, and the
            // exchange then moves one compact line per event instead of a scattered event.
            let encoded = events.unary(Pipeline, "EncodeEcs", move |_cap, _info| {
                let mut writer = EcsWriter::new();
                let mut scratch = Vec::with_capacity(4096);
                move |input, output| {
                    input.for_each(|cap, data: &mut Vec<Event>| {
                        let mut batch = Vec::with_capacity(data.len());
                        for ev in data.drain(..) {
                            scratch.clear();
                            writer.write_event(&ev, &mut scratch);
                            scratch.push(b'\n');
                            batch.push(EncodedEvent { ts: ev.ts, origin: ev.origin, route: entity.hash(&ev), json: scratch.as_slice().into() });
                        }
                        output.session(&cap).give_container(&mut batch);
                    });
                }
            });
            let ordered = in_order_by(encoded, |e: &EncodedEvent| e.route, gauge).probe_with(&probe);
            ordered.unary(Pipeline, "Chunk", |_cap, _info| {
                move |input, output| {
                    input.for_each(|cap, data: &mut Vec<EncodedEvent>| {
                        for part in data.chunks(CHUNK_EVENTS) {
                            output.session(&cap).give(EncodedChunk::from_encoded(part, index as u32));
                        }
                    });
                }
            })
        };

        let mut out = LazyOutput::new(output);
        let mut merger = OrderedMerger::default();
        let (wstats, wcancel) = (stats.clone(), cancel.clone());
        chunks.sink(Exchange::new(move |_: &EncodedChunk| leader), "WriteEvents", move |(input, frontier)| {
            input.for_each(|_cap, data| {
                for chunk in data.drain(..) {
                    merger.push(chunk.worker as usize, chunk);
                }
            });
            if !is_leader {
                return;
            }
            let bound = frontier.frontier().first().copied();
            let Some(w) = out.writer(&wstats, &wcancel) else { return };
            let ready = |ts: i64| bound.is_none_or(|f| to_timely(ts) < f);
            let result = merger.drain_ready(ready, w).and_then(|n| {
                wstats.written.fetch_add(n, Relaxed);
                if bound.is_none() {
                    w.flush()?;
                }
                Ok(())
            });
            if let Err(e) = result {
                out.fail(e, &wstats, &wcancel);
            }
        });

        write_dead_letters(
            dead,
            leader,
            is_leader,
            dead_target.map(|t| DeadLetterSink::File(RecordSink::File(LazyOutput::new(t)))),
            stats,
            Arc::default(),
            None,
        );
    });
}
