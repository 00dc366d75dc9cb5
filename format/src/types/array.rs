//! `T[]`: PostgreSQL arrays of any dimension count, with their lower bounds and NULLs.

use super::is_pg_space;
use crate::codec::{shown, DecodeError, TextForm};

/// PostgreSQL's limit on array dimensions (`MAXDIM`).
pub const MAX_DIMS: usize = 6;

/// An array value: its dimensions (lengths), lower bounds, and elements in row-major order.
/// A zero-dimension array is the empty array `{}`. Re-encoding yields the text PostgreSQL
/// prints, including `[0:1]={...}` bounds when a lower bound is not 1.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Array<T> {
    dims: Vec<usize>,
    lower: Vec<i32>,
    elements: Vec<Option<T>>,
}

impl<T> Default for Array<T> {
    fn default() -> Self {
        Array {
            dims: Vec::new(),
            lower: Vec::new(),
            elements: Vec::new(),
        }
    }
}

impl<T> Array<T> {
    /// An array of `dims` lengths with `lower` bounds, holding `elements` in row-major order.
    pub fn new(
        dims: Vec<usize>,
        lower: Vec<i32>,
        elements: Vec<Option<T>>,
    ) -> Result<Self, DecodeError> {
        if dims.len() != lower.len() {
            return Err(DecodeError::new(
                "array has a different number of dimensions and lower bounds",
            ));
        }
        if dims.len() > MAX_DIMS {
            return Err(DecodeError::new(format!(
                "array has more than {MAX_DIMS} dimensions"
            )));
        }
        if dims.contains(&0) {
            return Err(DecodeError::new(
                "array dimension of length 0 (the empty array has no dimensions)",
            ));
        }
        let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let expected = if dims.is_empty() { Some(0) } else { count };
        if expected != Some(elements.len()) {
            return Err(DecodeError::new(
                "array dimensions do not match its number of elements",
            ));
        }
        for (&l, &d) in lower.iter().zip(&dims) {
            if i64::from(l) + d as i64 - 1 > i64::from(i32::MAX) {
                return Err(DecodeError::new("array upper bound is out of range"));
            }
        }
        Ok(Array {
            dims,
            lower,
            elements,
        })
    }

    /// A one-dimensional array (lower bound 1), empty when `elements` is.
    pub fn from_options(elements: Vec<Option<T>>) -> Self {
        if elements.is_empty() {
            return Array::default();
        }
        Array {
            dims: vec![elements.len()],
            lower: vec![1],
            elements,
        }
    }

    /// A one-dimensional array without NULLs.
    pub fn from_values(values: Vec<T>) -> Self {
        Array::from_options(values.into_iter().map(Some).collect())
    }

    /// The length of each dimension (empty for `{}`).
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The lower bound of each dimension (1 unless the array says otherwise).
    pub fn lower_bounds(&self) -> &[i32] {
        &self.lower
    }

    /// The elements in row-major order, NULL as `None`.
    pub fn elements(&self) -> &[Option<T>] {
        &self.elements
    }

    pub fn into_elements(self) -> Vec<Option<T>> {
        self.elements
    }

    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }
}

/// Whether an element's text must be quoted in array text (`array_out`'s rule).
fn needs_quotes(text: &[u8]) -> bool {
    text.is_empty()
        || text.eq_ignore_ascii_case(b"NULL")
        || text
            .iter()
            .any(|&c| matches!(c, b'"' | b'\\' | b'{' | b'}' | b',') || is_pg_space(c as char))
}

fn write_i64(v: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(v.to_string().as_bytes());
}

