//! `#[derive(Replicated)]`: a row struct's typed COPY-text codec, checked at compile time
//! against the table schema.yaml declares.
//!
//! ```ignore
//! #[derive(replgen_runtime::Replicated)]
//! #[replicated(schema = "schema.yaml", table = "musicbrainz.artist", id = 1)]
//! pub struct Artist {
//!     pub id: i32,
//!     #[replicated(column = "Full Name")]
//!     pub full_name: Option<String>,
//! }
//! ```
//!
//! `schema` defaults to `schema.yaml` and is resolved against `CARGO_MANIFEST_DIR`, then
//! against the folder of the source file holding the derive; absolute paths are used as is.
//! `id` is optional; when given it must be the table's id. The fields must be exactly the
//! table's columns, in column order, each named after its column (the identifier without
//! `r#`, or `#[replicated(column = "...")]`), with the column's Rust type (`Option<..>` exactly
//! when the column is nullable).
//!
//! The macro is thin: it parses the input into its own model ([`ast`]), loads the schema
//! through `replgen-schema` ([`schema`]), checks the model against it collecting every error
//! ([`check`]), and only then generates code ([`expand`]).

mod ast;
mod check;
mod expand;
mod krate;
mod schema;

use proc_macro::TokenStream;

#[proc_macro_derive(Replicated, attributes(replicated))]
pub fn derive_replicated(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
