//! The state of a tenancy and what every concern of the workflow shares: opening and
//! initializing it, the one authorization point, loading administrators, requests and
//! computers, the messages' context, and committing an administrator's action with its
//! audit entry.

use std::path::Path;
use std::sync::Arc;

use portcullis_engine::model::Timestamp;
use portcullis_engine::{Bundle, DecisionRecord, Engine, Event};
use serde_json::json;

use super::places::Places;
use crate::access::{Act, Holdings, OrgTree};
use crate::audit::{AuditEntry, AuditLog};
use crate::database::Database;
use crate::error::{Error, StorageError};
use crate::permission::Permission;
use crate::postgres::PostgresStore;
use crate::provider::PluginProvider;
use crate::sqlite::SqliteStore;
use crate::store::{AdminRecord, DeployNote, Grant, Grantable, ReadTx, RequestRecord, Store, Tx};

/// Where the time comes from; tests hand in their own.
pub type Clock = Box<dyn Fn() -> Timestamp + Send + Sync>;

/// The actor name of expiry and other automatic transitions.
pub(super) const SYSTEM: &str = "system";

/// The governance state of one tenancy: durable store, the engine serving its current
/// bundle, the clock, and the plugin provider it was given, if any.
pub struct Governance<S: Store = Database> {
    pub(super) store: S,
    /// Compiled on first use: a read that does not decide never compiles the tenancy.
    pub(super) engine: std::sync::OnceLock<Engine>,
    pub(super) bundle: Bundle,
    pub(super) version: i64,
    pub(super) tree: OrgTree,
    /// Where the bundle's computers, groups and policies sit.
    pub(super) places: Places,
    pub(super) clock: Clock,
    pub(super) plugins: Option<Arc<dyn PluginProvider>>,
    /// Where notifications' links open requests, over the notification settings'
    /// `link_base` (a server's own Approval Center).
    pub(super) link_base: Option<String>,
}

impl<S: Store> std::fmt::Debug for Governance<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governance")
            .field("version", &self.version)
            .field("generation", &self.engine.get().map(Engine::generation))
            .finish_non_exhaustive()
    }
}

impl<S: Store> Governance<S> {
    /// The system's clock.
    pub fn system_clock() -> Clock {
        Box::new(|| {
            let seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            Timestamp::from_unix(seconds)
        })
    }

    /// Starts a new state from a bundle, with a first administrator who holds Super
    /// Admin on every top-level organization.
    pub fn init(
        mut store: S,
        bundle: Bundle,
        first: AdminRecord,
        clock: Clock,
    ) -> Result<Self, Error> {
        let engine = Engine::new(&bundle).map_err(Error::Compile)?;
        let tree = OrgTree::of(&bundle);
        if !tree.contains(&first.organization) {
            return Err(Error::not_found("organization", &first.organization));
        }
        first.validate()?;
        let now = clock();
        let roots: Vec<String> = bundle
            .organizations
            .iter()
            .filter(|o| o.parent.is_none())
            .map(|o| o.id.clone())
            .collect();
        let version = store.transaction(|tx| {
            if tx.current_bundle()?.is_some() {
                return Err(Error::AlreadyInitialized);
            }
            let note = DeployNote {
                actor: first.id.clone(),
                time: now,
                reason: "init".to_owned(),
            };
            let version = tx.push_bundle(&bundle, None, &note)?;
            tx.put_admin(&first)?;
            for root in &roots {
                tx.insert_grant(&Grant {
                    admin: first.id.clone(),
                    organization: root.clone(),
                    what: Grantable::Permission(Permission::SuperAdmin),
                })?;
            }
            tx.append_audit(&AuditEntry {
                time: now,
                actor: first.id.clone(),
                organization: None,
                log: AuditLog::System,
                kind: "init".to_owned(),
                detail: json!({"version": version, "administrator": first.id, "super_admin_on": roots}),
            })?;
            Ok(version)
        })?;
        Ok(Self::serving(store, Some(engine), bundle, version, clock))
    }

