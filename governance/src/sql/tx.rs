//! The operations of one transaction, on either database.

use portcullis_engine::model::{Application, Policy, Sha256, Timestamp};
use portcullis_engine::Bundle;

use super::versions::{VersionChange, WHOLE_SHARE};
use super::{changed, first, params, rows, scalar, Conn, Row};
use crate::access::AccessRequestKind;
use crate::audit::{chain_hash, AuditEntry, AuditRecord};
use crate::error::Error;
use crate::store::{
    AdminRecord, Attempt, Channels, Claim, Closure, DeployNote, DeployRecord, Grant, Grantable,
    NewRequest, Notification, NotifySetting, OutboxRecord, OutboxState, PluginAttachment, Puts,
    ReadTx, RequestRecord, RequestState, RoleRecord, Settings, Tx,
};

use super::rows::{
    audit_from, columns, from_json, grant_from, grant_key, hex, json, log_name, outbox_from,
    parse_sha, request_from, ADMINS, OUTBOX_COLUMNS, REQUEST_COLUMNS, ROLES,
};

pub(crate) struct SqlTx<'a> {
    pub(crate) tx: &'a mut dyn Conn,
    /// The last entry this transaction appended.
    pub(crate) appended: Option<(i64, String)>,
    /// The audit's last entry before this transaction's first append (`Some(None)`
    /// for an empty audit).
    pub(crate) before: Option<Option<(i64, String)>>,
}

/// The two reads of a table keyed by id: one record, and every record by id.
macro_rules! keyed_reads {
    ($($one:ident, $all:ident: $record:ty = $table:expr;)*) => {$(
        fn $one(&mut self, id: &str) -> Result<Option<$record>, Error> {
            Ok($table.select(&mut *self.tx, Some(id))?.pop())
        }

        fn $all(&mut self) -> Result<Vec<$record>, Error> {
            $table.select(&mut *self.tx, None)
        }
    )*};
}

impl SqlTx<'_> {
    /// Stores the next bundle version: as `change` when there is one and the changes
    /// stored since the last whole bundle, with it, stay within a share of that
    /// bundle's size (so that reading a version replays at most that much); else as
    /// the whole bundle `whole` writes. Each version's place in that chain is kept in
    /// `bundle_chain`; a version without one (written before it existed) is followed
    /// by a whole bundle.
    fn push_version(
        &mut self,
        change: Option<&VersionChange>,
        whole: impl FnOnce() -> Result<String, Error>,
        deploy: &DeployNote,
    ) -> Result<i64, Error> {
        let chain = match self.current_version()? {
            Some(current) => first(
                &mut *self.tx,
                "SELECT whole, changes FROM bundle_chain WHERE version = ?1",
                params![current],
                |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
            )?,
            None => None,
        };
        let size = |text: &str| i64::try_from(text.len()).unwrap_or(i64::MAX);
        let change = change.map(json).transpose()?;
        let (bundle, change, link) = match (change, chain) {
            (Some(change), Some((whole, since)))
                if since.saturating_add(size(&change)) <= whole / WHOLE_SHARE =>
            {
                let link = (whole, since + size(&change));
                (String::new(), Some(change), link)
            }
            _ => {
                let text = whole()?;
                let link = (size(&text), 0);
                (text, None, link)
            }
        };
        let sql = "INSERT INTO bundles (time, actor, reason, bundle, change)
                   VALUES (?1, ?2, ?3, ?4, ?5) RETURNING version";
        let version = inserted(
            &mut *self.tx,
            sql,
            params![
                deploy.time.unix(),
                deploy.actor,
                deploy.reason,
                bundle,
                change
            ],
        )?;
        self.tx.execute(
            "INSERT INTO bundle_chain (version, whole, changes) VALUES (?1, ?2, ?3)",
            params![version, link.0, link.1],
        )?;
        Ok(version)
    }
}

