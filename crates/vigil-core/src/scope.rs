//! Tenant identity and the tenant scope every read of tenant data must carry.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::MetaError;

/// KUMA's "Main" tenant: where Vigil's own audit and monitoring events live, and the tenant of
/// events when none is configured (the same name as `vigil_event::DEFAULT_TENANT`).
pub const MAIN_TENANT: &str = "main";
/// KUMA's "Shared" tenant: resources (asset categories, monitoring policies, saved searches)
/// that every tenant may use.
pub const SHARED_TENANT: &str = "shared";

/// A validated tenant id: 1–64 characters of `a-z`, `0-9`, `_`, `-`, not starting with `-`
/// (the same rule as the event store's tenant directories, so one id names both).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for TenantId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[a-z0-9_][a-z0-9_-]{0,63}$"))
            .description(Some("A tenant id"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for TenantId {}

impl TenantId {
    /// Validates a tenant id.
    pub fn new(id: &str) -> Result<TenantId, MetaError> {
        let bad = |reason: &str| {
            Err(MetaError::Invalid {
                field: "tenant".into(),
                reason: format!("{:?}: {reason}", id.chars().take(80).collect::<String>()),
            })
        };
        if id.is_empty() || id.len() > 64 {
            return bad("must be 1 to 64 characters");
        }
        if id.starts_with('-') {
            return bad("must not start with '-'");
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return bad("only a-z, 0-9, '_' and '-' are allowed");
        }
        Ok(TenantId(id.to_owned()))
    }

    /// The Main tenant.
    pub fn main() -> TenantId {
        TenantId(MAIN_TENANT.to_owned())
    }

    /// The Shared tenant.
    pub fn shared() -> TenantId {
        TenantId(SHARED_TENANT.to_owned())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = MetaError;
    fn try_from(s: String) -> Result<Self, MetaError> {
        TenantId::new(&s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
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
            .entries(self.tenants.iter().map(|t| &t.0))
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
