//! From the YAML tree to a validated [`Schema`], collecting every problem with its position.

use std::collections::BTreeMap;

use crate::names::{check_identifier, parse_table_name};
use crate::types::parse_type_name;
use crate::yaml::{self, Kind, Node, Pos};
use crate::{
    BaseType, Column, EnumType, Layout, MigrationStyle, Migrations, PublishedMigration, Schema,
    SchemaError, SchemaErrors, SqlType, Table,
};

struct Ctx<'a> {
    file: &'a str,
    errors: Vec<SchemaError>,
}

impl Ctx<'_> {
    fn err(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors.push(SchemaError {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        });
    }

    /// The mapping's entries by key, reporting unknown and repeated keys and non-string keys.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<BTreeMap<&'n str, &'n Node>> {
        let pairs = match &node.kind {
            Kind::Map(pairs) => pairs,
            Kind::Unsupported(m) => {
                self.err(node.pos, *m);
                return None;
            }
            _ => {
                self.err(
                    node.pos,
                    format!("{what} must be a mapping, found {}", node.describe()),
                );
                return None;
            }
        };
        let mut out = BTreeMap::new();
        for (k, v) in pairs {
            let Some(key) = k.as_str().filter(|_| matches!(k.kind, Kind::Scalar { .. })) else {
                self.err(k.pos, format!("{what}: keys must be plain names"));
                continue;
            };
            if !allowed.contains(&key) {
                self.err(
                    k.pos,
                    format!(
                        "{what}: unknown key \"{key}\" (expected one of: {})",
                        allowed.join(", ")
                    ),
                );
                continue;
            }
            if out.insert(key, v).is_some() {
                self.err(k.pos, format!("{what}: key \"{key}\" is given twice"));
            }
        }
        Some(out)
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            Kind::Unsupported(m) => {
                self.err(node.pos, *m);
                None
            }
            Kind::Scalar { .. } if !node.is_null() => node.as_str().map(str::to_string),
            _ => {
                self.err(
                    node.pos,
                    format!("{what} must be a string, found {}", node.describe()),
                );
                None
            }
        }
    }
}

fn root(cx: &mut Ctx, src: &str) -> Option<Node> {
    match yaml::parse(src) {
        Ok(Some(root)) => Some(root),
        Ok(None) => {
            cx.err(
                Pos { line: 1, column: 1 },
                "the schema file is empty; it needs schema_version and tables",
            );
            None
        }
        Err(e) => {
            cx.err(e.pos, e.message);
            None
        }
    }
}

fn finish<T>(mut cx: Ctx, value: Option<T>) -> Result<T, SchemaErrors> {
    match value {
        Some(v) if cx.errors.is_empty() => Ok(v),
        _ => {
            cx.errors.sort_by_key(|e| (e.line, e.column));
            Err(SchemaErrors(cx.errors))
        }
    }
}

const SCHEMA_KEYS: &[&str] = &[
    "schema_version",
    "migrations",
    "retired_ids",
    "types",
    "tables",
];
const LAYOUT_KEYS: &[&str] = &[
    "schema_version",
    "fingerprint",
    "migration",
    "revisions",
    "previous_layout_sha256",
    "retired_ids",
    "types",
    "tables",
];

pub(crate) fn parse(src: &str, file: &str) -> Result<Schema, SchemaErrors> {
    let mut cx = Ctx {
        file,
        errors: Vec::new(),
    };
    let schema = root(&mut cx, src).and_then(|root| {
        let f = cx.fields(&root, "the schema file", SCHEMA_KEYS)?;
        let migrations = match f.get("migrations") {
            None => Some(Migrations::default()),
            Some(n) => migrations(&mut cx, n),
        };
        let schema = top(&mut cx, &root, &f)?;
        Some(Schema {
            migrations: migrations?,
            ..schema
        })
    });
    finish(cx, schema)
}

