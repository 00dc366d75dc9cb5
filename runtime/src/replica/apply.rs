//! `apply`: reads the index, then downloads, verifies and applies each packet after the
//! replica's position in serial order, each with its new position in one transaction, so a kill
//! at any instant never applies a change twice or skips one.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

use flate2::read::MultiGzDecoder;

use super::rows::{check_line, stage_line};
use super::{position, Replica};
use crate::codec::DecodeError;
use crate::def::{SchemaDef, TableDef};
use crate::error::{Context, Error, Result};
use crate::faults::crash_point;
use crate::index::Entry;
use crate::packet::PacketReader;
use crate::source::Source;
use crate::sql;

/// What one `apply` run did.
#[derive(Debug, Clone, Default)]
pub struct ApplySummary {
    pub packets: u64,
    pub rows: u64,
    pub from: u64,
    pub to: u64,
    pub seconds: f64,
    /// The newest packet the index lists, and when it was cut.
    pub newest: Option<u64>,
    pub newest_created: Option<String>,
}

/// What the next packet must name: the feed the replica follows and the sha256 of the packet
/// it applied last (when known).
struct Chain {
    feed: Option<String>,
    last_sha256: Option<String>,
}

impl Replica {
    /// Applies every packet the source lists after the replica's position, in serial order.
    /// `progress` is called after each packet with (applied so far, total pending).
    pub fn apply(
        &mut self,
        source: &Source,
        mut progress: impl FnMut(u64, u64, &Entry),
    ) -> Result<ApplySummary> {
        let started = Instant::now();
        let index = source.index()?;
        let position = self.position()?;
        let current = position.as_ref().map(|p| p.serial).unwrap_or(0);
        if let Some(p) = &position {
            self.check_schema(p.schema_version, &p.fingerprint, "the replica's position")?;
        }
        let feed = index.feed.as_ref().map(|f| f.id.clone());
        if let Some(followed) = position.as_ref().and_then(|p| p.feed.clone()) {
            if feed.as_deref() != Some(followed.as_str()) {
                return Err(Error::OtherFeed {
                    feed: source.describe(""),
                    followed,
                    found: feed,
                });
            }
        }
        // What the next packet must name as its feed and its predecessor.
        let mut chain = Chain {
            feed,
            last_sha256: position.as_ref().and_then(|p| p.last_sha256.clone()),
        };
        let newest = index.newest_serial();
        let mut summary = ApplySummary {
            from: current,
            to: current,
            newest,
            newest_created: index.packets.last().map(|p| p.timestamp.clone()),
            ..Default::default()
        };
        match newest {
            None => return Ok(summary),
            Some(newest) if newest < current => {
                return Err(Error::FeedBehindReplica {
                    replica: current,
                    newest,
                })
            }
            _ => {}
        }
        let pending: Vec<&Entry> = index
            .packets
            .iter()
            .filter(|p| p.serial > current)
            .collect();
        if let Some(first) = pending.first() {
            if first.serial != current + 1 {
                return Err(Error::TooFarBehind {
                    replica: current,
                    oldest: first.serial,
                    has_position: position.is_some(),
                });
            }
        }
        let total = pending.len() as u64;
        self.tally.start(pending.iter().map(|p| p.rows).sum());
        for (i, entry) in pending.into_iter().enumerate() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let rows = self.apply_entry(source, entry, &mut chain)?;
            summary.packets += 1;
            summary.rows += rows;
            summary.to = entry.serial;
            progress(i as u64 + 1, total, entry);
        }
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    /// Downloads one packet, checks its size and sha256, then applies it in one transaction.
    fn apply_entry(&mut self, source: &Source, entry: &Entry, chain: &mut Chain) -> Result<u64> {
        let file =
            source.fetch_verified(&entry.path, entry.size, &entry.sha256, self.work_dir.path())?;
        self.apply_file(file, entry, chain)
    }

