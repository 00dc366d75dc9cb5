//! `bytea`: any bytes; text form `\x` + lowercase hex.

use crate::codec::{shown, DecodeError, TextForm};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A `bytea` value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytea(pub Vec<u8>);

impl Bytea {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Bytea {
        Bytea(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    /// Parses both text forms `byteain` accepts: hex (`\x0aff`, whitespace between digit
    /// pairs allowed) and escape (`\\`, `\ooo`, other bytes as they are).
    pub fn parse(text: &str) -> Result<Bytea, DecodeError> {
        let b = text.as_bytes();
        if let Some(hex) = b.strip_prefix(b"\\x") {
            let mut out = Vec::with_capacity(hex.len() / 2);
            let mut i = 0;
            while i < hex.len() {
                if super::is_pg_space(hex[i] as char) {
                    i += 1;
                    continue;
                }
                let hi = crate::codec::hex_digit(hex[i]);
                let lo = hex.get(i + 1).and_then(|&c| crate::codec::hex_digit(c));
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => {
                        return Err(DecodeError::new(format!(
                            "invalid hexadecimal bytea {}",
                            shown(text)
                        )))
                    }
                }
                i += 2;
            }
            return Ok(Bytea(out));
        }
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'\\' {
                out.push(b[i]);
                i += 1;
            } else if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
            } else if let (Some(&a @ b'0'..=b'3'), Some(&m @ b'0'..=b'7'), Some(&l @ b'0'..=b'7')) =
                (b.get(i + 1), b.get(i + 2), b.get(i + 3))
            {
                out.push(((a - b'0') << 6) | ((m - b'0') << 3) | (l - b'0'));
                i += 4;
            } else {
                return Err(DecodeError::new(format!(
                    "invalid escaped bytea {}",
                    shown(text)
                )));
            }
        }
        Ok(Bytea(out))
    }
}

impl From<Vec<u8>> for Bytea {
    fn from(v: Vec<u8>) -> Bytea {
        Bytea(v)
    }
}

impl std::ops::Deref for Bytea {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for Bytea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::with_capacity(2 + 2 * self.0.len());
        self.write_text(&mut out);
        f.write_str(std::str::from_utf8(&out).map_err(|_| std::fmt::Error)?)
    }
}

impl std::str::FromStr for Bytea {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Bytea, DecodeError> {
        Bytea::parse(s)
    }
}

impl TextForm for Bytea {
    fn write_text(&self, out: &mut Vec<u8>) {
        out.reserve(2 + 2 * self.0.len());
        out.extend_from_slice(b"\\x");
        for &b in &self.0 {
            out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        Bytea::parse(text)
    }

    fn encode_field(&self, out: &mut Vec<u8>) {
        // The text form's only escaped byte is its leading backslash.
        out.push(b'\\');
        self.write_text(out);
    }
}