impl<T: TextForm> TextForm for Array<T> {
    fn write_text(&self, out: &mut Vec<u8>) {
        if self.elements.is_empty() {
            out.extend_from_slice(b"{}");
            return;
        }
        if self.lower.iter().any(|&l| l != 1) {
            for (&l, &d) in self.lower.iter().zip(&self.dims) {
                out.push(b'[');
                write_i64(i64::from(l), out);
                out.push(b':');
                write_i64(i64::from(l) + d as i64 - 1, out);
                out.push(b']');
            }
            out.push(b'=');
        }
        // strides[k] = number of elements in one sub-array at depth k.
        let n = self.dims.len();
        let mut strides = vec![1usize; n];
        for k in (0..n.saturating_sub(1)).rev() {
            strides[k] = strides[k + 1] * self.dims[k + 1];
        }
        strides
            .iter_mut()
            .enumerate()
            .for_each(|(k, s)| *s *= self.dims[k]);
        out.extend(std::iter::repeat_n(b'{', n));
        let total = self.elements.len();
        for (i, element) in self.elements.iter().enumerate() {
            match element {
                None => out.extend_from_slice(b"NULL"),
                Some(v) => {
                    let start = out.len();
                    v.write_text(out);
                    if needs_quotes(&out[start..]) {
                        let text = out.split_off(start);
                        out.push(b'"');
                        for &c in &text {
                            if c == b'"' || c == b'\\' {
                                out.push(b'\\');
                            }
                            out.push(c);
                        }
                        out.push(b'"');
                    }
                }
            }
            let j = i + 1;
            let closing = strides.iter().filter(|&&s| j % s == 0).count();
            out.extend(std::iter::repeat_n(b'}', closing));
            if j < total {
                out.push(b',');
                out.extend(std::iter::repeat_n(b'{', closing));
            }
        }
    }

    fn parse_text(text: &str) -> Result<Self, DecodeError> {
        parse_array(text)
            .map_err(|why| DecodeError::new(format!("invalid array {}: {why}", shown(text))))
    }
}

/// One parsed element before conversion: its text, or NULL.
type RawElement = Option<String>;

fn parse_array<T: TextForm>(text: &str) -> Result<Array<T>, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && is_pg_space(b[*i] as char) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    // Optional dimension decoration: [lb:ub][lb:ub]=
    let mut given: Option<(Vec<usize>, Vec<i32>)> = None;
    if b.get(i) == Some(&b'[') {
        let (mut dims, mut lower) = (Vec::new(), Vec::new());
        while b.get(i) == Some(&b'[') {
            i += 1;
            if dims.len() == MAX_DIMS {
                return Err(format!("more than {MAX_DIMS} dimensions"));
            }
            let first = parse_int(b, &mut i)?;
            let (lb, ub) = if b.get(i) == Some(&b':') {
                i += 1;
                (first, parse_int(b, &mut i)?)
            } else {
                (1, first)
            };
            if b.get(i) != Some(&b']') {
                return Err("expected ']' in the dimensions".into());
            }
            i += 1;
            if ub < lb {
                return Err("upper bound below lower bound".into());
            }
            let lb32 = i32::try_from(lb).map_err(|_| "lower bound out of range".to_owned())?;
            i32::try_from(ub).map_err(|_| "upper bound out of range".to_owned())?;
            dims.push((ub - lb + 1) as usize);
            lower.push(lb32);
            skip_ws(&mut i);
        }
        if b.get(i) != Some(&b'=') {
            return Err("expected '=' after the dimensions".into());
        }
        i += 1;
        skip_ws(&mut i);
        given = Some((dims, lower));
    }
    if b.get(i) != Some(&b'{') {
        return Err("expected '{'".into());
    }
    let mut raw: Vec<RawElement> = Vec::new();
    // dims found so far per depth (None until the first sub-array at that depth closes).
    let mut dims: Vec<Option<usize>> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let mut depth_of_leaves: Option<usize> = None;
    let mut empty = false;
    // Iterative descent: at each step we are right before a value or a closing brace.
    i += 1;
    counts.push(0);
    dims.push(None);
    skip_ws(&mut i);
    if b.get(i) == Some(&b'}') {
        i += 1;
        empty = true;
    } else {
        loop {
            skip_ws(&mut i);
            let depth = counts.len();
            if b.get(i) == Some(&b'{') {
                if depth_of_leaves.is_some_and(|d| d <= depth) {
                    return Err("unexpected '{' (ragged array)".into());
                }
                if depth == MAX_DIMS {
                    return Err(format!("more than {MAX_DIMS} dimensions"));
                }
                i += 1;
                counts.push(0);
                if dims.len() < counts.len() {
                    dims.push(None);
                }
                continue;
            }
            if depth_of_leaves.is_some_and(|d| d != depth) {
                return Err("element where a sub-array was expected (ragged array)".into());
            }
            depth_of_leaves = Some(depth);
            raw.push(parse_element(b, &mut i)?);
            *counts.last_mut().expect("inside braces") += 1;
            // After an element or a closed sub-array: ',' or '}'.
            loop {
                skip_ws(&mut i);
                match b.get(i) {
                    Some(b',') => {
                        i += 1;
                        break;
                    }
                    Some(b'}') => {
                        i += 1;
                        let n = counts.pop().expect("inside braces");
                        let d = counts.len();
                        match dims[d] {
                            None => dims[d] = Some(n),
                            Some(m) if m == n => {}
                            Some(_) => return Err("sub-arrays of different lengths".into()),
                        }
                        if counts.is_empty() {
                            break;
                        }
                        *counts.last_mut().expect("inside braces") += 1;
                    }
                    _ => return Err("expected ',' or '}'".into()),
                }
            }
            if counts.is_empty() {
                break;
            }
            skip_ws(&mut i);
            if b.get(i) == Some(&b'{') && depth_of_leaves.is_some_and(|d| d <= counts.len()) {
                return Err("unexpected '{' (ragged array)".into());
            }
        }
    }
    skip_ws(&mut i);
    if i != b.len() {
        return Err("unexpected text after the closing '}'".into());
    }
    let found: Vec<usize> = if empty {
        Vec::new()
    } else {
        dims.iter().map(|d| d.unwrap_or(0)).collect()
    };
    let (dims, lower) = match given {
        Some((gd, gl)) => {
            if !empty && gd != found {
                return Err("the dimensions do not match the elements".into());
            }
            if empty {
                (Vec::new(), Vec::new())
            } else {
                (gd, gl)
            }
        }
        None => {
            let n = found.len();
            (found, vec![1; n])
        }
    };
    let mut elements = Vec::with_capacity(raw.len());
    for r in raw {
        elements.push(match r {
            None => None,
            Some(s) => Some(T::parse_text_owned(s).map_err(|e| e.reason)?),
        });
    }
    Array::new(dims, lower, elements).map_err(|e| e.reason)
}

