//! The windowed word count on timely dataflow, as worker processes on 127.0.0.1 (see the member's README and
//! docs/CLUSTER.md):
//!
//! ```text
//! cargo run --release -p cow-state-table-timely --example cluster_wordcount -- demo --from 2 --to 3
//! cargo run --release -p cow-state-table-timely --example cluster_wordcount -- bench
//! cargo run --release -p cow-state-table-timely --example cluster_wordcount -- worker -n 2 -p 0 -h hosts.txt --root /shared/ckpt --run 1
//! ```

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    cow_state_table_timely::cli::main_with_args(&args)
}
