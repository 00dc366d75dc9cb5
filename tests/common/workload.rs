//! A random write workload for any schema.yaml: inserts, updates, deletes, key changes and the
//! occasional TRUNCATE, with hostile values (tabs, newlines, backslashes, `\N` as text, quotes,
//! unicode, NaN, infinities, BC dates, every byte value, NULLs, empty arrays).

use replgen_schema::{quote_ident, BaseType, Schema, SqlType, Table};

/// A small deterministic generator (xorshift64*), so failures replay from their seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const HOSTILE: &[&str] = &[
    "",
    "plain",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "\\\\N",
    "quote ' and \" both",
    "unicode: ÿ 日本 🎵",
    "  leading and trailing  ",
    "comma, {brace} (paren)",
    "NULL",
    "\u{1}\u{7f}control",
];

/// How a user-defined type takes random values, read from the catalogs.
#[derive(Debug, Clone)]
pub enum OtherKind {
    Enum(Vec<String>),
    Domain(SqlType),
    Point,
    Text,
}

pub struct Workload {
    pub rng: Rng,
    schema: Schema,
    others: std::collections::HashMap<String, OtherKind>,
    /// Fresh key values come from here (unique across the whole run, offset per worker).
    next_key: i64,
}

impl Workload {
    /// `worker` keeps concurrent workloads' new keys apart.
    pub fn new(client: &mut postgres::Client, schema: &Schema, seed: u64, worker: i64) -> Workload {
        let mut others = std::collections::HashMap::new();
        for t in &schema.tables {
            for c in &t.columns {
                if let BaseType::Other(name) = &c.sql_type.base {
                    others
                        .entry(name.clone())
                        .or_insert_with(|| other_kind(client, name));
                }
            }
        }
        Workload {
            rng: Rng::new(seed),
            schema: schema.clone(),
            others,
            next_key: 1 + worker * 1_000_000,
        }
    }

    /// Runs `statements` random transactions of 1-4 statements each; errors (unique
    /// collisions of random values, for example) roll back that transaction and are counted.
    pub fn run(
        &mut self,
        client: &mut postgres::Client,
        transactions: usize,
        allow_truncate: bool,
    ) -> usize {
        let mut failed = 0;
        for _ in 0..transactions {
            let n = 1 + self.rng.below(4);
            let mut sql = String::from("BEGIN;\n");
            for _ in 0..n {
                sql.push_str(&self.statement(allow_truncate));
                sql.push_str(";\n");
            }
            sql.push_str("COMMIT;");
            if client.batch_execute(&sql).is_err() {
                let _ = client.batch_execute("ROLLBACK");
                failed += 1;
            }
        }
        failed
    }

    pub fn statement(&mut self, allow_truncate: bool) -> String {
        let table = self.rng.pick(&self.schema.tables).clone();
        let q = qualified(&table);
        let roll = self.rng.below(100);
        if roll < 45 {
            let rows = 1 + self.rng.below(8);
            let values: Vec<String> = (0..rows).map(|_| self.row_values(&table)).collect();
            let cols: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
            format!(
                "INSERT INTO {q} ({}) VALUES {}",
                cols.join(", "),
                values.join(", ")
            )
        } else if roll < 75 {
            let non_key: Vec<usize> = (0..table.columns.len())
                .filter(|i| !table.key.contains(i))
                .collect();
            if non_key.is_empty() {
                return format!("SELECT 1 FROM {q} LIMIT 0");
            }
            let col = *self.rng.pick(&non_key);
            let value = self.value(&table.columns[col].sql_type, table.columns[col].nullable);
            let limit = 1 + self.rng.below(5);
            format!(
                "UPDATE {q} SET {} = {value} WHERE ctid IN (SELECT ctid FROM {q} ORDER BY random() LIMIT {limit})",
                quote_ident(&table.columns[col].name)
            )
        } else if roll < 90 {
            let limit = 1 + self.rng.below(4);
            format!("DELETE FROM {q} WHERE ctid IN (SELECT ctid FROM {q} ORDER BY random() LIMIT {limit})")
        } else if roll < 99 || !allow_truncate {
            // A primary-key change: one key column gets a fresh value.
            let k = *self.rng.pick(&table.key);
            let value = self.key_value(&table.columns[k].sql_type);
            format!(
                "UPDATE {q} SET {} = {value} WHERE ctid IN (SELECT ctid FROM {q} ORDER BY random() LIMIT 1)",
                quote_ident(&table.columns[k].name)
            )
        } else {
            format!("TRUNCATE {q}")
        }
    }

