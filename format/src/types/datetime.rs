//! Dates, times, timestamps and intervals as their ISO text forms (`DateStyle=ISO, YMD`,
//! `IntervalStyle=postgres`, `TimeZone=UTC`), checked syntactically.

/// A tiny cursor over ASCII text for the syntactic checks.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn new(s: &'a str) -> Self {
        Cur {
            b: s.as_bytes(),
            i: 0,
        }
    }

    fn done(&self) -> bool {
        self.i == self.b.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, s: &str) -> bool {
        if self.b[self.i..].starts_with(s.as_bytes()) {
            self.i += s.len();
            true
        } else {
            false
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Between `min` and `max` ASCII digits; returns how many.
    fn digits(&mut self, min: usize, max: usize) -> Result<usize, String> {
        let start = self.i;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let n = self.i - start;
        if n < min {
            Err(format!("expected a number at offset {start}"))
        } else {
            Ok(n)
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {:?} at offset {}", c as char, self.i))
        }
    }

    fn end(&self) -> Result<(), String> {
        if self.done() {
            Ok(())
        } else {
            Err(format!("unexpected text at offset {}", self.i))
        }
    }
}

fn is_infinity(t: &str) -> bool {
    matches!(t, "infinity" | "-infinity")
}

/// `YYYY-MM-DD`, years of 4 digits or more.
fn date_part(c: &mut Cur) -> Result<(), String> {
    c.digits(4, 12)?;
    c.expect(b'-')?;
    c.digits(2, 2)?;
    c.expect(b'-')?;
    c.digits(2, 2)?;
    Ok(())
}

/// `HH:MM:SS[.ffffff]` (`HH:MM` alone too).
fn time_part(c: &mut Cur) -> Result<(), String> {
    c.digits(1, 2)?;
    c.expect(b':')?;
    c.digits(2, 2)?;
    if c.eat(b':') {
        c.digits(2, 2)?;
        if c.eat(b'.') {
            c.digits(1, 12)?;
        }
    }
    Ok(())
}

/// `+HH`, `-HH:MM`, `+HH:MM:SS`.
fn zone_part(c: &mut Cur) -> Result<(), String> {
    if !(c.eat(b'+') || c.eat(b'-')) {
        return Err(format!("expected a time zone offset at offset {}", c.i));
    }
    c.digits(2, 2)?;
    if c.eat(b':') {
        c.digits(2, 2)?;
        if c.eat(b':') {
            c.digits(2, 2)?;
        }
    }
    Ok(())
}

fn check_date(t: &str) -> Result<(), String> {
    if is_infinity(t) {
        return Ok(());
    }
    let mut c = Cur::new(t);
    date_part(&mut c)?;
    c.eat_str(" BC");
    c.end()
}

fn check_time(t: &str) -> Result<(), String> {
    let mut c = Cur::new(t);
    time_part(&mut c)?;
    c.end()
}

fn check_timetz(t: &str) -> Result<(), String> {
    let mut c = Cur::new(t);
    time_part(&mut c)?;
    zone_part(&mut c)?;
    c.end()
}

fn check_timestamp(t: &str, tz: bool) -> Result<(), String> {
    if is_infinity(t) {
        return Ok(());
    }
    let mut c = Cur::new(t);
    date_part(&mut c)?;
    if !(c.eat(b' ') || c.eat(b'T')) {
        return Err(format!("expected a space and a time at offset {}", c.i));
    }
    time_part(&mut c)?;
    if tz {
        zone_part(&mut c)?;
    }
    c.eat_str(" BC");
    c.end()
}

/// `IntervalStyle=postgres`: `[+-]N year[s] [+-]N mon[s] [+-]N day[s] [+-]HH:MM:SS[.f]`, each
/// part optional but at least one, e.g. `1 year 2 mons -3 days +04:05:06.5`, `-00:00:01`.
fn check_interval(t: &str) -> Result<(), String> {
    if is_infinity(t) {
        return Ok(());
    }
    let mut c = Cur::new(t);
    let mut parts = 0;
    loop {
        if parts > 0 && !c.eat(b' ') {
            break;
        }
        let start = c.i;
        let _ = c.eat(b'+') || c.eat(b'-');
        c.digits(1, 20)?;
        if c.peek() == Some(b':') {
            c.i = start;
            let _ = c.eat(b'+') || c.eat(b'-');
            c.digits(1, 20)?;
            c.expect(b':')?;
            c.digits(2, 2)?;
            c.expect(b':')?;
            c.digits(2, 2)?;
            if c.eat(b'.') {
                c.digits(1, 12)?;
            }
            parts += 1;
            break;
        }
        c.expect(b' ')?;
        if !["years", "year", "mons", "mon", "days", "day"]
            .iter()
            .any(|u| c.eat_str(u))
        {
            return Err(format!("expected years, mons or days at offset {}", c.i));
        }
        parts += 1;
    }
    if parts == 0 {
        return Err("empty interval".into());
    }
    c.end()
}

super::text_newtype!(
    /// A `date` as ISO text: `2024-02-29`, `0044-03-15 BC`, `12345-01-01`, `infinity`.
    Date,
    "date",
    check_date
);

super::text_newtype!(
    /// A `time without time zone`: `13:45:00`, `23:59:59.999999`, `24:00:00`.
    Time,
    "time",
    check_time
);

super::text_newtype!(
    /// A `time with time zone`: `13:45:00+00`, `01:02:03.5-05:30`.
    TimeTz,
    "timetz",
    check_timetz
);

super::text_newtype!(
    /// A `timestamp without time zone`: `2024-02-29 13:45:00.123456`, `... BC`, `-infinity`.
    Timestamp,
    "timestamp",
    |t| check_timestamp(t, false)
);

super::text_newtype!(
    /// A `timestamp with time zone` as printed under `TimeZone=UTC`:
    /// `2024-02-29 13:45:00.123456+00`, `... BC`, `infinity`.
    TimestampTz,
    "timestamptz",
    |t| check_timestamp(t, true)
);

super::text_newtype!(
    /// An `interval` in `IntervalStyle=postgres`: `1 year 2 mons -3 days +04:05:06.789`.
    Interval,
    "interval",
    check_interval
);
