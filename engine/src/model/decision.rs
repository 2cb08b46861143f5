//! Decisions: what the engine answers for an execution.

use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

use super::bundle::MaintenanceMode;
use super::recipient::Recipient;
use crate::path::PathError;

/// Allow or deny. Exhaustive on purpose: a caller must handle every outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The program may run.
    Allow,
    /// The program is blocked.
    Deny,
}

/// What a user may ask for after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// Access to a blocked application.
    Application,
    /// Elevation of an application that runs, but not elevated.
    Elevation,
}

/// A decision for one execution, borrowing ids from the snapshot that made it.
///
/// Borrowing keeps the decision path free of allocation and of shared reference
/// counts; call [`Decision::to_record`] for an owned copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision<'s> {
    /// Allow or deny.
    pub decision: Outcome,
    /// The program runs with administrator rights.
    pub elevated: bool,
    /// Id of the deciding policy; `None` for a default deny or a maintenance mode.
    pub policy: Option<&'s str>,
    /// Id of the matching application of the deciding policy.
    pub application: Option<&'s str>,
    /// No policy matched, so the organization's default deny decided (even when a
    /// maintenance mode then turned it into an allow).
    pub default_deny: bool,
    /// An allow that would have been a deny but for `monitor` or `learning` mode.
    pub would_deny: bool,
    /// The maintenance mode that changed the outcome, if one did.
    pub mode: Option<MaintenanceMode>,
    /// The user is shown a notification about the deny.
    pub notify_user: bool,
    /// The user may file a request, of kind `request_kind`.
    pub can_request: bool,
    /// What a request would ask for.
    pub request_kind: Option<RequestKind>,
    /// Who the deciding deny tells about a request.
    pub notify: &'s [Recipient],
    /// The execution should be recorded as a learned file for the computer.
    pub learn: bool,
    /// Generation of the snapshot the decision was computed on.
    pub generation: u64,
    /// Input problems met while deciding; they never make a deny into an allow.
    #[serde(skip_serializing_if = "Problems::is_empty")]
    pub problems: Problems,
}

/// Input problems seen while deciding an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Problems {
    /// The event's computer is not in the snapshot.
    pub unknown_computer: bool,
    /// The file's path could not be normalized.
    pub path: Option<PathError>,
    /// The parent process's path could not be normalized.
    pub parent: Option<PathError>,
    /// The creating process's path could not be normalized.
    pub created_by: Option<PathError>,
}

impl Problems {
    /// No problem at all.
    pub fn is_empty(&self) -> bool {
        *self == Problems::default()
    }

    /// One message per problem, in a fixed order.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.unknown_computer {
            out.push("the computer is not in the bundle".to_owned());
        }
        for (field, error) in [
            ("path", self.path),
            ("parent", self.parent),
            ("created_by", self.created_by),
        ] {
            if let Some(error) = error {
                out.push(format!("`{field}` cannot be normalized: {error}"));
            }
        }
        out
    }
}

impl Serialize for Problems {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let messages = self.messages();
        let mut seq = serializer.serialize_seq(Some(messages.len()))?;
        for message in &messages {
            seq.serialize_element(message)?;
        }
        seq.end()
    }
}

impl Decision<'_> {
    /// `true` for an allow.
    pub fn is_allowed(&self) -> bool {
        self.decision == Outcome::Allow
    }

    /// An owned copy, detached from the snapshot.
    pub fn to_record(&self) -> DecisionRecord {
        DecisionRecord {
            decision: self.decision,
            elevated: self.elevated,
            policy: self.policy.map(str::to_owned),
            application: self.application.map(str::to_owned),
            default_deny: self.default_deny,
            would_deny: self.would_deny,
            mode: self.mode,
            notify_user: self.notify_user,
            can_request: self.can_request,
            request_kind: self.request_kind,
            notify: self.notify.to_vec(),
            learn: self.learn,
            generation: self.generation,
            problems: self.problems.messages(),
        }
    }
}

/// An owned decision, as [`Decision`] but with its own strings; also what the
/// reference evaluator returns. Serialized the same way as [`Decision`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRecord {
    /// Allow or deny.
    pub decision: Outcome,
    /// Runs with administrator rights.
    pub elevated: bool,
    /// The deciding policy's id.
    pub policy: Option<String>,
    /// The matching application's id.
    pub application: Option<String>,
    /// No policy matched.
    pub default_deny: bool,
    /// Allowed only because of `monitor` or `learning` mode.
    pub would_deny: bool,
    /// The maintenance mode that changed the outcome.
    pub mode: Option<MaintenanceMode>,
    /// A notification is shown.
    pub notify_user: bool,
    /// The user may file a request.
    pub can_request: bool,
    /// What a request would ask for.
    pub request_kind: Option<RequestKind>,
    /// Who is told about a request.
    pub notify: Vec<Recipient>,
    /// To be recorded as a learned file.
    pub learn: bool,
    /// Snapshot generation (0 from the reference evaluator, which has none).
    pub generation: u64,
    /// Input problems, one message each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}
