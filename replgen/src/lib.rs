//! The replgen generator as a library: the CLI (`src/main.rs`) and the tests drive it.
//!
//! Outputs are built in memory as a sorted map of path → bytes, so `generate` writes only files
//! whose bytes changed and `check` compares without touching the disk.

pub mod error;
pub mod history;
pub mod introspect;
pub mod merge;
pub mod rust;
pub mod sql;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use replgen_schema::{PublishedMigration, Schema};

pub use error::GenerateError;

/// Where the outputs go.
#[derive(Debug, Clone)]
pub struct Paths {
    /// schema.yaml, as given on the command line.
    pub schema: PathBuf,
    /// The migrations folder.
    pub sql_out: PathBuf,
    /// The generated Rust module.
    pub rust_out: PathBuf,
}

fn migration_number(schema: &Schema) -> u64 {
    schema
        .migrations
        .number
        .unwrap_or(schema.schema_version as u64)
}

/// The uninstall migration, in a subfolder so that migration tools never pick it up.
pub const UNINSTALL_FILE: &str = "uninstall/replgen_uninstall.sql";

/// Every output file, path → bytes: the current version's install migration and layout file,
/// the uninstall migration and the Rust module. Reads the layout history in `paths.sql_out` and
/// refuses a schema that contradicts it (see [`GenerateError::exit_code`]); earlier versions'
/// files are never among the outputs.
pub fn generate(
    schema: &Schema,
    paths: &Paths,
) -> Result<BTreeMap<PathBuf, Vec<u8>>, GenerateError> {
    let history = history::load(&paths.sql_out)?;
    let problems = history::verify(&history, &paths.sql_out, schema.schema_version);
    if !problems.is_empty() {
        return Err(GenerateError::HistoryChanged(problems));
    }
    let version = schema.schema_version;
    let style = schema.migrations.style;
    let number = migration_number(schema);
    if number == 0 || number > style.max_number() {
        return Err(GenerateError::NumberOutOfRange {
            number,
            style: style.as_str(),
            max: style.max_number(),
        });
    }
    if let Some((&newest, _)) = history.versions.last_key_value() {
        if version < newest {
            return Err(GenerateError::VersionBehind {
                version,
                newest,
                layouts: paths.sql_out.join(history::LAYOUTS_DIR),
            });
        }
    }
    let previous = history.versions.range(..version).next_back();
    let install = sql::install(schema)?;
    let install_sha = history::sha256_hex(install.as_bytes());
    let migrations = match history.versions.get(&version) {
        None => {
            let number = match (schema.migrations.number, previous) {
                (Some(n), _) => n,
                // After a version with capture revisions, the default number sorts after them.
                (None, Some((_, p))) if p.layout.migrations.len() > 1 => {
                    history::migration_number(&p.layout.newest_migration().file)
                        .map_or(number, |last| number.max(last + 1))
                }
                (None, _) => number,
            };
            if let Some((&pv, p)) = previous {
                if let Some(prev_number) =
                    history::migration_number(&p.layout.newest_migration().file)
                {
                    if number <= prev_number {
                        return Err(GenerateError::NumberNotAfter {
                            version,
                            number,
                            previous_version: pv,
                            previous: prev_number,
                        });
                    }
                }
            }
            vec![PublishedMigration {
                file: style.file_name(number),
                sha256: install_sha,
            }]
        }
        Some(p) => {
            if p.layout.fingerprint != schema.fingerprint() {
                return Err(GenerateError::LayoutChanged {
                    version,
                    layout: p.path.clone(),
                });
            }
            published_migrations(schema, &history, p, paths, install_sha)?
        }
    };
    let install_name = migrations
        .last()
        .expect("a version has a migration")
        .file
        .clone();
    check_renames(schema, previous.map(|(&v, p)| (v, &p.layout.schema)))?;
    if let Some((&v, p)) = previous {
        check_names_free(schema, v, &p.layout.schema)?;
    }
    let retired_before = history::retired_before(&history, version);
    for t in &schema.tables {
        if let Some((v, old)) = retired_before.get(&t.id) {
            return Err(GenerateError::IdReused {
                table: t.written_name.clone(),
                id: t.id,
                old: old.clone(),
                version: *v,
            });
        }
    }
    let mut retired: BTreeSet<u32> = retired_before.keys().copied().collect();
    retired.extend(schema.retired_ids.iter().copied());
    if let Some((_, p)) = previous {
        for t in &p.layout.schema.tables {
            if schema.table_by_id(t.id).is_none() {
                retired.insert(t.id);
            }
        }
    }

    let uninstall = sql::uninstall(schema)?;
    let schema_attr = schema_attr_path(&paths.schema, &paths.rust_out);
    let install_path = paths.sql_out.join(&install_name);
    let uninstall_path = paths.sql_out.join(UNINSTALL_FILE);
    let layout_path = paths.sql_out.join(history::layout_path(version));
    let earlier: Vec<rust::EarlierLayout> = history
        .versions
        .range(..version)
        .map(|(_, p)| rust::EarlierLayout {
            schema: &p.layout.schema,
            layout_attr: schema_attr_path(&p.path, &paths.rust_out),
        })
        .collect();
    let module = rust::module(
        schema,
        &schema_attr,
        &relative_to_file(&paths.rust_out, &install_path),
        &relative_to_file(&paths.rust_out, &uninstall_path),
        &earlier,
    )?;
    let layout = history::render(schema, &migrations, previous.map(|(_, p)| p), &retired);
    let mut out = BTreeMap::new();
    out.insert(install_path, install.into_bytes());
    out.insert(uninstall_path, uninstall.into_bytes());
    out.insert(layout_path, layout.into_bytes());
    out.insert(paths.rust_out.clone(), module.into_bytes());
    Ok(out)
}

