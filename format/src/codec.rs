//! The field encoding of packets: PostgreSQL's COPY text format (one field per column, tab
//! separated, `\N` for NULL, backslash escapes), and the typed value codecs behind it.

use std::borrow::Cow;
use std::fmt;

/// Why a field, row or line could not be decoded. Carries what is known of where: the table,
/// the column, the row's key, and the packet line (filled in by whoever knows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub table: Option<String>,
    pub column: Option<String>,
    pub key: Option<String>,
    pub line: Option<u64>,
    pub reason: String,
}

impl DecodeError {
    pub fn new(reason: impl Into<String>) -> DecodeError {
        DecodeError {
            table: None,
            column: None,
            key: None,
            line: None,
            reason: reason.into(),
        }
    }

    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.table.get_or_insert_with(|| table.into());
        self
    }

    pub fn with_column(mut self, column: impl Into<String>) -> Self {
        self.column.get_or_insert_with(|| column.into());
        self
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key.get_or_insert_with(|| key.into());
        self
    }

    pub fn with_line(mut self, line: u64) -> Self {
        self.line.get_or_insert(line);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        match (&self.table, &self.column) {
            (Some(t), Some(c)) => write!(f, "{t}.{c}: ")?,
            (Some(t), None) => write!(f, "{t}: ")?,
            (None, Some(c)) => write!(f, "column {c}: ")?,
            (None, None) => {}
        }
        if let Some(key) = &self.key {
            write!(f, "(key {key}) ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DecodeError {}

// ---------------------------------------------------------------------------------------------
// COPY text format: escaping, unescaping, splitting.
// ---------------------------------------------------------------------------------------------

/// The raw field that means NULL in COPY text format.
pub const NULL_FIELD: &[u8] = b"\\N";

/// Whether a raw field is the NULL marker `\N`.
#[inline]
pub fn is_null(raw: &[u8]) -> bool {
    raw == NULL_FIELD
}

/// For each byte, the letter of its COPY escape (`\t` → `t`), or 0 when it travels as is.
/// These are exactly the bytes PostgreSQL's `COPY ... TO` escapes in text format.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'\\' as usize] = b'\\';
    t[b'\t' as usize] = b't';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[0x0b] = b'v';
    t
};

/// Appends `text` to `out`, escaped for COPY text format (backslash, tab, newline, carriage
/// return, backspace, form feed and vertical tab become two-byte escapes).
#[inline]
pub fn escape_into(text: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        let e = ESCAPE[b as usize];
        if e != 0 {
            out.extend_from_slice(&text[start..i]);
            out.extend_from_slice(&[b'\\', e]);
            start = i + 1;
        }
    }
    out.extend_from_slice(&text[start..]);
}

/// Escapes, in place, everything `out` holds from `from` on (text just appended unescaped).
/// Costs one scan, and an allocation only when something must be escaped.
#[inline]
pub fn escape_tail(out: &mut Vec<u8>, from: usize) {
    if let Some(pos) = out[from..].iter().position(|&b| ESCAPE[b as usize] != 0) {
        let tail = out.split_off(from + pos);
        escape_into(&tail, out);
    }
}

/// Whether `text` contains any byte COPY text format escapes.
#[inline]
pub fn needs_escape(text: &[u8]) -> bool {
    text.iter().any(|&b| ESCAPE[b as usize] != 0)
}

fn nul_error() -> DecodeError {
    DecodeError::new("NUL is not allowed in PostgreSQL text")
}

/// The value of one hex digit, either case.
pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends the bytes a raw COPY-text field stands for, resolving every escape `COPY ... FROM`
/// accepts: `\b \f \n \r \t \v`, octal `\o`, `\oo`, `\ooo`, hex `\xh`, `\xhh`, and a backslash
/// before any other byte (which stands for that byte). The NULL marker is not special here
/// (check [`is_null`] first). Refuses a NUL byte and a trailing lone backslash; does not check
/// UTF-8.
pub fn unescape_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    out.reserve(raw.len());
    let mut i = 0;
    let mut start = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == 0 {
            return Err(nul_error());
        }
        if b != b'\\' {
            i += 1;
            continue;
        }
        out.extend_from_slice(&raw[start..i]);
        i += 1;
        let Some(&c) = raw.get(i) else {
            return Err(DecodeError::new("field ends in a lone backslash"));
        };
        i += 1;
        let byte = match c {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = (v << 3) + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                (v & 0o377) as u8
            }
            b'x' => match raw.get(i).and_then(|&d| hex_digit(d)) {
                Some(h) => {
                    i += 1;
                    let mut v = h;
                    if let Some(l) = raw.get(i).and_then(|&d| hex_digit(d)) {
                        v = (v << 4) | l;
                        i += 1;
                    }
                    v
                }
                None => b'x',
            },
            other => other,
        };
        if byte == 0 {
            return Err(nul_error());
        }
        out.push(byte);
        start = i;
    }
    out.extend_from_slice(&raw[start..]);
    Ok(())
}

