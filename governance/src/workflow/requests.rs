//! Decisions through the state, requests as users file them, the approval queue,
//! expiry and suggestions.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use portcullis_engine::model::{Recipient, Sha256, Timestamp};
use portcullis_engine::{DecisionRecord, Event, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::{AccessRequestKind, Act, Holdings, OrgTree, ScopeKind};
use crate::audit::{AuditEntry, AuditLog};
use crate::error::{Error, StorageError};
use crate::store::{Closure, NewRequest, RequestRecord, RequestState, Settings, Store, Tx};

use super::delivery::{enqueue_new_request, enqueue_outcome, Recipients};
use super::state::{about, describe_decider, Context, Governance, SYSTEM};

/// The largest file a request may carry (64 MiB).
pub const MAX_ATTACHMENT: usize = 64 << 20;

/// A request as a user files it.
#[derive(Debug, Clone)]
pub struct FileRequest {
    /// What it asks for.
    pub kind: AccessRequestKind,
    /// The blocked execution.
    pub event: Event,
    /// The user's message.
    pub message: String,
    /// Where to tell the user the outcome.
    pub email: Option<String>,
    /// A copy of the file; its SHA-256 must be the event's.
    pub attachment: Option<Vec<u8>>,
}

/// The same software approved manually, one computer at a time, on enough computers
/// that a wider policy would serve better.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
            Outcome::Allow if decision.learn => "learned",
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

fn sha256_of(bytes: &[u8]) -> Sha256 {
    use sha2::Digest;
    Sha256(sha2::Sha256::digest(bytes).into())
}

/// A request checked and decided, ready to be written.
struct Filing {
    new: NewRequest,
    attachment: Option<Vec<u8>>,
    notify: Vec<Recipient>,
    context: Context,
    now: Timestamp,
}

/// The error a filing meets when the same request is pending already.
fn already_pending(tx: &mut dyn Tx, new: &NewRequest) -> Result<Option<Error>, Error> {
    Ok(tx
        .pending_request(new.kind, &new.computer, &new.event.sha256)?
        .map(|id| Error::AlreadyPending {
            id,
            computer: new.computer.clone(),
        }))
}

/// Writes a filing: the file's copy, the request, its notifications and its audit
/// entry. Returns the request's id.
fn write_filing(
    tx: &mut dyn Tx,
    tree: &OrgTree,
    filing: &Filing,
    recipients: &mut Recipients,
) -> Result<i64, Error> {
    let Filing {
        new,
        attachment,
        notify,
        context,
        now,
    } = filing;
    let stored_new = match (&new.file, attachment) {
        (Some(sha), Some(bytes)) => tx.put_file(sha, bytes)?,
        _ => false,
    };
    let id = tx.insert_request(new)?;
    let record = RequestRecord {
        id,
        filed: new.clone(),
        state: RequestState::Pending,
        closure: None,
    };
    let notified = enqueue_new_request(tx, tree, &record, context, notify, *now, recipients)?;
    tx.append_audit(&AuditEntry {
        time: *now,
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
}

impl<S: Store> Governance<S> {
    /// Decides an event on the current snapshot and audits it (a deny always, an allow
    /// when the organization's settings ask for it).
    pub fn decide(&mut self, event: &Event) -> Result<DecisionRecord, Error> {
        self.check_event(event)?;
        let decision = self.engine()?.decide(event);
        self.record_decisions(&[(event.clone(), decision.clone())])?;
        Ok(decision)
    }

    /// Files a request for a denied execution, where the deciding deny allows requests.
    pub fn file_request(&mut self, request: FileRequest) -> Result<RequestRecord, Error> {
        let filing = self.prepare_filing(request)?;
        let tree = &self.tree;
        let id = self.store.transaction(|tx| {
            if let Some(conflict) = already_pending(tx, &filing.new)? {
                return Err(conflict);
            }
            write_filing(tx, tree, &filing, &mut Recipients::default())
        })?;
        self.store
            .read(|tx| tx.request(id))?
            .ok_or(Error::not_found("request", id))
    }

    /// Files several requests in one transaction, so that they share one durable
    /// commit: each is checked and written as [`Governance::file_request`] (or, with
    /// an administrator, [`Governance::file_request_as`]) would, and has its own
    /// outcome. When the transaction fails, every one of them fails with it: none was
    /// filed.
    pub fn file_requests(
        &mut self,
        batch: Vec<(Option<String>, FileRequest)>,
    ) -> Vec<Result<RequestRecord, Error>> {
        // What each administrator holds, read once for the batch: a script files many
        // requests under one token.
        let mut holdings: HashMap<String, Holdings> = HashMap::new();
        let prepared: Vec<Result<Filing, Error>> = batch
            .into_iter()
            .map(|(actor, request)| {
                if let Some(actor) = actor {
                    let org = self.org_of_computer(&request.event.computer)?;
                    if !holdings.contains_key(&actor) {
                        let held = self.holdings(&actor)?;
                        holdings.insert(actor.clone(), held);
                    }
                    if let Some(held) = holdings.get(&actor) {
                        held.check(&self.tree, Act::OpenRequest(request.kind), &org)?;
                    }
                }
                self.prepare_filing(request)
            })
            .collect();
        let tree = &self.tree;
        let written = self.store.transaction(|tx| {
            let mut ids = Vec::with_capacity(prepared.len());
            // Who is told of new requests is read once for the whole batch.
            let mut recipients = Recipients::default();
            for filing in &prepared {
                let id = match filing {
                    Err(_) => None,
                    Ok(filing) => match already_pending(tx, &filing.new)? {
                        Some(conflict) => Some(Err(conflict)),
                        None => Some(Ok(write_filing(tx, tree, filing, &mut recipients)?)),
                    },
                };
                ids.push(id);
            }
            Ok(ids)
        });
        let ids = match written {
            Ok(ids) => ids,
            Err(e) => {
                let failed = e.to_string();
                return prepared
                    .into_iter()
                    .map(|p| {
                        p.and_then(|_| {
                            Err(StorageError::Database(
                                format!("not filed: the transaction failed: {failed}").into(),
                            )
                            .into())
                        })
                    })
                    .collect();
            }
        };
        // The filed requests read back in one read.
        let filed: Result<Vec<Option<RequestRecord>>, Error> = self.store.read(|tx| {
            ids.iter()
                .map(|id| match id {
                    Some(Ok(id)) => tx.request(*id),
                    _ => Ok(None),
                })
                .collect()
        });
        let (filed, unread) = match filed {
            Ok(filed) => (filed, None),
            Err(e) => (vec![None; ids.len()], Some(e.to_string())),
        };
        prepared
            .into_iter()
            .zip(ids)
            .zip(filed)
            .map(|((filing, id), record)| match (filing, id) {
                (Err(e), _) => Err(e),
                (Ok(_), Some(Ok(id))) => match (record, &unread) {
                    (Some(record), _) => Ok(record),
                    (None, Some(why)) => Err(StorageError::Database(
                        format!("request {id} was filed, but reading it back failed: {why}").into(),
                    )
                    .into()),
                    (None, None) => Err(Error::not_found("request", id)),
                },
                (Ok(_), Some(Err(e))) => Err(e),
                (Ok(_), None) => Err(Error::Conflict),
            })
            .collect()
    }

    /// Everything a filing checks and decides before it writes.
    fn prepare_filing(&mut self, request: FileRequest) -> Result<Filing, Error> {
        let FileRequest {
            kind,
            event,
            message,
            email,
            attachment,
        } = request;
        self.check_event(&event)?;
        let organization = self.org_of_computer(&event.computer)?;
        let decision = self.engine()?.decide(&event);
        may_request(&decision, &event, kind)?;
        let limit = self.engine()?.limits().max_string_bytes;
        check_message(&message, email.as_deref(), limit)?;
        let file = attached(attachment.as_deref(), &event)?;
        let now = self.now();
        let context = self.context(&organization, &event.computer);
        let new = NewRequest {
            kind,
            organization,
            computer: event.computer.clone(),
            event,
            denied_by: decision.policy.clone(),
            message,
            email,
            file,
            created: now,
        };
        Ok(Filing {
            new,
            attachment,
            notify: decision.notify,
            context,
            now,
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
        let all = self.store.read(|tx| tx.requests(state))?;
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

    /// One page of the approval queue the actor may see, newest first: at most `limit`
    /// requests (pending unless `state` says otherwise) older than request `before`
    /// (from the newest when `None`). Read from the store a page at a time, so that its
    /// cost is the page's, not the queue's.
    pub fn requests_page(
        &mut self,
        actor: &str,
        state: Option<RequestState>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<RequestRecord>, Error> {
        self.expire_due()?;
        let holdings = self.holdings(actor)?;
        let limit = limit.max(1);
        let mut page = Vec::with_capacity(limit);
        let mut cursor = before;
        loop {
            let rows = self
                .store
                .read(|tx| tx.requests_before(state, cursor, limit))?;
            let end = rows.len() < limit;
            cursor = rows.last().map(|r| r.id);
            page.extend(rows.into_iter().filter(|r| {
                holdings
                    .check(&self.tree, Act::ListRequests, &r.filed.organization)
                    .is_ok()
            }));
            if page.len() >= limit || end || cursor.is_none() {
                break;
            }
        }
        page.truncate(limit);
        if page.is_empty() {
            // Say why an empty page may be empty: no permission anywhere.
            self.requests(actor, state)?;
        }
        Ok(page)
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
        let sha = request.filed.file.ok_or(Error::NoFile { request: id })?;
        self.store
            .read(|tx| tx.file(&sha))?
            .ok_or(Error::not_found("file", sha))
    }

    /// Expires every pending request older than its organization's time limit;
    /// returns their ids.
    pub fn expire_due(&mut self) -> Result<Vec<i64>, Error> {
        let now = self.now();
        // Only the ids, organizations and times of the pending requests are read; whole
        // requests only for those that are due.
        // One read: the pending requests, and each organization's time limit (its
        // own settings or the nearest ancestor's), each organization's row read once.
        let tree = &self.tree;
        let due_ids = self.store.read(|tx| {
            let pending = tx.pending_filed()?;
            let mut rows: HashMap<String, Option<Settings>> = HashMap::new();
            let mut ttls: HashMap<String, i64> = HashMap::new();
            let mut due_ids = Vec::new();
            for (id, org, created) in pending {
                let ttl = match ttls.get(&org) {
                    Some(ttl) => *ttl,
                    None => {
                        let mut found = None;
                        for o in tree.lineage(&org) {
                            if !rows.contains_key(o) {
                                rows.insert(o.to_owned(), tx.settings(o)?);
                            }
                            if let Some(Some(s)) = rows.get(o) {
                                found = Some(s.request_ttl_seconds);
                                break;
                            }
                        }
                        let ttl = found.unwrap_or(Settings::default().request_ttl_seconds);
                        ttls.insert(org, ttl);
                        ttl
                    }
                };
                if created.saturating_add(ttl) <= now.unix() {
                    due_ids.push((id, ttl));
                }
            }
            Ok(due_ids)
        })?;
        if due_ids.is_empty() {
            return Ok(Vec::new());
        }
        let due = self.store.read(|tx| {
            let mut due = Vec::with_capacity(due_ids.len());
            for (id, ttl) in &due_ids {
                if let Some(request) = tx.request(*id)? {
                    due.push((request, *ttl));
                }
            }
            Ok(due)
        })?;
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
    pub fn suggestions(&self, actor: &str) -> Result<Vec<Suggestion>, Error> {
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

    pub(super) fn suggestions_for(&self, org: &str) -> Result<Vec<Suggestion>, Error> {
        let threshold =
            usize::try_from(self.settings_for(org)?.suggest_after).unwrap_or(usize::MAX);
        let approved = self
            .store
            .read(|tx| tx.requests(Some(RequestState::Approved)))?;
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
            if wider.contains(&sha) || computers.len() < threshold.max(1) || self.widened(org, &sha)
            {
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

    /// Software counts as seen in an organization once it was approved there before,
    /// or a rule of an application the organization can use names its hash.
    pub(super) fn seen_before(&self, org: &str, sha: &Sha256) -> Result<bool, Error> {
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
            .read(|tx| tx.requests(Some(RequestState::Approved)))?;
        Ok(approved
            .iter()
            .any(|r| r.filed.organization == org && r.filed.event.sha256 == *sha))
    }

    /// Hands decisions made in-process to the audit, in one transaction: every deny,
    /// every learned file (kind `learned`), every allow that would have been denied but
    /// for a maintenance mode, and allows of organizations whose settings ask for them. Returns how many
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
            // A learned file (learning or installation mode) is always recorded: it is
            // how the computer's learned files reach the server; so is an allow that
            // only a maintenance mode made (what would have been denied).
            let wanted = decision.learn
                || decision.would_deny
                || match decision.decision {
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
}

/// Whether the deciding policy lets the user ask for `kind` for this execution.
fn may_request(
    decision: &DecisionRecord,
    event: &Event,
    kind: AccessRequestKind,
) -> Result<(), Error> {
    let asks = match kind {
        AccessRequestKind::Application | AccessRequestKind::Storage => {
            portcullis_engine::RequestKind::Application
        }
        AccessRequestKind::Elevation => portcullis_engine::RequestKind::Elevation,
    };
    if !decision.can_request {
        let by = describe_decider(decision);
        return Err(Error::invalid(
            "event",
            match decision.decision {
                Outcome::Allow if !event.elevation || decision.elevated => {
                    format!("this execution is allowed ({by}); there is nothing to request")
                }
                _ => format!("{by} does not allow requests for this execution"),
            },
        ));
    }
    if decision.request_kind != Some(asks) {
        return Err(Error::invalid(
            "kind",
            format!(
                "this execution calls for {} request, not {}",
                match decision.request_kind {
                    Some(portcullis_engine::RequestKind::Elevation) => "an `elevation`",
                    _ => "an `application` or `storage`",
                },
                kind.as_str()
            ),
        ));
    }
    Ok(())
}

/// The user's message (needed, and at most `limit` bytes) and email address.
fn check_message(message: &str, email: Option<&str>, limit: usize) -> Result<(), Error> {
    if message.trim().is_empty() {
        return Err(Error::invalid(
            "message",
            "a request needs a message saying why".to_owned(),
        ));
    }
    for (field, text) in [("message", Some(message)), ("email", email)] {
        let length = text.map_or(0, str::len);
        if length > limit {
            return Err(Error::invalid(field, format!(
                "the request's {field} is {length} bytes; the limit is {limit} bytes (`max_string_bytes`)"
            )));
        }
    }
    if let Some(email) = email {
        match Recipient::parse(email) {
            Ok(Recipient::Email(_)) => {}
            Ok(Recipient::Sms(_)) => {
                return Err(Error::invalid(
                    "email",
                    format!("`{email}` is not an email address"),
                ))
            }
            Err(e) => return Err(Error::invalid("email", format!("email: {e}"))),
        }
    }
    Ok(())
}

/// The SHA-256 of the attached copy, which must be the execution's file.
fn attached(attachment: Option<&[u8]>, event: &Event) -> Result<Option<Sha256>, Error> {
    let Some(bytes) = attachment else {
        return Ok(None);
    };
    if bytes.len() > MAX_ATTACHMENT {
        return Err(Error::invalid(
            "attachment",
            format!(
                "the attached file has {} bytes; the limit is {MAX_ATTACHMENT}",
                bytes.len()
            ),
        ));
    }
    let sha = sha256_of(bytes);
    if sha != event.sha256 {
        return Err(Error::invalid("attachment", format!(
            "the attached file's SHA-256 is {sha}, but the execution's is {}; attach the blocked file",
            event.sha256
        )));
    }
    Ok(Some(sha))
}