pub(crate) fn parse_layout(src: &str, file: &str) -> Result<Layout, SchemaErrors> {
    let mut cx = Ctx {
        file,
        errors: Vec::new(),
    };
    let layout = root(&mut cx, src).and_then(|root| {
        let f = cx.fields(&root, "the layout file", LAYOUT_KEYS)?;
        let sha = |cx: &mut Ctx, n: &Node, what: &str| {
            let s = cx.string(n, what)?;
            if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(s)
            } else {
                cx.err(n.pos, format!("{what} must be a sha256 in hex"));
                None
            }
        };
        let fingerprint = match f.get("fingerprint") {
            None => {
                cx.err(root.pos, "fingerprint is missing");
                None
            }
            Some(n) => sha(&mut cx, n, "fingerprint"),
        };
        let previous = match f.get("previous_layout_sha256") {
            None => Some(None),
            Some(n) => sha(&mut cx, n, "previous_layout_sha256").map(Some),
        };
        let migration = match f.get("migration") {
            None => {
                cx.err(root.pos, "migration is missing");
                None
            }
            Some(n) => published_migration(&mut cx, n, "migration"),
        };
        let revisions = match f.get("revisions") {
            None => Some(Vec::new()),
            Some(n) => match &n.kind {
                Kind::Seq(items) => items
                    .iter()
                    .map(|item| published_migration(&mut cx, item, "revisions"))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .collect::<Option<Vec<_>>>(),
                _ => {
                    cx.err(
                        n.pos,
                        format!("revisions must be a list, found {}", n.describe()),
                    );
                    None
                }
            },
        };
        let schema = top(&mut cx, &root, &f)?;
        let mut migrations = vec![migration?];
        migrations.extend(revisions?);
        Some(Layout {
            schema,
            fingerprint: fingerprint?,
            migrations,
            previous_sha256: previous?,
        })
    });
    finish(cx, layout)
}

/// A layout file's `{ file: NAME, sha256: HEX }` of one install migration.
fn published_migration(cx: &mut Ctx, node: &Node, what: &str) -> Option<PublishedMigration> {
    let m = cx.fields(node, what, &["file", "sha256"])?;
    let file = match m.get("file") {
        Some(v) => cx.string(v, &format!("{what} file")),
        None => {
            cx.err(node.pos, format!("{what}: file is missing"));
            None
        }
    };
    let sha256 = match m.get("sha256") {
        Some(v) => match cx.string(v, &format!("{what} sha256")) {
            Some(s) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => Some(s),
            Some(_) => {
                cx.err(v.pos, format!("{what} sha256 must be a sha256 in hex"));
                None
            }
            None => None,
        },
        None => {
            cx.err(node.pos, format!("{what}: sha256 is missing"));
            None
        }
    };
    Some(PublishedMigration {
        file: file?,
        sha256: sha256?,
    })
}

/// `migrations: { style: refinery|sqlx, number: N }`.
fn migrations(cx: &mut Ctx, node: &Node) -> Option<Migrations> {
    let f = cx.fields(node, "migrations", &["style", "number"])?;
    let before = cx.errors.len();
    let style = match f.get("style") {
        None => MigrationStyle::default(),
        Some(v) => match cx
            .string(v, "migrations: style")
            .map(|s| (MigrationStyle::parse(&s), s))
        {
            Some((Some(st), _)) => st,
            Some((None, s)) => {
                cx.err(
                    v.pos,
                    format!("migrations: style {s:?} is unknown (expected refinery or sqlx)"),
                );
                MigrationStyle::default()
            }
            None => MigrationStyle::default(),
        },
    };
    let number = match f.get("number") {
        None => None,
        Some(v) => match v.as_int() {
            Some(n) if n >= 1 && n <= style.max_number() as i128 => Some(n as u64),
            Some(n) => {
                cx.err(
                    v.pos,
                    format!(
                        "migrations: number {n} is out of range; {} migration numbers go from 1 to {}",
                        style.as_str(),
                        style.max_number()
                    ),
                );
                None
            }
            None => {
                cx.err(
                    v.pos,
                    format!(
                        "migrations: number must be an integer, found {}",
                        v.describe()
                    ),
                );
                None
            }
        },
    };
    (cx.errors.len() == before).then_some(Migrations { style, number })
}

