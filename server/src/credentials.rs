//! How administrators prove who they are: password hashes, sessions, API tokens and
//! invitations, in `credentials.db` beside the state's database.
//!
//! Who an administrator is and what they may do stays with governance; this store
//! only maps a secret to an administrator's id. Every secret is stored as its SHA-256
//! (passwords as argon2id), so a copy of this file lets nobody in. A credential of an
//! administrator who no longer exists in governance lets nobody in either: each call
//! loads the administrator's permissions anew.

use std::path::Path;

use portcullis_governance::sql::{first, params, rows, Conn, Row, Sql, Value};
use portcullis_governance::Error;
use serde::Serialize;

use crate::secret;
use crate::ServerError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS passwords (
    admin   TEXT PRIMARY KEY,
    hash    TEXT NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    digest  TEXT PRIMARY KEY,
    admin   TEXT NOT NULL,
    csrf    TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_admin ON sessions (admin);
CREATE TABLE IF NOT EXISTS tokens (
    digest    TEXT PRIMARY KEY,
    admin     TEXT NOT NULL,
    name      TEXT NOT NULL,
    created   INTEGER NOT NULL,
    last_used INTEGER,
    UNIQUE (admin, name)
);
CREATE TABLE IF NOT EXISTS totp (
    admin     TEXT PRIMARY KEY,
    secret    TEXT NOT NULL,
    active    INTEGER NOT NULL,
    last_step INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS install_keys (
    digest       TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    organization TEXT NOT NULL,
    grp          TEXT,
    created_by   TEXT NOT NULL,
    created      INTEGER NOT NULL,
    expires      INTEGER NOT NULL,
    UNIQUE (organization, name)
);
CREATE TABLE IF NOT EXISTS agents (
    digest   TEXT PRIMARY KEY,
    computer TEXT NOT NULL UNIQUE,
    enrolled INTEGER NOT NULL,
    key_name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_reports (
    computer TEXT PRIMARY KEY,
    reported INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    report   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS invitations (
    digest     TEXT PRIMARY KEY,
    admin      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL
);
";

/// A session: who, and the token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    /// The administrator.
    pub admin: String,
    /// The CSRF token of this session.
    pub csrf: String,
    /// When it ends (Unix seconds).
    pub expires: i64,
}

/// An administrator's second factor.
#[derive(Debug, Clone)]
pub struct Totp {
    /// The secret (base32).
    pub secret: String,
    /// Whether sign-ins need it (once a code confirmed it).
    pub active: bool,
    /// The last time step a code was used for.
    pub last_step: i64,
}

/// An install key, as its makers see it (never the key itself).
#[derive(Debug, Clone, Serialize)]
pub struct InstallKey {
    /// Its name, unique in its organization.
    pub name: String,
    /// The organization its computers join.
    pub organization: String,
    /// The group they join (else the organization's only group).
    pub group: Option<String>,
    /// The administrator who made it; enrollments add computers with their rights.
    pub created_by: String,
    /// When it was made (Unix seconds).
    pub created: i64,
    /// When it stops working (Unix seconds).
    pub expires: i64,
}

/// What an administrator sees of one of their API tokens (never the token itself).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// The name its holder gave it.
    pub name: String,
    /// When it was made (Unix seconds).
    pub created: i64,
    /// When it last authenticated a call (Unix seconds).
    pub last_used: Option<i64>,
}

/// The credential store.
#[derive(Debug)]
pub struct Credentials {
    db: Sql,
}

/// A credential query's rows, decoded.
fn read<T>(
    c: &mut dyn Conn,
    sql: &str,
    params: &[Value],
    decode: impl FnMut(&Row) -> Result<T, Error>,
) -> Result<Vec<T>, ServerError> {
    Ok(rows(c, sql, params, decode)?)
}

impl Credentials {
    /// The credential file of a state directory.
    pub fn path(state: &Path) -> std::path::PathBuf {
        state.join("credentials.db")
    }

    /// Opens (or creates) the credential store of a state directory.
    pub fn open_dir(state: &Path) -> Result<Credentials, ServerError> {
        Credentials::open(&Credentials::path(state))
    }

    /// Opens (or creates) a credential store.
    pub fn open(path: &Path) -> Result<Credentials, ServerError> {
        let fail =
            |e: Error| ServerError::Storage(format!("credentials `{}`: {e}", path.display()));
        let db = Sql::sqlite(path).map_err(fail)?;
        db.create(SCHEMA).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| ServerError::Storage(format!("credentials `{}`: {e}", path.display())),
            )?;
        }
        Ok(Credentials { db })
    }

    /// Opens the credential store in the PostgreSQL database at `url` (the one the
    /// state is in), creating its tables when they are missing.
    pub fn open_postgres(url: &str) -> Result<Credentials, ServerError> {
        let fail = |e: Error| {
            ServerError::Storage(format!(
                "credentials in `{}`: {e}",
                portcullis_governance::redacted(url)
            ))
        };
        let db = Sql::postgres(url).map_err(fail)?;
        db.create(SCHEMA).map_err(fail)?;
        Ok(Credentials { db })
    }

    /// Sets `admin`'s password (already hashed) and ends their sessions.
    pub fn set_password(&mut self, admin: &str, hash: &str, now: i64) -> Result<(), ServerError> {
        self.db.run(|c| store_password(c, admin, hash, now))
    }

    /// `admin`'s password hash, if they have set one.
    pub fn password_hash(&self, admin: &str) -> Result<Option<String>, ServerError> {
        let sql = "SELECT hash FROM passwords WHERE admin = ?1";
        self.db
            .run(|c| Ok(first(c, sql, params![admin], |r| r.get(0))?))
    }

    /// Starts a session for `admin`: the session token (for the cookie) and its CSRF
    /// token.
    pub fn start_session(
        &mut self,
        admin: &str,
        now: i64,
        lifetime: i64,
    ) -> Result<(String, String), ServerError> {
        let token = secret::token("pcs")?;
        let csrf = secret::token("csrf")?;
        self.db.run(|c| {
            c.execute("DELETE FROM sessions WHERE expires <= ?1", params![now])?;
            c.execute(
                "INSERT INTO sessions (digest, admin, csrf, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![secret::digest(&token), admin, csrf, now, now.saturating_add(lifetime)],
            )?;
            Ok::<_, ServerError>(())
        })?;
        Ok((token, csrf))
    }

    /// The live session a cookie names.
    pub fn session(&self, token: &str, now: i64) -> Result<Option<Session>, ServerError> {
        let sql = "SELECT admin, csrf, expires FROM sessions WHERE digest = ?1 AND expires > ?2";
        self.db.run(|c| {
            Ok(first(c, sql, params![secret::digest(token), now], |r| {
                Ok(Session {
                    admin: r.get(0)?,
                    csrf: r.get(1)?,
                    expires: r.get(2)?,
                })
            })?)
        })
    }

    /// Ends one session.
    pub fn end_session(&mut self, token: &str) -> Result<(), ServerError> {
        let sql = "DELETE FROM sessions WHERE digest = ?1";
        self.db
            .run(|c| Ok(c.execute(sql, params![secret::digest(token)]).map(drop)?))
    }

    /// Makes a named API token for `admin`; the token is returned once and stored
    /// only as its digest.
    pub fn create_token(
        &mut self,
        admin: &str,
        name: &str,
        now: i64,
    ) -> Result<String, ServerError> {
        check_name(name)?;
        let token = secret::token("pct")?;
        let added = self.db.run(|c| {
            Ok::<_, ServerError>(c.execute(
                "INSERT INTO tokens (digest, admin, name, created) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (admin, name) DO NOTHING",
                params![secret::digest(&token), admin, name, now],
            )?)
        })?;
        if added == 0 {
            return Err(ServerError::Conflict(format!(
                "`{admin}` already has a token named `{name}`; revoke it first or choose another name"
            )));
        }
        Ok(token)
    }

    /// `admin`'s tokens, by name.
    pub fn tokens(&self, admin: &str) -> Result<Vec<TokenInfo>, ServerError> {
        let sql = "SELECT name, created, last_used FROM tokens WHERE admin = ?1 ORDER BY name";
        self.db.run(|c| {
            read(c, sql, params![admin], |r| {
                Ok(TokenInfo {
                    name: r.get(0)?,
                    created: r.get(1)?,
                    last_used: r.get(2)?,
                })
            })
        })
    }

    /// Revokes `admin`'s token `name`; whether there was one.
    pub fn revoke_token(&mut self, admin: &str, name: &str) -> Result<bool, ServerError> {
        let sql = "DELETE FROM tokens WHERE admin = ?1 AND name = ?2";
        self.db
            .run(|c| Ok(c.execute(sql, params![admin, name])? > 0))
    }

    /// The administrator an API token belongs to; marks it used.
    pub fn token_admin(&mut self, token: &str, now: i64) -> Result<Option<String>, ServerError> {
        let digest = secret::digest(token);
        self.db.run(|c| {
            let found: Option<(String, Option<i64>)> = first(
                c,
                "SELECT admin, last_used FROM tokens WHERE digest = ?1",
                params![digest],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let Some((admin, last_used)) = found else {
                return Ok(None);
            };
            // To the minute: a token used for every call writes once a minute, not once
            // a call, and the other calls do not even send the update.
            if last_used.is_none_or(|t| t <= now - 60) {
                c.execute(
                    "UPDATE tokens SET last_used = ?2
                     WHERE digest = ?1 AND (last_used IS NULL OR last_used <= ?2 - 60)",
                    params![digest, now],
                )?;
            }
            Ok(Some(admin))
        })
    }

    /// Forgets every credential of `admin` (when they are deleted).
    pub fn forget(&mut self, admin: &str) -> Result<(), ServerError> {
        self.db.run(|c| {
            for table in ["passwords", "sessions", "tokens", "invitations", "totp"] {
                c.execute(
                    &format!("DELETE FROM {table} WHERE admin = ?1"),
                    params![admin],
                )?;
            }
            Ok(())
        })
    }

    /// Starts setting up a second factor for `admin`: a new secret, not yet required
    /// (until a code confirms it). Refused while one is active.
    pub fn totp_begin(&mut self, admin: &str, secret: &str) -> Result<(), ServerError> {
        if self.totp(admin)?.is_some_and(|t| t.active) {
            return Err(ServerError::Conflict(format!(
                "`{admin}` already signs in with a second factor; turn it off first"
            )));
        }
        self.db.run(|c| {
            c.execute(
                "INSERT INTO totp (admin, secret, active, last_step) VALUES (?1, ?2, 0, 0)
                 ON CONFLICT (admin) DO UPDATE SET secret = excluded.secret, active = 0, last_step = 0",
                params![admin, secret],
            )?;
            Ok(())
        })
    }

    /// `admin`'s second factor, set up or active.
    pub fn totp(&self, admin: &str) -> Result<Option<Totp>, ServerError> {
        let sql = "SELECT secret, active, last_step FROM totp WHERE admin = ?1";
        self.db.run(|c| {
            Ok(first(c, sql, params![admin], |r| {
                Ok(Totp {
                    secret: r.get(0)?,
                    active: r.get(1)?,
                    last_step: r.get(2)?,
                })
            })?)
        })
    }

    /// Uses the code of `step` (and, with `activate`, makes the factor required):
    /// whether it was not used before. A code works once.
    pub fn totp_use(
        &mut self,
        admin: &str,
        step: i64,
        activate: bool,
    ) -> Result<bool, ServerError> {
        let sql = "UPDATE totp SET last_step = ?2,
                       active = CASE WHEN ?3 = 1 THEN 1 ELSE active END
                   WHERE admin = ?1 AND last_step < ?2";
        self.db
            .run(|c| Ok(c.execute(sql, params![admin, step, activate])? > 0))
    }

    /// Turns `admin`'s second factor off.
    pub fn totp_remove(&mut self, admin: &str) -> Result<(), ServerError> {
        let sql = "DELETE FROM totp WHERE admin = ?1";
        self.db
            .run(|c| Ok(c.execute(sql, params![admin]).map(drop)?))
    }

    /// Makes an install key; the key is returned once and stored only as its digest.
    pub fn create_install_key(&mut self, key: &InstallKey) -> Result<String, ServerError> {
        check_name(&key.name)?;
        let secret = secret::token("pck")?;
        let added = self.db.run(|c| {
            Ok::<_, ServerError>(c.execute(
                "INSERT INTO install_keys (digest, name, organization, grp, created_by, created, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (organization, name) DO NOTHING",
                params![secret::digest(&secret), key.name, key.organization, key.group,
                    key.created_by, key.created, key.expires],
            )?)
        })?;
        if added == 0 {
            return Err(ServerError::Conflict(format!(
                "`{}` already has an install key named `{}`; revoke it first or choose another name",
                key.organization, key.name
            )));
        }
        Ok(secret)
    }

    /// Every install key.
    pub fn install_keys(&self) -> Result<Vec<InstallKey>, ServerError> {
        let sql = "SELECT name, organization, grp, created_by, created, expires FROM install_keys
                   ORDER BY organization, name";
        self.db.run(|c| read(c, sql, &[], install_key))
    }

    /// The live install key a secret names.
    pub fn install_key(&self, secret: &str, now: i64) -> Result<Option<InstallKey>, ServerError> {
        let sql = "SELECT name, organization, grp, created_by, created, expires FROM install_keys
                   WHERE digest = ?1 AND expires > ?2";
        self.db.run(|c| {
            Ok(first(
                c,
                sql,
                params![secret::digest(secret), now],
                install_key,
            )?)
        })
    }

    /// Revokes an install key; whether there was one.
    pub fn revoke_install_key(
        &mut self,
        organization: &str,
        name: &str,
    ) -> Result<bool, ServerError> {
        let sql = "DELETE FROM install_keys WHERE organization = ?1 AND name = ?2";
        self.db
            .run(|c| Ok(c.execute(sql, params![organization, name])? > 0))
    }

    /// Gives `computer` an agent credential, returned once. Refused when an agent is
    /// enrolled as it already.
    pub fn enroll(
        &mut self,
        computer: &str,
        key_name: &str,
        now: i64,
    ) -> Result<String, ServerError> {
        let credential = secret::token("pca")?;
        let added = self.db.run(|c| {
            Ok::<_, ServerError>(c.execute(
                "INSERT INTO agents (digest, computer, enrolled, key_name) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (computer) DO NOTHING",
                params![secret::digest(&credential), computer, now, key_name],
            )?)
        })?;
        if added == 0 {
            return Err(ServerError::Conflict(format!(
                "an agent is enrolled as `{computer}` already; an administrator must revoke it first"
            )));
        }
        Ok(credential)
    }

    /// Whether an agent is enrolled as `computer`.
    pub fn is_enrolled(&self, computer: &str) -> Result<bool, ServerError> {
        let sql = "SELECT 1 FROM agents WHERE computer = ?1";
        self.db
            .run(|c| Ok(first(c, sql, params![computer], |_| Ok(()))?.is_some()))
    }

    /// The computer an agent credential belongs to.
    pub fn agent(&self, credential: &str) -> Result<Option<String>, ServerError> {
        let sql = "SELECT computer FROM agents WHERE digest = ?1";
        self.db.run(|c| {
            Ok(first(c, sql, params![secret::digest(credential)], |r| {
                r.get(0)
            })?)
        })
    }

    /// Keeps the latest health report of `computer`'s agent (its revision and the
    /// report as it came).
    pub fn report_health(
        &mut self,
        computer: &str,
        revision: i64,
        report: &str,
        now: i64,
    ) -> Result<(), ServerError> {
        self.db.run(|c| {
            c.execute(
                "INSERT INTO agent_reports (computer, reported, revision, report) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (computer) DO UPDATE SET reported = excluded.reported,
                     revision = excluded.revision, report = excluded.report",
                params![computer, now, revision, report],
            )?;
            Ok(())
        })
    }

    /// Every enrolled agent with its latest health report, by computer.
    pub fn agents(&self) -> Result<Vec<AgentRecord>, ServerError> {
        let sql = "SELECT a.computer, a.enrolled, r.reported, r.revision, r.report
                   FROM agents a LEFT JOIN agent_reports r ON r.computer = a.computer
                   ORDER BY a.computer";
        self.db.run(|c| {
            read(c, sql, &[], |r| {
                let report: Option<String> = r.get(4)?;
                Ok(AgentRecord {
                    computer: r.get(0)?,
                    enrolled: r.get(1)?,
                    reported: r.get(2)?,
                    revision: r.get(3)?,
                    report: report.and_then(|text| serde_json::from_str(&text).ok()),
                })
            })
        })
    }

    /// Revokes the agent enrolled as `computer`; whether there was one.
    pub fn revoke_agent(&mut self, computer: &str) -> Result<bool, ServerError> {
        self.db.run(|c| {
            c.execute(
                "DELETE FROM agent_reports WHERE computer = ?1",
                params![computer],
            )?;
            Ok(c.execute("DELETE FROM agents WHERE computer = ?1", params![computer])? > 0)
        })
    }

    /// Makes an invitation (or password reset) for `admin`, valid for `lifetime`
    /// seconds; earlier ones for them stop working.
    pub fn invite(
        &mut self,
        admin: &str,
        by: &str,
        now: i64,
        lifetime: i64,
    ) -> Result<String, ServerError> {
        let token = secret::token("pci")?;
        self.db.run(|c| {
            c.execute("DELETE FROM invitations WHERE admin = ?1", params![admin])?;
            c.execute(
                "INSERT INTO invitations (digest, admin, created_by, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![secret::digest(&token), admin, by, now, now.saturating_add(lifetime)],
            )?;
            Ok::<_, ServerError>(())
        })?;
        Ok(token)
    }

    /// Sets the password of the administrator an invitation is for, once; their id.
    pub fn redeem(
        &mut self,
        invitation: &str,
        hash: &str,
        now: i64,
    ) -> Result<String, ServerError> {
        self.db.run(|c| {
            let admin: Option<String> = first(
                c,
                "DELETE FROM invitations WHERE digest = ?1 AND expires > ?2 RETURNING admin",
                params![secret::digest(invitation), now],
                |r| r.get(0),
            )?;
            let Some(admin) = admin else {
                return Err(ServerError::BadInput(
                    "the invitation is unknown, used or expired; ask for a new one".to_owned(),
                ));
            };
            store_password(c, &admin, hash, now)?;
            // A reset is also for an administrator who lost their second factor.
            c.execute("DELETE FROM totp WHERE admin = ?1", params![admin])?;
            Ok(admin)
        })
    }
}

fn install_key(row: &Row) -> Result<InstallKey, Error> {
    Ok(InstallKey {
        name: row.get(0)?,
        organization: row.get(1)?,
        group: row.get(2)?,
        created_by: row.get(3)?,
        created: row.get(4)?,
        expires: row.get(5)?,
    })
}

/// Sets a password and ends the sessions made with the old one.
fn store_password(c: &mut dyn Conn, admin: &str, hash: &str, now: i64) -> Result<(), ServerError> {
    c.execute(
        "INSERT INTO passwords (admin, hash, updated) VALUES (?1, ?2, ?3)
         ON CONFLICT (admin) DO UPDATE SET hash = excluded.hash, updated = excluded.updated",
        params![admin, hash, now],
    )?;
    c.execute("DELETE FROM sessions WHERE admin = ?1", params![admin])?;
    Ok(())
}

/// A token's name: 1 to 64 printable characters.
fn check_name(name: &str) -> Result<(), ServerError> {
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ServerError::BadInput(
            "a token's name has 1 to 64 printable characters".to_owned(),
        ));
    }
    Ok(())
}

/// Sets `admin`'s password in the credential store of the state: the state directory
/// `state`, or the PostgreSQL `database` when given (for `init` and for recovery by
/// whoever can write the state, who is trusted anyway).
pub fn set_password(
    state: &Path,
    database: Option<&str>,
    admin: &str,
    password: &str,
) -> Result<(), ServerError> {
    let hash = secret::hash_password(password)?;
    let mut credentials = match database {
        Some(url) => Credentials::open_postgres(url)?,
        None => Credentials::open_dir(state)?,
    };
    credentials.set_password(admin, &hash, crate::clock::unix_now())
}

/// An enrolled agent and what it last reported.
#[derive(Debug, Clone, Serialize)]
pub struct AgentRecord {
    /// Its computer.
    pub computer: String,
    /// When it enrolled (Unix seconds).
    pub enrolled: i64,
    /// When it last reported (Unix seconds); `None` before its first report.
    pub reported: Option<i64>,
    /// The revision of its view at that report.
    pub revision: Option<i64>,
    /// The report as it came.
    pub report: Option<serde_json::Value>,
}