fn utf8_error(bytes: &[u8], e: std::str::Utf8Error) -> DecodeError {
    let at = e.valid_up_to();
    let bad: Vec<String> = bytes[at..]
        .iter()
        .take(4)
        .map(|b| format!("0x{b:02x}"))
        .collect();
    DecodeError::new(format!("invalid UTF-8 at byte {at} ({})", bad.join(" ")))
}

/// The text a raw COPY-text field stands for: borrowed when it holds no escape (the common
/// case), owned otherwise. Refuses NUL and invalid UTF-8; the reader of the line bounds its
/// length ([`crate::packet::Limits`]).
/// The NULL marker is not special here (check [`is_null`] first).
pub fn field_text(raw: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
    if raw.iter().any(|&b| b == b'\\' || b == 0) {
        let mut out = Vec::new();
        unescape_into(raw, &mut out)?;
        match String::from_utf8(out) {
            Ok(s) => Ok(Cow::Owned(s)),
            Err(e) => Err(utf8_error(e.as_bytes(), e.utf8_error())),
        }
    } else {
        std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|e| utf8_error(raw, e))
    }
}

/// [`field_text`], always owned.
pub fn unescape_text(raw: &[u8]) -> Result<String, DecodeError> {
    field_text(raw).map(Cow::into_owned)
}

/// Splits one line (without its newline) into raw fields at unescaped tabs, appending them to
/// `fields` (which is not cleared). A backslash always takes the next byte with it, so `\` +
/// tab stays inside its field, as `COPY ... FROM` reads it. An empty line is one empty field.
pub fn split_fields<'a>(line: &'a [u8], fields: &mut Vec<&'a [u8]>) {
    let mut start = 0;
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'\t' => {
                fields.push(&line[start..i]);
                start = i + 1;
                i += 1;
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    fields.push(&line[start.min(line.len())..]);
}

/// Splits lines into fields, reusing one allocation across lines of different lifetimes (a
/// `Vec<&[u8]>` cannot outlive the line buffer it borrows, so a plain reused `Vec` does not
/// compile in a read loop).
///
/// ```
/// let mut splitter = replgen_format::codec::FieldSplitter::default();
/// let mut line = b"1\ta\\tb\t\\N".to_vec();
/// {
///     let fields = splitter.split(&line);
///     assert_eq!(&fields[..], &[&b"1"[..], b"a\\tb", b"\\N"]);
/// }
/// line.clear(); // the buffer is free again
/// ```
#[derive(Default)]
pub struct FieldSplitter {
    spare: Vec<&'static [u8]>,
}

/// The fields of one line, borrowed from a [`FieldSplitter`]; derefs to `[&[u8]]`.
pub struct Fields<'s, 'a> {
    fields: Vec<&'a [u8]>,
    home: &'s mut Vec<&'static [u8]>,
}

