//! LDAP bind authentication: find the user's DN with the service account, bind as the user
//! with the password, read the groups (a group search or the user's `memberOf`), map them to
//! tenant roles by configuration.

use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};

use super::config::ValidLdapConfig;
use super::secret::Secret;
use crate::model::RoleGrant;

/// A TLS client trusting only the configured CA certificates (ring: the provider Vigil
/// installs, named here so that the directory does not depend on the process default).
fn tls_config(cfg: &ValidLdapConfig) -> Option<std::sync::Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for der in &cfg.ca_certs {
        if let Err(e) = roots.add(rustls::pki_types::CertificateDer::from(der.clone())) {
            tracing::warn!(error = %e, "LDAP CA certificate skipped");
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => Some(std::sync::Arc::new(
            b.with_root_certificates(roots).with_no_client_auth(),
        )),
        Err(e) => {
            tracing::error!(error = %e, "LDAP TLS configuration refused; using the system's roots");
            None
        }
    }
}

/// LDAP result code of a failed bind (RFC 4511 A.1).
const INVALID_CREDENTIALS: u32 = 49;
/// Most groups read for one user.
const MAX_GROUPS: i32 = 1000;

/// The directory did not answer or refused the service account: logins through LDAP fail
/// (local users are not affected). Never carries a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LDAP: {0}")]
pub struct LdapError(pub String);

/// A user the directory authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapIdentity {
    /// The user's DN.
    pub dn: String,
    /// Display name (the configured attribute, else the login name).
    pub display_name: String,
    /// E-mail, when the directory has one.
    pub email: Option<String>,
    /// The groups found (DNs, lowercased).
    pub groups: Vec<String>,
    /// The grants the groups map to (may be empty: no access).
    pub grants: Vec<RoleGrant>,
}

/// An LDAP directory to authenticate against.
#[derive(Debug, Clone)]
pub struct LdapDirectory {
    cfg: ValidLdapConfig,
    /// TLS with the configured CA as the only trust anchors; `None`: the system's roots.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl LdapDirectory {
    /// A directory from validated settings (nothing is contacted yet).
    pub fn new(cfg: ValidLdapConfig) -> LdapDirectory {
        let tls = (!cfg.ca_certs.is_empty())
            .then(|| tls_config(&cfg))
            .flatten();
        LdapDirectory { cfg, tls }
    }

    fn uses_tls(&self) -> bool {
        self.cfg.starttls || self.cfg.url.starts_with("ldaps://")
    }

    /// The connection error, with what to do when it is the certificate.
    fn connect_error(&self, e: &ldap3::LdapError) -> LdapError {
        let url = &self.cfg.url;
        let text = e.to_string();
        if self.uses_tls() && (text.contains("certificate") || text.contains("Certificate")) {
            let fix = match &self.cfg.ca_file {
                Some(f) => format!(
                    "it is not signed by a CA of auth.ldap.ca_file ({f}), or does not name the host"
                ),
                None => "set auth.ldap.ca_file to the CA that signed it".to_owned(),
            };
            return LdapError(format!(
                "TLS to {url}: the directory's certificate was refused ({text}); {fix}"
            ));
        }
        if self.uses_tls()
            && (text.contains("tls") || text.contains("TLS") || text.contains("handshake"))
        {
            return LdapError(format!("TLS to {url} failed: {text}"));
        }
        LdapError(format!("connect to {url}: {text}"))
    }

