//! Quality rules: why a tag is not good, how a failed poll ages a value from
//! uncertain to bad, and when a new value counts as a change. Pure functions,
//! tested without a clock or a store.

use std::time::Duration;

use tokio::time::Instant;

use super::Value;
use crate::modbus::protocol::ExceptionCode;

/// Why a tag has no good value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadCause {
    /// No connection to the device (refused, reset, port missing, malformed reply).
    Communication,
    /// The device did not answer within the timeout.
    Timeout,
    /// The device answered with this Modbus exception.
    Exception(ExceptionCode),
    /// The registers arrived but do not make a valid value (NaN, non-ASCII string).
    Decode,
    /// Not polled yet since start-up.
    Waiting,
}

impl BadCause {
    /// Stable lowercase name, used in JSON, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            BadCause::Communication => "communication",
            BadCause::Timeout => "timeout",
            BadCause::Exception(_) => "exception",
            BadCause::Decode => "decode",
            BadCause::Waiting => "waiting",
        }
    }
}

/// Data quality of a tag, with the reason when it is not good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Good,
    /// The last good value is kept after a failed poll, until it is older than `stale_after`.
    Uncertain(BadCause),
    Bad(BadCause),
}

impl Quality {
    /// The quality word: "good", "uncertain" or "bad".
    pub fn level(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Uncertain(_) => "uncertain",
            Quality::Bad(_) => "bad",
        }
    }

    /// The reason when not good.
    pub fn cause(self) -> Option<BadCause> {
        match self {
            Quality::Good => None,
            Quality::Uncertain(c) | Quality::Bad(c) => Some(c),
        }
    }
}

/// What a failed poll does to a tag's quality: keep the value as uncertain while it
/// is fresh, otherwise bad. Pure, so the rule is tested without a clock.
pub fn quality_after_failure(
    has_value: bool,
    last_good: Option<Instant>,
    now: Instant,
    stale_after: Duration,
    cause: BadCause,
) -> Quality {
    match last_good {
        Some(at) if has_value && now.saturating_duration_since(at) < stale_after => {
            Quality::Uncertain(cause)
        }
        _ => Quality::Bad(cause),
    }
}

/// True when `new` differs from `old` by more than the deadband (or in kind).
pub fn exceeds_deadband(old: &Value, new: &Value, deadband: Option<f64>) -> bool {
    match (deadband, old.as_f64(), new.as_f64()) {
        (Some(db), Some(a), Some(b)) if !matches!(new, Value::Bool(_)) => (b - a).abs() > db,
        _ => old != new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_within_stale_after_keeps_value_uncertain() {
        let now = Instant::now();
        let q = quality_after_failure(
            true,
            Some(now),
            now + Duration::from_secs(2),
            Duration::from_secs(3),
            BadCause::Timeout,
        );
        assert_eq!(q, Quality::Uncertain(BadCause::Timeout));
    }

    #[test]
    fn failure_after_stale_after_is_bad() {
        let now = Instant::now();
        let q = quality_after_failure(
            true,
            Some(now),
            now + Duration::from_secs(3),
            Duration::from_secs(3),
            BadCause::Exception(ExceptionCode::ServerDeviceFailure),
        );
        assert_eq!(
            q,
            Quality::Bad(BadCause::Exception(ExceptionCode::ServerDeviceFailure))
        );
    }

    #[test]
    fn failure_without_any_value_is_bad() {
        let now = Instant::now();
        let q = quality_after_failure(false, None, now, Duration::from_secs(3), BadCause::Timeout);
        assert_eq!(q, Quality::Bad(BadCause::Timeout));
    }
}
