//! `time` types for `date`, `time`, `timestamp` and `timestamptz` (feature `time`, built with
//! `large-dates`, so every year PostgreSQL's timestamps hold fits; dates beyond year 999999 are
//! an error). Their infinities need [`MaybeInfinite`](super::MaybeInfinite). An
//! `OffsetDateTime` keeps the offset it was printed with and prints it back.

use super::civil::{self, Clock, Ymd};
use super::infinite::Infinities;
use crate::codec::{DecodeError, TextForm};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

fn ymd(d: Date) -> Ymd {
    Ymd {
        year: d.year(),
        month: d.month() as u8,
        day: d.day(),
    }
}

fn clock(t: Time) -> Clock {
    Clock {
        hour: t.hour(),
        minute: t.minute(),
        second: t.second(),
        nanos: t.nanosecond(),
    }
}

fn date_of(d: Ymd, what: &str, text: &str, library: &str) -> Result<Date, DecodeError> {
    Month::try_from(d.month)
        .ok()
        .and_then(|m| Date::from_calendar_date(d.year, m, d.day).ok())
        .ok_or_else(|| civil::out_of_range(what, text, library))
}

fn time_of(k: Clock, what: &str, text: &str) -> Result<Time, DecodeError> {
    Time::from_hms_nano(k.hour, k.minute, k.second, k.nanos)
        .map_err(|_| civil::out_of_range(what, text, "time::Time"))
}

fn finite(text: &str, what: &str, library: &str) -> Result<(), DecodeError> {
    if text == "infinity" || text == "-infinity" {
        Err(super::infinite::infinity_error(what, text, library))
    } else {
        Ok(())
    }
}

impl TextForm for Date {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        civil::write_date_era(ymd(*self), out);
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        finite(text, "date", "time::Date")?;
        date_of(civil::parse_date(text)?, "date", text, "time::Date")
    }
}

impl TextForm for Time {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        civil::write_clock(clock(*self), out);
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        time_of(civil::parse_time(text)?, "time", text)
    }
}

impl TextForm for PrimitiveDateTime {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        civil::write_timestamp(ymd(self.date()), clock(self.time()), None, out);
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        const LIB: &str = "time::PrimitiveDateTime";
        finite(text, "timestamp", LIB)?;
        let (d, k, _) = civil::parse_timestamp(text, false)?;
        Ok(PrimitiveDateTime::new(
            date_of(d, "timestamp", text, LIB)?,
            time_of(k, "timestamp", text)?,
        ))
    }
}

impl TextForm for OffsetDateTime {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        let offset = self.offset().whole_seconds();
        civil::write_timestamp(ymd(self.date()), clock(self.time()), Some(offset), out);
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        const LIB: &str = "time::OffsetDateTime";
        finite(text, "timestamptz", LIB)?;
        let (d, k, offset) = civil::parse_timestamp(text, true)?;
        let offset = UtcOffset::from_whole_seconds(offset)
            .map_err(|_| civil::out_of_range("timestamptz", text, LIB))?;
        Ok(PrimitiveDateTime::new(
            date_of(d, "timestamptz", text, LIB)?,
            time_of(k, "timestamptz", text)?,
        )
        .assume_offset(offset))
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

infinities!(Date, PrimitiveDateTime, OffsetDateTime);
