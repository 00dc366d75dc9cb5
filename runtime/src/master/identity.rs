//! The feed's identity and the folder it is published into: a dumper cuts only into a folder
//! that holds its own feed (or none yet), and never re-cuts a serial the folder already lists.

use postgres::Client;

use super::Master;
use crate::db::{self, LOCK_CUT};
use crate::error::{Context, Error, Result};
use crate::feed::{Feed, INDEX_FILE};
use crate::index::{FeedInfo, Index};
use crate::sql;

/// The identity this database publishes, and whether it has published anything.
pub(super) fn load(client: &mut Client) -> Result<(FeedInfo, bool)> {
    let row = client
        .query_one(&sql::plain("feed_identity"), &[])
        .context(|| "cannot read replgen.feed".into())?;
    Ok((
        FeedInfo {
            id: row.get(0),
            created: row.get(1),
        },
        row.get(2),
    ))
}

/// `export --new-feed`: a new identity whose serials continue after everything before it.
pub(super) fn start_new(client: &mut Client, feed: &Feed) -> Result<()> {
    let listed = read_index(feed)?
        .and_then(|index| index.newest_serial())
        .unwrap_or(0);
    db::lock(client, LOCK_CUT)?;
    let started = client
        .transaction()
        .and_then(|mut tx| {
            tx.execute(&sql::plain("new_feed"), &[&(listed as i64)])?;
            tx.batch_execute(&sql::plain("forget_feed"))?;
            tx.commit()
        })
        .context(|| "cannot start a new feed".into());
    db::unlock(client, LOCK_CUT)?;
    started
}

/// The folder's index.xml, if it has one.
fn read_index(feed: &Feed) -> Result<Option<Index>> {
    let Some(bytes) = feed.read_published(INDEX_FILE)? else {
        return Ok(None);
    };
    Index::parse(&bytes)
        .map(Some)
        .map_err(|source| Error::FolderIndexInvalid {
            folder: feed.describe(),
            source,
        })
}

impl Master {
    /// Refuses to cut into a folder that is not this database's feed: another feed's index, an
    /// index listing serials this database never cut (it is behind its folder), or no index at
    /// all once this database has published.
    pub(super) fn check_folder(&mut self, last_serial: u64) -> Result<()> {
        let folder = self.feed.describe();
        let Some(index) = read_index(&self.feed)? else {
            if self.published {
                return Err(Error::FeedFolderLost { folder });
            }
            return Ok(());
        };
        if let Some(theirs) = &index.feed {
            if theirs.id != self.identity.id {
                return Err(Error::FolderOfAnotherFeed {
                    folder,
                    theirs: theirs.id.clone(),
                    ours: self.identity.id.clone(),
                });
            }
        }
        match index.newest_serial() {
            Some(listed) if listed > last_serial => Err(Error::DatabaseBehindFolder {
                folder,
                folder_serial: listed,
                database_serial: last_serial,
            }),
            _ => Ok(()),
        }
    }
}
