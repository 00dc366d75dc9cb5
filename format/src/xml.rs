//! The one XML reading path of `index.xml` and an export's `manifest.xml`: a flat list of
//! elements with their depth and attributes, and typed attribute getters that refuse what is out
//! of range instead of truncating it.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::index::check_relative_path;

/// What is wrong with an XML document, in one sentence (the caller names the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("is not valid XML: {0}")]
    Syntax(String),
    #[error("{0}")]
    Invalid(String),
}

/// One start or empty element.
#[derive(Debug)]
pub(crate) struct Element {
    pub name: String,
    /// 0 for the root.
    pub depth: usize,
    attrs: Vec<(String, String)>,
}

/// Every element of the document, in order. Text outside elements is ignored; a second root,
/// unbalanced tags and malformed attributes (duplicates included) are refused.
pub(crate) fn elements(xml: &[u8]) -> Result<Vec<Element>, XmlError> {
    let text = std::str::from_utf8(xml).map_err(|_| XmlError::Syntax("not UTF-8".into()))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut roots = 0;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Syntax(e.to_string()))?;
        match event {
            Event::Start(e) | Event::Empty(e) if depth == 0 && roots > 0 => {
                return Err(XmlError::Invalid(format!(
                    "a second root element <{}>",
                    name_of(&e)
                )))
            }
            Event::Start(e) => {
                roots += usize::from(depth == 0);
                out.push(element(&e, depth)?);
                depth += 1;
            }
            Event::Empty(e) => {
                roots += usize::from(depth == 0);
                out.push(element(&e, depth)?);
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(XmlError::Syntax(
            "the document ends inside an element".into(),
        ));
    }
    Ok(out)
}

fn name_of(e: &BytesStart) -> String {
    String::from_utf8_lossy(e.name().as_ref()).into_owned()
}

fn element(e: &BytesStart, depth: usize) -> Result<Element, XmlError> {
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| XmlError::Syntax(err.to_string()))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|err| XmlError::Syntax(err.to_string()))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name: name_of(e),
        depth,
        attrs,
    })
}

impl Element {
    fn invalid(&self, what: String) -> XmlError {
        XmlError::Invalid(format!("<{}> {what}", self.name))
    }

    pub fn optional(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self, name: &str) -> Result<&str, XmlError> {
        self.optional(name)
            .ok_or_else(|| self.invalid(format!("lacks its {name} attribute")))
    }

    /// A decimal number in `0..=max`.
    pub fn number(&self, name: &str, max: u64) -> Result<u64, XmlError> {
        let text = self.text(name)?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.invalid(format!("{name}=\"{text}\" is not a number")));
        }
        match text.parse::<u64>() {
            Ok(v) if v <= max => Ok(v),
            _ => Err(self.invalid(format!("{name}=\"{text}\" is out of range (0 to {max})"))),
        }
    }

    pub fn u32(&self, name: &str) -> Result<u32, XmlError> {
        self.number(name, u32::MAX as u64).map(|v| v as u32)
    }

    /// A lowercase hex sha256.
    pub fn sha256(&self, name: &str) -> Result<String, XmlError> {
        let text = self.text(name)?;
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.invalid(format!("has an invalid {name}")));
        }
        Ok(text.to_ascii_lowercase())
    }

    /// A path that stays inside the folder it is relative to.
    pub fn relative_path(&self, name: &str) -> Result<String, XmlError> {
        let path = self.text(name)?;
        check_relative_path(path).map_err(|why| self.invalid(why))?;
        Ok(path.to_string())
    }

    /// Refuses a `format` attribute other than `expected` (absent means the first format).
    pub fn check_format(&self, expected: &str) -> Result<(), XmlError> {
        match self.optional("format") {
            None => Ok(()),
            Some(f) if f == expected => Ok(()),
            Some(f) => Err(self.invalid(format!(
                "has format {f}, but this build reads format {expected}"
            ))),
        }
    }
}
