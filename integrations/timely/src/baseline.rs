//! The reference job for docs/PERFORMANCE.md: the same windowed word count and routing, with a plain
//! `HashMap` as state and no checkpoints.

use crate::error::ClusterError;
use crate::exchange::KeyGroupExchange;
use crate::wordcount::{Record, RunOptions, WindowResult, WorkerReport};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::{Capability, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

#[derive(Default)]
struct Word {
    total: u64,
    histogram: HashMap<u64, u64>,
    windows: HashMap<u64, (u64, u64)>,
}

/// Runs the job of `options` (its checkpoint settings ignored) with `HashMap` state on one timely worker.
///
/// # Errors
/// Bad parallelism.
pub fn run_baseline_worker(
    worker: &mut timely::worker::Worker,
    options: &RunOptions,
) -> Result<WorkerReport, ClusterError> {
    let (index, peers) = (worker.index(), worker.peers());
    let exchange = KeyGroupExchange::new(options.max_parallelism, peers)?;
    let w = options.job.window.max(1);
    let mut input: InputHandleVec<u64, Record> = InputHandleVec::new();
    let probe = ProbeHandle::new();
    let outputs: Rc<RefCell<Vec<WindowResult>>> = Rc::default();
    let sink = Rc::clone(&outputs);
    worker.dataflow::<u64, _, _>(|scope| {
        input
            .to_stream(scope)
            .unary_frontier::<CapacityContainerBuilder<Vec<WindowResult>>, _, _, _>(
                Exchange::new(move |r: &Record| exchange.worker_of(r.0.as_str()) as u64),
                "HashMapWordCount",
                move |capability, _| {
                    let mut held: Option<Capability<u64>> = Some(capability);
                    let mut stash: BTreeMap<u64, Vec<Record>> = BTreeMap::new();
                    let mut state: HashMap<String, Word> = HashMap::new();
                    let mut next = 0u64;
                    move |(input, frontier), output| {
                        input.for_each(|cap, data| {
                            if let Some(&e) = cap.least() {
                                stash.entry(e).or_default().append(data);
                            }
                        });
                        let bound = match frontier.frontier().first() {
                            Some(&f) => f,
                            None => stash.keys().next_back().map_or(next, |&e| e + 1).max(next),
                        };
                        while next < bound {
                            let epoch = next;
                            let Some(cap) = held.as_ref() else { break };
                            let mut records = stash.remove(&epoch).unwrap_or_default();
                            records.sort_unstable();
                            for (word, amount) in records {
                                let s = state.entry(word).or_default();
                                s.total += amount;
                                *s.histogram.entry(amount).or_default() += 1;
                                let win = s.windows.entry(epoch / w).or_default();
                                win.0 += 1;
                                win.1 += amount;
                            }
                            if (epoch + 1) % w == 0 {
                                let window = epoch / w;
                                let mut fired: Vec<WindowResult> = state
                                    .iter_mut()
                                    .filter_map(|(word, s)| {
                                        s.windows.remove(&window).map(|(count, sum)| WindowResult {
                                            epoch,
                                            window,
                                            word: word.clone(),
                                            count,
                                            sum,
                                            total: s.total,
                                        })
                                    })
                                    .collect();
                                fired.sort_unstable();
                                if !fired.is_empty() {
                                    let time = cap.delayed(&epoch);
                                    output.session(&time).give_iterator(fired.into_iter());
                                }
                            }
                            next += 1;
                        }
                        match frontier.frontier().first() {
                            Some(&f) => {
                                if let Some(cap) = held.as_mut() {
                                    if *cap.time() < f {
                                        cap.downgrade(&f);
                                    }
                                }
                            }
                            None => held = None,
                        }
                    }
                },
            )
            .inspect(move |r: &WindowResult| sink.borrow_mut().push(r.clone()))
            .probe_with(&probe);
    });
    let ahead = options.epochs_in_flight.max(1);
    let started = Instant::now();
    let mut fed = 0;
    let park = Some(Duration::from_millis(1));
    for epoch in 0..options.job.epochs {
        for record in options.job.records(epoch, index, peers) {
            input.send(record);
            fed += 1;
        }
        input.advance_to(epoch + 1);
        while probe.less_than(&(epoch + 1).saturating_sub(ahead - 1)) {
            worker.step_or_park(park);
        }
    }
    input.close();
    while worker.step_or_park(park) {}
    let report = WorkerReport {
        worker: index,
        outputs: outputs.borrow().clone(),
        fed,
        elapsed: started.elapsed(),
        ..WorkerReport::default()
    };
    Ok(report)
}
