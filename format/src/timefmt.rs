//! The one timestamp form replgen writes (`2026-11-28T15:00:00.123456Z`), read back as seconds.

/// Seconds since the Unix epoch of an RFC 3339 UTC timestamp as replgen writes them.
pub fn parse_epoch(text: &str) -> Option<f64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let mut t = time.split(':');
    let (hh, mm): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let ss: f64 = t.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86400 + hh * 3600 + mm * 60) as f64 + ss)
}

/// An instant as replgen writes timestamps: `2026-11-28T15:00:00.123456Z`.
pub fn format_epoch(micros: i64) -> String {
    let (secs, us) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // The civil date of a day number (Howard Hinnant's algorithm, the inverse of the above).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{us:06}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// This machine's clock now, as replgen writes timestamps.
pub fn now() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    format_epoch(micros)
}

/// The compact UTC stamp in published file and folder names: `2026-11-28T15:04:05.123456Z`
/// becomes `20261128T150405Z`. Names are for people; the index and headers carry the full time.
pub fn file_stamp(created: &str) -> String {
    let mut stamp: String = created
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .take(15)
        .collect();
    stamp.push('Z');
    stamp
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_stamps() {
        assert_eq!(
            super::file_stamp("2026-11-28T15:04:05.123456Z"),
            "20261128T150405Z"
        );
    }

    #[test]
    fn epoch() {
        assert_eq!(super::parse_epoch("1970-01-01T00:00:00.000000Z"), Some(0.0));
        assert_eq!(
            super::parse_epoch("2000-03-01T00:00:01.500000Z"),
            Some(951_868_801.5)
        );
        assert_eq!(super::parse_epoch("garbage"), None);
        for micros in [
            0,
            951_868_801_500_000,
            1_795_000_000_123_456,
            4_107_542_399_999_999,
        ] {
            let text = super::format_epoch(micros);
            let back = super::parse_epoch(&text).unwrap();
            assert!((back - micros as f64 / 1e6).abs() < 1e-5, "{text}");
        }
        assert_eq!(
            super::format_epoch(951_868_801_500_000),
            "2000-03-01T00:00:01.500000Z"
        );
    }
}
