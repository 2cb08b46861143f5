//! The shared store: one PostgreSQL database that more than one server node uses at
//! once. The same tables and statements as the embedded store ([`crate::sql`]);
//! writers are serialized by one transaction-scoped advisory lock, so every write
//! transaction sees the one before it, as SQLite's `BEGIN IMMEDIATE` does. The audit's
//! signed head is a row committed with the entries it covers. A new bundle version
//! wakes every node listening ([`BundleListener`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use postgres::types::{FromSql, IsNull, ToSql, Type};
use postgres::{Client, IsolationLevel, NoTls, Statement};

use crate::audit::{AuditKey, Head, HeadRead};
use crate::error::{Error, StorageError};
use crate::sql::schema::{postgres as translated, MIGRATIONS, SCHEMA, SCHEMA_VERSION};
use crate::sql::{advance_head, json, load_key, Conn, Row, SqlTx, Value};
use crate::store::{ReadTx, Store, Tx};

/// The advisory lock every write transaction holds: one writer at a time, across
/// every node.
pub(crate) const WRITER_LOCK: i64 = 0x706f_7274_6375;

/// The channel a new bundle version is announced on (its payload: the version).
pub const BUNDLE_CHANNEL: &str = "portcullis_bundles";

/// What only PostgreSQL has: the audit's head, and the trigger that announces a new
/// bundle version to every listening node when its transaction commits.
const EXTRAS: &str = "
CREATE TABLE IF NOT EXISTS audit_head (id BIGINT PRIMARY KEY, head TEXT NOT NULL);
CREATE OR REPLACE FUNCTION portcullis_bundle_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('portcullis_bundles', NEW.version::text);
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE TRIGGER bundles_notify AFTER INSERT ON bundles
    FOR EACH ROW EXECUTE FUNCTION portcullis_bundle_notify();
";

/// State in a PostgreSQL database (`postgres://user@host:port/database`), with the
/// audit key in a file of each node (the same key on every node).
pub struct PostgresStore {
    connection: Mutex<Connection>,
    url: String,
    key_path: PathBuf,
    key: OnceLock<AuditKey>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .field("key", &self.key_path)
            .finish_non_exhaustive()
    }
}

/// One connection and the statements prepared on it (each prepared once, for reads
/// and writes alike).
struct Connection {
    client: Detached,
    statements: HashMap<String, Statement>,
}

/// `url` without its password, for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

/// A client that is dropped on a thread of its own: a client holds a small runtime,
/// and a runtime dropped inside an asynchronous context (a server's) panics.
pub(crate) struct Detached(Option<Client>);

impl std::ops::Deref for Detached {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Always `Some` until dropped.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("a dropped client"))
    }
}

impl std::ops::DerefMut for Detached {
    fn deref_mut(&mut self) -> &mut Client {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("a dropped client"))
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            if std::thread::Builder::new()
                .name("postgres-close".to_owned())
                .spawn(move || drop(client))
                .is_err()
            {
                // No thread: the connection is left to the process's end.
            }
        }
    }
}

pub(crate) fn connect(url: &str) -> Result<Detached, Error> {
    connect_client(url).map(|c| Detached(Some(c)))
}

fn connect_client(url: &str) -> Result<Client, Error> {
    Client::connect(url, NoTls).map_err(|e| {
        StorageError::Open {
            path: PathBuf::from(redacted(url)),
            source: Box::new(e),
        }
        .into()
    })
}

impl From<postgres::Error> for Error {
    fn from(error: postgres::Error) -> Self {
        Error::Storage(StorageError::Database(Box::new(error)))
    }
}

impl PostgresStore {
    /// Connects to the database at `url`, creating the tables when they are missing,
    /// with the audit key at `key`.
    pub fn open(url: &str, key: &Path) -> Result<PostgresStore, Error> {
        let mut client = connect(url)?;
        let mut tx = client.transaction()?;
        // Two nodes starting at once must not both create the tables.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK])?;
        tx.batch_execute(&translated(SCHEMA))?;
        tx.batch_execute(EXTRAS)?;
        let found: Option<String> = tx
            .query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])?
            .map(|r| r.try_get(0))
            .transpose()?;
        match found {
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', $1)",
                    &[&SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) if v.parse::<i64>().is_ok_and(|v| v < SCHEMA_VERSION) => {
                // Older: migrated in this transaction, under the same lock.
                let mut at = v.parse::<i64>().unwrap_or(SCHEMA_VERSION);
                while let Some((_, migration)) = MIGRATIONS.iter().find(|(from, _)| *from == at) {
                    tx.batch_execute(&translated(migration))?;
                    at += 1;
                }
                if at != SCHEMA_VERSION {
                    return Err(StorageError::Unmigratable {
                        path: PathBuf::from(redacted(url)),
                        version: at,
                    }
                    .into());
                }
                tx.execute(
                    "UPDATE meta SET value = $1 WHERE key = 'schema'",
                    &[&SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(v) => {
                return Err(StorageError::SchemaVersion {
                    path: PathBuf::from(redacted(url)),
                    found: v,
                    supported: SCHEMA_VERSION,
                }
                .into())
            }
        }
        tx.commit()?;
        Ok(PostgresStore {
            connection: Mutex::new(Connection {
                client,
                statements: HashMap::new(),
            }),
            url: redacted(url),
            key_path: key.to_owned(),
            key: OnceLock::new(),
        })
    }

    /// Listens for new bundle versions on a connection of its own.
    pub fn listen(url: &str) -> Result<BundleListener, Error> {
        let mut client = connect(url)?;
        client.batch_execute(&format!("LISTEN {BUNDLE_CHANNEL}"))?;
        Ok(BundleListener { client })
    }

    fn run<T>(
        &mut self,
        reanchor: bool,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let Connection { client, statements } = self
            .connection
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK])?;
        let mut conn = Pg {
            tx: &mut tx,
            statements,
        };
        let mut handle = SqlTx {
            tx: &mut conn,
            appended: None,
            before: None,
        };
        let value = work(&mut handle)?;
        let (appended, before) = (handle.appended.take(), handle.before.take().flatten());
        if let Some((seq, hash)) = appended {
            let head = read_head(&mut conn)?;
            let (_, next) = advance_head(
                &self.key,
                &self.key_path,
                &head,
                before.as_ref(),
                (seq, &hash),
                reanchor,
            )?;
            let head = json(&Head {
                head: Some(next),
                pending: None,
            })?;
            conn.execute(
                "INSERT INTO audit_head (id, head) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET head = excluded.head",
                &[Value::Text(head)],
            )?;
        }
        tx.commit()?;
        Ok(value)
    }
}

