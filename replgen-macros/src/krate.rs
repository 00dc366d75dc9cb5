//! Which crate the generated code names: `replgen-runtime` when the deriving crate depends on
//! it (a mirror binary), else `replgen-format` (a program that only reads packets), by the name
//! the deriving crate's Cargo.toml gives it. Both export the same paths.

use proc_macro2::TokenStream;
use proc_macro_crate::{crate_name, FoundCrate};
use quote::{format_ident, quote};

pub fn path() -> TokenStream {
    for package in ["replgen-runtime", "replgen-format"] {
        let name = match crate_name(package) {
            // The crate's own tests and examples name it by its library name.
            Ok(FoundCrate::Itself) => package.replace('-', "_"),
            Ok(FoundCrate::Name(name)) => name,
            Err(_) => continue,
        };
        let ident = format_ident!("{}", name);
        return quote!(::#ident);
    }
    quote!(::replgen_runtime)
}
