//! Detection on the worker that parsed each event: the rule index picks the candidate rules,
//! each candidate's matcher runs, and a match becomes an incident (a plain detection rule) and a
//! projection for every correlation the rule feeds. Most events match nothing and stop here;
//! nothing crosses workers before this stage.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::Stream;

use super::lateness::LatenessClasses;
use super::plan::Plan;
use super::project::{encode_group, measure, number, Emitted, GroupKey, Measured, Projection};
use super::stats::EngineStats;
use crate::event::ecs::EcsWriter;
use crate::event::Event;
use crate::incident::{EvidenceEvent, Incident};
use crate::rules::correlation::CorrelationKind;
use crate::rules::logsource::RuleMatcher;
use crate::rules::RuleSet;

/// What detection gives: incidents of plain detection rules, and projections per lateness class.
pub type Detected<'s> = (Stream<'s, u64, Vec<Incident>>, Vec<Stream<'s, u64, Vec<Projection>>>);

/// Matches every event against the rules; returns the incidents of plain detection rules and
/// the projections for correlations, one stream per lateness class of the correlations (a
/// projection goes to its correlation's class, never below `source_class`, the class of the
/// events: the streams below it are not read).
pub fn detect<'s>(
    events: Stream<'s, u64, Vec<Event>>,
    rules: Arc<RuleSet>,
    plan: Arc<Plan>,
    classes: Arc<LatenessClasses>,
    source_class: usize,
    stats: Arc<EngineStats>,
) -> Detected<'s> {
    let mut builder = OperatorBuilder::new("Detect".to_owned(), events.scope());
    let mut input = builder.new_input(events, Pipeline);
    let (inc_out, incidents) = builder.new_output::<Vec<Incident>>();
    let mut inc_out = OutputBuilder::<_, CapacityContainerBuilder<Vec<Incident>>>::from(inc_out);
    let (mut fwd_outs, mut forward) = (Vec::new(), Vec::new());
    for _ in 0..classes.count() {
        let (out, stream) = builder.new_output::<Vec<Projection>>();
        fwd_outs.push(OutputBuilder::<_, CapacityContainerBuilder<Vec<Projection>>>::from(out));
        forward.push(stream);
    }
    builder.build(move |_initial| {
        let mut by_class: Vec<Vec<Projection>> = vec![Vec::new(); classes.count()];
        let mut matcher = RuleMatcher::new(rules.clone());
        let mut writer = EcsWriter::new();
        let mut hits = Vec::new();
        let mut counts = vec![0u64; rules.rules.len()];
        let (mut missing, mut no_value) = (0u64, 0u64);
        let mut projected: Vec<(u32, GroupKey, Measured)> = Vec::new();
        let mut emitted = Emitted::default();
        // Reused for every group key and counted value: a key allocates only once it is kept.
        let (mut key_buf, mut value_buf) = (Vec::with_capacity(64), Vec::with_capacity(64));
        // Shared by the projections of baseline rules that keep no evidence.
        let placeholder = EvidenceEvent::deferred(Event::at(0));
        move |_frontiers| {
            input.for_each(|cap, data: &mut Vec<Event>| {
                for ev in data.iter_mut() {
                    let mut evidence: Option<EvidenceEvent> = None;
                    hits.clear();
                    matcher.matching(ev, &mut hits);
                    for &r in &hits {
                        counts[r as usize] += 1;
                        let (info, emits) = &plan.detections[r as usize];
                        if *emits {
                            emitted.incidents.push(Incident::from_detection(info.clone(), ev, &mut writer));
                        }
                        for &(c, pos) in &plan.feeds[r as usize] {
                            let planned = &plan.correlations[c as usize];
                            let fields = &planned.group_fields[pos as usize];
                            if !encode_group(ev, fields, &mut key_buf) {
                                missing += 1;
                                continue;
                            }
                            let measured = match planned.kind {
                                CorrelationKind::Baseline => match planned.baseline.as_ref().and_then(|b| measure(b, ev)) {
                                    Some(m) => m,
                                    None => {
                                        no_value += 1;
                                        continue;
                                    }
                                },
                                CorrelationKind::EventCount => Measured::Nothing,
                                CorrelationKind::Temporal | CorrelationKind::TemporalOrdered | CorrelationKind::Absence => Measured::Rules(1u64 << pos),
                                CorrelationKind::ValueCount => match planned.value_field.map(|f| encode_group(ev, &[Some(f)], &mut value_buf)) {
                                    Some(true) => Measured::Value(value_buf.as_slice().into()),
                                    _ => {
                                        no_value += 1;
                                        continue;
                                    }
                                },
                                _ => match planned.value_field.and_then(|f| ev.get(f)).and_then(number) {
                                    Some(x) => Measured::Number(x),
                                    None => {
                                        no_value += 1;
                                        continue;
                                    }
                                },
                            };
                            // One event is one observation per correlation and group,
                            // however many of the correlation's rules it matches: the
                            // rules' bits are merged, a count counts it once.
                            match projected.iter_mut().find(|(pc, pk, _)| *pc == c && pk.bytes() == key_buf.as_slice()) {
                                Some((_, _, Measured::Rules(mask))) => {
                                    if let Measured::Rules(bit) = measured {
                                        *mask |= bit;
                                    }
                                }
                                Some(_) => {}
                                None => projected.push((c, GroupKey::from_encoded(&key_buf), measured)),
                            }
                        }
                    }
                    let (ts, origin) = (ev.ts, ev.origin);
                    for (c, key, measured) in projected.drain(..) {
                        // The event itself, moved out of the batch (which is done with it) and
                        // shared by every correlation it feeds; encoded only if it ends up in an
                        // alert. Baseline rules other than new values carry none.
                        let bare = plan.correlations[c as usize].baseline.as_ref().is_some_and(|b| !b.needs_evidence());
                        let evidence = if bare {
                            let mut e = placeholder.clone();
                            (e.ts, e.origin) = (ts, origin);
                            e
                        } else {
                            evidence.get_or_insert_with(|| EvidenceEvent::deferred(std::mem::take(ev))).clone()
                        };
                        by_class[classes.correlation(c as usize).max(source_class)].push(Projection {
                            correlation: c,
                            key,
                            ts,
                            origin,
                            measured,
                            evidence,
                            born: ts,
                        });
                    }
                }
                if !emitted.incidents.is_empty() {
                    inc_out.activate().session(&cap).give_container(&mut emitted.incidents);
                    emitted.incidents.clear();
                }
                for (out, batch) in fwd_outs.iter_mut().zip(by_class.iter_mut()) {
                    if !batch.is_empty() {
                        out.activate().session(&cap).give_container(batch);
                        batch.clear();
                    }
                }
            });
            for (i, n) in counts.iter_mut().enumerate() {
                if *n > 0 {
                    stats.matches[i].fetch_add(*n, Relaxed);
                    *n = 0;
                }
            }
            if missing > 0 {
                stats.missing_group.fetch_add(missing, Relaxed);
                missing = 0;
            }
            if no_value > 0 {
                stats.missing_value.fetch_add(no_value, Relaxed);
                no_value = 0;
            }
        }
    });
    (incidents, forward)
}