    fn row_values(&mut self, table: &Table) -> String {
        let values: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if table.key.contains(&i) {
                    self.key_value(&c.sql_type)
                } else {
                    self.value(&c.sql_type, c.nullable)
                }
            })
            .collect();
        format!("({})", values.join(", "))
    }

    /// A value never used before for a key column of this type.
    fn key_value(&mut self, ty: &SqlType) -> String {
        self.next_key += 1;
        let n = self.next_key;
        let text = match &ty.base {
            BaseType::Smallint => (n % 32_000).to_string(),
            BaseType::Integer | BaseType::Bigint | BaseType::Numeric { .. } => n.to_string(),
            BaseType::Uuid => format!("00000000-0000-4000-8000-{n:012x}"),
            BaseType::Text | BaseType::Varchar(_) | BaseType::Char(_) => {
                // Hostile key text: a tab, a backslash and `\N` inside a key.
                let s = format!("k{n}\t\\N{}", if n % 2 == 0 { "é" } else { "" });
                match &ty.base {
                    BaseType::Varchar(Some(len)) | BaseType::Char(Some(len)) => {
                        s.chars().take(*len as usize).collect()
                    }
                    _ => s,
                }
            }
            BaseType::Date => format!("{}-01-01", 1000 + n % 8000),
            BaseType::Timestamp | BaseType::TimestampTz => {
                format!("2000-01-01 00:00:00.{:06}", n % 1_000_000)
            }
            BaseType::Bytea => format!("\\x{n:016x}"),
            _ => n.to_string(),
        };
        // An array key: the fresh value as its one element.
        let text = if ty.array {
            format!("{{{}}}", array_element(&text))
        } else {
            text
        };
        format!("{}::{}", literal(&text), ty.ddl())
    }

    /// A random value (or NULL) of a column's type.
    pub fn value(&mut self, ty: &SqlType, nullable: bool) -> String {
        if nullable && self.rng.chance(15) {
            return "NULL".into();
        }
        if ty.array {
            let element = SqlType {
                base: ty.base.clone(),
                array: false,
            };
            let text = if self.rng.chance(15) {
                "{}".to_string()
            } else if self.rng.chance(15) && is_numeric(&ty.base) {
                // Two dimensions.
                let mut rows = Vec::new();
                for _ in 0..2 {
                    let a = self.scalar_text(&element);
                    let b = self.scalar_text(&element);
                    rows.push(format!("{{{},{}}}", array_element(&a), array_element(&b)));
                }
                format!("{{{}}}", rows.join(","))
            } else {
                let n = 1 + self.rng.below(4);
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        if self.rng.chance(20) {
                            "NULL".to_string()
                        } else {
                            array_element(&self.scalar_text(&element))
                        }
                    })
                    .collect();
                format!("{{{}}}", items.join(","))
            };
            return format!("{}::{}", literal(&text), ty.ddl());
        }
        let text = self.scalar_text(ty);
        format!("{}::{}", literal(&text), ty.ddl())
    }

    fn scalar_text(&mut self, ty: &SqlType) -> String {
        let r = &mut self.rng;
        match &ty.base {
            BaseType::Smallint => r.pick(&["0", "-32768", "32767", "7"]).to_string(),
            BaseType::Integer => r
                .pick(&["0", "-2147483648", "2147483647", "42"])
                .to_string(),
            BaseType::Bigint => r
                .pick(&[
                    "0",
                    "-9223372036854775808",
                    "9223372036854775807",
                    "1234567890123",
                ])
                .to_string(),
            BaseType::Boolean => r.pick(&["true", "false"]).to_string(),
            BaseType::Real => r
                .pick(&[
                    "0",
                    "-0",
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "1.5e-45",
                    "3.4028235e+38",
                    "0.1",
                ])
                .to_string(),
            BaseType::Double => r
                .pick(&[
                    "0",
                    "-0",
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "5e-324",
                    "1.7976931348623157e+308",
                    "0.1",
                    "3.141592653589793",
                ])
                .to_string(),
            BaseType::Numeric { precision, scale } => match (precision, scale) {
                (Some(p), s) => {
                    let s = s.unwrap_or(0);
                    let int_digits = (p - s).min(12) as usize;
                    let int: String = (0..int_digits.max(1))
                        .map(|i| char::from(b'1' + ((i as u64 + r.below(9)) % 9) as u8))
                        .collect();
                    let int = if int_digits == 0 {
                        "0".to_string()
                    } else {
                        int
                    };
                    let frac: String = (0..s)
                        .map(|_| char::from(b'0' + r.below(10) as u8))
                        .collect();
                    let sign = if r.chance(30) { "-" } else { "" };
                    if s > 0 {
                        format!("{sign}{int}.{frac}")
                    } else {
                        format!("{sign}{int}")
                    }
                }
                _ => r
                    .pick(&[
                        "NaN",
                        "0",
                        "-12345678901234567890123456789.012345678901234567890",
                        "1e-20",
                    ])
                    .to_string(),
            },
            BaseType::Text => r.pick(HOSTILE).to_string(),
            BaseType::Varchar(len) | BaseType::Char(len) => {
                let s = r.pick(HOSTILE).to_string();
                let s = match len {
                    Some(n) => s.chars().take(*n as usize).collect(),
                    None => s,
                };
                // char(n) pads with spaces; keep it free of trailing spaces so it round-trips in text form.
                if matches!(ty.base, BaseType::Char(_)) {
                    s.trim_end().to_string()
                } else {
                    s
                }
            }
            BaseType::Uuid => format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                r.next() as u32,
                r.below(65536),
                r.below(4096),
                r.below(4096),
                r.next() & 0xffff_ffff_ffff
            ),
            BaseType::Date => r
                .pick(&[
                    "2026-11-28",
                    "0044-03-15 BC",
                    "infinity",
                    "-infinity",
                    "9999-12-31",
                    "1582-10-04",
                ])
                .to_string(),
            BaseType::Time => r
                .pick(&["00:00:00", "23:59:59.999999", "12:34:56.789", "24:00:00"])
                .to_string(),
            BaseType::TimeTz => r
                .pick(&["00:00:00+00", "23:59:59.999999-14", "12:34:56.789+05:30"])
                .to_string(),
            BaseType::Timestamp => r
                .pick(&[
                    "2026-11-28 15:00:00.123456",
                    "0044-03-15 12:00:00 BC",
                    "infinity",
                    "-infinity",
                    "1999-12-31 23:59:59",
                ])
                .to_string(),
            BaseType::TimestampTz => r
                .pick(&[
                    "2026-11-28 15:00:00.123456+00",
                    "0044-03-15 12:00:00+00 BC",
                    "infinity",
                    "-infinity",
                    "2001-02-03 04:05:06+09:30",
                ])
                .to_string(),
            BaseType::Interval => r
                .pick(&[
                    "00:00:00",
                    "1 year 2 mons -3 days 04:05:06.789",
                    "-178000000 years",
                    "1 day -00:00:01",
                ])
                .to_string(),
            BaseType::Bytea => {
                if r.chance(30) {
                    let all: String = (0..=255u8).map(|b| format!("{b:02x}")).collect();
                    format!("\\x{all}")
                } else {
                    let n = r.below(12);
                    let bytes: String = (0..n).map(|_| format!("{:02x}", r.below(256))).collect();
                    format!("\\x{bytes}")
                }
            }
            BaseType::Json => r
                .pick(&[
                    "{}",
                    "{\"a\": 1,  \"a\": 2}",
                    "[1, \"tab\\tx\", null, 1e400]",
                    "\"\\u0000 is not text\"",
                    "{\"k\":\"back\\\\slash\"}",
                ])
                .to_string(),
            BaseType::Jsonb => r
                .pick(&[
                    "{}",
                    "{\"a\": [1, 2.50, null]}",
                    "\"unicode ÿ\"",
                    "{\"nested\": {\"x\": \"tab\\t\"}}",
                ])
                .to_string(),
            BaseType::Inet => r
                .pick(&[
                    "10.0.0.1",
                    "192.168.1.5/24",
                    "::1",
                    "2001:db8::ff00:42:8329/64",
                ])
                .to_string(),
            BaseType::Cidr => r
                .pick(&["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32"])
                .to_string(),
            BaseType::Other(name) => {
                match self.others.get(name).cloned().unwrap_or(OtherKind::Text) {
                    OtherKind::Enum(labels) => self.rng.pick(&labels).clone(),
                    OtherKind::Domain(base) => self.scalar_text(&base),
                    OtherKind::Point => format!(
                        "({},{})",
                        self.rng.below(1000) as f64 / 8.0,
                        -(self.rng.below(1000) as f64) / 4.0
                    ),
                    OtherKind::Text => self.rng.pick(HOSTILE).to_string(),
                }
            }
        }
    }
}

