//! X1: every key reaches exactly the worker whose key-group range holds its key group, for any maximum
//! parallelism and worker count — as a property of the assignment and through timely's exchange.

use cow_state_table::keygroup::{
    compute_key_group_range_for_operator_index, compute_operator_index_for_key_group, key_group_of,
};
use cow_state_table_timely::KeyGroupExchange;
use proptest::prelude::*;
use std::sync::{Arc, Mutex};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::ToStream;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_key_goes_to_the_owner_of_its_key_group(
        max in 1u32..=32768,
        workers_seed in any::<u32>(),
        keys in proptest::collection::vec(any::<u64>(), 1..64),
        words in proptest::collection::vec("[a-z]{0,12}", 0..16),
    ) {
        let workers = 1 + workers_seed % max.min(1024);
        let exchange = KeyGroupExchange::new(max, workers as usize).unwrap();
        let check = |kg: u32, worker: usize| {
            // Exactly one worker's range holds the key group, and it is the one the key is routed to.
            let owners: Vec<u32> = (0..workers)
                .filter(|&w| compute_key_group_range_for_operator_index(max, workers, w).unwrap().contains(kg))
                .collect();
            prop_assert_eq!(owners, vec![worker as u32]);
            prop_assert_eq!(compute_operator_index_for_key_group(max, workers, kg).unwrap(), worker as u32);
            prop_assert!(exchange.range_of(worker).unwrap().contains(kg));
            Ok(())
        };
        for key in &keys {
            let kg = exchange.key_group_of(key);
            prop_assert_eq!(Ok(kg), key_group_of(key, max));
            check(kg, exchange.worker_of(key))?;
        }
        for word in &words {
            let kg = exchange.key_group_of(word.as_str());
            prop_assert_eq!(Ok(kg), key_group_of(word.as_str(), max));
            check(kg, exchange.worker_of(word.as_str()))?;
        }
    }
}

#[test]
fn timely_delivers_each_key_to_its_owner() {
    for (workers, max) in [(4usize, 128u32), (3, 7), (4, 4), (2, 32768)] {
        let seen: Arc<Mutex<Vec<(usize, u64)>>> = Arc::default();
        let sink = seen.clone();
        timely::execute(timely::Config::process(workers), move |worker| {
            let sink = sink.clone();
            let index = worker.index();
            worker.dataflow::<u64, _, _>(|scope| {
                let exchange = KeyGroupExchange::new(max, scope.peers()).unwrap();
                // Every worker sends every key: each must arrive at its owner only.
                (0..500u64)
                    .to_stream(scope)
                    .unary::<timely::container::CapacityContainerBuilder<Vec<u64>>, _, _, _>(
                        Exchange::new(move |k: &u64| exchange.worker_of(k) as u64),
                        "Check",
                        move |_, _| {
                            move |input, _output| {
                                input.for_each(|_, data| {
                                    sink.lock().unwrap().extend(data.iter().map(|&k| (index, k)));
                                });
                            }
                        },
                    );
            });
        })
        .unwrap()
        .join();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 500 * workers, "{workers} workers, max {max}");
        let exchange = KeyGroupExchange::new(max, workers).unwrap();
        for &(worker, key) in seen.iter() {
            assert!(exchange.range_of(worker).unwrap().contains(exchange.key_group_of(&key)));
        }
    }
}
