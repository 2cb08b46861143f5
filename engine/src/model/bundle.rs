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
///
/// In a bundle's JSON every condition is a field of the rule (`sha256`, `certificate`,
/// `path`, `process`, `created_by`). In memory the conditions other than the SHA-256
/// are boxed together ([`RuleConditions`]): most rules of a large bundle are a SHA-256
/// alone, and a rule is then 48 bytes, where it would be 96 with the others inline.
/// Build one with [`FileRule::hash`] and the `with_` methods, and read the boxed
/// conditions with [`FileRule::path`] and the like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRule {
    /// The file's SHA-256 (64 hexadecimal digits).
    pub sha256: Option<Sha256>,
    /// The other conditions; `None` when there are none.
    pub conditions: Option<Box<RuleConditions>>,
}

/// The conditions of a [`FileRule`] other than its SHA-256.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleConditions {
    /// The file's signer; only a valid signature matches.
    // Boxed again: most rules with conditions besides a hash are path rules.
    pub certificate: Option<Box<CertificateCondition>>,
    /// A pattern on the file's full path.
    pub path: Option<Box<str>>,
    /// A pattern on the parent (calling) process's path.
    pub process: Option<Box<str>>,
    /// A pattern on the path of the process that wrote the file.
    pub created_by: Option<Box<str>>,
}

impl RuleConditions {
    fn is_empty(&self) -> bool {
        self.certificate.is_none()
            && self.path.is_none()
            && self.process.is_none()
            && self.created_by.is_none()
    }
}

impl FileRule {
    /// A rule on the file's SHA-256 alone.
    pub fn hash(sha256: Sha256) -> FileRule {
        FileRule {
            sha256: Some(sha256),
            conditions: None,
        }
    }

    /// The rule with a condition on the file's signer.
    pub fn with_certificate(mut self, certificate: CertificateCondition) -> FileRule {
        self.conditions_mut().certificate = Some(Box::new(certificate));
        self
    }

    /// The rule with a pattern on the file's full path.
    pub fn with_path(mut self, pattern: impl Into<Box<str>>) -> FileRule {
        self.conditions_mut().path = Some(pattern.into());
        self
    }

    /// The rule with a pattern on the parent process's path.
    pub fn with_process(mut self, pattern: impl Into<Box<str>>) -> FileRule {
        self.conditions_mut().process = Some(pattern.into());
        self
    }

    /// The rule with a pattern on the path of the process that wrote the file.
    pub fn with_created_by(mut self, pattern: impl Into<Box<str>>) -> FileRule {
        self.conditions_mut().created_by = Some(pattern.into());
        self
    }

    fn conditions_mut(&mut self) -> &mut RuleConditions {
        self.conditions.get_or_insert_with(Box::default)
    }

    /// The condition on the file's signer.
    pub fn certificate(&self) -> Option<&CertificateCondition> {
        self.conditions.as_ref()?.certificate.as_deref()
    }

    /// The pattern on the file's full path.
    pub fn path(&self) -> Option<&str> {
        self.conditions.as_ref()?.path.as_deref()
    }

    /// The pattern on the parent process's path.
    pub fn process(&self) -> Option<&str> {
        self.conditions.as_ref()?.process.as_deref()
    }

    /// The pattern on the path of the process that wrote the file.
    pub fn created_by(&self) -> Option<&str> {
        self.conditions.as_ref()?.created_by.as_deref()
    }
}

// A `FileRule` as a bundle writes it, every condition a field; its doc comment is the
// schema's description of a rule.
/// A conjunction of conditions on an execution; at least one is required.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "FileRule")]
struct FileRuleFields {
    /// The file's SHA-256 (64 hexadecimal digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<Sha256>,
    /// The file's signer; only a valid signature matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<CertificateCondition>,
    /// A pattern on the file's full path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<Box<str>>,
    /// A pattern on the parent (calling) process's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    process: Option<Box<str>>,
    /// A pattern on the path of the process that wrote the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_by: Option<Box<str>>,
}

/// The same fields, borrowed from a [`FileRule`] to write it.
#[derive(Serialize)]
struct FileRuleFieldsRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<&'a Sha256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<&'a CertificateCondition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<&'a str>,
}

impl<'de> Deserialize<'de> for FileRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = FileRuleFields::deserialize(deserializer)?;
        let conditions = RuleConditions {
            certificate: fields.certificate.map(Box::new),
            path: fields.path,
            process: fields.process,
            created_by: fields.created_by,
        };
        Ok(FileRule {
            sha256: fields.sha256,
            conditions: (!conditions.is_empty()).then(|| Box::new(conditions)),
        })
    }
}

impl Serialize for FileRule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        FileRuleFieldsRef {
            sha256: self.sha256.as_ref(),
            certificate: self.certificate(),
            path: self.path(),
            process: self.process(),
            created_by: self.created_by(),
        }
        .serialize(serializer)
    }
}

impl JsonSchema for FileRule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        FileRuleFields::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        FileRuleFields::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        FileRuleFields::json_schema(generator)
    }
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

#[cfg(test)]
mod tests {
    use super::{CertificateCondition, FileRule, Sha256};

    fn read(json: &str) -> Result<FileRule, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn a_rule_reads_and_writes_its_conditions_as_fields() {
        let hash = Sha256([7; 32]);
        let hex = "07".repeat(32);
        // A hash alone has nothing boxed.
        let rule = read(&format!(r#"{{"sha256": "{hex}"}}"#)).unwrap();
        assert_eq!(rule, FileRule::hash(hash));
        assert!(rule.conditions.is_none());
        let condition = CertificateCondition {
            thumbprint: Some(hash),
            subject: None,
            issuer: None,
        };
        let full = FileRule::hash(hash)
            .with_certificate(condition.clone())
            .with_path(r"C:\Tools\*")
            .with_process(r"C:\Windows\explorer.exe")
            .with_created_by("/usr/bin/curl");
        let json = serde_json::to_value(&full).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "sha256": hex,
                "certificate": {"thumbprint": hex},
                "path": r"C:\Tools\*",
                "process": r"C:\Windows\explorer.exe",
                "created_by": "/usr/bin/curl",
            })
        );
        let back: FileRule = serde_json::from_value(json).unwrap();
        assert_eq!(back, full);
        assert_eq!(back.certificate(), Some(&condition));
        assert_eq!(back.path(), Some(r"C:\Tools\*"));
        assert_eq!(back.process(), Some(r"C:\Windows\explorer.exe"));
        assert_eq!(back.created_by(), Some("/usr/bin/curl"));
        // A path alone: written without the fields it lacks.
        let path = FileRule::default().with_path("/opt/x/*");
        assert_eq!(
            serde_json::to_string(&path).unwrap(),
            r#"{"path":"/opt/x/*"}"#
        );
        assert_eq!(FileRule::default().path(), None);
    }

    #[test]
    fn a_rule_with_an_unknown_field_is_refused_with_its_name() {
        let error = read(r#"{"path": "/x", "paht": "/y"}"#).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("unknown field `paht`"), "{message}");
        assert!(message.contains("`created_by`"), "{message}");
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_rule_is_small() {
        // The reason the conditions besides the hash are boxed together.
        assert_eq!(std::mem::size_of::<FileRule>(), 48);
    }
}
