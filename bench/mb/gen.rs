//! Writes bench/mb/schema.yaml and bench/mb/tables.sql: a MusicBrainz-like schema of 293
//! tables (the benchmarks' `mb` section), the same bytes on every run.
//!
//! `cargo run -q -p replgen-bench --bin bench-mb-gen`, then
//! `cargo run -q -p replgen -- generate --schema bench/mb/schema.yaml --sql-out bench/mb/migrations --rust-out bench/mb/replicated.rs`.
//!
//! The shapes are MusicBrainz's: thirteen entities, each with its alias, annotation, attribute,
//! gid redirect, meta, tag, rating and type tables; a link table for every pair of the twelve
//! linkable entities (`l_artist_recording`: an integer key, two entity columns); and the
//! tables around releases, tracks, credits and links. Most have an integer `id` key; link
//! tables of tags, ratings and credits have composite keys of two or three integers, redirects a
//! uuid key, the ISO code tables a text key.

use std::fmt::Write;
use std::path::Path;

/// How many tables the schema has (the figure for MusicBrainz's replicated ones).
const TABLES: usize = 293;

struct Table {
    name: String,
    key: Vec<&'static str>,
    columns: Vec<Column>,
}

struct Column {
    name: String,
    ty: &'static str,
    nullable: bool,
}

fn c(name: &str, ty: &'static str) -> Column {
    Column {
        name: name.to_string(),
        ty,
        nullable: false,
    }
}

fn n(name: &str, ty: &'static str) -> Column {
    Column {
        nullable: true,
        ..c(name, ty)
    }
}

fn table(name: impl Into<String>, key: &[&'static str], columns: Vec<Column>) -> Table {
    Table {
        name: name.into(),
        key: key.to_vec(),
        columns,
    }
}

/// An integer key column named after a table (`artist`), as MusicBrainz names them.
fn entity_key(name: &str) -> &'static str {
    Box::leak(name.to_string().into_boxed_str())
}

const ENTITIES: &[&str] = &[
    "area",
    "artist",
    "event",
    "instrument",
    "label",
    "place",
    "recording",
    "release",
    "release_group",
    "series",
    "url",
    "work",
    "genre",
];

/// The entity's own table: `artist` and `release` are the wide ones.
fn entity(e: &str) -> Table {
    let mut cols = vec![
        c("id", "integer"),
        c("gid", "uuid"),
        c("name", "varchar"),
        c("comment", "varchar(255)"),
        c("edits_pending", "integer"),
        n("last_updated", "timestamptz"),
    ];
    match e {
        "artist" | "label" | "area" | "place" | "event" => {
            cols.extend([
                n("type", "integer"),
                n("begin_date_year", "smallint"),
                n("begin_date_month", "smallint"),
                n("begin_date_day", "smallint"),
                n("end_date_year", "smallint"),
                n("end_date_month", "smallint"),
                n("end_date_day", "smallint"),
                c("ended", "boolean"),
            ]);
            if e == "artist" {
                cols.extend([
                    c("sort_name", "varchar"),
                    n("gender", "integer"),
                    n("area", "integer"),
                    n("begin_area", "integer"),
                    n("end_area", "integer"),
                ]);
            }
        }
        "release" => cols.extend([
            c("artist_credit", "integer"),
            c("release_group", "integer"),
            n("status", "integer"),
            n("packaging", "integer"),
            n("language", "integer"),
            n("script", "integer"),
            n("barcode", "varchar(255)"),
            c("quality", "smallint"),
        ]),
        "recording" => cols.extend([
            c("artist_credit", "integer"),
            n("length", "integer"),
            c("video", "boolean"),
        ]),
        "release_group" => cols.extend([c("artist_credit", "integer"), n("type", "integer")]),
        "url" => {
            cols.retain(|c| c.name != "comment");
            cols[2] = c("url", "text");
        }
        _ => cols.push(n("type", "integer")),
    }
    table(e, &["id"], cols)
}

