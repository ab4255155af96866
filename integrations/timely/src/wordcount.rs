//! The windowed word count of the `cluster_wordcount` example: a replayable generated stream, the keyed logic
//! (Value, Reducing, List with namespace merging, Map), the worker driver, and the single-process model every
//! run is checked against.
//!
//! ```
//! use cow_state_table_timely::wordcount::{model, WordCount};
//! let job = WordCount { epochs: 6, records_per_epoch: 50, vocabulary: 7, window: 3, seed: 1 };
//! let (outputs, state) = model(&job);
//! // Every record lands in exactly one window; the windows' sums add up to the totals.
//! let sums: u64 = outputs.iter().map(|o| o.sum).sum();
//! assert_eq!(sums, state.values().map(|s| s.total).sum::<u64>());
//! assert_eq!(outputs.iter().map(|o| o.count).sum::<u64>(), 6 * 50);
//! ```

use crate::checkpoints::WorkerCheckpoints;
use crate::error::ClusterError;
use crate::manifest::{CheckpointRoot, Manifest};
use crate::operator::{keyed_state, Backend, CheckpointConfig, KeyedConfig, KeyedLogic};
use crate::restore::restore_worker;
use cow_state_table::backend::{
    BackendError, KeyedStateBackend, ListState, ListStateDescriptor, MapState, MapStateDescriptor, ReducingState,
    ReducingStateDescriptor, ValueState, ValueStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{StringSerializer, U64Serializer, VoidNamespace, VoidNamespaceSerializer};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

/// One input record: a word and an amount.
pub type Record = (String, u64);

/// The generated job: `records_per_epoch` records per epoch over `vocabulary` words, tumbling windows of
/// `window` epochs. The stream is a pure function of these numbers (replayable, X8): record `i` of epoch `e` is
/// produced by worker `i % workers`, whatever the worker count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordCount {
    /// Epochs `0 .. epochs`.
    pub epochs: u64,
    /// Records per epoch (over all workers).
    pub records_per_epoch: u64,
    /// Distinct words.
    pub vocabulary: u64,
    /// Window length in epochs (at least 1).
    pub window: u64,
    /// Seed of the generator.
    pub seed: u64,
}

fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl WordCount {
    /// Record `i` of `epoch`.
    pub fn record(&self, epoch: u64, i: u64) -> Record {
        let h = mix(self.seed ^ mix(epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i));
        (format!("w{}", h % self.vocabulary.max(1)), 1 + (h >> 40) % 5)
    }

    /// The records of `epoch` that worker `worker` of `workers` produces.
    pub fn records(&self, epoch: u64, worker: usize, workers: usize) -> impl Iterator<Item = Record> + '_ {
        (worker as u64..self.records_per_epoch)
            .step_by(workers.max(1))
            .map(move |i| self.record(epoch, i))
    }

    fn window_len(&self) -> u64 {
        self.window.max(1)
    }
}

/// One fired window of one word.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowResult {
    /// The epoch at whose end the window fired.
    pub epoch: u64,
    /// The window number (`epoch / window`).
    pub window: u64,
    /// The word.
    pub word: String,
    /// Records of the word in the window.
    pub count: u64,
    /// Sum of their amounts.
    pub sum: u64,
    /// The word's running total over all epochs up to `epoch`.
    pub total: u64,
}

impl WindowResult {
    /// One line: `epoch window word count sum total`.
    pub fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            self.epoch, self.window, self.word, self.count, self.sum, self.total
        )
    }

    /// Parses [`line`](Self::line).
    pub fn parse(line: &str) -> Option<WindowResult> {
        let f: Vec<&str> = line.split(' ').collect();
        let [epoch, window, word, count, sum, total] = f.as_slice() else {
            return None;
        };
        Some(WindowResult {
            epoch: epoch.parse().ok()?,
            window: window.parse().ok()?,
            word: (*word).to_owned(),
            count: count.parse().ok()?,
            sum: sum.parse().ok()?,
            total: total.parse().ok()?,
        })
    }
}

