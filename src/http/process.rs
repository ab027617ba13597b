//! The process family of `/metrics` (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, ...), read from /proc at scrape time.
//!
//! Names and units follow the Prometheus client libraries' process collector,
//! so stock dashboards and alerts work unchanged. Every figure is optional: a
//! file that is missing (not Linux) or hidden (systemd's `ProcSubset=pid`) or
//! that does not parse leaves its metric out rather than failing the scrape.
//! The parsers are pure functions over the files' text.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Clock ticks per second of /proc/self/stat times; `USER_HZ` is 100 on every
/// Linux architecture the gateway ships for.
const USER_HZ: f64 = 100.0;

/// When the process started, in seconds since the epoch. Taken from the clock
/// at start-up rather than /proc/stat, which the systemd unit hides (ProcSubset=pid).
static PROCESS_START: OnceLock<f64> = OnceLock::new();

/// Record the process start time; call once, early in `main`.
pub fn mark_process_start() {
    PROCESS_START.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    });
}

/// One reading of the process figures, each `None` when unavailable.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub(super) cpu_seconds: Option<f64>,
    /// Start time in seconds since the epoch, once `mark_process_start` ran.
    pub(super) start_time: Option<f64>,
    pub(super) resident_bytes: Option<f64>,
    pub(super) virtual_bytes: Option<f64>,
    pub(super) open_fds: Option<f64>,
    /// The soft limit on open files.
    pub(super) max_fds: Option<f64>,
}

impl ProcessStats {
    /// Read /proc/self now (Linux); everything is `None` elsewhere.
    pub(super) fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        ProcessStats {
            cpu_seconds: cpu_seconds(&stat),
            start_time: PROCESS_START.get().copied(),
            resident_bytes: status_kb(&status, "VmRSS:").map(|kb| kb * 1024.0),
            virtual_bytes: status_kb(&status, "VmSize:").map(|kb| kb * 1024.0),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|fds| fds.count() as f64),
            max_fds: max_open_files(&limits),
        }
    }
}

/// utime + stime of /proc/self/stat, in seconds.
fn cpu_seconds(stat: &str) -> Option<f64> {
    // Fields after the command name, which is in parentheses and may hold
    // spaces and parentheses itself: the last ')' ends it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // proc(5) numbers fields from 1; the first after the name is field 3.
    let field = |n: usize| {
        fields
            .get(n.saturating_sub(3))
            .and_then(|f| f.parse::<f64>().ok())
    };
    let (utime, stime) = (field(14)?, field(15)?);
    Some((utime + stime) / USER_HZ)
}

/// A `Key:   123 kB` line of /proc/self/status, in kB.
fn status_kb(status: &str, key: &str) -> Option<f64> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse::<f64>()
            .ok()
    })
}

/// The soft limit of the `Max open files` line of /proc/self/limits.
fn max_open_files(limits: &str) -> Option<f64> {
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse::<f64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_found_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_seconds(stat), Some(3.0));
        assert_eq!(cpu_seconds("1234 (truncated) S 1"), None);
        assert_eq!(cpu_seconds(""), None);
    }

    #[test]
    fn status_and_limits_lines_parse() {
        let status = "Name:\tedge-gateway\nVmSize:\t  123456 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(status_kb(status, "VmRSS:"), Some(2048.0));
        assert_eq!(status_kb(status, "VmSize:"), Some(123_456.0));
        assert_eq!(status_kb(status, "VmSwap:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024.0));
        assert_eq!(max_open_files(""), None);
    }
}
