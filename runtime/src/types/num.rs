//! Integers, booleans, floats and `numeric`.

use super::trim_pg_space;
use crate::codec::{shown, DecodeError, TextForm};
use std::fmt::Write as _;

fn write_u64(mut v: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn write_i64(v: i64, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(v.unsigned_abs(), out);
}

macro_rules! int_text {
    ($t:ty, $sql:literal) => {
        impl TextForm for $t {
            const MAY_NEED_ESCAPE: bool = false;

            #[inline]
            fn write_text(&self, out: &mut Vec<u8>) {
                write_i64(i64::from(*self), out);
            }

            fn parse_text(text: &str) -> Result<Self, DecodeError> {
                let t = trim_pg_space(text);
                t.parse::<$t>().map_err(|e| {
                    use std::num::IntErrorKind::*;
                    match e.kind() {
                        PosOverflow | NegOverflow => DecodeError::new(format!(
                            concat!("value {} is out of range for type ", $sql),
                            shown(text)
                        )),
                        _ => {
                            DecodeError::new(format!(concat!("invalid ", $sql, " {}"), shown(text)))
                        }
                    }
                })
            }
        }
    };
}

int_text!(i16, "smallint");
int_text!(i32, "integer");
int_text!(i64, "bigint");

impl TextForm for bool {
    const MAY_NEED_ESCAPE: bool = false;

    #[inline]
    fn write_text(&self, out: &mut Vec<u8>) {
        out.push(if *self { b't' } else { b'f' });
    }

    /// Everything `boolin` accepts: `t`, `true`, `yes`, `on`, `1` and their opposites, any
    /// case, unambiguous prefixes, surrounding whitespace.
    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        let t = trim_pg_space(text).to_ascii_lowercase();
        let prefix_of = |word: &str, min: usize| t.len() >= min && word.starts_with(t.as_str());
        if prefix_of("true", 1) || prefix_of("yes", 1) || t == "on" || t == "1" {
            Ok(true)
        } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || t == "0" {
            Ok(false)
        } else {
            Err(DecodeError::new(format!("invalid boolean {}", shown(text))))
        }
    }
}

/// A small stack buffer for `{:e}` formatting (no allocation per float).
struct StackBuf {
    buf: [u8; 48],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes a finite float the way PostgreSQL's `float4out`/`float8out` do with
/// `extra_float_digits > 0`: the shortest digits that read back to the same bits, fixed
/// notation when the decimal exponent is in `-4..sci_from`, else `d.ddde±XX`.
fn write_shortest(lower_exp: std::fmt::Arguments<'_>, sci_from: i32, out: &mut Vec<u8>) {
    let mut sb = StackBuf {
        buf: [0; 48],
        len: 0,
    };
    sb.write_fmt(lower_exp)
        .expect("a float's {:e} form fits 48 bytes");
    let s = &sb.buf[..sb.len];
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let e_at = s
        .iter()
        .position(|&b| b == b'e')
        .expect("{:e} has an exponent");
    let (mantissa, exp_text) = (&s[..e_at], &s[e_at + 1..]);
    let exp: i32 = std::str::from_utf8(exp_text)
        .ok()
        .and_then(|t| t.parse().ok())
        .expect("{:e} exponent");
    let mut digits = [0u8; 24];
    let mut n = 0;
    for &b in mantissa {
        if b != b'.' {
            digits[n] = b;
            n += 1;
        }
    }
    let digits = &digits[..n];
    if neg {
        out.push(b'-');
    }
    if digits == b"0" {
        out.push(b'0');
        return;
    }
    if (-4..sci_from).contains(&exp) {
        if exp < 0 {
            out.extend_from_slice(b"0.");
            for _ in 0..(-exp - 1) {
                out.push(b'0');
            }
            out.extend_from_slice(digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.extend_from_slice(digits);
                for _ in digits.len()..int_len {
                    out.push(b'0');
                }
            } else {
                out.extend_from_slice(&digits[..int_len]);
                out.push(b'.');
                out.extend_from_slice(&digits[int_len..]);
            }
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        write_u64(u64::from(e), out);
    }
}

/// Parses every float text form PostgreSQL's `float4in`/`float8in` accept that matters:
/// decimal and exponent forms, `NaN`, `Infinity`, `inf` (any case, signed), whitespace around.
/// Like PostgreSQL, refuses finite text that overflows, or underflows to zero.
fn parse_float<T: std::str::FromStr + Copy>(
    text: &str,
    sql: &str,
    nan: T,
    inf: T,
    neg_inf: T,
    is_inf: impl Fn(T) -> bool,
    is_zero: impl Fn(T) -> bool,
) -> Result<T, DecodeError> {
    let t = trim_pg_space(text);
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "nan" => return Ok(nan),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(inf),
        "-infinity" | "-inf" => return Ok(neg_inf),
        _ => {}
    }
    let ok_syntax = {
        let b = t.as_bytes();
        let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
        let mut mantissa_digits = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            mantissa_digits += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
                mantissa_digits += 1;
            }
        }
        if mantissa_digits > 0 && i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            i > start && i == b.len()
        } else {
            mantissa_digits > 0 && i == b.len()
        }
    };
    let invalid = || DecodeError::new(format!("invalid {sql} {}", shown(text)));
    if !ok_syntax {
        return Err(invalid());
    }
    let v: T = t.parse().map_err(|_| invalid())?;
    let mantissa_nonzero = t
        .bytes()
        .take_while(|&b| b != b'e' && b != b'E')
        .any(|b| (b'1'..=b'9').contains(&b));
    if is_inf(v) || (is_zero(v) && mantissa_nonzero) {
        return Err(DecodeError::new(format!(
            "{} is out of range for type {sql}",
            shown(text)
        )));
    }
    Ok(v)
}

impl TextForm for f64 {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        if self.is_nan() {
            out.extend_from_slice(b"NaN");
        } else if self.is_infinite() {
            out.extend_from_slice(if *self > 0.0 {
                b"Infinity"
            } else {
                b"-Infinity"
            });
        } else {
            write_shortest(format_args!("{self:e}"), 15, out);
        }
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        parse_float(
            text,
            "double precision",
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::is_infinite,
            |v| v == 0.0,
        )
    }
}

impl TextForm for f32 {
    const MAY_NEED_ESCAPE: bool = false;

    fn write_text(&self, out: &mut Vec<u8>) {
        if self.is_nan() {
            out.extend_from_slice(b"NaN");
        } else if self.is_infinite() {
            out.extend_from_slice(if *self > 0.0 {
                b"Infinity"
            } else {
                b"-Infinity"
            });
        } else {
            write_shortest(format_args!("{self:e}"), 6, out);
        }
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        parse_float(
            text,
            "real",
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::is_infinite,
            |v| v == 0.0,
        )
    }
}

fn check_numeric(text: &str) -> Result<(), String> {
    let t = trim_pg_space(text);
    let lower = t.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "nan" | "infinity" | "+infinity" | "-infinity" | "inf" | "+inf" | "-inf"
    ) {
        return Ok(());
    }
    let b = t.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return Err("expected digits".into());
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err("expected exponent digits".into());
        }
    }
    if i != b.len() {
        return Err(format!("unexpected {:?}", &t[i..]));
    }
    Ok(())
}

super::text_newtype!(
    /// A `numeric` value as its text form, full precision: `-12.3400`, `1e5`, `NaN`,
    /// `Infinity`, `-Infinity`.
    Numeric,
    "numeric",
    check_numeric
);
