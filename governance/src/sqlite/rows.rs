//! Between rows and records: encoding, decoding and the queries several operations
//! share.

use portcullis_engine::model::{Sha256, Timestamp};
use portcullis_engine::Event;
use rusqlite::params;

use crate::access::RequestKind;
use crate::store::{
    AdminRecord, Grant, Grantable, NewRequest, RequestRecord, RequestState, RoleRecord,
};
use crate::{Error, StorageError};

pub(super) fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
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

pub(super) type RawRequest = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    i64,
    String,
    Option<String>,
);

pub(super) const REQUEST_COLUMNS: &str =
    "id, kind, organization, computer, event, denied_by, message, email, file, created, state, closure";

pub(super) fn raw_request(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRequest> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
    ))
}

pub(super) fn request_from(raw: RawRequest) -> Result<RequestRecord, Error> {
    let (
        id,
        kind,
        organization,
        computer,
        event,
        denied_by,
        message,
        email,
        file,
        created,
        state,
        closure,
    ) = raw;
    let kind: RequestKind = from_json(&format!("\"{kind}\""), "request kind")?;
    let event: Event = from_json(&event, "event")?;
    Ok(RequestRecord {
        id,
        filed: NewRequest {
            kind,
            organization,
            computer,
            event,
            denied_by,
            message,
            email,
            file: file.as_deref().map(parse_sha).transpose()?,
            created: Timestamp::from_unix(created),
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

pub(super) fn grant_from_key(
    admin: String,
    organization: String,
    key: &str,
) -> Result<Grant, Error> {
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
        admin,
        organization,
        what,
    })
}

pub(super) fn admin_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<AdminRecord> {
    Ok(AdminRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        organization: r.get(2)?,
        email: r.get(3)?,
        phone: r.get(4)?,
    })
}

pub(super) fn role_from(raw: (String, String, String, String)) -> Result<RoleRecord, Error> {
    let (id, organization, name, permissions) = raw;
    Ok(RoleRecord {
        id,
        organization,
        name,
        permissions: from_json(&permissions, "role permissions")?,
    })
}

/// The grants `sql` selects (`admin, organization, what`, one parameter).
pub(super) fn query_grants(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    param: &str,
) -> Result<Vec<Grant>, Error> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map(params![param], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    rows.map(|raw| {
        let (admin, org, key) = raw?;
        grant_from_key(admin, org, &key)
    })
    .collect()
}
