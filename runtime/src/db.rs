//! Connections: libpq strings or postgres:// URLs, with the session settings that make every
//! value's text form canonical, and the advisory locks that keep processes from colliding.

use postgres::{Client, NoTls};

use crate::error::{Context, Error, Result};
use crate::sql;

/// The first half of every replgen advisory-lock key ("repl").
const LOCK_CLASS: i32 = 0x7265_706c;
/// Held for its whole life by a `dump` process: one dumper per database.
pub const LOCK_DUMPER: i32 = 1;
/// Held around every cut (by `dump` and by `export`), so cuts never overlap.
pub const LOCK_CUT: i32 = 2;
/// Held by an `apply` or `import` process on a replica.
pub const LOCK_REPLICA: i32 = 3;

pub fn connect(db: &str) -> Result<Client> {
    let cannot = |source| Error::Db {
        context: "cannot connect to the database".into(),
        source,
    };
    let mut config: postgres::Config = db.parse().map_err(cannot)?;
    // The server's NOTICEs (`IF NOT EXISTS ... skipping` and the like) are detail, not news:
    // debug lines, seen with -v (by default the postgres crate logs them at info).
    config.notice_callback(|notice| {
        tracing::debug!(
            severity = notice.severity(),
            "server said: {}",
            notice.message()
        )
    });
    let mut client = config.connect(NoTls).map_err(cannot)?;
    client
        .batch_execute(sql::SESSION_SETTINGS)
        .context(|| "cannot set the session's formats".into())?;
    // When this process dies mid-query, the server notices within a second and releases the
    // locks (PostgreSQL 14+; older servers just lack the setting).
    let _ = client.batch_execute("SET client_connection_check_interval = '1s'");
    Ok(client)
}

/// Takes a session-level advisory lock, retrying for a few seconds: a process killed a moment
/// ago may still hold it until the server notices.
pub fn try_lock_patiently(client: &mut Client, key: i32) -> Result<bool> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if try_lock(client, key)? {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Takes a session-level advisory lock without waiting; false when another session holds it.
pub fn try_lock(client: &mut Client, key: i32) -> Result<bool> {
    client
        .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_CLASS, &key])
        .map(|row| row.get(0))
        .context(|| "cannot take an advisory lock".into())
}

/// Takes a session-level advisory lock, waiting for it.
pub fn lock(client: &mut Client, key: i32) -> Result<()> {
    client
        .execute("SELECT pg_advisory_lock($1, $2)", &[&LOCK_CLASS, &key])
        .map(|_| ())
        .context(|| "cannot take an advisory lock".into())
}

pub fn unlock(client: &mut Client, key: i32) -> Result<()> {
    client
        .execute("SELECT pg_advisory_unlock($1, $2)", &[&LOCK_CLASS, &key])
        .map(|_| ())
        .context(|| "cannot release an advisory lock".into())
}

/// The current time in UTC as RFC 3339 with microseconds, from the database's clock.
pub fn now_utc(client: &mut impl postgres::GenericClient) -> Result<String> {
    client
        .query_one(
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            &[],
        )
        .map(|row| row.get(0))
        .context(|| "cannot read the clock".into())
}