/// Empties a vector of borrowed slices and changes the lifetime it is typed with, keeping its
/// allocation (an in-place collect of an empty iterator).
fn recycle<'b>(mut v: Vec<&[u8]>) -> Vec<&'b [u8]> {
    v.clear();
    v.into_iter()
        .map(|_| -> &'b [u8] { unreachable!() })
        .collect()
}

impl FieldSplitter {
    /// Splits `line` (see [`split_fields`]).
    pub fn split<'s, 'a>(&'s mut self, line: &'a [u8]) -> Fields<'s, 'a> {
        let mut fields = recycle(std::mem::take(&mut self.spare));
        split_fields(line, &mut fields);
        Fields {
            fields,
            home: &mut self.spare,
        }
    }
}

impl<'a> std::ops::Deref for Fields<'_, 'a> {
    type Target = [&'a [u8]];
    fn deref(&self) -> &[&'a [u8]] {
        &self.fields
    }
}

impl Drop for Fields<'_, '_> {
    fn drop(&mut self) {
        *self.home = recycle(std::mem::take(&mut self.fields));
    }
}

// ---------------------------------------------------------------------------------------------
// Typed values.
// ---------------------------------------------------------------------------------------------

/// A column value: one COPY-text field. Implemented for every type of the type mapping
/// (see `docs/design.md`) through [`TextForm`], and for `Option<T>` (None ↔ `\N`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a column type replgen-format knows",
    note = "library types need the replgen-format feature of their crate: rust_decimal, chrono, time or serde_json"
)]
pub trait Value: Sized {
    /// Appends the value as one COPY-text field (escaped; `\N` for NULL), no tab.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads the value back from one raw COPY-text field.
    fn decode(raw: &[u8]) -> Result<Self, DecodeError>;
}

/// A type with a PostgreSQL text form (what `COPY`, `::text` and literals use, under the
/// session settings of `docs/design.md`). Array elements use it too.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a column type replgen-format knows",
    note = "library types need the replgen-format feature of their crate: rust_decimal, chrono, time or serde_json"
)]
pub trait TextForm: Sized {
    /// Whether [`write_text`](TextForm::write_text) may produce a byte that COPY escapes;
    /// `false` lets encoding skip the escape scan (numbers, uuids, booleans).
    const MAY_NEED_ESCAPE: bool = true;

    /// Appends the PostgreSQL text form (unescaped, UTF-8).
    fn write_text(&self, out: &mut Vec<u8>);

    /// Parses the PostgreSQL text form.
    fn parse_text(text: &str) -> Result<Self, DecodeError>;

    /// [`parse_text`](TextForm::parse_text) from an owned string (newtypes over text keep it).
    fn parse_text_owned(text: String) -> Result<Self, DecodeError> {
        Self::parse_text(&text)
    }

    /// Appends the value as one COPY-text field.
    #[inline]
    fn encode_field(&self, out: &mut Vec<u8>) {
        let from = out.len();
        self.write_text(out);
        if Self::MAY_NEED_ESCAPE {
            escape_tail(out, from);
        }
    }

    /// Reads the value from one raw, non-NULL COPY-text field.
    #[inline]
    fn decode_field(raw: &[u8]) -> Result<Self, DecodeError> {
        match field_text(raw)? {
            Cow::Borrowed(s) => Self::parse_text(s),
            Cow::Owned(s) => Self::parse_text_owned(s),
        }
    }
}

/// The text form of a value as a `String` (handy for keys and messages).
pub fn to_text<T: TextForm>(value: &T) -> String {
    let mut out = Vec::new();
    value.write_text(&mut out);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl<T: TextForm> Value for T {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        self.encode_field(out)
    }

    #[inline]
    fn decode(raw: &[u8]) -> Result<Self, DecodeError> {
        if is_null(raw) {
            return Err(DecodeError::new("NULL in a non-null column"));
        }
        T::decode_field(raw)
    }
}

impl<T: TextForm> Value for Option<T> {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.encode_field(out),
            None => out.extend_from_slice(NULL_FIELD),
        }
    }

    #[inline]
    fn decode(raw: &[u8]) -> Result<Self, DecodeError> {
        if is_null(raw) {
            Ok(None)
        } else {
            T::decode_field(raw).map(Some)
        }
    }
}

/// Quotes a value for an error message, shortened when long.
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head:?}...")
    }
}