/// A word's final state: its total and the histogram of its amounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordState {
    /// Sum of all amounts.
    pub total: u64,
    /// Amount → occurrences.
    pub histogram: BTreeMap<u64, u64>,
}

/// The keyed logic: per word a running total (Value), a per-window sum (Reducing, namespace = window), the
/// amounts per epoch (List, namespace = epoch, merged into the window's first epoch when it fires) and a
/// histogram of amounts (Map).
#[derive(Debug)]
pub struct WordCountLogic {
    window: u64,
    total: ValueState<VoidNamespace, u64>,
    window_sum: ReducingState<u64, u64>,
    panes: ListState<u64, u64>,
    histogram: MapState<VoidNamespace, u64, u64>,
}

impl WordCountLogic {
    /// Registers the four states in `backend`.
    ///
    /// # Errors
    /// The backend's registration errors.
    pub fn register(backend: &mut Backend<Self>, window: u64) -> Result<Self, BackendError> {
        Ok(WordCountLogic {
            window: window.max(1),
            total: backend.register_value(
                ValueStateDescriptor::new("total", VoidNamespaceSerializer, U64Serializer).with_default(0),
            )?,
            window_sum: backend.register_reducing(ReducingStateDescriptor::new(
                "window-sum",
                U64Serializer,
                U64Serializer,
                |a, b| a + b,
            ))?,
            panes: backend.register_list(ListStateDescriptor::new("panes", U64Serializer, U64Serializer))?,
            histogram: backend.register_map(MapStateDescriptor::new(
                "histogram",
                VoidNamespaceSerializer,
                U64Serializer,
                U64Serializer,
            ))?,
        })
    }
}

impl KeyedLogic for WordCountLogic {
    type Key = String;
    type KeySerializer = StringSerializer;
    type Record = Record;
    type Output = WindowResult;

    fn key(record: &Record) -> String {
        record.0.clone()
    }

    fn process(
        &mut self,
        backend: &mut Backend<Self>,
        epoch: u64,
        (_, amount): Record,
        _out: &mut Vec<WindowResult>,
    ) -> Result<(), BackendError> {
        let total = self.total.value(backend)?.copied().unwrap_or(0);
        self.total.update(backend, total + amount)?;
        self.window_sum.set_current_namespace(epoch / self.window);
        self.window_sum.add(backend, amount)?;
        self.panes.set_current_namespace(epoch);
        self.panes.add(backend, amount)?;
        let seen = self.histogram.get(backend, &amount)?.copied().unwrap_or(0);
        self.histogram.put(backend, amount, seen + 1)
    }

    fn epoch_complete(
        &mut self,
        backend: &mut Backend<Self>,
        epoch: u64,
        out: &mut Vec<WindowResult>,
    ) -> Result<(), BackendError> {
        if (epoch + 1) % self.window != 0 {
            return Ok(());
        }
        let window = epoch / self.window;
        let first = window * self.window;
        let mut words: Vec<String> = backend.keys(&self.window_sum, &window)?.cloned().collect();
        words.sort_unstable();
        let sources: Vec<u64> = (first + 1..=epoch).collect();
        for word in words {
            backend.set_current_key(word.clone())?;
            self.window_sum.set_current_namespace(window);
            let sum = self.window_sum.get(backend)?.copied().unwrap_or(0);
            self.window_sum.clear(backend)?;
            self.panes.merge_namespaces(backend, first, &sources)?;
            self.panes.set_current_namespace(first);
            let count = self.panes.get(backend)?.map_or(0, |l| l.len() as u64);
            self.panes.clear(backend)?;
            let total = self.total.value(backend)?.copied().unwrap_or(0);
            out.push(WindowResult {
                epoch,
                window,
                word,
                count,
                sum,
                total,
            });
        }
        Ok(())
    }
}

