//! The `auth:` section of `vigil.yaml`: password policy, sessions, lockout and throttling,
//! TOTP, LDAP. Defined here until the lead wires it into `vigil-config`.
//!
//! ```yaml
//! auth:
//!   password_min_length: 12
//!   session_idle_timeout: 30m
//!   session_lifetime: 12h
//!   lockout: { max_failures: 5, duration: 15m }
//!   throttle: { max_failures: 20, window: 10m }
//!   ldap:
//!     url: ldap://127.0.0.1:389
//!     bind_dn: cn=vigil,ou=services,dc=example,dc=com
//!     bind_password: "${env:VIGIL_LDAP_PASSWORD}"
//!     user_base: ou=people,dc=example,dc=com
//!     user_filter: "(&(objectClass=inetOrgPerson)(uid={username}))"
//!     group_base: ou=groups,dc=example,dc=com
//!     group_filter: "(&(objectClass=groupOfNames)(member={dn}))"
//!     roles:
//!       - { group: "cn=soc-l1,ou=groups,dc=example,dc=com", tenant: acme, role: tier1_analyst }
//! ```

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::password::PasswordPolicy;
use crate::model::Role;
use crate::scope::TenantId;

/// Lockout of an account after consecutive failed logins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutConfig {
    /// Consecutive failures that lock the account (default 5).
    #[serde(default)]
    pub max_failures: Option<u32>,
    /// How long it stays locked (default `15m`).
    #[serde(default)]
    pub duration: Option<String>,
}

/// Throttling of a client address after failed logins in a sliding window.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failures from one address in the window that throttle it (default 20).
    #[serde(default)]
    pub max_failures: Option<u32>,
    /// The window (default `10m`).
    #[serde(default)]
    pub window: Option<String>,
}

/// One LDAP group → tenant role mapping.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapRoleMapping {
    /// The group: its full DN, or its `cn` (compared case-insensitively).
    pub group: String,
    /// The tenant.
    pub tenant: String,
    /// The role members get there.
    pub role: String,
}

/// The raw `auth.ldap` section.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldaps://host:port` (TLS from the first byte), or `ldap://host:port` with `starttls:
    /// true` (upgraded before any bind), or plain `ldap://` to loopback (plain LDAP to a
    /// non-loopback host needs `allow_plaintext: true`).
    pub url: String,
    /// Accept plain LDAP to a host that is not loopback (passwords cross the network in clear).
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Upgrade an `ldap://` connection with StartTLS (RFC 4511 4.14) before binding; a server
    /// that refuses it fails the login.
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of the CA certificate(s) that sign the directory's certificate (TLS only);
    /// default: the system's trust store.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Service account that searches users and groups; anonymous when absent.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// Its password, usually `${env:NAME}`.
    #[serde(default)]
    pub bind_password: Option<String>,
    /// Where users are searched (subtree).
    pub user_base: String,
    /// Filter finding one user; `{username}` is replaced by the escaped login name.
    #[serde(default)]
    pub user_filter: Option<String>,
    /// Attribute of the display name (default `cn`).
    #[serde(default)]
    pub display_name_attribute: Option<String>,
    /// Attribute of the e-mail address (default `mail`).
    #[serde(default)]
    pub email_attribute: Option<String>,
    /// Where groups are searched; when absent, the user's `memberOf` attribute is read.
    #[serde(default)]
    pub group_base: Option<String>,
    /// Filter finding the user's groups; `{dn}` and `{username}` are replaced (escaped).
    #[serde(default)]
    pub group_filter: Option<String>,
    /// Group → (tenant, role) mappings; a user whose groups map to no role cannot log in.
    #[serde(default)]
    pub roles: Vec<LdapRoleMapping>,
    /// Timeout of each LDAP operation (default `10s`).
    #[serde(default)]
    pub timeout: Option<String>,
}

impl fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field(
                "bind_password",
                &self.bind_password.as_ref().map(|_| "<redacted>"),
            )
            .field("user_base", &self.user_base)
            .field("group_base", &self.group_base)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// The raw `auth:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Minimum password length in characters (default 12, at least 8).
    #[serde(default)]
    pub password_min_length: Option<usize>,
    /// A session ends after this long without a request (default `30m`).
    #[serde(default)]
    pub session_idle_timeout: Option<String>,
    /// A session ends this long after login whatever its activity (default `12h`).
    #[serde(default)]
    pub session_lifetime: Option<String>,
    /// Account lockout.
    #[serde(default)]
    pub lockout: Option<LockoutConfig>,
    /// Per-address throttling.
    #[serde(default)]
    pub throttle: Option<ThrottleConfig>,
    /// Issuer shown by authenticator apps (default `Vigil`).
    #[serde(default)]
    pub totp_issuer: Option<String>,
    /// LDAP bind authentication.
    #[serde(default)]
    pub ldap: Option<LdapConfig>,
}

