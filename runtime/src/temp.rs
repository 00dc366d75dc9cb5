//! Temporary files for downloads and held rows.
//!
//! Each is nameless from the start where the kernel can (`O_TMPFILE`), otherwise created
//! with an unpredictable name, mode 0600 and `O_EXCL`, and unlinked at once: no other user
//! can open it, and nothing is left behind when the process is killed at any instant.

use std::fs::File;
use std::io;

/// A new nameless file in the temporary folder (`TMPDIR`, else /tmp).
pub fn nameless_file() -> io::Result<File> {
    tempfile::tempfile()
}

/// What [`nameless_file`] creates, for errors: names the folder, so a full or unwritable
/// `TMPDIR` is plain.
pub fn describe() -> String {
    format!(
        "a temporary file in {} (set TMPDIR for another folder)",
        std::env::temp_dir().display()
    )
}
