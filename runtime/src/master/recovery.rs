//! What a restarted dumper finishes: packets and exports that committed but were still under
//! their temporary names when a process died are published; anything of a cut that never
//! committed is removed; the index is rewritten from the database.

use super::{export::EXPORTS_KEPT, Master};
use crate::error::{Context, Error, Result};
use crate::feed::durable;

impl Master {
    /// Finishes what a killed dumper left, then rewrites the index.
    pub fn recover(&mut self) -> Result<()> {
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
                    folder: self.feed.root().display().to_string(),
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
        self.write_index()
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
