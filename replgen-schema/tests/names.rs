//! Identifier handling: SQL quoting, table names, Rust names.

use replgen_schema::{
    parse_str, parse_table_name, quote_ident, rust_field_name, rust_field_names, rust_struct_name,
};

#[test]
fn quote_ident_always_quotes() {
    assert_eq!(quote_ident("artist"), "\"artist\"");
    assert_eq!(quote_ident("Odd \"Name\""), "\"Odd \"\"Name\"\"\"");
    assert_eq!(quote_ident(""), "\"\"");
}

#[test]
fn table_names_split_into_schema_and_name() {
    let p = |s: &str| parse_table_name(s).unwrap();
    assert_eq!(p("artist"), ("public".into(), "artist".into()));
    assert_eq!(
        p("musicbrainz.artist"),
        ("musicbrainz".into(), "artist".into())
    );
    assert_eq!(p("Artist"), ("public".into(), "Artist".into()));
    assert_eq!(p("\"a.b\""), ("public".into(), "a.b".into()));
    assert_eq!(
        p("\"my schema\".\"Tab\"\"le\""),
        ("my schema".into(), "Tab\"le".into())
    );
    assert!(parse_table_name("a.b.c").is_err());
    assert!(parse_table_name("\"a").is_err());
    assert!(parse_table_name("a\"b").is_err());
}

#[test]
fn field_names_are_valid_snake_case_identifiers() {
    let cases = [
        ("id", "id"),
        ("artist_credit", "artist_credit"),
        ("Exact Name", "exact_name"),
        ("artistCredit", "artist_credit"),
        ("type", "r#type"),
        ("match", "r#match"),
        ("self", "self_"),
        ("crate", "crate_"),
        ("1st", "c1st"),
        ("a-b", "a_b"),
        ("_hidden", "_hidden"),
        ("???", "column"),
        ("Ünïcode", "n_code"),
    ];
    for (column, field) in cases {
        assert_eq!(rust_field_name(column), field, "column {column:?}");
    }
}

const YAML: &str = "schema_version: 1
tables:
  - id: 1
    name: artist
    columns:
      - { name: id, type: integer }
      - { name: Name, type: text }
      - { name: name, type: text }
  - id: 2
    name: musicbrainz.artist
    columns: [{ name: id, type: integer }]
  - id: 3
    name: release_group
    columns: [{ name: id, type: integer }]
  - id: 4
    name: 1table
    columns: [{ name: id, type: integer }]
";

#[test]
fn struct_names_are_camel_case_and_disambiguated() {
    let s = parse_str(YAML, "t.yaml").unwrap();
    let names: Vec<String> = s.tables.iter().map(|t| rust_struct_name(t, &s)).collect();
    assert_eq!(
        names,
        [
            "PublicArtist",
            "MusicbrainzArtist",
            "ReleaseGroup",
            "T1table"
        ]
    );
    assert_eq!(rust_field_names(&s.tables[0]), ["id", "name", "name_2"]);
}

#[test]
fn struct_names_never_shadow_the_prelude_types_generated_fields_use() {
    let yaml = "schema_version: 1
tables:
  - { id: 1, name: option, columns: [{ name: id, type: integer }] }
  - { id: 2, name: string, columns: [{ name: id, type: integer }] }
  - { id: 3, name: Self, columns: [{ name: id, type: integer }] }
  - { id: 4, name: result, columns: [{ name: id, type: integer }] }
";
    let s = parse_str(yaml, "t.yaml").unwrap();
    let names: Vec<String> = s.tables.iter().map(|t| rust_struct_name(t, &s)).collect();
    assert_eq!(names, ["OptionTable", "StringTable", "SelfTable", "Result"]);
}
