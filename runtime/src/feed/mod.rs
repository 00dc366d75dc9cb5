//! The feed a dumper publishes into, a folder or a prefix in object storage. In a folder,
//! unfinished files wait under `.replgen-tmp/` (never ending in `.gz`, never listed), finished
//! ones are renamed to their final names durably, and `index.xml` is replaced whole. In object
//! storage ([`crate::bucket`]) files are written into a private local staging folder, uploaded
//! under their final keys before the database records them ([`Feed::stage`]: an object appears
//! only complete), and `index.xml` is put last. What the database says was published is the
//! master's business ([`crate::master`]); this module only knows the folder or the bucket.

pub mod durable;
pub mod parallel_gz;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bucket::Bucket;

use crate::error::{Context, Error, Result};
use crate::index::Index;
use crate::signing::{self, SigningKey, SIGNATURE_FILE};

/// Where unfinished files wait; nothing in it ends in `.gz` or is ever listed.
pub const TMP_DIR: &str = ".replgen-tmp";

/// The index file at the feed's root.
pub const INDEX_FILE: &str = "index.xml";

#[derive(Debug, Clone)]
pub struct Feed {
    /// The folder; in object storage, the private local staging folder.
    root: PathBuf,
    remote: Option<Remote>,
}

/// A feed in object storage: the bucket, and the staging folder (removed when dropped; after
/// a kill it holds nothing the bucket needs, and the next dumper removes it).
#[derive(Debug, Clone)]
struct Remote {
    bucket: Arc<Bucket>,
    _staging: Arc<Staging>,
}

/// A local staging folder and the lock its dumper holds on it while it lives.
#[derive(Debug)]
struct Staging {
    // Dropped first: the folder is gone before the lock is let go.
    dir: tempfile::TempDir,
    _lock: fs::File,
}

/// Staging folders are `$TMPDIR/replgen-staging-*`, each with this lock file.
const STAGING_PREFIX: &str = "replgen-staging-";
const STAGING_LOCK: &str = ".lock";

impl Staging {
    /// A new private staging folder, locked, after removing those killed dumpers left.
    fn create() -> Result<Staging> {
        let dir = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir()
            .context(|| "cannot create a local staging folder".into())?;
        // Locked under another name, then renamed: a folder whose lock file exists is locked
        // until its dumper ends, so no other dumper takes it for abandoned.
        let cannot = || format!("cannot lock the staging folder {}", dir.path().display());
        let unnamed = dir.path().join(".lock.new");
        let lock = fs::File::create(&unnamed).context(cannot)?;
        lock.try_lock()
            .map_err(std::io::Error::from)
            .context(cannot)?;
        fs::rename(&unnamed, dir.path().join(STAGING_LOCK)).context(cannot)?;
        remove_abandoned_staging(dir.path());
        Ok(Staging { dir, _lock: lock })
    }
}

/// Removes the staging folders beside `ours` that killed dumpers left (a packet or a whole
/// export each): folders of our own user, not links, whose lock no process holds. Best effort:
/// what cannot be removed stays for the next dumper.
fn remove_abandoned_staging(ours: &Path) {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let (Some(tmp), Ok(own)) = (ours.parent(), fs::symlink_metadata(ours)) else {
        return;
    };
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours_too = path != ours
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with(STAGING_PREFIX)
            && fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == own.uid());
        if !ours_too {
            continue;
        }
        // Only a regular file is a lock: a FIFO planted as one must neither block the open
        // (non-blocking) nor be taken for abandoned.
        let lock = fs::File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path.join(STAGING_LOCK));
        let unlocked = lock.is_ok_and(|lock| {
            lock.metadata().is_ok_and(|m| m.is_file()) && lock.try_lock().is_ok()
        });
        if unlocked {
            match fs::remove_dir_all(&path) {
                Ok(()) => tracing::debug!(
                    "removed {}, a killed dumper's staging folder",
                    path.display()
                ),
                Err(e) => tracing::debug!("cannot remove {}: {e}", path.display()),
            }
        }
    }
}

