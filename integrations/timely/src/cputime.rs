//! On-CPU time from `/proc` (Linux), for throughput figures that a loaded machine's preemptions do not distort.

use std::time::Duration;

/// CPU time (user + system) of this process so far, from `/proc/self/stat` (clock ticks of 10 ms); `None`
/// where `/proc` is unavailable.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}
