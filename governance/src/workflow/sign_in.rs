//! What a server that authenticates administrators needs from governance: who may set
//! another administrator's credentials, whether an administrator exists, and the
//! system-audit entries of sign-ins, failed sign-ins and credential changes.

use serde_json::json;

use crate::access::Act;
use crate::audit::{AuditEntry, AuditLog};
use crate::store::{AdminRecord, Store};
use crate::Error;

use super::Governance;

/// An authentication event, as the system audit names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Authentication {
    /// A sign-in succeeded.
    SignedIn,
    /// A sign-in failed (wrong id, password or second factor).
    SignInFailed,
    /// Sign-ins were refused for a while after too many failures.
    SignInThrottled,
    /// A session was ended.
    SignedOut,
    /// An API token was made.
    TokenCreated,
    /// An API token was revoked.
    TokenRevoked,
    /// An invitation or password reset link was made.
    Invited,
    /// A password was set through an invitation.
    PasswordSet,
    /// A second factor was confirmed and is now required.
    SecondFactorOn,
    /// A second factor was turned off.
    SecondFactorOff,
}

impl Authentication {
    /// The audit entry's kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Authentication::SignedIn => "sign-in",
            Authentication::SignInFailed => "sign-in-failed",
            Authentication::SignInThrottled => "sign-in-throttled",
            Authentication::SignedOut => "sign-out",
            Authentication::TokenCreated => "token-create",
            Authentication::TokenRevoked => "token-revoke",
            Authentication::Invited => "invite",
            Authentication::PasswordSet => "password-set",
            Authentication::SecondFactorOn => "second-factor-on",
            Authentication::SecondFactorOff => "second-factor-off",
        }
    }
}

/// The longest administrator id an audit entry of a failed sign-in keeps (the id is
/// whatever the caller typed).
const CLAIMED_ID: usize = 128;

impl<S: Store> Governance<S> {
    /// The administrator `id`, if there is one. For a server that authenticates a
    /// credential: a credential of a deleted administrator lets nobody in.
    pub fn administrator(&self, id: &str) -> Result<Option<AdminRecord>, Error> {
        self.stored(|tx| tx.admin(id))
    }

    /// May `actor` invite `admin` or reset their password? The same power as editing
    /// them: Edit Administrators on their organization and wherever they hold a grant.
    pub fn authorize_credentials(&self, actor: &str, admin: &str) -> Result<(), Error> {
        let target = self.load_admin(admin)?;
        let holdings = self.holdings(actor)?;
        holdings.check(&self.tree, Act::EditAdministrators, &target.organization)?;
        self.check_power_over(&holdings, &target)
    }

    /// Appends an authentication event about `admin` (as claimed, for a failed
    /// sign-in) to the system audit, under their organization when they exist.
    pub fn audit_authentication(
        &mut self,
        admin: &str,
        event: Authentication,
        mut detail: serde_json::Value,
    ) -> Result<(), Error> {
        let claimed: String = admin.chars().take(CLAIMED_ID).collect();
        let organization = self.administrator(&claimed)?.map(|a| a.organization);
        if let serde_json::Value::Object(fields) = &mut detail {
            fields.insert("administrator".to_owned(), json!(claimed));
        }
        let entry = AuditEntry {
            time: self.now(),
            actor: claimed,
            organization,
            log: AuditLog::System,
            kind: event.as_str().to_owned(),
            detail,
        };
        self.store.transaction(|tx| {
            tx.append_audit(&entry)?;
            Ok(())
        })
    }
}
