//! `serde_json` types for `json` and `jsonb` (feature `serde_json`).
//!
//! - `Box<serde_json::value::RawValue>` (json and jsonb): the exact text, checked to be JSON.
//! - `serde_json::Value` (jsonb only: a `json` value keeps its spacing and duplicate keys,
//!   which a `Value` loses): read, then printed back the way PostgreSQL prints jsonb (keys
//!   shortest first then bytewise, `", "` and `": "` separators); a value that does not print
//!   back to the same text is an error, e.g. a number a `Value` holds only approximately
//!   (`1.00`, `1e400`, integers beyond 64 bits).

use crate::codec::{shown, DecodeError, TextForm};
use serde_json::value::RawValue;
use serde_json::Value;
use std::io::Write as _;

/// Appends `s` as a JSON string the way PostgreSQL's `escape_json` does.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).expect("a Vec"),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Appends a number in positional notation, as PostgreSQL prints jsonb numbers (`numeric`):
/// serde_json's shortest form (`1e-7`, `1.5e21`) with the exponent written out.
fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) {
    let s = n.to_string();
    let Some((mantissa, exp)) = s.split_once('e') else {
        out.extend_from_slice(s.as_bytes());
        return;
    };
    let exp: i64 = exp.parse().expect("serde_json prints an integer exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    // Where the decimal point falls among `digits`.
    let point = int.len() as i64 + exp;
    out.extend_from_slice(sign.as_bytes());
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-point) as usize));
        out.extend_from_slice(digits.as_bytes());
    } else if point as usize >= digits.len() {
        out.extend_from_slice(digits.as_bytes());
        out.extend(std::iter::repeat_n(b'0', point as usize - digits.len()));
    } else {
        out.extend_from_slice(&digits.as_bytes()[..point as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits.as_bytes()[point as usize..]);
    }
}

/// Appends `v` as PostgreSQL prints jsonb. Iterative over an explicit stack, like the reader.
fn write_jsonb(v: &Value, out: &mut Vec<u8>) {
    enum Step<'a> {
        Value(&'a Value),
        Raw(&'static [u8]),
        Key(&'a str),
    }
    let mut stack = vec![Step::Value(v)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Raw(b) => out.extend_from_slice(b),
            Step::Key(k) => {
                write_string(k, out);
                out.extend_from_slice(b": ");
            }
            Step::Value(v) => match v {
                Value::Null => out.extend_from_slice(b"null"),
                Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                Value::Number(n) => write_number(n, out),
                Value::String(s) => write_string(s, out),
                Value::Array(items) => {
                    out.push(b'[');
                    stack.push(Step::Raw(b"]"));
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push(Step::Value(item));
                        if i > 0 {
                            stack.push(Step::Raw(b", "));
                        }
                    }
                }
                Value::Object(map) => {
                    out.push(b'{');
                    stack.push(Step::Raw(b"}"));
                    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                    entries.sort_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
                    for (i, (k, v)) in entries.into_iter().enumerate().rev() {
                        stack.push(Step::Value(v));
                        stack.push(Step::Key(k));
                        if i > 0 {
                            stack.push(Step::Raw(b", "));
                        }
                    }
                }
            },
        }
    }
}

impl TextForm for Value {
    fn write_text(&self, out: &mut Vec<u8>) {
        write_jsonb(self, out);
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| DecodeError::new(format!("invalid jsonb {}: {e}", shown(text))))?;
        let mut back = Vec::new();
        write_jsonb(&v, &mut back);
        if back != text.as_bytes() {
            return Err(DecodeError::new(format!(
                "jsonb {} does not survive as a serde_json::Value (it would print as {}); use Box<serde_json::value::RawValue> or replgen's Jsonb for this column",
                shown(text),
                shown(&String::from_utf8_lossy(&back))
            )));
        }
        Ok(v)
    }
}

impl TextForm for Box<RawValue> {
    fn write_text(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.get().as_bytes());
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        Self::parse_text_owned(text.to_owned())
    }

    fn parse_text_owned(text: String) -> Result<Self, DecodeError> {
        let shown_text = shown(&text);
        let len = text.len();
        let raw = RawValue::from_string(text)
            .map_err(|e| DecodeError::new(format!("invalid json {shown_text}: {e}")))?;
        // A RawValue drops whitespace around the value; json keeps it.
        if raw.get().len() != len {
            return Err(DecodeError::new(format!(
                "json {shown_text} has whitespace around its value, which a RawValue drops; use replgen's Json for this column"
            )));
        }
        Ok(raw)
    }
}
