//! The Rust types of the type mapping (`docs/design.md`): each has a PostgreSQL text form
//! ([`TextForm`]) and so is a column [`Value`](crate::codec::Value), alone or in `Option`.
//!
//! Types whose text PostgreSQL formats in many ways (numeric, dates and times, json, network
//! addresses, and every other type) are newtypes over their exact text: they are checked on
//! the way in (syntactically, accepting everything PostgreSQL prints under the session settings
//! of `docs/design.md`) and travel unchanged, so what PostgreSQL printed is what it reads back.
//!
//! Library types are columns values too, with optional features: `rust_decimal::Decimal`
//! (`numeric`), `chrono` and `time` dates, times and timestamps, `serde_json::Value` (`jsonb`)
//! and `Box<serde_json::value::RawValue>` (`json`, `jsonb`), and, always, `std::net::IpAddr`
//! (`inet` without a netmask) and `uuid::Uuid`. Each reads only what it holds exactly and
//! prints it back as PostgreSQL does; anything else (NaN, an infinity, too many digits, a
//! netmask) is a [`DecodeError`](crate::DecodeError), never a rounding. [`MaybeInfinite`] adds
//! the infinities.

mod array;
mod bytea;
#[cfg(any(feature = "chrono", feature = "time"))]
mod civil;
mod datetime;
mod infinite;
mod ip;
mod json;
mod net;
mod num;
mod text;
#[cfg(feature = "chrono")]
mod with_chrono;
#[cfg(feature = "rust_decimal")]
mod with_decimal;
#[cfg(feature = "serde_json")]
mod with_serde_json;
#[cfg(feature = "time")]
mod with_time;

pub use array::Array;
pub use bytea::Bytea;
pub use datetime::{Date, Interval, Time, TimeTz, Timestamp, TimestampTz};
pub use infinite::{Infinities, MaybeInfinite};
pub use json::{Json, Jsonb};
pub use net::{Cidr, Inet};
pub use num::Numeric;
pub use text::PgText;
pub use uuid::Uuid;

pub use crate::codec::TextForm;

/// PostgreSQL's `isspace` set (space, `\t`, `\n`, `\r`, `\v`, `\f`), which its input functions
/// skip around values.
pub(crate) fn is_pg_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

pub(crate) fn trim_pg_space(s: &str) -> &str {
    s.trim_matches(is_pg_space)
}

/// Defines a newtype over a validated text form: `new`, `as_str`, `into_string`, Display,
/// FromStr, AsRef<str>, and its [`TextForm`].
macro_rules! text_newtype {
    ($(#[$meta:meta])* $name:ident, $what:literal, $validate:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Checks `text` as ", $what, " text and wraps it unchanged.")]
            pub fn new(text: impl Into<String>) -> Result<Self, crate::codec::DecodeError> {
                let text = text.into();
                let validate: fn(&str) -> Result<(), String> = $validate;
                match validate(&text) {
                    Ok(()) => Ok($name(text)),
                    Err(why) => Err(crate::codec::DecodeError::new(format!(
                        concat!("invalid ", $what, " {}: {}"),
                        crate::codec::shown(&text),
                        why
                    ))),
                }
            }

            /// The text form, exactly as given.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text form, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::codec::DecodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl crate::codec::TextForm for $name {
            fn write_text(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(self.0.as_bytes());
            }

            fn parse_text(text: &str) -> Result<Self, crate::codec::DecodeError> {
                $name::new(text)
            }

            fn parse_text_owned(text: String) -> Result<Self, crate::codec::DecodeError> {
                $name::new(text)
            }

            fn encode_field(&self, out: &mut Vec<u8>) {
                crate::codec::escape_into(self.0.as_bytes(), out);
            }
        }
    };
}
pub(crate) use text_newtype;
