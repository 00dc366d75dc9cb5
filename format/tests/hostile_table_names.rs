//! The derive with a table name that holds format-string braces: it compiles, and its errors
//! name the table as written.

use replgen_format::Replicated;

#[derive(Replicated, Debug, Clone, PartialEq)]
#[replicated(
    schema = "tests/hostile_table_names.yaml",
    table = "weird{brace}",
    id = 1
)]
pub struct WeirdBrace {
    pub id: i32,
    #[replicated(column = "{x}")]
    pub x: Option<String>,
}

#[test]
fn a_table_name_with_braces_compiles_and_appears_in_errors() {
    let row = WeirdBrace::decode_fields(&[b"7", b"\\N"]).unwrap();
    assert_eq!(row, WeirdBrace { id: 7, x: None });
    let err = WeirdBrace::decode_fields(&[b"7"]).unwrap_err().to_string();
    assert!(err.contains("weird{brace}"), "{err}");
    let err = (WeirdBrace::TABLE.check_key)(&[b"1", b"2"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("weird{brace}"), "{err}");
}