/// The thirteen tables every entity has around it.
fn around(e: &str) -> Vec<Table> {
    let k = entity_key(e);
    let ty = |t: &str| format!("{e}_{t}");
    vec![
        table(
            ty("alias"),
            &["id"],
            vec![
                c("id", "integer"),
                c(e, "integer"),
                c("name", "varchar"),
                n("locale", "text"),
                c("edits_pending", "integer"),
                n("last_updated", "timestamptz"),
                n("type", "integer"),
                c("sort_name", "varchar"),
                n("begin_date_year", "smallint"),
                n("end_date_year", "smallint"),
                c("primary_for_locale", "boolean"),
                c("ended", "boolean"),
            ],
        ),
        type_table(ty("alias_type")),
        table(
            ty("annotation"),
            &[k, "annotation"],
            vec![c(e, "integer"), c("annotation", "integer")],
        ),
        table(
            ty("attribute"),
            &["id"],
            vec![
                c("id", "integer"),
                c(e, "integer"),
                c(&ty("attribute_type"), "integer"),
                n(&ty("attribute_type_allowed_value"), "integer"),
                n(&ty("attribute_text"), "text"),
            ],
        ),
        table(
            ty("attribute_type"),
            &["id"],
            vec![
                c("id", "integer"),
                c("name", "varchar(255)"),
                c("comment", "varchar(255)"),
                c("free_text", "boolean"),
                n("parent", "integer"),
                c("child_order", "integer"),
                n("description", "text"),
                c("gid", "uuid"),
            ],
        ),
        table(
            ty("attribute_type_allowed_value"),
            &["id"],
            vec![
                c("id", "integer"),
                c(&ty("attribute_type"), "integer"),
                c("value", "text"),
                n("parent", "integer"),
                c("child_order", "integer"),
                n("description", "text"),
                c("gid", "uuid"),
            ],
        ),
        gid_redirect(ty("gid_redirect")),
        table(
            ty("meta"),
            &["id"],
            vec![
                c("id", "integer"),
                n("rating", "smallint"),
                n("rating_count", "integer"),
            ],
        ),
        table(
            ty("tag"),
            &[k, "tag"],
            vec![
                c(e, "integer"),
                c("tag", "integer"),
                c("count", "integer"),
                n("last_updated", "timestamptz"),
            ],
        ),
        table(
            ty("tag_raw"),
            &[k, "editor", "tag"],
            vec![
                c(e, "integer"),
                c("editor", "integer"),
                c("tag", "integer"),
                c("is_upvote", "boolean"),
            ],
        ),
        table(
            ty("rating_raw"),
            &[k, "editor"],
            vec![
                c(e, "integer"),
                c("editor", "integer"),
                c("rating", "smallint"),
            ],
        ),
        type_table(ty("type")),
        table(
            format!("edit_{e}"),
            &["edit", k],
            vec![c("edit", "integer"), c(e, "integer")],
        ),
    ]
}

/// Where an entity's merged-away MBIDs point: a uuid key.
fn gid_redirect(name: String) -> Table {
    table(
        name,
        &["gid"],
        vec![
            c("gid", "uuid"),
            c("new_id", "integer"),
            n("created", "timestamptz"),
        ],
    )
}

fn type_table(name: String) -> Table {
    table(
        name,
        &["id"],
        vec![
            c("id", "integer"),
            c("name", "varchar(255)"),
            n("parent", "integer"),
            c("child_order", "integer"),
            n("description", "text"),
            c("gid", "uuid"),
        ],
    )
}

/// `l_<a>_<b>`: one relationship between two entities.
fn link(a: &str, b: &str) -> Table {
    table(
        format!("l_{a}_{b}"),
        &["id"],
        vec![
            c("id", "integer"),
            c("link", "integer"),
            c("entity0", "integer"),
            c("entity1", "integer"),
            c("edits_pending", "integer"),
            n("last_updated", "timestamptz"),
            c("link_order", "integer"),
            c("entity0_credit", "text"),
            c("entity1_credit", "text"),
        ],
    )
}

