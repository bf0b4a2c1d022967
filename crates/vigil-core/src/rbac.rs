//! Who may do what, in which tenants: the [`Principal`] of a request, the permission matrix
//! ([`Action`] × [`Role`]) and the one function that turns them into a [`TenantScope`].
//!
//! # The model (KUMA's)
//! A user or a token holds one role per tenant ([`RoleGrant`]s). The roles are ordered —
//! administrator > tenant administrator > tier-2 analyst > tier-1 analyst > read-only — and
//! the matrix is monotone: a role may do everything the roles below it may. An administrator
//! grant in the **Main** tenant makes a *general administrator*: administrator in every
//! tenant, including the ones created later (the principal is resolved per request).
//!
//! # The one scoping function
//! Handlers never build a [`TenantScope`] themselves: they call
//! [`Principal::scope_for`]`(action, requested_tenants)`, which returns the scope to pass to
//! the [`crate::MetaStore`] (and the event store), or [`Forbidden`] — HTTP 403 — when a
//! requested tenant is not one where the principal may perform the action. Asking for no
//! tenant means "all tenants where I may". The Shared tenant is added for read actions on
//! shared resources ([`Action::shared_readable`]) to everybody who may read them anywhere;
//! writing Shared resources needs a role in Shared itself.
//!
//! # Nobody changes their own roles
//! [`Principal::authorize_role_change`] refuses a change of the principal's own grants (also
//! through a token of that user), grants above the caller's own role in a tenant, and changes
//! to a user who holds, in a tenant, a role above the caller's.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::model::{Role, RoleGrant};
use crate::scope::{TenantId, TenantScope};

/// Something a principal may be allowed to do. The names (`alerts.write`) are stable: they
/// appear in 403 responses, in the audit trail and in `docs/core.md`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Action {
    /// Search events (and save searches).
    Search,
    /// Read alerts and their history.
    AlertsRead,
    /// Triage alerts: assign, change status, close, comment.
    AlertsWrite,
    /// Read incidents.
    IncidentsRead,
    /// Create and change incidents, link alerts to them.
    IncidentsWrite,
    /// Read assets.
    AssetsRead,
    /// Create, change and delete assets.
    AssetsWrite,
    /// Read content: correlation rules, normalizers, active lists, suppressions.
    RulesRead,
    /// Change content: rules, normalizers, active lists, suppressions.
    RulesWrite,
    /// Run response actions.
    ResponseRun,
    /// Read event sources, their status and monitoring policies.
    SourcesRead,
    /// Change sources and monitoring policies.
    SourcesWrite,
    /// Read users and their roles.
    UsersRead,
    /// Create, change, disable users and set their roles.
    UsersManage,
    /// Create, list and revoke API tokens of the tenant (service tokens).
    TokensManage,
    /// Read tenants.
    TenantsRead,
    /// Create, change and disable tenants.
    TenantsManage,
    /// Read the audit trail.
    AuditRead,
    /// Change the installation's configuration.
    ConfigWrite,
    /// Create and change one's own dashboards.
    DashboardsWrite,
    /// Share dashboards with the tenant, change and delete the tenant's shared ones.
    DashboardsShare,
    /// Read the storage spaces of the event store, their settings and usage.
    StorageRead,
    /// Change the retention of storage spaces.
    StorageWrite,
}

