//! What a restarted dumper finishes: packets and exports that committed but were still under
//! their temporary names when a process died are published; anything of a cut that never
//! committed is removed (in object storage: objects uploaded under their final names by a cut
//! or export that never committed); the index is rewritten from the database.

use std::collections::HashSet;

use super::{export::EXPORTS_KEPT, Master};
use crate::db::{self, LOCK_CUT};
use crate::error::{Context, Error, Result};
use crate::feed::durable;
use crate::manifest::Manifest;

impl Master {
    /// Finishes what a killed dumper left, then rewrites the index. Under the cut lock, so that
    /// nothing a running cut has staged but not yet committed is taken for a leftover.
    pub fn recover(&mut self) -> Result<()> {
        db::lock(&mut self.client, LOCK_CUT)?;
        let result = self.recover_locked();
        let unlock = db::unlock(&mut self.client, LOCK_CUT);
        result?;
        unlock
    }

    fn recover_locked(&mut self) -> Result<()> {
        let rows = self
            .client
            .query(
                "SELECT serial, path, sha256, bytes FROM replgen.cuts ORDER BY serial DESC LIMIT $1",
                &[&(self.opts.keep as i64)],
            )
            .context(|| "cannot read replgen.cuts".into())?;
        for row in &rows {
            let serial = row.get::<_, i64>(0) as u64;
            let path: String = row.get(1);
            let sha: String = row.get(2);
            let bytes = row.get::<_, i64>(3) as u64;
            if self.feed.exists(&path)? {
                continue;
            }
            let tmp = self.feed.packet_tmp(serial);
            if durable::hash_file(&tmp).ok() != Some((sha, bytes)) {
                return Err(Error::PublishedFileMissing {
                    serial,
                    folder: self.feed.describe(),
                    path,
                });
            }
            tracing::info!(
                serial,
                "publishing packet {serial} left unpublished by an interrupted dump"
            );
            self.feed.publish(&tmp, &path)?;
        }
        self.recover_exports()?;
        self.feed.clear_tmp()?;
        self.remove_unrecorded_objects()?;
        self.write_index()
    }

    /// In object storage, deletes what a cut or export uploaded before a commit that never
    /// happened: a packet object the database has no cut for, of a serial at or after the
    /// oldest it records (older ones were pruned from the index and are kept, as in a folder),
    /// and an export folder the database has no export for, unless its manifest names another
    /// feed (an earlier feed's export, kept after `export --new-feed`). A folder feed has no
    /// such objects: its files get their final names only after the commit.
    fn remove_unrecorded_objects(&mut self) -> Result<()> {
        if self.feed.bucket().is_none() {
            return Ok(());
        }
        let feed = self.feed.clone();
        let bucket = feed.bucket().expect("checked above");
        let cuts = self
            .client
            .query("SELECT serial, path FROM replgen.cuts", &[])
            .context(|| "cannot read replgen.cuts".into())?;
        let recorded: HashSet<String> = cuts.iter().map(|r| r.get(1)).collect();
        let floor = match cuts.iter().map(|r| r.get::<_, i64>(0) as u64).min() {
            Some(oldest) => oldest,
            None => self.last_serial()? + 1,
        };
        for key in self.feed.list_objects("packets")? {
            let Some(serial) = packet_serial(&key) else {
                continue;
            };
            if serial >= floor && !recorded.contains(&key) {
                tracing::info!(
                    serial,
                    "removing {}, uploaded by a cut that never committed",
                    bucket.describe(&key)
                );
                self.feed.remove_file(&key)?;
            }
        }
        let exports: HashSet<String> = self
            .client
            .query("SELECT path FROM replgen.exports", &[])
            .context(|| "cannot read replgen.exports".into())?
            .iter()
            .filter_map(|r| Some(r.get::<_, String>(0).rsplit_once('/')?.0.to_string()))
            .collect();
        let mut folders: Vec<String> = self
            .feed
            .list_objects("exports")?
            .iter()
            .filter_map(|key| {
                let mut parts = key.splitn(3, '/');
                Some(format!("{}/{}", parts.next()?, parts.next()?))
            })
            .collect();
        folders.dedup();
        for folder in folders {
            if exports.contains(&folder) {
                continue;
            }
            let manifest = format!("{folder}/manifest.xml");
            let ours = match self.feed.read_published(&manifest)? {
                None => true,
                Some(bytes) => Manifest::parse(&bytes)
                    .map(|m| m.feed == self.identity.id)
                    .unwrap_or(false),
            };
            if ours {
                tracing::info!(
                    "removing {}, uploaded by an export that never committed",
                    bucket.describe(&folder)
                );
                self.feed.remove_folder_of(&manifest)?;
            }
        }
        Ok(())
    }

    /// Publishes exports that committed but whose folder was still temporary.
    fn recover_exports(&mut self) -> Result<()> {
        let rows = self
            .client
            .query(
                "SELECT serial, path, sha256 FROM replgen.exports ORDER BY serial DESC LIMIT $1",
                &[&EXPORTS_KEPT],
            )
            .context(|| "cannot read replgen.exports".into())?;
        for row in rows {
            let serial = row.get::<_, i64>(0) as u64;
            let manifest: String = row.get(1);
            let sha: String = row.get(2);
            if self.feed.exists(&manifest)? {
                continue;
            }
            let Some((folder, _)) = manifest.rsplit_once('/') else {
                continue;
            };
            let Some(name) = folder.rsplit('/').next() else {
                continue;
            };
            let tmp_dir = self.feed.export_tmp(name);
            let intact = durable::hash_file(&tmp_dir.join("manifest.xml"))
                .map(|(s, _)| s == sha)
                .unwrap_or(false);
            if !intact {
                return Err(Error::ExportFolderMissing { serial });
            }
            self.feed.publish(&tmp_dir, folder)?;
        }
        Ok(())
    }
}

/// The serial in a packet's key (`packets/AAA/BBB/replication-<serial>-<time>.gz`).
fn packet_serial(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?;
    let rest = name.strip_prefix("replication-")?.strip_suffix(".gz")?;
    rest.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn packet_serials_are_read_from_keys() {
        use super::packet_serial;
        let key = "packets/000/000/replication-000000042-20261128T150000Z.gz";
        assert_eq!(packet_serial(key), Some(42));
        assert_eq!(packet_serial("packets/000/000/notes.txt"), None);
        assert_eq!(packet_serial("packets/replication-x-1.gz"), None);
    }
}
