//! The layout history: every published layout, one `layouts/v<N>.yaml` file per schema_version
//! beside the migrations. Each records its fingerprint, its install migration's file name and
//! sha256, the sha256 of the previous version's layout file, and the ids retired so far.
//!
//! The current version's layout file and newest migration are regenerated like any output; a
//! published migration is never rewritten (a newer replgen's capture goes out as a revision, a
//! migration of its own), and [`verify`] reports any that changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use replgen_schema::{Layout, PublishedMigration, Schema, SchemaErrors};
use sha2::{Digest, Sha256};

use crate::introspect::{render_spec_table, render_types, yaml_scalar};

/// The history's folder, inside the migrations folder (migration tools look at `.sql` files
/// only, and sqlx only at the folder's own files).
pub const LAYOUTS_DIR: &str = "layouts";

/// `layouts/v<N>.yaml`, relative to the migrations folder.
pub fn layout_path(version: u32) -> String {
    format!("{LAYOUTS_DIR}/v{version}.yaml")
}

/// One published version as committed.
#[derive(Debug, Clone)]
pub struct Published {
    /// The layout file.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    pub layout: Layout,
}

/// Every published version, by schema_version.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub versions: BTreeMap<u32, Published>,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot read the layout history {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a layout history file is invalid:\n{0}")]
    Invalid(SchemaErrors),
    #[error("{path} holds the layout of schema_version {found}; its name says {named}")]
    Misnamed {
        path: PathBuf,
        named: u32,
        found: u32,
    },
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads `sql_out/layouts/v*.yaml` (an absent folder is an empty history).
pub fn load(sql_out: &Path) -> Result<History, HistoryError> {
    let dir = sql_out.join(LAYOUTS_DIR);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HistoryError::Io { path, source }
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => return Err(io(&dir)(e)),
    };
    let mut versions = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(io(&dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(named) = name
            .strip_prefix('v')
            .and_then(|n| n.strip_suffix(".yaml"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let text = String::from_utf8_lossy(&bytes);
        let layout = replgen_schema::parse_layout(&text, &path.display().to_string())
            .map_err(HistoryError::Invalid)?;
        if layout.schema.schema_version != named {
            return Err(HistoryError::Misnamed {
                path,
                named,
                found: layout.schema.schema_version,
            });
        }
        versions.insert(
            named,
            Published {
                path,
                bytes,
                layout,
            },
        );
    }
    Ok(History { versions })
}

/// Every way the committed history differs from what was published, one sentence each. The
/// newest migration of `current` (regenerated as an output) is not checked here.
pub fn verify(history: &History, sql_out: &Path, current: u32) -> Vec<String> {
    let mut problems = Vec::new();
    let mut previous: Option<&Published> = None;
    for (&v, p) in &history.versions {
        let name = p.path.display();
        if p.layout.schema.fingerprint() != p.layout.fingerprint {
            problems.push(format!(
                "{name} was edited: its tables no longer match the fingerprint it was published with"
            ));
        }
        if previous.is_none() && p.layout.previous_sha256.is_some() {
            problems.push(format!(
                "{name} was published after an earlier version whose layout file is gone from \
                 {}; restore it from version control (mirrors need every layout since the first)",
                sql_out.join(LAYOUTS_DIR).display()
            ));
        }
        if let Some(prev) = previous {
            let actual = sha256_hex(&prev.bytes);
            if p.layout.previous_sha256.as_deref() != Some(actual.as_str()) {
                problems.push(format!(
                    "{} differs from the layout file that schema_version {v} was published after \
                     ({name} records its sha256 as {}, the file's is {actual}); restore it from \
                     version control",
                    prev.path.display(),
                    p.layout.previous_sha256.as_deref().unwrap_or("nothing"),
                ));
            }
        }
        // The current version's newest migration is an output; generate checks it itself.
        let checked = if v == current {
            &p.layout.migrations[..p.layout.migrations.len() - 1]
        } else {
            &p.layout.migrations[..]
        };
        for m in checked {
            if let Some(problem) = migration_problem(sql_out, m, v, &name.to_string()) {
                problems.push(problem);
            }
        }
        previous = Some(p);
    }
    problems
}

/// How the migration `m` of schema_version `v` (recorded in the layout file `layout`) differs
/// from what was published, if it does.
pub fn migration_problem(
    sql_out: &Path,
    m: &PublishedMigration,
    v: u32,
    layout: &str,
) -> Option<String> {
    let mpath = sql_out.join(&m.file);
    match std::fs::read(&mpath) {
        Ok(bytes) => {
            let actual = sha256_hex(&bytes);
            (actual != m.sha256).then(|| {
                format!(
                    "{} (an install migration of schema_version {v}) differs from the one \
                     published (sha256 {} recorded in {layout}, the file's is {actual}); \
                     migration tools refuse a changed migration: restore it from version control",
                    mpath.display(),
                    m.sha256
                )
            })
        }
        Err(e) => Some(format!(
            "{} (an install migration of schema_version {v}, recorded in {layout}) cannot be \
             read: {e}; restore it from version control",
            mpath.display()
        )),
    }
}

/// The leading integer of a migration file name (`V12__x.sql` → 12, `2026_x.sql` → 2026).
pub fn migration_number(file: &str) -> Option<u64> {
    let rest = file.strip_prefix('V').unwrap_or(file);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Every id a table had in some published version and no longer had in a later one, plus the
/// ids each layout recorded as retired, over the versions below `below`.
pub fn retired_before(history: &History, below: u32) -> BTreeMap<u32, (u32, String)> {
    // id -> (last version that had it, its name then)
    let mut seen: BTreeMap<u32, (u32, String)> = BTreeMap::new();
    let mut retired: BTreeMap<u32, (u32, String)> = BTreeMap::new();
    let mut last_ids: BTreeSet<u32> = BTreeSet::new();
    for (&v, p) in history.versions.range(..below) {
        let ids: BTreeSet<u32> = p.layout.schema.tables.iter().map(|t| t.id).collect();
        for gone in last_ids.difference(&ids) {
            if let Some(s) = seen.get(gone) {
                retired.insert(*gone, s.clone());
            }
        }
        for id in &p.layout.schema.retired_ids {
            retired
                .entry(*id)
                .or_insert_with(|| (v, "a dropped table".into()));
        }
        for t in &p.layout.schema.tables {
            seen.insert(t.id, (v, t.written_name.clone()));
        }
        last_ids = ids;
    }
    for id in &last_ids {
        retired.remove(id);
    }
    retired
}

/// The layout file of `schema`, published with `migrations` (the version's own first, then its
/// capture revisions).
pub fn render(
    schema: &Schema,
    migrations: &[PublishedMigration],
    previous: Option<&Published>,
    retired: &BTreeSet<u32>,
) -> String {
    let v = schema.schema_version;
    let mut y = String::new();
    y.push_str(&format!(
        "# @generated by replgen: the published layout of schema_version {v}; do not edit.\n\
         # Never delete or change it once a later version exists: `replgen check` compares each\n\
         # earlier install migration with the sha256 recorded here.\n"
    ));
    y.push_str(&format!("schema_version: {v}\n"));
    y.push_str(&format!("fingerprint: {}\n", schema.fingerprint()));
    let record = |m: &PublishedMigration| {
        format!("{{ file: {}, sha256: {} }}", yaml_scalar(&m.file), m.sha256)
    };
    let (first, revisions) = migrations.split_first().expect("a version has a migration");
    y.push_str(&format!("migration: {}\n", record(first)));
    if !revisions.is_empty() {
        y.push_str(
            "# Capture revisions: the same layout's capture as a newer replgen renders it.\n",
        );
        y.push_str("revisions:\n");
        for m in revisions {
            y.push_str(&format!("  - {}\n", record(m)));
        }
    }
    if let Some(p) = previous {
        y.push_str(&format!(
            "previous_layout_sha256: {}\n",
            sha256_hex(&p.bytes)
        ));
    }
    if !retired.is_empty() {
        let ids: Vec<String> = retired.iter().map(u32::to_string).collect();
        y.push_str(&format!("retired_ids: [{}]\n", ids.join(", ")));
    }
    render_types(&mut y, &schema.types);
    y.push_str("tables:\n");
    for t in &schema.tables {
        render_spec_table(&mut y, t);
    }
    y
}