fn parse_int(b: &[u8], i: &mut usize) -> Result<i64, String> {
    let start = *i;
    if matches!(b.get(*i), Some(b'+' | b'-')) {
        *i += 1;
    }
    let digits = *i;
    while *i < b.len() && b[*i].is_ascii_digit() && *i - digits < 12 {
        *i += 1;
    }
    if *i == digits {
        return Err("expected a number in the dimensions".into());
    }
    std::str::from_utf8(&b[start..*i])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "invalid number in the dimensions".to_owned())
}

/// One element at `i` (leading whitespace already skipped): quoted or not, with backslash
/// escapes; unquoted `NULL` (any case) is NULL; unquoted text loses trailing whitespace.
fn parse_element(b: &[u8], i: &mut usize) -> Result<RawElement, String> {
    let mut out = Vec::new();
    if b.get(*i) == Some(&b'"') {
        *i += 1;
        loop {
            match b.get(*i) {
                None => return Err("unterminated quoted element".into()),
                Some(b'"') => {
                    *i += 1;
                    break;
                }
                Some(b'\\') => {
                    let Some(&c) = b.get(*i + 1) else {
                        return Err("unterminated quoted element".into());
                    };
                    out.push(c);
                    *i += 2;
                }
                Some(&c) => {
                    out.push(c);
                    *i += 1;
                }
            }
        }
    } else {
        // The length of `out` up to its last escaped or non-space byte (trailing space trims).
        let mut keep = 0;
        let mut escaped = false;
        loop {
            match b.get(*i) {
                None => return Err("unterminated array".into()),
                Some(b',' | b'}') => break,
                Some(b'{' | b'"') => {
                    return Err("unexpected character in an unquoted element".into())
                }
                Some(b'\\') => {
                    let Some(&c) = b.get(*i + 1) else {
                        return Err("unterminated array".into());
                    };
                    out.push(c);
                    keep = out.len();
                    escaped = true;
                    *i += 2;
                }
                Some(&c) => {
                    out.push(c);
                    if !is_pg_space(c as char) {
                        keep = out.len();
                    }
                    *i += 1;
                }
            }
        }
        out.truncate(keep);
        if out.is_empty() {
            return Err("empty unquoted element".into());
        }
        if !escaped && out.eq_ignore_ascii_case(b"NULL") {
            return Ok(None);
        }
    }
    String::from_utf8(out)
        .map(Some)
        .map_err(|_| "invalid UTF-8 in an element".to_owned())
}
