//! The date and time output forms PostgreSQL prints (`DateStyle=ISO`, `TimeZone=UTC`) as
//! numbers, for the library date-time types: parsed strictly, printed the way PostgreSQL
//! prints them, so that a value read from a packet prints back to the same text.

use crate::codec::{shown, DecodeError};
use std::io::Write as _;

/// A date with the year as astronomical year (1 BC is 0, 2 BC is -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ymd {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// A time of day; `hour` may be 24 (PostgreSQL's `time` allows `24:00:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Clock {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanos: u32,
}

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    /// Exactly `n` digits, or (`n == 0`) at least 4 (a year).
    fn number(&mut self, n: usize) -> Option<u32> {
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
            if n != 0 && self.i - start == n {
                break;
            }
        }
        let len = self.i - start;
        let ok = if n == 0 {
            (4..=9).contains(&len)
        } else {
            len == n
        };
        if !ok {
            return None;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
}

fn invalid(what: &str, text: &str) -> DecodeError {
    DecodeError::new(format!(
        "invalid {what} {} (expected PostgreSQL's ISO output form)",
        shown(text)
    ))
}

fn date_part(c: &mut Cur) -> Option<(u32, u8, u8)> {
    let y = c.number(0)?;
    let ok = c.eat(b'-');
    let m = c.number(2)?;
    let ok = ok && c.eat(b'-');
    let d = c.number(2)?;
    ok.then_some((y, m as u8, d as u8))
}

fn clock_part(c: &mut Cur) -> Option<Clock> {
    let hour = c.number(2)? as u8;
    let ok = c.eat(b':');
    let minute = c.number(2)? as u8;
    let ok = ok && c.eat(b':');
    let second = c.number(2)? as u8;
    let mut nanos = 0;
    if c.eat(b'.') {
        let start = c.i;
        while c.i < c.b.len() && c.b[c.i].is_ascii_digit() {
            c.i += 1;
        }
        let digits = &c.b[start..c.i];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        for k in 0..9 {
            nanos = nanos * 10 + digits.get(k).map_or(0, |d| u32::from(d - b'0'));
        }
    }
    (ok && minute < 60
        && second < 60
        && (hour < 24 || (hour == 24 && minute == 0 && second == 0 && nanos == 0)))
        .then_some(Clock {
            hour,
            minute,
            second,
            nanos,
        })
}

/// `+HH`, `-HH:MM`, `+HH:MM:SS` as seconds east of UTC.
fn offset_part(c: &mut Cur) -> Option<i32> {
    let sign = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return None;
    };
    let mut secs = c.number(2)? as i32 * 3600;
    if c.eat(b':') {
        secs += c.number(2)? as i32 * 60;
        if c.eat(b':') {
            secs += c.number(2)? as i32;
        }
    }
    Some(sign * secs)
}

/// The BC suffix, turning the printed year into an astronomical one.
fn era(c: &mut Cur, year: u32) -> Option<i32> {
    let bc = c.b[c.i..] == *b" BC";
    if bc {
        c.i = c.b.len();
    }
    if c.i != c.b.len() || year == 0 {
        return None;
    }
    let year = year as i32;
    Some(if bc { 1 - year } else { year })
}

pub(crate) fn parse_date(text: &str) -> Result<Ymd, DecodeError> {
    let mut c = Cur {
        b: text.as_bytes(),
        i: 0,
    };
    (|| {
        let (y, month, day) = date_part(&mut c)?;
        let year = era(&mut c, y)?;
        Some(Ymd { year, month, day })
    })()
    .ok_or_else(|| invalid("date", text))
}

pub(crate) fn parse_time(text: &str) -> Result<Clock, DecodeError> {
    let mut c = Cur {
        b: text.as_bytes(),
        i: 0,
    };
    clock_part(&mut c)
        .filter(|_| c.i == c.b.len())
        .ok_or_else(|| invalid("time", text))
}

/// A timestamp, with its offset (seconds east of UTC) when `tz`.
pub(crate) fn parse_timestamp(text: &str, tz: bool) -> Result<(Ymd, Clock, i32), DecodeError> {
    let mut c = Cur {
        b: text.as_bytes(),
        i: 0,
    };
    let what = if tz { "timestamptz" } else { "timestamp" };
    (|| {
        let (y, month, day) = date_part(&mut c)?;
        if !c.eat(b' ') {
            return None;
        }
        let clock = clock_part(&mut c).filter(|k| k.hour < 24)?;
        let offset = if tz { offset_part(&mut c)? } else { 0 };
        let year = era(&mut c, y)?;
        Some((Ymd { year, month, day }, clock, offset))
    })()
    .ok_or_else(|| invalid(what, text))
}

/// The error for a value the library type cannot hold.
pub(crate) fn out_of_range(what: &str, text: &str, library: &str) -> DecodeError {
    DecodeError::new(format!(
        "{what} {} is out of the range of {library}",
        shown(text)
    ))
}

pub(crate) fn write_date(d: Ymd, out: &mut Vec<u8>) {
    let shown = if d.year <= 0 { 1 - d.year } else { d.year };
    write!(out, "{shown:04}-{:02}-{:02}", d.month, d.day).expect("a Vec");
}

pub(crate) fn write_clock(k: Clock, out: &mut Vec<u8>) {
    write!(out, "{:02}:{:02}:{:02}", k.hour, k.minute, k.second).expect("a Vec");
    if k.nanos > 0 {
        let mut frac = format!("{:09}", k.nanos);
        while frac.ends_with('0') {
            frac.pop();
        }
        out.push(b'.');
        out.extend_from_slice(frac.as_bytes());
    }
}

pub(crate) fn write_offset(secs: i32, out: &mut Vec<u8>) {
    out.push(if secs < 0 { b'-' } else { b'+' });
    let a = secs.unsigned_abs();
    write!(out, "{:02}", a / 3600).expect("a Vec");
    if !a.is_multiple_of(3600) {
        write!(out, ":{:02}", a / 60 % 60).expect("a Vec");
        if !a.is_multiple_of(60) {
            write!(out, ":{:02}", a % 60).expect("a Vec");
        }
    }
}

pub(crate) fn write_era(d: Ymd, out: &mut Vec<u8>) {
    if d.year <= 0 {
        out.extend_from_slice(b" BC");
    }
}

/// A whole timestamp: date, time, offset when given, era.
pub(crate) fn write_timestamp(d: Ymd, k: Clock, offset: Option<i32>, out: &mut Vec<u8>) {
    write_date(d, out);
    out.push(b' ');
    write_clock(k, out);
    if let Some(o) = offset {
        write_offset(o, out);
    }
    write_era(d, out);
}

pub(crate) fn write_date_era(d: Ymd, out: &mut Vec<u8>) {
    write_date(d, out);
    write_era(d, out);
}
