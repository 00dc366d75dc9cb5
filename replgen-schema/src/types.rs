//! Column types: parsing every usual PostgreSQL spelling into one canonical form.

use crate::quote_ident;

/// A column's type: a base type, possibly as an array (any number of dimensions).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SqlType {
    pub base: BaseType,
    pub array: bool,
}

/// The base types replgen knows; anything else is `Other`, carried in its text form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BaseType {
    Smallint,
    Integer,
    Bigint,
    Boolean,
    Real,
    Double,
    Numeric {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    Text,
    Varchar(Option<u32>),
    /// `character(n)`; `None` is `bpchar` (blank-padded, unlimited).
    Char(Option<u32>),
    Uuid,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Bytea,
    Json,
    Jsonb,
    Inet,
    Cidr,
    /// Any other type (enums, domains, extension types, precision-qualified time types, ...),
    /// holding its canonical DDL spelling (unquoted words lowercased, identifiers quoted when
    /// they need it, schema qualification kept).
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier; `true` when it was double-quoted (case kept).
    Ident(String, bool),
    Num(String),
    LParen,
    RParen,
    Comma,
    Dot,
    LBracket,
    RBracket,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => (out.push(Tok::LParen), i += 1).1,
            ')' => (out.push(Tok::RParen), i += 1).1,
            ',' => (out.push(Tok::Comma), i += 1).1,
            '.' => (out.push(Tok::Dot), i += 1).1,
            '[' => (out.push(Tok::LBracket), i += 1).1,
            ']' => (out.push(Tok::RBracket), i += 1).1,
            '"' => {
                let mut name = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated quoted identifier".into()),
                        Some('"') if chars.get(i + 1) == Some(&'"') => {
                            name.push('"');
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(&c) => {
                            name.push(c);
                            i += 1;
                        }
                    }
                }
                if name.is_empty() {
                    return Err("empty quoted identifier".into());
                }
                out.push(Tok::Ident(name, true));
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                out.push(Tok::Num(chars[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(Tok::Ident(word.to_lowercase(), false));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

/// A type's name as DDL writes it, `name` or `schema.name` (unquoted words lowercased, quoted ones
/// exact), as (schema, name) with `public` when unqualified; `None` when it is not a plain name.
pub fn parse_type_name(written: &str) -> Option<(String, String)> {
    match tokenize(written.trim()).ok()?.as_slice() {
        [Tok::Ident(n, _)] => Some(("public".into(), n.clone())),
        [Tok::Ident(s, _), Tok::Dot, Tok::Ident(n, _)] => Some((s.clone(), n.clone())),
        _ => None,
    }
}

fn num_arg(args: &[u32], i: usize) -> Option<u32> {
    args.get(i).copied()
}

/// Resolves unquoted words (already lowercased) + optional typmod arguments to a known base type.
/// `Ok(None)` means "not a built-in name".
fn builtin(words: &str, args: Option<&[u32]>, tail: &str) -> Result<Option<BaseType>, String> {
    use BaseType::*;
    let no_args = |t: BaseType| -> Result<Option<BaseType>, String> {
        if args.is_some() {
            Err(format!("type {words} takes no arguments"))
        } else if !tail.is_empty() {
            Err(format!("unexpected \"{tail}\" after type {words}"))
        } else {
            Ok(Some(t))
        }
    };
    let a = args.unwrap_or(&[]);
    let max_args = |n: usize| -> Result<(), String> {
        if a.len() > n {
            Err(format!(
                "type {words} takes at most {n} argument{}",
                if n == 1 { "" } else { "s" }
            ))
        } else if !tail.is_empty() {
            Err(format!("unexpected \"{tail}\" after type {words}"))
        } else {
            Ok(())
        }
    };
    // Time types may carry a precision, and (when spelled `time`/`timestamp`) a zone clause after it.
    let time_like =
        |base: &str, fixed_tz: Option<bool>, plain: BaseType| -> Result<Option<BaseType>, String> {
            let tz = match (fixed_tz, tail) {
                (Some(tz), "") => tz,
                (None, "") | (None, "without time zone") => false,
                (None, "with time zone") => true,
                _ => return Err(format!("unexpected \"{tail}\" after type {words}")),
            };
            if a.len() > 1 {
                return Err(format!("type {words} takes at most 1 argument"));
            }
            match num_arg(a, 0) {
                None if tz => Ok(Some(if plain == Time { TimeTz } else { TimestampTz })),
                None => Ok(Some(plain)),
                Some(p) if p <= 6 => Ok(Some(Other(format!(
                    "{base}({p}) with{} time zone",
                    if tz { "" } else { "out" }
                )))),
                Some(p) => Err(format!("{words} precision {p} must be between 0 and 6")),
            }
        };
    let t = match words {
        "smallint" | "int2" | "smallserial" | "serial2" => return no_args(Smallint),
        "integer" | "int" | "int4" | "serial" | "serial4" => return no_args(Integer),
        "bigint" | "int8" | "bigserial" | "serial8" => return no_args(Bigint),
        "boolean" | "bool" => return no_args(Boolean),
        "real" | "float4" => return no_args(Real),
        "double precision" | "float8" => return no_args(Double),
        "float" => {
            max_args(1)?;
            match num_arg(a, 0) {
                None => Double,
                Some(1..=24) => Real,
                Some(25..=53) => Double,
                Some(p) => return Err(format!("float precision {p} must be between 1 and 53")),
            }
        }
        "numeric" | "decimal" => {
            max_args(2)?;
            let precision = num_arg(a, 0);
            let scale = num_arg(a, 1);
            if let Some(p) = precision {
                if !(1..=1000).contains(&p) {
                    return Err(format!("numeric precision {p} must be between 1 and 1000"));
                }
            }
            Numeric { precision, scale }
        }
        "text" => return no_args(Text),
        "varchar" | "character varying" | "char varying" => {
            max_args(1)?;
            check_len(words, num_arg(a, 0))?;
            Varchar(num_arg(a, 0))
        }
        "char" | "character" => {
            max_args(1)?;
            check_len(words, num_arg(a, 0))?;
            Char(Some(num_arg(a, 0).unwrap_or(1)))
        }
        "bpchar" => {
            max_args(1)?;
            check_len(words, num_arg(a, 0))?;
            Char(num_arg(a, 0))
        }
        "uuid" => return no_args(Uuid),
        "date" => return no_args(Date),
        "time" => return time_like("time", None, Time),
        "time without time zone" => return time_like("time", Some(false), Time),
        "time with time zone" | "timetz" => return time_like("time", Some(true), Time),
        "timestamp" => return time_like("timestamp", None, Timestamp),
        "timestamp without time zone" => return time_like("timestamp", Some(false), Timestamp),
        "timestamp with time zone" | "timestamptz" => {
            return time_like("timestamp", Some(true), Timestamp)
        }
        "interval" => {
            const FIELDS: &[&str] = &[
                "",
                "year",
                "month",
                "day",
                "hour",
                "minute",
                "second",
                "year to month",
                "day to hour",
                "day to minute",
                "day to second",
                "hour to minute",
                "hour to second",
                "minute to second",
            ];
            if !FIELDS.contains(&tail) {
                return Err(format!("unexpected \"{tail}\" after type interval"));
            }
            if args.is_none() && tail.is_empty() {
                Interval
            } else {
                // Fields or precision: kept as written, travels as text.
                let mut s = String::from("interval");
                if !tail.is_empty() {
                    s.push(' ');
                    s.push_str(tail);
                }
                if let Some(a) = args {
                    s.push_str(&format!("({})", join_nums(a)));
                }
                Other(s)
            }
        }
        "bytea" => return no_args(Bytea),
        "json" => return no_args(Json),
        "jsonb" => return no_args(Jsonb),
        "inet" => return no_args(Inet),
        "cidr" => return no_args(Cidr),
        _ => return Ok(None),
    };
    Ok(Some(t))
}

fn check_len(words: &str, n: Option<u32>) -> Result<(), String> {
    match n {
        Some(0) => Err(format!("length for type {words} must be at least 1")),
        Some(n) if n > 10_485_760 => Err(format!("length for type {words} cannot exceed 10485760")),
        _ => Ok(()),
    }
}

fn join_nums(a: &[u32]) -> String {
    a.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Words that PostgreSQL's `quote_ident` quotes (reserved and type-function keywords), so an
/// `Other` type spelled with them stays valid DDL.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// An identifier as PostgreSQL's `quote_ident` would print it: bare when it is a plain
/// lowercase word that is not a keyword, quoted otherwise.
pub(crate) fn ident_minimal(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&s);
    if plain {
        s.to_string()
    } else {
        quote_ident(s)
    }
}

impl SqlType {
    /// Parses a type as DDL writes it (case-insensitive, every usual alias, `[]` arrays).
    pub fn parse(written: &str) -> Result<SqlType, String> {
        let trimmed = written.trim();
        if trimmed.is_empty() {
            return Err("empty type".into());
        }
        let mut toks = tokenize(trimmed).map_err(|e| format!("invalid type {trimmed:?}: {e}"))?;
        let bad = |why: &str| format!("invalid type {trimmed:?}: {why}");
        // Array suffixes: `[]`, `[3]`, repeated; `array`, `array[3]`.
        let mut array = false;
        loop {
            let n = toks.len();
            if n >= 2 && toks[n - 1] == Tok::RBracket && toks[n - 2] == Tok::LBracket {
                toks.truncate(n - 2);
                array = true;
            } else if n >= 3
                && toks[n - 1] == Tok::RBracket
                && matches!(toks[n - 2], Tok::Num(_))
                && toks[n - 3] == Tok::LBracket
            {
                toks.truncate(n - 3);
                array = true;
            } else {
                break;
            }
        }
        if toks.len() >= 2 && toks.last() == Some(&Tok::Ident("array".into(), false)) {
            toks.pop();
            array = true;
        }
        if toks
            .iter()
            .any(|t| matches!(t, Tok::LBracket | Tok::RBracket))
        {
            return Err(bad("brackets only go at the end, as []"));
        }
        // name part: identifiers separated by dots (qualified) or by spaces (multi-word builtins)
        let mut i = 0;
        let mut parts: Vec<(String, bool)> = Vec::new();
        let mut dotted = false;
        while let Some(Tok::Ident(w, q)) = toks.get(i) {
            parts.push((w.clone(), *q));
            i += 1;
            if toks.get(i) == Some(&Tok::Dot) {
                dotted = true;
                i += 1;
                if !matches!(toks.get(i), Some(Tok::Ident(..))) {
                    return Err(bad("a name must follow '.'"));
                }
            } else if !matches!(toks.get(i), Some(Tok::Ident(..))) || dotted {
                break;
            }
        }
        if parts.is_empty() {
            return Err(bad("expected a type name"));
        }
        let mut args: Option<Vec<u32>> = None;
        if toks.get(i) == Some(&Tok::LParen) {
            i += 1;
            let mut a = Vec::new();
            loop {
                match toks.get(i) {
                    Some(Tok::Num(n)) => {
                        a.push(n.parse::<u32>().map_err(|_| bad("argument out of range"))?);
                        i += 1;
                    }
                    _ => return Err(bad("type arguments must be integers")),
                }
                match toks.get(i) {
                    Some(Tok::Comma) => i += 1,
                    Some(Tok::RParen) => {
                        i += 1;
                        break;
                    }
                    _ => return Err(bad("unclosed '('")),
                }
            }
            args = Some(a);
        }
        let mut tail_words = Vec::new();
        while let Some(Tok::Ident(w, false)) = toks.get(i) {
            tail_words.push(w.clone());
            i += 1;
        }
        if i != toks.len() {
            return Err(bad("unexpected text after the type"));
        }
        // `interval day to second`: the fields are a tail, like a time zone clause.
        if parts.len() > 1
            && parts[0] == ("interval".to_string(), false)
            && args.is_none()
            && tail_words.is_empty()
        {
            tail_words = parts.drain(1..).map(|(w, _)| w).collect();
        }
        let tail = tail_words.join(" ");
        let any_quoted = parts.iter().any(|(_, q)| *q);
        if !dotted && !any_quoted {
            let words = parts
                .iter()
                .map(|(w, _)| w.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(base) = builtin(&words, args.as_deref(), &tail).map_err(|e| bad(&e))? {
                return Ok(SqlType { base, array });
            }
            // `_int4`: PostgreSQL's internal array type names.
            if parts.len() == 1 && args.is_none() && tail.is_empty() && !array {
                if let Some(elem) = words.strip_prefix('_') {
                    if let Ok(Some(base)) = builtin(elem, None, "") {
                        return Ok(SqlType { base, array: true });
                    }
                }
            }
            if parts.len() > 1 {
                // A few multi-word types without a dedicated variant.
                if words != "bit varying"
                    && words != "national character"
                    && words != "national character varying"
                {
                    return Err(bad(&format!("unknown type \"{words}\"")));
                }
            }
        }
        if !tail.is_empty() {
            return Err(bad(&format!("unexpected \"{tail}\"")));
        }
        let mut text = if dotted {
            parts
                .iter()
                .map(|(w, _)| ident_minimal(w))
                .collect::<Vec<_>>()
                .join(".")
        } else if parts.len() > 1 {
            parts
                .iter()
                .map(|(w, _)| w.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            let (w, quoted) = &parts[0];
            // Unquoted keywords that name types (e.g. `bit`) stay bare.
            if *quoted {
                ident_minimal(w)
            } else if w
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                w.clone()
            } else {
                quote_ident(w)
            }
        };
        if let Some(a) = &args {
            text.push_str(&format!("({})", join_nums(a)));
        }
        Ok(SqlType {
            base: BaseType::Other(text),
            array,
        })
    }

    /// The canonical PostgreSQL spelling, as `format_type` prints it.
    pub fn ddl(&self) -> String {
        let mut s = self.base.ddl();
        if self.array {
            s.push_str("[]");
        }
        s
    }

    /// The Rust type of a non-null value (docs/design.md's table), without `Option`.
    pub fn rust_type(&self) -> String {
        let base = self.base.rust_type();
        if self.array {
            format!("replgen_runtime::types::Array<{base}>")
        } else {
            base
        }
    }
}

impl BaseType {
    /// The library types a row field may have instead of [`rust_type`](BaseType::rust_type),
    /// each with the replgen-format feature that implements it (`""`: always there). They hold
    /// a subset of the values exactly and refuse the rest when decoding (README, "Library
    /// types").
    pub fn library_types(&self) -> &'static [(&'static str, &'static str)] {
        use BaseType::*;
        match self {
            Numeric { .. } => &[
                ("rust_decimal::Decimal", "rust_decimal"),
                ("MaybeInfinite<rust_decimal::Decimal>", "rust_decimal"),
            ],
            Date => &[
                ("chrono::NaiveDate", "chrono"),
                ("MaybeInfinite<chrono::NaiveDate>", "chrono"),
                ("time::Date", "time"),
                ("MaybeInfinite<time::Date>", "time"),
            ],
            Time => &[("chrono::NaiveTime", "chrono"), ("time::Time", "time")],
            Timestamp => &[
                ("chrono::NaiveDateTime", "chrono"),
                ("MaybeInfinite<chrono::NaiveDateTime>", "chrono"),
                ("time::PrimitiveDateTime", "time"),
                ("MaybeInfinite<time::PrimitiveDateTime>", "time"),
            ],
            TimestampTz => &[
                ("chrono::DateTime<chrono::Utc>", "chrono"),
                ("MaybeInfinite<chrono::DateTime<chrono::Utc>>", "chrono"),
                ("time::OffsetDateTime", "time"),
                ("MaybeInfinite<time::OffsetDateTime>", "time"),
            ],
            Json => &[("Box<serde_json::value::RawValue>", "serde_json")],
            Jsonb => &[
                ("serde_json::Value", "serde_json"),
                ("Box<serde_json::value::RawValue>", "serde_json"),
            ],
            Inet => &[("std::net::IpAddr", "")],
            _ => &[],
        }
    }

    pub fn ddl(&self) -> String {
        use BaseType::*;
        match self {
            Smallint => "smallint".into(),
            Integer => "integer".into(),
            Bigint => "bigint".into(),
            Boolean => "boolean".into(),
            Real => "real".into(),
            Double => "double precision".into(),
            Numeric {
                precision: None, ..
            } => "numeric".into(),
            Numeric {
                precision: Some(p),
                scale: None,
            } => format!("numeric({p},0)"),
            Numeric {
                precision: Some(p),
                scale: Some(s),
            } => format!("numeric({p},{s})"),
            Text => "text".into(),
            Varchar(None) => "character varying".into(),
            Varchar(Some(n)) => format!("character varying({n})"),
            Char(None) => "bpchar".into(),
            Char(Some(n)) => format!("character({n})"),
            Uuid => "uuid".into(),
            Date => "date".into(),
            Time => "time without time zone".into(),
            TimeTz => "time with time zone".into(),
            Timestamp => "timestamp without time zone".into(),
            TimestampTz => "timestamp with time zone".into(),
            Interval => "interval".into(),
            Bytea => "bytea".into(),
            Json => "json".into(),
            Jsonb => "jsonb".into(),
            Inet => "inet".into(),
            Cidr => "cidr".into(),
            Other(s) => s.clone(),
        }
    }

    pub fn rust_type(&self) -> String {
        use BaseType::*;
        let t = match self {
            Smallint => return "i16".into(),
            Integer => return "i32".into(),
            Bigint => return "i64".into(),
            Boolean => return "bool".into(),
            Real => return "f32".into(),
            Double => return "f64".into(),
            Text | Varchar(_) | Char(_) => return "String".into(),
            Numeric { .. } => "Numeric",
            Uuid => "Uuid",
            Date => "Date",
            Time => "Time",
            TimeTz => "TimeTz",
            Timestamp => "Timestamp",
            TimestampTz => "TimestampTz",
            Interval => "Interval",
            Bytea => "Bytea",
            Json => "Json",
            Jsonb => "Jsonb",
            Inet => "Inet",
            Cidr => "Cidr",
            Other(_) => "PgText",
        };
        format!("replgen_runtime::types::{t}")
    }
}