/// `retired_ids: [3, 7]`: ids of dropped tables.
fn retired_ids(cx: &mut Ctx, node: &Node) -> Vec<(u32, Pos)> {
    let items = match &node.kind {
        Kind::Seq(items) => items,
        Kind::Scalar { .. } if node.is_null() => return Vec::new(),
        _ => {
            cx.err(
                node.pos,
                format!(
                    "retired_ids must be a list of table ids, found {}",
                    node.describe()
                ),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<(u32, Pos)> = Vec::new();
    for item in items {
        match item.as_int() {
            Some(n) if (1..=i32::MAX as i128).contains(&n) => {
                if out.iter().any(|(i, _)| *i == n as u32) {
                    cx.err(item.pos, format!("retired_ids: {n} is listed twice"));
                } else {
                    out.push((n as u32, item.pos));
                }
            }
            _ => cx.err(
                item.pos,
                format!(
                    "retired_ids: expected a table id from 1 to 2147483647, found {}",
                    item.describe()
                ),
            ),
        }
    }
    out
}

fn top(cx: &mut Ctx, root: &Node, f: &BTreeMap<&str, &Node>) -> Option<Schema> {
    let version = match f.get("schema_version") {
        None => {
            cx.err(
                root.pos,
                "schema_version is missing (add `schema_version: 1`)",
            );
            None
        }
        Some(v) => match v.as_int() {
            Some(n) if (1..=i32::MAX as i128).contains(&n) => Some(n as u32),
            Some(n) => {
                cx.err(
                    v.pos,
                    format!(
                        "schema_version must be at least 1 and fit a 32-bit integer, found {n}"
                    ),
                );
                None
            }
            None => {
                cx.err(
                    v.pos,
                    format!("schema_version must be an integer, found {}", v.describe()),
                );
                None
            }
        },
    };
    let mut entries: Vec<Entry> = Vec::new();
    match f.get("tables") {
        None => cx.err(root.pos, "tables is missing; list at least one table"),
        Some(node) => match &node.kind {
            Kind::Seq(items) if items.is_empty() => {
                cx.err(node.pos, "tables is empty; list at least one table")
            }
            Kind::Seq(items) => {
                for item in items {
                    entries.extend(table(cx, item));
                }
            }
            Kind::Scalar { .. } if node.is_null() => {
                cx.err(node.pos, "tables is empty; list at least one table")
            }
            Kind::Unsupported(m) => cx.err(node.pos, *m),
            _ => cx.err(
                node.pos,
                format!("tables must be a list, found {}", node.describe()),
            ),
        },
    }
    // Cross-table checks: ids and resolved names are unique (checked on invalid entries too).
    let mut ids: BTreeMap<u32, String> = BTreeMap::new();
    let mut names: BTreeMap<(String, String), String> = BTreeMap::new();
    for e in &entries {
        let written = e.name.as_ref().map(|n| n.2.clone());
        if let Some((id, pos)) = e.id {
            if let Some(first) = ids.get(&id) {
                cx.err(pos, format!("table id {id} is already used by {first}"));
            } else {
                ids.insert(
                    id,
                    written
                        .as_ref()
                        .map(|w| format!("table \"{w}\""))
                        .unwrap_or("another table".into()),
                );
            }
        }
        if let Some((schema, name, written, pos)) = &e.name {
            let key = (schema.clone(), name.clone());
            if let Some(first) = names.get(&key) {
                cx.err(*pos, format!("table \"{written}\" is listed twice (also as \"{first}\"); table names must be unique"));
            } else {
                names.insert(key, written.clone());
            }
        }
    }
    let retired = match f.get("retired_ids") {
        None => Vec::new(),
        Some(n) => retired_ids(cx, n),
    };
    for (id, pos) in &retired {
        if let Some(t) = ids.get(id) {
            cx.err(
                *pos,
                format!("retired_ids: {id} is used by {t}; a retired id is never used again"),
            );
        }
    }
    let types = match f.get("types") {
        None => Vec::new(),
        Some(n) => enum_types(cx, n),
    };
    let version = version?;
    let mut tables: Vec<Table> = entries.into_iter().filter_map(|e| e.table).collect();
    tables.sort_by_key(|t| t.id);
    let mut retired_ids: Vec<u32> = retired.into_iter().map(|(i, _)| i).collect();
    retired_ids.sort_unstable();
    Some(Schema {
        schema_version: version,
        tables,
        migrations: Migrations::default(),
        retired_ids,
        types,
    })
}

/// `types: { mood: { enum: [sad, ok, happy] }, mb.fluency: { enum: [basic, native] } }`: enum
/// types the spec defines, named as DDL writes a type. Sorted by (schema, name).
fn enum_types(cx: &mut Ctx, node: &Node) -> Vec<EnumType> {
    if node.is_null() {
        return Vec::new();
    }
    let Kind::Map(pairs) = &node.kind else {
        cx.err(
            node.pos,
            format!(
                "types must be a mapping of type names, found {}",
                node.describe()
            ),
        );
        return Vec::new();
    };
    let mut out: Vec<EnumType> = Vec::new();
    for (k, v) in pairs {
        let Some(written) = cx.string(k, "a type name") else {
            continue;
        };
        let what = format!("type {written}");
        let Some((schema, name)) = parse_type_name(&written) else {
            cx.err(
                k.pos,
                format!("{what}: expected a type name (`name` or `schema.name`)"),
            );
            continue;
        };
        if !matches!(
            SqlType::parse(&written),
            Ok(SqlType {
                base: BaseType::Other(_),
                ..
            })
        ) {
            cx.err(
                k.pos,
                format!("{what}: a built-in type cannot be redefined"),
            );
            continue;
        }
        if let Some(first) = out.iter().find(|e| e.schema == schema && e.name == name) {
            cx.err(
                k.pos,
                format!("{what} is defined twice (also as {})", first.written()),
            );
            continue;
        }
        let Some(f) = cx.fields(v, &what, &["enum"]) else {
            continue;
        };
        let Some(list) = f.get("enum") else {
            cx.err(
                v.pos,
                format!("{what}: enum is missing (`{{ enum: [a, b] }}`)"),
            );
            continue;
        };
        let items = match &list.kind {
            Kind::Seq(items) if !items.is_empty() => items,
            _ => {
                cx.err(
                    list.pos,
                    format!(
                        "{what}: enum must be a non-empty list of labels, found {}",
                        if matches!(list.kind, Kind::Seq(_)) {
                            "an empty list".into()
                        } else {
                            list.describe()
                        }
                    ),
                );
                continue;
            }
        };
        let mut labels: Vec<String> = Vec::new();
        for item in items {
            let Some(label) = cx.string(item, &format!("{what}: a label")) else {
                continue;
            };
            if label.len() > 63 {
                cx.err(
                    item.pos,
                    format!("{what}: label {label:?} is longer than 63 bytes"),
                );
            } else if labels.contains(&label) {
                cx.err(item.pos, format!("{what}: label {label:?} is listed twice"));
            } else {
                labels.push(label);
            }
        }
        out.push(EnumType {
            schema,
            name,
            labels,
        });
    }
    out.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    out
}

/// What cross-table checks need of a table entry, valid or not.
struct Entry {
    table: Option<Table>,
    id: Option<(u32, Pos)>,
    /// (schema, name, written, position of the name)
    name: Option<(String, String, String, Pos)>,
}

/// A table entry: the validated table when it is valid, and its id and name when they are.
fn table(cx: &mut Ctx, node: &Node) -> Option<Entry> {
    let peek = match &node.kind {
        Kind::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_str() == Some("name"))
            .and_then(|(_, v)| v.as_str()),
        _ => None,
    };
    let what = match peek {
        Some(n) => format!("table \"{n}\""),
        None => "table".to_string(),
    };
    let f = cx.fields(node, &what, &["id", "name", "key", "columns"])?;
    let before = cx.errors.len();
    let name_node = f.get("name").copied();
    let written = match name_node {
        None => {
            cx.err(node.pos, "table: name is missing");
            None
        }
        Some(n) => cx.string(n, "table name"),
    };
    let label = match &written {
        Some(w) => format!("table \"{w}\""),
        None => "table".to_string(),
    };
    let mut resolved = None;
    if let (Some(w), Some(n)) = (&written, name_node) {
        match parse_table_name(w) {
            Ok((schema, name)) => {
                let mut ok = true;
                if let Err(e) = check_identifier(&schema) {
                    cx.err(n.pos, format!("{label}: schema name {e}"));
                    ok = false;
                }
                if let Err(e) = check_identifier(&name) {
                    cx.err(n.pos, format!("{label}: table name {e}"));
                    ok = false;
                }
                if ok {
                    resolved = Some((schema, name));
                }
            }
            Err(e) => cx.err(n.pos, format!("{label}: {e}")),
        }
    }
    let id = match f.get("id") {
        None => {
            cx.err(
                node.pos,
                format!("{label}: id is missing (every table needs a stable numeric id)"),
            );
            None
        }
        Some(v) => match v.as_int() {
            Some(n) if (1..=i32::MAX as i128).contains(&n) => Some((n as u32, v.pos)),
            Some(n) => {
                cx.err(
                    v.pos,
                    format!("{label}: id {n} is out of range; ids go from 1 to 2147483647"),
                );
                None
            }
            None => {
                cx.err(
                    v.pos,
                    format!("{label}: id must be an integer, found {}", v.describe()),
                );
                None
            }
        },
    };
    // Columns.
    let mut columns: Vec<Column> = Vec::new();
    let mut col_pos: Vec<Pos> = Vec::new();
    match f.get("columns") {
        None => cx.err(node.pos, format!("{label}: columns is missing")),
        Some(cn) => match &cn.kind {
            Kind::Seq(items) if items.is_empty() => {
                cx.err(cn.pos, format!("{label}: columns is empty"))
            }
            Kind::Seq(items) => {
                for item in items {
                    if let Some(c) = column(cx, item, &label) {
                        if let Some(i) = columns.iter().position(|o| o.name == c.name) {
                            cx.err(
                                item.pos,
                                format!(
                                    "{label}: column \"{}\" is listed twice (first at line {})",
                                    c.name, col_pos[i].line
                                ),
                            );
                            continue;
                        }
                        columns.push(c);
                        col_pos.push(item.pos);
                    }
                }
            }
            Kind::Scalar { .. } if cn.is_null() => {
                cx.err(cn.pos, format!("{label}: columns is empty"))
            }
            Kind::Unsupported(m) => cx.err(cn.pos, *m),
            _ => cx.err(
                cn.pos,
                format!("{label}: columns must be a list, found {}", cn.describe()),
            ),
        },
    }
    // A rename's old name cannot stay a column of the table, nor be the old name of two.
    for (i, c) in columns.iter().enumerate() {
        let Some(from) = &c.renamed_from else {
            continue;
        };
        if columns.iter().any(|o| &o.name == from) {
            cx.err(
                col_pos[i],
                format!(
                    "{label}: column \"{}\" is renamed_from \"{from}\", which is still a column of the table \
                     (a renamed_from that an earlier version published can go)",
                    c.name
                ),
            );
        } else if let Some(j) = columns[..i]
            .iter()
            .position(|o| o.renamed_from.as_ref() == Some(from))
        {
            cx.err(
                col_pos[i],
                format!(
                    "{label}: columns \"{}\" and \"{}\" are both renamed_from \"{from}\"",
                    columns[j].name, c.name
                ),
            );
        }
    }
    // Key.
    let mut key: Vec<usize> = Vec::new();
    let columns_ok = cx.errors.len() == before;
    match f.get("key") {
        None => match columns.iter().position(|c| c.name == "id") {
            Some(i) => {
                key.push(i);
                if columns[i].nullable {
                    cx.err(col_pos[i], format!("{label}: key column \"id\" is nullable; key columns must be NOT NULL"));
                }
            }
            None if columns_ok => cx.err(
                node.pos,
                format!("{label} has no key: it has no column \"id\"; add `key: [...]` naming its primary key columns"),
            ),
            None => {}
        },
        Some(kn) => match &kn.kind {
            Kind::Seq(items) if items.is_empty() => {
                cx.err(kn.pos, format!("{label} has no key; replgen needs a primary key to identify rows"))
            }
            Kind::Scalar { .. } if kn.is_null() => {
                cx.err(kn.pos, format!("{label} has no key; replgen needs a primary key to identify rows"))
            }
            Kind::Seq(items) => {
                for item in items {
                    let Some(kname) = cx.string(item, &format!("{label}: key column")) else { continue };
                    match columns.iter().position(|c| c.name == kname) {
                        None => {
                            if columns_ok {
                                cx.err(item.pos, format!("{label}: key column \"{kname}\" is not among its columns"))
                            }
                        }
                        Some(i) if key.contains(&i) => {
                            cx.err(item.pos, format!("{label}: key column \"{kname}\" is listed twice"))
                        }
                        Some(i) => {
                            if columns[i].nullable {
                                cx.err(
                                    item.pos,
                                    format!("{label}: key column \"{kname}\" is nullable; key columns must be NOT NULL"),
                                );
                            }
                            key.push(i);
                        }
                    }
                }
            }
            Kind::Unsupported(m) => cx.err(kn.pos, *m),
            _ => cx.err(kn.pos, format!("{label}: key must be a list of column names, e.g. [id]")),
        },
    }
    let name = match (&resolved, &written, name_node) {
        (Some((s, n)), Some(w), Some(node)) => Some((s.clone(), n.clone(), w.clone(), node.pos)),
        _ => None,
    };
    let table = match (cx.errors.len() == before, resolved, id, written) {
        (true, Some((schema, name)), Some((id, _)), Some(written_name)) => Some(Table {
            id,
            schema,
            name,
            written_name,
            columns,
            key,
        }),
        _ => None,
    };
    Some(Entry { table, id, name })
}

fn column(cx: &mut Ctx, node: &Node, table: &str) -> Option<Column> {
    let f = cx.fields(
        node,
        &format!("{table}: column"),
        &["name", "type", "nullable", "renamed_from"],
    )?;
    let before = cx.errors.len();
    let name = match f.get("name") {
        None => {
            cx.err(node.pos, format!("{table}: column name is missing"));
            None
        }
        Some(n) => cx
            .string(n, &format!("{table}: column name"))
            .and_then(|s| match check_identifier(&s) {
                Ok(()) => Some(s),
                Err(e) => {
                    cx.err(n.pos, format!("{table}: column name {s:?} {e}"));
                    None
                }
            }),
    };
    let label = match &name {
        Some(n) => format!("{table}: column \"{n}\""),
        None => format!("{table}: column"),
    };
    let sql_type = match f.get("type") {
        None => {
            cx.err(node.pos, format!("{label}: type is missing"));
            None
        }
        Some(t) => cx
            .string(t, &format!("{label}: type"))
            .and_then(|s| match SqlType::parse(&s) {
                Ok(t) => Some(t),
                Err(e) => {
                    cx.err(t.pos, format!("{label}: {e}"));
                    None
                }
            }),
    };
    let nullable = match f.get("nullable") {
        None => false,
        Some(v) => match v.as_bool() {
            Some(b) => b,
            None => {
                cx.err(v.pos, format!("{label}: nullable must be true or false"));
                false
            }
        },
    };
    let renamed_from = match f.get("renamed_from") {
        None => None,
        Some(r) => cx
            .string(r, &format!("{label}: renamed_from"))
            .and_then(|s| match check_identifier(&s) {
                Ok(()) if Some(&s) == name.as_ref() => {
                    cx.err(
                        r.pos,
                        format!("{label}: renamed_from names the column itself"),
                    );
                    None
                }
                Ok(()) => Some(s),
                Err(e) => {
                    cx.err(r.pos, format!("{label}: renamed_from {s:?} {e}"));
                    None
                }
            }),
    };
    if cx.errors.len() != before {
        return None;
    }
    Some(Column {
        name: name?,
        sql_type: sql_type?,
        nullable,
        renamed_from,
    })
}
