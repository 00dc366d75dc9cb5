//! An export's `manifest.xml`: which cut it is aligned with, and each table's file.
//!
//! ```xml
//! <export format="1" serial="40" schema_version="1" fingerprint="..." created="...">
//!   <table id="1" name="public.artist" path="table-1.copy.gz" size="..." sha256="..." rows="..."/>
//! </export>
//! ```
//! Table files are gzip COPY text, one line per row, every column in column order. Paths are
//! relative to the manifest's folder.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};
use quick_xml::Writer;

use crate::index::MAX_FILE_SIZE;
use crate::packet::MAX_SERIAL;
use crate::xml::{self, XmlError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest.xml is not valid XML: {0}")]
    Xml(String),
    #[error("manifest.xml: {0}")]
    Invalid(String),
}

impl From<XmlError> for ManifestError {
    fn from(e: XmlError) -> Self {
        match e {
            XmlError::Syntax(why) => ManifestError::Xml(why),
            XmlError::Invalid(why) => ManifestError::Invalid(why),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFile {
    pub id: u32,
    pub name: String,
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub serial: u64,
    /// The feed that published it (empty from an older dumper).
    pub feed: String,
    /// The sha256 of packet `serial` as this feed published it, when it did: the first packet a
    /// replica applies after the import names it as its predecessor.
    pub packet_sha256: Option<String>,
    pub schema_version: u32,
    pub fingerprint: String,
    pub created: String,
    pub tables: Vec<TableFile>,
}

impl Manifest {
    pub fn to_xml(&self) -> Vec<u8> {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        let mut write = |e: Event| w.write_event(e).expect("writing to memory");
        write(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        let mut root = BytesStart::new("export");
        root.push_attribute(("format", "1"));
        root.push_attribute(("serial", self.serial.to_string().as_str()));
        if !self.feed.is_empty() {
            root.push_attribute(("feed", self.feed.as_str()));
        }
        if let Some(sha) = &self.packet_sha256 {
            root.push_attribute(("packet_sha256", sha.as_str()));
        }
        root.push_attribute(("schema_version", self.schema_version.to_string().as_str()));
        root.push_attribute(("fingerprint", self.fingerprint.as_str()));
        root.push_attribute(("created", self.created.as_str()));
        write(Event::Start(root));
        for t in &self.tables {
            let mut e = BytesStart::new("table");
            e.push_attribute(("id", t.id.to_string().as_str()));
            e.push_attribute(("name", t.name.as_str()));
            e.push_attribute(("path", t.path.as_str()));
            e.push_attribute(("size", t.size.to_string().as_str()));
            e.push_attribute(("sha256", t.sha256.as_str()));
            e.push_attribute(("rows", t.rows.to_string().as_str()));
            write(Event::Empty(e));
        }
        write(Event::End(BytesEnd::new("export")));
        let mut out = w.into_inner();
        out.push(b'\n');
        out
    }

    /// Parses and checks a manifest: one `<export>` of format 1 holding `<table>` elements,
    /// every number in range, every path inside the export's folder, no table listed twice.
    pub fn parse(xml: &[u8]) -> Result<Manifest, ManifestError> {
        let elements = xml::elements(xml)?;
        let Some(root) = elements.first().filter(|e| e.name == "export") else {
            return Err(ManifestError::Invalid("no <export> element".into()));
        };
        root.check_format("1")?;
        let mut manifest = Manifest {
            serial: root.number("serial", MAX_SERIAL)?,
            feed: root.optional("feed").unwrap_or_default().to_string(),
            packet_sha256: match root.optional("packet_sha256") {
                Some(_) => Some(root.sha256("packet_sha256")?),
                None => None,
            },
            schema_version: root.u32("schema_version")?,
            fingerprint: root.text("fingerprint")?.to_string(),
            created: root.text("created")?.to_string(),
            tables: Vec::new(),
        };
        for e in &elements[1..] {
            if e.depth != 1 || e.name != "table" {
                return Err(ManifestError::Invalid(format!(
                    "unexpected element <{}>",
                    e.name
                )));
            }
            let table = TableFile {
                id: e.u32("id")?,
                name: e.text("name")?.to_string(),
                path: e.relative_path("path")?,
                size: e.number("size", MAX_FILE_SIZE)?,
                sha256: e.sha256("sha256")?,
                rows: e.number("rows", MAX_SERIAL)?,
            };
            if manifest.tables.iter().any(|t| t.id == table.id) {
                return Err(ManifestError::Invalid(format!(
                    "table {} is listed twice",
                    table.id
                )));
            }
            manifest.tables.push(table);
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_escaping_paths() {
        let mut m = Manifest {
            serial: 4,
            feed: "0b0a7f4e-2c1d-4e5f-8a9b-0c1d2e3f4a5b".into(),
            packet_sha256: Some("cd".repeat(32)),
            schema_version: 1,
            fingerprint: "f".into(),
            created: "now".into(),
            tables: vec![TableFile {
                id: 1,
                name: "public.a".into(),
                path: "table-1.copy.gz".into(),
                size: 3,
                sha256: "0".repeat(64),
                rows: 2,
            }],
        };
        assert_eq!(Manifest::parse(&m.to_xml()).unwrap(), m);
        m.tables[0].path = "../x".into();
        assert!(Manifest::parse(&m.to_xml()).is_err());
    }

    #[test]
    fn refuses_what_it_used_to_truncate_or_replace() {
        let m = Manifest {
            serial: 4,
            feed: "0b0a7f4e-2c1d-4e5f-8a9b-0c1d2e3f4a5b".into(),
            packet_sha256: Some("cd".repeat(32)),
            schema_version: 1,
            fingerprint: "f".into(),
            created: "now".into(),
            tables: Vec::new(),
        };
        let xml = String::from_utf8(m.to_xml()).unwrap();
        let bad = [
            xml.replace("schema_version=\"1\"", "schema_version=\"4294967297\""),
            xml.replace("format=\"1\"", "format=\"2\""),
            xml.replace("serial=\"4\"", "serial=\"9223372036854775808\""),
            format!("{}<export format=\"1\" serial=\"9\"/>", xml.trim_end()),
            xml.replace("</export>", "<table id=\"4294967297\" name=\"a\" path=\"t\" size=\"1\" sha256=\"{}\" rows=\"1\"/></export>")
                .replace("{}", &"0".repeat(64)),
        ];
        for doc in bad {
            assert!(Manifest::parse(doc.as_bytes()).is_err(), "accepted: {doc}");
        }
    }
}
