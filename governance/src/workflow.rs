//! The governed workflow: requests, approvals, rejections, expiry, maintenance modes,
//! deploys, administrators, roles and grants. Every action checks the actor's
//! permissions first, changes state in one transaction, and audits what it did.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use portcullis_engine::model::{
    Application, CertificateCondition, FileRule, Maintenance, MaintenanceMode, Policy, Recipient,
    Scope, Sha256, Timestamp,
};
use portcullis_engine::{
    Action, Bundle, BundleChange, CompileErrors, DecisionRecord, DeployError, Deployed, Engine,
    Event, Outcome, Snapshot,
};
use serde::Serialize;
use serde_json::json;

use crate::access::{Act, Holdings, OrgTree, RequestKind, ScopeKind};
use crate::audit::{
    self, AuditBreak, AuditEntry, AuditLog, AuditQuery, AuditRecord, Checkpoint, Head, HeadRead,
};
use crate::edits::{self, owner_of};
use crate::notify::{self, DeliveryReport, NotifyConfig, RequestFacts};
use crate::permission::Permission;
use crate::store::{
    AdminRecord, ApprovalRecord, Channel, Channels, Claim, Closure, DeployNote, DeployRecord,
    Grant, Grantable, NewRequest, Notification, NotifySetting, OutboxRecord, OutboxState,
    RequestRecord, RequestState, RoleRecord, Settings, Store, Tx,
};
use crate::{Error, SqliteStore};

/// The largest file a request may carry (64 MiB).
pub const MAX_ATTACHMENT: usize = 64 << 20;

/// Where the time comes from; tests hand in their own.
pub type Clock = Box<dyn Fn() -> Timestamp + Send + Sync>;

/// The actor name of expiry and other automatic transitions.
const SYSTEM: &str = "system";

/// The governance state of one tenancy: durable store, the engine serving its current
/// bundle, and the clock.
pub struct Governance<S: Store = SqliteStore> {
    store: S,
    engine: Engine,
    bundle: Bundle,
    version: i64,
    tree: OrgTree,
    clock: Clock,
}

impl<S: Store> std::fmt::Debug for Governance<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governance")
            .field("version", &self.version)
            .field("generation", &self.engine.generation())
            .finish_non_exhaustive()
    }
}

/// Details of an administrator to change; `None` keeps what is there.
#[derive(Debug, Clone, Default)]
pub struct AdminChanges {
    /// Display name.
    pub name: Option<String>,
    /// Home organization.
    pub organization: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number for SMS.
    pub phone: Option<String>,
}

/// A request as a user files it.
#[derive(Debug, Clone)]
pub struct FileRequest {
    /// What it asks for.
    pub kind: RequestKind,
    /// The blocked execution.
    pub event: Event,
    /// The user's message.
    pub message: String,
    /// Where to tell the user the outcome.
    pub email: Option<String>,
    /// A copy of the file; its SHA-256 must be the event's.
    pub attachment: Option<Vec<u8>>,
}

/// How an approval's rule matches the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matching {
    /// The file's SHA-256.
    Hash,
    /// The signer's subject and issuer (needs a valid signature).
    Certificate,
    /// The signer and the file's path.
    CertificatePath,
    /// The file's path.
    Path,
    /// A rule the approver writes.
    Custom(FileRule),
}

impl Matching {
    /// The name used in commands and records.
    pub fn as_str(&self) -> &'static str {
        match self {
            Matching::Hash => "hash",
            Matching::Certificate => "certificate",
            Matching::CertificatePath => "certificate-path",
            Matching::Path => "path",
            Matching::Custom(_) => "custom",
        }
    }
}

/// What an approver chooses.
#[derive(Debug, Clone)]
pub struct ApproveOptions {
    /// Where the new policy applies.
    pub scope: ScopeKind,
    /// The scope's target: the computer, group or organization. Default: the
    /// requesting computer, its group, its organization. An organization scope may name
    /// an ancestor of the computer's organization; every target must contain the
    /// requesting computer.
    pub target: Option<String>,
    /// How its rule matches the file.
    pub matching: Matching,
    /// Add the rule to this existing application instead of creating one.
    pub application: Option<String>,
    /// The name of a new application (default: the file's name).
    pub application_name: Option<String>,
    /// Permit with elevation (always so for an elevation request).
    pub elevate: bool,
    /// The policy stops applying at this time.
    pub expires: Option<Timestamp>,
    /// Why; needed for approvals wider than one computer.
    pub justification: Option<String>,
    /// The new policy's position (default: after the organization's last policy).
    pub position: Option<i64>,
}

impl ApproveOptions {
    /// Computer scope, matched by hash, into a new application.
    pub fn new(scope: ScopeKind, matching: Matching) -> ApproveOptions {
        ApproveOptions {
            scope,
            target: None,
            matching,
            application: None,
            application_name: None,
            elevate: false,
            expires: None,
            justification: None,
            position: None,
        }
    }
}

/// A successful approval.
#[derive(Debug, Clone, Serialize)]
pub struct Approved {
    /// The request, now approved.
    pub request: RequestRecord,
    /// The snapshot generation that allows it.
    pub generation: u64,
    /// How many organizations were compiled anew for it (the others were reused).
    pub recompiled: usize,
    /// The decision on the new snapshot that proves the approval.
    pub proof: DecisionRecord,
    /// A wider policy to consider, when this software has now been approved manually
    /// on enough computers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Suggestion>,
}

