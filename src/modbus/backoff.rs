//! Jittered exponential backoff for reconnects.
//!
//! Doubling from `min` to `max`; each delay is drawn uniformly from the upper
//! half of the current step ("equal jitter"), so a fleet of gateways restarted
//! together does not reconnect in lockstep, yet no delay is ever below half the
//! step. Invariant: `min <= delay <= max` for every delay.

use std::time::Duration;

/// A `max` below `min` was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("backoff max {max:?} is less than min {min:?}")]
pub struct InvalidBackoff {
    pub min: Duration,
    pub max: Duration,
}

/// Exponential backoff state.
#[derive(Debug, Clone)]
pub struct ExponentialBackoff {
    min: Duration,
    max: Duration,
    step: Duration,
    rng: u64,
}

impl ExponentialBackoff {
    /// A backoff from `min` to `max`; `seed` varies the jitter between instances.
    pub fn try_new(min: Duration, max: Duration, seed: u64) -> Result<Self, InvalidBackoff> {
        if max < min {
            return Err(InvalidBackoff { min, max });
        }
        // splitmix64 needs any nonzero-ish state; `saturating` mixes in a
        // constant so that seed 0 stays usable.
        Ok(Self::saturating(min, max, seed))
    }

    /// A backoff from `min` to `max`, or fixed at `min` when `max` is below it.
    /// For settings that were validated already; infallible.
    pub fn saturating(min: Duration, max: Duration, seed: u64) -> Self {
        ExponentialBackoff {
            min,
            max: max.max(min),
            step: min,
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The next delay, and grow the step.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = step.saturating_mul(2).min(self.max);
        let half = step / 2;
        let spread = u64::try_from(step.saturating_sub(half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            self.next_random() % spread.saturating_add(1)
        };
        (half + Duration::from_nanos(jitter)).clamp(self.min, self.max)
    }

    /// Back to `min` after a success.
    pub fn reset(&mut self) {
        self.step = self.min;
    }

    fn next_random(&mut self) -> u64 {
        splitmix64(&mut self.rng)
    }
}

/// splitmix64: tiny and good enough for jitter and simulated noise; no dependency.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_max_below_min() {
        assert!(
            ExponentialBackoff::try_new(Duration::from_secs(2), Duration::from_secs(1), 0).is_err()
        );
    }

    #[test]
    fn saturating_fixes_a_max_below_min_at_min() {
        let mut b =
            ExponentialBackoff::saturating(Duration::from_secs(2), Duration::from_secs(1), 0);
        for _ in 0..5 {
            assert_eq!(b.next_delay(), Duration::from_secs(2));
        }
    }

    #[test]
    fn grows_to_max_and_resets() {
        let mut b =
            ExponentialBackoff::try_new(Duration::from_millis(200), Duration::from_secs(30), 7)
                .unwrap();
        let first = b.next_delay();
        assert!(first <= Duration::from_millis(200));
        for _ in 0..20 {
            b.next_delay();
        }
        assert!(b.next_delay() >= Duration::from_secs(15));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(200));
    }

    proptest! {
        #[test]
        fn every_delay_stays_within_min_and_max(min_ms in 0u64..5_000, extra_ms in 0u64..100_000, seed: u64, n in 1usize..64) {
            let min = Duration::from_millis(min_ms);
            let max = min + Duration::from_millis(extra_ms);
            let mut b = ExponentialBackoff::try_new(min, max, seed).unwrap();
            for _ in 0..n {
                let d = b.next_delay();
                prop_assert!(d >= min && d <= max, "{d:?} outside {min:?}..={max:?}");
            }
        }
    }
}
