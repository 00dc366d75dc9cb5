//! Identifiers: SQL quoting, table-name parsing and the Rust names of tables and columns.

use crate::{Schema, Table};

/// `s` as a quoted SQL identifier: always double-quoted, `"` doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Splits a written table name into (schema, name): `artist` → (`public`, `artist`),
/// `musicbrainz.artist` → (`musicbrainz`, `artist`). Names are exact (no case folding); a part
/// holding a dot or a quote is written double-quoted: `"odd.schema"."Tab""le"`.
pub fn parse_table_name(written: &str) -> Result<(String, String), String> {
    let chars: Vec<char> = written.chars().collect();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    loop {
        let mut part = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated quoted name in {written:?}")),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        part.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        part.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while let Some(&c) = chars.get(i) {
                if c == '.' {
                    break;
                }
                if c == '"' {
                    return Err(format!("misplaced '\"' in table name {written:?}"));
                }
                part.push(c);
                i += 1;
            }
        }
        parts.push(part);
        match chars.get(i) {
            None => break,
            Some('.') => i += 1,
            Some(_) => return Err(format!("expected '.' after a quoted name in {written:?}")),
        }
    }
    match parts.len() {
        1 => Ok(("public".to_string(), parts.pop().unwrap())),
        2 => {
            let name = parts.pop().unwrap();
            Ok((parts.pop().unwrap(), name))
        }
        _ => Err(format!(
            "table name {written:?} has more than two parts; write schema.table (quote a name that holds a dot)"
        )),
    }
}

/// Checks a PostgreSQL identifier; every identifier is quoted everywhere, so only emptiness,
/// length (63 bytes) and control characters matter.
pub(crate) fn check_identifier(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.len() > 63 {
        return Err(format!(
            "is {} bytes long; PostgreSQL identifiers hold at most 63 bytes",
            s.len()
        ));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err("holds a control character".into());
    }
    Ok(())
}

const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "union", "unsafe", "unsized",
    "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["self", "super", "crate", "_"];

fn words(s: &str) -> Vec<String> {
    // Split on anything that is not an ASCII letter or digit, and at lower→upper case changes.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower_or_digit = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower_or_digit && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower_or_digit = c.is_ascii_lowercase() || c.is_ascii_digit();
            cur.push(c);
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower_or_digit = false;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The Rust field name for a column: snake_case, a valid identifier (keywords get `r#`,
/// characters that cannot appear become `_`, a leading digit gets a `c` prefix).
pub fn rust_field_name(column: &str) -> String {
    let w = words(column);
    let mut s = w
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    // Keep a leading underscore the column had (e.g. `_private`), as far as it is meaningful.
    if column.starts_with('_') && !s.is_empty() {
        s.insert(0, '_');
    }
    if s.is_empty() {
        return "column".to_string();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'c');
    }
    if NOT_RAW.contains(&s.as_str()) {
        s.push('_');
    } else if KEYWORDS.contains(&s.as_str()) {
        s.insert_str(0, "r#");
    }
    s
}

/// Field names of a table's columns, in column order: `rust_field_name` of each, with `_2`,
/// `_3`, ... appended to later columns whose name would repeat an earlier field's.
pub fn rust_field_names(table: &Table) -> Vec<String> {
    let mut used = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(table.columns.len());
    for c in &table.columns {
        let base = rust_field_name(&c.name);
        let mut name = base.clone();
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = format!("{}_{n}", base.trim_start_matches("r#"));
            n += 1;
        }
        out.push(name);
    }
    out
}

fn camel(s: &str) -> String {
    let mut out = String::new();
    for w in words(s) {
        let mut chars = w.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

fn base_struct_name(table: &Table) -> String {
    let mut s = camel(&table.name);
    if s.is_empty() {
        s = "Table".into();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'T');
    }
    // `Self` cannot name a struct; `SCHEMA` is the module's constant; `Option` and `String` would
    // shadow the prelude types the generated field types are written with (`Option<String>`).
    if matches!(s.as_str(), "Self" | "SCHEMA" | "Option" | "String") {
        s.push_str("Table");
    }
    s
}

/// The Rust struct name of a table: CamelCase of its name. When several tables of the schema
/// would get the same name, each of them is prefixed with its schema's CamelCase; if that still
/// collides, the table id is appended.
pub fn rust_struct_name(table: &Table, all: &Schema) -> String {
    let base = base_struct_name(table);
    let clashes = all
        .tables
        .iter()
        .filter(|t| base_struct_name(t) == base)
        .count()
        > 1;
    if !clashes {
        return base;
    }
    let prefixed = |t: &Table| format!("{}{}", camel(&t.schema), base_struct_name(t));
    let mine = prefixed(table);
    let still = all
        .tables
        .iter()
        .filter(|t| base_struct_name(t) == base && prefixed(t) == mine)
        .count()
        > 1
        || all.tables.iter().any(|t| base_struct_name(t) == mine);
    if still {
        format!("{mine}{}", table.id)
    } else {
        mine
    }
}