/// A SQL limit: `limit`, or every row when it does not fit.
fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl ReadTx for SqlTx<'_> {
    fn current_bundle(&mut self) -> Result<Option<(i64, Bundle)>, Error> {
        let Some(version) = self.current_version()? else {
            return Ok(None);
        };
        Ok(self.bundle(version)?.map(|bundle| (version, bundle)))
    }

    fn current_version(&mut self) -> Result<Option<i64>, Error> {
        let sql = "SELECT MAX(version) FROM bundles";
        Ok(first(&mut *self.tx, sql, &[], |r| r.get::<Option<i64>>(0))?.flatten())
    }

    fn bundle(&mut self, version: i64) -> Result<Option<Bundle>, Error> {
        // The last whole bundle at or before `version`, then the changes after it.
        let sql = "SELECT version, bundle FROM bundles WHERE version <= ?1 AND change IS NULL
                   ORDER BY version DESC LIMIT 1";
        let base = first(&mut *self.tx, sql, params![version], |r| {
            Ok((r.get::<i64>(0)?, r.get::<String>(1)?))
        })?;
        let Some((base, text)) = base else {
            return Ok(None);
        };
        let sql = "SELECT version, change FROM bundles WHERE version > ?1 AND version <= ?2
                   ORDER BY version";
        let changes = rows(&mut *self.tx, sql, params![base, version], |r| {
            Ok((r.get::<i64>(0)?, r.get::<String>(1)?))
        })?;
        if changes.last().map_or(base, |(v, _)| *v) != version {
            return Ok(None);
        }
        let mut bundle: Bundle = from_json(&text, "bundle")?;
        let changes = changes
            .iter()
            .map(|(_, change)| from_json::<VersionChange>(change, "bundle change"))
            .collect::<Result<Vec<_>, _>>()?;
        VersionChange::replay(&mut bundle, &changes);
        Ok(Some(bundle))
    }

    fn puts_since(&mut self, version: i64) -> Result<Option<Vec<Puts>>, Error> {
        let sql = "SELECT version, change FROM bundles WHERE version > ?1 ORDER BY version";
        let changes = rows(&mut *self.tx, sql, params![version], |r| {
            Ok((r.get::<i64>(0)?, r.get::<Option<String>>(1)?))
        })?;
        let mut out = Vec::with_capacity(changes.len());
        for (at, change) in changes {
            let Some(change) = change else {
                return Ok(None);
            };
            let Some((applications, policies)) =
                from_json::<VersionChange>(&change, "bundle change")?.puts_only()
            else {
                return Ok(None);
            };
            out.push(Puts {
                version: at,
                applications,
                policies,
            });
        }
        Ok(Some(out))
    }

    fn deploys(&mut self, limit: usize) -> Result<Vec<DeployRecord>, Error> {
        let sql = "SELECT version, time, actor, reason FROM bundles ORDER BY version DESC LIMIT ?1";
        rows(&mut *self.tx, sql, params![limit_of(limit)], |r| {
            let time = Timestamp::from_unix(r.get(1)?);
            let note = columns!(r => DeployNote { actor: 2, reason: 3; time: time });
            Ok(columns!(r => DeployRecord { version: 0; note: note }))
        })
    }

    fn request(&mut self, id: i64) -> Result<Option<RequestRecord>, Error> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1");
        first(&mut *self.tx, &sql, params![id], request_from)
    }

    fn requests(&mut self, state: Option<RequestState>) -> Result<Vec<RequestRecord>, Error> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE CAST(?1 AS TEXT) IS NULL OR state = ?1 ORDER BY id"
        );
        let state = state.map(RequestState::as_str);
        rows(&mut *self.tx, &sql, params![state], request_from)
    }

    fn requests_before(
        &mut self,
        state: Option<RequestState>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<RequestRecord>, Error> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests
             WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1) AND id < ?2
             ORDER BY id DESC LIMIT ?3"
        );
        let state = state.map(RequestState::as_str);
        let before = before.unwrap_or(i64::MAX);
        rows(
            &mut *self.tx,
            &sql,
            params![state, before, limit_of(limit)],
            request_from,
        )
    }

    fn pending_filed(&mut self) -> Result<Vec<(i64, String, i64)>, Error> {
        let sql =
            "SELECT id, organization, created FROM requests WHERE state = 'pending' ORDER BY id";
        rows(&mut *self.tx, sql, &[], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
    }

    fn pending_request(
        &mut self,
        kind: AccessRequestKind,
        computer: &str,
        sha256: &Sha256,
    ) -> Result<Option<i64>, Error> {
        let sql = "SELECT id FROM requests
                   WHERE state = 'pending' AND computer = ?1 AND sha256 = ?2 AND kind = ?3
                   ORDER BY id LIMIT 1";
        first(
            &mut *self.tx,
            sql,
            params![computer, hex(sha256), kind.as_str()],
            |r| r.get(0),
        )
    }

    fn file(&mut self, sha256: &Sha256) -> Result<Option<Vec<u8>>, Error> {
        let sql = "SELECT content FROM files WHERE sha256 = ?1";
        first(&mut *self.tx, sql, params![hex(sha256)], |r| r.get(0))
    }

    fn file_count(&mut self) -> Result<u64, Error> {
        let count = scalar(&mut *self.tx, "SELECT COUNT(*) FROM files", &[])?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    keyed_reads! {
        admin, admins: AdminRecord = ADMINS;
        role, roles: RoleRecord = ROLES;
    }

    fn grants(&mut self, admin: &str) -> Result<Vec<Grant>, Error> {
        let sql = "SELECT admin, organization, what FROM grants WHERE admin = ?1 \
                   ORDER BY organization, what";
        rows(&mut *self.tx, sql, params![admin], grant_from)
    }

    fn role_grants(&mut self, role: &str) -> Result<Vec<Grant>, Error> {
        let sql = "SELECT admin, organization, what FROM grants WHERE what = ?1 \
                   ORDER BY admin, organization";
        let key = grant_key(&Grantable::Role(role.to_owned()));
        rows(&mut *self.tx, sql, params![key], grant_from)
    }

    fn settings(&mut self, org: &str) -> Result<Option<Settings>, Error> {
        let sql = "SELECT settings FROM settings WHERE organization = ?1";
        first(&mut *self.tx, sql, params![org], |r| {
            from_json(&r.get::<String>(0)?, "settings")
        })
    }

    fn plugins(&mut self, content: bool) -> Result<Vec<PluginAttachment>, Error> {
        // The bytes can be megabytes per plugin: not read unless asked for.
        let sql = format!(
            "SELECT organization, name, hook, file_name, {}, sha256, config, vectors,
             generation FROM plugins ORDER BY organization, name",
            if content { "content" } else { "NULL" }
        );
        rows(&mut *self.tx, &sql, &[], plugin_from)
    }

    fn plugin(
        &mut self,
        organization: &str,
        name: &str,
    ) -> Result<Option<PluginAttachment>, Error> {
        let sql = "SELECT organization, name, hook, file_name, content, sha256, config, vectors,
                   generation FROM plugins WHERE organization = ?1 AND name = ?2";
        first(&mut *self.tx, sql, params![organization, name], plugin_from)
    }

    fn plugin_artifact(&mut self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let sql = "SELECT file FROM plugin_artifacts WHERE name = ?1";
        first(&mut *self.tx, sql, params![name], |r| r.get(0))
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>, Error> {
        let sql = "SELECT value FROM meta WHERE key = ?1";
        first(&mut *self.tx, sql, params![key], |r| r.get(0))
    }

    fn notify_settings(&mut self) -> Result<Vec<NotifySetting>, Error> {
        let sql = "SELECT admin, kind, email, sms FROM notify_settings ORDER BY admin, kind";
        rows(&mut *self.tx, sql, &[], |r| {
            let kind: String = r.get(1)?;
            Ok(NotifySetting {
                admin: r.get(0)?,
                kind: from_json(&format!("\"{kind}\""), "request kind")?,
                channels: Channels {
                    email: r.get(2)?,
                    sms: r.get(3)?,
                },
            })
        })
    }

    fn outbox(&mut self, state: Option<OutboxState>) -> Result<Vec<OutboxRecord>, Error> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE CAST(?1 AS TEXT) IS NULL OR state = ?1 ORDER BY id"
        );
        let state = state.map(OutboxState::as_str);
        rows(&mut *self.tx, &sql, params![state], outbox_from)
    }

    fn audit(&mut self, after: i64) -> Result<Vec<AuditRecord>, Error> {
        let sql = "SELECT seq, time, actor, organization, log, kind, detail, hash FROM audit \
                   WHERE seq > ?1 ORDER BY seq";
        rows(&mut *self.tx, sql, params![after], audit_from)
    }
}

