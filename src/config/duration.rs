//! Durations written with a unit: "250ms", "2s", "1m", "1h", "7d", "1.5s".

use std::time::Duration;

/// The longest duration accepted: 366 days.
const MAX_SECONDS: f64 = 366.0 * 86_400.0;

/// Parse a duration string; the error says what a valid one looks like.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || {
        format!("{text:?} is not a duration; write a number with a unit: \"250ms\", \"2s\", \"1m\"")
    };
    if number.is_empty() {
        return Err(bad());
    }
    let n: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        "" => {
            return Err(format!(
                "{text:?} has no unit; write \"{number}s\" or \"{number}ms\""
            ));
        }
        _ => return Err(bad()),
    };
    // A year is beyond any sensible poll, timeout or buffer age (a store-and-
    // forward log may keep weeks); the bound keeps Duration math safe.
    if !(0.0..=MAX_SECONDS).contains(&seconds) {
        return Err(format!("{text:?} is out of range (at most 366d)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Format a duration the way the config writes it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{ms}ms")
    } else {
        format!("{:.3}ms", d.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("367d").unwrap_err().contains("at most 366d"));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert!(parse_duration("5").unwrap_err().contains("has no unit"));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("99999999h").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,20}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn format_then_parse_is_identity(ms in 0u64..10_000_000) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
