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

/// How long a good value stands without a poll confirming it before it reads
/// uncertain: `stale_after`, but never less than two polls, so a value is not
/// doubted between two polls on time.
pub(super) fn unconfirmed_after(stale_after: Duration, poll: Duration) -> Duration {
    stale_after.max(poll.saturating_mul(2))
}

/// A tag's quality as read at `now`, when nothing may have confirmed or
/// failed it since `last_good` (a bus that stopped finishing cycles): a good
/// value reads uncertain (timeout) after `unconfirmed_after`, and bad after
/// twice that; an uncertain one reads bad once its last good value is
/// `stale_after` old, as the next failed poll would make it. Pure, so the
/// rule is tested without a clock.
pub(super) fn aged(
    quality: Quality,
    last_good: Option<Instant>,
    now: Instant,
    stale_after: Duration,
    poll: Duration,
) -> Quality {
    let Some(at) = last_good else {
        return quality;
    };
    let age = now.saturating_duration_since(at);
    let doubt = unconfirmed_after(stale_after, poll);
    match quality {
        Quality::Good if age >= doubt.saturating_mul(2) => Quality::Bad(BadCause::Timeout),
        Quality::Good if age >= doubt => Quality::Uncertain(BadCause::Timeout),
        Quality::Uncertain(cause) if age >= stale_after => Quality::Bad(cause),
        q => q,
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
    fn an_unconfirmed_good_value_ages_to_uncertain_then_bad() {
        let (t0, stale, poll) = (
            Instant::now(),
            Duration::from_secs(3),
            Duration::from_secs(1),
        );
        let at = |s: u64| {
            aged(
                Quality::Good,
                Some(t0),
                t0 + Duration::from_secs(s),
                stale,
                poll,
            )
        };
        assert_eq!(at(2), Quality::Good);
        assert_eq!(at(3), Quality::Uncertain(BadCause::Timeout));
        assert_eq!(at(5), Quality::Uncertain(BadCause::Timeout));
        assert_eq!(at(6), Quality::Bad(BadCause::Timeout));
    }

    #[test]
    fn a_good_value_is_not_doubted_between_two_polls_on_time() {
        let (t0, stale, poll) = (
            Instant::now(),
            Duration::from_secs(1),
            Duration::from_secs(10),
        );
        let q = aged(
            Quality::Good,
            Some(t0),
            t0 + Duration::from_secs(19),
            stale,
            poll,
        );
        assert_eq!(q, Quality::Good);
    }

    #[test]
    fn an_uncertain_value_reads_bad_at_stale_after_without_another_poll() {
        let (t0, stale, poll) = (
            Instant::now(),
            Duration::from_secs(3),
            Duration::from_secs(1),
        );
        let uncertain = Quality::Uncertain(BadCause::Communication);
        assert_eq!(
            aged(
                uncertain,
                Some(t0),
                t0 + Duration::from_secs(2),
                stale,
                poll
            ),
            uncertain
        );
        assert_eq!(
            aged(
                uncertain,
                Some(t0),
                t0 + Duration::from_secs(3),
                stale,
                poll
            ),
            Quality::Bad(BadCause::Communication)
        );
        let bad = Quality::Bad(BadCause::Decode);
        assert_eq!(
            aged(bad, Some(t0), t0 + Duration::from_secs(99), stale, poll),
            bad
        );
        assert_eq!(aged(Quality::Good, None, t0, stale, poll), Quality::Good);
    }

    #[test]
    fn failure_without_any_value_is_bad() {
        let now = Instant::now();
        let q = quality_after_failure(false, None, now, Duration::from_secs(3), BadCause::Timeout);
        assert_eq!(q, Quality::Bad(BadCause::Timeout));
    }
}
