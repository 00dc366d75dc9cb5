//! `status`: the replica's position and, with a feed, how far behind it is.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::replica::Replica;
use crate::source::Source;
use crate::timefmt;

use super::say::say;

/// `status --json`: one object, every field present (null when unknown).
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    serial: Option<u64>,
    schema_version: Option<u32>,
    packet_created: Option<&'a str>,
    applied_at: Option<&'a str>,
    newest_serial: Option<u64>,
    newest_created: Option<&'a str>,
    packets_behind: Option<u64>,
    seconds_behind: Option<f64>,
    /// Now (this machine's clock) minus the creation time of what the replica last applied.
    seconds_behind_now: Option<f64>,
    /// The position was set by an import: `packet_created` is the export's time.
    imported: Option<bool>,
}

/// Prints the status; with `max_lag`, fails (exit 1) when the replica is further behind.
pub(super) fn print(
    db: &str,
    from: Option<&Source>,
    json: bool,
    max_lag: Option<Duration>,
) -> Result<()> {
    let position = Replica::position_of(db)?;
    let index = match from {
        Some(source) => {
            let index = source.index()?;
            crate::replica::check_signed_index(source, &index, position.as_ref(), false)?;
            // Another feed's index says nothing of this replica: it would look caught up.
            crate::replica::check_followed_feed(source, &index, position.as_ref())?;
            // A feed behind the replica (rolled back) would look caught up too.
            crate::replica::check_feed_not_behind(&index, position.as_ref())?;
            Some(index)
        }
        None => None,
    };
    let newest = index.as_ref().and_then(|i| i.packets.last().cloned());
    let serial = position.as_ref().map(|p| p.serial);
    let behind = newest
        .as_ref()
        .map(|n| n.serial.saturating_sub(serial.unwrap_or(0)));
    let seconds_behind = match (&position, &newest) {
        (Some(p), Some(n)) => match (
            timefmt::parse_epoch(&n.timestamp),
            timefmt::parse_epoch(&p.packet_created),
        ) {
            (Some(a), Some(b)) => Some((a - b).max(0.0)),
            _ => None,
        },
        _ => None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let seconds_behind_now = position
        .as_ref()
        .and_then(|p| timefmt::parse_epoch(&p.packet_created))
        .map(|created| (now - created).max(0.0));
    if json {
        let report = StatusJson {
            serial,
            schema_version: position.as_ref().map(|p| p.schema_version),
            packet_created: position.as_ref().map(|p| p.packet_created.as_str()),
            applied_at: position.as_ref().map(|p| p.applied_at.as_str()),
            newest_serial: newest.as_ref().map(|n| n.serial),
            newest_created: newest.as_ref().map(|n| n.timestamp.as_str()),
            packets_behind: behind,
            seconds_behind: seconds_behind.map(|s| (s * 1000.0).round() / 1000.0),
            seconds_behind_now: seconds_behind_now.map(|s| (s * 1000.0).round() / 1000.0),
            imported: position.as_ref().map(|p| p.imported),
        };
        let text = serde_json::to_string(&report).expect("a status serializes");
        say!("{text}");
    } else {
        print_text(
            position.as_ref(),
            index.as_ref(),
            seconds_behind,
            seconds_behind_now,
        );
    }
    let Some(max) = max_lag else { return Ok(()) };
    // Behind the feed when it is known (0 when caught up), else behind this machine's clock.
    let (lag, behind_what) = match (&index, behind) {
        (Some(_), Some(0)) => (0.0, "the newest packet"),
        (Some(_), Some(_)) => (seconds_behind.unwrap_or(f64::INFINITY), "the newest packet"),
        _ => (seconds_behind_now.unwrap_or(f64::INFINITY), "now"),
    };
    let max_text = format!("{max:?}");
    let Some(p) = position.as_ref() else {
        return Err(Error::LagBeyond {
            behind: "without a position (nothing imported or applied yet)".into(),
            serial: 0,
            max: max_text,
        });
    };
    if lag > max.as_secs_f64() {
        return Err(Error::LagBeyond {
            behind: format!("{lag:.1} s behind {behind_what}"),
            serial: p.serial,
            max: max_text,
        });
    }
    Ok(())
}

fn print_text(
    position: Option<&crate::replica::Position>,
    index: Option<&crate::index::Index>,
    seconds_behind: Option<f64>,
    seconds_behind_now: Option<f64>,
) {
    let newest = index.and_then(|i| i.packets.last());
    let behind = newest.map(|n| {
        n.serial
            .saturating_sub(position.map(|p| p.serial).unwrap_or(0))
    });
    match position {
        Some(p) => say!(
            "replica at packet {} (schema_version {}), packet created {}{}, applied {}{}",
            p.serial,
            p.schema_version,
            p.packet_created,
            if p.imported {
                format!(
                    " (the export's time: the replica imported export {} and has applied no packet since)",
                    p.serial
                )
            } else {
                String::new()
            },
            p.applied_at,
            seconds_behind_now
                .map(|s| format!("; {s:.1} s behind now"))
                .unwrap_or_default()
        ),
        None => say!("replica has no position yet (import an export, or apply from packet 1)"),
    }
    if let Some(index) = index {
        match newest {
            Some(n) => say!(
                "feed: newest packet {} created {}; {} packets behind{}",
                n.serial,
                n.timestamp,
                behind.unwrap_or(0),
                seconds_behind
                    .map(|s| format!(", {s:.1} s behind the newest packet"))
                    .unwrap_or_default()
            ),
            None => say!("feed: no packets listed"),
        }
        if let Some(export) = &index.export {
            say!(
                "feed: latest export {} created {}",
                export.serial,
                export.timestamp
            );
        }
    }
}