/// The same software approved manually, one computer at a time, on enough computers
/// that a wider policy would serve better.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    /// The organization.
    pub organization: String,
    /// The software.
    pub sha256: Sha256,
    /// The file's path in the latest request.
    pub path: String,
    /// The computers it was approved on.
    pub computers: Vec<String>,
    /// The approved requests.
    pub requests: Vec<i64>,
    /// `group` when every computer is in one group, else `organization`.
    pub scope: ScopeKind,
    /// The group or organization.
    pub target: String,
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
        let engine = Engine::new(&bundle).map_err(|e| compile_error(&e))?;
        let tree = OrgTree::of(&bundle);
        if !tree.contains(&first.organization) {
            return Err(Error::NotFound {
                kind: "organization",
                id: first.organization.clone(),
            });
        }
        validate_admin(&first)?;
        let now = clock();
        let roots: Vec<String> = bundle
            .organizations
            .iter()
            .filter(|o| o.parent.is_none())
            .map(|o| o.id.clone())
            .collect();
        let version = store.transaction(|tx| {
            if tx.current_bundle()?.is_some() {
                return Err(Error::State("the state is already initialized".to_owned()));
            }
            let note = DeployNote {
                actor: first.id.clone(),
                time: now,
                reason: "init".to_owned(),
            };
            let version = tx.push_bundle(&bundle, &note)?;
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
        Ok(Governance {
            store,
            engine,
            bundle,
            version,
            tree,
            clock,
        })
    }

    /// Opens an initialized state and compiles its current bundle.
    pub fn open(mut store: S, clock: Clock) -> Result<Self, Error> {
        let (version, bundle) = store
            .transaction(|tx| tx.current_bundle())?
            .ok_or_else(|| {
                Error::State("the state is not initialized; run `portcullis init`".to_owned())
            })?;
        let engine = Engine::new(&bundle).map_err(|e| {
            Error::Storage(format!(
                "the stored bundle (version {version}) does not compile: {}",
                compile_error(&e)
            ))
        })?;
        let tree = OrgTree::of(&bundle);
        Ok(Governance {
            store,
            engine,
            bundle,
            version,
            tree,
            clock,
        })
    }

    /// The engine serving the current bundle; agents in the same process decide on it.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The current bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The current bundle's version (durable; grows with every deploy).
    pub fn version(&self) -> i64 {
        self.version
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

    /// The subject and email text that tell administrators about a request.
    pub(crate) fn request_message(
        &mut self,
        request: &RequestRecord,
    ) -> Result<(String, String), Error> {
        let context = self.context(&request.filed.organization, &request.filed.computer);
        let config = self.notify_config()?;
        let facts = RequestFacts {
            request,
            organization: &context.organization_name,
            computer: &context.computer_name,
            link: link(config.as_ref(), request.id),
        };
        let (subject, body, _) = facts.new_request();
        Ok((subject, body))
    }

    /// Runs a read-only look at the store.
    pub fn read<T>(
        &mut self,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.store.transaction(work)
    }

    // ---- decisions and requests -------------------------------------------------

    /// Decides an event on the current snapshot and audits it (a deny always, an allow
    /// when the organization's settings ask for it).
    pub fn decide(&mut self, event: &Event) -> Result<DecisionRecord, Error> {
        self.check_event(event)?;
        let decision = self.engine.decide(event);
        self.record_decisions(&[(event.clone(), decision.clone())])?;
        Ok(decision)
    }

    /// Files a request for a denied execution, where the deciding deny allows requests.
    pub fn file_request(&mut self, request: FileRequest) -> Result<RequestRecord, Error> {
        let FileRequest {
            kind,
            event,
            message,
            email,
            attachment,
        } = request;
        self.check_event(&event)?;
        let organization = self.org_of_computer(&event.computer)?;
        let decision = self.engine.decide(&event);
        let asks = match kind {
            RequestKind::Application | RequestKind::Storage => {
                portcullis_engine::RequestKind::Application
            }
            RequestKind::Elevation => portcullis_engine::RequestKind::Elevation,
        };
        if !decision.can_request {
            let by = describe_decider(&decision);
            return Err(Error::Invalid(match decision.decision {
                Outcome::Allow if !event.elevation || decision.elevated => {
                    format!("this execution is allowed ({by}); there is nothing to request")
                }
                _ => format!("{by} does not allow requests for this execution"),
            }));
        }
        if decision.request_kind != Some(asks) {
            return Err(Error::Invalid(format!(
                "this execution calls for {} request, not {}",
                match decision.request_kind {
                    Some(portcullis_engine::RequestKind::Elevation) => "an `elevation`",
                    _ => "an `application` or `storage`",
                },
                kind.as_str()
            )));
        }
        if message.trim().is_empty() {
            return Err(Error::Invalid(
                "a request needs a message saying why".to_owned(),
            ));
        }
        if let Some(email) = &email {
            match Recipient::parse(email) {
                Ok(Recipient::Email(_)) => {}
                Ok(Recipient::Sms(_)) => {
                    return Err(Error::Invalid(format!("`{email}` is not an email address")))
                }
                Err(e) => return Err(Error::Invalid(format!("email: {e}"))),
            }
        }
        let file = match &attachment {
            None => None,
            Some(bytes) => {
                if bytes.len() > MAX_ATTACHMENT {
                    return Err(Error::Invalid(format!(
                        "the attached file has {} bytes; the limit is {MAX_ATTACHMENT}",
                        bytes.len()
                    )));
                }
                let sha = sha256_of(bytes);
                if sha != event.sha256 {
                    return Err(Error::Invalid(format!(
                        "the attached file's SHA-256 is {sha}, but the execution's is {}; attach the blocked file",
                        event.sha256
                    )));
                }
                Some(sha)
            }
        };
        let now = self.now();
        let context = self.context(&organization, &event.computer);
        let new = NewRequest {
            kind,
            organization: organization.clone(),
            computer: event.computer.clone(),
            event,
            denied_by: decision.policy.clone(),
            message,
            email,
            file,
            created: now,
        };
        let tree = &self.tree;
        let id = self.store.transaction(|tx| {
            if let Some(pending) = tx
                .requests(Some(RequestState::Pending))?
                .into_iter()
                .find(|r| {
                    r.filed.kind == new.kind
                        && r.filed.computer == new.computer
                        && r.filed.event.sha256 == new.event.sha256
                })
            {
                return Err(Error::Invalid(format!(
                    "request {} for this file on `{}` is already pending",
                    pending.id, new.computer
                )));
            }
            let stored_new = match (&new.file, &attachment) {
                (Some(sha), Some(bytes)) => tx.put_file(sha, bytes)?,
                _ => false,
            };
            let id = tx.insert_request(&new)?;
            let record = RequestRecord {
                id,
                filed: new.clone(),
                state: RequestState::Pending,
                closure: None,
            };
            let notified = enqueue_new_request(tx, tree, &record, &context, &decision.notify, now)?;
            tx.append_audit(&AuditEntry {
                time: now,
                actor: format!("user:{}@{}", new.event.user, new.computer),
                organization: Some(new.organization.clone()),
                log: AuditLog::Unified,
                kind: "request".to_owned(),
                detail: json!({
                    "request": id, "kind": new.kind, "computer": new.computer, "user": new.event.user,
                    "sha256": new.event.sha256, "path": new.event.path,
                    "denied_by": new.denied_by, "file_stored": new.file.is_some(),
                    "file_new": stored_new, "notified": notified,
                }),
            })?;
            Ok(id)
        })?;
        self.store
            .transaction(|tx| tx.request(id))?
            .ok_or(Error::NotFound {
                kind: "request",
                id: id.to_string(),
            })
    }

    /// The approval queue the actor may see (pending requests unless `state` says
    /// otherwise), after expiring overdue requests.
    pub fn requests(
        &mut self,
        actor: &str,
        state: Option<RequestState>,
    ) -> Result<Vec<RequestRecord>, Error> {
        self.expire_due()?;
        let holdings = self.holdings(actor)?;
        let all = self.store.transaction(|tx| tx.requests(state))?;
        let visible: Vec<RequestRecord> = all
            .into_iter()
            .filter(|r| {
                holdings
                    .check(&self.tree, Act::ListRequests, &r.filed.organization)
                    .is_ok()
            })
            .collect();
        if visible.is_empty() {
            // Say why an empty queue may be empty: no permission anywhere.
            let anywhere = self
                .bundle
                .organizations
                .iter()
                .any(|o| holdings.check(&self.tree, Act::ListRequests, &o.id).is_ok());
            if !anywhere {
                let org = self.home_org(actor)?;
                holdings.check(&self.tree, Act::ListRequests, &org)?;
            }
        }
        Ok(visible)
    }

    /// Opens one request (needs an approve permission for its kind; View Approvals is
    /// not enough).
    pub fn request(&mut self, actor: &str, id: i64) -> Result<RequestRecord, Error> {
        self.expire_due()?;
        let request = self.load_request(id)?;
        let holdings = self.holdings(actor)?;
        holdings.check(
            &self.tree,
            Act::OpenRequest(request.filed.kind),
            &request.filed.organization,
        )?;
        Ok(request)
    }

    /// The stored copy of a request's file.
    pub fn request_file(&mut self, actor: &str, id: i64) -> Result<Vec<u8>, Error> {
        let request = self.request(actor, id)?;
        let sha = request
            .filed
            .file
            .ok_or_else(|| Error::Invalid(format!("request {id} carries no file")))?;
        self.store
            .transaction(|tx| tx.file(&sha))?
            .ok_or(Error::NotFound {
                kind: "file",
                id: sha.to_string(),
            })
    }

    /// Approves a request: writes the rule and policy, deploys them (one organization
    /// recompiled), and proves that the request's execution is now allowed. If an
    /// earlier policy still decides it, nothing is deployed or recorded and the error
    /// names that policy.
    pub fn approve(
        &mut self,
        actor: &str,
        id: i64,
        options: ApproveOptions,
    ) -> Result<Approved, Error> {
        self.approve_by(Approver::Admin(actor), id, options)
    }

    /// Approves as an administrator (permission-checked) or as an approval plugin
    /// attached to the organization (its verdict is the organization's own logic; it
    /// cannot choose a target, an existing application or a position).
    pub(crate) fn approve_by(
        &mut self,
        approver: Approver<'_>,
        id: i64,
        options: ApproveOptions,
    ) -> Result<Approved, Error> {
        let actor = approver.audit_name();
        let actor = actor.as_str();
        if let Approver::Plugin(name) = approver {
            if options.target.is_some()
                || options.application.is_some()
                || options.position.is_some()
            {
                return Err(Error::Invalid(format!(
                    "plugin `{name}` may only choose scope, match, elevation, expiry and justification"
                )));
            }
        }
        self.expire_due()?;
        let request = self.load_request(id)?;
        if request.state != RequestState::Pending {
            return Err(Error::AlreadyClosed {
                id,
                state: request.state.as_str(),
                action: "approved",
            });
        }
        let computer = self.computer(&request.filed.computer)?.clone();
        let computer_org = self.org_of_computer(&computer.id)?;
        let target = match (options.scope, options.target.clone()) {
            (ScopeKind::Computer, None) => computer.id.clone(),
            (ScopeKind::Group, None) => computer.group.clone(),
            (ScopeKind::Organization | ScopeKind::Global, None) => computer_org.clone(),
            (ScopeKind::Computer, Some(t)) if t == computer.id => t,
            (ScopeKind::Group, Some(t)) if t == computer.group => t,
            (ScopeKind::Organization | ScopeKind::Global, Some(t))
                if self.tree.within(&computer_org, &t) =>
            {
                t
            }
            (scope, Some(t)) => {
                return Err(Error::Invalid(format!(
                    "{scope} `{t}` does not contain `{}`, the computer of request {id}",
                    computer.id
                )))
            }
        };
        // The organization that owns the new policy, and whose permissions, guardrails
        // and positions apply.
        let org = match options.scope {
            ScopeKind::Computer | ScopeKind::Group => computer_org.clone(),
            ScopeKind::Organization | ScopeKind::Global => target.clone(),
        };
        let elevate = options.elevate || request.filed.kind == RequestKind::Elevation;
        let context = self.context(&computer_org, &computer.id);
        let holdings = match approver {
            Approver::Admin(admin) => Some(self.holdings(admin)?),
            Approver::Plugin(_) => None,
        };
        if let Some(holdings) = &holdings {
            let act = Act::Approve {
                kind: request.filed.kind,
                scope: options.scope,
                elevate,
            };
            holdings.check(&self.tree, act, &org)?;
            if options.scope == ScopeKind::Global {
                // A global policy reaches every descendant: the approver must be able to
                // approve there too (Super Admin - Parent Only cannot).
                for descendant in self.tree.subtree(&org) {
                    holdings.check(&self.tree, act, descendant)?;
                }
            }
        }
        let rule = rule_for(&request.filed.event, &options.matching)?;
        if let Some(holdings) = &holdings {
            if writes_rule(&options.matching, &rule) {
                holdings.check(&self.tree, Act::EditApplications, &org)?;
            }
        }
        let now = self.now();
        let settings = self.settings_for(&computer_org)?;
        let justification = options
            .justification
            .as_deref()
            .map(str::trim)
            .filter(|j| !j.is_empty())
            .map(str::to_owned);
        if options.scope != ScopeKind::Computer {
            if settings.new_software_computer_first
                && !self.seen_before(&computer_org, &request.filed.event.sha256)?
            {
                return Err(Error::Guardrail {
                    organization: org,
                    message: format!(
                        "software {} was never approved in this organization; approve it at computer scope first",
                        request.filed.event.sha256
                    ),
                });
            }
            if settings.wider_needs_justification && justification.is_none() {
                return Err(Error::Guardrail {
                    organization: org,
                    message: format!(
                        "an approval at {} scope needs a justification",
                        options.scope
                    ),
                });
            }
        }
        if let Some(expires) = options.expires {
            if expires <= now {
                return Err(Error::Invalid(format!(
                    "the expiry {expires} is not in the future"
                )));
            }
        }

        // The new bundle: the rule in a new or existing application, and a policy.
        let mut bundle = self.bundle.clone();
        let scope = match options.scope {
            ScopeKind::Computer => Scope::Computer(target.clone()),
            ScopeKind::Group => Scope::Group(target.clone()),
            ScopeKind::Organization => Scope::Organization(target.clone()),
            ScopeKind::Global => Scope::Global(target.clone()),
        };
        let (application, new_application) = match &options.application {
            Some(app_id) => {
                let app = bundle
                    .applications
                    .iter_mut()
                    .find(|a| &a.id == app_id)
                    .ok_or_else(|| Error::NotFound {
                        kind: "application",
                        id: app_id.clone(),
                    })?;
                if !self.tree.within(&org, &app.organization) {
                    return Err(Error::Invalid(format!(
                        "application `{app_id}` belongs to `{}`, which is not `{org}` or an ancestor of it",
                        app.organization
                    )));
                }
                if let Some(holdings) = &holdings {
                    holdings.check(&self.tree, Act::MergeIntoApplication, &app.organization)?;
                }
                if !app.rules.contains(&rule) {
                    app.rules.push(rule.clone());
                }
                (app_id.clone(), false)
            }
            None => {
                let app_id = unique_id(&format!("approval-{id}"), |c| {
                    bundle.applications.iter().any(|a| a.id == c)
                });
                let name = options
                    .application_name
                    .clone()
                    .unwrap_or_else(|| file_name(&request.filed.event.path));
                bundle.applications.push(Application {
                    id: app_id.clone(),
                    organization: org.clone(),
                    name,
                    rules: vec![rule.clone()],
                });
                (app_id, true)
            }
        };
        let positions = positions_of(&bundle, &org);
        // An approval never jumps ahead of an ancestor's policies: an inherited deny
        // still blocks (and is reported), whoever approves.
        let inherited = self
            .tree
            .lineage(&org)
            .skip(1)
            .flat_map(|ancestor| positions_of(&bundle, ancestor))
            .max();
        let position = match options.position {
            Some(p) => {
                if let Some(holdings) = &holdings {
                    holdings.check(&self.tree, Act::EditPolicies, &org)?;
                }
                if positions.contains(&p) {
                    return Err(Error::Invalid(format!(
                        "position {p} is taken in `{org}`; positions are unique within an organization"
                    )));
                }
                if let Some(limit) = inherited.filter(|&limit| p <= limit) {
                    return Err(Error::Invalid(format!(
                        "position {p} is not after {limit}, the last position of `{org}`'s ancestors; an approval cannot come before an ancestor's policies"
                    )));
                }
                p
            }
            None => positions
                .iter()
                .copied()
                .chain(inherited)
                .max()
                .map_or(100, |last| last.saturating_add(10)),
        };
        let policy_id = unique_id(&format!("approval-{id}"), |c| {
            bundle.policies.iter().any(|p| p.id == c)
        });
        bundle.policies.push(Policy {
            id: policy_id.clone(),
            scope,
            position,
            applications: vec![application.clone()],
            action: Action::Permit,
            elevate,
            users: None,
            not_before: None,
            expires: options.expires,
            enabled: true,
            on_deny: None,
        });

        let mut probe = request.filed.event.clone();
        probe.time = now;
        let approval = ApprovalRecord {
            scope: options.scope,
            target,
            matching: options.matching.as_str().to_owned(),
            application,
            new_application,
            policy: policy_id,
            position,
            elevate,
            expires: options.expires,
            version: self.version + 1,
        };
        let closure = Closure {
            state: RequestState::Approved,
            by: actor.to_owned(),
            at: now,
            reason: justification.unwrap_or_default(),
            approval: Some(approval.clone()),
        };
        let audit = AuditEntry {
            time: now,
            actor: actor.to_owned(),
            organization: Some(org.clone()),
            log: AuditLog::Unified,
            kind: "approve".to_owned(),
            detail: about(
                &request,
                json!({"approval": approval, "justification": closure.reason}),
            ),
        };
        let mut proof = None;
        let needs_elevation = elevate && request.filed.event.elevation;
        let deployed = self.commit_bundle(
            &bundle,
            DeployNote {
                actor: actor.to_owned(),
                time: now,
                reason: format!("approve request {id}"),
            },
            |snapshot| {
                let decision = snapshot.decide(&probe).to_record();
                let allowed = decision.decision == Outcome::Allow
                    && !decision.would_deny
                    && (!needs_elevation || decision.elevated);
                if !allowed {
                    return Err(Error::Shadowed {
                        id,
                        blocker: describe_decider(&decision),
                        outcome: if decision.decision == Outcome::Allow {
                            "allow without elevation".to_owned()
                        } else {
                            "deny".to_owned()
                        },
                    });
                }
                proof = Some(decision);
                Ok(())
            },
            |tx| {
                if !tx.close_request(id, &closure)? {
                    return Err(Error::Conflict);
                }
                tx.append_audit(&audit)?;
                enqueue_outcome(tx, &request, &closure, &context, now)?;
                Ok(())
            },
        )?;
        let request = self.load_request(id)?;
        let suggestion = self
            .suggestions_for(&org)?
            .into_iter()
            .find(|s| s.sha256 == request.filed.event.sha256);
        Ok(Approved {
            request,
            generation: deployed.generation,
            recompiled: deployed.stats.recompiled,
            proof: proof.ok_or(Error::Conflict)?,
            suggestion,
        })
    }

    /// Rejects a pending request with a reason.
    pub fn reject(&mut self, actor: &str, id: i64, reason: &str) -> Result<RequestRecord, Error> {
        self.reject_by(Approver::Admin(actor), id, reason)
    }

    /// Rejects as an administrator (permission-checked) or as an approval plugin.
    pub(crate) fn reject_by(
        &mut self,
        approver: Approver<'_>,
        id: i64,
        reason: &str,
    ) -> Result<RequestRecord, Error> {
        let actor = approver.audit_name();
        let actor = actor.as_str();
        self.expire_due()?;
        let request = self.load_request(id)?;
        if let Approver::Admin(admin) = approver {
            self.holdings(admin)?.check(
                &self.tree,
                Act::Reject(request.filed.kind),
                &request.filed.organization,
            )?;
        }
        if request.state != RequestState::Pending {
            return Err(Error::AlreadyClosed {
                id,
                state: request.state.as_str(),
                action: "rejected",
            });
        }
        if reason.trim().is_empty() {
            return Err(Error::Invalid("a rejection needs a reason".to_owned()));
        }
        let now = self.now();
        let closure = Closure {
            state: RequestState::Rejected,
            by: actor.to_owned(),
            at: now,
            reason: reason.trim().to_owned(),
            approval: None,
        };
        let context = self.context(&request.filed.organization, &request.filed.computer);
        self.store.transaction(|tx| {
            if !tx.close_request(id, &closure)? {
                return Err(Error::Conflict);
            }
            enqueue_outcome(tx, &request, &closure, &context, now)?;
            tx.append_audit(&AuditEntry {
                time: now,
                actor: actor.to_owned(),
                organization: Some(request.filed.organization.clone()),
                log: AuditLog::Unified,
                kind: "reject".to_owned(),
                detail: about(&request, json!({"reason": closure.reason})),
            })?;
            Ok(())
        })?;
        self.load_request(id)
    }

    /// Expires every pending request older than its organization's time limit;
    /// returns their ids.
    pub fn expire_due(&mut self) -> Result<Vec<i64>, Error> {
        let now = self.now();
        let pending = self
            .store
            .transaction(|tx| tx.requests(Some(RequestState::Pending)))?;
        let mut due = Vec::new();
        for request in pending {
            let ttl = self
                .settings_for(&request.filed.organization)?
                .request_ttl_seconds;
            if request.filed.created.unix().saturating_add(ttl) <= now.unix() {
                due.push((request, ttl));
            }
        }
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let contexts: Vec<Context> = due
            .iter()
            .map(|(r, _)| self.context(&r.filed.organization, &r.filed.computer))
            .collect();
        self.store.transaction(|tx| {
            let mut expired = Vec::new();
            for ((request, ttl), context) in due.iter().zip(&contexts) {
                let (id, org) = (&request.id, &request.filed.organization);
                let closure = Closure {
                    state: RequestState::Expired,
                    by: SYSTEM.to_owned(),
                    at: now,
                    reason: format!("not handled within {ttl} seconds"),
                    approval: None,
                };
                if tx.close_request(*id, &closure)? {
                    enqueue_outcome(tx, request, &closure, context, now)?;
                    tx.append_audit(&AuditEntry {
                        time: now,
                        actor: SYSTEM.to_owned(),
                        organization: Some(org.clone()),
                        log: AuditLog::Unified,
                        kind: "expire".to_owned(),
                        detail: about(request, json!({"reason": closure.reason})),
                    })?;
                    expired.push(*id);
                }
            }
            Ok(expired)
        })
    }

    /// Software approved manually at computer scope on at least the organization's
    /// threshold of computers, and not yet approved wider: a wider policy to consider.
    pub fn suggestions(&mut self, actor: &str) -> Result<Vec<Suggestion>, Error> {
        let holdings = self.holdings(actor)?;
        let mut out = Vec::new();
        let orgs: Vec<String> = self
            .bundle
            .organizations
            .iter()
            .map(|o| o.id.clone())
            .collect();
        for org in orgs {
            if holdings.check(&self.tree, Act::ListRequests, &org).is_ok() {
                out.extend(self.suggestions_for(&org)?);
            }
        }
        Ok(out)
    }

    fn suggestions_for(&mut self, org: &str) -> Result<Vec<Suggestion>, Error> {
        let threshold =
            usize::try_from(self.settings_for(org)?.suggest_after).unwrap_or(usize::MAX);
        let approved = self
            .store
            .transaction(|tx| tx.requests(Some(RequestState::Approved)))?;
        let mut by_software: BTreeMap<Sha256, Vec<&RequestRecord>> = BTreeMap::new();
        let mut wider: BTreeSet<Sha256> = BTreeSet::new();
        for r in approved.iter().filter(|r| r.filed.organization == org) {
            let Some(approval) = r.closure.as_ref().and_then(|c| c.approval.as_ref()) else {
                continue;
            };
            if r.closure
                .as_ref()
                .is_some_and(|c| c.by.starts_with("plugin:"))
            {
                continue;
            }
            if approval.scope == ScopeKind::Computer {
                by_software.entry(r.filed.event.sha256).or_default().push(r);
            } else {
                wider.insert(r.filed.event.sha256);
            }
        }
        let mut out = Vec::new();
        for (sha, requests) in by_software {
            let computers: BTreeSet<&str> =
                requests.iter().map(|r| r.filed.computer.as_str()).collect();
            if wider.contains(&sha) || computers.len() < threshold.max(1) {
                continue;
            }
            let groups: BTreeSet<&str> = computers
                .iter()
                .filter_map(|c| self.bundle.computers.iter().find(|k| k.id == *c))
                .map(|k| k.group.as_str())
                .collect();
            let (scope, target) = match groups.iter().next() {
                Some(group) if groups.len() == 1 => (ScopeKind::Group, (*group).to_owned()),
                _ => (ScopeKind::Organization, org.to_owned()),
            };
            out.push(Suggestion {
                organization: org.to_owned(),
                sha256: sha,
                path: requests
                    .last()
                    .map(|r| r.filed.event.path.clone())
                    .unwrap_or_default(),
                computers: computers.into_iter().map(str::to_owned).collect(),
                requests: requests.iter().map(|r| r.id).collect(),
                scope,
                target,
            });
        }
        Ok(out)
    }

    // ---- maintenance, deploy, rollback ----------------------------------------------

    /// Sets a computer's maintenance mode until `until`, or ends it (`mode` `None`).
    pub fn set_maintenance(
        &mut self,
        actor: &str,
        computer: &str,
        mode: Option<(MaintenanceMode, Timestamp)>,
    ) -> Result<i64, Error> {
        let org = self.org_of_computer(computer)?;
        self.holdings(actor)?
            .check(&self.tree, Act::Maintenance, &org)?;
        let now = self.now();
        if let Some((_, until)) = mode {
            if until <= now {
                return Err(Error::Invalid(format!(
                    "the end time {until} is not in the future"
                )));
            }
        }
        let mut bundle = self.bundle.clone();
        let entry = bundle
            .computers
            .iter_mut()
            .find(|c| c.id == computer)
            .ok_or_else(|| Error::NotFound {
                kind: "computer",
                id: computer.to_owned(),
            })?;
        if mode.is_none() && entry.maintenance.is_none() {
            return Err(Error::Invalid(format!(
                "`{computer}` is not in a maintenance mode"
            )));
        }
        entry.maintenance = mode.map(|(mode, until)| Maintenance { mode, until });
        let audit = AuditEntry {
            time: now,
            actor: actor.to_owned(),
            organization: Some(org.clone()),
            log: AuditLog::Unified,
            kind: if mode.is_some() {
                "maintenance-set"
            } else {
                "maintenance-end"
            }
            .to_owned(),
            detail: json!({
                "computer": computer,
                "mode": mode.map(|(m, _)| m.as_str()),
                "until": mode.map(|(_, u)| u),
            }),
        };
        self.commit_bundle(
            &bundle,
            DeployNote {
                actor: actor.to_owned(),
                time: now,
                reason: format!(
                    "{} maintenance mode of {computer}",
                    if mode.is_some() { "set" } else { "end" }
                ),
            },
            |_| Ok(()),
            |tx| tx.append_audit(&audit).map(|_| ()),
        )?;
        Ok(self.version)
    }

    /// Deploys a whole bundle. Every entry it adds, changes or removes needs the
    /// permission that governs its kind on the organizations it touches, in the current
    /// tree and in the new one, and every changed organization needs a deploy
    /// permission (Edit or View Organizations); see [`crate::edits`].
    pub fn deploy(&mut self, actor: &str, bundle: Bundle, reason: &str) -> Result<i64, Error> {
        let holdings = self.holdings(actor)?;
        if bundle == self.bundle {
            return Err(Error::Invalid(
                "the bundle is the one already deployed".to_owned(),
            ));
        }
        let changed = edits::authorize_deploy(&holdings, &self.bundle, &bundle)?;
        let now = self.now();
        let audit = AuditEntry {
            time: now,
            actor: actor.to_owned(),
            organization: None,
            log: AuditLog::Unified,
            kind: "deploy".to_owned(),
            detail: json!({"organizations": changed, "reason": reason}),
        };
        self.commit_bundle(
            &bundle,
            DeployNote {
                actor: actor.to_owned(),
                time: now,
                reason: reason.to_owned(),
            },
            |_| Ok(()),
            |tx| tx.append_audit(&audit).map(|_| ()),
        )?;
        Ok(self.version)
    }

    /// Restores an earlier bundle version (default: the one before the current) as a
    /// new version.
    pub fn rollback(&mut self, actor: &str, to: Option<i64>) -> Result<i64, Error> {
        let target = match to {
            Some(v) => v,
            None => self.version - 1,
        };
        if target < 1 || target >= self.version {
            return Err(Error::Invalid(format!(
                "there is no earlier version {target} to roll back to (the current version is {})",
                self.version
            )));
        }
        let bundle = self
            .store
            .transaction(|tx| tx.bundle(target))?
            .ok_or(Error::NotFound {
                kind: "bundle version",
                id: target.to_string(),
            })?;
        self.deploy(actor, bundle, &format!("rollback to version {target}"))
    }

    /// The deploy history, newest first.
    pub fn deploys(&mut self, limit: usize) -> Result<Vec<DeployRecord>, Error> {
        self.store.transaction(|tx| tx.deploys(limit))
    }

    /// Deploys `bundle` aside as a change to the organizations whose entries differ
    /// from the current bundle (only they are laid out and compiled), lets `gate`
    /// check the new snapshot, stores the bundle and whatever `record` writes in one
    /// transaction, and only then swaps the snapshot in. Returns what the engine
    /// deployed.
    fn commit_bundle(
        &mut self,
        bundle: &Bundle,
        note: DeployNote,
        gate: impl FnOnce(&Snapshot) -> Result<(), Error>,
        record: impl FnOnce(&mut dyn Tx) -> Result<(), Error>,
    ) -> Result<Deployed, Error> {
        let expected = self.version;
        let change = BundleChange::between(&self.bundle, bundle);
        let changed: Vec<String> = change
            .organization_ids()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let store = &mut self.store;
        let mut version = expected;
        let deployed = self
            .engine
            .deploy_change_gated(&change, |snapshot| {
                gate(snapshot)?;
                version = store.transaction(|tx| {
                    match tx.current_bundle()? {
                        Some((current, _)) if current == expected => {}
                        _ => return Err(Error::Conflict),
                    }
                    let version = tx.push_bundle(bundle, &note)?;
                    record(tx)?;
                    // Every policy edit is an administrator's action too.
                    tx.append_audit(&AuditEntry {
                        time: note.time,
                        actor: note.actor.clone(),
                        organization: match changed.as_slice() {
                            [only] => Some(only.clone()),
                            _ => None,
                        },
                        log: AuditLog::System,
                        kind: "policy-edit".to_owned(),
                        detail: json!({
                            "version": version, "reason": note.reason, "organizations": changed,
                        }),
                    })?;
                    Ok(version)
                })?;
                Ok(())
            })
            .map_err(|e| match e {
                // The change's errors name places in the change; the whole bundle's
                // name places in the bundle the administrator gave.
                DeployError::Compile(errors) => {
                    match Snapshot::compile_with_limits(bundle, &self.engine.limits()) {
                        Err(whole) => compile_error(&whole),
                        Ok(_) => compile_error(&errors),
                    }
                }
                DeployError::Gate(error) => error,
            })?;
        self.version = version;
        self.bundle = bundle.clone();
        self.tree = OrgTree::of(bundle);
        Ok(deployed)
    }

    // ---- administrators, roles, grants, settings ---------------------------------

    /// Adds an administrator, or edits one's details (Edit Administrators on their
    /// organization).
    pub fn put_admin(&mut self, actor: &str, admin: AdminRecord) -> Result<(), Error> {
        validate_admin(&admin)?;
        if !self.tree.contains(&admin.organization) {
            return Err(Error::NotFound {
                kind: "organization",
                id: admin.organization.clone(),
            });
        }
        let holdings = self.holdings(actor)?;
        holdings.check(&self.tree, Act::EditAdministrators, &admin.organization)?;
        let existing = self.store.transaction(|tx| tx.admin(&admin.id))?;
        if let Some(old) = &existing {
            self.check_power_over(&holdings, old)?;
        }
        self.commit_system(
            actor,
            &admin.organization,
            if existing.is_some() {
                "admin-edit"
            } else {
                "admin-add"
            },
            json!({"administrator": admin}),
            |tx| {
                tx.put_admin(&admin)?;
                Ok(())
            },
        )
    }

    /// Adds an administrator (name and organization needed), or changes the given
    /// details of an existing one, keeping the rest; returns the record saved.
    pub fn update_admin(
        &mut self,
        actor: &str,
        id: &str,
        changes: AdminChanges,
    ) -> Result<AdminRecord, Error> {
        let existing = self.store.transaction(|tx| tx.admin(id))?;
        let record = match existing {
            Some(old) => AdminRecord {
                id: old.id,
                name: changes.name.unwrap_or(old.name),
                organization: changes.organization.unwrap_or(old.organization),
                email: changes.email.or(old.email),
                phone: changes.phone.or(old.phone),
            },
            None => {
                let (Some(name), Some(organization)) = (changes.name, changes.organization) else {
                    return Err(Error::Invalid(format!(
                        "`{id}` is a new administrator: give a name and an organization"
                    )));
                };
                AdminRecord {
                    id: id.to_owned(),
                    name,
                    organization,
                    email: changes.email,
                    phone: changes.phone,
                }
            }
        };
        self.put_admin(actor, record.clone())?;
        Ok(record)
    }

    /// Deletes an administrator and their grants.
    pub fn delete_admin(&mut self, actor: &str, id: &str) -> Result<(), Error> {
        if actor == id {
            return Err(Error::Invalid("nobody can delete themselves".to_owned()));
        }
        let admin = self.load_admin(id)?;
        let holdings = self.holdings(actor)?;
        self.check_power_over(&holdings, &admin)?;
        self.commit_system(
            actor,
            &admin.organization,
            "admin-delete",
            json!({"administrator": id}),
            |tx| {
                tx.delete_admin(id)?;
                Ok(())
            },
        )
    }

    /// The administrators the actor may see.
    pub fn admins(&mut self, actor: &str) -> Result<Vec<AdminRecord>, Error> {
        let holdings = self.holdings(actor)?;
        let home = self.home_org(actor)?;
        let all = self.store.transaction(|tx| tx.admins())?;
        let visible: Vec<AdminRecord> = all
            .into_iter()
            .filter(|a| {
                a.id == actor
                    || holdings
                        .check(&self.tree, Act::ViewAdministrators, &a.organization)
                        .is_ok()
            })
            .collect();
        if visible.len() <= 1 {
            holdings.check(&self.tree, Act::ViewAdministrators, &home)?;
        }
        Ok(visible)
    }

    /// Defines (or redefines) a role. The actor needs Role Administrator on the role's
    /// organization and must hold every permission they put in it.
    pub fn define_role(&mut self, actor: &str, role: RoleRecord) -> Result<(), Error> {
        if role.id.trim().is_empty() || role.permissions.is_empty() {
            return Err(Error::Invalid(
                "a role needs an id and at least one permission".to_owned(),
            ));
        }
        if !self.tree.contains(&role.organization) {
            return Err(Error::NotFound {
                kind: "organization",
                id: role.organization.clone(),
            });
        }
        let holdings = self.holdings(actor)?;
        holdings.check(&self.tree, Act::DefineRoles, &role.organization)?;
        if let Some(old) = self.store.transaction(|tx| tx.role(&role.id))? {
            if old.organization != role.organization {
                return Err(Error::Invalid(format!(
                    "role `{}` is defined in `{}`; it cannot move to `{}`",
                    role.id, old.organization, role.organization
                )));
            }
        }
        let assigned = self.store.transaction(|tx| tx.role_grants(&role.id))?;
        if assigned.iter().any(|g| g.admin == actor) {
            return Err(Error::Invalid(format!(
                "role `{}` is assigned to `{actor}`, and nobody can change their own permissions",
                role.id
            )));
        }
        // A role applies where it is assigned: the role's organization or below.
        for &p in &role.permissions {
            if !holdings.holds_throughout(&self.tree, p, &role.organization) {
                return Err(Error::Refused(crate::Refused {
                    admin: actor.to_owned(),
                    action: format!("put {p} in a role"),
                    organization: role.organization.clone(),
                    missing: format!("{p} (nobody can hand out a permission they do not hold)"),
                }));
            }
        }
        self.commit_system(
            actor,
            &role.organization,
            "role-define",
            json!({"role": role}),
            |tx| {
                tx.put_role(&role)?;
                Ok(())
            },
        )
    }

    /// Every role.
    pub fn roles(&mut self) -> Result<Vec<RoleRecord>, Error> {
        self.store.transaction(|tx| tx.roles())
    }

    /// Grants a permission or assigns a role. Nobody can change their own permissions
    /// or hand out a permission they do not hold for that organization.
    pub fn grant(&mut self, actor: &str, grant: Grant) -> Result<(), Error> {
        self.change_grant(actor, grant, true)
    }

    /// Revokes a permission or unassigns a role, under the same rules as [`Governance::grant`].
    pub fn revoke(&mut self, actor: &str, grant: Grant) -> Result<(), Error> {
        self.change_grant(actor, grant, false)
    }

    fn change_grant(&mut self, actor: &str, grant: Grant, add: bool) -> Result<(), Error> {
        if actor == grant.admin {
            return Err(Error::Invalid(
                "nobody can change their own permissions".to_owned(),
            ));
        }
        self.load_admin(&grant.admin)?;
        let org = grant.organization.clone();
        if !self.tree.contains(&org) {
            return Err(Error::NotFound {
                kind: "organization",
                id: org,
            });
        }
        let holdings = self.holdings(actor)?;
        let permissions = match &grant.what {
            Grantable::Permission(p) => {
                holdings.check(&self.tree, Act::ChangePermissions, &org)?;
                vec![*p]
            }
            Grantable::Role(role_id) => {
                holdings.check(&self.tree, Act::AssignRoles, &org)?;
                let role = self
                    .store
                    .transaction(|tx| tx.role(role_id))?
                    .ok_or_else(|| Error::NotFound {
                        kind: "role",
                        id: role_id.clone(),
                    })?;
                if !self.tree.within(&org, &role.organization) {
                    return Err(Error::Invalid(format!(
                        "role `{role_id}` is defined in `{}`; it can be assigned there or in its descendants, not in `{org}`",
                        role.organization
                    )));
                }
                role.permissions
            }
        };
        // A grant covers the organization's descendants too.
        for p in permissions {
            if !holdings.holds_throughout(&self.tree, p, &org) {
                return Err(Error::Refused(crate::Refused {
                    admin: actor.to_owned(),
                    action: format!("{} {p}", if add { "grant" } else { "revoke" }),
                    organization: org,
                    missing: format!("{p} (nobody can hand out a permission they do not hold)"),
                }));
            }
        }
        self.commit_system(
            actor,
            &grant.organization,
            if add { "grant" } else { "revoke" },
            json!({"grant": grant}),
            |tx| {
                let changed = if add {
                    tx.insert_grant(&grant)?
                } else {
                    tx.delete_grant(&grant)?
                };
                if !changed {
                    return Err(Error::Invalid(format!(
                        "`{}` {} that {} in `{}`",
                        grant.admin,
                        if add { "already has" } else { "does not have" },
                        match &grant.what {
                            Grantable::Permission(p) => format!("permission ({p})"),
                            Grantable::Role(r) => format!("role (`{r}`)"),
                        },
                        grant.organization
                    )));
                }
                Ok(())
            },
        )
    }

    /// What an administrator holds, per organization of the tree (the actor needs View
    /// Administrators there, unless asking about themselves).
    pub fn permissions_of(
        &mut self,
        actor: &str,
        admin: &str,
    ) -> Result<BTreeMap<String, Vec<Permission>>, Error> {
        let target = self.load_admin(admin)?;
        if actor != admin {
            self.holdings(actor)?.check(
                &self.tree,
                Act::ViewAdministrators,
                &target.organization,
            )?;
        }
        let holdings = self.holdings(admin)?;
        Ok(self
            .bundle
            .organizations
            .iter()
            .map(|o| (o.id.clone(), holdings.held_for(&self.tree, &o.id)))
            .filter(|(_, held)| !held.is_empty())
            .collect())
    }

    /// The grants of an administrator.
    pub fn grants(&mut self, admin: &str) -> Result<Vec<Grant>, Error> {
        self.store.transaction(|tx| tx.grants(admin))
    }

    /// The settings that apply to an organization: its own, else its nearest
    /// ancestor's, else the defaults.
    pub fn settings_for(&mut self, org: &str) -> Result<Settings, Error> {
        let lineage: Vec<String> = self.tree.lineage(org).map(str::to_owned).collect();
        self.store.transaction(|tx| {
            for o in &lineage {
                if let Some(s) = tx.settings(o)? {
                    return Ok(s);
                }
            }
            Ok(Settings::default())
        })
    }

    /// Sets an organization's settings (Edit Application Control Policies).
    pub fn set_settings(
        &mut self,
        actor: &str,
        org: &str,
        settings: Settings,
    ) -> Result<(), Error> {
        if !self.tree.contains(org) {
            return Err(Error::NotFound {
                kind: "organization",
                id: org.to_owned(),
            });
        }
        if settings.request_ttl_seconds <= 0 {
            return Err(Error::Invalid(
                "request_ttl_seconds must be positive".to_owned(),
            ));
        }
        if settings.suggest_after < 1 {
            return Err(Error::Invalid(
                "suggest_after must be at least 1 (computers)".to_owned(),
            ));
        }
        self.holdings(actor)?
            .check(&self.tree, Act::EditSettings, org)?;
        self.commit_system(
            actor,
            org,
            "settings",
            json!({"settings": settings}),
            |tx| {
                tx.put_settings(org, &settings)?;
                Ok(())
            },
        )
    }

    // ---- audit ---------------------------------------------------------------------

    /// Searches the audit. Unified entries need View Unified Audit on their
    /// organization, system entries View System Audit (Super Admin includes it); an
    /// entry of no one organization needs the permission on every top-level one.
    pub fn search_audit(
        &mut self,
        actor: &str,
        query: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, Error> {
        let holdings = self.holdings(actor)?;
        let home = self.home_org(actor)?;
        let act = match query.log.unwrap_or(AuditLog::Unified) {
            AuditLog::Unified => Act::ViewUnifiedAudit,
            AuditLog::System => Act::ViewSystemAudit,
        };
        let tree = &self.tree;
        let may = |org: &str| holdings.check(tree, act, org).is_ok();
        let roots: Vec<&str> = self
            .bundle
            .organizations
            .iter()
            .filter(|o| o.parent.is_none())
            .map(|o| o.id.as_str())
            .collect();
        let anywhere = self.bundle.organizations.iter().any(|o| may(&o.id));
        if !anywhere {
            holdings.check(tree, act, &home)?;
        }
        if let Some(org) = &query.organization {
            holdings.check(tree, act, org)?;
        }
        let all = self.store.transaction(|tx| tx.audit(0))?;
        Ok(all
            .into_iter()
            .filter(|r| query.matches(r))
            .filter(|r| match &r.entry.organization {
                Some(org) => may(org),
                None => roots.iter().all(|root| may(root)),
            })
            .collect())
    }

    /// Checks the audit's hash chain and its signed head; returns the number of
    /// entries, or the first place the audit breaks. A break that a re-anchoring
    /// acknowledged later in the chain is not reported again.
    pub fn verify_audit(&mut self) -> Result<Result<usize, AuditBreak>, Error> {
        let (count, problems) = self.audit_problems()?;
        Ok(match problems.into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(count),
        })
    }

    /// Like [`Governance::verify_audit`], and the chain must still extend
    /// `checkpoint`, exported earlier with [`Governance::audit_checkpoint`]: it must be
    /// signed by this state's key, and the entry it names must have its hash.
    pub fn verify_audit_extends(
        &mut self,
        checkpoint: &Checkpoint,
    ) -> Result<Result<usize, AuditBreak>, Error> {
        let key = self.store.audit_key()?.public_key();
        if !checkpoint.signed_by(&key) {
            return Ok(Err(AuditBreak::HeadCorrupt {
                reason: format!(
                    "the checkpoint of entry {} is not signed by this state's audit key ({key}); the key was replaced, or the checkpoint is not this state's",
                    checkpoint.count
                ),
            }));
        }
        let all = self.store.transaction(|tx| tx.audit(0))?;
        let at = usize::try_from(checkpoint.count - 1)
            .ok()
            .and_then(|i| all.get(i));
        match at {
            None if checkpoint.count > 0 => {
                return Ok(Err(AuditBreak::Truncated {
                    last: all.last().map_or(0, |r| r.seq),
                    head: checkpoint.count,
                }))
            }
            Some(record) if record.hash != checkpoint.hash || record.seq != checkpoint.count => {
                return Ok(Err(AuditBreak::Rewritten {
                    seq: checkpoint.count,
                }))
            }
            _ => {}
        }
        self.verify_audit()
    }

    /// The number of entries and every problem of the audit, in order.
    fn audit_problems(&mut self) -> Result<(usize, Vec<AuditBreak>), Error> {
        let all = self.store.transaction(|tx| tx.audit(0))?;
        let head = self.store.audit_head()?;
        let key = self.store.audit_key()?.public_key();
        Ok((all.len(), audit::problems(&all, &head, &key)?))
    }

    /// The audit's latest signed checkpoint, to keep somewhere else: `audit verify
    /// --checkpoint` later proves the audit still extends it. Fails when the head does
    /// not verify.
    pub fn audit_checkpoint(&mut self) -> Result<Checkpoint, Error> {
        let (_, problems) = self.audit_problems()?;
        if let Some(problem) = problems.into_iter().next() {
            return Err(Error::AuditBlocked(problem));
        }
        match self.store.audit_head()? {
            HeadRead::Found(Head {
                head: Some(head), ..
            }) => Ok(head),
            _ => Err(Error::State("the audit has no head yet".to_owned())),
        }
    }

    /// Re-anchors a damaged audit: appends an entry that says what was lost or broken
    /// (every problem verification finds, and `reason`), signs a new head, and lets
    /// writes go on. Needs Super Admin on every top-level organization.
    pub fn reanchor_audit(&mut self, actor: &str, reason: &str) -> Result<Vec<AuditBreak>, Error> {
        let holdings = self.holdings(actor)?;
        for root in self.tree.roots() {
            holdings.check(&self.tree, Act::ReanchorAudit, root)?;
        }
        if reason.trim().is_empty() {
            return Err(Error::Invalid(
                "re-anchoring needs a reason: what was looked into".to_owned(),
            ));
        }
        let (count, problems) = self.audit_problems()?;
        if problems.is_empty() {
            return Err(Error::Invalid(format!(
                "the audit verifies ({count} entries); there is nothing to re-anchor"
            )));
        }
        let previous = match self.store.audit_head()? {
            HeadRead::Found(head) => serde_json::to_value(head).unwrap_or_default(),
            HeadRead::Missing => json!("missing"),
            HeadRead::Corrupt(why) => json!(why),
        };
        let entry = AuditEntry {
            time: self.now(),
            actor: actor.to_owned(),
            organization: None,
            log: AuditLog::System,
            kind: audit::REANCHOR.to_owned(),
            detail: json!({
                "reason": reason.trim(), "problems": problems, "entries": count,
                "previous_head": previous,
            }),
        };
        self.store
            .reanchor(|tx| tx.append_audit(&entry).map(|_| ()))?;
        Ok(problems)
    }

    /// Hands decisions made in-process to the audit, in one transaction: every deny,
    /// and allows of organizations whose settings ask for them. Returns how many
    /// entries were written; they are durable when this returns.
    pub fn record_decisions(
        &mut self,
        decisions: &[(Event, DecisionRecord)],
    ) -> Result<usize, Error> {
        for (event, _) in decisions {
            self.check_event(event)?;
        }
        let now = self.now();
        let mut entries = Vec::new();
        for (event, decision) in decisions {
            let org = self.org_of_computer(&event.computer).ok();
            let wanted = match decision.decision {
                Outcome::Deny => true,
                Outcome::Allow => match &org {
                    Some(org) => self.settings_for(org)?.audit_allows,
                    None => false,
                },
            };
            if wanted {
                entries.push(decision_entry(now, org, event, decision, self.version));
            }
        }
        if entries.is_empty() {
            return Ok(0);
        }
        self.store.transaction(|tx| {
            for entry in &entries {
                tx.append_audit(entry)?;
            }
            Ok(entries.len())
        })
    }

    // ---- notifications -----------------------------------------------------------

    /// Sets how notifications are delivered (Edit Integrations on every top-level
    /// organization).
    pub fn configure_notifications(
        &mut self,
        actor: &str,
        config: NotifyConfig,
    ) -> Result<(), Error> {
        config.validate()?;
        let holdings = self.holdings(actor)?;
        let roots: Vec<String> = self
            .bundle
            .organizations
            .iter()
            .filter(|o| o.parent.is_none())
            .map(|o| o.id.clone())
            .collect();
        for root in &roots {
            holdings.check(&self.tree, Act::EditIntegrations, root)?;
        }
        let text = serde_json::to_string(&config)
            .map_err(|e| Error::Invalid(format!("notification settings: {e}")))?;
        let now = self.now();
        self.store.transaction(|tx| {
            tx.set_meta(NOTIFY_CONFIG, &text)?;
            tx.append_audit(&AuditEntry {
                time: now,
                actor: actor.to_owned(),
                organization: None,
                log: AuditLog::System,
                kind: "notify-configure".to_owned(),
                detail: json!({"config": config}),
            })?;
            Ok(())
        })
    }

    /// How notifications are delivered, once configured.
    pub fn notify_config(&mut self) -> Result<Option<NotifyConfig>, Error> {
        self.store.transaction(|tx| notify_config(tx))
    }

    /// Sets an administrator's *notify on request* channels for a request kind. SMS
    /// needs a phone number on the administrator, email an address. Administrators
    /// set their own; others need Edit Administrators.
    pub fn set_notify(
        &mut self,
        actor: &str,
        admin: &str,
        kind: RequestKind,
        channels: Channels,
    ) -> Result<(), Error> {
        let target = self.load_admin(admin)?;
        if actor != admin {
            let holdings = self.holdings(actor)?;
            self.check_power_over(&holdings, &target)?;
        }
        if channels.sms && target.phone.is_none() {
            return Err(Error::Invalid(format!(
                "SMS needs a phone number on `{admin}`; add one with `portcullis admin add --state DIR --as ADMIN {admin} --phone +…`"
            )));
        }
        if channels.email && target.email.is_none() {
            return Err(Error::Invalid(format!(
                "email needs an address on `{admin}`; add one with `portcullis admin add --state DIR --as ADMIN {admin} --email …`"
            )));
        }
        let setting = NotifySetting {
            admin: admin.to_owned(),
            kind,
            channels,
        };
        self.commit_system(
            actor,
            &target.organization,
            "notify-setting",
            json!({"setting": setting}),
            |tx| tx.put_notify(&setting),
        )
    }

    /// Every *notify on request* setting.
    pub fn notify_settings(&mut self) -> Result<Vec<NotifySetting>, Error> {
        self.store.transaction(|tx| tx.notify_settings())
    }

    /// Sends the notifications that are due (every pending one with `all`), marking
    /// each delivered or scheduling its retry.
    ///
    /// Each notification is sent once, however many senders run at once and however
    /// slow the servers are: a sender claims a batch, renews its claim on each
    /// notification right before sending it (so only one send has to fit in the lease),
    /// skips a notification whose lapsed claim another sender took, and releases the
    /// claim when it records the outcome. Only a crash between a send and its record
    /// can send a notification again, once its claim lapses.
    pub fn deliver_notifications(&mut self, all: bool) -> Result<DeliveryReport, Error> {
        let config = self.notify_config()?.ok_or_else(|| {
            Error::State(
                "notifications are not configured; run `portcullis notify configure`".to_owned(),
            )
        })?;
        let lease = config.retry.lease_seconds.max(1);
        let by = claimant();
        let claim = |now: Timestamp| Claim {
            by: by.clone(),
            until: Timestamp::from_unix(now.unix().saturating_add(lease)),
        };
        let now = self.now();
        let first = claim(now);
        let due = self
            .store
            .transaction(|tx| tx.claim_due(now, &first, all, DELIVERY_BATCH))?;
        let mut report = DeliveryReport::default();
        for record in due {
            let renewed = claim(self.now());
            if !self
                .store
                .transaction(|tx| tx.renew_claim(record.id, &renewed))?
            {
                report.skipped += 1;
                continue;
            }
            let result = notify::send(&config, &record.notification);
            let at = self.now();
            let attempts = record.attempts.saturating_add(1);
            let recorded = self.store.transaction(|tx| match &result {
                Ok(()) => tx.mark_delivered(record.id, at, &by),
                Err(error) if attempts >= config.retry.max_attempts => {
                    tx.mark_failed(record.id, attempts, None, error, &by)
                }
                Err(error) => {
                    let next = at
                        .unix()
                        .saturating_add(notify::backoff(&config.retry, attempts));
                    tx.mark_failed(
                        record.id,
                        attempts,
                        Some(Timestamp::from_unix(next)),
                        error,
                        &by,
                    )
                }
            })?;
            match result {
                Ok(()) => report.delivered += 1,
                Err(error) => {
                    if attempts >= config.retry.max_attempts {
                        report.failed += 1;
                    } else {
                        report.retrying += 1;
                    }
                    report.errors.push((record.id, error));
                }
            }
            if !recorded {
                report.errors.push((
                    record.id,
                    "the claim lapsed while sending (a send took longer than `retry.lease_seconds`); another sender may send it again".to_owned(),
                ));
            }
        }
        Ok(report)
    }

    /// The outbox (Edit Integrations on the actor's organization).
    pub fn outbox(
        &mut self,
        actor: &str,
        state: Option<OutboxState>,
    ) -> Result<Vec<OutboxRecord>, Error> {
        let home = self.home_org(actor)?;
        self.holdings(actor)?
            .check(&self.tree, Act::EditIntegrations, &home)?;
        self.store.transaction(|tx| tx.outbox(state))
    }

    /// What messages about requests of `org` on `computer` name.
    fn context(&self, org: &str, computer: &str) -> Context {
        Context {
            organization_name: self
                .bundle
                .organizations
                .iter()
                .find(|o| o.id == org)
                .map_or_else(|| org.to_owned(), |o| o.name.clone()),
            computer_name: self
                .bundle
                .computers
                .iter()
                .find(|c| c.id == computer)
                .map_or_else(|| computer.to_owned(), |c| c.name.clone()),
            lineage: self.tree.lineage(org).map(str::to_owned).collect(),
        }
    }

    // ---- helpers -----------------------------------------------------------------

    /// Checks an event from outside against the engine's limits before anything is
    /// decided, stored or copied.
    fn check_event(&self, event: &Event) -> Result<(), Error> {
        self.engine
            .limits()
            .check_event(event)
            .map_err(|e| Error::Invalid(format!("the event: {e}")))
    }

    /// The one authorization point: may `actor` do `act` on organization `org`? Allowed,
    /// or refused with the message that names the action, the organization and the
    /// missing permission (SPEC §8; the requirements table is `Act`'s). Every governed
    /// action of this crate goes through it (or through `Holdings::check`, the same
    /// rules on permissions already loaded), and so does anything built on top, such as
    /// a server.
    pub fn authorize(&mut self, actor: &str, act: Act, org: &str) -> Result<(), Error> {
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

    fn holdings(&mut self, admin: &str) -> Result<Holdings, Error> {
        self.store
            .transaction(|tx| holdings_in(tx, admin))?
            .ok_or_else(|| Error::NotFound {
                kind: "administrator",
                id: admin.to_owned(),
            })
    }

    /// Editing or deleting an administrator needs Edit Administrators on their home
    /// organization and on every organization where they hold a grant: a client's
    /// administrator cannot take over the account of an MSP's Super Admin.
    fn check_power_over(&mut self, holdings: &Holdings, target: &AdminRecord) -> Result<(), Error> {
        let grants = self.store.transaction(|tx| tx.grants(&target.id))?;
        let orgs: BTreeSet<&str> = std::iter::once(target.organization.as_str())
            .chain(grants.iter().map(|g| g.organization.as_str()))
            .filter(|o| self.tree.contains(o))
            .collect();
        for org in orgs {
            holdings.check(&self.tree, Act::EditAdministrators, org)?;
        }
        Ok(())
    }

    fn home_org(&mut self, admin: &str) -> Result<String, Error> {
        Ok(self.load_admin(admin)?.organization)
    }

    fn load_admin(&mut self, id: &str) -> Result<AdminRecord, Error> {
        self.store
            .transaction(|tx| tx.admin(id))?
            .ok_or_else(|| Error::NotFound {
                kind: "administrator",
                id: id.to_owned(),
            })
    }

    fn load_request(&mut self, id: i64) -> Result<RequestRecord, Error> {
        self.store
            .transaction(|tx| tx.request(id))?
            .ok_or_else(|| Error::NotFound {
                kind: "request",
                id: id.to_string(),
            })
    }

    fn computer(&self, id: &str) -> Result<&portcullis_engine::model::Computer, Error> {
        self.bundle
            .computers
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Error::NotFound {
                kind: "computer",
                id: id.to_owned(),
            })
    }

    fn org_of_computer(&self, id: &str) -> Result<String, Error> {
        let computer = self.computer(id)?;
        self.bundle
            .groups
            .iter()
            .find(|g| g.id == computer.group)
            .map(|g| g.organization.clone())
            .ok_or_else(|| Error::NotFound {
                kind: "group",
                id: computer.group.clone(),
            })
    }

    /// Software counts as seen in an organization once it was approved there before,
    /// or a rule of an application the organization can use names its hash.
    fn seen_before(&mut self, org: &str, sha: &Sha256) -> Result<bool, Error> {
        let lineage: BTreeSet<&str> = self.tree.lineage(org).collect();
        let in_rules = self.bundle.applications.iter().any(|a| {
            lineage.contains(a.organization.as_str())
                && a.rules.iter().any(|r| r.sha256.as_ref() == Some(sha))
        });
        if in_rules {
            return Ok(true);
        }
        let approved = self
            .store
            .transaction(|tx| tx.requests(Some(RequestState::Approved)))?;
        Ok(approved
            .iter()
            .any(|r| r.filed.organization == org && r.filed.event.sha256 == *sha))
    }
}

/// Creates a state directory's database, or opens it.
impl Governance<SqliteStore> {
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
            return Err(Error::State(format!(
                "`{}` holds no state; run `portcullis init --state {}` first",
                dir.display(),
                dir.display()
            )));
        }
        Governance::open(Self::store(dir, key)?, Self::system_clock())
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
        let fail =
            |e: std::io::Error| Error::Storage(format!("cannot create `{}`: {e}", dir.display()));
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
        Governance::init(Self::store(dir, key)?, bundle, first, Self::system_clock())
    }

    fn store(dir: &Path, key: Option<&Path>) -> Result<SqliteStore, Error> {
        match key {
            Some(key) => SqliteStore::open_with_key(&Self::database(dir), key),
            None => SqliteStore::open(&Self::database(dir)),
        }
    }
}

