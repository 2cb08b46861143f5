//! The operations of one transaction on the SQLite store.

use portcullis_engine::model::{Sha256, Timestamp};
use portcullis_engine::Bundle;
use rusqlite::{params, OptionalExtension};

use crate::audit::{chain_hash, AuditEntry, AuditLog, AuditRecord};
use crate::store::{
    AdminRecord, Channel, Channels, Claim, Closure, DeployNote, DeployRecord, Grant, Grantable,
    NewRequest, Notification, NotifySetting, OutboxRecord, OutboxState, PluginAttachment, ReadTx,
    RequestRecord, RequestState, RoleRecord, Settings, Tx,
};
use crate::Error;

use super::rows::{
    admin_from, from_json, grant_key, hex, json, parse_sha, query_grants, raw_request,
    request_from, role_from, REQUEST_COLUMNS,
};

pub(super) struct SqliteTx<'a> {
    pub(super) tx: &'a rusqlite::Transaction<'a>,
    /// The last entry this transaction appended.
    pub(super) appended: Option<(i64, String)>,
    /// The audit's last entry before this transaction's first append (`Some(None)`
    /// for an empty audit).
    pub(super) before: Option<Option<(i64, String)>>,
}

impl ReadTx for SqliteTx<'_> {
    fn current_bundle(&mut self) -> Result<Option<(i64, Bundle)>, Error> {
        let row: Option<(i64, String)> = self
            .tx
            .query_row(
                "SELECT version, bundle FROM bundles ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(v, text)| Ok((v, from_json(&text, "bundle")?)))
            .transpose()
    }

    fn bundle(&mut self, version: i64) -> Result<Option<Bundle>, Error> {
        let text: Option<String> = self
            .tx
            .query_row(
                "SELECT bundle FROM bundles WHERE version = ?1",
                params![version],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| from_json(&t, "bundle")).transpose()
    }

    fn deploys(&mut self, limit: usize) -> Result<Vec<DeployRecord>, Error> {
        let mut stmt = self.tx.prepare(
            "SELECT version, time, actor, reason FROM bundles ORDER BY version DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(DeployRecord {
                version: r.get(0)?,
                note: DeployNote {
                    time: Timestamp::from_unix(r.get(1)?),
                    actor: r.get(2)?,
                    reason: r.get(3)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn request(&mut self, id: i64) -> Result<Option<RequestRecord>, Error> {
        let raw = self
            .tx
            .query_row(
                &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1"),
                params![id],
                raw_request,
            )
            .optional()?;
        raw.map(request_from).transpose()
    }

    fn requests(&mut self, state: Option<RequestState>) -> Result<Vec<RequestRecord>, Error> {
        let mut stmt = self.tx.prepare(&format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE ?1 IS NULL OR state = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![state.map(RequestState::as_str)], raw_request)?;
        rows.map(|raw| request_from(raw?)).collect()
    }

    fn file(&mut self, sha256: &Sha256) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .tx
            .query_row(
                "SELECT content FROM files WHERE sha256 = ?1",
                params![hex(sha256)],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn file_count(&mut self) -> Result<u64, Error> {
        let count: i64 = self
            .tx
            .query_row("SELECT COUNT(*) FROM files", [], |r| r.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn admin(&mut self, id: &str) -> Result<Option<AdminRecord>, Error> {
        Ok(self
            .tx
            .query_row(
                "SELECT id, name, organization, email, phone FROM admins WHERE id = ?1",
                params![id],
                admin_from,
            )
            .optional()?)
    }

    fn admins(&mut self) -> Result<Vec<AdminRecord>, Error> {
        let mut stmt = self
            .tx
            .prepare("SELECT id, name, organization, email, phone FROM admins ORDER BY id")?;
        let rows = stmt.query_map([], admin_from)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn role(&mut self, id: &str) -> Result<Option<RoleRecord>, Error> {
        let raw: Option<(String, String, String, String)> = self
            .tx
            .query_row(
                "SELECT id, organization, name, permissions FROM roles WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        raw.map(role_from).transpose()
    }

    fn roles(&mut self) -> Result<Vec<RoleRecord>, Error> {
        let mut stmt = self
            .tx
            .prepare("SELECT id, organization, name, permissions FROM roles ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.map(|raw| role_from(raw?)).collect()
    }

    fn grants(&mut self, admin: &str) -> Result<Vec<Grant>, Error> {
        query_grants(
            self.tx,
            "SELECT admin, organization, what FROM grants WHERE admin = ?1 ORDER BY organization, what",
            admin,
        )
    }

    fn role_grants(&mut self, role: &str) -> Result<Vec<Grant>, Error> {
        query_grants(
            self.tx,
            "SELECT admin, organization, what FROM grants WHERE what = ?1 ORDER BY admin, organization",
            &grant_key(&Grantable::Role(role.to_owned())),
        )
    }

    fn settings(&mut self, org: &str) -> Result<Option<Settings>, Error> {
        let text: Option<String> = self
            .tx
            .query_row(
                "SELECT settings FROM settings WHERE organization = ?1",
                params![org],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| from_json(&t, "settings")).transpose()
    }

    fn plugins(&mut self) -> Result<Vec<PluginAttachment>, Error> {
        let mut stmt = self.tx.prepare(
            "SELECT organization, name, hook, file_name, content, sha256, config, vectors
             FROM plugins ORDER BY organization, name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ),
                (
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ),
            ))
        })?;
        rows.map(|raw| {
            let ((organization, name, hook, file_name), (content, sha, config, vectors)) = raw?;
            Ok(PluginAttachment {
                organization,
                name,
                hook,
                file_name,
                content,
                sha256: parse_sha(&sha)?,
                config: from_json(&config, "plugin settings")?,
                vectors: from_json(&vectors, "plugin test vectors")?,
            })
        })
        .collect()
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>, Error> {
        Ok(self
            .tx
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn notify_settings(&mut self) -> Result<Vec<NotifySetting>, Error> {
        let mut stmt = self
            .tx
            .prepare("SELECT admin, kind, email, sms FROM notify_settings ORDER BY admin, kind")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })?;
        rows.map(|raw| {
            let (admin, kind, email, sms) = raw?;
            Ok(NotifySetting {
                admin,
                kind: from_json(&format!("\"{kind}\""), "request kind")?,
                channels: Channels { email, sms },
            })
        })
        .collect()
    }

    fn outbox(&mut self, state: Option<OutboxState>) -> Result<Vec<OutboxRecord>, Error> {
        self.outbox_where(
            "?1 IS NULL OR state = ?1 ORDER BY id",
            params![state.map(OutboxState::as_str)],
        )
    }

    fn audit(&mut self, after: i64) -> Result<Vec<AuditRecord>, Error> {
        let mut stmt = self.tx.prepare(
            "SELECT seq, time, actor, organization, log, kind, detail, hash FROM audit WHERE seq > ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![after], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        rows.map(|raw| {
            let (seq, time, actor, organization, log, kind, detail, hash) = raw?;
            Ok(AuditRecord {
                seq,
                entry: AuditEntry {
                    time: Timestamp::from_unix(time),
                    actor,
                    organization,
                    log: if log == "system" {
                        AuditLog::System
                    } else {
                        AuditLog::Unified
                    },
                    kind,
                    detail: from_json(&detail, "audit detail")?,
                },
                hash,
            })
        })
        .collect()
    }
}

impl Tx for SqliteTx<'_> {
    fn push_bundle(&mut self, bundle: &Bundle, deploy: &DeployNote) -> Result<i64, Error> {
        self.tx.execute(
            "INSERT INTO bundles (time, actor, reason, bundle) VALUES (?1, ?2, ?3, ?4)",
            params![
                deploy.time.unix(),
                deploy.actor,
                deploy.reason,
                json(bundle)?
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn insert_request(&mut self, r: &NewRequest) -> Result<i64, Error> {
        self.tx.execute(
            "INSERT INTO requests (kind, organization, computer, sha256, event, denied_by, message, email, file, created, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending')",
            params![
                r.kind.as_str(),
                r.organization,
                r.computer,
                hex(&r.event.sha256),
                json(&r.event)?,
                r.denied_by,
                r.message,
                r.email,
                r.file.as_ref().map(hex),
                r.created.unix(),
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn close_request(&mut self, id: i64, closure: &Closure) -> Result<bool, Error> {
        let changed = self.tx.execute(
            "UPDATE requests SET state = ?2, closure = ?3 WHERE id = ?1 AND state = 'pending'",
            params![id, closure.state.as_str(), json(closure)?],
        )?;
        Ok(changed == 1)
    }

    fn put_file(&mut self, sha256: &Sha256, content: &[u8]) -> Result<bool, Error> {
        let changed = self.tx.execute(
            "INSERT OR IGNORE INTO files (sha256, size, content) VALUES (?1, ?2, ?3)",
            params![hex(sha256), content.len(), content],
        )?;
        Ok(changed == 1)
    }

    fn put_admin(&mut self, a: &AdminRecord) -> Result<(), Error> {
        self.tx.execute(
            "INSERT OR REPLACE INTO admins (id, name, organization, email, phone) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![a.id, a.name, a.organization, a.email, a.phone],
        )?;
        Ok(())
    }

    fn delete_admin(&mut self, id: &str) -> Result<bool, Error> {
        self.tx
            .execute("DELETE FROM grants WHERE admin = ?1", params![id])?;
        Ok(self
            .tx
            .execute("DELETE FROM admins WHERE id = ?1", params![id])?
            == 1)
    }

    fn put_role(&mut self, role: &RoleRecord) -> Result<(), Error> {
        self.tx.execute(
            "INSERT OR REPLACE INTO roles (id, organization, name, permissions) VALUES (?1, ?2, ?3, ?4)",
            params![role.id, role.organization, role.name, json(&role.permissions)?],
        )?;
        Ok(())
    }

    fn insert_grant(&mut self, grant: &Grant) -> Result<bool, Error> {
        Ok(self.tx.execute(
            "INSERT OR IGNORE INTO grants (admin, organization, what) VALUES (?1, ?2, ?3)",
            params![grant.admin, grant.organization, grant_key(&grant.what)],
        )? == 1)
    }

    fn delete_grant(&mut self, grant: &Grant) -> Result<bool, Error> {
        Ok(self.tx.execute(
            "DELETE FROM grants WHERE admin = ?1 AND organization = ?2 AND what = ?3",
            params![grant.admin, grant.organization, grant_key(&grant.what)],
        )? == 1)
    }

    fn put_settings(&mut self, org: &str, settings: &Settings) -> Result<(), Error> {
        self.tx.execute(
            "INSERT OR REPLACE INTO settings (organization, settings) VALUES (?1, ?2)",
            params![org, json(settings)?],
        )?;
        Ok(())
    }

    fn put_plugin(&mut self, p: &PluginAttachment) -> Result<(), Error> {
        self.tx.execute(
            "INSERT OR REPLACE INTO plugins (organization, name, hook, file_name, content, sha256, config, vectors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                p.organization,
                p.name,
                p.hook,
                p.file_name,
                p.content,
                hex(&p.sha256),
                json(&p.config)?,
                json(&p.vectors)?
            ],
        )?;
        Ok(())
    }

    fn delete_plugin(&mut self, organization: &str, name: &str) -> Result<bool, Error> {
        Ok(self.tx.execute(
            "DELETE FROM plugins WHERE organization = ?1 AND name = ?2",
            params![organization, name],
        )? == 1)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), Error> {
        self.tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(())
    }

    fn put_notify(&mut self, setting: &NotifySetting) -> Result<(), Error> {
        self.tx.execute(
            "INSERT OR REPLACE INTO notify_settings (admin, kind, email, sms) VALUES (?1, ?2, ?3, ?4)",
            params![
                setting.admin,
                setting.kind.as_str(),
                setting.channels.email,
                setting.channels.sms
            ],
        )?;
        Ok(())
    }

    fn enqueue(&mut self, n: &Notification, now: Timestamp) -> Result<bool, Error> {
        Ok(self.tx.execute(
            "INSERT OR IGNORE INTO outbox (created, request, reason, channel, recipient, subject, body, state, attempts, next_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?1)",
            params![now.unix(), n.request, n.reason, n.channel.as_str(), n.recipient, n.subject, n.body],
        )? == 1)
    }

    fn claim_due(
        &mut self,
        now: Timestamp,
        claim: &Claim,
        all: bool,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, Error> {
        let due = self.outbox_where(
            "state = 'pending' AND (claim_until IS NULL OR claim_until <= ?2)
             AND (?1 OR next_attempt <= ?2) ORDER BY next_attempt, id LIMIT ?3",
            params![all, now.unix(), i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        for record in &due {
            self.tx.execute(
                "UPDATE outbox SET claimed_by = ?2, claim_until = ?3 WHERE id = ?1",
                params![record.id, claim.by, claim.until.unix()],
            )?;
        }
        Ok(due)
    }

    fn renew_claim(&mut self, id: i64, claim: &Claim) -> Result<bool, Error> {
        Ok(self.tx.execute(
            "UPDATE outbox SET claim_until = ?3
             WHERE id = ?1 AND claimed_by = ?2 AND state = 'pending'",
            params![id, claim.by, claim.until.unix()],
        )? == 1)
    }

    fn mark_delivered(&mut self, id: i64, at: Timestamp, by: &str) -> Result<bool, Error> {
        Ok(self.tx.execute(
            "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered = ?2,
                 last_error = NULL, claimed_by = NULL, claim_until = NULL
             WHERE id = ?1 AND claimed_by = ?3",
            params![id, at.unix(), by],
        )? == 1)
    }

    fn mark_failed(
        &mut self,
        id: i64,
        attempts: u32,
        next: Option<Timestamp>,
        error: &str,
        by: &str,
    ) -> Result<bool, Error> {
        let changed = match next {
            Some(next) => self.tx.execute(
                "UPDATE outbox SET attempts = ?2, next_attempt = ?3, last_error = ?4,
                     claimed_by = NULL, claim_until = NULL
                 WHERE id = ?1 AND claimed_by = ?5",
                params![id, attempts, next.unix(), error, by],
            )?,
            None => self.tx.execute(
                "UPDATE outbox SET state = 'failed', attempts = ?2, last_error = ?3,
                     claimed_by = NULL, claim_until = NULL
                 WHERE id = ?1 AND claimed_by = ?4",
                params![id, attempts, error, by],
            )?,
        };
        Ok(changed == 1)
    }

    fn append_audit(&mut self, entry: &AuditEntry) -> Result<i64, Error> {
        let last: Option<(i64, String)> = self
            .tx
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if self.before.is_none() {
            self.before = Some(last.clone());
        }
        let (seq, previous) = match last {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, String::new()),
        };
        let hash = chain_hash(&previous, seq, entry)?;
        self.tx.execute(
            "INSERT INTO audit (seq, time, actor, organization, log, kind, detail, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                seq,
                entry.time.unix(),
                entry.actor,
                entry.organization,
                match entry.log {
                    AuditLog::Unified => "unified",
                    AuditLog::System => "system",
                },
                entry.kind,
                json(&entry.detail)?,
                hash
            ],
        )?;
        self.appended = Some((seq, hash));
        Ok(seq)
    }
}

impl SqliteTx<'_> {
    fn outbox_where(
        &self,
        condition: &str,
        values: impl rusqlite::Params,
    ) -> Result<Vec<OutboxRecord>, Error> {
        let mut stmt = self.tx.prepare(&format!(
            "SELECT id, created, request, reason, channel, recipient, subject, body, state,
                    attempts, next_attempt, last_error, delivered
             FROM outbox WHERE {condition}"
        ))?;
        let rows = stmt.query_map(values, |r| {
            Ok((
                (
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ),
                (
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, u32>(9)?,
                    r.get::<_, i64>(10)?,
                    r.get::<_, Option<String>>(11)?,
                    r.get::<_, Option<i64>>(12)?,
                ),
            ))
        })?;
        rows.map(|raw| {
            let ((id, created, request, reason, channel, recipient, subject), rest) = raw?;
            let (body, state, attempts, next_attempt, last_error, delivered) = rest;
            Ok(OutboxRecord {
                id,
                created: Timestamp::from_unix(created),
                notification: Notification {
                    request,
                    reason,
                    channel: if channel == "sms" {
                        Channel::Sms
                    } else {
                        Channel::Email
                    },
                    recipient,
                    subject,
                    body,
                },
                state: match state.as_str() {
                    "delivered" => OutboxState::Delivered,
                    "failed" => OutboxState::Failed,
                    _ => OutboxState::Pending,
                },
                attempts,
                next_attempt: Timestamp::from_unix(next_attempt),
                last_error,
                delivered: delivered.map(Timestamp::from_unix),
            })
        })
        .collect()
    }
}
