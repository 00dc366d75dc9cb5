//! [`MaybeInfinite`]: a library type plus the infinities PostgreSQL's `numeric`, `date` and
//! timestamp types have and the library type lacks.

use crate::codec::{DecodeError, TextForm};

/// A value of `T` or one of PostgreSQL's infinities, ordered as PostgreSQL orders them
/// (`-infinity` before every value, `infinity` after). For columns that may hold an infinity,
/// e.g. `MaybeInfinite<chrono::NaiveDate>` for a `date` whose `infinity` means "open ended":
/// the plain library type refuses them with an error instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MaybeInfinite<T> {
    NegInfinity,
    Finite(T),
    Infinity,
}

impl<T> MaybeInfinite<T> {
    /// The finite value, if it is one.
    pub fn finite(self) -> Option<T> {
        match self {
            MaybeInfinite::Finite(v) => Some(v),
            _ => None,
        }
    }
}

impl<T> From<T> for MaybeInfinite<T> {
    fn from(v: T) -> Self {
        MaybeInfinite::Finite(v)
    }
}

/// A library type whose PostgreSQL type also has infinities, and how PostgreSQL prints them.
pub trait Infinities: TextForm {
    const INFINITY: &'static str;
    const NEG_INFINITY: &'static str;
}

impl<T: Infinities> TextForm for MaybeInfinite<T> {
    const MAY_NEED_ESCAPE: bool = T::MAY_NEED_ESCAPE;

    fn write_text(&self, out: &mut Vec<u8>) {
        match self {
            MaybeInfinite::NegInfinity => out.extend_from_slice(T::NEG_INFINITY.as_bytes()),
            MaybeInfinite::Finite(v) => v.write_text(out),
            MaybeInfinite::Infinity => out.extend_from_slice(T::INFINITY.as_bytes()),
        }
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        if text == T::INFINITY {
            Ok(MaybeInfinite::Infinity)
        } else if text == T::NEG_INFINITY {
            Ok(MaybeInfinite::NegInfinity)
        } else {
            T::parse_text(text).map(MaybeInfinite::Finite)
        }
    }
}

/// The error for an infinity read into a library type without one.
#[cfg(any(feature = "rust_decimal", feature = "chrono", feature = "time"))]
pub(crate) fn infinity_error(what: &str, text: &str, library: &str) -> DecodeError {
    DecodeError::new(format!(
        "{what} {} cannot be a {library}; use MaybeInfinite<{library}> for a column that may hold infinities",
        crate::codec::shown(text)
    ))
}
