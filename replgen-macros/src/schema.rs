//! Finding and loading schema.yaml at compile time, parsed once per file version per process.

use replgen_schema::Schema;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

type Loaded = Result<Arc<Schema>, String>;

/// Parsed schemas by absolute path, with the file's modification time when parsed. A crate with
/// hundreds of derived tables parses its schema.yaml once.
static CACHE: OnceLock<Mutex<HashMap<PathBuf, Cached>>> = OnceLock::new();

/// A parse result and the file's modification time when it was parsed.
type Cached = (Option<SystemTime>, Loaded);

/// Where `written` points: absolute as is; else under `CARGO_MANIFEST_DIR` if it exists there;
/// else next to `source_file` (the file holding the derive; trybuild builds tests from another
/// manifest folder). `Err` lists the places tried.
pub fn resolve(written: &str, source_file: Option<PathBuf>) -> Result<PathBuf, String> {
    let p = Path::new(written);
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let mut tried = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let candidate = Path::new(&dir).join(p);
        if candidate.is_file() {
            return Ok(absolute(candidate));
        }
        tried.push(candidate);
    }
    if let Some(file) = source_file {
        if let Some(dir) = absolute(file).parent() {
            let candidate = dir.join(p);
            if candidate.is_file() {
                return Ok(absolute(candidate));
            }
            tried.push(candidate);
        }
    }
    let tried: Vec<String> = tried.iter().map(|t| t.display().to_string()).collect();
    Err(format!(
        "schema file `{written}` not found (looked for {})",
        tried.join(" and ")
    ))
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

/// The parsed schema at `path` (absolute), or its errors as text (one `file:line:col: message`
/// per line); `layout` when the file is a published layout rather than schema.yaml.
pub fn load(path: &Path, layout: bool) -> Loaded {
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((cached_mtime, loaded)) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(path)
    {
        if *cached_mtime == mtime && mtime.is_some() {
            return loaded.clone();
        }
    }
    let loaded = if layout {
        replgen_schema::load_layout(path).map(|l| l.schema)
    } else {
        replgen_schema::load(path)
    };
    let loaded = loaded.map(Arc::new).map_err(|e| e.to_string());
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_path_buf(), (mtime, loaded.clone()));
    loaded
}
