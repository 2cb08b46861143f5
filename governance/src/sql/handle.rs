//! A database connection of either kind for tables of their own: what the server's
//! credential store keeps beside the state, in the same database.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::error::{Error, StorageError};
use crate::postgres::{connect, Pg};
use crate::sqlite::Sqlite;

use super::Conn;

/// One connection, to a SQLite file or a PostgreSQL database; each unit of work runs
/// in one transaction.
pub struct Sql {
    inner: Mutex<Inner>,
}

// One per store, made once: the size of the larger connection does not matter.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(crate::postgres::Detached, super::Statements),
}

impl std::fmt::Debug for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql").finish_non_exhaustive()
    }
}

impl Sql {
    /// Opens (creating) the SQLite file at `path`: WAL, synchronous commits.
    pub fn sqlite(path: &Path) -> Result<Sql, Error> {
        let fail = |e: rusqlite::Error| StorageError::Open {
            path: path.to_owned(),
            source: Box::new(e),
        };
        let conn = rusqlite::Connection::open(path).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(fail)?;
        Ok(Sql {
            inner: Mutex::new(Inner::Sqlite(conn)),
        })
    }

    /// Connects to the PostgreSQL database at `url`.
    pub fn postgres(url: &str) -> Result<Sql, Error> {
        Ok(Sql {
            inner: Mutex::new(Inner::Postgres(connect(url)?, super::Statements::default())),
        })
    }

    /// Creates tables: `schema` in SQLite's words (translated for PostgreSQL), run
    /// once, by one process at a time.
    pub fn create(&self, schema: &str) -> Result<(), Error> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *inner {
            Inner::Sqlite(conn) => conn.execute_batch(schema)?,
            Inner::Postgres(client, _) => {
                let mut tx = client.transaction()?;
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1)",
                    &[&crate::postgres::WRITER_LOCK],
                )?;
                tx.batch_execute(&super::schema::postgres(schema))?;
                tx.commit()?;
            }
        }
        Ok(())
    }

    /// Runs `work` in one transaction: committed when it returns `Ok`, rolled back
    /// when it returns `Err`.
    pub fn run<T, E: From<Error>>(
        &self,
        work: impl FnOnce(&mut dyn Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *inner {
            Inner::Sqlite(conn) => {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(Error::from)?;
                let value = work(&mut Sqlite(&tx))?;
                tx.commit().map_err(Error::from)?;
                Ok(value)
            }
            Inner::Postgres(client, statements) => {
                let mut tx = client.transaction().map_err(Error::from)?;
                let value = work(&mut Pg {
                    tx: &mut tx,
                    statements,
                })?;
                tx.commit().map_err(Error::from)?;
                Ok(value)
            }
        }
    }
}
