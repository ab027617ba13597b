//! The result of the last config read, start-up or SIGHUP, for `/metrics`:
//! the same pair of gauges Prometheus keeps about its own config, so an
//! alert rule written for one reads the same for the other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether the last config read was valid, and when one last was.
#[derive(Debug)]
pub struct ReloadStats {
    last_successful: AtomicBool,
    /// Milliseconds since the Unix epoch of the last valid read.
    last_success_ms: AtomicU64,
}

impl Default for ReloadStats {
    /// A gateway runs only on a valid config: the start-up read counts.
    fn default() -> Self {
        let stats = ReloadStats {
            last_successful: AtomicBool::new(true),
            last_success_ms: AtomicU64::new(0),
        };
        stats.record(true, SystemTime::now());
        stats
    }
}

impl ReloadStats {
    /// Record a config read at `at`: valid or refused.
    pub fn record(&self, valid: bool, at: SystemTime) {
        self.last_successful.store(valid, Ordering::Relaxed);
        if valid {
            let ms = at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            self.last_success_ms.store(ms, Ordering::Relaxed);
        }
    }

    /// True while the last config read was valid.
    pub fn last_successful(&self) -> bool {
        self.last_successful.load(Ordering::Relaxed)
    }

    /// Seconds since the Unix epoch of the last valid read.
    #[allow(clippy::cast_precision_loss)] // milliseconds since 1970 fit f64 exactly for 285k years
    pub fn last_success_seconds(&self) -> f64 {
        self.last_success_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_refused_read_clears_success_but_keeps_the_last_valid_time() {
        let stats = ReloadStats::default();
        assert!(stats.last_successful());
        let valid = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        stats.record(true, valid);
        stats.record(false, valid + Duration::from_secs(60));
        assert!(!stats.last_successful());
        assert!((stats.last_success_seconds() - 1_700_000_000.123).abs() < 1e-6);
        stats.record(true, valid + Duration::from_secs(120));
        assert!(stats.last_successful());
        assert!((stats.last_success_seconds() - 1_700_000_120.123).abs() < 1e-6);
    }
}
