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

/// Formats `args` (a float in `{:e}` form) and returns its decimal digits as an integer `d`
/// and the power of ten of its last digit `k` (value = d × 10^k), ignoring the sign.
fn decimal_of(args: std::fmt::Arguments<'_>) -> (u64, i32) {
    let mut sb = StackBuf {
        buf: [0; 48],
        len: 0,
    };
    sb.write_fmt(args)
        .expect("a float's {:e} form fits 48 bytes");
    let s = &sb.buf[..sb.len];
    let s = s.strip_prefix(b"-").unwrap_or(s);
    let e_at = s
        .iter()
        .position(|&b| b == b'e')
        .expect("{:e} has an exponent");
    let exp: i32 = std::str::from_utf8(&s[e_at + 1..])
        .ok()
        .and_then(|t| t.parse().ok())
        .expect("{:e} exponent");
    let mut d: u64 = 0;
    let mut fraction_digits = 0;
    let mut after_point = false;
    for &b in &s[..e_at] {
        if b == b'.' {
            after_point = true;
        } else {
            d = d * 10 + u64::from(b - b'0');
            if after_point {
                fraction_digits += 1;
            }
        }
    }
    (d, exp - fraction_digits)
}

/// A positive finite float as `m × 2^e`, with the two midpoints to its neighbours, each as
/// `(odd-or-any integer, power of two)`: a decimal equal to one of them is on the boundary of
/// the values that read back as this float.
struct Binary {
    /// Twice the value (so that it is `m × 2^p` with an integer `m` like the midpoints).
    double: (u128, i32),
    upper: (u128, i32),
    lower: (u128, i32),
}

impl Binary {
    fn new(frac: u64, biased_exp: i32, frac_bits: i32, bias: i32) -> Binary {
        let (m, e) = if biased_exp == 0 {
            (frac, 1 - bias - frac_bits)
        } else {
            (frac | (1 << frac_bits), biased_exp - bias - frac_bits)
        };
        let m = u128::from(m);
        let lower = if frac == 0 && biased_exp > 1 {
            (4 * m - 1, e - 2)
        } else {
            ((2 * m).saturating_sub(1), e - 1)
        };
        Binary {
            double: (m, e + 1),
            upper: (2 * m + 1, e - 1),
            lower,
        }
    }

    fn on_boundary(&self, d: u64, k: i32) -> bool {
        exactly_equal(d, k, self.upper) || exactly_equal(d, k, self.lower)
    }
}

/// Whether `d × 10^k == m × 2^p` exactly. Only possible when 5^|k| divides one side, which
/// bounds |k| (d < 2^64, m < 2^56), so u128 arithmetic suffices.
fn exactly_equal(d: u64, k: i32, (m, p): (u128, i32)) -> bool {
    if d == 0 || k.unsigned_abs() > 27 {
        return false;
    }
    let five = 5u128.pow(k.unsigned_abs());
    let (mut l, mut l2, mut r, mut r2) = if k >= 0 {
        (u128::from(d) * five, k, m, p)
    } else {
        (u128::from(d), 0, m * five, p - k)
    };
    l2 += l.trailing_zeros() as i32;
    l >>= l.trailing_zeros();
    r2 += r.trailing_zeros() as i32;
    r >>= r.trailing_zeros();
    l == r && l2 == r2
}

/// The digits PostgreSQL's `float8out`/`float4out` print with `extra_float_digits > 0` (its
/// Ryu, built without `STRICTLY_SHORTEST`): the shortest decimal strictly inside the interval of
/// values that read back as `v`, never on its boundary. Rust's `{:e}` gives the shortest
/// decimal of the closed interval; they differ only when that one lies on a boundary.
fn pg_digits(
    shortest: (u64, i32),
    binary: &Binary,
    max_digits: usize,
    rounded: impl Fn(usize) -> (u64, i32),
    reads_back: impl Fn(u64, i32) -> bool,
) -> (u64, i32) {
    let ok = |d: u64, k: i32| d > 0 && !binary.on_boundary(d, k) && reads_back(d, k);
    let chosen = if !binary.on_boundary(shortest.0, shortest.1) {
        shortest
    } else {
        let len = shortest.0.checked_ilog10().map_or(1, |l| l as usize + 1);
        (len..=max_digits)
            .find_map(|n| {
                let (d, k) = rounded(n);
                [d, d + 1, d.saturating_sub(1)]
                    .into_iter()
                    .find(|&c| ok(c, k))
                    .map(|c| (c, k))
            })
            .unwrap_or(shortest)
    };
    // When the value lies exactly halfway between two decimals of that length, Ryu takes the
    // even one; Rust's shortest form may take the other.
    let (d, k) = chosen;
    if d % 2 == 1 {
        if exactly_equal(2 * d - 1, k, binary.double) && ok(d - 1, k) {
            return (d - 1, k);
        }
        if exactly_equal(2 * d + 1, k, binary.double) && ok(d + 1, k) {
            return (d + 1, k);
        }
    }
    chosen
}

/// Writes `d × 10^k` the way PostgreSQL does: fixed notation when the decimal exponent of the
/// first digit is in `-4..sci_from`, else `d.ddde±XX`.
fn write_decimal(neg: bool, mut d: u64, mut k: i32, sci_from: i32, out: &mut Vec<u8>) {
    if neg {
        out.push(b'-');
    }
    if d == 0 {
        out.push(b'0');
        return;
    }
    while d.is_multiple_of(10) {
        d /= 10;
        k += 1;
    }
    let mut buf = [0u8; 20];
    let mut n = 0;
    let mut rest = d;
    while rest > 0 {
        buf[n] = b'0' + (rest % 10) as u8;
        rest /= 10;
        n += 1;
    }
    buf[..n].reverse();
    let digits = &buf[..n];
    let exp = k + n as i32 - 1;
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
            let a = self.abs();
            let bits = a.to_bits();
            let binary = Binary::new(bits & ((1 << 52) - 1), (bits >> 52) as i32, 52, 1023);
            let (d, k) = pg_digits(
                decimal_of(format_args!("{a:e}")),
                &binary,
                17,
                |n| decimal_of(format_args!("{a:.*e}", n - 1)),
                |d, k| {
                    format!("{d}e{k}")
                        .parse::<f64>()
                        .is_ok_and(|b| b.to_bits() == bits)
                },
            );
            write_decimal(self.is_sign_negative(), d, k, 15, out);
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
            let a = self.abs();
            let bits = a.to_bits();
            let binary = Binary::new(
                u64::from(bits & ((1 << 23) - 1)),
                (bits >> 23) as i32,
                23,
                127,
            );
            let (d, k) = pg_digits(
                decimal_of(format_args!("{a:e}")),
                &binary,
                9,
                |n| decimal_of(format_args!("{a:.*e}", n - 1)),
                |d, k| {
                    format!("{d}e{k}")
                        .parse::<f32>()
                        .is_ok_and(|b| b.to_bits() == bits)
                },
            );
            write_decimal(self.is_sign_negative(), d, k, 6, out);
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