    /// Catches up with a bundle version another process or server node committed:
    /// when the store's current version is not the one this state serves, loads it
    /// and deploys it to the engine as a change to the organizations that differ.
    /// Returns whether anything changed. One small read when nothing did.
    pub fn follow(&mut self) -> Result<bool, Error> {
        if self.store.read(|tx| tx.current_version())? == Some(self.version) {
            return Ok(false);
        }
        // Versions that only put applications and policies (approvals) are put into
        // the bundle in memory and deployed as a change of their owners: nothing
        // costs what the tenancy costs. Anything else reads the current bundle.
        if let Some(puts) = self.store.read(|tx| tx.puts_since(self.version))? {
            if let Some(last) = puts.last().map(|p| p.version) {
                let mut owners = Vec::new();
                for p in &puts {
                    owners.extend(self.put_in_memory(&p.applications, &p.policies));
                }
                owners.sort();
                owners.dedup();
                let owners: Vec<&str> = owners.iter().map(String::as_str).collect();
                let change = self.places.change(&self.bundle, &owners);
                self.version = last;
                let Some(engine) = self.engine.get() else {
                    return Ok(true);
                };
                if engine.deploy_change(&change).is_ok() {
                    return Ok(true);
                }
                // Not expected (the version compiled where it was made): the stored
                // bundle, deployed whole, rather than a half-followed one.
                let Some((version, bundle)) = self.store.read(|tx| tx.current_bundle())? else {
                    return Ok(false);
                };
                engine
                    .deploy(&bundle)
                    .map_err(|errors| StorageError::Bundle { version, errors })?;
                self.tree = OrgTree::of(&bundle);
                self.places = Places::of(&bundle);
                self.bundle = bundle;
                self.version = version;
                return Ok(true);
            }
        }
        let Some((version, bundle)) = self.store.read(|tx| tx.current_bundle())? else {
            return Ok(false);
        };
        // An engine not compiled yet compiles the new bundle when first used.
        if let Some(engine) = self.engine.get() {
            let change = portcullis_engine::BundleChange::between(&self.bundle, &bundle);
            engine
                .deploy_change(&change)
                .map_err(|errors| StorageError::Bundle { version, errors })?;
        }
        self.tree = OrgTree::of(&bundle);
        self.places = Places::of(&bundle);
        self.bundle = bundle;
        self.version = version;
        Ok(true)
    }

    /// The state `store` holds, with `engine` (when compiled already) serving its
    /// bundle `bundle` at `version`.
    fn serving(
        store: S,
        engine: Option<Engine>,
        bundle: Bundle,
        version: i64,
        clock: Clock,
    ) -> Self {
        let tree = OrgTree::of(&bundle);
        let places = Places::of(&bundle);
        let compiled = std::sync::OnceLock::new();
        if let Some(engine) = engine {
            let _ = compiled.set(engine);
        }
        Governance {
            store,
            engine: compiled,
            bundle,
            version,
            tree,
            places,
            clock,
            plugins: None,
            link_base: None,
        }
    }

    /// Opens an initialized state. Its current bundle is compiled when something
    /// first decides or changes policies ([`Governance::engine`]), so reads that do
    /// not decide (the queue, history, the audit) never compile the tenancy.
    pub fn open(mut store: S, clock: Clock) -> Result<Self, Error> {
        let (version, bundle) = store
            .transaction(|tx| tx.current_bundle())?
            .ok_or(Error::NotInitialized { dir: None })?;
        Ok(Self::serving(store, None, bundle, version, clock))
    }

    /// This state with `provider` loading its attached plugins: the approval plugins
    /// that review requests and the rule plugins that check allowed executions.
    pub fn with_plugins(mut self, provider: Arc<dyn PluginProvider>) -> Self {
        self.plugins = Some(provider);
        self
    }

    /// This state with notifications linking to requests under `base`
    /// (`{base}/requests/{id}`) instead of the notification settings' `link_base`: a
    /// server names its own Approval Center here.
    pub fn with_link_base(mut self, base: String) -> Self {
        self.link_base = Some(base);
        self
    }