fn compile_error(errors: &CompileErrors) -> Error {
    Error::Compile(
        errors
            .errors()
            .iter()
            .take(portcullis_engine::LOCATED_ERRORS)
            .map(|e| format!("  {e}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn describe_decider(decision: &DecisionRecord) -> String {
    match (&decision.policy, decision.mode) {
        (Some(policy), _) => format!("policy `{policy}`"),
        (None, Some(mode)) => format!("the computer's {} mode", mode.as_str()),
        (None, None) => "the default deny".to_owned(),
    }
}

fn validate_admin(admin: &AdminRecord) -> Result<(), Error> {
    if admin.id.trim().is_empty() || admin.id.chars().any(char::is_whitespace) {
        return Err(Error::Invalid(format!(
            "administrator id `{}` must be non-empty and without spaces",
            admin.id
        )));
    }
    if let Some(email) = &admin.email {
        if !matches!(Recipient::parse(email), Ok(Recipient::Email(_))) {
            return Err(Error::Invalid(format!("`{email}` is not an email address")));
        }
    }
    if let Some(phone) = &admin.phone {
        if let Err(e) = Recipient::parse(&format!("SMS:{phone}")) {
            return Err(Error::Invalid(format!("phone number: {e}")));
        }
    }
    Ok(())
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
fn holdings_in(tx: &mut dyn Tx, admin: &str) -> Result<Option<Holdings>, Error> {
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

/// A name for one delivery run's claims, unique across processes and runs.
fn claimant() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where the notification settings are stored.
const NOTIFY_CONFIG: &str = "notify-config";
/// How many notifications one delivery run takes.
const DELIVERY_BATCH: usize = 1000;

/// What messages about one request name, gathered before the transaction.
struct Context {
    organization_name: String,
    computer_name: String,
    lineage: Vec<String>,
}

fn notify_config(tx: &mut dyn Tx) -> Result<Option<NotifyConfig>, Error> {
    tx.meta(NOTIFY_CONFIG)?
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| {
                Error::Storage(format!("stored notification settings are unreadable: {e}"))
            })
        })
        .transpose()
}

fn link(config: Option<&NotifyConfig>, request: i64) -> String {
    config.map_or_else(
        || format!("portcullis requests show {request}"),
        |c| c.link(request),
    )
}

/// Writes the messages about a new request to the outbox: administrators of the
/// organization or an ancestor who asked for this kind, and the deciding deny's
/// recipients; each address once. Returns how many.
fn enqueue_new_request(
    tx: &mut dyn Tx,
    tree: &OrgTree,
    request: &RequestRecord,
    context: &Context,
    policy_recipients: &[Recipient],
    now: Timestamp,
) -> Result<usize, Error> {
    let config = notify_config(tx)?;
    let mut recipients: BTreeMap<(Channel, String), ()> = BTreeMap::new();
    for setting in tx.notify_settings()? {
        if setting.kind != request.filed.kind {
            continue;
        }
        let Some(admin) = tx.admin(&setting.admin)? else {
            continue;
        };
        if !context.lineage.contains(&admin.organization) {
            continue;
        }
        // Being told of a request needs permission to open it there: the message
        // carries the user, their message, the path, the hash and the signer.
        let may_open = holdings_in(tx, &admin.id)?.is_some_and(|h| {
            h.check(
                tree,
                Act::OpenRequest(request.filed.kind),
                &request.filed.organization,
            )
            .is_ok()
        });
        if !may_open {
            continue;
        }
        if setting.channels.email {
            if let Some(email) = &admin.email {
                notify::add_recipient(&mut recipients, &Recipient::Email(email.clone()));
            }
        }
        if setting.channels.sms {
            if let Some(phone) = &admin.phone {
                if let Ok(sms) = Recipient::parse(&format!("SMS:{phone}")) {
                    notify::add_recipient(&mut recipients, &sms);
                }
            }
        }
    }
    for recipient in policy_recipients {
        notify::add_recipient(&mut recipients, recipient);
    }
    let facts = RequestFacts {
        request,
        organization: &context.organization_name,
        computer: &context.computer_name,
        link: link(config.as_ref(), request.id),
    };
    let (subject, body, sms) = facts.new_request();
    let mut count = 0;
    for (channel, recipient) in recipients.into_keys() {
        let notification = Notification {
            request: request.id,
            reason: "new-request".to_owned(),
            channel,
            recipient,
            subject: subject.clone(),
            body: match channel {
                Channel::Email => body.clone(),
                Channel::Sms => sms.clone(),
            },
        };
        count += usize::from(tx.enqueue(&notification, now)?);
    }
    Ok(count)
}

/// Tells the requester, when they gave an email address, how their request ended.
fn enqueue_outcome(
    tx: &mut dyn Tx,
    request: &RequestRecord,
    closure: &Closure,
    context: &Context,
    now: Timestamp,
) -> Result<(), Error> {
    let Some(email) = &request.filed.email else {
        return Ok(());
    };
    let config = notify_config(tx)?;
    let mut closed = request.clone();
    closed.state = closure.state;
    closed.closure = Some(closure.clone());
    let facts = RequestFacts {
        request: &closed,
        organization: &context.organization_name,
        computer: &context.computer_name,
        link: link(config.as_ref(), request.id),
    };
    let (subject, body) = facts.outcome();
    tx.enqueue(
        &Notification {
            request: request.id,
            reason: closure.state.as_str().to_owned(),
            channel: Channel::Email,
            recipient: email.clone(),
            subject,
            body,
        },
        now,
    )?;
    Ok(())
}

/// An audit detail about a request: its id, computer, user, file and path, and `more`.
fn about(request: &RequestRecord, more: serde_json::Value) -> serde_json::Value {
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

fn decision_entry(
    time: Timestamp,
    org: Option<String>,
    event: &Event,
    decision: &DecisionRecord,
    version: i64,
) -> AuditEntry {
    AuditEntry {
        time,
        actor: format!("user:{}@{}", event.user, event.computer),
        organization: org,
        log: AuditLog::Unified,
        kind: match decision.decision {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
        }
        .to_owned(),
        detail: json!({
            "computer": event.computer, "user": event.user, "path": event.path,
            "sha256": event.sha256, "time": event.time, "policy": decision.policy,
            "default_deny": decision.default_deny, "would_deny": decision.would_deny,
            "mode": decision.mode.map(|m| m.as_str()), "version": version,
        }),
    }
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

fn sha256_of(bytes: &[u8]) -> Sha256 {
    use sha2::Digest;
    Sha256(sha2::Sha256::digest(bytes).into())
}

/// The rule an approval writes for an execution.
fn rule_for(event: &Event, matching: &Matching) -> Result<FileRule, Error> {
    let signer = || {
        event.signature.valid_leaf().ok_or_else(|| {
            Error::Invalid(
                "the execution has no valid signature; match it by hash or path".to_owned(),
            )
        })
    };
    let path = || {
        if event.path.contains(['*', '?']) || event.path.starts_with("regex:") {
            Err(Error::Invalid(format!(
                "the path `{}` would be read as a pattern; match it by hash or a custom rule",
                event.path
            )))
        } else {
            Ok(event.path.clone())
        }
    };
    let certificate = |signer: &portcullis_engine::model::Signer| CertificateCondition {
        thumbprint: None,
        subject: Some(signer.subject.clone()),
        issuer: signer.issuer.clone(),
    };
    Ok(match matching {
        Matching::Hash => FileRule::hash(event.sha256),
        Matching::Certificate => FileRule::default().with_certificate(certificate(signer()?)),
        Matching::CertificatePath => FileRule::default()
            .with_certificate(certificate(signer()?))
            .with_path(path()?),
        Matching::Path => FileRule::default().with_path(path()?),
        Matching::Custom(rule) => {
            if rule == &FileRule::default() {
                return Err(Error::Invalid(
                    "a custom rule needs at least one condition".to_owned(),
                ));
            }
            rule.clone()
        }
    })
}

/// Whether an approval's rule goes beyond the built-in match choices an approver has:
/// a custom rule, a path pattern (wildcard or `regex:`), or a certificate named by its
/// subject alone. Writing one needs Edit Application Control Applications.
fn writes_rule(matching: &Matching, rule: &FileRule) -> bool {
    if matches!(matching, Matching::Custom(_)) {
        return true;
    }
    let pattern = rule
        .path()
        .is_some_and(|p| p.contains(['*', '?']) || p.starts_with("regex:"));
    let subject_only = rule
        .certificate()
        .is_some_and(|c| c.thumbprint.is_none() && c.issuer.is_none());
    pattern || subject_only
}

fn file_name(path: &str) -> String {
    path.rsplit(['\\', '/'])
        .find(|part| !part.is_empty())
        .unwrap_or(path)
        .to_owned()
}

fn unique_id(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken(candidate))
        .unwrap_or_else(|| base.to_owned())
}

/// The positions of the policies an organization owns.
fn positions_of(bundle: &Bundle, org: &str) -> BTreeSet<i64> {
    bundle
        .policies
        .iter()
        .filter(|p| owner_of(bundle, &p.scope).as_deref() == Some(org))
        .map(|p| p.position)
        .collect()
}
