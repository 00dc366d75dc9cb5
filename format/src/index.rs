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
use quick_xml::Writer;

use crate::packet::MAX_SERIAL;
use crate::xml::{self, XmlError};

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
    /// The feed's identity and when the feed began (absent in an index of an older dumper).
    pub feed: Option<FeedInfo>,
    /// When this index was written (RFC 3339, UTC): what `--max-age` measures on a signed feed.
    pub published: Option<String>,
    /// Sorted by serial, contiguous.
    pub packets: Vec<Entry>,
    pub export: Option<Entry>,
}

/// Which feed an index belongs to: replicas record the identity and refuse another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedInfo {
    pub id: String,
    /// When the feed began (RFC 3339, UTC).
    pub created: String,
}

/// The largest file size an index or manifest may list (sizes are stored as `bigint`).
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("index.xml is not valid XML: {0}")]
    Xml(String),
    #[error("index.xml: {0}")]
    Invalid(String),
}

impl From<XmlError> for IndexError {
    fn from(e: XmlError) -> Self {
        match e {
            XmlError::Syntax(why) => IndexError::Xml(why),
            XmlError::Invalid(why) => IndexError::Invalid(why),
        }
    }
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
        if let Some(feed) = &self.feed {
            root.push_attribute(("feed", feed.id.as_str()));
            root.push_attribute(("created", feed.created.as_str()));
        }
        if let Some(published) = &self.published {
            root.push_attribute(("published", published.as_str()));
        }
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
        let elements = xml::elements(xml)?;
        let Some(root) = elements.first().filter(|e| e.name == "replication") else {
            return Err(IndexError::Invalid("no <replication> element".into()));
        };
        root.check_format("1")?;
        let mut index = Index::default();
        if let Some(id) = root.optional("feed") {
            if !crate::packet::is_feed_id(id) {
                return Err(IndexError::Invalid(format!(
                    "feed=\"{id}\" is not a feed identity"
                )));
            }
            index.feed = Some(FeedInfo {
                id: id.to_string(),
                created: root.text("created")?.to_string(),
            });
        }
        index.published = root.optional("published").map(str::to_string);
        for e in &elements[1..] {
            if e.depth != 1 {
                return Err(IndexError::Invalid(format!(
                    "unexpected nested element <{}>",
                    e.name
                )));
            }
            match e.name.as_str() {
                "packet" => index.packets.push(parse_entry(e, 1)?),
                "export" => {
                    if index.export.is_some() {
                        return Err(IndexError::Invalid("more than one <export>".into()));
                    }
                    index.export = Some(parse_entry(e, 0)?)
                }
                other => return Err(IndexError::Invalid(format!("unexpected element <{other}>"))),
            }
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

/// One `<packet>` or `<export>`. Packets start at serial 1; an export may be at 0, the state
/// before a feed's first packet (exported right after `install`).
fn parse_entry(e: &xml::Element, min_serial: u64) -> Result<Entry, IndexError> {
    let serial = e.number("serial", MAX_SERIAL)?;
    if serial < min_serial {
        return Err(IndexError::Invalid(format!(
            "<{}> serial {serial} is out of range",
            e.name
        )));
    }
    Ok(Entry {
        serial,
        path: e.relative_path("path")?,
        timestamp: e.text("timestamp")?.to_string(),
        size: e.number("size", MAX_FILE_SIZE)?,
        sha256: e.sha256("sha256")?,
        schema_version: e.u32("schema_version")?,
        rows: e.number("rows", MAX_SERIAL)?,
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
            feed: Some(FeedInfo {
                id: "0b0a7f4e-2c1d-4e5f-8a9b-0c1d2e3f4a5b".into(),
                created: "2026-11-28T15:00:00.000000Z".into(),
            }),
            published: Some("2026-11-28T16:00:00.000000Z".into()),
        };
        assert_eq!(Index::parse(&index.to_xml()).unwrap(), index);
    }

    #[test]
    fn refuses_gaps_duplicates_and_escaping_paths() {
        let gap = Index {
            packets: vec![entry(1), entry(3)],
            export: None,
            feed: None,
            published: None,
        };
        assert!(Index::parse(&gap.to_xml())
            .unwrap_err()
            .to_string()
            .contains("gap"));
        let twice = Index {
            packets: vec![entry(2), entry(2)],
            export: None,
            feed: None,
            published: None,
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
                feed: None,
                published: None,
            };
            assert!(Index::parse(&index.to_xml()).is_err(), "{path} accepted");
        }
        assert!(Index::parse(b"<html/>").is_err());
        assert!(Index::parse(b"<replication><packet serial=\"x\"/></replication>").is_err());
    }

    #[test]
    fn reads_an_export_at_serial_0_but_no_packet_0() {
        let at_zero = Index {
            packets: vec![],
            export: Some(entry(0)),
            feed: None,
            published: None,
        };
        assert_eq!(Index::parse(&at_zero.to_xml()).unwrap(), at_zero);
        let packet_zero = Index {
            packets: vec![entry(0)],
            export: None,
            feed: None,
            published: None,
        };
        assert!(Index::parse(&packet_zero.to_xml()).is_err());
    }

    #[test]
    fn refuses_out_of_range_numbers_instead_of_truncating_them() {
        let mut e = entry(1);
        e.serial = 1 << 63;
        let too_big_serial = Index {
            packets: vec![e],
            export: None,
            feed: None,
            published: None,
        };
        assert!(Index::parse(&too_big_serial.to_xml())
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        let mut e = entry(1);
        e.size = u64::MAX;
        let too_big_size = Index {
            packets: vec![e],
            export: None,
            feed: None,
            published: None,
        };
        assert!(Index::parse(&too_big_size.to_xml()).is_err());
        let xml = String::from_utf8(
            Index {
                packets: vec![entry(1)],
                export: None,
                feed: None,
                published: None,
            }
            .to_xml(),
        )
        .unwrap()
        .replace("schema_version=\"1\"", "schema_version=\"4294967297\"");
        assert!(Index::parse(xml.as_bytes()).is_err());
    }
}