impl Feed {
    /// Opens (creating when missing) the feed folder at `root`, or the object storage prefix
    /// it names (`s3://bucket/prefix`, `gs://...`, `az://...`).
    pub fn open(root: impl Into<PathBuf>) -> Result<Feed> {
        let root = root.into();
        if let Some(url) = root.to_str().filter(|s| crate::bucket::is_object_url(s)) {
            let bucket = Bucket::open(url).map_err(Error::ObjectStore)?;
            let staging = Staging::create()?;
            return Ok(Feed {
                root: staging.dir.path().to_path_buf(),
                remote: Some(Remote {
                    bucket: Arc::new(bucket),
                    _staging: Arc::new(staging),
                }),
            });
        }
        durable::create_dirs(&root).context(|| format!("cannot create {}", root.display()))?;
        Ok(Feed { root, remote: None })
    }

    /// The feed's place as it may be printed: the folder, or the object storage URL.
    pub fn describe(&self) -> String {
        match &self.remote {
            Some(remote) => remote.bucket.url().to_string(),
            None => self.root.display().to_string(),
        }
    }

    /// The object storage the feed lives in, if it does.
    pub fn bucket(&self) -> Option<&Bucket> {
        self.remote.as_ref().map(|r| &*r.bucket)
    }

    /// A bucket call's result; its error already names the object.
    fn io<T>(&self, _rel: &str, result: std::io::Result<T>) -> Result<T> {
        result.map_err(Error::ObjectStore)
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

    /// Before the database records a finished temporary file or folder as published: in
    /// object storage, uploads it under its final key `rel` (a folder's files one by one, its
    /// `manifest.xml` last, so a manifest is there only when its files are). A folder feed does
    /// nothing here: its files get their names after the commit ([`Feed::publish`]).
    ///
    /// The keys staged are new: a serial after every cut the database recorded, which
    /// [`crate::master`] has checked the index does not list; an object the index lists is
    /// never overwritten (refused here should that check ever be wrong).
    pub fn stage(&self, tmp: &Path, rel: &str) -> Result<()> {
        let Some(bucket) = self.bucket() else {
            return Ok(());
        };
        if let Some(index) = self.read_published(INDEX_FILE)? {
            if let Ok(index) = Index::parse(&index) {
                let listed = index
                    .packets
                    .iter()
                    .chain(&index.export)
                    .any(|e| e.path == rel || e.path.starts_with(&format!("{rel}/")));
                if listed {
                    return Err(Error::UnsafeFeedPath {
                        path: bucket.describe(rel),
                        reason: "the index lists it, and a listed object is never replaced".into(),
                    });
                }
            }
        }
        if !tmp.is_dir() {
            return self.io(rel, bucket.upload(rel, tmp));
        }
        let list_ctx = || format!("cannot list {}", tmp.display());
        let mut names: Vec<String> = fs::read_dir(tmp)
            .context(list_ctx)?
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .context(list_ctx)?;
        // Sorted, with the manifest last.
        names.sort_by_key(|name| (name == "manifest.xml", name.clone()));
        for name in names {
            let key = format!("{rel}/{name}");
            self.io(&key, bucket.upload(&key, &tmp.join(&name)))?;
        }
        Ok(())
    }

    /// Every object under the folder `under`, relative to the root (object storage only: a
    /// folder feed never holds a final name the database did not record).
    pub fn list_objects(&self, under: &str) -> Result<Vec<String>> {
        match self.bucket() {
            Some(bucket) => self.io(under, bucket.list(under)),
            None => Ok(Vec::new()),
        }
    }

    /// Gives a finished temporary file or folder its final name `rel`, durably (in object
    /// storage it was uploaded by [`Feed::stage`]: the local copy goes).
    pub fn publish(&self, tmp: &Path, rel: &str) -> Result<()> {
        if self.bucket().is_some() {
            let removed = if tmp.is_dir() {
                fs::remove_dir_all(tmp)
            } else {
                fs::remove_file(tmp)
            };
            return removed.context(|| format!("cannot remove {}", tmp.display()));
        }
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
        let write = |path: &Path, bytes: &[u8]| match self.bucket() {
            Some(bucket) => {
                let rel = path.file_name().map(|n| n.to_string_lossy().into_owned());
                let rel = rel.unwrap_or_default();
                self.io(&rel, bucket.put(&rel, bytes.to_vec()))
            }
            None => durable::write_atomic(path, bytes)
                .context(|| format!("cannot write {}", path.display())),
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
        if let Some(bucket) = self.bucket() {
            return self.io(rel, bucket.get(rel));
        }
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
        if let Some(bucket) = self.bucket() {
            return self.io(rel, bucket.head(rel)).map(|size| size.is_some());
        }
        self.check_path(rel)?;
        Ok(fs::symlink_metadata(self.path(rel)).is_ok())
    }

    /// Refuses `rel` when any existing part of it below the root is a symbolic link, a folder
    /// on the way is not a folder, or the entry itself is neither a regular file nor a folder
    /// (a FIFO, a device). Missing parts are fine: the dumper creates them.
    pub fn check_path(&self, rel: &str) -> Result<()> {
        if self.bucket().is_some() {
            // Keys are names, not paths: there is nothing to follow.
            return Ok(());
        }
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
        if let Some(bucket) = self.bucket() {
            let existed = self.io(rel, bucket.head(rel))?.is_some();
            self.io(rel, bucket.delete(rel))?;
            return Ok(existed);
        }
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
        if let Some(bucket) = self.bucket() {
            let Some((folder, _)) = rel.rsplit_once('/') else {
                return Ok(());
            };
            // The manifest goes last, so an interrupted removal leaves no manifest without its
            // files.
            let mut keys = self.io(folder, bucket.list(folder))?;
            keys.sort_by_key(|key| (key == rel, key.clone()));
            for key in keys {
                self.io(&key, bucket.delete(&key))?;
            }
            return Ok(());
        }
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

#[cfg(test)]
mod tests {
    use super::{remove_abandoned_staging, STAGING_LOCK};
    use std::fs;
    use std::path::Path;

    fn staging(parent: &Path, name: &str) -> std::path::PathBuf {
        let dir = parent.join(name);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join(STAGING_LOCK), "").unwrap();
        fs::write(dir.join("packet.partial"), "rows").unwrap();
        dir
    }

    #[test]
    fn only_unlocked_staging_folders_of_our_own_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let ours = staging(tmp.path(), "replgen-staging-ours");
        let dead = staging(tmp.path(), "replgen-staging-dead");
        let live = staging(tmp.path(), "replgen-staging-live");
        let held = fs::File::open(live.join(STAGING_LOCK)).unwrap();
        held.try_lock().unwrap();
        let unlocked = staging(tmp.path(), "not-staging");
        let target = staging(tmp.path(), "target");
        std::os::unix::fs::symlink(&target, tmp.path().join("replgen-staging-link")).unwrap();
        let no_lock = tmp.path().join("replgen-staging-starting");
        fs::create_dir(&no_lock).unwrap();
        // Not regular files: a FIFO (opening it for reading would wait for a writer) and a
        // folder.
        let fifo = tmp.path().join("replgen-staging-fifo");
        fs::create_dir(&fifo).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(fifo.join(STAGING_LOCK))
            .status()
            .unwrap();
        assert!(status.success());
        let folder = tmp.path().join("replgen-staging-folder");
        fs::create_dir_all(folder.join(STAGING_LOCK)).unwrap();

        remove_abandoned_staging(&ours);

        assert!(!dead.exists(), "a killed dumper's folder stays");
        for kept in [&ours, &live, &unlocked, &target, &no_lock, &fifo, &folder] {
            assert!(kept.join(".").exists(), "{} removed", kept.display());
        }
        assert!(target.join("packet.partial").exists());
        assert!(fs::symlink_metadata(tmp.path().join("replgen-staging-link")).is_ok());
        drop(held);
    }
}