impl Tx for SqlTx<'_> {
    fn push_bundle(
        &mut self,
        bundle: &Bundle,
        previous: Option<&Bundle>,
        deploy: &DeployNote,
    ) -> Result<i64, Error> {
        let change = previous.and_then(|previous| VersionChange::between(previous, bundle));
        self.push_version(change.as_ref(), || json(bundle), deploy)
    }

    fn push_entries(
        &mut self,
        applications: &[Application],
        policies: &[Policy],
        deploy: &DeployNote,
        whole: &dyn Fn() -> Bundle,
    ) -> Result<i64, Error> {
        let change = VersionChange::puts(applications, policies);
        self.push_version(Some(&change), || json(&whole()), deploy)
    }

    fn insert_request(&mut self, r: &NewRequest) -> Result<i64, Error> {
        inserted(
            &mut *self.tx,
            "INSERT INTO requests (kind, organization, computer, sha256, event, denied_by, message, email, file, created, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending') RETURNING id",
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
        )
    }

    fn close_request(&mut self, id: i64, closure: &Closure) -> Result<bool, Error> {
        let sql =
            "UPDATE requests SET state = ?2, closure = ?3 WHERE id = ?1 AND state = 'pending'";
        changed(
            &mut *self.tx,
            sql,
            params![id, closure.state.as_str(), json(closure)?],
        )
    }

    fn put_file(&mut self, sha256: &Sha256, content: &[u8]) -> Result<bool, Error> {
        let sql =
            "INSERT INTO files (sha256, size, content) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
        changed(
            &mut *self.tx,
            sql,
            params![hex(sha256), content.len(), content],
        )
    }

    fn put_admin(&mut self, a: &AdminRecord) -> Result<(), Error> {
        let sql = format!(
            "INSERT INTO admins ({}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET {}",
            ADMINS.columns,
            replace("name, organization, email, phone")
        );
        self.tx.execute(
            &sql,
            params![a.id, a.name, a.organization, a.email, a.phone],
        )?;
        Ok(())
    }

    fn delete_admin(&mut self, id: &str) -> Result<bool, Error> {
        self.tx
            .execute("DELETE FROM grants WHERE admin = ?1", params![id])?;
        changed(
            &mut *self.tx,
            "DELETE FROM admins WHERE id = ?1",
            params![id],
        )
    }

    fn put_role(&mut self, role: &RoleRecord) -> Result<(), Error> {
        let sql = format!(
            "INSERT INTO roles ({}) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET {}",
            ROLES.columns,
            replace("organization, name, permissions")
        );
        let permissions = json(&role.permissions)?;
        self.tx.execute(
            &sql,
            params![role.id, role.organization, role.name, permissions],
        )?;
        Ok(())
    }

    fn insert_grant(&mut self, grant: &Grant) -> Result<bool, Error> {
        let sql = "INSERT INTO grants (admin, organization, what) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
        let what = grant_key(&grant.what);
        changed(
            &mut *self.tx,
            sql,
            params![grant.admin, grant.organization, what],
        )
    }

    fn delete_grant(&mut self, grant: &Grant) -> Result<bool, Error> {
        let sql = "DELETE FROM grants WHERE admin = ?1 AND organization = ?2 AND what = ?3";
        let what = grant_key(&grant.what);
        changed(
            &mut *self.tx,
            sql,
            params![grant.admin, grant.organization, what],
        )
    }

    fn put_settings(&mut self, org: &str, settings: &Settings) -> Result<(), Error> {
        self.tx.execute(
            "INSERT INTO settings (organization, settings) VALUES (?1, ?2)
             ON CONFLICT (organization) DO UPDATE SET settings = excluded.settings",
            params![org, json(settings)?],
        )?;
        Ok(())
    }

    fn put_plugin(&mut self, p: &PluginAttachment) -> Result<(), Error> {
        self.tx.execute(

            &format!("INSERT INTO plugins (organization, name, hook, file_name, content, sha256, config, vectors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (organization, name) DO UPDATE SET {},
             generation = plugins.generation + 1",
             replace("hook, file_name, content, sha256, config, vectors")),
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
        let sql = "DELETE FROM plugins WHERE organization = ?1 AND name = ?2";
        changed(&mut *self.tx, sql, params![organization, name])
    }

    fn put_plugin_artifact(&mut self, name: &str, file: &[u8]) -> Result<(), Error> {
        self.tx.execute(
            "INSERT INTO plugin_artifacts (name, file) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET file = excluded.file",
            params![name, file],
        )?;
        Ok(())
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), Error> {
        self.tx.execute(

            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn put_notify(&mut self, setting: &NotifySetting) -> Result<(), Error> {
        self.tx.execute(
            "INSERT INTO notify_settings (admin, kind, email, sms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (admin, kind) DO UPDATE SET email = excluded.email, sms = excluded.sms",
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
        changed(
            &mut *self.tx,
            "INSERT INTO outbox (created, request, reason, channel, recipient, subject, body, state, attempts, next_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?1) ON CONFLICT DO NOTHING",
            params![now.unix(), n.request, n.reason, n.channel.as_str(), n.recipient, n.subject, n.body],
        )
    }

    fn claim_due(
        &mut self,
        claim: &Claim,
        all: bool,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, Error> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox
             WHERE state = 'pending' AND (claim_until IS NULL OR claim_until <= ?2)
             AND (?1 OR next_attempt <= ?2) ORDER BY next_attempt, id LIMIT ?3"
        );
        let values = params![all, claim.at.unix(), limit_of(limit)];
        let due = rows(&mut *self.tx, &sql, values, outbox_from)?;
        for record in &due {
            self.tx.execute(
                "UPDATE outbox SET claimed_by = ?2, claim_until = ?3 WHERE id = ?1",
                params![record.id, claim.by, claim.until.unix()],
            )?;
        }
        Ok(due)
    }

    fn renew_claim(&mut self, id: i64, claim: &Claim) -> Result<bool, Error> {
        let sql = "UPDATE outbox SET claim_until = ?3
                   WHERE id = ?1 AND claimed_by = ?2 AND state = 'pending'";
        changed(
            &mut *self.tx,
            sql,
            params![id, claim.by, claim.until.unix()],
        )
    }

    fn record_attempt(&mut self, id: i64, by: &str, attempt: &Attempt<'_>) -> Result<bool, Error> {
        // Every outcome releases the claim, and only the claim's holder records one.
        match *attempt {
            Attempt::Delivered(at) => changed(
                &mut *self.tx,
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered = ?3,
                     last_error = NULL, claimed_by = NULL, claim_until = NULL
                 WHERE id = ?1 AND claimed_by = ?2",
                params![id, by, at.unix()],
            ),
            // With no next attempt it is given up: failed, and never due again.
            Attempt::Failed {
                attempts,
                next,
                error,
            } => changed(
                &mut *self.tx,
                "UPDATE outbox SET state = CASE WHEN CAST(?4 AS BIGINT) IS NULL THEN 'failed' ELSE state END,
                     attempts = ?3, next_attempt = COALESCE(?4, next_attempt), last_error = ?5,
                     claimed_by = NULL, claim_until = NULL
                 WHERE id = ?1 AND claimed_by = ?2",
                params![id, by, attempts, next.as_ref().map(Timestamp::unix), error],
            ),
        }
    }

    fn append_audit(&mut self, entry: &AuditEntry) -> Result<i64, Error> {
        // After this transaction's first entry, the last one is the one it appended:
        // the transaction holds the writer's lock, so no one else appends meanwhile.
        let last: Option<(i64, String)> = match &self.appended {
            Some(appended) => Some(appended.clone()),
            None => {
                let sql = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
                first(&mut *self.tx, sql, &[], |r| Ok((r.get(0)?, r.get(1)?)))?
            }
        };
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
                log_name(entry.log),
                entry.kind,
                json(&entry.detail)?,
                hash
            ],
        )?;
        self.appended = Some((seq, hash));
        Ok(seq)
    }
}

/// Runs an insert that ends `RETURNING` the new row's id; the id.
fn inserted(conn: &mut dyn Conn, sql: &str, params: &[super::Value]) -> Result<i64, Error> {
    first(conn, sql, params, |r| r.get(0))?.ok_or_else(|| {
        crate::error::StorageError::Unreadable {
            what: "an insert".to_owned(),
            problem: "returned no id".to_owned(),
        }
        .into()
    })
}

/// `a = excluded.a, b = excluded.b, …` of an upsert, for the columns `a, b, …`.
fn replace(columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{0} = excluded.{0}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A plugin row (`plugins`/`plugin`'s columns); a NULL content is left empty.
fn plugin_from(r: &Row) -> Result<PluginAttachment, Error> {
    let (sha, config, vectors): (String, String, String) = (r.get(5)?, r.get(6)?, r.get(7)?);
    let content: Option<Vec<u8>> = r.get(4)?;
    Ok(columns!(r => PluginAttachment {
        organization: 0, name: 1, hook: 2, file_name: 3, generation: 8;
        content: content.unwrap_or_default(), sha256: parse_sha(&sha)?,
        config: from_json(&config, "plugin settings")?,
        vectors: from_json(&vectors, "plugin test vectors")?
    }))
}
