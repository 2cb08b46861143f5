//! Every message text: what administrators are told of a new request (email and
//! SMS), what the requester is told of the outcome, and what administrators are told
//! when an approval plugin is switched off. Nothing else builds message text.

use portcullis_engine::model::SignatureStatus;

use crate::notify::settings::NotifyConfig;
use crate::store::RequestRecord;

/// The link that opens a request: under the configured link base, or the command that
/// shows it when delivery is not configured.
pub fn request_link(config: Option<&NotifyConfig>, request: i64) -> String {
    config.map_or_else(
        || format!("portcullis requests show {request}"),
        |c| c.link(request),
    )
}

/// The facts a message about a request gives.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    /// The request.
    pub request: &'a RequestRecord,
    /// The organization's name.
    pub organization: &'a str,
    /// The computer's host name.
    pub computer: &'a str,
    /// The link that opens it.
    pub link: String,
}

impl RequestFacts<'_> {
    fn certificate(&self) -> String {
        let signature = &self.request.filed.event.signature;
        match signature.signers.first() {
            None => "unsigned".to_owned(),
            Some(leaf) => format!(
                "{} (issued by {}; signature {})",
                leaf.subject,
                leaf.issuer
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), ToString::to_string),
                match signature.status {
                    SignatureStatus::Valid => "valid",
                    SignatureStatus::Invalid => "invalid",
                    SignatureStatus::Unsigned => "absent",
                }
            ),
        }
    }

    /// The message to administrators about a new request: subject, email text, SMS text.
    pub fn new_request(&self) -> (String, String, String) {
        let r = self.request;
        let f = &r.filed;
        let subject = format!(
            "Access request {} from {} on {} ({})",
            r.id, f.event.user, self.computer, self.organization
        );
        let body = format!(
            "{user} asks for {kind} access on {computer} ({computer_id}) in {org}.\n\
             \n\
             Message:     {message}\n\
             \n\
             File:        {path}\n\
             SHA-256:     {sha}\n\
             Certificate: {cert}\n\
             Denied by:   {denied}\n\
             \n\
             Open the request to approve or reject it:\n\
             {link}\n",
            user = f.event.user,
            kind = f.kind,
            computer = self.computer,
            computer_id = f.computer,
            org = self.organization,
            message = f.message,
            path = f.event.path,
            sha = f.event.sha256,
            cert = self.certificate(),
            denied = f
                .denied_by
                .as_deref()
                .map_or_else(|| "the default deny".to_owned(), |p| format!("policy {p}")),
            link = self.link,
        );
        let sms = format!(
            "Portcullis: {} on {} ({}) requests {} access to {}: \"{}\" {}",
            f.event.user,
            self.computer,
            self.organization,
            f.kind,
            f.event.path,
            f.message,
            self.link
        );
        (subject, body, sms)
    }

    /// The message to the requester about the outcome: subject and text.
    pub fn outcome(&self) -> (String, String) {
        let r = self.request;
        let f = &r.filed;
        let (what, why) = match &r.closure {
            Some(c) => (c.state.as_str(), c.reason.as_str()),
            None => ("pending", ""),
        };
        let subject = format!("Your request {} was {what}", r.id);
        let mut body = format!(
            "Your {} request for {} on {} ({}) was {what}.\n",
            f.kind, f.event.path, self.computer, self.organization
        );
        if !why.is_empty() {
            body.push_str(&format!("Reason: {why}\n"));
        }
        if what == "approved" {
            body.push_str("You can run it now.\n");
        }
        (subject, body)
    }
}

/// The message to an organization's administrators when its plugin `plugin` (of
/// `hook`) was switched off for failing: subject and email text.
pub fn plugin_switched_off(
    hook: portcullis_engine::plugin::Hook,
    plugin: &str,
    organization: &str,
    failure: &str,
) -> (String, String) {
    let (title, kind, meanwhile) = match hook {
        portcullis_engine::plugin::Hook::ApprovalReview => (
            "Approval",
            "approval",
            "Requests wait for a person until it is fixed and attached again.",
        ),
        portcullis_engine::plugin::Hook::Rule => (
            "Rule",
            "rule",
            "Executions its rules would deny are decided by the policies alone until it is \
             fixed and attached again.",
        ),
    };
    (
        format!("{title} plugin {plugin} was switched off"),
        format!(
            "The {kind} plugin {plugin} of {organization} failed too often and was switched off.\n\
             {meanwhile}\n\
             Last failure: {failure}\n"
        ),
    )
}
