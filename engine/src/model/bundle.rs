//! The bundle: the whole tenancy and its policies, as a rule author writes it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dn::DistinguishedName;
use super::recipient::Recipient;
use super::sha256::Sha256;
use super::time::Timestamp;

/// The format tag every bundle starts with; a new incompatible format gets a new tag.
pub const BUNDLE_FORMAT: &str = "portcullis.bundle/v1";

/// The whole tenancy — organizations, groups, computers — with its applications and
/// policies. This is the unit a rule author edits and the engine deploys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Portcullis policy bundle")]
pub struct Bundle {
    /// Always `portcullis.bundle/v1`.
    pub format: String,
    /// The organization tree: each organization names its parent, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<Organization>,
    /// Computer groups, each in one organization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<ComputerGroup>,
    /// Computers, each in one group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub computers: Vec<Computer>,
    /// Applications: named sets of file rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<Application>,
    /// Ordered allow, deny and elevation policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Policy>,
}

impl Bundle {
    /// An empty bundle of the current format.
    pub fn new() -> Self {
        Bundle {
            format: BUNDLE_FORMAT.to_owned(),
            organizations: Vec::new(),
            groups: Vec::new(),
            computers: Vec::new(),
            applications: Vec::new(),
            policies: Vec::new(),
        }
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}

/// An organization: an MSP, a customer of it, or a customer's own sub-organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    /// Unique among organizations.
    pub id: String,
    /// Shown to administrators and in notifications.
    pub name: String,
    /// The parent organization's id; absent for a top-level organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// What the user sees when nothing permits an execution. Absent: the implicit
    /// default deny, which notifies the user and lets them request access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_deny: Option<DenyOptions>,
}

/// End-user experience of a deny: the notification, whether the user may ask for
/// access, and who is told about a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyOptions {
    /// Show the user a notification that the execution was blocked (default `true`).
    #[serde(default = "yes")]
    pub notify_user: bool,
    /// Let the user request access from the notification (default `false`; needs
    /// `notify_user`).
    #[serde(default)]
    pub allow_request: bool,
    /// Who is told about a request: email addresses and `SMS:` phone numbers (needs
    /// `allow_request`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Recipient>,
}

impl DenyOptions {
    /// The implicit default deny of an organization that configures none: the user is
    /// notified and may request access.
    pub fn implicit_default() -> Self {
        DenyOptions {
            notify_user: true,
            allow_request: true,
            notify: Vec::new(),
        }
    }

    /// An explicit deny policy without `on_deny`: the user is notified, no request.
    pub fn policy_default() -> Self {
        DenyOptions {
            notify_user: true,
            allow_request: false,
            notify: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A computer group; it belongs to one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputerGroup {
    /// Unique among groups.
    pub id: String,
    /// The owning organization's id.
    pub organization: String,
    /// Shown to administrators.
    pub name: String,
}

/// An endpoint; it belongs to one group, and so to that group's organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Computer {
    /// Unique among computers; the id an agent puts in its events.
    pub id: String,
    /// The group's id.
    pub group: String,
    /// The host name shown to administrators.
    pub name: String,
    /// The operating system family; it decides how paths compare.
    pub os: Os,
    /// A maintenance mode in force until its end time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<Maintenance>,
}

/// Operating system family of a computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Paths compare case-insensitively, `\` and `/` are both separators.
    Windows,
    /// POSIX paths, case-sensitive.
    Linux,
    /// POSIX paths, case-sensitive.
    Macos,
}

impl Os {
    /// How paths of this system compare.
    pub fn family(self) -> crate::path::Family {
        match self {
            Os::Windows => crate::path::Family::Windows,
            Os::Linux | Os::Macos => crate::path::Family::Posix,
        }
    }
}

/// A maintenance mode and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Which mode.
    pub mode: MaintenanceMode,
    /// The mode ends by itself at this time (RFC 3339).
    pub until: Timestamp,
}

/// Maintenance modes of a computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MaintenanceMode {
    /// Decide as usual, but return a default deny as an allow marked `would_deny`.
    Monitor,
    /// Like `monitor`, and learn every execution no policy matched.
    Learning,
    /// Allow and learn every execution no policy matched; explicit denies still block.
    Installation,
}

impl MaintenanceMode {
    /// The name used in bundles and decisions.
    pub fn as_str(self) -> &'static str {
        match self {
            MaintenanceMode::Monitor => "monitor",
            MaintenanceMode::Learning => "learning",
            MaintenanceMode::Installation => "installation",
        }
    }
}

/// A named set of file rules. A file matches the application when it matches any rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// Unique among applications.
    pub id: String,
    /// The owning organization's id; policies of it and of its descendants may target
    /// the application.
    pub organization: String,
    /// Shown to administrators.
    pub name: String,
    /// At least one rule.
    pub rules: Vec<FileRule>,
}

/// A conjunction of conditions on an execution; at least one is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRule {
    /// The file's SHA-256 (64 hexadecimal digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256>,
    /// The file's signer; only a valid signature matches.
    // Boxed: most rules have no certificate condition, and a bundle holds millions of
    // rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Box<CertificateCondition>>,
    // The patterns are boxed strings, not `String`s: 16 bytes each instead of 24, in
    // every rule a bundle or snapshot holds, and rules are never edited in place.
    /// A pattern on the file's full path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Box<str>>,
    /// A pattern on the parent (calling) process's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Box<str>>,
    /// A pattern on the path of the process that wrote the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<Box<str>>,
}

/// The signer of a file: by leaf-certificate thumbprint, or by subject with an optional
/// issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateCondition {
    /// SHA-256 thumbprint of the leaf (signing) certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<Sha256>,
    /// Attributes the leaf certificate's subject must contain, e.g.
    /// `CN=Contoso Ltd, O=Contoso Ltd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<DistinguishedName>,
    /// Attributes the leaf certificate's issuer must contain (only with `subject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<DistinguishedName>,
}

/// An ordered allow, deny or elevation policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Unique among policies.
    pub id: String,
    /// Where it applies; the scope also names the owning organization.
    pub scope: Scope,
    /// Lower positions are considered first; unique within an organization.
    pub position: i64,
    /// Ids of the applications it targets (of the owning organization or an ancestor).
    pub applications: Vec<String>,
    /// `permit` or `deny`.
    pub action: Action,
    /// With `permit`: run with administrator rights when elevation is requested.
    #[serde(default, skip_serializing_if = "is_false")]
    pub elevate: bool,
    /// Limit the policy to these users (compared case-insensitively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
    /// The policy applies from this time on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// The policy no longer applies from this time on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    /// A disabled policy is kept but never applies (default `true`).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// With `deny`: what the user sees and whether they may request access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_deny: Option<DenyOptions>,
}

/// Where a policy applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One computer (of the owning organization).
    Computer(String),
    /// One computer group.
    Group(String),
    /// The whole organization ("entire organization").
    Organization(String),
    /// The organization and all its descendants.
    Global(String),
}

impl Scope {
    /// The id the scope names.
    pub fn target(&self) -> &str {
        match self {
            Scope::Computer(id)
            | Scope::Group(id)
            | Scope::Organization(id)
            | Scope::Global(id) => id,
        }
    }

    /// The scope's kind as written in a bundle.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Computer(_) => "computer",
            Scope::Group(_) => "group",
            Scope::Organization(_) => "organization",
            Scope::Global(_) => "global",
        }
    }
}

/// What a policy does with a matching execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Allow (with `elevate`: allow with elevation).
    Permit,
    /// Block.
    Deny,
}
