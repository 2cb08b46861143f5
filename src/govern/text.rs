//! The governance records as text for a person. Callers make the text inert before
//! printing it.

use std::fmt::Write as _;

use portcullis_engine::plugin::RuledDecision;
use portcullis_engine::{DecisionRecord, Outcome};
use portcullis_governance::{
    AdminRecord, Approved, AuditRecord, DeliveryReport, Grant, Grantable, OutboxRecord,
    RequestRecord, Review, ReviewOutcome, RoleRecord, Settings, Suggestion,
};

use crate::common::inert;

/// `decide`: the decision, and what the rule plugins did.
pub fn ruled_decision(ruled: &RuledDecision) -> String {
    let mut out = decision(&ruled.decision);
    if let Some(deny) = &ruled.denied_by {
        out = format!(
            "deny (rule plugin `{}`: {}); the static decision was {}",
            deny.plugin, deny.reason, out
        );
    }
    for failure in &ruled.failures {
        out.push_str(&format!(
            "rule plugin `{}` failed and abstained: {}\n",
            failure.plugin, failure.failure
        ));
    }
    out
}

/// `request`: the request filed, and its review by the approval plugins.
pub fn filed(request: &RequestRecord, review: Option<&Review>) -> String {
    let mut out = format!(
        "request {} filed ({}, pending) for {} on {}\n",
        request.id,
        request.filed.kind,
        inert(&request.filed.event.path),
        request.filed.computer
    );
    if let Some(review) = review {
        out.push_str(&self::review(review));
    }
    out
}

/// `approve`: the policy written, the version deployed, the proof, and a suggestion.
pub fn approved(id: i64, approved: &Approved) -> String {
    let mut out = String::new();
    if let Some(approval) = approved
        .request
        .closure
        .as_ref()
        .and_then(|c| c.approval.as_ref())
    {
        let _ = writeln!(
            out,
            "request {id} approved: policy `{}` (position {}, {} `{}`) permits application `{}`{}{}",
            approval.policy,
            approval.position,
            approval.scope,
            approval.target,
            approval.application,
            if approval.elevate { " with elevation" } else { "" },
            approval.expires.map(|t| format!(" until {t}")).unwrap_or_default(),
        );
        let _ = writeln!(
            out,
            "deployed as bundle version {}; the request's execution is now: {}",
            approval.version,
            decision(&approved.proof).trim_end()
        );
    }
    if let Some(s) = &approved.suggestion {
        let _ = writeln!(
            out,
            "suggestion: {} was approved on {} computers ({}); consider one policy at {} scope for `{}`",
            s.path,
            s.computers.len(),
            s.computers.join(", "),
            s.scope,
            s.target
        );
    }
    out
}

/// One line of `suggestions`.
pub fn suggestion(s: &Suggestion) -> String {
    format!(
        "{} ({}) approved on {} computers of `{}` (requests {:?}): consider {} scope `{}`\n",
        s.path,
        s.sha256,
        s.computers.len(),
        s.organization,
        s.requests,
        s.scope,
        s.target
    )
}

/// One line of `admin list`.
pub fn admin(a: &AdminRecord) -> String {
    format!(
        "{:<16} {:<24} {:<14} {}\n",
        a.id,
        a.name,
        a.organization,
        a.email.as_deref().unwrap_or("")
    )
}

/// One line of `role list`.
pub fn role(r: &RoleRecord) -> String {
    let names: Vec<&str> = r.permissions.iter().map(|p| p.name()).collect();
    format!(
        "{:<16} {:<14} {}: {}\n",
        r.id,
        r.organization,
        r.name,
        names.join(", ")
    )
}

/// What a grant gives: a permission or a role.
pub fn what(grant: &Grant) -> String {
    match &grant.what {
        Grantable::Permission(p) => format!("permission {p}"),
        Grantable::Role(r) => format!("role `{r}`"),
    }
}

/// `settings`
pub fn settings(org: &str, settings: &Settings) -> String {
    format!(
        "`{org}`: new software at computer scope first: {}; wider approvals need a justification: {}; suggest a wider policy after {} computers; requests expire after {} s; allowed executions audited: {}\n",
        settings.new_software_computer_first,
        settings.wider_needs_justification,
        settings.suggest_after,
        settings.request_ttl_seconds,
        settings.audit_allows
    )
}

/// One line of `audit search`.
pub fn audit_entry(e: &AuditRecord) -> String {
    format!(
        "{:>5}  {}  {:<16} {:<14} {:<12} {}\n",
        e.seq,
        e.entry.time,
        e.entry.kind,
        e.entry.organization.as_deref().unwrap_or("-"),
        e.entry.actor,
        e.entry.detail
    )
}

/// One line of `notify outbox`.
pub fn outbox_entry(o: &OutboxRecord) -> String {
    format!(
        "{:>4}  request {:<4} {:<12} {:<5} {:<28} {:<9} attempts {}{}\n",
        o.id,
        o.notification.request,
        o.notification.reason,
        o.notification.channel.as_str(),
        o.notification.recipient,
        o.state.as_str(),
        o.attempts,
        o.last_error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    )
}

/// What a delivery run did.
pub fn delivery(report: &DeliveryReport) -> String {
    let mut out = format!(
        "notifications: {} delivered, {} to retry, {} given up{}\n",
        report.delivered,
        report.retrying,
        report.failed,
        if report.skipped > 0 {
            format!(", {} left to the sender that holds them", report.skipped)
        } else {
            String::new()
        }
    );
    for (id, error) in &report.errors {
        let _ = writeln!(out, "  {id}: {error}");
    }
    out
}

