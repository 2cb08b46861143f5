//! Between rows and records: encoding, decoding, and running the statements every
//! operation shares.

use portcullis_engine::model::{Sha256, Timestamp};

use super::{params, rows, Conn, Row};
use crate::audit::{AuditEntry, AuditLog, AuditRecord};
use crate::error::{Error, StorageError};
use crate::store::{
    AdminRecord, Channel, Grant, Grantable, NewRequest, Notification, OutboxRecord, OutboxState,
    RequestRecord, RequestState, RoleRecord,
};

/// `$record { field: row.get(column)?, … }`, then the other fields given: a record
/// from a row's columns.
macro_rules! columns {
    ($row:ident => $record:ident { $($field:ident: $column:literal),+ $(; $($name:ident: $value:expr),+)? }) => {
        $record {
            $($field: $row.get($column)?,)+
            $($($name: $value,)+)?
        }
    };
}
pub(super) use columns;

pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    Ok(serde_json::to_string(value).map_err(StorageError::Encode)?)
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::from(StorageError::unreadable(what, e)))
}

pub(super) fn hex(sha: &Sha256) -> String {
    sha.to_string()
}

pub(super) fn parse_sha(text: &str) -> Result<Sha256, Error> {
    text.parse()
        .map_err(|e| Error::from(StorageError::unreadable(format!("hash `{text}`"), e)))
}

pub(super) const REQUEST_COLUMNS: &str =
    "id, kind, organization, computer, event, denied_by, message, email, file, created, state, closure";

/// A request from a row of [`REQUEST_COLUMNS`].
pub(super) fn request_from(row: &Row) -> Result<RequestRecord, Error> {
    let kind: String = row.get(1)?;
    let event: String = row.get(4)?;
    let file: Option<String> = row.get(8)?;
    let state: String = row.get(10)?;
    let closure: Option<String> = row.get(11)?;
    Ok(RequestRecord {
        id: row.get(0)?,
        filed: NewRequest {
            kind: from_json(&format!("\"{kind}\""), "request kind")?,
            organization: row.get(2)?,
            computer: row.get(3)?,
            event: from_json(&event, "event")?,
            denied_by: row.get(5)?,
            message: row.get(6)?,
            email: row.get(7)?,
            file: file.as_deref().map(parse_sha).transpose()?,
            created: Timestamp::from_unix(row.get(9)?),
        },
        state: RequestState::parse(&state).ok_or_else(|| StorageError::Unreadable {
            what: format!("request state `{state}`"),
            problem: "is unknown".to_owned(),
        })?,
        closure: closure
            .as_deref()
            .map(|c| from_json(c, "closure"))
            .transpose()?,
    })
}

pub(super) fn grant_key(what: &Grantable) -> String {
    match what {
        Grantable::Permission(p) => format!("permission:{}", p.id()),
        Grantable::Role(r) => format!("role:{r}"),
    }
}

/// A grant from a row of `admin, organization, what`.
pub(super) fn grant_from(row: &Row) -> Result<Grant, Error> {
    let key: String = row.get(2)?;
    let what = if let Some(p) = key.strip_prefix("permission:") {
        Grantable::Permission(
            p.parse()
                .map_err(|e| StorageError::unreadable(format!("grant `{key}`"), e))?,
        )
    } else if let Some(r) = key.strip_prefix("role:") {
        Grantable::Role(r.to_owned())
    } else {
        return Err(StorageError::Unreadable {
            what: format!("grant `{key}`"),
            problem: "is unreadable".to_owned(),
        }
        .into());
    };
    Ok(Grant {
        admin: row.get(0)?,
        organization: row.get(1)?,
        what,
    })
}

/// A table of records keyed by `id`.
pub(super) struct Keyed<T> {
    /// The table.
    pub(super) table: &'static str,
    /// Its columns, in the order `decode` reads them.
    pub(super) columns: &'static str,
    decode: fn(&Row) -> Result<T, Error>,
}

impl<T> Keyed<T> {
    /// The record with `id`, or with `None` every record, by id.
    pub(super) fn select(&self, conn: &mut dyn Conn, id: Option<&str>) -> Result<Vec<T>, Error> {
        let sql = format!(
            "SELECT {} FROM {} WHERE CAST(?1 AS TEXT) IS NULL OR id = ?1 ORDER BY id",
            self.columns, self.table
        );
        rows(conn, &sql, params![id], self.decode)
    }
}

/// The administrators.
pub(super) const ADMINS: Keyed<AdminRecord> = Keyed {
    table: "admins",
    columns: "id, name, organization, email, phone",
    decode: |row| {
        Ok(columns!(row => AdminRecord { id: 0, name: 1, organization: 2, email: 3, phone: 4 }))
    },
};

/// The roles.
pub(super) const ROLES: Keyed<RoleRecord> = Keyed {
    table: "roles",
    columns: "id, organization, name, permissions",
    decode: |row| {
        let permissions: String = row.get(3)?;
        let permissions = from_json(&permissions, "role permissions")?;
        Ok(
            columns!(row => RoleRecord { id: 0, organization: 1, name: 2; permissions: permissions }),
        )
    },
};

pub(super) const OUTBOX_COLUMNS: &str = "id, created, request, reason, channel, recipient, \
     subject, body, state, attempts, next_attempt, last_error, delivered";

/// An outbox row from a row of [`OUTBOX_COLUMNS`].
pub(super) fn outbox_from(row: &Row) -> Result<OutboxRecord, Error> {
    let channel: String = row.get(4)?;
    let state: String = row.get(8)?;
    let delivered: Option<i64> = row.get(12)?;
    Ok(OutboxRecord {
        id: row.get(0)?,
        created: Timestamp::from_unix(row.get(1)?),
        notification: Notification {
            request: row.get(2)?,
            reason: row.get(3)?,
            channel: if channel == "sms" {
                Channel::Sms
            } else {
                Channel::Email
            },
            recipient: row.get(5)?,
            subject: row.get(6)?,
            body: row.get(7)?,
        },
        state: match state.as_str() {
            "delivered" => OutboxState::Delivered,
            "failed" => OutboxState::Failed,
            _ => OutboxState::Pending,
        },
        attempts: row.get(9)?,
        next_attempt: Timestamp::from_unix(row.get(10)?),
        last_error: row.get(11)?,
        delivered: delivered.map(Timestamp::from_unix),
    })
}

/// The name an audit log is stored under.
pub(super) fn log_name(log: AuditLog) -> &'static str {
    match log {
        AuditLog::Unified => "unified",
        AuditLog::System => "system",
    }
}

/// An audit record from a row of `seq, time, actor, organization, log, kind, detail,
/// hash`.
pub(super) fn audit_from(row: &Row) -> Result<AuditRecord, Error> {
    let log: String = row.get(4)?;
    let detail: String = row.get(6)?;
    Ok(AuditRecord {
        seq: row.get(0)?,
        entry: AuditEntry {
            time: Timestamp::from_unix(row.get(1)?),
            actor: row.get(2)?,
            organization: row.get(3)?,
            log: if log == log_name(AuditLog::System) {
                AuditLog::System
            } else {
                AuditLog::Unified
            },
            kind: row.get(5)?,
            detail: from_json(&detail, "audit detail")?,
        },
        hash: row.get(7)?,
    })
}
