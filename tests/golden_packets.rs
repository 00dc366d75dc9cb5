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
        for attr in [
            "timestamp",
            "size",
            "sha256",
            "feed",
            "created",
            "published",
        ] {
            if line.contains(&format!(" {attr}=\"")) {
                line = feed::with_attr(&line, attr, "*");
            }
        }
        // Packet names carry their creation time.
        if line.contains("<packet ") {
            let path = feed::attr(&line, "path");
            line = line.replace(&path, &mask_packet_path(&path));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `packets/AAA/BBB/replication-<serial 9 digits>-<YYYYMMDDTHHMMSSZ>.gz` (docs/design.md), with
/// the UTC time replaced by `<instant>`; any other name fails the test.
fn mask_packet_path(path: &str) -> String {
    let malformed =
        || -> ! { panic!("{path}: not packets/AAA/BBB/replication-<serial>-<UTC time>.gz") };
    let Some(rest) = path.strip_prefix("packets/") else {
        malformed()
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let [aaa, bbb, name] = parts[..] else {
        malformed()
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let Some((serial, time)) = name
        .strip_prefix("replication-")
        .and_then(|n| n.strip_suffix(".gz"))
        .and_then(|n| n.split_once('-'))
    else {
        malformed()
    };
    let utc_time = time.len() == 16
        && digits(&time[..8], 8)
        && &time[8..9] == "T"
        && digits(&time[9..15], 6)
        && &time[15..] == "Z";
    if !(digits(aaa, 3) && digits(bbb, 3) && digits(serial, 9) && utc_time) {
        malformed()
    }
    let n: u64 = serial.parse().unwrap();
    assert_eq!(
        (aaa, bbb),
        (
            format!("{:03}", n / 1_000_000).as_str(),
            format!("{:03}", n / 1000 % 1000).as_str()
        ),
        "{path}: folders of serial {n}"
    );
    format!("packets/{aaa}/{bbb}/replication-{serial}-<instant>.gz")
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
        flate2::read::MultiGzDecoder::new(
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