fn read_head(conn: &mut dyn Conn) -> Result<HeadRead, Error> {
    let rows = conn.query("SELECT head FROM audit_head WHERE id = 1", &[])?;
    let Some(row) = rows.first() else {
        return Ok(HeadRead::Missing);
    };
    let text: String = row.get(0)?;
    Ok(match serde_json::from_str::<Head>(&text) {
        Ok(head) => HeadRead::Found(head),
        Err(e) => HeadRead::Corrupt(format!("the stored audit head does not parse: {e}")),
    })
}

impl Store for PostgresStore {
    fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.run(false, work)
    }

    fn read<T>(&self, work: impl FnOnce(&mut dyn ReadTx) -> Result<T, Error>) -> Result<T, Error> {
        let mut guard = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Connection { client, statements } = &mut *guard;
        // One snapshot for the whole read; it is never committed.
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        work(&mut SqlTx {
            tx: &mut Pg {
                tx: &mut tx,
                statements,
            },
            appended: None,
            before: None,
        })
    }

    fn reanchor<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.run(true, work)
    }

    fn audit_head(&self) -> Result<HeadRead, Error> {
        let mut guard = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Connection { client, statements } = &mut *guard;
        let mut tx = client.transaction()?;
        read_head(&mut Pg {
            tx: &mut tx,
            statements,
        })
    }

    fn audit_key(&self) -> Result<&AuditKey, Error> {
        load_key(&self.key, &self.key_path, false)
    }
}

/// Wakes when another node (or this one) commits a new bundle version.
pub struct BundleListener {
    client: Detached,
}

impl std::fmt::Debug for BundleListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleListener").finish_non_exhaustive()
    }
}

impl BundleListener {
    /// Waits up to `timeout` for an announcement; the newest version announced, or
    /// `None` when none came in time. An error means the connection is gone: listen
    /// again.
    pub fn wait(&mut self, timeout: Duration) -> Result<Option<i64>, Error> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut newest = None;
        {
            let mut notifications = self.client.notifications();
            if let Some(n) = notifications.timeout_iter(timeout).next()? {
                newest = n.payload().parse().ok();
            }
            // Whatever else is already queued.
            let mut queued = notifications.iter();
            while let Some(n) = queued.next()? {
                newest = newest.max(n.payload().parse().ok());
            }
        }
        if newest.is_none() && self.client.is_closed() {
            return Err(StorageError::Database("the listening connection closed".into()).into());
        }
        Ok(newest)
    }
}

/// A PostgreSQL transaction as a [`Conn`]: `?N` parameters become `$N`, and each
/// statement is prepared once per connection.
pub(crate) struct Pg<'a, 'c> {
    pub(crate) tx: &'a mut postgres::Transaction<'c>,
    pub(crate) statements: &'a mut HashMap<String, Statement>,
}

impl Pg<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(&numbered(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// `sql` with `?N` parameters written `$N`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl Conn for Pg<'_, '_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, Error> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        Ok(self.tx.execute(&statement, &params)?)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, Error> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.tx
            .query(&statement, &params)?
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get::<_, Value>(i).map_err(Error::from))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
            })
            .collect()
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Text(t) => t.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Value, BoxError> {
        Ok(match *ty {
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::BYTEA => Value::Blob(<Vec<u8>>::from_sql(ty, raw)?),
            _ => Value::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Value, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::BOOL | Type::INT2 | Type::INT4 | Type::INT8 | Type::BYTEA
        ) || <String as FromSql>::accepts(ty)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameters_are_renumbered_and_passwords_redacted() {
        assert_eq!(
            super::numbered("SELECT a FROM t WHERE b = ?1 AND c = ?12 OR d = '?'"),
            "SELECT a FROM t WHERE b = $1 AND c = $12 OR d = '?'"
        );
        assert_eq!(
            super::redacted("postgres://app:secret@127.0.0.1:5432/state"),
            "postgres://app@127.0.0.1:5432/state"
        );
        assert_eq!(
            super::redacted("postgres://127.0.0.1/state"),
            "postgres://127.0.0.1/state"
        );
    }
}
