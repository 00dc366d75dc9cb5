//! `index.xml`: the feed's list of recent packets and its latest full export. Replicas discover
//! packets only through it; the dumper rewrites it whole (temporary file, fsync, rename).
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <replication format="1">
//!   <packet serial="41" path="packets/000/000/replication-000000041-20261128T150000Z.gz"
//!           timestamp="2026-11-28T15:00:00.123456Z" size="1234" sha256="..." schema_version="1" rows="17"/>
//!   <export serial="40" path="exports/export-000000040-20261128T140000Z/manifest.xml"
//!           timestamp="..." size="..." sha256="..." schema_version="1" rows="123456"/>
//! </replication>
//! ```

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};
use quick_xml::{Reader, Writer};

/// One published file: a packet, or an export's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub serial: u64,
    /// Relative to the feed's root; never absolute, never climbing out.
    pub path: String,
    pub timestamp: String,
    pub size: u64,
    pub sha256: String,
    pub schema_version: u32,
    pub rows: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// Sorted by serial, contiguous.
    pub packets: Vec<Entry>,
    pub export: Option<Entry>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index.xml is not valid XML: {0}")]
    Xml(String),
    #[error("index.xml: {0}")]
    Invalid(String),
}

impl Index {
    pub fn to_xml(&self) -> Vec<u8> {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        let write =
            |w: &mut Writer<Vec<u8>>, e: Event| w.write_event(e).expect("writing to memory");
        write(
            &mut writer,
            Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
        );
        let mut root = BytesStart::new("replication");
        root.push_attribute(("format", "1"));
        write(&mut writer, Event::Start(root));
        for entry in &self.packets {
            write(&mut writer, Event::Empty(entry_element("packet", entry)));
        }
        if let Some(export) = &self.export {
            write(&mut writer, Event::Empty(entry_element("export", export)));
        }
        write(&mut writer, Event::End(BytesEnd::new("replication")));
        let mut out = writer.into_inner();
        out.push(b'\n');
        out
    }

    /// Parses and checks an index: valid paths, unique contiguous serials, well-formed fields.
    pub fn parse(xml: &[u8]) -> Result<Index, IndexError> {
        let text = std::str::from_utf8(xml).map_err(|_| IndexError::Xml("not UTF-8".into()))?;
        let mut reader = Reader::from_str(text);
        let mut index = Index::default();
        let mut saw_root = false;
        loop {
            match reader
                .read_event()
                .map_err(|e| IndexError::Xml(e.to_string()))?
            {
                Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                    b"replication" => {
                        saw_root = true;
                        let attrs = attributes(&e)?;
                        if let Some(format) = attrs.iter().find(|(k, _)| k == "format") {
                            if format.1 != "1" {
                                return Err(IndexError::Invalid(format!(
                                    "unsupported index format {}",
                                    format.1
                                )));
                            }
                        }
                    }
                    b"packet" => index.packets.push(parse_entry("packet", &e)?),
                    b"export" => {
                        if index.export.is_some() {
                            return Err(IndexError::Invalid("more than one <export>".into()));
                        }
                        index.export = Some(parse_entry("export", &e)?)
                    }
                    other => {
                        return Err(IndexError::Invalid(format!(
                            "unexpected element <{}>",
                            String::from_utf8_lossy(other)
                        )))
                    }
                },
                Event::Eof => break,
                _ => {}
            }
        }
        if !saw_root {
            return Err(IndexError::Invalid("no <replication> element".into()));
        }
        index.packets.sort_by_key(|p| p.serial);
        for pair in index.packets.windows(2) {
            if pair[1].serial == pair[0].serial {
                return Err(IndexError::Invalid(format!(
                    "packet {} is listed twice",
                    pair[0].serial
                )));
            }
            if pair[1].serial != pair[0].serial + 1 {
                return Err(IndexError::Invalid(format!(
                    "gap in the listed packets: {} is followed by {}",
                    pair[0].serial, pair[1].serial
                )));
            }
        }
        Ok(index)
    }

    pub fn newest_serial(&self) -> Option<u64> {
        self.packets.last().map(|p| p.serial)
    }
}

