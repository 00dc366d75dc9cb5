//! Golden test of what a fixed workload publishes: the packets' text and index.xml, with only
//! the instants (creation times, change timestamps) and what depends on them (sizes, sha256s)
//! masked. Data lines are sorted: the format fixes no order within a table.
//! `REPLGEN_BLESS=1 cargo test --test golden_packets` rewrites the expected files.

mod common;

use std::io::Read;

use common::{feed, Env};

fn mask_packet(text: &str) -> String {
    let mut header = Vec::new();
    let mut data = Vec::new();
    for line in text.lines() {
        if line.starts_with("# created ") {
            header.push("# created <instant>".to_string());
        } else if line.starts_with("# feed ") {
            header.push("# feed <feed identity>".to_string());
        } else if line.starts_with("# previous_sha256 ") && line != "# previous_sha256 -" {
            header.push("# previous_sha256 <sha256>".to_string());
        } else if line.starts_with('#') {
            header.push(line.to_string());
        } else {
            let mut fields: Vec<&str> = line.split('\t').collect();
            fields[2] = "<ts>";
            data.push(fields.join("\t"));
        }
    }
    let trailer = header.pop().expect("a trailer");
    data.sort();
    let mut out = header.join("\n");
    out.push('\n');
    for line in data {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&trailer);
    out.push('\n');
    out
}

fn mask_index(xml: &str) -> String {
    let mut out = String::new();
    for line in xml.lines() {
        let mut line = line.to_string();
        for attr in ["timestamp", "size", "sha256", "feed", "created"] {
            if line.contains(&format!(" {attr}=\"")) {
                line = feed::with_attr(&line, attr, "*");
            }
        }
        // Packet names carry their creation time.
        if let Some(start) = line.find("-2026").or_else(|| line.find("-20")) {
            if let Some(len) = line[start..].find("Z.gz") {
                line.replace_range(start + 1..start + len + 1, "<instant>");
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn check(name: &str, actual: &str) {
    let path = common::root().join("tests/golden").join(name);
    if std::env::var_os("REPLGEN_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "{name} differs from the golden file (REPLGEN_BLESS=1 to accept)"
    );
}

#[test]
fn a_fixed_workload_publishes_the_expected_packets_and_index() {
    let env = Env::new("golden");
    common::psql_file(
        &env.master,
        &common::root().join("tests/golden/workload.sql"),
    );
    env.dump();
    common::psql_file(
        &env.master,
        &common::root().join("tests/golden/workload-2.sql"),
    );
    env.dump();
    for serial in [1, 2] {
        let mut text = String::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(feed::packet_file(env.feed.path(), serial)).unwrap(),
        )
        .read_to_string(&mut text)
        .unwrap();
        check(&format!("packet-{serial}.txt"), &mask_packet(&text));
    }
    check("index.xml", &mask_index(&feed::index(env.feed.path())));
    env.apply();
    env.assert_identical();
}