/// The tables around releases, media, tracks, credits, links and tags.
fn others() -> Vec<Table> {
    let id = || c("id", "integer");
    vec![
        table(
            "artist_credit",
            &["id"],
            vec![
                id(),
                c("name", "varchar"),
                c("artist_count", "smallint"),
                c("ref_count", "integer"),
                n("created", "timestamptz"),
                c("edits_pending", "integer"),
                c("gid", "uuid"),
            ],
        ),
        table(
            "artist_credit_name",
            &["artist_credit", "position"],
            vec![
                c("artist_credit", "integer"),
                c("position", "smallint"),
                c("artist", "integer"),
                c("name", "varchar"),
                c("join_phrase", "text"),
            ],
        ),
        gid_redirect("artist_credit_gid_redirect".into()),
        table(
            "medium",
            &["id"],
            vec![
                id(),
                c("release", "integer"),
                c("position", "integer"),
                n("format", "integer"),
                c("name", "varchar"),
                c("edits_pending", "integer"),
                n("last_updated", "timestamptz"),
                c("track_count", "integer"),
                c("gid", "uuid"),
            ],
        ),
        type_table("medium_format".into()),
        table(
            "cdtoc",
            &["id"],
            vec![
                id(),
                c("discid", "varchar(28)"),
                c("freedb_id", "varchar(8)"),
                c("track_count", "integer"),
                c("leadout_offset", "integer"),
                c("track_offset", "text"),
                n("created", "timestamptz"),
            ],
        ),
        table(
            "track",
            &["id"],
            vec![
                id(),
                c("gid", "uuid"),
                c("recording", "integer"),
                c("medium", "integer"),
                c("position", "integer"),
                c("number", "text"),
                c("name", "varchar"),
                c("artist_credit", "integer"),
                n("length", "integer"),
                c("edits_pending", "integer"),
                n("last_updated", "timestamptz"),
                c("is_data_track", "boolean"),
            ],
        ),
        gid_redirect("track_gid_redirect".into()),
        table(
            "isrc",
            &["id"],
            vec![
                id(),
                c("recording", "integer"),
                c("isrc", "varchar(12)"),
                n("source", "smallint"),
                c("edits_pending", "integer"),
                n("created", "timestamptz"),
            ],
        ),
        table(
            "iswc",
            &["id"],
            vec![
                id(),
                c("work", "integer"),
                n("iswc", "varchar(15)"),
                n("source", "smallint"),
                c("edits_pending", "integer"),
                c("created", "timestamptz"),
            ],
        ),
        table(
            "link",
            &["id"],
            vec![
                id(),
                c("link_type", "integer"),
                n("begin_date_year", "smallint"),
                n("begin_date_month", "smallint"),
                n("begin_date_day", "smallint"),
                n("end_date_year", "smallint"),
                n("end_date_month", "smallint"),
                n("end_date_day", "smallint"),
                c("attribute_count", "integer"),
                n("created", "timestamptz"),
                c("ended", "boolean"),
            ],
        ),
        table(
            "link_type",
            &["id"],
            vec![
                id(),
                n("parent", "integer"),
                c("child_order", "integer"),
                c("gid", "uuid"),
                c("entity_type0", "varchar(50)"),
                c("entity_type1", "varchar(50)"),
                c("name", "varchar(255)"),
                n("description", "text"),
                c("link_phrase", "varchar(255)"),
                c("reverse_link_phrase", "varchar(255)"),
                c("long_link_phrase", "varchar(255)"),
                c("last_updated", "timestamptz"),
                c("is_deprecated", "boolean"),
                c("has_dates", "boolean"),
                c("entity0_cardinality", "smallint"),
            ],
        ),
        table(
            "link_attribute",
            &["link", "attribute_type"],
            vec![
                c("link", "integer"),
                c("attribute_type", "integer"),
                c("created", "timestamptz"),
            ],
        ),
        table(
            "link_attribute_type",
            &["id"],
            vec![
                id(),
                n("parent", "integer"),
                c("root", "integer"),
                c("child_order", "integer"),
                c("gid", "uuid"),
                c("name", "varchar(255)"),
                n("description", "text"),
                c("last_updated", "timestamptz"),
            ],
        ),
        table(
            "link_attribute_credit",
            &["link", "attribute_type"],
            vec![
                c("link", "integer"),
                c("attribute_type", "integer"),
                c("credited_as", "text"),
            ],
        ),
        table(
            "link_attribute_text_value",
            &["link", "attribute_type"],
            vec![
                c("link", "integer"),
                c("attribute_type", "integer"),
                c("text_value", "text"),
            ],
        ),
        table(
            "link_type_attribute_type",
            &["link_type", "attribute_type"],
            vec![
                c("link_type", "integer"),
                c("attribute_type", "integer"),
                n("min", "smallint"),
                n("max", "smallint"),
                c("last_updated", "timestamptz"),
            ],
        ),
        table(
            "language",
            &["id"],
            vec![
                id(),
                n("iso_code_2t", "varchar(3)"),
                n("iso_code_2b", "varchar(3)"),
                n("iso_code_1", "varchar(2)"),
                c("name", "varchar(100)"),
                c("frequency", "smallint"),
                n("iso_code_3", "varchar(3)"),
            ],
        ),
        table(
            "script",
            &["id"],
            vec![
                id(),
                c("iso_code", "varchar(4)"),
                c("iso_number", "varchar(3)"),
                c("name", "varchar(100)"),
                c("frequency", "smallint"),
            ],
        ),
        type_table("gender".into()),
        table(
            "iso_3166_1",
            &["code"],
            vec![c("code", "varchar(10)"), c("area", "integer")],
        ),
        table(
            "iso_3166_2",
            &["code"],
            vec![c("code", "varchar(10)"), c("area", "integer")],
        ),
        table(
            "release_country",
            &["release", "country"],
            vec![
                c("release", "integer"),
                c("country", "integer"),
                n("date_year", "smallint"),
                n("date_month", "smallint"),
                n("date_day", "smallint"),
            ],
        ),
        table(
            "release_label",
            &["id"],
            vec![
                id(),
                c("release", "integer"),
                n("label", "integer"),
                n("catalog_number", "varchar(255)"),
                n("last_updated", "timestamptz"),
            ],
        ),
        type_table("release_packaging".into()),
        type_table("release_status".into()),
        table(
            "recording_first_release_date",
            &["recording"],
            vec![
                c("recording", "integer"),
                n("year", "smallint"),
                n("month", "smallint"),
                n("day", "smallint"),
            ],
        ),
        table(
            "tag_relation",
            &["tag1", "tag2"],
            vec![
                c("tag1", "integer"),
                c("tag2", "integer"),
                c("weight", "integer"),
                n("last_updated", "timestamptz"),
            ],
        ),
        table(
            "tag",
            &["id"],
            vec![id(), c("name", "varchar(255)"), c("ref_count", "integer")],
        ),
        table(
            "work_language",
            &["work", "language"],
            vec![
                c("work", "integer"),
                c("language", "integer"),
                c("edits_pending", "integer"),
                c("created", "timestamptz"),
            ],
        ),
        table(
            "alternative_release",
            &["id"],
            vec![
                id(),
                c("gid", "uuid"),
                c("release", "integer"),
                n("name", "varchar"),
                c("artist_credit", "integer"),
                c("type", "integer"),
                c("language", "integer"),
                n("script", "integer"),
                n("comment", "varchar(255)"),
            ],
        ),
        table(
            "alternative_medium",
            &["id"],
            vec![
                id(),
                c("medium", "integer"),
                c("alternative_release", "integer"),
                n("name", "varchar"),
            ],
        ),
        table(
            "alternative_track",
            &["id"],
            vec![
                id(),
                n("name", "varchar"),
                n("artist_credit", "integer"),
                c("ref_count", "integer"),
            ],
        ),
    ]
}

