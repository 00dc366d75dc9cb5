//! Tampering with copies of a feed: rewrite a packet's text, fix or break the index.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn index(feed: &Path) -> String {
    std::fs::read_to_string(feed.join("index.xml")).unwrap()
}

pub fn set_index(feed: &Path, xml: &str) {
    std::fs::write(feed.join("index.xml"), xml).unwrap();
}

/// The `<packet .../>` element of `serial` in the index text.
pub fn packet_element(xml: &str, serial: u64) -> String {
    let start = xml
        .find(&format!("<packet serial=\"{serial}\""))
        .unwrap_or_else(|| panic!("packet {serial} not listed"));
    let end = start + xml[start..].find("/>").unwrap() + 2;
    xml[start..end].to_string()
}

pub fn attr(element: &str, name: &str) -> String {
    let start = element.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
    element[start..start + element[start..].find('"').unwrap()].to_string()
}

pub fn with_attr(element: &str, name: &str, value: &str) -> String {
    let old = format!(" {name}=\"{}\"", attr(element, name));
    element.replace(&old, &format!(" {name}=\"{value}\""))
}

pub fn packet_file(feed: &Path, serial: u64) -> PathBuf {
    feed.join(attr(&packet_element(&index(feed), serial), "path"))
}

/// Makes the index list the packet file's current size and sha256 (so only deeper checks can
/// catch what was changed).
pub fn relist(feed: &Path, serial: u64) {
    let bytes = std::fs::read(packet_file(feed, serial)).unwrap();
    let xml = index(feed);
    let old = packet_element(&xml, serial);
    let new = with_attr(
        &with_attr(&old, "size", &bytes.len().to_string()),
        "sha256",
        &hex::encode(sha2::Sha256::digest(&bytes)),
    );
    set_index(feed, &xml.replace(&old, &new));
}

/// Rewrites packet `serial`'s decompressed text and relists it.
pub fn rewrite_packet(feed: &Path, serial: u64, edit: impl FnOnce(String) -> String) {
    let path = packet_file(feed, serial);
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(edit(text).as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    relist(feed, serial);
}

/// Replaces the first data line that `pick` accepts with `edit(line)`.
pub fn edit_first_line(
    text: String,
    pick: impl Fn(&[&str]) -> bool,
    edit: impl FnOnce(Vec<String>) -> Vec<String>,
) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let i = lines
        .iter()
        .position(|l| !l.starts_with('#') && pick(&l.split('\t').collect::<Vec<_>>()))
        .expect("a line to edit");
    let fields = lines[i].split('\t').map(str::to_string).collect();
    lines[i] = edit(fields).join("\t");
    lines.join("\n") + "\n"
}
