//! CPU time and memory of a process from `/proc`, and of the generator itself.
//!
//! The router's cost per operation is its CPU time (user + system, all threads) over the
//! measurement window divided by the operations completed in it, so the figure does not depend on
//! how fast the load generator is. `/proc/PID/stat` counts in clock ticks (`_SC_CLK_TCK`, 100 on
//! Linux: 10 ms), which over a window of seconds is well under 1% of the total.

use std::fs;
use std::io;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// User + system CPU time of every thread, in microseconds.
    pub cpu_us: u64,
    /// Resident set size now, in KiB (`VmRSS`).
    pub rss_kb: u64,
    /// Peak resident set size so far, in KiB (`VmHWM`).
    pub hwm_kb: u64,
    pub at: Instant,
}

/// Reads `/proc/PID/stat` and `/proc/PID/status`.
pub fn sample(pid: u32) -> io::Result<Sample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces; the fields after its closing ')' are fixed.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| bad("no ')' in stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at indexes 11 and 12.
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or_else(|| bad("short stat"));
    let ticks = tick(11)? + tick(12)?;
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Sample {
        cpu_us: ticks * 1_000_000 / clock_ticks(),
        rss_kb: kb("VmRSS:"),
        hwm_kb: kb("VmHWM:"),
        at: Instant::now(),
    })
}

/// The router's figures over a window, attached to a scenario's result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RouterUsage {
    pub pid: u32,
    /// Router CPU microseconds per operation in the window.
    pub cpu_us_per_op: f64,
    /// Average cores busy in the window (CPU time / wall time).
    pub cpu_cores: f64,
    pub rss_kb: u64,
    pub peak_rss_kb: u64,
}

impl RouterUsage {
    pub fn between(pid: u32, before: &Sample, after: &Sample, operations: u64) -> RouterUsage {
        let cpu = after.cpu_us.saturating_sub(before.cpu_us) as f64;
        let wall = after.at.duration_since(before.at).as_secs_f64() * 1e6;
        RouterUsage {
            pid,
            cpu_us_per_op: if operations > 0 { cpu / operations as f64 } else { 0.0 },
            cpu_cores: if wall > 0.0 { cpu / wall } else { 0.0 },
            rss_kb: after.rss_kb,
            peak_rss_kb: after.hwm_kb,
        }
    }
}

/// This process's own CPU time (user + system), in microseconds.
pub fn self_cpu_us() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// Raises this process's open-file limit to its hard limit (thousands of sessions need it).
pub fn raise_fd_limit() {
    // SAFETY: plain syscalls on a struct we own.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}
