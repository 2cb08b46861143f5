//! Either store, chosen when the state is opened: the embedded SQLite file of a state
//! directory, or a PostgreSQL database that more than one server node shares.

use crate::audit::{AuditKey, HeadRead};
use crate::error::Error;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::store::{ReadTx, Store, Tx};

/// The store of a state: [`SqliteStore`] or [`PostgresStore`].
// One per state, made once: the size of the larger store does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Database {
    /// One SQLite file (the state directory's `state.db`).
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PostgresStore),
}

impl From<SqliteStore> for Database {
    fn from(store: SqliteStore) -> Database {
        Database::Sqlite(store)
    }
}

impl From<PostgresStore> for Database {
    fn from(store: PostgresStore) -> Database {
        Database::Postgres(store)
    }
}

/// The same call on whichever store it is.
macro_rules! either {
    ($self:expr, $store:ident => $call:expr) => {
        match $self {
            Database::Sqlite($store) => $call,
            Database::Postgres($store) => $call,
        }
    };
}

impl Store for Database {
    fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        either!(self, store => store.transaction(work))
    }

    fn read<T>(&self, work: impl FnOnce(&mut dyn ReadTx) -> Result<T, Error>) -> Result<T, Error> {
        either!(self, store => store.read(work))
    }

    fn reanchor<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        either!(self, store => store.reanchor(work))
    }

    fn audit_head(&self) -> Result<HeadRead, Error> {
        either!(self, store => store.audit_head())
    }

    fn audit_key(&self) -> Result<&AuditKey, Error> {
        either!(self, store => store.audit_key())
    }
}
