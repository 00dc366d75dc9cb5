//! The feed folder a dumper publishes into: unfinished files wait under `.replgen-tmp/` (never
//! ending in `.gz`, never listed), finished ones are renamed to their final names durably, and
//! `index.xml` is replaced whole. What the database says was published is the master's
//! business ([`crate::master`]); this module only knows the folder.

pub mod durable;
pub mod parallel_gz;

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::index::Index;
use crate::signing::{self, SigningKey, SIGNATURE_FILE};

/// Where unfinished files wait; nothing in it ends in `.gz` or is ever listed.
pub const TMP_DIR: &str = ".replgen-tmp";

/// The index file at the feed's root.
pub const INDEX_FILE: &str = "index.xml";

#[derive(Debug, Clone)]
pub struct Feed {
    root: PathBuf,
}

impl Feed {
    /// Opens (creating when missing) the feed folder at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Feed> {
        let root = root.into();
        durable::create_dirs(&root).context(|| format!("cannot create {}", root.display()))?;
        Ok(Feed { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A published file's place, from its path relative to the root (as the index lists it).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// The temporary file a cut writes packet `serial` into before it commits.
    pub fn packet_tmp(&self, serial: u64) -> PathBuf {
        self.tmp_dir().join(format!("packet-{serial:09}.partial"))
    }

    /// The temporary folder an export is written into, named as its final folder.
    pub fn export_tmp(&self, name: &str) -> PathBuf {
        self.tmp_dir().join(name)
    }

    /// Creates the temporary folder.
    pub fn prepare_tmp(&self) -> Result<PathBuf> {
        let dir = self.tmp_dir();
        if !self.check_tmp()? {
            durable::create_dirs(&dir).context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(dir)
    }

    /// Whether the temporary folder exists, refusing it when it is not a plain folder (a
    /// symlink would send deletions and writes elsewhere). Never follows a link.
    fn check_tmp(&self) -> Result<bool> {
        let dir = self.tmp_dir();
        let meta = match fs::symlink_metadata(&dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).context(|| format!("cannot inspect {}", dir.display())),
        };
        let reason = if meta.file_type().is_symlink() {
            "it is a symbolic link, which the dumper never makes"
        } else if !meta.is_dir() {
            "it is not a folder"
        } else {
            return Ok(true);
        };
        Err(Error::UnsafeFeedPath {
            path: dir.display().to_string(),
            reason: reason.into(),
        })
    }

    /// Gives a finished temporary file or folder its final name `rel`, durably.
    pub fn publish(&self, tmp: &Path, rel: &str) -> Result<()> {
        self.check_path(rel)?;
        let final_path = self.path(rel);
        durable::publish(tmp, &final_path)
            .context(|| format!("cannot publish {}", final_path.display()))
    }

    /// Replaces index.xml whole, signed by `keys` (none: unsigned, and a stale signature file
    /// is removed).
    ///
    /// Signed, the order keeps every moment's index verifiable: first the signature file gets
    /// the new index's signatures followed by the current index's, then the index is replaced,
    /// then the signature file keeps the new index's alone. A reader that fetched the index and
    /// then the signature sees at most one mismatch across an update, and fetches again once.
    pub fn write_index(&self, index: &Index, keys: &[SigningKey]) -> Result<()> {
        let path = self.path(INDEX_FILE);
        let sig_path = self.path(SIGNATURE_FILE);
        let bytes = index.to_xml();
        self.check_path(INDEX_FILE)?;
        self.check_path(SIGNATURE_FILE)?;
        let write = |path: &Path, bytes: &[u8]| {
            durable::write_atomic(path, bytes)
                .context(|| format!("cannot write {}", path.display()))
        };
        if keys.is_empty() {
            write(&path, &bytes)?;
            self.remove_file(SIGNATURE_FILE)?;
            return Ok(());
        }
        let signature = signing::sign(&bytes, keys)?;
        let current = match self.read_published(INDEX_FILE)? {
            Some(current) if current != bytes => Some(current),
            _ => None,
        };
        if let Some(current) = current {
            let both = signature.clone() + &signing::sign(&current, keys)?;
            write(&sig_path, both.as_bytes())?;
        }
        write(&path, &bytes)?;
        write(&sig_path, signature.as_bytes())
    }

    /// A published file's bytes, none when it does not exist; refused when it, or a folder on
    /// the way to it, is anything the dumper does not make (a symbolic link, say).
    pub fn read_published(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        if !self.exists(rel)? {
            return Ok(None);
        }
        let path = self.path(rel);
        fs::read(&path)
            .map(Some)
            .context(|| format!("cannot read {}", path.display()))
    }

    /// Whether the published file or folder `rel` exists, refusing it (and any folder on the way
    /// to it inside the feed) when it is a symbolic link or not a plain file or folder: the
    /// dumper never follows a link it did not make.
    pub fn exists(&self, rel: &str) -> Result<bool> {
        self.check_path(rel)?;
        Ok(fs::symlink_metadata(self.path(rel)).is_ok())
    }

    /// Refuses `rel` when any existing part of it below the root is a symbolic link, a folder
    /// on the way is not a folder, or the entry itself is neither a regular file nor a folder
    /// (a FIFO, a device). Missing parts are fine: the dumper creates them.
    pub fn check_path(&self, rel: &str) -> Result<()> {
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let mut path = self.root.clone();
        for (i, part) in parts.iter().enumerate() {
            path.push(part);
            let meta = match fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e).context(|| format!("cannot inspect {}", path.display())),
            };
            let last = i + 1 == parts.len();
            let kind = meta.file_type();
            let reason = if kind.is_symlink() {
                "it is a symbolic link, which the dumper never makes"
            } else if !last && !kind.is_dir() {
                "it is not a folder"
            } else if last && !kind.is_dir() && !kind.is_file() {
                "it is neither a regular file nor a folder"
            } else {
                continue;
            };
            return Err(Error::UnsafeFeedPath {
                path: path.display().to_string(),
                reason: reason.into(),
            });
        }
        Ok(())
    }

    /// Removes everything under the temporary folder (what interrupted processes left).
    pub fn clear_tmp(&self) -> Result<()> {
        let tmp_dir = self.tmp_dir();
        if !self.check_tmp()? {
            return Ok(());
        }
        let list_ctx = || format!("cannot list {}", tmp_dir.display());
        for entry in fs::read_dir(&tmp_dir).context(list_ctx)? {
            let entry = entry.context(list_ctx)?;
            let path = entry.path();
            tracing::info!("removing {}, left by an interrupted dump", path.display());
            // The entry's own type: a symlink is removed as a link, never followed.
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            let removed = if is_dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.context(|| format!("cannot remove {}", path.display()))?;
        }
        Ok(())
    }

    /// Deletes a published file; false when it was already gone.
    pub fn remove_file(&self, rel: &str) -> Result<bool> {
        self.check_path(rel)?;
        let path = self.path(rel);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).context(|| format!("cannot delete {}", path.display())),
        }
    }

    /// Deletes the folder holding the published file `rel` (an export's manifest) with its
    /// contents.
    pub fn remove_folder_of(&self, rel: &str) -> Result<()> {
        let Some(dir) = self.path(rel).parent().map(Path::to_path_buf) else {
            return Ok(());
        };
        if let Some((folder, _)) = rel.rsplit_once('/') {
            self.check_path(folder)?;
        }
        if dir.is_dir() && dir != self.root {
            fs::remove_dir_all(&dir)
                .context(|| format!("cannot delete the old export {}", dir.display()))?;
        }
        Ok(())
    }
}
