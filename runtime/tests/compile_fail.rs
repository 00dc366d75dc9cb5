//! `#[derive(Replicated)]` against `tests/ui/schema.yaml`: one case per mistake the derive must
//! refuse, with its committed message (`tests/ui/*.stderr`). The case that compiles and runs,
//! `tests/ui/pass.rs`, is the `derive_pass` test (runtime/Cargo.toml): trybuild then only needs
//! `cargo check`, not a build of every dependency in its own target folder.
//! Regenerate the messages with `TRYBUILD=overwrite cargo test -p replgen-runtime --test compile_fail`.

#[test]
fn derive_replicated() {
    let t = trybuild::TestCases::new();
    for case in [
        "missing_column",
        "extra_field",
        "wrong_order",
        "i32_for_bigint",
        "string_for_nullable",
        "option_on_non_null",
        "wrong_table_id",
        "unknown_table",
        "invalid_schema",
        "bad_attributes",
        "wrong_library_type",
    ] {
        t.compile_fail(format!("tests/ui/{case}.rs"));
    }
}
