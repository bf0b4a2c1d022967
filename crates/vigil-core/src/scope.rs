//! Tenant identity and the tenant scope every read of tenant data must carry.

use std::collections::BTreeSet;
use std::fmt;

use crate::MetaError;

/// KUMA's "Main" tenant: where Vigil's own audit and monitoring events live, and the tenant of
/// events when none is configured (the same name as `vigil_event::DEFAULT_TENANT`).
pub const MAIN_TENANT: &str = "main";
/// KUMA's "Shared" tenant: resources (asset categories, monitoring policies, saved searches)
/// that every tenant may use.
pub const SHARED_TENANT: &str = vigil_event::SHARED_TENANT;

/// A validated tenant id: `vigil_event::TenantId`, the one rule for configuration, the event
/// store's directories and this store, so one id names them all.
pub use vigil_event::TenantId;

impl From<vigil_event::InvalidTenant> for MetaError {
    fn from(e: vigil_event::InvalidTenant) -> MetaError {
        MetaError::Invalid {
            field: "tenant".into(),
            reason: format!("{:?}: {}", e.name, e.reason),
        }
    }
}

/// The set of tenants a request, a token or a background job may see.
///
/// Every [`crate::MetaStore`] method that reads or changes tenant data takes one, and the SQL
/// backends turn it into the `tenant_id IN (...)` condition in exactly one function, so no
/// handler can forget the filter. A scope is never empty and has no "all tenants" wildcard:
/// an administrator's scope is the explicit list of tenants (built from
/// [`crate::MetaStore::all_tenant_ids`]), and a background job names the tenant it works for.
/// Whether the Shared tenant is in a scope is the caller's choice (KUMA's "hide shared
/// resources").
#[derive(Clone, PartialEq, Eq)]
pub struct TenantScope {
    tenants: BTreeSet<TenantId>,
}

impl TenantScope {
    /// A scope over the given tenants; an empty set is an error.
    pub fn new(tenants: impl IntoIterator<Item = TenantId>) -> Result<TenantScope, MetaError> {
        let tenants: BTreeSet<TenantId> = tenants.into_iter().collect();
        if tenants.is_empty() {
            return Err(MetaError::Invalid {
                field: "scope".into(),
                reason: "a tenant scope names at least one tenant".into(),
            });
        }
        Ok(TenantScope { tenants })
    }

    /// A scope over one tenant.
    pub fn single(tenant: TenantId) -> TenantScope {
        TenantScope {
            tenants: BTreeSet::from([tenant]),
        }
    }

    /// Whether `tenant` is in the scope.
    pub fn contains(&self, tenant: &TenantId) -> bool {
        self.tenants.contains(tenant)
    }

    /// The tenants, in order.
    pub fn iter(&self) -> impl Iterator<Item = &TenantId> {
        self.tenants.iter()
    }

    /// How many tenants the scope holds (at least one).
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// Always false: a scope is never empty (present for API symmetry with `len`).
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }

    /// `Ok` when `tenant` is in the scope, else [`MetaError::OutOfScope`]. Writes that name a
    /// tenant (create an incident for tenant T) check it with this.
    pub fn check(&self, tenant: &TenantId) -> Result<(), MetaError> {
        if self.contains(tenant) {
            Ok(())
        } else {
            Err(MetaError::OutOfScope {
                tenant: tenant.clone(),
            })
        }
    }
}

impl fmt::Debug for TenantScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.tenants.iter().map(TenantId::as_str))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_validated() {
        assert!(TenantId::new("acme-1").is_ok());
        for bad in ["", "-x", "Acme", "a b", "../x", &"x".repeat(65)] {
            assert!(TenantId::new(bad).is_err(), "{bad:?}");
        }
        let parsed: Result<TenantId, _> = serde_json::from_str("\"UP\"");
        assert!(parsed.is_err());
    }

    #[test]
    fn scopes_are_never_empty() {
        assert!(TenantScope::new([]).is_err());
        let s = TenantScope::new([TenantId::main(), TenantId::shared(), TenantId::main()]);
        let s = s.unwrap_or_else(|_| TenantScope::single(TenantId::main()));
        assert_eq!(s.len(), 2);
        assert!(s.check(&TenantId::main()).is_ok());
        let other = TenantId::new("b").unwrap_or_else(|_| TenantId::main());
        assert!(matches!(s.check(&other), Err(MetaError::OutOfScope { .. })));
    }
}
