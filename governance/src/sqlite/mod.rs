//! The embedded store: one SQLite database in WAL mode, synchronous commits, so an
//! acknowledged change survives a crash of the process or the machine.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::audit::{AuditKey, Head, HeadRead};
use crate::error::{Error, StorageError};
use crate::sql::schema::{MIGRATIONS, SCHEMA, SCHEMA_VERSION};
use crate::sql::{advance_head, json, load_key, Conn, Row, SqlTx, Value};
use crate::store::{ReadTx, Store, Tx};

/// State in one SQLite database file, and beside it `<file>.audit-head`: the audit's
/// latest checkpoint (entry count and last hash) signed with the audit key, rewritten
/// with every commit that appends to the audit. The key is a file of its own (default
/// `audit.key` beside the database). Readers share it: a read takes the connection for
/// the length of one read transaction.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    head: PathBuf,
    key_path: PathBuf,
    key: OnceLock<AuditKey>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, Error> {
        let mut conn = Connection::open(path).map_err(|e| StorageError::Open {
            path: path.to_owned(),
            source: Box::new(e),
        })?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match version.as_deref().map(str::parse::<i64>) {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(Ok(v)) if v == SCHEMA_VERSION => {}
            Some(Ok(mut v)) if v < SCHEMA_VERSION => {
                while let Some((_, migration)) = MIGRATIONS.iter().find(|(from, _)| *from == v) {
                    let tx = conn.transaction()?;
                    tx.execute_batch(migration)?;
                    v += 1;
                    tx.execute(
                        "UPDATE meta SET value = ?1 WHERE key = 'schema'",
                        params![v.to_string()],
                    )?;
                    tx.commit()?;
                }
                if v != SCHEMA_VERSION {
                    return Err(StorageError::Unmigratable {
                        path: path.to_owned(),
                        version: v,
                    }
                    .into());
                }
            }
            Some(_) => {
                return Err(StorageError::SchemaVersion {
                    path: path.to_owned(),
                    found: version.unwrap_or_default(),
                    supported: SCHEMA_VERSION,
                }
                .into())
            }
        }
        let mut head = path.as_os_str().to_owned();
        head.push(".audit-head");
        let key_path = path.with_file_name("audit.key");
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            head: PathBuf::from(head),
            key_path,
            key: OnceLock::new(),
        })
    }

    /// Opens the database at `path` with the audit key at `key` instead of the default
    /// `audit.key` beside it.
    pub fn open_with_key(path: &Path, key: &Path) -> Result<SqliteStore, Error> {
        let mut store = SqliteStore::open(path)?;
        key.clone_into(&mut store.key_path);
        Ok(store)
    }

    /// Runs `work` in one transaction. When it appends to the audit, the head must
    /// first match the audit's last entry (unless `reanchor`), and the new head is
    /// written, signed, before the commit (as pending) and after it.
    fn run<T>(
        &mut self,
        reanchor: bool,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let conn = self.conn.get_mut().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut handle = SqlTx {
            tx: &mut Sqlite(&tx),
            appended: None,
            before: None,
        };
        let value = work(&mut handle)?;
        let (appended, before) = (handle.appended.take(), handle.before.take().flatten());
        let Some((seq, hash)) = appended else {
            tx.commit()?;
            return Ok(value);
        };
        let head = read_head(&self.head);
        let (committed, next) = advance_head(
            &self.key,
            &self.key_path,
            &head,
            before.as_ref(),
            (seq, &hash),
            reanchor,
        )?;
        write_head(
            &self.head,
            &Head {
                head: committed,
                pending: Some(next.clone()),
            },
        )?;
        tx.commit()?;
        write_head(
            &self.head,
            &Head {
                head: Some(next),
                pending: None,
            },
        )?;
        Ok(value)
    }
}

fn read_head(path: &Path) -> HeadRead {
    match std::fs::read_to_string(path) {
        Ok(text) => match serde_json::from_str::<Head>(&text) {
            Ok(head) => HeadRead::Found(head),
            Err(e) => HeadRead::Corrupt(format!("`{}` does not parse: {e}", path.display())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HeadRead::Missing,
        Err(e) => HeadRead::Corrupt(format!("cannot read `{}`: {e}", path.display())),
    }
}

fn write_head(path: &Path, head: &Head) -> Result<(), Error> {
    use std::io::Write;
    let fail = StorageError::file("write", path);
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut file = std::fs::File::create(&temp).map_err(fail)?;
    writeln!(file, "{}", json(head)?).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&temp, path).map_err(fail)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is durable once the directory is synced.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.run(false, work)
    }

    fn read<T>(&self, work: impl FnOnce(&mut dyn ReadTx) -> Result<T, Error>) -> Result<T, Error> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        // Deferred: a read lock on the first read; WAL gives it one snapshot to the end.
        // It is never committed: dropping it rolls back what it could not have written.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        work(&mut SqlTx {
            tx: &mut Sqlite(&tx),
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
        Ok(read_head(&self.head))
    }

    fn audit_key(&self) -> Result<&AuditKey, Error> {
        load_key(&self.key, &self.key_path, false)
    }
}

/// A SQLite transaction as a [`Conn`].
pub(crate) struct Sqlite<'a>(pub(crate) &'a rusqlite::Connection);

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl Conn for Sqlite<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, Error> {
        let changed = self
            .0
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(params))?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, Error> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.0.prepare_cached(sql)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    // No column is a float; one read as text says what it held.
                    ValueRef::Real(f) => Value::Text(f.to_string()),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }
}