impl Action {
    /// Every action, in matrix order.
    pub const ALL: &'static [Action] = &[
        Action::Search,
        Action::AlertsRead,
        Action::AlertsWrite,
        Action::IncidentsRead,
        Action::IncidentsWrite,
        Action::AssetsRead,
        Action::AssetsWrite,
        Action::RulesRead,
        Action::RulesWrite,
        Action::ResponseRun,
        Action::SourcesRead,
        Action::SourcesWrite,
        Action::UsersRead,
        Action::UsersManage,
        Action::TokensManage,
        Action::TenantsRead,
        Action::TenantsManage,
        Action::AuditRead,
        Action::ConfigWrite,
        Action::DashboardsWrite,
        Action::DashboardsShare,
        Action::StorageRead,
        Action::StorageWrite,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Search => "search",
            Action::AlertsRead => "alerts.read",
            Action::AlertsWrite => "alerts.write",
            Action::IncidentsRead => "incidents.read",
            Action::IncidentsWrite => "incidents.write",
            Action::AssetsRead => "assets.read",
            Action::AssetsWrite => "assets.write",
            Action::RulesRead => "rules.read",
            Action::RulesWrite => "rules.write",
            Action::ResponseRun => "response.run",
            Action::SourcesRead => "sources.read",
            Action::SourcesWrite => "sources.write",
            Action::UsersRead => "users.read",
            Action::UsersManage => "users.manage",
            Action::TokensManage => "tokens.manage",
            Action::TenantsRead => "tenants.read",
            Action::TenantsManage => "tenants.manage",
            Action::AuditRead => "audit.read",
            Action::ConfigWrite => "config.write",
            Action::DashboardsWrite => "dashboards.write",
            Action::DashboardsShare => "dashboards.share",
            Action::StorageRead => "storage.read",
            Action::StorageWrite => "storage.write",
        }
    }

    /// The least role that may perform the action (the matrix: every higher role may too).
    pub fn min_role(self) -> Role {
        match self {
            Action::Search
            | Action::AlertsRead
            | Action::IncidentsRead
            | Action::AssetsRead
            | Action::RulesRead
            | Action::SourcesRead
            | Action::TenantsRead => Role::ReadOnly,
            Action::AlertsWrite | Action::DashboardsWrite => Role::Tier1Analyst,
            Action::IncidentsWrite
            | Action::AssetsWrite
            | Action::RulesWrite
            | Action::ResponseRun => Role::Tier2Analyst,
            Action::SourcesWrite
            | Action::UsersRead
            | Action::UsersManage
            | Action::TokensManage
            | Action::AuditRead
            | Action::DashboardsShare
            | Action::StorageRead => Role::TenantAdministrator,
            Action::TenantsManage | Action::ConfigWrite | Action::StorageWrite => {
                Role::Administrator
            }
        }
    }

    /// Read actions on resources the Shared tenant holds for everybody (rules, normalizers,
    /// lists, asset categories, monitoring policies): whoever may perform them in any tenant
    /// may in Shared too.
    pub fn shared_readable(self) -> bool {
        matches!(
            self,
            Action::RulesRead | Action::SourcesRead | Action::AssetsRead | Action::TenantsRead
        )
    }

    /// Installation-wide actions: only a general administrator (administrator in Main) may.
    pub fn installation_wide(self) -> bool {
        matches!(self, Action::TenantsManage | Action::ConfigWrite)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a role may do: a higher rank may do everything a lower one may.
pub fn role_rank(role: Role) -> u8 {
    match role {
        Role::ReadOnly => 0,
        Role::Tier1Analyst => 1,
        Role::Tier2Analyst => 2,
        Role::TenantAdministrator => 3,
        Role::Administrator => 4,
    }
}

/// Whether `role` may perform `action` (the matrix of `docs/core.md`).
pub fn role_allows(role: Role, action: Action) -> bool {
    role_rank(role) >= role_rank(action.min_role())
}

/// Who is calling.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A user logged in with a session.
    User {
        /// User id.
        id: String,
        /// Login name.
        username: String,
    },
    /// An API token, of a user or a service token (no user).
    Token {
        /// Token id.
        id: String,
        /// Token name.
        name: String,
        /// The user it acts for.
        user_id: Option<String>,
    },
}

/// The caller of a request, resolved once per request from a session or a token: who, and
/// which role in which tenant. Holds no secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// User or token.
    #[serde(flatten)]
    pub kind: PrincipalKind,
    /// The highest role per tenant (already expanded for a general administrator, and without
    /// disabled tenants).
    pub roles: BTreeMap<TenantId, Role>,
    /// A general administrator (administrator in Main).
    pub general_admin: bool,
    /// The user must change their password before anything else (sessions only).
    pub must_change_password: bool,
}

/// Refusal: HTTP 403. Says which action and, when one was named, which tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum Forbidden {
    /// The action is not allowed in this tenant (or the tenant does not exist for the caller).
    #[error("{action} is not allowed in tenant {tenant}")]
    Tenant {
        /// The action.
        action: &'static str,
        /// The tenant.
        tenant: TenantId,
    },
    /// The action is allowed in no tenant of the caller.
    #[error("{action} is not allowed")]
    Action {
        /// The action.
        action: &'static str,
    },
    /// Users cannot change their own roles.
    #[error("nobody changes their own roles")]
    OwnRoles,
    /// A grant above the caller's own role, or a change to a user above the caller.
    #[error("role {role} in tenant {tenant} is above the caller's")]
    AboveOwnRole {
        /// The tenant.
        tenant: TenantId,
        /// The role.
        role: Role,
    },
    /// Tokens cannot create tokens or change roles; a user must.
    #[error("{action} needs a user session, not a token")]
    NeedsUser {
        /// The action.
        action: &'static str,
    },
}

