//! The derive's own model of its input: the struct, its attributes and fields, parsed and
//! validated syntactically. Every problem is collected; nothing is generated from invalid input.

use proc_macro2::Span;
use syn::spanned::Spanned as _;

/// Collects errors; [`Ctxt::finish`] merges them into one.
#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    pub fn error(&mut self, span: Span, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    pub fn push(&mut self, e: syn::Error) {
        self.errors.push(e);
    }

    pub fn finish(self) -> Result<(), syn::Error> {
        let mut it = self.errors.into_iter();
        match it.next() {
            None => Ok(()),
            Some(mut first) => {
                for e in it {
                    first.combine(e);
                }
                Err(first)
            }
        }
    }
}

/// A string attribute value with where it was written.
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

pub struct Container<'a> {
    pub ident: &'a syn::Ident,
    /// `schema = "..."` (or `layout = "..."`), if given.
    pub schema: Option<Spanned<String>>,
    /// Whether the file is a published layout (`layout = "migrations/layouts/v1.yaml"`, which
    /// the generated module names for the tables of earlier schema versions), not schema.yaml.
    pub layout: bool,
    /// `table = "..."`.
    pub table: Spanned<String>,
    /// `id = N`, if given.
    pub id: Option<Spanned<u32>>,
    pub fields: Vec<Field<'a>>,
    /// Where the derive was invoked (for errors about the whole struct).
    pub span: Span,
}

pub struct Field<'a> {
    pub ident: &'a syn::Ident,
    pub ty: &'a syn::Type,
    /// The column this field holds: the `column` attribute, or the identifier without `r#`.
    pub column: String,
    /// The span to point at for a wrong column name.
    pub column_span: Span,
}

impl<'a> Container<'a> {
    /// Parses the derive input, or returns every problem found.
    pub fn from_ast(input: &'a syn::DeriveInput) -> Result<Container<'a>, syn::Error> {
        let mut cx = Ctxt::default();
        let mut schema = None;
        let mut layout = false;
        let mut table = None;
        let mut id = None;
        for attr in input
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("replicated"))
        {
            let result = attr.parse_nested_meta(|meta| {
                let key = meta
                    .path
                    .get_ident()
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                match key.as_str() {
                    "schema" | "layout" | "table" => {
                        let lit: syn::LitStr = meta.value()?.parse()?;
                        let slot = if key == "table" {
                            &mut table
                        } else {
                            layout = key == "layout";
                            &mut schema
                        };
                        if slot.is_some() {
                            cx.error(
                                lit.span(),
                                format!("duplicate `{key}` in #[replicated(...)]"),
                            );
                        }
                        *slot = Some(Spanned {
                            value: lit.value(),
                            span: lit.span(),
                        });
                    }
                    "id" => {
                        let lit: syn::LitInt = meta.value()?.parse()?;
                        match lit.base10_parse::<u32>() {
                            Ok(v) => {
                                if id.is_some() {
                                    cx.error(lit.span(), "duplicate `id` in #[replicated(...)]");
                                }
                                id = Some(Spanned {
                                    value: v,
                                    span: lit.span(),
                                });
                            }
                            Err(e) => cx.push(e),
                        }
                    }
                    _ => {
                        return Err(meta.error(
                            "unknown #[replicated(...)] key; expected `schema`, `layout`, `table` or `id`",
                        ))
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                cx.push(e);
            }
        }
        if !input.generics.params.is_empty() {
            cx.error(
                input.generics.span(),
                "#[derive(Replicated)] does not support generic structs",
            );
        }
        let mut fields = Vec::new();
        match &input.data {
            syn::Data::Struct(syn::DataStruct {
                fields: syn::Fields::Named(named),
                ..
            }) => {
                for f in &named.named {
                    if let Some(field) = Field::from_ast(&mut cx, f) {
                        fields.push(field);
                    }
                }
            }
            syn::Data::Struct(_) => cx.error(
                input.ident.span(),
                "#[derive(Replicated)] needs a struct with named fields, one per column",
            ),
            _ => cx.error(
                input.ident.span(),
                "#[derive(Replicated)] works on structs only",
            ),
        }
        if table.is_none() {
            cx.error(
                input.ident.span(),
                "missing #[replicated(table = \"...\")]: name the schema.yaml table this struct holds",
            );
        }
        cx.finish()?;
        Ok(Container {
            ident: &input.ident,
            schema,
            layout,
            table: table.expect("checked above"),
            id,
            fields,
            span: input.ident.span(),
        })
    }
}

impl<'a> Field<'a> {
    fn from_ast(cx: &mut Ctxt, f: &'a syn::Field) -> Option<Field<'a>> {
        let ident = f.ident.as_ref()?;
        let mut column: Option<Spanned<String>> = None;
        for attr in f.attrs.iter().filter(|a| a.path().is_ident("replicated")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("column") {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    if column.is_some() {
                        cx.error(lit.span(), "duplicate `column` in #[replicated(...)]");
                    }
                    column = Some(Spanned {
                        value: lit.value(),
                        span: lit.span(),
                    });
                    Ok(())
                } else {
                    Err(meta.error("unknown #[replicated(...)] key on a field; expected `column`"))
                }
            });
            if let Err(e) = result {
                cx.push(e);
            }
        }
        let (column, column_span) = match column {
            Some(c) => (c.value, c.span),
            None => {
                let s = ident.to_string();
                (s.strip_prefix("r#").unwrap_or(&s).to_owned(), ident.span())
            }
        };
        Some(Field {
            ident,
            ty: &f.ty,
            column,
            column_span,
        })
    }
}
