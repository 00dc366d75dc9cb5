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
use quick_xml::{Reader, Writer};

use crate::index::check_relative_path;

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

    pub fn parse(xml: &[u8]) -> Result<Manifest, String> {
        let text = std::str::from_utf8(xml).map_err(|_| "manifest.xml is not UTF-8".to_string())?;
        let mut reader = Reader::from_str(text);
        let mut manifest: Option<Manifest> = None;
        loop {
            match reader
                .read_event()
                .map_err(|e| format!("manifest.xml is not valid XML: {e}"))?
            {
                Event::Start(e) | Event::Empty(e) => {
                    let attrs = attrs(&e)?;
                    let get = |name: &str| {
                        attrs
                            .iter()
                            .find(|(k, _)| k == name)
                            .map(|(_, v)| v.clone())
                            .ok_or_else(|| {
                                format!(
                                    "manifest.xml: <{}> lacks {name}",
                                    String::from_utf8_lossy(e.name().as_ref())
                                )
                            })
                    };
                    let num = |name: &str| -> Result<u64, String> {
                        get(name)?
                            .parse()
                            .map_err(|_| format!("manifest.xml: {name} is not a number"))
                    };
                    match e.name().as_ref() {
                        b"export" => {
                            manifest = Some(Manifest {
                                serial: num("serial")?,
                                schema_version: num("schema_version")? as u32,
                                fingerprint: get("fingerprint")?,
                                created: get("created")?,
                                tables: Vec::new(),
                            })
                        }
                        b"table" => {
                            let m = manifest
                                .as_mut()
                                .ok_or("manifest.xml: <table> outside <export>")?;
                            let path = get("path")?;
                            check_relative_path(&path).map_err(|e| format!("manifest.xml: {e}"))?;
                            let sha256 = get("sha256")?;
                            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit())
                            {
                                return Err("manifest.xml: a table has an invalid sha256".into());
                            }
                            m.tables.push(TableFile {
                                id: num("id")? as u32,
                                name: get("name")?,
                                path,
                                size: num("size")?,
                                sha256: sha256.to_ascii_lowercase(),
                                rows: num("rows")?,
                            });
                        }
                        other => {
                            return Err(format!(
                                "manifest.xml: unexpected <{}>",
                                String::from_utf8_lossy(other)
                            ))
                        }
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        manifest.ok_or_else(|| "manifest.xml has no <export> element".into())
    }
}

fn attrs(e: &BytesStart) -> Result<Vec<(String, String)>, String> {
    e.attributes()
        .map(|a| {
            let a = a.map_err(|e| e.to_string())?;
            let v = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
            Ok((String::from_utf8_lossy(a.key.as_ref()).into_owned(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_escaping_paths() {
        let mut m = Manifest {
            serial: 4,
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
}
