//! The contract's types and the WIT bindings' types, both ways: the host bindings
//! generated from `wit/`, and the conversions a call makes of its input (lowered
//! straight from borrowed records) and of the verdict it gets back.

use portcullis_engine::plugin::{self as contract, ApprovalInput, Execution, RuleVerdict, Verdict};

pub(crate) mod bindings {
    //! Host bindings generated from `wit/`.
    #![allow(
        missing_docs,
        unsafe_code,
        clippy::all,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    // One world that uses every type of the contract, so that the generated types
    // that borrow (the inputs) and own (the verdicts) are all well-formed. The host
    // instantiates a component targeting either world of `wit/` and looks up the one
    // export it has.
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "
            package portcullis:host-bindings;
            world host-bindings {
                import portcullis:plugin/host@0.1.0;
                export portcullis:plugin/approval-reviewer@0.1.0;
                export portcullis:plugin/rule-checker@0.1.0;
            }
        ",
        ownership: Borrowing { duplicate_if_necessary: true },
    });
}

use bindings::portcullis::plugin::types as wit;

// The call lowers the input straight from these borrowed records into the guest's
// memory: no string of the input is copied on the host side. Only the lists need
// vectors of their own.

pub(crate) fn wit_signers(e: &Execution) -> Vec<wit::Signer<'_>> {
    e.signers
        .iter()
        .map(|s| wit::Signer {
            subject: &s.subject,
            issuer: s.issuer.as_deref(),
            thumbprint: s.thumbprint.as_deref(),
        })
        .collect()
}

pub(crate) fn to_wit_execution<'a>(
    e: &'a Execution,
    signers: &'a [wit::Signer<'a>],
) -> wit::Execution<'a> {
    use portcullis_engine::model::{Os, SignatureStatus};
    wit::Execution {
        computer: &e.computer,
        os: match e.os {
            Os::Windows => wit::OsFamily::Windows,
            Os::Linux => wit::OsFamily::Linux,
            Os::Macos => wit::OsFamily::Macos,
        },
        user: &e.user,
        path: &e.path,
        sha256: &e.sha256,
        signature: match e.signature {
            SignatureStatus::Valid => wit::SignatureStatus::Valid,
            SignatureStatus::Invalid => wit::SignatureStatus::Invalid,
            SignatureStatus::Unsigned => wit::SignatureStatus::Unsigned,
        },
        signers,
        parent: e.parent.as_deref(),
        created_by: e.created_by.as_deref(),
        elevation: e.elevation,
        time: &e.time,
    }
}

fn to_wit_scope(s: contract::Scope) -> wit::Scope {
    match s {
        contract::Scope::Computer => wit::Scope::Computer,
        contract::Scope::Group => wit::Scope::Group,
        contract::Scope::Organization => wit::Scope::Organization,
        contract::Scope::Global => wit::Scope::Global,
    }
}

fn from_wit_scope(s: wit::Scope) -> contract::Scope {
    match s {
        wit::Scope::Computer => contract::Scope::Computer,
        wit::Scope::Group => contract::Scope::Group,
        wit::Scope::Organization => contract::Scope::Organization,
        wit::Scope::Global => contract::Scope::Global,
    }
}

fn to_wit_match(m: contract::MatchKind) -> wit::MatchKind {
    match m {
        contract::MatchKind::Hash => wit::MatchKind::Hash,
        contract::MatchKind::Certificate => wit::MatchKind::Certificate,
        contract::MatchKind::CertificateAndPath => wit::MatchKind::CertificateAndPath,
        contract::MatchKind::Path => wit::MatchKind::Path,
    }
}

fn from_wit_match(m: wit::MatchKind) -> contract::MatchKind {
    match m {
        wit::MatchKind::Hash => contract::MatchKind::Hash,
        wit::MatchKind::Certificate => contract::MatchKind::Certificate,
        wit::MatchKind::CertificateAndPath => contract::MatchKind::CertificateAndPath,
        wit::MatchKind::Path => contract::MatchKind::Path,
    }
}

fn to_wit_options(o: &contract::ApprovalOptions) -> wit::ApprovalOptionsParam<'_> {
    wit::ApprovalOptionsParam {
        scope: to_wit_scope(o.scope),
        match_kind: to_wit_match(o.match_kind),
        elevate: o.elevate,
        expires: o.expires.as_deref(),
        justification: &o.justification,
    }
}

/// An approval input and its lists as the records the call borrows.
pub(crate) struct WitInput<'a> {
    input: &'a ApprovalInput,
    signers: Vec<wit::Signer<'a>>,
    organizations: Vec<wit::Organization<'a>>,
    prior_approvals: Vec<wit::PriorApproval<'a>>,
}

impl<'a> WitInput<'a> {
    pub(crate) fn new(input: &'a ApprovalInput) -> WitInput<'a> {
        WitInput {
            input,
            signers: wit_signers(&input.request.execution),
            organizations: input
                .tenancy
                .organizations
                .iter()
                .map(|o| wit::Organization {
                    id: &o.id,
                    name: &o.name,
                })
                .collect(),
            prior_approvals: input
                .prior_approvals
                .iter()
                .map(|p| wit::PriorApproval {
                    request: &p.request,
                    computer: &p.computer,
                    approved_by: &p.approved_by,
                    options: to_wit_options(&p.options),
                    time: &p.time,
                })
                .collect(),
        }
    }

    /// The input as the contract's record.
    pub(crate) fn record(&self) -> wit::ApprovalInput<'_> {
        let input = self.input;
        let r = &input.request;
        wit::ApprovalInput {
            request: wit::AccessRequest {
                id: &r.id,
                kind: match r.kind {
                    contract::AccessRequestKind::Application => wit::RequestKind::Application,
                    contract::AccessRequestKind::Storage => wit::RequestKind::Storage,
                    contract::AccessRequestKind::Elevation => wit::RequestKind::Elevation,
                },
                message: r.message.as_deref(),
                execution: to_wit_execution(&r.execution, &self.signers),
            },
            tenancy: wit::Tenancy {
                organizations: &self.organizations,
                group: &input.tenancy.group,
                computer: &input.tenancy.computer,
            },
            prior_approvals: &self.prior_approvals,
        }
    }
}

pub(crate) fn from_wit_verdict(v: wit::Verdict) -> Verdict {
    match v {
        wit::Verdict::Approve(o) => Verdict::Approve {
            options: contract::ApprovalOptions {
                scope: from_wit_scope(o.scope),
                match_kind: from_wit_match(o.match_kind),
                elevate: o.elevate,
                expires: o.expires,
                justification: o.justification,
            },
        },
        wit::Verdict::Reject(reason) => Verdict::Reject { reason },
        wit::Verdict::Route(administrators) => Verdict::Route { administrators },
        wit::Verdict::Abstain => Verdict::Abstain,
    }
}

pub(crate) fn from_wit_rule_verdict(v: wit::RuleVerdict) -> RuleVerdict {
    match v {
        wit::RuleVerdict::Deny(reason) => RuleVerdict::Deny { reason },
        wit::RuleVerdict::Abstain => RuleVerdict::Abstain,
    }
}