/// The single-process model: the outputs (sorted) and the final state per word.
pub fn model(job: &WordCount) -> (Vec<WindowResult>, BTreeMap<String, WordState>) {
    let w = job.window_len();
    let mut state: BTreeMap<String, WordState> = BTreeMap::new();
    let mut window: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut outputs = Vec::new();
    for epoch in 0..job.epochs {
        for i in 0..job.records_per_epoch {
            let (word, amount) = job.record(epoch, i);
            let s = state.entry(word.clone()).or_default();
            s.total += amount;
            *s.histogram.entry(amount).or_default() += 1;
            let win = window.entry(word).or_default();
            win.0 += 1;
            win.1 += amount;
        }
        if (epoch + 1) % w == 0 {
            for (word, (count, sum)) in std::mem::take(&mut window) {
                let total = state[&word].total;
                outputs.push(WindowResult {
                    epoch,
                    window: epoch / w,
                    word,
                    count,
                    sum,
                    total,
                });
            }
        }
    }
    outputs.sort();
    (outputs, state)
}

/// Reads the state of every word from a complete checkpoint (any worker count) into one backend owning all
/// key groups.
///
/// # Errors
/// Restore errors.
pub fn read_state(
    root: &CheckpointRoot,
    manifest: &Manifest,
    window: u64,
) -> Result<BTreeMap<String, WordState>, ClusterError> {
    let all = KeyGroupRange::of(0, manifest.max_parallelism - 1)?;
    let mut backend: Backend<WordCountLogic> = KeyedStateBackend::new(StringSerializer, manifest.max_parallelism, all)?;
    let logic = WordCountLogic::register(&mut backend, window)?;
    restore_worker(root, manifest, &mut backend)?;
    let mut words: Vec<String> = backend.keys(&logic.total, &VoidNamespace)?.cloned().collect();
    words.sort_unstable();
    let mut state = BTreeMap::new();
    for word in words {
        backend.set_current_key(word.clone())?;
        let total = logic.total.value(&backend)?.copied().unwrap_or(0);
        let histogram = logic
            .histogram
            .entries(&backend)?
            .map(|(k, v)| (*k, *v))
            .collect::<BTreeMap<u64, u64>>();
        state.insert(word, WordState { total, histogram });
    }
    Ok(state)
}

/// How one worker runs the job.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The job.
    pub job: WordCount,
    /// Number of key groups.
    pub max_parallelism: u32,
    /// Checkpointing (None: no checkpoints, no restore).
    pub checkpoints: Option<CheckpointConfig>,
    /// Feed only epochs before this one, then end (a simulated crash for in-process tests).
    pub stop_before: Option<u64>,
    /// A directory for the outputs: `run-<run>-worker-<i>.txt`, one line per result, written unbuffered.
    pub out_dir: Option<PathBuf>,
    /// Epochs fed ahead of the probe (at least 1).
    pub epochs_in_flight: u64,
    /// A fault hook: after feeding this epoch, the worker feeds nothing more and keeps stepping until its
    /// process is killed (with a storage that stalls this epoch's checkpoint: a process stuck mid-checkpoint).
    pub pause_after: Option<u64>,
    /// How long worker 0 waits at the end for the other workers' last parts.
    pub commit_timeout: Duration,
}

/// What one worker reports when it ends.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    /// The worker's index.
    pub worker: usize,
    /// The checkpoint it resumed from.
    pub resumed_from: Option<u64>,
    /// Checkpoints whose part it wrote.
    pub durable: Vec<u64>,
    /// Checkpoints whose manifest it wrote (worker 0).
    pub committed: Vec<u64>,
    /// Alignment pauses (wall-clock).
    pub pauses: Vec<Duration>,
    /// Its outputs.
    pub outputs: Vec<WindowResult>,
    /// Records it fed.
    pub fed: u64,
    /// Wall time from the first epoch fed to the end.
    pub elapsed: Duration,
}

