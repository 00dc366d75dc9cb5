//! `json` and `jsonb` as their exact text, checked to be JSON (RFC 8259).

/// Checks that `text` is one JSON value (with whitespace around). Iterative, so deeply
/// nested input cannot exhaust the stack.
fn check_json(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    let mut i = 0;
    // The open containers: b'{' or b'['.
    let mut stack: Vec<u8> = Vec::new();
    let err = |i: usize, what: &str| Err(format!("{what} at offset {i}"));
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
            *i += 1;
        }
    };
    loop {
        // Expect a value (in an object: a key first).
        skip_ws(&mut i);
        if stack.last() == Some(&b'{') {
            if b.get(i) != Some(&b'"') {
                return err(i, "expected an object key");
            }
            i = string_end(b, i)?;
            skip_ws(&mut i);
            if b.get(i) != Some(&b':') {
                return err(i, "expected ':'");
            }
            i += 1;
            skip_ws(&mut i);
        }
        match b.get(i) {
            Some(b'{') | Some(b'[') => {
                let open = b[i];
                stack.push(open);
                i += 1;
                skip_ws(&mut i);
                let close = if open == b'{' { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    stack.pop();
                    i += 1;
                } else {
                    continue;
                }
            }
            Some(b'"') => i = string_end(b, i)?,
            Some(b't') if b[i..].starts_with(b"true") => i += 4,
            Some(b'f') if b[i..].starts_with(b"false") => i += 5,
            Some(b'n') if b[i..].starts_with(b"null") => i += 4,
            Some(b'-' | b'0'..=b'9') => i = number_end(b, i)?,
            _ => return err(i, "expected a JSON value"),
        }
        // After a value: close containers or continue with a comma.
        loop {
            skip_ws(&mut i);
            let Some(&open) = stack.last() else {
                return if i == b.len() {
                    Ok(())
                } else {
                    err(i, "unexpected text after the JSON value")
                };
            };
            let close = if open == b'{' { b'}' } else { b']' };
            match b.get(i) {
                Some(&c) if c == close => {
                    stack.pop();
                    i += 1;
                }
                Some(b',') => {
                    i += 1;
                    break;
                }
                _ => return err(i, "expected ',' or a closing bracket"),
            }
        }
    }
}

/// The offset after the string starting at `i` (a `"`).
fn string_end(b: &[u8], mut i: usize) -> Result<usize, String> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\\' => match b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u')
                    if b.len() >= i + 6 && b[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit) =>
                {
                    i += 6
                }
                _ => return Err(format!("invalid escape in a string at offset {i}")),
            },
            c if c < 0x20 => {
                return Err(format!(
                    "unescaped control character in a string at offset {i}"
                ))
            }
            _ => i += 1,
        }
    }
    Err("unterminated string".into())
}

fn number_end(b: &[u8], mut i: usize) -> Result<usize, String> {
    let start = i;
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    if b[i] == b'-' {
        i += 1;
    }
    if b.get(i) == Some(&b'0') {
        i += 1;
    } else if digits(&mut i) == 0 {
        return Err(format!("invalid number at offset {start}"));
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return Err(format!("invalid number at offset {start}"));
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return Err(format!("invalid number at offset {start}"));
        }
    }
    Ok(i)
}

super::text_newtype!(
    /// A `json` value's exact text (whitespace and key order kept).
    Json,
    "json",
    check_json
);

super::text_newtype!(
    /// A `jsonb` value's text as PostgreSQL prints it.
    Jsonb,
    "jsonb",
    check_json
);
