//! The permission catalogue of administrators (SPEC §8).
//!
//! Each permission has a stable id (`approve-group`) used in commands and storage, and
//! the name administrators know it by (`Approve for Group`). Either parses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! catalogue {
    ($($(#[doc = $doc:literal])* $variant:ident => $id:literal, $name:literal;)*) => {
        /// A permission an administrator holds for an organization.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            /// The stable id, e.g. `approve-group`.
            pub fn id(self) -> &'static str {
                match self { $(Permission::$variant => $id,)* }
            }

            /// The name administrators know it by, e.g. `Approve for Group`.
            pub fn name(self) -> &'static str {
                match self { $(Permission::$variant => $name,)* }
            }
        }
    };
}

catalogue! {
    /// Application and storage requests at organization, group or computer scope.
    ApproveOrganization => "approve-organization", "Approve for Entire Organization";
    /// Application and storage requests at group or computer scope.
    ApproveGroup => "approve-group", "Approve for Group";
    /// Application and storage requests at computer scope.
    ApproveComputer => "approve-computer", "Approve for Single Computer";
    /// Application requests at computer scope.
    ApproveComputerApplication => "approve-computer-application", "Approve for Single Computer (Application Only)";
    /// Elevation requests and elevating approvals; effective only with an approve
    /// permission, within that permission's scope.
    ElevationAdministrator => "elevation-administrator", "Elevation Administrator";
    /// List the approval queue, but not open a request or its file.
    ViewApprovals => "view-approvals", "View Approvals";
    /// See administrators.
    ViewAdministrators => "view-administrators", "View Administrators";
    /// Add, invite, delete administrators and edit their details, not their permissions.
    EditAdministrators => "edit-administrators", "Edit Administrators";
    /// Change administrators' permissions; effective only with View or Edit
    /// Administrators.
    ChangePermission => "change-permission", "Change Permission";
    /// Assign roles to administrators.
    AssignRoles => "assign-roles", "Assign Roles";
    /// Define roles.
    RoleAdministrator => "role-administrator", "Role Administrator";
    /// Edit applications and their file rules.
    EditApplications => "edit-applications", "Edit Application Control Applications";
    /// Edit policies.
    EditPolicies => "edit-policies", "Edit Application Control Policies";
    /// Add rules to an existing application; effective only with Edit Applications.
    AllowApplicationMerge => "allow-application-merge", "Allow Application Merge";
    /// Manage tags.
    ManageTags => "manage-tags", "Manage Tags";
    /// Edit computer groups.
    EditComputerGroups => "edit-computer-groups", "Edit Computer Groups";
    /// Everything on computers except maintenance mode; with an approve permission,
    /// maintenance mode too.
    EditComputers => "edit-computers", "Edit Computers";
    /// See override codes.
    ViewOverrideCodes => "view-override-codes", "View Override Codes";
    /// Everything, on the organization and its descendants, including the system audit.
    SuperAdmin => "super-admin", "Super Admin";
    /// Everything on the descendants only, not on the organization it is set on, and
    /// no system audit.
    SuperAdminChild => "super-admin-child", "Super Admin - Child";
    /// Everything on the organization it is set on only, not its descendants.
    SuperAdminParentOnly => "super-admin-parent-only", "Super Admin - Parent Only";
    /// Edit integrations.
    EditIntegrations => "edit-integrations", "Edit Integrations";
    /// View reports.
    ViewReports => "view-reports", "View Reports";
    /// View the system audit (administrators' actions).
    ViewSystemAudit => "view-system-audit", "View System Audit";
    /// View and search decisions and file history, without permitting or denying.
    ViewUnifiedAudit => "view-unified-audit", "View Unified Audit";
    /// Edit organizations; may deploy policies.
    EditOrganizations => "edit-organizations", "Edit Organizations";
    /// View organizations; may deploy policies.
    ViewOrganizations => "view-organizations", "View Organizations";
    /// Edit storage control policies.
    EditStoragePolicies => "edit-storage-policies", "Edit Storage Control Policies";
    /// Edit storage control storage devices.
    EditStorageDevices => "edit-storage-devices", "Edit Storage Control Storage Devices";
    /// Edit network control policies.
    EditNetworkPolicies => "edit-network-policies", "Edit Network Control Policies";
    /// Edit network control authorization hosts.
    EditNcAuthorizationHosts => "edit-nc-authorization-hosts", "Edit NC Authorization Hosts";
    /// Edit the configuration manager.
    EditConfigurationManager => "edit-configuration-manager", "Edit Configuration Manager";
    /// View the configuration manager.
    ViewConfigurationManager => "view-configuration-manager", "View Configuration Manager";
    /// Edit ops.
    EditOps => "edit-ops", "Edit Ops";
    /// View ops.
    ViewOps => "view-ops", "View Ops";
    /// Edit billing.
    EditBilling => "edit-billing", "Edit Billing";
    /// View billing.
    ViewBilling => "view-billing", "View Billing";
    /// Edit login settings.
    EditLoginSettings => "edit-login-settings", "Edit Login Settings";
}

impl Permission {
    /// The permissions that approve requests (of some kind, at some scope).
    pub const APPROVE: &'static [Permission] = &[
        Permission::ApproveOrganization,
        Permission::ApproveGroup,
        Permission::ApproveComputer,
        Permission::ApproveComputerApplication,
    ];

    /// The three Super Admin variants.
    pub fn is_super_admin(self) -> bool {
        matches!(
            self,
            Permission::SuperAdmin | Permission::SuperAdminChild | Permission::SuperAdminParentOnly
        )
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A permission name or id that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a permission; `portcullis permissions` lists them")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    /// Accepts the id (`approve-group`) or the name (`Approve for Group`), ignoring case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.id().eq_ignore_ascii_case(text) || p.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownPermission(text.to_owned()))
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for &p in Permission::ALL {
            assert!(seen.insert(p.id()), "{}", p.id());
            assert!(seen.insert(p.name()), "{}", p.name());
            assert_eq!(p.id().parse::<Permission>(), Ok(p));
            assert_eq!(p.name().to_uppercase().parse::<Permission>(), Ok(p));
        }
        // SPEC §8: 6 approvals, 5 administrators, 4 application control, 3 computers,
        // 7 general, 2 organizations, 2 storage, 2 network, 4 configuration and ops,
        // 2 billing, 1 login settings.
        assert_eq!(Permission::ALL.len(), 38);
    }

    #[test]
    fn an_unknown_name_says_where_to_look() {
        let error = "approve everything".parse::<Permission>().unwrap_err();
        assert!(error.to_string().contains("`approve everything`"));
    }
}
