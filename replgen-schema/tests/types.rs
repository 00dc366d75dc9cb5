//! Type resolution: every alias resolves to one canonical DDL spelling and Rust type.

use replgen_schema::{BaseType, SqlType};

fn ddl(written: &str) -> String {
    SqlType::parse(written)
        .unwrap_or_else(|e| panic!("{written:?}: {e}"))
        .ddl()
}

#[test]
fn aliases_resolve_to_canonical_spellings() {
    let cases: &[(&str, &str)] = &[
        ("smallint", "smallint"),
        ("int2", "smallint"),
        ("SMALLINT", "smallint"),
        ("smallserial", "smallint"),
        ("serial2", "smallint"),
        ("integer", "integer"),
        ("int", "integer"),
        ("INT4", "integer"),
        ("serial", "integer"),
        ("serial4", "integer"),
        ("bigint", "bigint"),
        ("int8", "bigint"),
        ("bigserial", "bigint"),
        ("serial8", "bigint"),
        ("boolean", "boolean"),
        ("bool", "boolean"),
        ("real", "real"),
        ("float4", "real"),
        ("float(24)", "real"),
        ("double precision", "double precision"),
        ("Double   Precision", "double precision"),
        ("float8", "double precision"),
        ("float", "double precision"),
        ("float(53)", "double precision"),
        ("numeric", "numeric"),
        ("decimal", "numeric"),
        ("numeric(10,2)", "numeric(10,2)"),
        ("numeric( 10 , 2 )", "numeric(10,2)"),
        ("decimal(7)", "numeric(7,0)"),
        ("text", "text"),
        ("varchar", "character varying"),
        ("varchar(255)", "character varying(255)"),
        ("character varying", "character varying"),
        ("character varying(10)", "character varying(10)"),
        ("char varying(3)", "character varying(3)"),
        ("char", "character(1)"),
        ("char(3)", "character(3)"),
        ("character(2)", "character(2)"),
        ("character", "character(1)"),
        ("bpchar", "bpchar"),
        ("bpchar(4)", "character(4)"),
        ("uuid", "uuid"),
        ("UUID", "uuid"),
        ("date", "date"),
        ("time", "time without time zone"),
        ("time without time zone", "time without time zone"),
        ("time with time zone", "time with time zone"),
        ("timetz", "time with time zone"),
        ("timestamp", "timestamp without time zone"),
        ("timestamp without time zone", "timestamp without time zone"),
        ("timestamp with time zone", "timestamp with time zone"),
        ("timestamptz", "timestamp with time zone"),
        ("timestamp(3) with time zone", "timestamp(3) with time zone"),
        ("timestamptz(3)", "timestamp(3) with time zone"),
        ("time(0)", "time(0) without time zone"),
        ("interval", "interval"),
        ("interval year to month", "interval year to month"),
        ("bytea", "bytea"),
        ("json", "json"),
        ("jsonb", "jsonb"),
        ("inet", "inet"),
        ("cidr", "cidr"),
        ("integer[]", "integer[]"),
        ("int[][]", "integer[]"),
        ("int4[3]", "integer[]"),
        ("_int4", "integer[]"),
        ("_text", "text[]"),
        ("integer array", "integer[]"),
        ("integer ARRAY[4]", "integer[]"),
        ("varchar(20)[]", "character varying(20)[]"),
        ("smallint []", "smallint[]"),
        ("timestamptz[]", "timestamp with time zone[]"),
        ("point", "point"),
        ("Cube", "cube"),
        ("musicbrainz.fluency", "musicbrainz.fluency"),
        ("MusicBrainz.Fluency[]", "musicbrainz.fluency[]"),
        ("\"My Type\"", "\"My Type\""),
        ("\"mb\".\"Lang\"", "mb.\"Lang\""),
        ("\"char\"", "\"char\""),
        ("bit(8)", "bit(8)"),
        ("bit varying(5)", "bit varying(5)"),
        ("_point", "_point"),
    ];
    for (written, expected) in cases {
        assert_eq!(ddl(written), *expected, "type {written:?}");
        // The canonical spelling is a fixed point.
        assert_eq!(ddl(expected), *expected, "canonical {expected:?}");
    }
}

#[test]
fn structure_of_resolved_types() {
    let t = SqlType::parse("numeric(10,2)").unwrap();
    assert_eq!(
        t.base,
        BaseType::Numeric {
            precision: Some(10),
            scale: Some(2)
        }
    );
    assert!(!t.array);
    let t = SqlType::parse("varchar(255)[]").unwrap();
    assert_eq!(t.base, BaseType::Varchar(Some(255)));
    assert!(t.array);
    assert_eq!(SqlType::parse("serial").unwrap().base, BaseType::Integer);
    assert_eq!(
        SqlType::parse("my_enum").unwrap().base,
        BaseType::Other("my_enum".into())
    );
    assert_eq!(
        SqlType::parse("char(3)").unwrap().base,
        BaseType::Char(Some(3))
    );
}

#[test]
fn rust_types_follow_the_design_table() {
    let cases: &[(&str, &str)] = &[
        ("smallint", "i16"),
        ("integer", "i32"),
        ("bigint", "i64"),
        ("boolean", "bool"),
        ("real", "f32"),
        ("double precision", "f64"),
        ("numeric(10,2)", "replgen_runtime::types::Numeric"),
        ("text", "String"),
        ("varchar(3)", "String"),
        ("char(2)", "String"),
        ("uuid", "replgen_runtime::types::Uuid"),
        ("date", "replgen_runtime::types::Date"),
        ("time", "replgen_runtime::types::Time"),
        ("timetz", "replgen_runtime::types::TimeTz"),
        ("timestamp", "replgen_runtime::types::Timestamp"),
        ("timestamptz", "replgen_runtime::types::TimestampTz"),
        ("interval", "replgen_runtime::types::Interval"),
        ("bytea", "replgen_runtime::types::Bytea"),
        ("json", "replgen_runtime::types::Json"),
        ("jsonb", "replgen_runtime::types::Jsonb"),
        ("inet", "replgen_runtime::types::Inet"),
        ("cidr", "replgen_runtime::types::Cidr"),
        ("point", "replgen_runtime::types::PgText"),
        ("musicbrainz.fluency", "replgen_runtime::types::PgText"),
        ("timestamp(3)", "replgen_runtime::types::PgText"),
        ("smallint[]", "replgen_runtime::types::Array<i16>"),
        ("text[][]", "replgen_runtime::types::Array<String>"),
        (
            "point[]",
            "replgen_runtime::types::Array<replgen_runtime::types::PgText>",
        ),
    ];
    for (written, expected) in cases {
        assert_eq!(
            SqlType::parse(written).unwrap().rust_type(),
            *expected,
            "type {written:?}"
        );
    }
}

#[test]
fn invalid_types_are_refused() {
    for bad in [
        "",
        "   ",
        "integer(",
        "int(4)",
        "numeric(1,2,3)",
        "numeric(a)",
        "varchar(0)",
        "integer[",
        "integer]",
        "int[]x",
        "foo bar",
        "timestamp with zone",
        "time(9)",
        "float(60)",
        "my.type.x.",
        "\"unterminated",
        "a;drop table x",
        "text(3)",
        "boolean with time zone",
    ] {
        assert!(
            SqlType::parse(bad).is_err(),
            "{bad:?} should be refused, got {:?}",
            SqlType::parse(bad)
        );
    }
}