fn entry_element<'a>(name: &'a str, entry: &Entry) -> BytesStart<'a> {
    let mut e = BytesStart::new(name);
    e.push_attribute(("serial", entry.serial.to_string().as_str()));
    e.push_attribute(("path", entry.path.as_str()));
    e.push_attribute(("timestamp", entry.timestamp.as_str()));
    e.push_attribute(("size", entry.size.to_string().as_str()));
    e.push_attribute(("sha256", entry.sha256.as_str()));
    e.push_attribute(("schema_version", entry.schema_version.to_string().as_str()));
    e.push_attribute(("rows", entry.rows.to_string().as_str()));
    e
}

fn attributes(e: &BytesStart) -> Result<Vec<(String, String)>, IndexError> {
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| IndexError::Xml(err.to_string()))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|err| IndexError::Xml(err.to_string()))?
            .into_owned();
        out.push((key, value));
    }
    Ok(out)
}

fn parse_entry(kind: &str, e: &BytesStart) -> Result<Entry, IndexError> {
    let attrs = attributes(e)?;
    let get = |name: &str| -> Result<&str, IndexError> {
        attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| IndexError::Invalid(format!("a <{kind}> lacks its {name} attribute")))
    };
    let number = |name: &str| -> Result<u64, IndexError> {
        let text = get(name)?;
        text.parse::<u64>()
            .map_err(|_| IndexError::Invalid(format!("<{kind}> {name}=\"{text}\" is not a number")))
    };
    let serial = number("serial")?;
    let path = get("path")?.to_string();
    check_relative_path(&path)
        .map_err(|why| IndexError::Invalid(format!("<{kind} serial=\"{serial}\">: {why}")))?;
    let sha256 = get("sha256")?.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IndexError::Invalid(format!(
            "<{kind} serial=\"{serial}\"> has an invalid sha256"
        )));
    }
    Ok(Entry {
        serial,
        path,
        timestamp: get("timestamp")?.to_string(),
        size: number("size")?,
        sha256,
        schema_version: u32::try_from(number("schema_version")?).map_err(|_| {
            IndexError::Invalid(format!(
                "<{kind} serial=\"{serial}\"> has an invalid schema_version"
            ))
        })?,
        rows: number("rows")?,
    })
}

/// A path from an index must stay inside the feed: relative, no `..`, no odd characters.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.len() > 1024 {
        return Err("its path is empty or too long".into());
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err(format!(
            "the path `{path}` is absolute; paths must be relative to the feed's root"
        ));
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "the path `{path}` climbs out of the feed or has an empty segment"
            ));
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(format!(
                "the path `{path}` has characters other than letters, digits, `.`, `_` and `-`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(serial: u64) -> Entry {
        Entry {
            serial,
            path: format!("packets/000/000/replication-{serial:09}-20261128T150000Z.gz"),
            timestamp: "2026-11-28T15:00:00.000000Z".into(),
            size: 10,
            sha256: "ab".repeat(32),
            schema_version: 1,
            rows: 3,
        }
    }

    #[test]
    fn round_trips() {
        let index = Index {
            packets: vec![entry(1), entry(2)],
            export: Some(entry(1)),
        };
        assert_eq!(Index::parse(&index.to_xml()).unwrap(), index);
    }

    #[test]
    fn refuses_gaps_duplicates_and_escaping_paths() {
        let gap = Index {
            packets: vec![entry(1), entry(3)],
            export: None,
        };
        assert!(Index::parse(&gap.to_xml())
            .unwrap_err()
            .to_string()
            .contains("gap"));
        let twice = Index {
            packets: vec![entry(2), entry(2)],
            export: None,
        };
        assert!(Index::parse(&twice.to_xml())
            .unwrap_err()
            .to_string()
            .contains("twice"));
        for path in ["../x.gz", "/etc/passwd", "a/../../b", "http://x/y", "a//b"] {
            let mut e = entry(1);
            e.path = path.into();
            let index = Index {
                packets: vec![e],
                export: None,
            };
            assert!(Index::parse(&index.to_xml()).is_err(), "{path} accepted");
        }
        assert!(Index::parse(b"<html/>").is_err());
        assert!(Index::parse(b"<replication><packet serial=\"x\"/></replication>").is_err());
    }
}
