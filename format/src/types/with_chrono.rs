//! `chrono` types for `date`, `time`, `timestamp` and `timestamptz` (feature `chrono`).
//! Their infinities need [`MaybeInfinite`](super::MaybeInfinite); years beyond chrono's range
//! (±262143) are an error. Encoding writes every nanosecond digit; PostgreSQL rounds to
//! microseconds on input.

use super::civil::{self, Clock, Ymd};
use super::infinite::Infinities;
use crate::codec::{DecodeError, TextForm};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc};

fn ymd(d: NaiveDate) -> Ymd {
    Ymd {
        year: d.year(),
        month: d.month() as u8,
        day: d.day() as u8,
    }
}

fn clock(t: NaiveTime) -> Clock {
    Clock {
        hour: t.hour() as u8,
        minute: t.minute() as u8,
        second: t.second() as u8,
        nanos: t.nanosecond(),
    }
}

fn date_of(d: Ymd, what: &str, text: &str, library: &str) -> Result<NaiveDate, DecodeError> {
    NaiveDate::from_ymd_opt(d.year, d.month.into(), d.day.into())
        .ok_or_else(|| civil::out_of_range(what, text, library))
}

fn time_of(k: Clock, what: &str, text: &str) -> Result<NaiveTime, DecodeError> {
    NaiveTime::from_hms_nano_opt(k.hour.into(), k.minute.into(), k.second.into(), k.nanos)
        .ok_or_else(|| civil::out_of_range(what, text, "chrono::NaiveTime"))
}

fn finite(text: &str, what: &str, library: &str) -> Result<(), DecodeError> {
    if text == "infinity" || text == "-infinity" {
        Err(super::infinite::infinity_error(what, text, library))
    } else {
        Ok(())
    }
}

impl TextForm for NaiveDate {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        civil::write_date_era(ymd(*self), out);
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        finite(text, "date", "chrono::NaiveDate")?;
        date_of(civil::parse_date(text)?, "date", text, "chrono::NaiveDate")
    }
}

impl TextForm for NaiveTime {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        // A leap second (nanos ≥ 10^9) has no PostgreSQL form; it prints as its second's end.
        let mut k = clock(*self);
        k.nanos = k.nanos.min(999_999_999);
        civil::write_clock(k, out);
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        time_of(civil::parse_time(text)?, "time", text)
    }
}

impl TextForm for NaiveDateTime {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        let mut k = clock(self.time());
        k.nanos = k.nanos.min(999_999_999);
        civil::write_timestamp(ymd(self.date()), k, None, out);
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        const LIB: &str = "chrono::NaiveDateTime";
        finite(text, "timestamp", LIB)?;
        let (d, k, _) = civil::parse_timestamp(text, false)?;
        Ok(date_of(d, "timestamp", text, LIB)?.and_time(time_of(k, "timestamp", text)?))
    }
}

impl TextForm for DateTime<Utc> {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        let t = self.naive_utc();
        let mut k = clock(t.time());
        k.nanos = k.nanos.min(999_999_999);
        civil::write_timestamp(ymd(t.date()), k, Some(0), out);
    }

    /// Any offset is read as the instant it denotes (PostgreSQL keeps no offset either).
    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        const LIB: &str = "chrono::DateTime<Utc>";
        finite(text, "timestamptz", LIB)?;
        let (d, k, offset) = civil::parse_timestamp(text, true)?;
        let local =
            date_of(d, "timestamptz", text, LIB)?.and_time(time_of(k, "timestamptz", text)?);
        local
            .checked_sub_signed(TimeDelta::seconds(offset.into()))
            .map(|t| t.and_utc())
            .ok_or_else(|| civil::out_of_range("timestamptz", text, LIB))
    }
}

macro_rules! infinities {
    ($($t:ty),*) => {$(
        impl Infinities for $t {
            const INFINITY: &'static str = "infinity";
            const NEG_INFINITY: &'static str = "-infinity";
        }
    )*};
}

infinities!(NaiveDate, NaiveDateTime, DateTime<Utc>);
