//! Table shapes measured besides the example mirror's 17-column `artist` (tables.sql): the
//! narrow 10-column `artist` of bench/narrow (integer primary key, no other index), with its own
//! generated capture and mirror binary (`bench-narrow`, a bin of this crate).

use postgres::Client;
use replgen_testkit::Cluster;

use crate::util;

/// The narrow artist's columns, in table order: MusicBrainz's `artist` without its dates,
/// `gender`, `ended` and the extras of the 17-column shape.
pub const NARROW_COLUMNS: &str = "id, gid, name, sort_name, begin_date_year, type, area, comment, \
     edits_pending, last_updated";

/// An INSERT ... SELECT of narrow artists with ids `from..=to` into `table`, the same values as
/// [`util::insert_artists`] gives those columns (about 120 bytes of COPY text per row).
pub fn insert_narrow(table: &str, from: u64, to: u64) -> String {
    format!(
        "INSERT INTO {table} ({NARROW_COLUMNS}) \
         SELECT g, md5('artist' || g)::uuid, \
                'Artist ' || g || CASE WHEN g % 7 = 0 THEN ' & The Band' ELSE '' END, \
                'Artist, ' || g, CASE WHEN g % 5 <> 0 THEN 1940 + g % 80 END, \
                1 + g % 6, CASE WHEN g % 3 <> 0 THEN g % 5000 END, \
                CASE WHEN g % 5 = 0 THEN 'UK rock band, formed ' || (1950 + g % 70) ELSE '' END, g % 3, \
                timestamptz '2024-01-01 00:00:00+00' + g * interval '17 seconds' \
         FROM generate_series({from}::bigint, {to}::bigint) g"
    )
}

/// The narrow shape: bench/narrow and its `bench-narrow` binary.
pub const NARROW: util::Shape = util::Shape {
    dir: "bench/narrow",
    mirror: narrow_mirror,
};

/// A database with the narrow table, optionally with its generated capture installed.
pub fn narrow_database(cluster: &Cluster, name: &str, capture: bool) -> (String, Client) {
    NARROW.database(cluster, name, capture)
}

/// The narrow shape's release mirror binary.
pub fn narrow_mirror(args: &[&str]) -> std::process::Command {
    let mut cmd =
        std::process::Command::new(util::release_binary_of("replgen-bench", "bench-narrow"));
    cmd.args(args).env("RUST_LOG", "warn");
    cmd
}

/// The 293-table MusicBrainz-like shape: bench/mb (written by bench/mb/gen.rs) and its
/// `bench-mb` binary.
pub const MB: util::Shape = util::Shape {
    dir: "bench/mb",
    mirror: mb_mirror,
};

/// The 293-table shape's release mirror binary.
pub fn mb_mirror(args: &[&str]) -> std::process::Command {
    // Another build's binary (say, the previous commit's, for a before/after comparison).
    let binary = std::env::var_os("REPLGEN_BENCH_MB_MIRROR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| util::release_binary_of("replgen-bench", "bench-mb"));
    let mut cmd = std::process::Command::new(binary);
    cmd.args(args).env("RUST_LOG", "warn");
    cmd
}