impl Principal {
    /// The principal of a user or token holding `grants`; `all_tenants` are the enabled
    /// tenants (a general administrator gets every one of them). Grants in tenants that are
    /// not in `all_tenants` (disabled or deleted) are dropped.
    pub fn new(kind: PrincipalKind, grants: &[RoleGrant], all_tenants: &[TenantId]) -> Principal {
        let general_admin = grants
            .iter()
            .any(|g| g.role == Role::Administrator && g.tenant == TenantId::main())
            && all_tenants.contains(&TenantId::main());
        let mut roles = BTreeMap::new();
        if general_admin {
            for t in all_tenants {
                roles.insert(t.clone(), Role::Administrator);
            }
        } else {
            for g in grants {
                if !all_tenants.contains(&g.tenant) {
                    continue;
                }
                let e = roles.entry(g.tenant.clone()).or_insert(g.role);
                if role_rank(g.role) > role_rank(*e) {
                    *e = g.role;
                }
            }
        }
        Principal {
            kind,
            roles,
            general_admin,
            must_change_password: false,
        }
    }

    /// The user behind the principal (a session's user or a user token's), if any.
    pub fn user_id(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::User { id, .. } => Some(id),
            PrincipalKind::Token { user_id, .. } => user_id.as_deref(),
        }
    }

    /// The actor written into audit records and histories: the username, or `token:<id>`.
    pub fn actor(&self) -> String {
        match &self.kind {
            PrincipalKind::User { username, .. } => username.clone(),
            PrincipalKind::Token { id, .. } => format!("token:{id}"),
        }
    }

    /// The role held in a tenant.
    pub fn role_in(&self, tenant: &TenantId) -> Option<Role> {
        self.roles.get(tenant).copied()
    }

    /// Whether the action is allowed in the tenant (Shared read included).
    pub fn may(&self, action: Action, tenant: &TenantId) -> bool {
        self.permitted(action).iter().any(|t| t == tenant)
    }

    /// The tenants where the action is allowed.
    fn permitted(&self, action: Action) -> Vec<TenantId> {
        if action.installation_wide() {
            return if self.general_admin {
                vec![TenantId::main()]
            } else {
                Vec::new()
            };
        }
        let mut out: Vec<TenantId> = self
            .roles
            .iter()
            .filter(|(_, r)| role_allows(**r, action))
            .map(|(t, _)| t.clone())
            .collect();
        let shared = TenantId::shared();
        if action.shared_readable() && !out.is_empty() && !out.contains(&shared) {
            out.push(shared);
        }
        out
    }

    /// **The** scoping function: the scope of tenants in which to perform `action`.
    ///
    /// * `requested` empty: every tenant where the action is allowed (Shared included for
    ///   shared-readable actions); [`Forbidden::Action`] when there is none.
    /// * otherwise exactly the requested tenants, each of which must allow the action, else
    ///   [`Forbidden::Tenant`] naming the first that does not — a 403, never an empty result.
    ///
    /// Installation-wide actions (`tenants.manage`, `config.write`) return the Main scope to a
    /// general administrator and are forbidden to everybody else.
    pub fn scope_for(
        &self,
        action: Action,
        requested: &[TenantId],
    ) -> Result<TenantScope, Forbidden> {
        let permitted = self.permitted(action);
        if requested.is_empty() {
            return TenantScope::new(permitted).map_err(|_| Forbidden::Action {
                action: action.as_str(),
            });
        }
        if let Some(t) = requested.iter().find(|t| !permitted.contains(t)) {
            return Err(Forbidden::Tenant {
                action: action.as_str(),
                tenant: t.clone(),
            });
        }
        TenantScope::new(requested.iter().cloned()).map_err(|_| Forbidden::Action {
            action: action.as_str(),
        })
    }

    /// Checks a change of `target_user_id`'s grants from `current` to `new` (the grants in
    /// the caller's tenants) and returns the scope to pass to
    /// [`crate::MetaStore::set_user_roles`]: every tenant where the caller may manage users.
    ///
    /// Refused when the target is the caller (also through the caller's own token), when the
    /// caller is a token, when a new grant is above the caller's own role in its tenant, or
    /// when the target holds a role above the caller's in a tenant the change touches.
    pub fn authorize_role_change(
        &self,
        target_user_id: &str,
        current: &[RoleGrant],
        new: &[RoleGrant],
    ) -> Result<TenantScope, Forbidden> {
        if let PrincipalKind::Token { .. } = self.kind {
            return Err(Forbidden::NeedsUser {
                action: Action::UsersManage.as_str(),
            });
        }
        if self.user_id() == Some(target_user_id) {
            return Err(Forbidden::OwnRoles);
        }
        let scope = self.scope_for(Action::UsersManage, &[])?;
        self.check_grants_within(Action::UsersManage, new)?;
        // The grants the change replaces: the target's grants in the scope tenants.
        for g in current.iter().filter(|g| scope.contains(&g.tenant)) {
            self.check_not_above(g)?;
        }
        Ok(scope)
    }

    /// Checks that every grant names a tenant where `action` is allowed and a role no higher
    /// than the caller's there (creating a user or a token with these grants); returns the
    /// scope of those tenants.
    pub fn check_grants_within(
        &self,
        action: Action,
        grants: &[RoleGrant],
    ) -> Result<TenantScope, Forbidden> {
        let tenants: Vec<TenantId> = grants.iter().map(|g| g.tenant.clone()).collect();
        let scope = self.scope_for(action, &tenants)?;
        for g in grants {
            self.check_not_above(g)?;
        }
        Ok(scope)
    }

    fn check_not_above(&self, g: &RoleGrant) -> Result<(), Forbidden> {
        let mine = self.role_in(&g.tenant).map(role_rank);
        if mine.is_none_or(|m| m < role_rank(g.role)) {
            return Err(Forbidden::AboveOwnRole {
                tenant: g.tenant.clone(),
                role: g.role,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> TenantId {
        TenantId::new(id).unwrap_or_else(|_| TenantId::main())
    }

    fn g(tenant: &str, role: Role) -> RoleGrant {
        RoleGrant {
            tenant: t(tenant),
            role,
        }
    }

    fn all() -> Vec<TenantId> {
        vec![t("main"), t("shared"), t("acme"), t("globex")]
    }

    fn user(id: &str, grants: &[RoleGrant]) -> Principal {
        Principal::new(
            PrincipalKind::User {
                id: id.into(),
                username: id.into(),
            },
            grants,
            &all(),
        )
    }

    fn names(s: &TenantScope) -> Vec<&str> {
        s.iter().map(|t| t.as_str()).collect()
    }

    #[test]
    fn matrix_is_monotone_and_matches_the_documented_table() {
        for &a in Action::ALL {
            let allowed: Vec<bool> = [
                Role::ReadOnly,
                Role::Tier1Analyst,
                Role::Tier2Analyst,
                Role::TenantAdministrator,
                Role::Administrator,
            ]
            .iter()
            .map(|r| role_allows(*r, a))
            .collect();
            assert!(allowed.windows(2).all(|w| w[0] <= w[1]), "{a}");
            assert!(allowed[4], "administrators may {a}");
        }
        assert!(role_allows(Role::ReadOnly, Action::AlertsRead));
        assert!(!role_allows(Role::ReadOnly, Action::AlertsWrite));
        assert!(role_allows(Role::Tier1Analyst, Action::AlertsWrite));
        assert!(!role_allows(Role::Tier1Analyst, Action::IncidentsWrite));
        assert!(role_allows(Role::Tier2Analyst, Action::RulesWrite));
        assert!(!role_allows(Role::Tier2Analyst, Action::UsersManage));
        assert!(role_allows(Role::TenantAdministrator, Action::TokensManage));
        assert!(!role_allows(
            Role::TenantAdministrator,
            Action::TenantsManage
        ));
        // The table in docs/core.md lists every action name.
        let doc = include_str!("../../../docs/core.md");
        for &a in Action::ALL {
            assert!(
                doc.contains(&format!("| `{}` |", a.as_str())),
                "{a} in docs"
            );
        }
    }

    #[test]
    fn scope_for_returns_the_permitted_tenants_or_403() {
        let p = user(
            "u1",
            &[g("acme", Role::Tier1Analyst), g("globex", Role::ReadOnly)],
        );
        let s = p
            .scope_for(Action::AlertsRead, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&s), ["acme", "globex"]);
        let s = p
            .scope_for(Action::AlertsWrite, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&s), ["acme"]);
        // Naming a tenant where the action is not allowed is a 403, not a smaller scope.
        assert_eq!(
            p.scope_for(Action::AlertsWrite, &[t("acme"), t("globex")]),
            Err(Forbidden::Tenant {
                action: "alerts.write",
                tenant: t("globex")
            })
        );
        assert!(matches!(
            p.scope_for(Action::AlertsRead, &[t("initech")]),
            Err(Forbidden::Tenant { .. })
        ));
        assert_eq!(
            p.scope_for(Action::IncidentsWrite, &[]),
            Err(Forbidden::Action {
                action: "incidents.write"
            })
        );
        let s = p
            .scope_for(Action::AlertsRead, &[t("globex")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&s), ["globex"]);
    }

    #[test]
    fn shared_is_readable_by_all_for_shared_resources_only() {
        let p = user("u1", &[g("acme", Role::ReadOnly)]);
        let s = p
            .scope_for(Action::RulesRead, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&s), ["acme", "shared"]);
        assert!(p.scope_for(Action::RulesRead, &[t("shared")]).is_ok());
        // Alerts are not shared resources, and writing Shared needs a role there.
        assert!(p.scope_for(Action::AlertsRead, &[t("shared")]).is_err());
        let w = user("u2", &[g("acme", Role::Tier2Analyst)]);
        assert!(w.scope_for(Action::RulesWrite, &[t("shared")]).is_err());
        let sw = user("u3", &[g("shared", Role::Tier2Analyst)]);
        assert!(sw.scope_for(Action::RulesWrite, &[t("shared")]).is_ok());
    }

    #[test]
    fn general_administrator_is_administrator_everywhere() {
        let p = user("root", &[g("main", Role::Administrator)]);
        assert!(p.general_admin);
        let s = p
            .scope_for(Action::UsersManage, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names(&s), ["acme", "globex", "main", "shared"]);
        assert!(p.scope_for(Action::TenantsManage, &[]).is_ok());
        assert!(p.scope_for(Action::ConfigWrite, &[]).is_ok());
        // An administrator of a customer tenant is not a general administrator.
        let a = user("a", &[g("acme", Role::Administrator)]);
        assert!(!a.general_admin);
        assert!(a.scope_for(Action::TenantsManage, &[]).is_err());
        assert!(a.scope_for(Action::ConfigWrite, &[]).is_err());
        assert!(a.scope_for(Action::UsersManage, &[t("globex")]).is_err());
    }

    #[test]
    fn disabled_tenants_drop_out_and_the_highest_role_wins() {
        let grants = [
            g("acme", Role::ReadOnly),
            g("acme", Role::Tier2Analyst),
            g("gone", Role::Administrator),
        ];
        let p = user("u", &grants);
        assert_eq!(p.role_in(&t("acme")), Some(Role::Tier2Analyst));
        assert_eq!(p.role_in(&t("gone")), None);
    }

    #[test]
    fn nobody_changes_their_own_roles() {
        let admin = user("root", &[g("main", Role::Administrator)]);
        let mine = [g("main", Role::Administrator)];
        assert_eq!(
            admin.authorize_role_change("root", &mine, &[g("acme", Role::ReadOnly)]),
            Err(Forbidden::OwnRoles)
        );
        assert!(
            admin
                .authorize_role_change("u2", &[], &[g("acme", Role::Tier1Analyst)])
                .is_ok()
        );
        // A token of the same user cannot either (tokens never change roles).
        let tok = Principal::new(
            PrincipalKind::Token {
                id: "t1".into(),
                name: "ci".into(),
                user_id: Some("root".into()),
            },
            &mine,
            &all(),
        );
        assert!(matches!(
            tok.authorize_role_change("u2", &[], &[]),
            Err(Forbidden::NeedsUser { .. })
        ));
    }

    #[test]
    fn tenant_administrators_cannot_grant_or_touch_higher_roles() {
        let ta = user("ta", &[g("acme", Role::TenantAdministrator)]);
        assert!(
            ta.authorize_role_change("u2", &[], &[g("acme", Role::Tier2Analyst)])
                .is_ok()
        );
        assert!(matches!(
            ta.authorize_role_change("u2", &[], &[g("acme", Role::Administrator)]),
            Err(Forbidden::AboveOwnRole { .. })
        ));
        assert!(matches!(
            ta.authorize_role_change("u2", &[], &[g("globex", Role::ReadOnly)]),
            Err(Forbidden::Tenant { .. })
        ));
        // Demoting an administrator of the tenant is above a tenant administrator.
        assert!(matches!(
            ta.authorize_role_change("boss", &[g("acme", Role::Administrator)], &[]),
            Err(Forbidden::AboveOwnRole { .. })
        ));
        // Grants the caller cannot see (other tenants) do not matter.
        assert!(
            ta.authorize_role_change("u3", &[g("globex", Role::Administrator)], &[])
                .is_ok()
        );
        let analyst = user("an", &[g("acme", Role::Tier2Analyst)]);
        assert!(
            analyst
                .authorize_role_change("u2", &[], &[g("acme", Role::ReadOnly)])
                .is_err()
        );
    }

    #[test]
    fn principal_serializes_without_secrets_and_names_the_actor() {
        let p = user("u1", &[g("acme", Role::ReadOnly)]);
        assert_eq!(p.actor(), "u1");
        let j = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(j["kind"], "user");
        assert_eq!(j["roles"]["acme"], "read_only");
    }
}
