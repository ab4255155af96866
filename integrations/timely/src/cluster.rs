//! Worker processes on one machine (127.0.0.1): free ports, a hostfile, and children killed on drop (X9).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// `n` loopback addresses with ports free at the time of the call: all `n` are bound to `127.0.0.1:0` at
/// once (so they differ), read back, and released (a port can be taken by another process in between; the
/// start then fails to bind and is retried by the caller).
///
/// # Errors
/// Binding fails.
pub fn free_addresses(n: usize) -> std::io::Result<Vec<String>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect()
}

/// Writes a timely hostfile (one `host:port` per line, process `i` on line `i`) and returns its path.
///
/// # Errors
/// Writing fails.
pub fn write_hostfile(path: &Path, addresses: &[String]) -> std::io::Result<PathBuf> {
    std::fs::write(path, addresses.join("\n") + "\n")?;
    Ok(path.to_path_buf())
}

/// Reads a hostfile: one address per non-empty line.
///
/// # Errors
/// Reading fails.
pub fn read_hostfile(path: &Path) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// A set of worker processes, each with its stdout read line by line. Every child still running when this is
/// dropped is killed (SIGKILL) and reaped: no process outlives its owner (X9).
#[derive(Debug)]
pub struct LocalCluster {
    children: Vec<Option<Child>>,
    lines: Receiver<(usize, String)>,
    seen: Vec<(usize, String)>,
}

impl LocalCluster {
    /// Spawns `processes` commands; `command(i)` builds process `i`'s.
    ///
    /// # Errors
    /// Spawning fails (the processes already started are killed).
    pub fn spawn(processes: usize, mut command: impl FnMut(usize) -> Command) -> std::io::Result<Self> {
        let (tx, rx) = channel();
        let mut cluster = LocalCluster {
            children: Vec::new(),
            lines: rx,
            seen: Vec::new(),
        };
        for i in 0..processes {
            let mut child = command(i).stdout(Stdio::piped()).stdin(Stdio::null()).spawn()?;
            if let Some(out) = child.stdout.take() {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(out).lines().map_while(Result::ok) {
                        if tx.send((i, line)).is_err() {
                            break;
                        }
                    }
                });
            }
            cluster.children.push(Some(child));
        }
        Ok(cluster)
    }

    /// Waits up to `timeout` for a line of process `process` satisfying `pred`; lines read meanwhile are kept
    /// ([`lines`](Self::lines)).
    pub fn wait_line(&mut self, process: usize, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        if let Some((_, l)) = self.seen.iter().find(|(p, l)| *p == process && pred(l)) {
            return Some(l.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok((p, line)) => {
                    self.seen.push((p, line.clone()));
                    if p == process && pred(&line) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Every line read so far, with its process.
    pub fn lines(&mut self) -> &[(usize, String)] {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        &self.seen
    }

    /// Kills process `i` with SIGKILL and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children.get_mut(i).and_then(Option::take) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `timeout` for every process to exit; those still running then are killed. Returns each
    /// process's exit status (`None`: killed here or earlier).
    pub fn wait_all(&mut self, timeout: Duration) -> Vec<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        let mut statuses = vec![None; self.children.len()];
        loop {
            let mut running = false;
            for (i, slot) in self.children.iter_mut().enumerate() {
                if let Some(child) = slot {
                    match child.try_wait() {
                        Ok(Some(status)) => {
                            statuses[i] = Some(status);
                            *slot = None;
                        }
                        Ok(None) => running = true,
                        Err(_) => *slot = None,
                    }
                }
            }
            if !running {
                break;
            }
            if Instant::now() >= deadline {
                for i in 0..self.children.len() {
                    self.kill(i);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Drain the output of the ended processes.
        let _ = self.lines();
        statuses
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}
