//! A minimal YAML tree with positions, built from yaml-rust2's event parser, so that every
//! semantic error can name the line and column of the offending node.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_marker(m: Marker) -> Pos {
        // yaml-rust2 markers: line is 1-based, column 0-based.
        Pos {
            line: m.line().max(1),
            column: m.col() + 1,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Kind {
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// An alias, an anchor or a tag: constructs schema.yaml does not use.
    Unsupported(&'static str),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

impl Node {
    /// The scalar's text, unless it is a plain null (`~`, `null`, empty).
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, plain } => {
                if *plain && is_null(value) {
                    None
                } else {
                    Some(value)
                }
            }
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, plain: true } if is_null(value))
    }

    /// A plain integer scalar (decimal, optional sign).
    pub fn as_int(&self) -> Option<i128> {
        match &self.kind {
            Kind::Scalar { value, plain: true } => {
                let v = value.trim();
                let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || digits.len() > 30
                {
                    return None;
                }
                v.parse::<i128>().ok()
            }
            _ => None,
        }
    }

    /// A plain boolean scalar (YAML 1.2 core schema).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            Kind::Scalar { value, plain: true } => match value.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Scalar { .. } if self.is_null() => "nothing".into(),
            Kind::Scalar { value, .. } => format!("{value:?}"),
            Kind::Seq(_) => "a list".into(),
            Kind::Map(_) => "a mapping".into(),
            Kind::Unsupported(_) => "an unsupported construct".into(),
        }
    }
}

fn is_null(v: &str) -> bool {
    matches!(v, "" | "~" | "null" | "Null" | "NULL")
}

/// A YAML syntax error.
#[derive(Debug)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

enum Frame {
    Seq(Pos, Vec<Node>, bool),
    Map(Pos, Vec<Node>, bool),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    extra_doc: Option<Pos>,
}

impl Builder {
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            Some(Frame::Seq(_, items, _)) | Some(Frame::Map(_, items, _)) => items.push(node),
            None => {
                if self.docs.is_empty() {
                    self.docs.push(node);
                } else if self.extra_doc.is_none() {
                    self.extra_doc = Some(node.pos);
                }
            }
        }
    }
}

const UNSUPPORTED: &str = "YAML anchors, aliases and tags are not supported in schema.yaml";

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(mark);
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let kind = if anchor != 0 || tag.is_some() {
                    Kind::Unsupported(UNSUPPORTED)
                } else {
                    Kind::Scalar {
                        value,
                        plain: style == TScalarStyle::Plain,
                    }
                };
                self.push(Node { pos, kind });
            }
            Event::Alias(_) => self.push(Node {
                pos,
                kind: Kind::Unsupported(UNSUPPORTED),
            }),
            Event::SequenceStart(anchor, tag) => {
                self.stack
                    .push(Frame::Seq(pos, Vec::new(), anchor != 0 || tag.is_some()))
            }
            Event::MappingStart(anchor, tag) => {
                self.stack
                    .push(Frame::Map(pos, Vec::new(), anchor != 0 || tag.is_some()))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq(pos, _, true)) | Some(Frame::Map(pos, _, true)) => Node {
                        pos,
                        kind: Kind::Unsupported(UNSUPPORTED),
                    },
                    Some(Frame::Seq(pos, items, false)) => Node {
                        pos,
                        kind: Kind::Seq(items),
                    },
                    Some(Frame::Map(pos, items, false)) => {
                        // A block mapping's start mark sits after its first key; point at the key.
                        let pos = match items.first() {
                            Some(k) if (k.pos.line, k.pos.column) < (pos.line, pos.column) => k.pos,
                            _ => pos,
                        };
                        let mut pairs = Vec::with_capacity(items.len() / 2);
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            pairs.push((k, v));
                        }
                        Node {
                            pos,
                            kind: Kind::Map(pairs),
                        }
                    }
                    None => return,
                };
                self.push(node);
            }
            _ => {}
        }
    }
}

/// Parses one YAML document into a tree. An empty document is `Ok(None)`.
pub fn parse(src: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        pos: Pos::from_marker(*e.marker()),
        message: format!("invalid YAML: {}", e.info()),
    })?;
    if let Some(pos) = builder.extra_doc {
        return Err(SyntaxError {
            pos,
            message: "schema.yaml must hold a single YAML document".into(),
        });
    }
    Ok(builder.docs.pop())
}
