//! The implementation under test as a child process: `sh -c COMMAND`, requests on its stdin, responses from its
//! stdout (read on a thread, so a hung child is a timeout, not a hang), the tail of its stderr kept for errors.
//!
//! **Process group.** The child runs in a process group of its own, led by a tiny *watchdog* (`sh -c 'read l;
//! kill -KILL 0'`) whose stdin is a pipe from the kit. Closing that pipe makes the watchdog kill the whole group:
//! the child, and whatever the child forked (a JVM behind a launcher script, a grandchild that hangs). The kit
//! closes it on a timeout, on a divergence, at the end of a run — and, because the pipe closes when the kit's
//! process ends in any way, also on Ctrl-C or a kill of the kit, with no signal handler and no `unsafe`. Being in
//! another group, the child does not receive the terminal's Ctrl-C itself: the kit decides when it ends.

use super::protocol::{Request, Response};
use crate::error::CliError;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Lines of the child's stderr kept for error messages.
const STDERR_TAIL: usize = 5;

/// The watchdog leading the child's process group: it kills the group (itself included) when its stdin closes.
const WATCHDOG: &str = "read line; kill -KILL 0";

/// A successful exchange: the child answered the request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `"result"`: the operation's result.
    Result(serde_json::Value),
    /// `"unsupported"`: the port does not implement this request; it did nothing.
    Unsupported,
    /// `"error"`: the port reported an error (its message).
    Error(String),
}

/// How the child failed to answer. After any of these the child's process group has been killed; the next
/// [`ChildProcess::call`] starts the command again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// It exited (or closed its stdout) before answering; the exit status.
    Died {
        /// `exited with exit status: 3`, `stopped responding`, ...
        status: String,
        /// The full message.
        message: String,
    },
    /// It did not answer within the timeout.
    Timeout(String),
    /// It answered something that is not a response, or with the wrong id.
    Garbage(String),
}

impl Broken {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Broken::Died { message, .. } | Broken::Timeout(message) | Broken::Garbage(message) => message,
        }
    }
}

/// The running process group: the watchdog, the child, the reader threads' ends.
struct Running {
    watchdog: Child,
    watchdog_stdin: Option<ChildStdin>,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<std::io::Result<String>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(command: &str) -> Result<Self, CliError> {
        let cannot = |e: std::io::Error| CliError::Child(format!("cannot start `{command}`: {e}"));
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(cannot)?;
        let watchdog_stdin = watchdog.stdin.take();
        let group = i32::try_from(watchdog.id()).map_err(|_| cannot(std::io::Error::other("pid out of range")))?;
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(command)
            .process_group(group)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                drop(watchdog_stdin);
                let _ = watchdog.wait();
                return Err(cannot(e));
            }
        };
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(cannot(std::io::Error::other("no pipes to the child")));
        };
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
        Ok(Running {
            watchdog,
            watchdog_stdin,
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: tail,
        })
    }

    /// Kills the whole process group and reaps the child and the watchdog.
    fn kill_group(&mut self) {
        drop(self.stdin.take());
        drop(self.watchdog_stdin.take());
        let _ = self.watchdog.wait();
        // The child is in the group and is dead by now; in case it left the group, kill it directly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// A running implementation under test.
pub struct ChildProcess {
    command: String,
    running: Option<Running>,
    timeout: Duration,
    next_id: u64,
    /// Requests sent so far.
    pub requests: u64,
    /// Times the command was started.
    pub starts: u64,
}

impl std::fmt::Debug for ChildProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildProcess")
            .field("command", &self.command)
            .field("pid", &self.running.as_ref().map(|r| r.child.id()))
            .field("requests", &self.requests)
            .finish()
    }
}

impl ChildProcess {
    /// Starts `sh -c command` in a process group of its own.
    pub fn spawn(command: &str, timeout: Duration) -> Result<Self, CliError> {
        let running = Running::start(command)?;
        Ok(ChildProcess {
            command: command.to_string(),
            running: Some(running),
            timeout,
            next_id: 0,
            requests: 0,
            starts: 1,
        })
    }

    fn stderr_tail(running: &Running) -> String {
        // Give the stderr thread a moment to collect the last words of a dying child.
        thread::sleep(Duration::from_millis(50));
        let t = running.stderr.lock().unwrap_or_else(|p| p.into_inner());
        match t.last() {
            Some(last) => format!(" (its stderr: {last})"),
            None => String::new(),
        }
    }

    /// Marks the child broken: kills its group and returns `broken`.
    fn broken(&mut self, broken: Broken) -> Broken {
        if let Some(mut r) = self.running.take() {
            r.kill_group();
        }
        broken
    }

    fn died(&mut self, what: &str) -> Broken {
        let Some(running) = self.running.as_mut() else {
            return Broken::Died {
                status: "not running".into(),
                message: format!("child `{}` is not running {what}", self.command),
            };
        };
        let status = match wait_timeout_ms(&mut running.child, 500) {
            Some(s) => format!("exited with {s}"),
            None => "stopped responding".to_string(),
        };
        let message = format!("child `{}` {status} {what}{}", self.command, Self::stderr_tail(running));
        self.broken(Broken::Died { status, message })
    }

    /// Sends `request` and returns the reply, or how the child broke (its group is then killed, and the next
    /// call starts the command again). `Err(CliError)` only if the command cannot be started at all.
    pub fn call(&mut self, request: &Request) -> Result<Result<Reply, Broken>, CliError> {
        if self.running.is_none() {
            self.running = Some(Running::start(&self.command)?);
            self.starts += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.requests += 1;
        let line = request.encode(id);
        let what = format!("before answering request {line}");
        let running = self.running.as_mut().expect("started above");
        let sent = match running.stdin.as_mut() {
            Some(stdin) => writeln!(stdin, "{line}").and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        if sent.is_err() {
            return Ok(Err(self.died(&what)));
        }
        let text = match running.lines.recv_timeout(self.timeout) {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => {
                let message = format!("reading the child's stdout after request {line}: {e}");
                return Ok(Err(self.broken(Broken::Garbage(message))));
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(Err(self.died(&what))),
            Err(RecvTimeoutError::Timeout) => {
                let message = format!(
                    "child `{}` did not answer request {line} within {:?} (its process group was killed)",
                    self.command, self.timeout
                );
                return Ok(Err(self.broken(Broken::Timeout(message))));
            }
        };
        let response = match Response::decode(&text) {
            Ok(r) => r,
            Err(e) => {
                let shown: String = text.chars().take(80).collect();
                let message = format!("child answered garbage to request {line}: {e}: `{shown}`");
                return Ok(Err(self.broken(Broken::Garbage(message))));
            }
        };
        if response.id != id {
            let message = format!("child answered id {} to request {line} (expected id {id})", response.id);
            return Ok(Err(self.broken(Broken::Garbage(message))));
        }
        Ok(Ok(response.reply))
    }

    /// Closes the child's stdin and waits (briefly) for it to exit, then kills what is left of its process
    /// group.
    pub fn finish(mut self) {
        if let Some(mut r) = self.running.take() {
            drop(r.stdin.take());
            let _ = wait_timeout_ms(&mut r.child, 2000);
            r.kill_group();
        }
    }
}

fn wait_timeout_ms(child: &mut Child, ms: u64) -> Option<std::process::ExitStatus> {
    for _ in 0..ms / 10 {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.try_wait().ok().flatten()
}