fn all_tables() -> Vec<Table> {
    let mut tables: Vec<Table> = Vec::new();
    for e in ENTITIES {
        tables.push(entity(e));
        tables.extend(around(e));
    }
    let linked = &ENTITIES[..12];
    for (i, a) in linked.iter().enumerate() {
        for b in &linked[i..] {
            tables.push(link(a, b));
        }
    }
    tables.extend(others());
    tables
}

fn yaml(tables: &[Table]) -> String {
    let mut out = String::from(
        "# @generated by bench/mb/gen.rs (`cargo run -q -p replgen-bench --bin bench-mb-gen`); do not edit.\n\
         # The benchmarks' 293-table MusicBrainz-like schema (section `mb`).\n\
         schema_version: 1\ntables:\n",
    );
    for (i, t) in tables.iter().enumerate() {
        writeln!(out, "  - id: {}\n    name: {}", i + 1, t.name).unwrap();
        writeln!(out, "    key: [{}]\n    columns:", t.key.join(", ")).unwrap();
        for col in &t.columns {
            let null = if col.nullable { ", nullable: true" } else { "" };
            writeln!(
                out,
                "      - {{ name: {}, type: {}{null} }}",
                col.name, col.ty
            )
            .unwrap();
        }
    }
    out
}

fn ddl(tables: &[Table]) -> String {
    let mut out = String::from(
        "-- @generated by bench/mb/gen.rs, do not edit. The benchmarks' 293-table MusicBrainz-like\n\
         -- schema (bench/mb/schema.yaml): each table with its primary key, no other index.\n",
    );
    for t in tables {
        writeln!(out, "CREATE TABLE IF NOT EXISTS {} (", t.name).unwrap();
        for col in &t.columns {
            let null = if col.nullable { "" } else { " NOT NULL" };
            writeln!(out, "    {} {}{null},", col.name, col.ty).unwrap();
        }
        writeln!(out, "    PRIMARY KEY ({})\n);", t.key.join(", ")).unwrap();
    }
    out
}

fn main() {
    let tables = all_tables();
    assert_eq!(tables.len(), TABLES, "the schema has {TABLES} tables");
    let mut names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), TABLES, "table names are unique");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mb");
    for (file, text) in [("schema.yaml", yaml(&tables)), ("tables.sql", ddl(&tables))] {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}