/// The install migrations of a version already published, the one this run writes last: the
/// newest as recorded when this replgen renders the same capture, or else a new capture
/// revision after it (a published migration is never rewritten: migration tools refuse it).
fn published_migrations(
    schema: &Schema,
    history: &history::History,
    p: &history::Published,
    paths: &Paths,
    install_sha: String,
) -> Result<Vec<PublishedMigration>, GenerateError> {
    let version = schema.schema_version;
    let recorded = &p.layout.migrations;
    let newest = p.layout.newest_migration();
    let given = schema.migrations.number;
    let own_number = |n: u64| {
        recorded
            .iter()
            .any(|m| history::migration_number(&m.file) == Some(n))
    };
    if newest.sha256 == install_sha {
        // The number may name the version's own migration or any of its revisions.
        let style = schema.migrations.style;
        // Without a number, the version's own (which may have followed a revision's).
        let n = given
            .or_else(|| history::migration_number(&p.layout.first_migration().file))
            .unwrap_or(version as u64);
        let wanted = style.file_name(n);
        if !recorded
            .iter()
            .any(|m| m.file == wanted || m.file == style.revision_file_name(n))
        {
            return Err(GenerateError::MigrationRenamed {
                version,
                published: p.layout.first_migration().file.clone(),
                wanted,
            });
        }
        return Ok(recorded.clone());
    }
    // This replgen renders the layout's capture differently from the one published: the
    // published file must be as recorded, and the new capture becomes a migration of its own.
    let layout = p.path.display().to_string();
    if let Some(problem) = history::migration_problem(&paths.sql_out, newest, version, &layout) {
        return Err(GenerateError::HistoryChanged(vec![problem]));
    }
    // It runs after every migration replgen published and every one in the folder.
    let highest = history
        .versions
        .values()
        .flat_map(|v| v.layout.migrations.iter())
        .filter_map(|m| history::migration_number(&m.file))
        .chain(folder_migration_numbers(&paths.sql_out))
        .max()
        .unwrap_or(0);
    let number = match given {
        Some(n) if !own_number(n) => n,
        // A number of the application's choosing (a timestamp, say) cannot be guessed.
        Some(_) => {
            return Err(GenerateError::RevisionNeedsNumber {
                version,
                published: newest.file.clone(),
                highest,
                layout: p.path.clone(),
            })
        }
        None => highest + 1,
    };
    if number <= highest {
        return Err(GenerateError::RevisionNumberNotAfter {
            version,
            number,
            highest,
        });
    }
    if number > schema.migrations.style.max_number() {
        return Err(GenerateError::NumberOutOfRange {
            number,
            style: schema.migrations.style.as_str(),
            max: schema.migrations.style.max_number(),
        });
    }
    let mut migrations = recorded.clone();
    migrations.push(PublishedMigration {
        file: schema.migrations.style.revision_file_name(number),
        sha256: install_sha,
    });
    Ok(migrations)
}

/// The numbers of the `.sql` files directly in the migrations folder (the application's own
/// migrations may share it).
fn folder_migration_numbers(sql_out: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(sql_out) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".sql")
                .then(|| history::migration_number(&name))
                .flatten()
        })
        .collect()
}

