//! Code generation, from a checked model only.

use crate::ast::{Container, Ctxt};
use crate::check::{check, Checked};
use proc_macro2::TokenStream;
use quote::quote;

pub fn derive(input: &syn::DeriveInput) -> TokenStream {
    match expand(input) {
        Ok(tokens) => tokens,
        Err(e) => {
            let mut tokens = e.to_compile_error();
            tokens.extend(stub(input));
            tokens
        }
    }
}

/// On error, an impl that compiles whatever the body, so the user sees the one real error and
/// not a cascade from code that uses the trait.
fn stub(input: &syn::DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() || !matches!(input.data, syn::Data::Struct(_)) {
        return TokenStream::new();
    }
    let ident = &input.ident;
    let rt = crate::krate::path();
    quote! {
        const _: () = {
            impl #rt::Replicated for #ident {
                const TABLE: &'static #rt::TableDef = &#rt::TableDef {
                    id: 0,
                    schema: "",
                    name: "",
                    columns: &[],
                    key: &[],
                    check_row: |_| ::core::result::Result::Ok(()),
                    check_key: |_| ::core::result::Result::Ok(()),
                };
                fn encode_fields(&self, _: &mut ::std::vec::Vec<u8>) {
                    ::core::unreachable!()
                }
                fn decode_fields(_: &[&[u8]]) -> ::core::result::Result<Self, #rt::DecodeError> {
                    ::core::unreachable!()
                }
                fn encode_key_fields(&self, _: &mut ::std::vec::Vec<u8>) {
                    ::core::unreachable!()
                }
            }
        };
    }
}

fn expand(input: &syn::DeriveInput) -> Result<TokenStream, syn::Error> {
    let container = Container::from_ast(input)?;
    let written = container
        .schema
        .as_ref()
        .map_or("schema.yaml", |s| s.value.as_str());
    let schema_span = container
        .schema
        .as_ref()
        .map_or(container.table.span, |s| s.span);
    let source_file = proc_macro::Span::call_site().local_file();
    let path = crate::schema::resolve(written, source_file)
        .map_err(|e| syn::Error::new(schema_span, e))?;
    let schema = crate::schema::load(&path, container.layout)
        .map_err(|e| syn::Error::new(schema_span, format!("{written} is invalid:\n{e}")))?;

    let table_name = container.table.value.as_str();
    let Some(table) = schema.table_by_name(table_name) else {
        let mut names: Vec<&str> = schema
            .tables
            .iter()
            .map(|t| t.written_name.as_str())
            .collect();
        let more = names.len().saturating_sub(20);
        names.truncate(20);
        let mut list = names.join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        return Err(syn::Error::new(
            container.table.span,
            format!("table {table_name} is not in {written} (its tables: {list})"),
        ));
    };

    let mut cx = Ctxt::default();
    if let Some(id) = &container.id {
        if id.value != table.id {
            cx.error(
                id.span,
                format!(
                    "table {table_name} has id {} in {written}, not {}",
                    table.id, id.value
                ),
            );
        }
    }
    let checked = check(&mut cx, &container, table, table_name);
    cx.finish()?;
    Ok(generate(&container, table, &checked, &path))
}

fn generate(
    container: &Container,
    table: &replgen_schema::Table,
    checked: &[Checked],
    schema_path: &std::path::Path,
) -> TokenStream {
    let ident = container.ident;
    let rt = crate::krate::path();
    let id = table.id;
    let schema_name = &table.schema;
    let name = &table.name;
    let display = format!("{}.{}", table.schema, table.name);
    let columns = checked.iter().map(|c| {
        let name = &c.column.name;
        let sql_type = c.column.sql_type.ddl();
        let nullable = c.column.nullable;
        let renamed_from = match &c.column.renamed_from {
            Some(from) => quote!(::core::option::Option::Some(#from)),
            None => quote!(::core::option::Option::None),
        };
        quote!(#rt::ColumnDef {
            name: #name,
            sql_type: #sql_type,
            nullable: #nullable,
            renamed_from: #renamed_from,
        })
    });
    let key = &table.key;
    let n = checked.len();
    let n_key = key.len();

    let encode = checked.iter().enumerate().map(|(i, c)| {
        let f = c.field.ident;
        let tab = (i > 0).then(|| quote!(out.push(b'\t');));
        quote! { #tab #rt::codec::Value::encode(&self.#f, out); }
    });
    let decode = checked.iter().enumerate().map(|(i, c)| {
        let f = c.field.ident;
        let ty = c.field.ty;
        let column = &c.column.name;
        quote! {
            #f: <#ty as #rt::codec::Value>::decode(fields[#i])
                .map_err(|e| e.with_column(#column).with_table(#display))?
        }
    });
    let encode_key = key.iter().enumerate().map(|(k, &i)| {
        let f = checked[i].field.ident;
        let tab = (k > 0).then(|| quote!(out.push(b'\t');));
        quote! { #tab #rt::codec::Value::encode(&self.#f, out); }
    });
    let check_key = key.iter().enumerate().map(|(k, &i)| {
        let ty = checked[i].field.ty;
        let column = &checked[i].column.name;
        quote! {
            <#ty as #rt::codec::Value>::decode(fields[#k])
                .map_err(|e| e.with_column(#column).with_table(#display))?;
        }
    });
    let schema_file = schema_path.to_string_lossy().into_owned();
    // Format strings: braces in a table's name (`weird{brace}`) must not read as arguments.
    let display_fmt = display.replace('{', "{{").replace('}', "}}");
    let count_error = format!("table {display_fmt} has {n} columns, the row has {{}} fields");
    let key_count_error =
        format!("table {display_fmt} has {n_key} key columns, the key has {{}} fields");

    quote! {
        const _: () = {
            // Rebuild when schema.yaml changes.
            const _: &[u8] = ::core::include_bytes!(#schema_file);

            fn __check_row(fields: &[&[u8]]) -> ::core::result::Result<(), #rt::DecodeError> {
                <#ident as #rt::Replicated>::decode_fields(fields).map(|_| ())
            }

            fn __check_key(fields: &[&[u8]]) -> ::core::result::Result<(), #rt::DecodeError> {
                if fields.len() != #n_key {
                    return ::core::result::Result::Err(
                        #rt::DecodeError::new(::std::format!(#key_count_error, fields.len()))
                            .with_table(#display),
                    );
                }
                #(#check_key)*
                ::core::result::Result::Ok(())
            }

            #[automatically_derived]
            impl #rt::Replicated for #ident {
                const TABLE: &'static #rt::TableDef = &#rt::TableDef {
                    id: #id,
                    schema: #schema_name,
                    name: #name,
                    columns: &[#(#columns),*],
                    key: &[#(#key),*],
                    check_row: __check_row,
                    check_key: __check_key,
                };

                #[inline]
                fn encode_fields(&self, out: &mut ::std::vec::Vec<u8>) {
                    #(#encode)*
                }

                fn decode_fields(fields: &[&[u8]]) -> ::core::result::Result<Self, #rt::DecodeError> {
                    if fields.len() != #n {
                        return ::core::result::Result::Err(
                            #rt::DecodeError::new(::std::format!(#count_error, fields.len()))
                                .with_table(#display),
                        );
                    }
                    ::core::result::Result::Ok(#ident {
                        #(#decode),*
                    })
                }

                #[inline]
                fn encode_key_fields(&self, out: &mut ::std::vec::Vec<u8>) {
                    #(#encode_key)*
                }
            }
        };
    }
}
