//! The runtime's errors: one variant per kind of failure, so callers and tests match on what
//! happened, each displayed as a sentence or two that says what failed and where.

use std::io;

use crate::codec::DecodeError;
use crate::index::IndexError;
use crate::manifest::ManifestError;
use crate::packet::PacketError;
use crate::source::FetchError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {}", describe_db(source))]
    Db {
        context: String,
        source: postgres::Error,
    },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// A call to object storage failed; the message names the object (never a credential).
    #[error("{0}")]
    ObjectStore(io::Error),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("packet {serial} ({path}): {source}")]
    Packet {
        serial: u64,
        path: String,
        source: PacketError,
    },
    #[error("packet {serial} ({path}): {source}")]
    Decode {
        serial: u64,
        path: String,
        source: Box<DecodeError>,
    },
    /// A packet whose header contradicts the index that lists it.
    #[error("packet {serial} ({path}): {reason}")]
    PacketMismatch {
        serial: u64,
        path: String,
        reason: String,
    },
    /// An export whose manifest or files are not what the index promised.
    #[error("export {serial}: {reason}")]
    Export { serial: u64, reason: String },
    #[error("export {serial}: {source}")]
    Manifest { serial: u64, source: ManifestError },

    // The master.
    #[error("change capture is not installed in this database; run the `install` command (or the generated migration) first")]
    NotInstalled,
    #[error(
        "this database is a replica (at packet {serial}) with no change capture: `dump` and `export` \
         run against the master. (A cascading mirror, which republishes what it applies, has capture \
         installed beside its position: `install` here, then `apply --cascade`)"
    )]
    NotInstalledOnReplica { serial: u64 },
    #[error(
        "this database is a replica (at packet {serial}); capture is installed on the master. \
         Nothing was changed. To make this replica a cascading mirror that publishes a feed of \
         what it applies, run `install --cascade` (then `apply --cascade`)"
    )]
    InstallOnReplica { serial: u64 },
    #[error(
        "the database's capture is for schema_version {installed_version} (fingerprint {}), a layout this binary \
         does not know (it knows schema_version {known}); {}",
        short(installed_fingerprint),
        if *installed_version > *binary_version {
            "a newer install migration ran: run a binary generated for that schema_version or later"
        } else {
            "apply this binary's install migration (`install`), or run the binary generated with the installed one"
        }
    )]
    CaptureMismatch {
        installed_version: u32,
        installed_fingerprint: String,
        binary_version: u32,
        /// The versions this binary knows, as written for people.
        known: String,
    },
    #[error(
        "the installed capture is schema_version {installed}, newer than this binary's {binary}: a \
         capture's layout never goes back; run `install` with a binary generated for schema_version \
         {installed} or later (nothing was changed)"
    )]
    InstallOlder { installed: u32, binary: u32 },
    #[error(
        "the feed is signed (index.xml.minisig), but no --sign-key was given: replicas that check its \
         signature would refuse it from now on; pass --sign-key, or --unsigned to stop signing it \
         (nothing was written)"
    )]
    FeedSigned,
    #[error(
        "the feed last published schema_version {published}, but the installed capture is schema_version \
         {installed}: a feed's layout never goes back; install the newer capture again (nothing was cut)"
    )]
    LayoutBehindFeed { installed: u32, published: u32 },
    #[error(
        "the feed last published schema_version {version}, a layout this binary does not know (it knows \
         schema_version {known}); run a binary generated with that version's layout history"
    )]
    LayoutUnknown { version: u32, known: String },
    /// The capture was installed again between a cut's start and its locks (retried).
    #[error("the capture was upgraded while the cut began; cut again")]
    CaptureChanged,
    #[error("--resync {name}: no replicated table has that name (as schema.table, or a name only one table has); the replicated tables are: {tables}")]
    UnknownTable { name: String, tables: String },
    #[error("--replica-sql {dir}: {problem}; nothing was applied")]
    ReplicaSqlFolder { dir: String, problem: String },
    /// The database says a file was published, but the feed folder does not have it.
    #[error(
        "packet {serial} was published into {folder}, but its file {path} is missing: this folder is not, \
         or no longer, this database's feed (wiped, restored from an old backup, or the wrong --out). \
         Point --out at the feed's folder; or put the missing files back (from the folder a dump \
         wrote them into by mistake, or a backup: each must match the sha256 the index lists); or \
         start a new feed in this one with `export --new-feed` (its replicas then `import --replace` \
         the new feed's export)"
    )]
    PublishedFileMissing {
        serial: u64,
        folder: String,
        path: String,
    },
    #[error(
        "{folder} has no index.xml, but this database has published packets into its feed: this folder is not, \
         or no longer, this database's feed (wiped, or the wrong --out). Point --out at the feed's folder, or \
         start a new feed in this one with `export --new-feed`"
    )]
    FeedFolderLost { folder: String },
    #[error(
        "{folder} holds feed {theirs}, but this database publishes feed {ours} (capture installed again, \
         another master, or the wrong --out); nothing was cut. Use the folder of this database's feed, or \
         start a new feed here with `export --new-feed` (replicas of the old feed then `import --replace`)"
    )]
    FolderOfAnotherFeed {
        folder: String,
        theirs: String,
        ours: String,
    },
    #[error(
        "{folder} already lists packet {folder_serial}, but this database has cut only up to {database_serial} \
         (restored to an earlier point in time, or a standby promoted while it lagged); cutting would publish \
         those serials again with other contents. Start a new feed with `export --new-feed`"
    )]
    DatabaseBehindFolder {
        folder: String,
        folder_serial: u64,
        database_serial: u64,
    },
    #[error("{folder}/index.xml cannot be read as a feed index ({source}); nothing was cut")]
    FolderIndexInvalid { folder: String, source: IndexError },
    #[error("export {serial} was committed but its folder is missing; run `export` again")]
    ExportFolderMissing { serial: u64 },
    /// The live tables are not the layout this binary was generated for.
    #[error(
        "the replicated tables do not match this binary's layout: {}. Nothing was changed and pending \
         changes are kept; make the tables match, or change schema.yaml (with a new schema_version) and \
         install the new layout",
        problems.join("; ")
    )]
    LiveTablesDiffer { problems: Vec<String> },
    #[error(
        "export {serial} is of schema_version {version}, but the replica's tables are not that layout \
         ({}); nothing was changed. On a new mirror, make its tables with `init --schema-version \
         {version}` (on an empty database) and import again: the packets after the export upgrade \
         them to schema_version {binary}. Or import a newer export",
        problems.join("; ")
    )]
    ImportLayout {
        serial: u64,
        version: u32,
        binary: u32,
        problems: Vec<String>,
    },
    /// A replicated table or one of its partitions lacks its capture, or a partition went with
    /// its rows: writes may have gone uncaptured, so the cut refuses.
    #[error(
        "the capture is incomplete, so writes to {} may not be in the feed: {}. Nothing was \
         published and pending changes are kept; run `install` again to restore the capture, then \
         `dump --resync TABLE` for each table named publishes a table reload of what was missed",
        tables.join(", "),
        problems.join("; ")
    )]
    CaptureIncomplete {
        tables: Vec<String>,
        problems: Vec<String>,
    },
    /// A row replicas could not load: the cut refuses it and keeps every pending change.
    #[error(
        "table {table}, key {key}: the row is {bytes} bytes as a packet line, beyond the {limit} bytes \
         replicas accept; nothing was published and the pending changes are kept (shorten the value, \
         or stop replicating the column)"
    )]
    RowTooLarge {
        table: String,
        key: String,
        bytes: u64,
        limit: u64,
    },
    #[error("{what} has {value}, beyond the largest this feed can hold ({max})")]
    OutOfRange { what: String, value: u64, max: u64 },

    // The replica.
    #[error(
        "the replica is at packet {replica}, but the feed's newest packet is {newest}: \
         the feed was rolled back or this replica follows another master"
    )]
    FeedBehindReplica { replica: u64, newest: u64 },
    #[error(
        "the replica is at packet {replica}, but the oldest packet the feed still lists is {oldest}; {}",
        if *has_position { "import the latest export to catch up" }
        else { "this replica has no position yet: import the latest export first (`import`)" }
    )]
    TooFarBehind {
        replica: u64,
        oldest: u64,
        has_position: bool,
    },
    #[error(
        "the replica follows feed {followed}, but {feed} is {}: capture was installed again, the master \
         changed, or a new feed was started. Import the new feed's export with `import --replace`",
        match found { Some(id) => format!("feed {id}"), None => "a feed without an identity".to_string() }
    )]
    OtherFeed {
        /// Where the index was read.
        feed: String,
        followed: String,
        found: Option<String>,
    },
    #[error(
        "{what} is for schema_version {version}, but this binary knows only schema_version {known}; \
         upgrade the mirror binary to one generated for schema_version {version} or later (nothing was changed)"
    )]
    SchemaVersion {
        what: String,
        version: u32,
        /// The versions this binary knows, as written for people.
        known: String,
    },
    #[error(
        "{what} has schema_version {version} but a different table layout (fingerprint {}…, this binary {}…); \
         regenerate this binary from the master's schema.yaml",
        short(fingerprint),
        short(binary_fingerprint)
    )]
    SchemaLayout {
        what: String,
        version: u32,
        fingerprint: String,
        binary_fingerprint: String,
    },
    #[error("{what}: {reason} (nothing was changed)")]
    UpgradeRefused { what: String, reason: String },
    #[error(
        "{what} is for schema_version {version}, older than the replica's schema_version {replica_version}: \
         a feed's layout never goes back; import the feed's latest export"
    )]
    LayoutWentBack {
        what: String,
        version: u32,
        replica_version: u32,
    },
    #[error("packet {serial} ({path}): the replica already applied it (replica is at packet {at}); a packet is never applied twice")]
    AlreadyApplied { serial: u64, path: String, at: u64 },
    #[error("packet {serial} ({path}): the replica is at packet {at}; packets apply in order, and {} comes next", at + 1)]
    OutOfOrder { serial: u64, path: String, at: u64 },
    #[error("the feed at {feed} lists no export; run `export` on the master")]
    NoExport { feed: String },
    #[error("the replica is not empty ({reason}); import loads only into empty tables, or pass --replace to overwrite them")]
    NotEmpty { reason: String },
    #[error(
        "the replica has no position, but {table} has rows: applying from the first packet over rows \
         from elsewhere would leave it unlike the master. Import the feed's export (`import \
         --replace` overwrites the tables); nothing was changed"
    )]
    RowsWithoutPosition { table: String },
    #[error(
        "this database is a replica (at packet {serial}): uninstall drops replgen's state, its \
         position with it, and the replica could then only start again from an export. Nothing was \
         changed; pass --forget-position to do it all the same"
    )]
    UninstallReplica { serial: u64 },
    #[error(
        "there are changes no packet has published yet, of {tables} (in the change logs, or partitions \
         attached or detached since the last cut): uninstall would drop them, and the feed's replicas \
         would never get them. Nothing was changed; run `dump` first, or pass --drop-uncut-changes to \
         drop them all the same"
    )]
    UninstallUncut { tables: String },
    /// `apply` or `import` pointed at a database with change capture installed.
    #[error(
        "this database publishes a feed (change capture is installed: replgen.meta exists), so it is a master \
         or a cascading mirror; applying packets to it would overwrite its own newer changes and publish \
         them again. Point --db at the replica; if this is a mirror that republishes what it applies, pass --cascade"
    )]
    PublishesFeed,
    /// The role may not set session_replication_role, and objects on the replica would fire.
    #[error(
        "this role may not set session_replication_role = replica (a superuser may, or a role granted \
         SET ON PARAMETER session_replication_role), and without it these would make the replica differ \
         from the master: {}. Grant the privilege, or drop or disable them; nothing was changed",
        objects.join("; ")
    )]
    ReplicaHazards { objects: Vec<String> },
    /// `init` on a database that already has relations named like replicated tables.
    #[error(
        "the database already has {}: {}. `init` creates the replicated tables only on a database that has \
         none of them, and created nothing; drop them, or create the missing ones by hand",
        if tables.len() == 1 { "one of the replicated tables" } else { "some of the replicated tables" },
        tables.join(", ")
    )]
    InitTablesExist { tables: Vec<String> },
    /// `init` found column types the database does not have and the layout cannot create.
    #[error(
        "the database lacks {} the replicated tables use: {}. Create {} (CREATE TYPE, CREATE DOMAIN or \
         CREATE EXTENSION, as on the master) and run `init` again; nothing was created",
        if types.len() == 1 { "a type" } else { "types" },
        types.join("; "),
        if types.len() == 1 { "it" } else { "them" }
    )]
    InitMissingTypes { types: Vec<String> },
    /// An enum the layout defines exists on the mirror in another shape.
    #[error(
        "type {name} is defined in schema.yaml as an enum, but {reason}; `init` created nothing (drop \
         the type, or add the labels with ALTER TYPE ... ADD VALUE)"
    )]
    InitEnumDiffers { name: String, reason: String },
    /// The replica's database refused a row the codec accepted (a constraint, a type).
    #[error("{what}: the replica refused a row: {reason}")]
    RowRefused { what: String, reason: String },

    /// A run of ADD lines copied straight into its table was refused (a key the table already
    /// holds, say). Apply then runs the packets again through the stage, whose merge replaces
    /// such rows, so this never reaches the user.
    #[error("{what}: the rows of {table} could not be copied straight into it: {reason}")]
    DirectCopyRefused {
        what: String,
        table: String,
        reason: String,
    },

    /// The keys of a batch staged newest first took more memory than `budget` bytes. Apply then
    /// stages the batch again in packet order, so this never reaches the user.
    #[error("{what}: the keys of the batch take more than {budget} bytes of memory")]
    BatchOverBudget { what: String, budget: usize },

    // Tools.
    #[error("{which}: {source}")]
    CompareDatabase {
        which: &'static str,
        source: Box<Error>,
    },
    #[error("{differing} of {tables} tables differ")]
    TablesDiffer { differing: usize, tables: usize },
    #[error("{0}")]
    Busy(&'static str),
    #[error("interrupted (SIGINT or SIGTERM); nothing was changed")]
    Interrupted,
    /// Something in the feed folder the dumper did not make (a symlink, a file for a folder).
    #[error("{path}: {reason}; refusing to use it (remove it if nothing needs it)")]
    UnsafeFeedPath { path: String, reason: String },
    /// A signing or trusted key file that cannot be used.
    #[error("key {path}: {reason}")]
    Key { path: String, reason: String },
    /// `status --max-lag`: the replica is further behind than allowed.
    #[error("replica is {behind} (at packet {serial}), beyond --max-lag {max}")]
    LagBeyond {
        behind: String,
        serial: u64,
        max: String,
    },
}

