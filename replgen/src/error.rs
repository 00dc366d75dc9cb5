//! The generator's errors. A valid schema always generates, so these are internal failures
//! (a template or a Rust type the generator cannot render), each naming what failed.

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("template {name}: {source:#}")]
    Template {
        name: &'static str,
        source: minijinja::Error,
    },
    #[error("Rust type `{rust_type}` for column {column:?} does not parse: {source}")]
    RustType {
        column: String,
        rust_type: String,
        source: syn::Error,
    },
    #[error("generated Rust does not parse: {0}")]
    RustModule(syn::Error),
}
