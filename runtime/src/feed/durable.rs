//! Durable file publication: write to a temporary name, fsync, rename, fsync the folder; and
//! the hashing writers that give every published file its size and sha256 on the way to disk.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// fsyncs a folder so that a rename or creation inside it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its parents, syncing each one created.
pub fn create_dirs(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Creates `path` as a new file of this process: any stale entry there is removed first (a
/// symlink loses the link, never its target), and the creation fails rather than open
/// something another process put there meanwhile.
pub fn create_fresh(path: &Path) -> io::Result<File> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    File::options().write(true).create_new(true).open(path)
}

/// Renames `from` to `to` (creating `to`'s folder) and makes the rename durable.
pub fn publish(from: &Path, to: &Path) -> io::Result<()> {
    let dir = to.parent().expect("a published file has a folder");
    create_dirs(dir)?;
    fs::rename(from, to)?;
    sync_dir(dir)?;
    if let Some(from_dir) = from.parent() {
        if from_dir != dir {
            sync_dir(from_dir)?;
        }
    }
    Ok(())
}

/// Replaces `path` atomically with `bytes`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().expect("a file has a folder");
    create_dirs(dir)?;
    let name = path
        .file_name()
        .expect("a file has a name")
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut file = create_fresh(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// A writer that hashes (sha256) and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        use sha2::Digest;
        HashingWriter {
            inner,
            hasher: sha2::Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the hex sha256 and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        use sha2::Digest;
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The hex sha256 and size of a file.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hashing = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut hashing)?;
    let (_, sha, size) = hashing.finish();
    Ok((sha, size))
}

/// A gzip file being written: compressed bytes are hashed and counted on their way to disk,
/// and `finish` makes the file durable. What packets and export tables are written with.
pub struct GzFile {
    gz: flate2::write::GzEncoder<HashingWriter<io::BufWriter<File>>>,
}

impl GzFile {
    pub fn create(path: &Path, level: u32) -> io::Result<GzFile> {
        let file = create_fresh(path)?;
        let hashing = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
        Ok(GzFile {
            gz: flate2::write::GzEncoder::new(hashing, flate2::Compression::new(level.min(9))),
        })
    }

    /// Completes the gzip stream and fsyncs the file: its hex sha256 and size.
    pub fn finish(self) -> io::Result<(String, u64)> {
        let (buffered, sha256, size) = self.gz.finish()?.finish();
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok((sha256, size))
    }
}

impl Write for GzFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.gz.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.gz.flush()
    }
}