fn is_numeric(base: &BaseType) -> bool {
    matches!(
        base,
        BaseType::Smallint | BaseType::Integer | BaseType::Bigint | BaseType::Numeric { .. }
    )
}

pub fn qualified(t: &Table) -> String {
    format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name))
}

/// A standard SQL string literal (standard_conforming_strings is on by default).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// An array element in array-literal syntax: always quoted, `"` and `\` escaped.
fn array_element(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn other_kind(client: &mut postgres::Client, name: &str) -> OtherKind {
    let row = client
        .query_opt(
            "SELECT t.typtype::text, format_type(t.typbasetype, t.typtypmod), \
                    (SELECT array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid), \
                    t.typname::text \
             FROM pg_type t WHERE t.oid = to_regtype($1)",
            &[&name],
        )
        .unwrap();
    let Some(row) = row else {
        return OtherKind::Text;
    };
    let kind: String = row.get(0);
    match kind.as_str() {
        "e" => OtherKind::Enum(row.get::<_, Option<Vec<String>>>(2).unwrap_or_default()),
        "d" => OtherKind::Domain(SqlType::parse(&row.get::<_, String>(1)).unwrap()),
        _ if row.get::<_, String>(3) == "point" => OtherKind::Point,
        _ => OtherKind::Text,
    }
}
