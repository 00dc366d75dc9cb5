//! Checks the parsed struct against its schema.yaml table: every column present once, in
//! order, with a Rust type that holds its SQL type. Every problem is reported, each at the
//! offending tokens and naming the table and the column.

use crate::ast::{Container, Ctxt, Field};
use replgen_schema::{Column, Table};

/// A field matched to its column.
pub struct Checked<'a> {
    pub field: &'a Field<'a>,
    pub column: &'a Column,
}

/// A Rust type reduced to what the check compares: each path's last segment and its generic
/// arguments (so `String`, `std::string::String` and `alloc::string::String` are equal).
#[derive(PartialEq, Eq)]
enum Shape {
    Path(String, Vec<Shape>),
    Other(String),
}

impl Shape {
    fn of(ty: &syn::Type) -> Shape {
        match ty {
            syn::Type::Group(g) => Shape::of(&g.elem),
            syn::Type::Paren(p) => Shape::of(&p.elem),
            syn::Type::Path(p) if p.qself.is_none() => match p.path.segments.last() {
                Some(last) => {
                    let args = match &last.arguments {
                        syn::PathArguments::AngleBracketed(a) => a
                            .args
                            .iter()
                            .map(|arg| match arg {
                                syn::GenericArgument::Type(t) => Shape::of(t),
                                other => Shape::Other(quote::quote!(#other).to_string()),
                            })
                            .collect(),
                        syn::PathArguments::None => Vec::new(),
                        syn::PathArguments::Parenthesized(p) => {
                            vec![Shape::Other(quote::quote!(#p).to_string())]
                        }
                    };
                    Shape::Path(last.ident.to_string(), args)
                }
                None => Shape::Other(String::new()),
            },
            other => Shape::Other(quote::quote!(#other).to_string().replace(' ', "")),
        }
    }

    fn parse(text: &str) -> Shape {
        match syn::parse_str::<syn::Type>(text) {
            Ok(t) => Shape::of(&t),
            Err(_) => Shape::Other(text.to_owned()),
        }
    }

    fn option_inner(&self) -> Option<&Shape> {
        match self {
            Shape::Path(name, args) if name == "Option" && args.len() == 1 => Some(&args[0]),
            _ => None,
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Path(name, args) if args.is_empty() => f.write_str(name),
            Shape::Path(name, args) => {
                write!(f, "{name}<")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(">")
            }
            Shape::Other(s) => f.write_str(s),
        }
    }
}

fn describe(column: &Column) -> String {
    format!(
        "{}{}",
        column.sql_type.ddl(),
        if column.nullable {
            ", nullable"
        } else {
            " NOT NULL"
        }
    )
}

/// Matches fields to columns; `table_name` is the table as the errors name it.
pub fn check<'a>(
    cx: &mut Ctxt,
    container: &'a Container<'a>,
    table: &'a Table,
    table_name: &str,
) -> Vec<Checked<'a>> {
    let mut checked = Vec::new();
    let mut taken: Vec<Option<&Field>> = vec![None; table.columns.len()];
    let mut order_reported = false;
    let mut last_index: Option<usize> = None;
    for field in &container.fields {
        let Some(index) = table.columns.iter().position(|c| c.name == field.column) else {
            let columns: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
            cx.error(
                field.column_span,
                format!(
                    "table {table_name} has no column `{}` (its columns: {}); remove the field or name its column with #[replicated(column = \"...\")]",
                    field.column,
                    columns.join(", ")
                ),
            );
            continue;
        };
        if taken[index].is_some() {
            cx.error(
                field.column_span,
                format!(
                    "column `{}` of table {table_name} has two fields",
                    field.column
                ),
            );
            continue;
        }
        taken[index] = Some(field);
        if !order_reported && last_index.is_some_and(|last| last > index) {
            order_reported = true;
            let columns: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
            cx.error(
                field.ident.span(),
                format!(
                    "field `{}` is out of order: the fields must follow the column order of table {table_name}: {}",
                    field.ident,
                    columns.join(", ")
                ),
            );
        }
        last_index = Some(last_index.map_or(index, |l| l.max(index)));
        let column = &table.columns[index];
        check_type(cx, field, column, table_name);
        checked.push(Checked { field, column });
    }
    for (column, taken) in table.columns.iter().zip(&taken) {
        if taken.is_none() {
            let expected = expected_type(column);
            cx.error(
                container.span,
                format!(
                    "struct {} lacks column `{}` ({}) of table {table_name}: add a field `{}: {expected}`",
                    container.ident,
                    column.name,
                    describe(column),
                    replgen_schema::rust_field_name(&column.name),
                ),
            );
        }
    }
    checked
}

/// The field type a column needs, shortened for messages (`Option<Array<i16>>`).
fn expected_type(column: &Column) -> String {
    let base = column
        .sql_type
        .rust_type()
        .replace("replgen_runtime::types::", "");
    if column.nullable {
        format!("Option<{base}>")
    } else {
        base
    }
}

/// The field types a column accepts (without `Option`): its replgen type, then the library
/// types of its base type (in an `Array` for an array column), each with its feature.
fn accepted(column: &Column) -> Vec<(String, &'static str)> {
    let mut all = vec![(column.sql_type.rust_type(), "")];
    for &(library, feature) in column.sql_type.base.library_types() {
        let t = if column.sql_type.array {
            format!("replgen_runtime::types::Array<{library}>")
        } else {
            library.to_owned()
        };
        all.push((t, feature));
    }
    all
}

/// A type for messages: the replgen paths shortened, `Option` when nullable.
fn shown_type(t: &str, nullable: bool) -> String {
    let t = t.replace("replgen_runtime::types::", "");
    if nullable {
        format!("Option<{t}>")
    } else {
        t
    }
}

fn check_type(cx: &mut Ctxt, field: &Field, column: &Column, table_name: &str) {
    let found = Shape::of(field.ty);
    let accepted = accepted(column);
    let shapes: Vec<Shape> = accepted.iter().map(|(t, _)| Shape::parse(t)).collect();
    let span = syn::spanned::Spanned::span(field.ty);
    let what = format!(
        "column `{}` of table {table_name} is {}",
        column.name,
        describe(column)
    );
    let matches = |s: &Shape| shapes.iter().position(|a| a == s);
    let expected = |i: usize| shown_type(&accepted[i].0, column.nullable);
    match (column.nullable, found.option_inner()) {
        (true, Some(inner)) if matches(inner).is_some() => {}
        (false, None) if matches(&found).is_some() => {}
        (true, None) if matches(&found).is_some() => cx.error(
            span,
            format!(
                "{what}: the field must be `{}`, not `{found}` (NULL needs an Option)",
                expected(matches(&found).unwrap_or(0))
            ),
        ),
        (false, Some(inner)) if matches(inner).is_some() => cx.error(
            span,
            format!(
                "{what}: the field must be `{}`, not `{found}` (the column is never NULL)",
                expected(matches(inner).unwrap_or(0))
            ),
        ),
        _ => {
            let mut message = format!("{what}: the field must be `{}`", expected(0));
            if accepted.len() > 1 {
                let others: Vec<String> = accepted[1..]
                    .iter()
                    .map(|(t, feature)| match *feature {
                        "" => format!("`{}`", shown_type(t, column.nullable)),
                        f => format!("`{}` (feature {f})", shown_type(t, column.nullable)),
                    })
                    .collect();
                message.push_str(&format!(" or a library type: {}", others.join(", ")));
            }
            cx.error(span, format!("{message}, not `{found}`"));
        }
    }
}