/// Runs the job on one timely worker: builds the dataflow (restoring if configured), feeds the epochs from the
/// one after the restored checkpoint (X8), keeps at most `epochs_in_flight` epochs ahead of the output, polls
/// its checkpoints between steps and waits for them at the end.
///
/// # Errors
/// Any [`ClusterError`] of the operator, the checkpoints or the output directory.
pub fn run_worker(worker: &mut timely::worker::Worker, options: &RunOptions) -> Result<WorkerReport, ClusterError> {
    let index = worker.index();
    let peers = worker.peers();
    let run = options.checkpoints.as_ref().map_or(0, |c| c.run);
    let mut input: InputHandleVec<u64, Record> = InputHandleVec::new();
    let probe = ProbeHandle::new();
    let outputs: Rc<RefCell<Vec<WindowResult>>> = Rc::default();
    let mut file = match &options.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(ClusterError::io("create", dir))?;
            let path = dir.join(format!("run-{run}-worker-{index}.txt"));
            Some(std::fs::File::create(&path).map_err(ClusterError::io("create", &path))?)
        }
        None => None,
    };
    let sink = Rc::clone(&outputs);
    let window = options.job.window;
    let config = KeyedConfig {
        name: "WordCount".to_owned(),
        max_parallelism: options.max_parallelism,
        key_serializer: StringSerializer,
        checkpoints: options.checkpoints.clone(),
    };
    let checkpoints: WorkerCheckpoints = worker.dataflow::<u64, _, _>(|scope| {
        let stream = input.to_stream(scope);
        let (out, checkpoints) =
            keyed_state::<WordCountLogic, _>(stream, config, |b| WordCountLogic::register(b, window))?;
        out.inspect(move |r: &WindowResult| {
            if let Some(file) = file.as_mut() {
                // Unbuffered: a line written is in the page cache, so it survives the process being killed.
                let _ = writeln!(file, "{}", r.line());
            }
            sink.borrow_mut().push(r.clone());
        })
        .probe_with(&probe);
        Ok::<_, ClusterError>(checkpoints)
    })?;

    let first = checkpoints.first_epoch();
    let end = options
        .stop_before
        .map_or(options.job.epochs, |s| s.min(options.job.epochs));
    let ahead = options.epochs_in_flight.max(1);
    let started = Instant::now();
    let mut fed = 0;
    input.advance_to(first);
    let park = Some(Duration::from_millis(1));
    for epoch in first..end {
        for record in options.job.records(epoch, index, peers) {
            input.send(record);
            fed += 1;
        }
        input.advance_to(epoch + 1);
        let wait_for = (epoch + 1).saturating_sub(ahead - 1);
        while probe.less_than(&wait_for) {
            worker.step_or_park(park);
            checkpoints.poll()?;
        }
        if options.pause_after == Some(epoch) {
            loop {
                worker.step_or_park(park);
                checkpoints.poll()?;
            }
        }
    }
    input.close();
    while worker.step_or_park(park) {
        checkpoints.poll()?;
    }
    checkpoints.finish(options.commit_timeout)?;
    let elapsed = started.elapsed();
    let report = WorkerReport {
        worker: index,
        resumed_from: checkpoints.resumed_from(),
        durable: checkpoints.durable(),
        committed: checkpoints.committed(),
        pauses: checkpoints.pauses(),
        outputs: outputs.borrow().clone(),
        fed,
        elapsed,
    };
    Ok(report)
}

/// The outputs a restarted job delivers: those of the earlier run up to the checkpoint the later run resumed
/// from, then the later run's (X8: the epochs after the checkpoint are replayed, their earlier outputs dropped).
pub fn stitch(earlier: &[WindowResult], resumed_from: Option<u64>, later: &[WindowResult]) -> Vec<WindowResult> {
    let mut all: Vec<WindowResult> = earlier
        .iter()
        .filter(|r| resumed_from.is_some_and(|c| r.epoch <= c))
        .cloned()
        .chain(later.iter().cloned())
        .collect();
    all.sort();
    all
}