impl Error {
    /// Whether the database connection is gone or the server is unavailable for now (a
    /// restart, a failover, a dropped connection): a new connection later may succeed.
    pub fn is_connection_lost(&self) -> bool {
        let Error::Db { source, .. } = self else {
            return false;
        };
        if source.is_closed() {
            return true;
        }
        match source.as_db_error() {
            // No server answer at all: an I/O error, a refused or reset connection.
            None => true,
            // 08: connection exception; 57: operator intervention (shutdown, restart,
            // "the database system is starting up"); 53: insufficient resources.
            Some(db) => matches!(&db.code().code()[..2], "08" | "57" | "53"),
        }
    }

    /// Whether a cut refused for a state of the master that the operator's next step ends (the
    /// live tables left the layout, a capture trigger is missing or disabled), as opposed to one
    /// no retry can change.
    pub fn awaits_the_operator(&self) -> bool {
        matches!(
            self,
            Error::LiveTablesDiffer { .. } | Error::CaptureIncomplete { .. }
        )
    }

    /// Whether a statement named a table that does not exist.
    pub fn is_undefined_table(&self) -> bool {
        matches!(self, Error::Db { source, .. }
            if source.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE))
    }

    /// Whether a COPY straight into a table was refused: the stage would take the rows.
    pub fn is_direct_copy_refused(&self) -> bool {
        matches!(self, Error::DirectCopyRefused { .. })
    }

    /// Whether a batch staged newest first ran out of memory for its keys.
    pub fn is_batch_over_budget(&self) -> bool {
        matches!(self, Error::BatchOverBudget { .. })
    }

    /// Whether a statement gave up waiting for a lock (`lock_timeout`): trying again may succeed.
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, Error::Db { source, .. }
            if source.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE))
    }
}

fn short(fingerprint: &str) -> &str {
    &fingerprint[..fingerprint.len().min(12)]
}

/// `postgres::Error` displays only its kind ("db error"); the server's message, detail and hint
/// (or the underlying I/O cause) are in its source, and they are what a person needs to read.
pub(crate) fn describe_db(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = db.message().to_string();
        if let Some(detail) = db.detail() {
            s.push_str(&format!(" (detail: {detail})"));
        }
        if let Some(hint) = db.hint() {
            s.push_str(&format!(" (hint: {hint})"));
        }
        return s;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The same for the I/O error a COPY's reader or writer returns, which wraps the
/// `postgres::Error`.
pub(crate) fn describe_copy_write(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<postgres::Error>())
    {
        Some(source) => describe_db(source),
        None => e.to_string(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a context sentence to database and I/O errors.
pub trait Context<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, postgres::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Db {
            context: context(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, io::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}