    /// Applies a verified packet (an open file, read from where it is): everything, with the
    /// new position, or nothing.
    fn apply_file(&mut self, file: File, entry: &Entry, chain: &mut Chain) -> Result<u64> {
        let (schema, limits) = (self.schema, self.limits);
        let packet_err = |source| Error::Packet {
            serial: entry.serial,
            path: entry.path.clone(),
            source,
        };
        let gz = BufReader::with_capacity(1 << 20, MultiGzDecoder::new(BufReader::new(file)));
        let mut reader = PacketReader::new(gz, limits).map_err(packet_err)?;
        let header = reader.header().clone();
        let refuse = |reason: String| Error::PacketMismatch {
            serial: entry.serial,
            path: entry.path.clone(),
            reason,
        };
        if header.serial != entry.serial {
            return Err(refuse(format!(
                "its header says serial {}, but the index lists it as {}",
                header.serial, entry.serial
            )));
        }
        // The reader refuses a header whose previous is not below its serial (no overflow).
        if header.previous != header.serial - 1 {
            return Err(refuse(format!(
                "its header says it follows packet {}, not {}",
                header.previous,
                header.serial - 1
            )));
        }
        if let Some(feed) = &chain.feed {
            if !header.feed.is_empty() && header.feed != *feed {
                return Err(refuse(format!(
                    "its header names feed {}, but the index is feed {feed}",
                    header.feed
                )));
            }
        }
        if let (Some(named), Some(applied)) = (&header.previous_sha256, &chain.last_sha256) {
            if named != applied {
                return Err(refuse(format!(
                    "it follows a packet {} with sha256 {named}, but the replica applied packet {} with sha256 \
                     {applied}: the feed re-cut a serial with other contents; import the latest export",
                    header.previous, header.previous
                )));
            }
        }
        self.check_schema(
            header.schema_version,
            &header.fingerprint,
            &format!("packet {}", entry.serial),
        )?;

        let mut tx = super::begin(&mut self.client, schema, self.mode)?;
        let at = position::lock(&mut tx)?.unwrap_or(0);
        if at >= entry.serial {
            return Err(Error::AlreadyApplied {
                serial: entry.serial,
                path: entry.path.clone(),
                at,
            });
        }
        if at + 1 != entry.serial {
            return Err(Error::OutOfOrder {
                serial: entry.serial,
                path: entry.path.clone(),
                at,
            });
        }

        let mut staged: HashSet<u32> = HashSet::new();
        let mut order: Vec<&'static TableDef> = Vec::new();
        let mut rows = 0u64;
        let mut line_buf: Vec<u8> = Vec::with_capacity(4096);
        let tally = std::sync::Arc::clone(&self.tally);
        let mut read =
            |line_buf: &mut Vec<u8>| next_staged_line(schema, entry, &mut reader, line_buf);
        // One COPY per run of lines of one table; statements run only between COPYs.
        let mut next = read(&mut line_buf)?;
        while let Some(table) = next {
            if staged.insert(table.id) {
                tx.batch_execute(&sql::for_table("stage", table))
                    .context(|| format!("cannot prepare staging for {}", table.display_name()))?;
                order.push(table);
            }
            let mut writer = tx
                .copy_in(&sql::for_table("stage_copy", table))
                .context(|| format!("cannot stage the rows of {}", table.display_name()))?;
            loop {
                writer.write_all(&line_buf).map_err(|e| Error::RowRefused {
                    what: format!("packet {}", entry.serial),
                    reason: e.to_string(),
                })?;
                rows += 1;
                tally.add(1, line_buf.len() as u64);
                next = read(&mut line_buf)?;
                if next.map(|t| t.id) != Some(table.id) {
                    break;
                }
            }
            writer.finish().map_err(|source| Error::Db {
                context: format!(
                    "packet {}: cannot stage the rows of {}",
                    entry.serial,
                    table.display_name()
                ),
                source,
            })?;
        }
        crash_point("apply-staged");
        for table in order {
            tx.batch_execute(&sql::for_table("merge", table))
                .map_err(|source| Error::Db {
                    context: format!(
                        "packet {}: cannot apply the rows of {}",
                        entry.serial,
                        table.display_name()
                    ),
                    source,
                })?;
        }
        // A format 1 packet names no feed: the replica keeps following the index's.
        let feed = (!header.feed.is_empty())
            .then(|| header.feed.clone())
            .or_else(|| chain.feed.clone());
        position::set(
            &mut tx,
            &position::Update {
                serial: entry.serial,
                schema_version: header.schema_version,
                fingerprint: &header.fingerprint,
                created: &header.created,
                feed: feed.as_deref(),
                last_sha256: Some(&entry.sha256),
                imported: false,
            },
        )?;
        crash_point("apply-before-commit");
        tx.commit()
            .context(|| format!("cannot commit packet {}", entry.serial))?;
        crash_point("apply-after-commit");
        chain.last_sha256 = Some(entry.sha256.clone());
        Ok(rows)
    }
}

/// Reads the next data line, checks it through the codec and writes its staging form into
/// `out`; `None` after the trailer.
fn next_staged_line<R: BufRead>(
    schema: &'static SchemaDef,
    entry: &Entry,
    reader: &mut PacketReader<R>,
    out: &mut Vec<u8>,
) -> Result<Option<&'static TableDef>> {
    let mut fields = Vec::new();
    let line = match reader.next_line(&mut fields) {
        Ok(Some(line)) => line,
        Ok(None) => return Ok(None),
        Err(source) => {
            return Err(Error::Packet {
                serial: entry.serial,
                path: entry.path.clone(),
                source,
            })
        }
    };
    let line_no = line.line_no;
    let decode_err = |source: DecodeError| Error::Decode {
        serial: entry.serial,
        path: entry.path.clone(),
        source: Box::new(source.with_line(line_no)),
    };
    let table = schema.table(line.table_id).ok_or_else(|| {
        decode_err(DecodeError::new(format!(
            "unknown table id {}",
            line.table_id
        )))
    })?;
    check_line(table, line.op, line.values)
        .map_err(|e| decode_err(e.with_table(table.display_name())))?;
    out.clear();
    stage_line(table, line.op, line.values, out);
    Ok(Some(table))
}
