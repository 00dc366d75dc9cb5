//! `rust_decimal::Decimal` for `numeric` (feature `rust_decimal`). A `Decimal` keeps its
//! scale, so `12.3400` prints back as `12.3400`. What it cannot hold is an error, never a
//! rounding: more than 28 fraction digits or a value beyond its 96-bit mantissa, `NaN`, and
//! the infinities (those with [`MaybeInfinite`](super::MaybeInfinite)`<Decimal>`).

use super::infinite::Infinities;
use crate::codec::{shown, DecodeError, TextForm};
use rust_decimal::Decimal;
use std::io::Write as _;

const LIB: &str = "rust_decimal::Decimal";

impl TextForm for Decimal {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        write!(out, "{self}").expect("writing to a Vec cannot fail");
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        match text {
            "NaN" => {
                return Err(DecodeError::new(format!(
                    "numeric NaN cannot be a {LIB}; use replgen's Numeric for a column that may hold NaN"
                )))
            }
            "Infinity" | "-Infinity" => {
                return Err(super::infinite::infinity_error("numeric", text, LIB));
            }
            _ => {}
        }
        // PostgreSQL prints numeric as `-?digits[.digits]`; `from_str_exact` refuses what
        // would need rounding, and the comparison catches any other difference.
        let plain = {
            let t = text.strip_prefix('-').unwrap_or(text);
            let (int, frac) = t.split_once('.').unwrap_or((t, "0"));
            !int.is_empty()
                && !frac.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        };
        if !plain {
            return Err(DecodeError::new(format!(
                "invalid numeric {} (expected PostgreSQL's output form, digits with an optional fraction)",
                shown(text)
            )));
        }
        match Decimal::from_str_exact(text) {
            Ok(d) if d.to_string() == text => Ok(d),
            _ => Err(DecodeError::new(format!(
                "numeric {} does not fit a {LIB} (at most 28 fraction digits and 28 to 29 digits in all); use replgen's Numeric for this column",
                shown(text)
            ))),
        }
    }
}

impl Infinities for Decimal {
    const INFINITY: &'static str = "Infinity";
    const NEG_INFINITY: &'static str = "-Infinity";
}
