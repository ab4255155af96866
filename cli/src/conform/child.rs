//! The implementation under test as a child process: `sh -c COMMAND`, requests on its stdin, responses from its
//! stdout (read on a thread, so a hung child is a timeout, not a hang), the tail of its stderr kept for errors.

use super::protocol::{Request, Response};
use crate::error::CliError;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Lines of the child's stderr kept for error messages.
const STDERR_TAIL: usize = 5;

/// A running implementation under test.
pub struct ChildProcess {
    command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<std::io::Result<String>>,
    stderr: Arc<Mutex<Vec<String>>>,
    timeout: Duration,
    next_id: u64,
    /// Requests sent so far.
    pub requests: u64,
}

impl std::fmt::Debug for ChildProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildProcess")
            .field("command", &self.command)
            .field("pid", &self.child.id())
            .field("requests", &self.requests)
            .finish()
    }
}

impl ChildProcess {
    /// Starts `sh -c command`.
    pub fn spawn(command: &str, timeout: Duration) -> Result<Self, CliError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CliError::Child(format!("cannot start `{command}`: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let tail = Arc::new(Mutex::new(Vec::new()));
        let keep = tail.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut t = keep.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == STDERR_TAIL {
                    t.remove(0);
                }
                t.push(line);
            }
        });
        Ok(ChildProcess {
            command: command.to_string(),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: tail,
            timeout,
            next_id: 0,
            requests: 0,
        })
    }

    fn stderr_tail(&self) -> String {
        // Give the stderr thread a moment to collect the last words of a dying child.
        thread::sleep(Duration::from_millis(50));
        let t = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        match t.last() {
            Some(last) => format!(" (its stderr: {last})"),
            None => String::new(),
        }
    }

    fn died(&mut self, what: &str) -> CliError {
        let status = match self.child.wait_timeout_ms(500) {
            Some(s) => format!("exited with {s}"),
            None => "stopped responding".to_string(),
        };
        CliError::Child(format!(
            "child `{}` {status} {what}{}",
            self.command,
            self.stderr_tail()
        ))
    }

    /// Sends `request` and returns the result, or why the child failed.
    pub fn call(&mut self, request: &Request) -> Result<serde_json::Value, CliError> {
        let id = self.next_id;
        self.next_id += 1;
        self.requests += 1;
        let line = request.encode(id);
        let what = format!("before answering request {line}");
        let sent = match self.stdin.as_mut() {
            Some(stdin) => writeln!(stdin, "{line}").and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        if sent.is_err() {
            return Err(self.died(&what));
        }
        let text = match self.lines.recv_timeout(self.timeout) {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => return Err(CliError::Child(format!("reading the child's stdout: {e}"))),
            Err(RecvTimeoutError::Disconnected) => return Err(self.died(&what)),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                return Err(CliError::Child(format!(
                    "child `{}` did not answer request {line} within {:?} (killed)",
                    self.command, self.timeout
                )));
            }
        };
        let shown: String = text.chars().take(80).collect();
        let response = Response::decode(&text)
            .map_err(|e| CliError::Child(format!("child answered garbage to request {line}: {e}: `{shown}`")))?;
        if response.id != id {
            return Err(CliError::Child(format!(
                "child answered id {} to request {line} (expected id {id})",
                response.id
            )));
        }
        if let Some(e) = response.error {
            return Err(CliError::Child(format!(
                "child reported an error for request {line}: {e}"
            )));
        }
        Ok(response.result.expect("a response without error has a result"))
    }

    /// Closes the child's stdin and waits (briefly) for it to exit; kills it otherwise.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        if self.child.wait_timeout_ms(2000).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

trait WaitTimeout {
    fn wait_timeout_ms(&mut self, ms: u64) -> Option<std::process::ExitStatus>;
}

impl WaitTimeout for Child {
    fn wait_timeout_ms(&mut self, ms: u64) -> Option<std::process::ExitStatus> {
        for _ in 0..ms / 10 {
            if let Ok(Some(s)) = self.try_wait() {
                return Some(s);
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.try_wait().ok().flatten()
    }
}
