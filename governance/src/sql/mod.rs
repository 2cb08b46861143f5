//! The relational layer both databases share: the workflow's reads and writes are
//! written once, as SQL both SQLite and PostgreSQL understand, over a [`Conn`] that
//! each database implements ([`crate::SqliteStore`], [`crate::PostgresStore`]).
//!
//! Statements number their parameters `?1`, `?2`, …; the PostgreSQL connection
//! rewrites them to `$1`, `$2`, …. Values cross as [`Value`]s: integers, text, bytes
//! or null. Inserts that need the new row's id say `RETURNING id`; upserts say
//! `ON CONFLICT … DO UPDATE`/`DO NOTHING` (SQLite 3.35 and later has both).

use std::path::Path;
use std::sync::OnceLock;

use crate::audit::{AuditKey, Checkpoint, HeadRead};
use crate::error::{Error, StorageError};

mod handle;
mod rows;
pub(crate) mod schema;
mod tx;
mod versions;

pub use handle::Sql;

pub(crate) use rows::json;
pub(crate) use tx::SqlTx;
pub(crate) use versions::put_entries;

/// One value of a row or a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer (booleans are 0 and 1).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// A row a query returned, its columns in the order selected.
#[derive(Debug, Clone, Default)]
pub struct Row(pub Vec<Value>);

/// What a parameter is written as.
pub trait ToValue {
    /// This value as a parameter.
    fn to_value(&self) -> Value;
}

/// What a column is read as.
pub trait FromValue: Sized {
    /// This value from a column; `None` when the column holds something else.
    fn from_value(value: &Value) -> Option<Self>;
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
        impl FromValue for $t {
            fn from_value(value: &Value) -> Option<Self> {
                match value {
                    Value::Int(i) => <$t>::try_from(*i).ok(),
                    _ => None,
                }
            }
        }
    )*};
}
integers!(i64, u32, u64, usize);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Option<Self> {
        i64::from_value(value).map(|i| i != 0)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// `[a.to_value(), b.to_value(), …]`: a statement's parameters.
#[macro_export]
macro_rules! sql_params {
    ($($value:expr),* $(,)?) => { &[$($crate::sql::ToValue::to_value(&$value)),*][..] };
}
pub use crate::sql_params as params;

/// Prepared statements of one PostgreSQL connection, by their SQL.
pub(crate) type Statements = std::collections::HashMap<String, ::postgres::Statement>;

impl Row {
    /// Column `index` as a `T`; a clear error when the row has no such column or it
    /// holds something else.
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T, Error> {
        let value = self.0.get(index).unwrap_or(&Value::Null);
        T::from_value(value).ok_or_else(|| {
            StorageError::Unreadable {
                what: format!("column {index}"),
                problem: format!("holds {value:?}, not a {}", std::any::type_name::<T>()),
            }
            .into()
        })
    }
}

/// A connection inside one transaction, of either database.
pub trait Conn {
    /// Runs a statement; how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, Error>;
    /// Runs a query; every row it returned.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, Error>;
}

/// Every row `sql` selects with `params`, each decoded by `decode`.
pub fn rows<T>(
    conn: &mut dyn Conn,
    sql: &str,
    params: &[Value],
    decode: impl FnMut(&Row) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    conn.query(sql, params)?.iter().map(decode).collect()
}

/// The first row `sql` selects with `params`, decoded by `decode`; `None` when there
/// is none.
pub fn first<T>(
    conn: &mut dyn Conn,
    sql: &str,
    params: &[Value],
    decode: impl FnOnce(&Row) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    conn.query(sql, params)?.first().map(decode).transpose()
}

/// Runs a statement that changes at most one row; whether it changed one.
pub fn changed(conn: &mut dyn Conn, sql: &str, params: &[Value]) -> Result<bool, Error> {
    Ok(conn.execute(sql, params)? == 1)
}

/// The one integer `sql` selects (`0` when it selects nothing or null).
pub fn scalar(conn: &mut dyn Conn, sql: &str, params: &[Value]) -> Result<i64, Error> {
    Ok(first(conn, sql, params, |r| r.get::<Option<i64>>(0))?
        .flatten()
        .unwrap_or(0))
}

/// The audit key, read (or with `create`, made) the first time it is needed.
pub(crate) fn load_key<'k>(
    slot: &'k OnceLock<AuditKey>,
    path: &Path,
    create: bool,
) -> Result<&'k AuditKey, Error> {
    if let Some(key) = slot.get() {
        return Ok(key);
    }
    let key = AuditKey::load(path, create)?;
    Ok(slot.get_or_init(|| key))
}

/// The audit's head after a transaction appended up to `appended`: `head`, as read
/// before it, must match the audit's last entry `before` the transaction (unless the
/// state is new or the audit is being re-anchored). Returns the old head signed (for
/// the moment between writing the new head and committing) and the new head signed.
pub(crate) fn advance_head(
    slot: &OnceLock<AuditKey>,
    key_path: &Path,
    head: &HeadRead,
    before: Option<&(i64, String)>,
    appended: (i64, &str),
    reanchor: bool,
) -> Result<(Option<Checkpoint>, Checkpoint), Error> {
    // A new state: nothing audited yet and no head; its key is made now.
    let fresh = before.is_none() && *head == HeadRead::Missing;
    // Re-anchoring after the key was lost makes a new one; exported checkpoints then
    // show that the key changed.
    let key = load_key(slot, key_path, fresh || reanchor)?;
    if !fresh && !reanchor {
        let last = before.map(|(s, h)| (*s, h.as_str()));
        head.check(last, &key.public_key())
            .map_err(Error::AuditBlocked)?;
    }
    let committed = before.map(|(s, h)| key.sign(*s, h));
    Ok((committed, key.sign(appended.0, appended.1)))
}