    /// Authenticates `username` with `password`: `Ok(None)` for an unknown user, an ambiguous
    /// name or a wrong password; `Err` when the directory cannot be used.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &Secret,
    ) -> Result<Option<LdapIdentity>, LdapError> {
        // An empty password is an unauthenticated bind (RFC 4513 5.1.2), which servers accept:
        // it must never count as a login.
        if password.expose().is_empty() || username.is_empty() || username.len() > 256 {
            return Ok(None);
        }
        let t = self.cfg.timeout;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(t)
            .set_starttls(self.cfg.starttls);
        if let Some(c) = &self.tls {
            settings = settings.set_config(c.clone());
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.cfg.url)
            .await
            .map_err(|e| self.connect_error(&e))?;
        let driver = tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        let out = self.run(&mut ldap, username, password, t).await;
        let _ = ldap.with_timeout(t).unbind().await;
        driver.abort();
        out
    }

    async fn service_bind(&self, ldap: &mut ldap3::Ldap, t: Duration) -> Result<(), LdapError> {
        let (dn, pw) = match (&self.cfg.bind_dn, &self.cfg.bind_password) {
            (Some(dn), Some(pw)) => (dn.as_str(), pw.as_str()),
            _ => ("", ""),
        };
        ldap.with_timeout(t)
            .simple_bind(dn, pw)
            .await
            .and_then(|r| r.success())
            .map_err(|e| LdapError(format!("service bind as {dn:?}: {e}")))?;
        Ok(())
    }

    async fn run(
        &self,
        ldap: &mut ldap3::Ldap,
        username: &str,
        password: &Secret,
        t: Duration,
    ) -> Result<Option<LdapIdentity>, LdapError> {
        self.service_bind(ldap, t).await?;
        let filter = self
            .cfg
            .user_filter
            .replace("{username}", &ldap_escape(username));
        let mut attrs = vec![
            self.cfg.display_name_attribute.as_str(),
            self.cfg.email_attribute.as_str(),
        ];
        if self.cfg.group_base.is_none() {
            attrs.push("memberOf");
        }
        let (entries, _) = ldap
            .with_timeout(t)
            .search(&self.cfg.user_base, Scope::Subtree, &filter, attrs)
            .await
            .and_then(|r| r.success())
            .map_err(|e| LdapError(format!("user search under {:?}: {e}", self.cfg.user_base)))?;
        let mut users: Vec<SearchEntry> = entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .filter_map(construct)
            .collect();
        if users.len() != 1 {
            if users.len() > 1 {
                tracing::warn!(
                    matches = users.len(),
                    "LDAP user filter matches several entries: login refused"
                );
            }
            return Ok(None);
        }
        let Some(user) = users.pop() else {
            return Ok(None);
        };
        // The password check: a bind as the user.
        match ldap
            .with_timeout(t)
            .simple_bind(&user.dn, password.expose())
            .await
        {
            Ok(r) if r.rc == 0 => {}
            Ok(r) if r.rc == INVALID_CREDENTIALS => return Ok(None),
            Ok(r) => return Err(LdapError(format!("bind as user: result code {}", r.rc))),
            Err(e) => return Err(LdapError(format!("bind as user: {e}"))),
        }
        let first = |attr: &str| {
            user.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attr))
                .and_then(|(_, v)| v.first().cloned())
        };
        let display_name =
            first(&self.cfg.display_name_attribute).unwrap_or_else(|| username.into());
        let email = first(&self.cfg.email_attribute);
        let groups: Vec<String> = match &self.cfg.group_base {
            Some(base) => {
                // Groups are read with the service account, whatever the user may read.
                self.service_bind(ldap, t).await?;
                let filter = self
                    .cfg
                    .group_filter
                    .replace("{dn}", &ldap_escape(user.dn.as_str()))
                    .replace("{username}", &ldap_escape(username));
                let (entries, _) = ldap
                    .with_timeout(t)
                    .with_search_options(ldap3::SearchOptions::new().sizelimit(MAX_GROUPS))
                    .search(base, Scope::Subtree, &filter, vec!["1.1"])
                    .await
                    .and_then(|r| r.non_error())
                    .map_err(|e| LdapError(format!("group search under {base:?}: {e}")))?;
                entries
                    .into_iter()
                    .filter(|e| !e.is_ref() && !e.is_intermediate())
                    .filter_map(construct)
                    .map(|e| e.dn.to_lowercase())
                    .collect()
            }
            None => user
                .attrs
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("memberOf"))
                .flat_map(|(_, v)| v.iter().map(|g| g.to_lowercase()))
                .collect(),
        };
        let grants = self.map_groups(&groups);
        Ok(Some(LdapIdentity {
            dn: user.dn,
            display_name,
            email,
            groups,
            grants,
        }))
    }

    /// The grants of a set of groups (DNs, lowercased): a mapping matches a group by its full
    /// DN or by its `cn`.
    pub fn map_groups(&self, groups: &[String]) -> Vec<RoleGrant> {
        let mut out: Vec<RoleGrant> = Vec::new();
        for (group, tenant, role) in &self.cfg.roles {
            let hit = groups.iter().any(|g| {
                g == group
                    || g.split(',')
                        .next()
                        .and_then(|rdn| rdn.trim().strip_prefix("cn="))
                        .is_some_and(|cn| cn == group)
            });
            if hit {
                out.push(RoleGrant {
                    tenant: tenant.clone(),
                    role: *role,
                });
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Parses a search entry; ldap3 panics on malformed BER from the server, which must not take
/// the process down.
fn construct(e: ldap3::ResultEntry) -> Option<SearchEntry> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(e))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use crate::scope::TenantId;

    #[test]
    fn groups_map_by_dn_or_cn() {
        let cfg = ValidLdapConfig {
            starttls: false,
            ca_file: None,
            ca_certs: Vec::new(),
            url: "ldap://127.0.0.1:1".into(),
            bind_dn: None,
            bind_password: None,
            user_base: "dc=x".into(),
            user_filter: "(uid={username})".into(),
            display_name_attribute: "cn".into(),
            email_attribute: "mail".into(),
            group_base: None,
            group_filter: String::new(),
            roles: vec![
                (
                    "cn=soc,ou=groups,dc=x".into(),
                    TenantId::main(),
                    Role::Tier1Analyst,
                ),
                ("admins".into(), TenantId::main(), Role::Administrator),
            ],
            timeout: Duration::from_secs(1),
        };
        let d = LdapDirectory::new(cfg);
        let g = d.map_groups(&["cn=soc,ou=groups,dc=x".into()]);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].role, Role::Tier1Analyst);
        let g = d.map_groups(&["cn=admins,ou=other,dc=x".into(), "cn=x".into()]);
        assert_eq!(g[0].role, Role::Administrator);
        assert!(d.map_groups(&["cn=socks,dc=x".into()]).is_empty());
    }
}
