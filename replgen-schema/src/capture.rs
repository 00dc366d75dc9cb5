//! The change-capture layout: the names the generator's install migration creates and the
//! runtime reads. One home, so the two can never disagree.

use crate::names::quote_ident;

/// The schema that holds replgen's own objects: the change logs, the capture functions and the
/// dumper's and replica's state.
pub const STATE_SCHEMA: &str = "replgen";

/// The change log of table `table_id` (unqualified).
pub fn change_log(table_id: u32) -> String {
    format!("log_{table_id}")
}

/// The change log of table `table_id`, qualified and quoted: `"replgen"."log_7"`.
pub fn change_log_qualified(table_id: u32) -> String {
    qualified_name(STATE_SCHEMA, &change_log(table_id))
}

/// The domain a change log uses for array-typed key column `k` (`k1`, `k2`, ...), so an array
/// key can be logged inside an array of keys (unqualified).
pub fn key_array_type(table_id: u32, k: &str) -> String {
    format!("log_{table_id}_{k}")
}

/// `"schema"."name"`, each part always quoted.
pub fn qualified_name(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}