/// The validated policy the [`super::Authenticator`] enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Password rules.
    pub password: PasswordPolicy,
    /// Idle timeout of a session.
    pub session_idle: Duration,
    /// Absolute lifetime of a session.
    pub session_lifetime: Duration,
    /// Failures that lock an account.
    pub lockout_failures: u32,
    /// Lock duration.
    pub lockout_duration: Duration,
    /// Failures from one address that throttle it.
    pub throttle_failures: u32,
    /// The sliding window of the throttle.
    pub throttle_window: Duration,
    /// TOTP issuer.
    pub totp_issuer: String,
}

impl Default for AuthPolicy {
    fn default() -> AuthPolicy {
        AuthPolicy {
            password: PasswordPolicy::default(),
            session_idle: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            lockout_failures: 5,
            lockout_duration: Duration::from_secs(15 * 60),
            throttle_failures: 20,
            throttle_window: Duration::from_secs(10 * 60),
            totp_issuer: "Vigil".into(),
        }
    }
}

/// The validated LDAP settings.
#[derive(Clone, PartialEq, Eq)]
pub struct ValidLdapConfig {
    /// Server URL.
    pub url: String,
    /// Upgrade `ldap://` with StartTLS.
    pub starttls: bool,
    /// The CA file, as configured (for messages).
    pub ca_file: Option<String>,
    /// Its certificates (DER), checked: the only roots trusted when set.
    pub ca_certs: Vec<Vec<u8>>,
    /// Service account DN.
    pub bind_dn: Option<String>,
    /// Its resolved password (secret: redacted in `Debug`).
    pub bind_password: Option<String>,
    /// User search base.
    pub user_base: String,
    /// User filter with `{username}`.
    pub user_filter: String,
    /// Display-name attribute.
    pub display_name_attribute: String,
    /// E-mail attribute.
    pub email_attribute: String,
    /// Group search base, or `None` to read `memberOf`.
    pub group_base: Option<String>,
    /// Group filter with `{dn}` / `{username}`.
    pub group_filter: String,
    /// Group → grant mappings (groups lowercased).
    pub roles: Vec<(String, TenantId, Role)>,
    /// Per-operation timeout.
    pub timeout: Duration,
}

