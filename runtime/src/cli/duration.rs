//! Durations on the command line: `1h`, `30m`, `10s`, `200ms`, or combinations like `1h30m`.

use std::time::Duration;

/// The longest duration accepted: a century.
const MAX: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Parses a duration; refuses zero and anything beyond a century (no overflow).
pub(super) fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let err = || format!("`{text}` is not a duration (examples: 1h, 5m, 10s, 200ms)");
    let too_long = || format!("`{text}` is longer than the longest duration accepted (100 years)");
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" | "" => 1000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(err()),
        };
        let part = n
            .checked_mul(millis_per_unit)
            .map(Duration::from_millis)
            .ok_or_else(too_long)?;
        total = total.checked_add(part).ok_or_else(too_long)?;
    }
    if total > MAX {
        return Err(too_long());
    }
    if total.is_zero() {
        return Err(err());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        // Values that would overflow are refused, not wrapped.
        assert!(parse_duration("18446744073709551615h").is_err());
        assert!(parse_duration("5124095576030431h").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
        assert!(parse_duration("36501d").is_err());
    }
}