/// What the approval plugins said, and what became of the request.
fn review(review: &Review) -> String {
    let mut out = String::new();
    for report in &review.plugins {
        match (&report.verdict, &report.failure) {
            (_, Some(failure)) => {
                let _ = writeln!(
                    out,
                    "  plugin `{}` failed and abstained: {failure}",
                    report.plugin
                );
            }
            (Some(verdict), None) => {
                let _ = writeln!(
                    out,
                    "  plugin `{}`: {}",
                    report.plugin,
                    serde_json::to_string(verdict).unwrap_or_default()
                );
            }
            (None, None) => {}
        }
    }
    let _ = match &review.outcome {
        ReviewOutcome::Approved { request } => writeln!(
            out,
            "approved by {}",
            request
                .closure
                .as_ref()
                .map_or("a plugin", |c| c.by.as_str())
        ),
        ReviewOutcome::Rejected { request } => writeln!(
            out,
            "rejected by {}: {}",
            request
                .closure
                .as_ref()
                .map_or("a plugin", |c| c.by.as_str()),
            request.closure.as_ref().map_or("", |c| c.reason.as_str())
        ),
        ReviewOutcome::Routed { administrators } => {
            writeln!(out, "routed to {}", administrators.join(", "))
        }
        ReviewOutcome::LeftForPeople {
            reason: Some(reason),
        } => {
            writeln!(out, "left for an administrator: {reason}")
        }
        ReviewOutcome::LeftForPeople { reason: None } => {
            writeln!(out, "left for an administrator")
        }
    };
    out
}

/// A decision, and whether the user may request access.
pub fn decision(d: &DecisionRecord) -> String {
    let by = match (&d.policy, d.default_deny, d.mode) {
        (Some(policy), _, _) => format!("policy `{policy}`"),
        (None, true, Some(mode)) => format!("default deny, {} mode", mode.as_str()),
        (None, true, None) => "default deny".to_owned(),
        (None, false, Some(mode)) => format!("{} mode", mode.as_str()),
        (None, false, None) => "no policy".to_owned(),
    };
    let mut out = match d.decision {
        Outcome::Allow => format!(
            "allow{}{} ({by})",
            if d.elevated { " elevated" } else { "" },
            if d.would_deny {
                ", would have been denied"
            } else {
                ""
            }
        ),
        Outcome::Deny => format!("deny ({by})"),
    };
    if d.can_request {
        let (kind, command) = match d.request_kind {
            Some(portcullis_engine::RequestKind::Elevation) => {
                ("elevation", "portcullis request --kind elevation")
            }
            _ => ("application", "portcullis request"),
        };
        let _ = write!(out, "; the user may request {kind} access (`{command}`)");
    }
    out.push('\n');
    out
}

/// One line of `requests list`.
pub fn summary(r: &RequestRecord) -> String {
    format!(
        "{:>4}  {:<8} {:<11} {:<12} {:<16} {:<18} {}  {}\n",
        r.id,
        r.state.as_str(),
        r.filed.kind.as_str(),
        inert(&r.filed.organization),
        inert(&r.filed.computer),
        inert(&r.filed.event.user),
        inert(&r.filed.event.path),
        r.filed.created
    )
}

/// `requests show`: one request in full.
pub fn detail(r: &RequestRecord) -> String {
    let mut out = String::new();
    let f = &r.filed;
    let _ = writeln!(out, "request {} ({}, {})", r.id, f.kind, r.state.as_str());
    let _ = writeln!(out, "  organization  {}", inert(&f.organization));
    let _ = writeln!(out, "  computer      {}", inert(&f.computer));
    let _ = writeln!(out, "  user          {}", inert(&f.event.user));
    let _ = writeln!(out, "  filed         {}", f.created);
    let _ = writeln!(out, "  message       {}", inert(&f.message));
    if let Some(email) = &f.email {
        let _ = writeln!(out, "  email         {}", inert(email));
    }
    let _ = writeln!(out, "  path          {}", inert(&f.event.path));
    let _ = writeln!(out, "  sha256        {}", f.event.sha256);
    match f.event.signature.signers.first() {
        Some(signer) => {
            let _ = writeln!(
                out,
                "  signer        {} ({:?})",
                inert(&signer.subject.to_string()),
                f.event.signature.status
            );
        }
        None => {
            let _ = writeln!(out, "  signer        unsigned");
        }
    }
    let _ = writeln!(
        out,
        "  denied by     {}",
        f.denied_by
            .as_deref()
            .map_or("the default deny".to_owned(), |p| format!("policy `{p}`"))
    );
    let _ = writeln!(
        out,
        "  file copy     {}",
        if f.file.is_some() { "stored" } else { "none" }
    );
    if let Some(c) = &r.closure {
        let _ = writeln!(
            out,
            "  {} by {} at {}: {}",
            c.state.as_str(),
            inert(&c.by),
            c.at,
            inert(&c.reason)
        );
        if let Some(a) = &c.approval {
            let _ = writeln!(
                out,
                "  policy        `{}` ({} `{}`, match {}, application `{}`, version {})",
                a.policy, a.scope, a.target, a.matching, a.application, a.version
            );
        }
    }
    out
}
