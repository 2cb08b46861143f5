//! Approves, at computer scope and by certificate, a request for a file whose valid
//! signature comes from a publisher the tenant trusts.
//!
//! Setting `publishers`: the trusted signer subjects, separated by `|`, e.g.
//! `CN=Contoso Ltd, O=Contoso Ltd|CN=Fabrikam`. Compared without case and surrounding
//! spaces. Anything else abstains.

wit_bindgen::generate!({ path: "../../../../wit", world: "approval-review" });

use exports::portcullis::plugin::approval_reviewer::Guest;
use portcullis::plugin::host::{config, log, Level};
use portcullis::plugin::types::{
    ApprovalInput, ApprovalOptions, MatchKind, Scope, SignatureStatus, Verdict,
};

struct TrustedPublisher;

impl Guest for TrustedPublisher {
    fn review(input: ApprovalInput) -> Verdict {
        let execution = &input.request.execution;
        if execution.signature != SignatureStatus::Valid {
            return Verdict::Abstain;
        }
        let Some(leaf) = execution.signers.first() else {
            return Verdict::Abstain;
        };
        let publishers = config("publishers").unwrap_or_default();
        let subject = leaf.subject.trim();
        if publishers
            .split('|')
            .any(|p| !p.trim().is_empty() && p.trim().eq_ignore_ascii_case(subject))
        {
            log(Level::Info, &format!("trusted publisher `{subject}`"));
            Verdict::Approve(ApprovalOptions {
                scope: Scope::Computer,
                match_kind: MatchKind::Certificate,
                elevate: false,
                expires: None,
                justification: format!("signed by trusted publisher `{subject}`"),
            })
        } else {
            Verdict::Abstain
        }
    }
}

export!(TrustedPublisher);