impl fmt::Debug for ValidLdapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidLdapConfig")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field(
                "bind_password",
                &self.bind_password.as_ref().map(|_| "<redacted>"),
            )
            .field("user_base", &self.user_base)
            .field("user_filter", &self.user_filter)
            .field("group_base", &self.group_base)
            .field("group_filter", &self.group_filter)
            .field("roles", &self.roles)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn duration(
    problems: &mut Vec<String>,
    path: &str,
    v: &Option<String>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Duration {
    let Some(raw) = v else { return default };
    match humantime::parse_duration(raw.trim()) {
        Ok(d) if d < min || d > max => {
            problems.push(format!(
                "{path}: {raw:?} is outside {} to {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ));
            default
        }
        Ok(d) => d,
        Err(e) => {
            problems.push(format!("{path}: {raw:?} is not a duration ({e})"));
            default
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86400);

impl AuthConfig {
    /// Validates the section found at `path` (`auth`), resolving `${env:NAME}` in the LDAP
    /// bind password with `env`. Returns every problem as `path.field: message`.
    pub fn validate(
        &self,
        path: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(AuthPolicy, Option<ValidLdapConfig>), Vec<String>> {
        let mut p = Vec::new();
        let mut policy = AuthPolicy::default();
        match self.password_min_length {
            Some(n) if !(8..=128).contains(&n) => p.push(format!(
                "{path}.password_min_length: {n} is outside 8 to 128"
            )),
            Some(n) => policy.password.min_length = n,
            None => {}
        }
        policy.session_idle = duration(
            &mut p,
            &format!("{path}.session_idle_timeout"),
            &self.session_idle_timeout,
            policy.session_idle,
            MINUTE,
            DAY,
        );
        policy.session_lifetime = duration(
            &mut p,
            &format!("{path}.session_lifetime"),
            &self.session_lifetime,
            policy.session_lifetime,
            5 * MINUTE,
            30 * DAY,
        );
        if policy.session_idle > policy.session_lifetime {
            p.push(format!(
                "{path}.session_idle_timeout: longer than session_lifetime"
            ));
        }
        if let Some(l) = &self.lockout {
            match l.max_failures {
                Some(n) if !(1..=1000).contains(&n) => p.push(format!(
                    "{path}.lockout.max_failures: {n} is outside 1 to 1000"
                )),
                Some(n) => policy.lockout_failures = n,
                None => {}
            }
            policy.lockout_duration = duration(
                &mut p,
                &format!("{path}.lockout.duration"),
                &l.duration,
                policy.lockout_duration,
                Duration::from_secs(1),
                DAY,
            );
        }
        if let Some(t) = &self.throttle {
            match t.max_failures {
                Some(n) if !(1..=100_000).contains(&n) => p.push(format!(
                    "{path}.throttle.max_failures: {n} is outside 1 to 100000"
                )),
                Some(n) => policy.throttle_failures = n,
                None => {}
            }
            policy.throttle_window = duration(
                &mut p,
                &format!("{path}.throttle.window"),
                &t.window,
                policy.throttle_window,
                Duration::from_secs(1),
                DAY,
            );
        }
        if let Some(i) = &self.totp_issuer {
            if i.trim().is_empty() || i.len() > 64 || i.contains(':') {
                p.push(format!(
                    "{path}.totp_issuer: 1 to 64 bytes without ':' are required"
                ));
            } else {
                policy.totp_issuer = i.clone();
            }
        }
        let ldap = self
            .ldap
            .as_ref()
            .and_then(|l| l.validate(&format!("{path}.ldap"), &env, &mut p));
        if p.is_empty() {
            Ok((policy, ldap))
        } else {
            Err(p)
        }
    }
}

/// Largest CA file read.
const MAX_CA_FILE: u64 = 1 << 20;

/// The certificates of a PEM CA file, each checked as a trust anchor.
#[allow(clippy::disallowed_methods)] // read_to_end bounded by `take`
fn read_ca_file(path: &str) -> Result<Vec<Vec<u8>>, String> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut pem = Vec::new();
    f.take(MAX_CA_FILE + 1)
        .read_to_end(&mut pem)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(format!("{path} is larger than 1 MiB"));
    }
    let mut out = Vec::new();
    let mut roots = rustls::RootCertStore::empty();
    for (i, c) in rustls_pemfile::certs(&mut pem.as_slice()).enumerate() {
        let c = c.map_err(|e| format!("{path}: certificate {} is not valid PEM: {e}", i + 1))?;
        roots.add(c.clone()).map_err(|e| {
            format!(
                "{path}: certificate {} is not a usable CA certificate: {e}",
                i + 1
            )
        })?;
        out.push(c.to_vec());
    }
    if out.is_empty() {
        return Err(format!(
            "{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(out)
}

impl LdapConfig {
    fn validate(
        &self,
        path: &str,
        env: &impl Fn(&str) -> Option<String>,
        p: &mut Vec<String>,
    ) -> Option<ValidLdapConfig> {
        let before = p.len();
        let url = self.url.trim();
        let tls = url.starts_with("ldaps://") || self.starttls;
        if url.starts_with("ldaps://") && self.starttls {
            p.push(format!(
                "{path}.starttls: ldaps:// is TLS already; StartTLS is for ldap:// URLs"
            ));
        }
        if let Some(rest) = url.strip_prefix("ldaps://")
            && rest
                .split(['/', '?', ':'])
                .next()
                .unwrap_or_default()
                .is_empty()
        {
            p.push(format!("{path}.url: no host"));
        }
        let ca_certs = match &self.ca_file {
            Some(f) if !tls => {
                p.push(format!(
                    "{path}.ca_file: {f} is only used with TLS (an ldaps:// URL or starttls: true)"
                ));
                Vec::new()
            }
            Some(f) => read_ca_file(f).unwrap_or_else(|e| {
                p.push(format!("{path}.ca_file: {e}"));
                Vec::new()
            }),
            None => Vec::new(),
        };
        match url.strip_prefix("ldap://") {
            _ if url.starts_with("ldaps://") => {}
            Some(_) if self.starttls => {}
            Some(rest) => {
                let host = rest.split(['/', '?']).next().unwrap_or_default();
                let host = host
                    .rsplit_once(':')
                    .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                    .map_or(host, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let loopback = host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if host.is_empty() {
                    p.push(format!("{path}.url: no host"));
                } else if !loopback && !self.allow_plaintext {
                    p.push(format!(
                        "{path}.url: plain LDAP to {host} sends passwords in clear; use \
                         ldaps://, or starttls: true, or set allow_plaintext: true on a \
                         trusted network"
                    ));
                }
            }
            None => p.push(format!("{path}.url: must start with ldap:// or ldaps://")),
        }
        let bind_password = match (&self.bind_dn, &self.bind_password) {
            (Some(_), None) => {
                p.push(format!("{path}.bind_password: required with bind_dn"));
                None
            }
            (None, Some(_)) => {
                p.push(format!("{path}.bind_password: given without bind_dn"));
                None
            }
            (_, Some(raw)) => match crate::config::resolve_refs(raw, env) {
                Ok(v) if v.is_empty() => {
                    p.push(format!("{path}.bind_password: empty"));
                    None
                }
                Ok(v) => Some(v),
                Err(e) => {
                    p.push(format!("{path}.bind_password: {e}"));
                    None
                }
            },
            (None, None) => None,
        };
        if self.user_base.trim().is_empty() {
            p.push(format!("{path}.user_base: required"));
        }
        let user_filter = self
            .user_filter
            .clone()
            .unwrap_or_else(|| "(&(objectClass=inetOrgPerson)(uid={username}))".into());
        if !user_filter.contains("{username}") || !balanced(&user_filter) {
            p.push(format!(
                "{path}.user_filter: must be a parenthesized filter containing {{username}}"
            ));
        }
        let group_filter = self
            .group_filter
            .clone()
            .unwrap_or_else(|| "(&(objectClass=groupOfNames)(member={dn}))".into());
        if self.group_base.is_some()
            && (!(group_filter.contains("{dn}") || group_filter.contains("{username}"))
                || !balanced(&group_filter))
        {
            p.push(format!(
                "{path}.group_filter: must be a parenthesized filter containing {{dn}} or {{username}}"
            ));
        }
        if self.group_base.is_none() && self.group_filter.is_some() {
            p.push(format!("{path}.group_filter: needs group_base"));
        }
        let mut roles = Vec::new();
        if self.roles.is_empty() {
            p.push(format!(
                "{path}.roles: at least one group mapping is required (nobody could log in)"
            ));
        }
        for (i, m) in self.roles.iter().enumerate() {
            if m.group.trim().is_empty() {
                p.push(format!("{path}.roles[{i}].group: empty"));
            }
            let tenant = TenantId::new(&m.tenant);
            if let Err(e) = &tenant {
                p.push(format!("{path}.roles[{i}].tenant: {e}"));
            }
            let role = m.role.parse::<Role>();
            if role.is_err() {
                p.push(format!(
                    "{path}.roles[{i}].role: {:?} is not one of {}",
                    m.role,
                    Role::ALL
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if let (Ok(t), Ok(r)) = (tenant, role) {
                roles.push((m.group.trim().to_lowercase(), t, r));
            }
        }
        let timeout = duration(
            p,
            &format!("{path}.timeout"),
            &self.timeout,
            Duration::from_secs(10),
            Duration::from_millis(100),
            Duration::from_secs(120),
        );
        (p.len() == before).then(|| ValidLdapConfig {
            url: url.to_owned(),
            starttls: self.starttls,
            ca_file: self.ca_file.clone(),
            ca_certs,
            bind_dn: self.bind_dn.clone(),
            bind_password,
            user_base: self.user_base.trim().to_owned(),
            user_filter,
            display_name_attribute: self
                .display_name_attribute
                .clone()
                .unwrap_or_else(|| "cn".into()),
            email_attribute: self
                .email_attribute
                .clone()
                .unwrap_or_else(|| "mail".into()),
            group_base: self.group_base.clone(),
            group_filter,
            roles,
            timeout,
        })
    }
}

fn balanced(filter: &str) -> bool {
    let f = filter.trim();
    if !f.starts_with('(') || !f.ends_with(')') {
        return false;
    }
    let mut depth = 0i32;
    for c in f.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> AuthConfig {
        yaml_serde::from_str(y).unwrap_or_else(|e| panic!("{e}"))
    }

    fn env(name: &str) -> Option<String> {
        (name == "LDAP_PW").then(|| "s3cret-bind".to_owned())
    }

    #[test]
    fn defaults() {
        let (p, l) = parse("{}")
            .validate("auth", env)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p, AuthPolicy::default());
        assert!(l.is_none());
        assert_eq!(p.password.min_length, 12);
    }

    #[test]
    fn every_problem_is_listed_with_its_path() {
        let c = parse(
            r#"
password_min_length: 4
session_idle_timeout: 2d
session_lifetime: soon
lockout: { max_failures: 0 }
throttle: { window: 0s }
ldap:
  url: ftp://dir.example.com
  bind_dn: cn=svc
  bind_password: "${env:NOPE}"
  user_base: ""
  user_filter: "(uid=x)"
  roles: [ { group: soc, tenant: "Bad", role: boss } ]
"#,
        );
        let errs = c.validate("auth", env).err().unwrap_or_default();
        for want in [
            "auth.password_min_length:",
            "auth.session_idle_timeout:",
            "auth.session_lifetime:",
            "auth.lockout.max_failures:",
            "auth.throttle.window:",
            "auth.ldap.url:",
            "auth.ldap.bind_password: environment variable NOPE",
            "auth.ldap.user_base:",
            "auth.ldap.user_filter:",
            "auth.ldap.roles[0].tenant:",
            "auth.ldap.roles[0].role:",
        ] {
            assert!(
                errs.iter().any(|e| e.starts_with(want)),
                "{want} in {errs:#?}"
            );
        }
        assert!(yaml_serde::from_str::<AuthConfig>("{ pasword_min_length: 9 }").is_err());
    }

    #[test]
    fn ldap_validates_and_redacts() {
        let c = parse(
            r#"
ldap:
  url: ldap://127.0.0.1:3389
  bind_dn: cn=admin,dc=vigil,dc=test
  bind_password: "${env:LDAP_PW}"
  user_base: ou=people,dc=vigil,dc=test
  group_base: ou=groups,dc=vigil,dc=test
  roles: [ { group: "CN=SOC,ou=groups,dc=vigil,dc=test", tenant: main, role: tier1_analyst } ]
"#,
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("LDAP_PW"), "{dbg}");
        let (_, l) = c.validate("auth", env).unwrap_or_else(|e| panic!("{e:?}"));
        let l = l.unwrap_or_else(|| panic!("ldap"));
        assert_eq!(l.bind_password.as_deref(), Some("s3cret-bind"));
        assert_eq!(l.roles[0].0, "cn=soc,ou=groups,dc=vigil,dc=test");
        let dbg = format!("{l:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
        // Plain LDAP off loopback needs an explicit opt-in.
        let remote = parse(
            "ldap: { url: 'ldap://dir.example.com', user_base: 'dc=x', roles: [ { group: g, tenant: main, role: read_only } ] }",
        );
        assert!(remote.validate("auth", env).is_err());
        let ok = parse(
            "ldap: { url: 'ldap://dir.example.com', allow_plaintext: true, user_base: 'dc=x', roles: [ { group: g, tenant: main, role: read_only } ] }",
        );
        assert!(ok.validate("auth", env).is_ok());
    }

    #[test]
    fn ldap_over_tls_checks_its_ca_file() {
        let ldap = |extra: &str| {
            parse(&format!(
                "ldap: {{ {extra}, user_base: 'dc=x', roles: [ {{ group: g, tenant: main, role: read_only }} ] }}"
            ))
            .validate("auth", env)
        };
        // TLS to a remote directory needs no opt-in; StartTLS neither
        assert!(ldap("url: 'ldaps://dir.example.com'").is_ok());
        assert!(ldap("url: 'ldap://dir.example.com', starttls: true").is_ok());
        let err = |extra: &str| ldap(extra).err().unwrap_or_default().join("\n");
        assert!(
            err("url: 'ldaps://dir.example.com', starttls: true").contains("auth.ldap.starttls:")
        );
        assert!(
            err("url: 'ldap://127.0.0.1', ca_file: '/etc/hostname'")
                .contains("auth.ldap.ca_file: /etc/hostname is only used with TLS")
        );
        let e = err("url: 'ldaps://dir.example.com', ca_file: '/nonexistent/ca.pem'");
        assert!(
            e.contains("auth.ldap.ca_file: cannot read /nonexistent/ca.pem"),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("vigil-ldap-ca-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let junk = dir.join("junk.pem");
        let _ = std::fs::write(&junk, "not a certificate\n");
        let e = err(&format!(
            "url: 'ldaps://dir.example.com', ca_file: '{}'",
            junk.display()
        ));
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