/// A table may take a name another table had in the previous version only where mirrors,
/// which upgrade the tables in id order, find it free: the other was dropped, and before this
/// one (a lower id). A swap or a chain of renames in one version is refused.
fn check_names_free(schema: &Schema, v: u32, prev: &Schema) -> Result<(), GenerateError> {
    for t in &schema.tables {
        let Some(other) = prev
            .tables
            .iter()
            .find(|o| o.id != t.id && o.schema == t.schema && o.name == t.name)
        else {
            continue;
        };
        let (fate, remedy) = match schema.table_by_id(other.id) {
            Some(now) => (
                format!("is renamed {}", now.written_name),
                "rename them over two schema_versions, through a name neither had".to_string(),
            ),
            None if other.id < t.id => continue,
            None => (
                "is dropped, but has a higher id".to_string(),
                format!(
                    "give the new table an id above {} (ids of dropped tables are never reused)",
                    other.id
                ),
            ),
        };
        return Err(GenerateError::NameTaken {
            table: t.written_name.clone(),
            id: t.id,
            other: other.id,
            version: v,
            fate,
            remedy,
        });
    }
    Ok(())
}

/// Each `renamed_from` must name a column of the table in the previous version, or be a rename
/// that version already has (the old name gone, the new one there).
fn check_renames(schema: &Schema, previous: Option<(u32, &Schema)>) -> Result<(), GenerateError> {
    for t in &schema.tables {
        for c in &t.columns {
            let Some(from) = &c.renamed_from else {
                continue;
            };
            let earlier = match previous {
                None => Some("no earlier schema_version is recorded".to_string()),
                Some((v, prev)) => match prev.table_by_id(t.id) {
                    None => Some(format!(
                        "table id {} is new in this version (after {v})",
                        t.id
                    )),
                    Some(old)
                        if old
                            .columns
                            .iter()
                            .any(|o| o.name == *from || o.name == c.name) =>
                    {
                        None
                    }
                    Some(_) => Some(format!(
                        "schema_version {v} has no column \"{from}\" in that table"
                    )),
                },
            };
            if let Some(earlier) = earlier {
                return Err(GenerateError::RenamedFromUnknown {
                    table: t.written_name.clone(),
                    column: c.name.clone(),
                    from: from.clone(),
                    earlier,
                });
            }
        }
    }
    Ok(())
}

/// Writes each file whose bytes differ from the disk, creating folders. Returns the paths written.
pub fn write_outputs(files: &BTreeMap<PathBuf, Vec<u8>>) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (path, bytes) in files {
        if std::fs::read(path).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)?;
            }
        }
        let tmp = path.with_extension("replgen-tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        written.push(path.clone());
    }
    Ok(written)
}

/// Compares the outputs with the disk: a unified diff per differing or missing file.
pub fn check_outputs(files: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<String> {
    let mut diffs = Vec::new();
    for (path, bytes) in files {
        let expected = String::from_utf8_lossy(bytes);
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(actual) if actual == *bytes => {}
            Ok(actual) => {
                let actual = String::from_utf8_lossy(&actual);
                let diff = similar::TextDiff::from_lines(actual.as_ref(), expected.as_ref())
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("{name} (on disk)"), &format!("{name} (generated)"))
                    .to_string();
                diffs.push(diff);
            }
            Err(_) => {
                let diff = similar::TextDiff::from_lines("", expected.as_ref())
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("{name} (missing)"), &format!("{name} (generated)"))
                    .to_string();
                diffs.push(diff);
            }
        }
    }
    diffs
}

fn absolute(p: &Path) -> PathBuf {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    // Lexical normalization (the files need not exist yet).
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The `schema = "..."` path the derive reads: schema.yaml relative to the folder of the nearest
/// Cargo.toml above the Rust output (the derive resolves it against CARGO_MANIFEST_DIR), or as
/// given when there is none. Always with `/` separators.
pub fn schema_attr_path(schema: &Path, rust_out: &Path) -> String {
    let out = absolute(rust_out);
    let mut dir = out.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        if d.join("Cargo.toml").is_file() {
            let schema_abs = absolute(schema);
            return relative(&d, &schema_abs);
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    schema.to_string_lossy().replace('\\', "/")
}

/// `target` as `include_str!` in the file `from` names it: relative to `from`'s folder, with `/`
/// separators.
pub fn relative_to_file(from: &Path, target: &Path) -> String {
    let from = absolute(from);
    let dir = from.parent().unwrap_or(Path::new("/"));
    relative(dir, &absolute(target))
}

fn relative(base: &Path, target: &Path) -> String {
    let b: Vec<_> = base.components().collect();
    let t: Vec<_> = target.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = Vec::new();
    for _ in common..b.len() {
        parts.push("..".into());
    }
    for c in &t[common..] {
        parts.push(c.as_os_str().to_string_lossy().into_owned());
    }
    parts.join("/")
}