    /// The plugin provider this state was given.
    pub(crate) fn plugin_provider(&self) -> Option<&dyn PluginProvider> {
        self.plugins.as_deref()
    }

    /// The engine serving the current bundle, compiled the first time it is asked
    /// for; agents in the same process decide on it.
    pub fn engine(&self) -> Result<&Engine, Error> {
        Self::compiled(&self.engine, &self.bundle, self.version)
    }

    /// The engine in `slot`, compiled from `bundle` (at `version`) if it is not yet.
    pub(super) fn compiled<'a>(
        slot: &'a std::sync::OnceLock<Engine>,
        bundle: &Bundle,
        version: i64,
    ) -> Result<&'a Engine, Error> {
        if let Some(engine) = slot.get() {
            return Ok(engine);
        }
        let engine =
            Engine::new(bundle).map_err(|errors| StorageError::Bundle { version, errors })?;
        Ok(slot.get_or_init(|| engine))
    }

    /// The current bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The current bundle's version (durable; grows with every deploy).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The bundle as it was at `version`, if that version is stored: what the server
    /// compares a computer's view against to send its agent only what changed. Not an
    /// administrator's read (it checks no permission): the caller narrows it to what
    /// its own caller may see.
    pub fn bundle_at(&self, version: i64) -> Result<Option<Bundle>, Error> {
        if version == self.version {
            return Ok(Some(self.bundle.clone()));
        }
        self.store.read(|tx| tx.bundle(version))
    }

    /// The organization tree of the current bundle.
    pub fn tree(&self) -> &OrgTree {
        &self.tree
    }

    /// The time now, by this state's clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Runs a unit of work on the store, in one transaction.
    pub(crate) fn write<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.store.transaction(work)
    }

    /// Reads the store, in one read-only transaction; for the crate's own actions,
    /// which check permissions themselves.
    pub(crate) fn stored<T>(
        &self,
        work: impl FnOnce(&mut dyn ReadTx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.store.read(work)
    }

    /// Reads the stored state directly, in one read-only transaction. What it reaches
    /// is every organization's requests, files, administrators, outbox and audit, so
    /// the actor needs Super Admin on every top-level organization.
    pub fn read<T>(
        &self,
        actor: &str,
        work: impl FnOnce(&mut dyn ReadTx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.holdings(actor)?
            .check_everywhere(&self.tree, Act::ReadState)?;
        self.store.read(work)
    }

    /// What messages about requests of `org` on `computer` name.
    pub(super) fn context(&self, org: &str, computer: &str) -> Context {
        Context {
            organization_name: self.organization_name(org),
            computer_name: self
                .places
                .computer(&self.bundle, computer)
                .map_or_else(|| computer.to_owned(), |c| c.name.clone()),
            lineage: self.tree.lineage(org).map(str::to_owned).collect(),
            link_base: self.link_base.clone(),
        }
    }

    /// The name of organization `id` (its id when the bundle has no such
    /// organization).
    pub(crate) fn organization_name(&self, id: &str) -> String {
        name_in(
            self.bundle.organizations.iter().map(|o| (&o.id, &o.name)),
            id,
        )
    }

    /// Checks an event from outside against the engine's limits before anything is
    /// decided, stored or copied.
    pub(crate) fn check_event(&self, event: &Event) -> Result<(), Error> {
        self.engine()?
            .limits()
            .check_event(event)
            .map_err(|e| Error::invalid("event", format!("the event: {e}")))
    }

    /// The one authorization point: may `actor` do `act` on organization `org`? Allowed,
    /// or refused with the message that names the action, the organization and the
    /// missing permission (SPEC §8; the requirements table is `Act`'s). Every governed
    /// action of this crate goes through it (or through `Holdings::check`, the same
    /// rules on permissions already loaded), and so does anything built on top, such as
    /// a server.
    pub fn authorize(&self, actor: &str, act: Act, org: &str) -> Result<(), Error> {
        self.holdings(actor)?.check(&self.tree, act, org)?;
        Ok(())
    }

    /// Runs `write` and appends its system-audit entry in one transaction.
    pub(crate) fn commit_system(
        &mut self,
        actor: &str,
        org: &str,
        kind: &str,
        detail: serde_json::Value,
        write: impl FnOnce(&mut dyn Tx) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let entry = system_entry(self.now(), actor, org, kind, detail);
        self.store.transaction(|tx| {
            write(tx)?;
            tx.append_audit(&entry)?;
            Ok(())
        })
    }

    pub(super) fn holdings(&self, admin: &str) -> Result<Holdings, Error> {
        self.store
            .read(|tx| holdings_in(tx, admin))?
            .ok_or_else(|| Error::not_found("administrator", admin))
    }

    pub(super) fn home_org(&self, admin: &str) -> Result<String, Error> {
        Ok(self.load_admin(admin)?.organization)
    }

    pub(super) fn load_admin(&self, id: &str) -> Result<AdminRecord, Error> {
        self.store
            .read(|tx| tx.admin(id))?
            .ok_or_else(|| Error::not_found("administrator", id))
    }

    pub(crate) fn load_request(&self, id: i64) -> Result<RequestRecord, Error> {
        self.store
            .read(|tx| tx.request(id))?
            .ok_or_else(|| Error::not_found("request", id))
    }

    pub(crate) fn computer(&self, id: &str) -> Result<&portcullis_engine::model::Computer, Error> {
        self.places
            .computer(&self.bundle, id)
            .ok_or_else(|| Error::not_found("computer", id))
    }

    pub(crate) fn org_of_computer(&self, id: &str) -> Result<String, Error> {
        let computer = self.computer(id)?;
        self.places
            .group_org(&computer.group)
            .map(str::to_owned)
            .ok_or_else(|| Error::not_found("group", &computer.group))
    }
}

/// Creates a state directory's database, or opens it; or a shared PostgreSQL
/// database.
impl Governance<Database> {
    /// The database file of a state directory.
    pub fn database(dir: &Path) -> std::path::PathBuf {
        dir.join("state.db")
    }

    /// Opens the state in `dir` with the system clock.
    pub fn open_dir(dir: &Path) -> Result<Self, Error> {
        Self::open_dir_with_key(dir, None)
    }

    /// Opens the state in `dir`, its audit key at `key` (default `dir/audit.key`).
    pub fn open_dir_with_key(dir: &Path, key: Option<&Path>) -> Result<Self, Error> {
        if !Self::database(dir).exists() {
            return Err(Error::NotInitialized {
                dir: Some(dir.to_owned()),
            });
        }
        Governance::open(Self::store(dir, key)?.into(), Self::system_clock())
    }

    /// The store of the state in `dir` alone (its audit key at `key`, default
    /// `dir/audit.key`), without the bundle: for reads that need no policies (does an
    /// administrator exist?) on a connection of their own.
    pub fn store_dir(dir: &Path, key: Option<&Path>) -> Result<Database, Error> {
        if !Self::database(dir).exists() {
            return Err(Error::NotInitialized {
                dir: Some(dir.to_owned()),
            });
        }
        Ok(Self::store(dir, key)?.into())
    }

    /// Opens the state in the PostgreSQL database at `url`, its audit key at `key`.
    pub fn open_postgres(url: &str, key: &Path) -> Result<Self, Error> {
        let store = PostgresStore::open(url, key)?;
        Governance::open(store.into(), Self::system_clock())
    }

    /// Initializes the state in the PostgreSQL database at `url`, its audit key made at
    /// `key`.
    pub fn init_postgres(
        url: &str,
        key: &Path,
        bundle: Bundle,
        first: AdminRecord,
    ) -> Result<Self, Error> {
        let store = PostgresStore::open(url, key)?;
        Governance::init(store.into(), bundle, first, Self::system_clock())
    }

    /// Initializes the state in `dir` (creating the directory, owner-only).
    pub fn init_dir(dir: &Path, bundle: Bundle, first: AdminRecord) -> Result<Self, Error> {
        Self::init_dir_with_key(dir, None, bundle, first)
    }

    /// Initializes the state in `dir`, its audit key made at `key` (default
    /// `dir/audit.key`).
    pub fn init_dir_with_key(
        dir: &Path,
        key: Option<&Path>,
        bundle: Bundle,
        first: AdminRecord,
    ) -> Result<Self, Error> {
        let fail = StorageError::file("create", dir);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Whoever can write the state can act as any administrator in local mode.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
        Governance::init(
            Self::store(dir, key)?.into(),
            bundle,
            first,
            Self::system_clock(),
        )
    }

    fn store(dir: &Path, key: Option<&Path>) -> Result<SqliteStore, Error> {
        match key {
            Some(key) => SqliteStore::open_with_key(&Self::database(dir), key),
            None => SqliteStore::open(&Self::database(dir)),
        }
    }
}

pub(super) fn describe_decider(decision: &DecisionRecord) -> String {
    match (&decision.policy, decision.mode) {
        (Some(policy), _) => format!("policy `{policy}`"),
        (None, Some(mode)) => format!("the computer's {} mode", mode.as_str()),
        (None, None) => "the default deny".to_owned(),
    }
}

/// Who approves: an administrator, or an approval plugin.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Approver<'a> {
    /// An administrator, by id; every permission is checked.
    Admin(&'a str),
    /// An approval plugin, by name; audited as `plugin:NAME`.
    Plugin(&'a str),
}

impl Approver<'_> {
    /// The actor in the audit and the request's closure.
    pub(crate) fn audit_name(self) -> String {
        match self {
            Approver::Admin(id) => id.to_owned(),
            Approver::Plugin(name) => format!("plugin:{name}"),
        }
    }
}

/// What an administrator holds, from grants and roles; `None` when there is no such
/// administrator.
pub(super) fn holdings_in(tx: &mut dyn ReadTx, admin: &str) -> Result<Option<Holdings>, Error> {
    if tx.admin(admin)?.is_none() {
        return Ok(None);
    }
    let mut held = Vec::new();
    for grant in tx.grants(admin)? {
        match grant.what {
            Grantable::Permission(p) => held.push((grant.organization, p)),
            Grantable::Role(role) => {
                if let Some(role) = tx.role(&role)? {
                    held.extend(
                        role.permissions
                            .into_iter()
                            .map(|p| (grant.organization.clone(), p)),
                    );
                }
            }
        }
    }
    Ok(Some(Holdings::new(admin, held)))
}

/// The name of the entry `id` among `(id, name)` pairs, or `id` when none has it.
fn name_in<'a>(mut entries: impl Iterator<Item = (&'a String, &'a String)>, id: &str) -> String {
    entries
        .find(|(key, _)| *key == id)
        .map_or_else(|| id.to_owned(), |(_, name)| name.clone())
}

/// What messages about one request name, gathered before the transaction.
pub(super) struct Context {
    pub(super) organization_name: String,
    pub(super) computer_name: String,
    pub(super) lineage: Vec<String>,
    /// Where links open requests, when not under the notification settings' base.
    pub(super) link_base: Option<String>,
}

/// An audit detail about a request: its id, computer, user, file and path, and `more`.
pub(super) fn about(request: &RequestRecord, more: serde_json::Value) -> serde_json::Value {
    let mut detail = json!({
        "request": request.id, "kind": request.filed.kind,
        "computer": request.filed.computer, "user": request.filed.event.user,
        "sha256": request.filed.event.sha256, "path": request.filed.event.path,
    });
    if let (Some(detail), serde_json::Value::Object(more)) = (detail.as_object_mut(), more) {
        detail.extend(more);
    }
    detail
}

fn system_entry(
    time: Timestamp,
    actor: &str,
    org: &str,
    kind: &str,
    detail: serde_json::Value,
) -> AuditEntry {
    AuditEntry {
        time,
        actor: actor.to_owned(),
        organization: Some(org.to_owned()),
        log: AuditLog::System,
        kind: kind.to_owned(),
        detail,
    }
}
