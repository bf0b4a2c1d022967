//! Accounts and authentication: logins and sessions, API tokens, lockout and throttling,
//! TOTP, LDAP, the first administrator. The HTTP layer calls [`Authenticator`] and maps
//! [`AuthError`] with [`AuthError::status`] and [`AuthError::code`]; it never touches
//! passwords, hashes or the store's auth tables itself.
//!
//! # Per request
//! * cookie: [`Authenticator::resolve_session`]`(cookie, csrf_header, method)`
//! * bearer: [`Authenticator::resolve_bearer`]`(token, source_ip, method, path)`
//!
//! Both return a [`Principal`] built from the *current* grants in the store (a role change,
//! a disabled user or tenant, a revoked token take effect on the next request), and every
//! store call of the handler then takes `principal.scope_for(action, tenants)?`.
//!
//! # What is never written anywhere
//! Passwords, token secrets, session secrets, TOTP secrets and codes travel as [`Secret`]
//! (redacted `Debug`/`Display`, no `Serialize`, zeroed on drop). The store keeps argon2id
//! hashes of passwords and SHA-256 hashes of 256-bit token and session secrets. Audit
//! records carry user names only when the account exists (a password typed into the name
//! field stays out), never a secret.

mod config;
mod ldap;
mod password;
mod secret;
mod session;
mod token;
mod totp;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

pub use config::{
    AuthConfig, AuthPolicy, LdapConfig, LdapRoleMapping, LockoutConfig, ThrottleConfig,
    ValidLdapConfig,
};
pub use ldap::{LdapDirectory, LdapError, LdapIdentity};
pub use password::{
    HashError, MAX_PASSWORD_LEN, OWASP_ITERATIONS, OWASP_LANES, OWASP_MEMORY_KIB, PasswordPolicy,
    Passwords, PolicyViolation, generate_password,
};
pub use secret::Secret;
pub use session::{
    CSRF_HEADER, CookieAttributes, csrf_token, generate_session_secret, method_needs_csrf,
    session_hash,
};
pub use token::{
    TOKEN_PREFIX, endpoint_allowed, generate_token, looks_like_token, token_hash, validate_endpoint,
};
pub use totp::{code_at as totp_code_at, generate_totp_secret, otpauth_uri};

use crate::model::*;
use crate::rbac::{Action, Forbidden, Principal, PrincipalKind, role_rank};
use crate::scope::{TenantId, TenantScope};
use crate::store::*;

/// Why authentication or an account operation failed. Messages never contain a secret and
/// never tell an unknown user from a wrong password or a locked account.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong user name, password or code — or a locked or disabled account (one answer for
    /// all, so none can be probed).
    #[error("invalid user name, password or code")]
    InvalidCredentials,
    /// The password was right; the account needs its TOTP code.
    #[error("a TOTP code is required")]
    TotpRequired,
    /// Too many failed logins from this address: try again later.
    #[error("too many failed logins from this address; retry in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the window lets a login through.
        retry_after_secs: u64,
    },
    /// No valid session or token (missing, malformed, unknown, expired, revoked).
    #[error("authentication required: {reason}")]
    Unauthenticated {
        /// Why, for the client (no secret).
        reason: &'static str,
    },
    /// A cookie-authenticated write without the session's CSRF token.
    #[error("missing or wrong {CSRF_HEADER} header")]
    Csrf,
    /// The token's endpoint allow-list does not contain this request.
    #[error("this token may not call {method} {path}")]
    EndpointNotAllowed {
        /// Method.
        method: String,
        /// Path.
        path: String,
    },
    /// Authenticated, but the action is not allowed.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// Authenticated, but no role in any enabled tenant.
    #[error("the account has no role in an enabled tenant")]
    NoAccess,
    /// A new password breaks the policy.
    #[error(transparent)]
    Policy(#[from] PolicyViolation),
    /// A request field is not acceptable.
    #[error("{field}: {reason}")]
    Invalid {
        /// Field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The directory could not be used.
    #[error(transparent)]
    Ldap(#[from] LdapError),
    /// The metadata store failed or refused.
    #[error(transparent)]
    Store(#[from] MetaError),
    /// No randomness or a hashing failure.
    #[error("internal authentication error: {0}")]
    Internal(String),
}

impl AuthError {
    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::InvalidCredentials
            | AuthError::TotpRequired
            | AuthError::Unauthenticated { .. } => 401,
            AuthError::Throttled { .. } => 429,
            AuthError::Csrf
            | AuthError::EndpointNotAllowed { .. }
            | AuthError::Forbidden(_)
            | AuthError::NoAccess => 403,
            AuthError::Policy(_) | AuthError::Invalid { .. } => 400,
            AuthError::Ldap(_) => 502,
            AuthError::Store(MetaError::NotFound { .. }) => 404,
            AuthError::Store(MetaError::Conflict { .. }) => 409,
            AuthError::Store(MetaError::OutOfScope { .. }) => 403,
            AuthError::Store(MetaError::Invalid { .. }) => 400,
            AuthError::Store(_) | AuthError::Internal(_) => 500,
        }
    }

    /// A stable machine code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::TotpRequired => "totp_required",
            AuthError::Throttled { .. } => "throttled",
            AuthError::Unauthenticated { .. } => "unauthenticated",
            AuthError::Csrf => "csrf",
            AuthError::EndpointNotAllowed { .. } => "endpoint_not_allowed",
            AuthError::Forbidden(_) => "forbidden",
            AuthError::NoAccess => "no_access",
            AuthError::Policy(_) => "password_policy",
            AuthError::Invalid { .. } => "invalid",
            AuthError::Ldap(_) => "directory_unavailable",
            AuthError::Store(MetaError::NotFound { .. }) => "not_found",
            AuthError::Store(MetaError::Conflict { .. }) => "conflict",
            AuthError::Store(MetaError::OutOfScope { .. }) => "forbidden",
            AuthError::Store(MetaError::Invalid { .. }) => "invalid",
            AuthError::Store(_) | AuthError::Internal(_) => "internal",
        }
    }
}

/// A successful login: what the HTTP layer sends back.
#[derive(Debug)]
pub struct LoginSession {
    /// The stored session (no secret in it).
    pub session: Session,
    /// The cookie value (set it with [`CookieAttributes::set_cookie`]; shown nowhere else).
    pub cookie_value: Secret,
    /// The CSRF token the UI sends in [`CSRF_HEADER`] on writes (not a login credential).
    pub csrf_token: String,
    /// Who logged in.
    pub principal: Principal,
}

/// A token just created: its record and its secret, shown once.
#[derive(Debug)]
pub struct CreatedToken {
    /// The record (hash only).
    pub token: ApiToken,
    /// `vgl_...`: show it once, never store or log it.
    pub secret: Secret,
}

/// What a token is created with.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// Name.
    pub name: String,
    /// Roles per tenant (each no higher than the creator's there).
    pub roles: Vec<RoleGrant>,
    /// Endpoint allow-list (empty: any endpoint the roles allow).
    pub endpoints: Vec<String>,
    /// Expiry.
    pub expires_at: Option<Time>,
    /// A service token (no user; needs `tokens.manage`) instead of a personal one.
    pub service: bool,
}

/// A user to create through [`Authenticator::create_user`].
#[derive(Debug, Clone)]
pub struct CreateUser {
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// E-mail.
    pub email: Option<String>,
    /// Initial password; `None` generates one (returned once) and forces a change at login.
    pub password: Option<Secret>,
    /// Roles.
    pub roles: Vec<RoleGrant>,
}

/// A TOTP enrolment in progress: shown to the user, confirmed with a code.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// Base32 secret (for manual entry).
    pub secret: Secret,
    /// `otpauth://` URI (for the QR code).
    pub uri: Secret,
}

/// Authentication counters since start (for metrics).
#[derive(Debug, Default)]
struct Counters {
    logins_ok: AtomicU64,
    logins_failed: AtomicU64,
    lockouts: AtomicU64,
    throttled: AtomicU64,
    bearer_refused: AtomicU64,
    session_refused: AtomicU64,
    csrf_refused: AtomicU64,
}

/// A snapshot of the authentication counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AuthCounters {
    /// Successful logins.
    pub logins_ok: u64,
    /// Failed logins (wrong name, password, code; locked, disabled).
    pub logins_failed: u64,
    /// Accounts locked.
    pub lockouts: u64,
    /// Logins refused because the address was throttled.
    pub throttled: u64,
    /// Bearer tokens refused.
    pub bearer_refused: u64,
    /// Session cookies refused.
    pub session_refused: u64,
    /// Writes refused for a missing or wrong CSRF token.
    pub csrf_refused: u64,
}

type Clock = Arc<dyn Fn() -> Time + Send + Sync>;

/// Minimum interval between two writes of a session's or token's last use.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// Source recorded when the caller does not know the client address.
const UNKNOWN_SOURCE: &str = "unknown";

/// The authentication service: one per process, shared by the HTTP handlers.
pub struct Authenticator {
    store: Arc<dyn MetaStore>,
    policy: AuthPolicy,
    passwords: Passwords,
    /// Bounds concurrent argon2 computations (19 MiB each): a login flood queues here
    /// instead of exhausting memory or the blocking-thread pool.
    hash_slots: Arc<tokio::sync::Semaphore>,
    ldap: Option<LdapDirectory>,
    counters: Counters,
    clock: Clock,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("policy", &self.policy)
            .field("ldap", &self.ldap)
            .finish_non_exhaustive()
    }
}

fn now_ms(t: Time) -> Time {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn chrono_dur(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn internal(e: impl std::fmt::Display) -> AuthError {
    AuthError::Internal(e.to_string())
}

impl Authenticator {
    /// The service over a store, with argon2id at OWASP's parameters.
    pub fn new(
        store: Arc<dyn MetaStore>,
        policy: AuthPolicy,
        ldap: Option<ValidLdapConfig>,
    ) -> Result<Authenticator, AuthError> {
        Ok(Self::with_passwords(
            store,
            policy,
            ldap,
            Passwords::owasp().map_err(internal)?,
        ))
    }

    /// The service with explicit argon2 parameters (tests use small ones).
    pub fn with_passwords(
        store: Arc<dyn MetaStore>,
        policy: AuthPolicy,
        ldap: Option<ValidLdapConfig>,
        passwords: Passwords,
    ) -> Authenticator {
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 16));
        Authenticator {
            store,
            policy,
            passwords,
            hash_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            ldap: ldap.map(LdapDirectory::new),
            counters: Counters::default(),
            clock: Arc::new(|| now_ms(Utc::now())),
        }
    }

    /// Replaces the clock (tests of expiry and lockout, without sleeping).
    pub fn with_clock(mut self, clock: impl Fn() -> Time + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(move || now_ms(clock()));
        self
    }

    fn now(&self) -> Time {
        (self.clock)()
    }

    /// Runs an argon2 computation off the async workers, at most one per CPU at a time.
    async fn argon<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Passwords) -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let _slot = self
            .hash_slots
            .acquire()
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        let p = self.passwords.clone();
        tokio::task::spawn_blocking(move || f(&p))
            .await
            .map_err(|e| AuthError::Internal(format!("password hashing task: {e}")))
    }

    async fn verify_password(&self, password: &Secret, phc: &str) -> Result<bool, AuthError> {
        let (pw, phc) = (password.clone(), phc.to_owned());
        self.argon(move |p| p.verify(&pw, &phc)).await
    }

    async fn verify_dummy(&self, password: &Secret) -> Result<bool, AuthError> {
        let pw = password.clone();
        self.argon(move |p| p.verify_dummy(&pw)).await
    }

    async fn hash_password(&self, password: &Secret) -> Result<String, AuthError> {
        let pw = password.clone();
        self.argon(move |p| p.hash(&pw)).await?.map_err(internal)
    }

    /// The policy in force.
    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    /// The session cookie's attributes for a listener with or without TLS.
    pub fn cookie(&self, tls: bool) -> CookieAttributes {
        CookieAttributes::session(tls, self.policy.session_lifetime)
    }

    /// The counters since start.
    pub fn counters(&self) -> AuthCounters {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AuthCounters {
            logins_ok: l(&c.logins_ok),
            logins_failed: l(&c.logins_failed),
            lockouts: l(&c.lockouts),
            throttled: l(&c.throttled),
            bearer_refused: l(&c.bearer_refused),
            session_refused: l(&c.session_refused),
            csrf_refused: l(&c.csrf_refused),
        }
    }

    async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: (&str, &str),
        outcome: AuditOutcome,
        source_ip: Option<&str>,
        details: serde_json::Value,
    ) {
        let rec = NewAuditRecord {
            tenant: TenantId::main(),
            at: self.now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target_kind: target.0.to_owned(),
            target_id: target.1.to_owned(),
            outcome,
            source_ip: source_ip.map(str::to_owned),
            details,
        };
        if let Err(e) = self.store.append_audit(rec).await {
            tracing::error!(error = %e, action, "audit record not written");
        }
    }

    /// The enabled tenants (a general administrator's scope, and the filter of grants).
    async fn enabled_tenants(&self) -> Result<Vec<TenantId>, AuthError> {
        let all = self.store.all_tenant_ids().await?;
        let scope = TenantScope::new(all)?;
        Ok(self
            .store
            .list_tenants(&scope)
            .await?
            .into_iter()
            .filter(|t| !t.disabled)
            .map(|t| t.id)
            .collect())
    }

    async fn all_scope(&self) -> Result<TenantScope, AuthError> {
        Ok(TenantScope::new(self.store.all_tenant_ids().await?)?)
    }

    async fn user_principal(&self, user: &User) -> Result<Principal, AuthError> {
        let tenants = self.enabled_tenants().await?;
        let mut p = Principal::new(
            PrincipalKind::User {
                id: user.id.clone(),
                username: user.username.clone(),
            },
            &user.roles,
            &tenants,
        );
        p.must_change_password = user.must_change_password;
        if p.roles.is_empty() {
            return Err(AuthError::NoAccess);
        }
        Ok(p)
    }

    // ---------------------------------------------------------------- login

    /// Logs a user in with a password (and a TOTP code when enrolled) and opens a session.
    ///
    /// Order: the address throttle; the account (local argon2id, or LDAP for accounts without
    /// a local password and for unknown names when LDAP is configured; unknown names cost a
    /// dummy verification); lock and disabled state; the TOTP code (a step is accepted once).
    /// Failures count against the account (lockout) and the address (throttle), and are
    /// audited as `auth.login` failures; the lock and the throttle are audited when they
    /// start (`auth.lockout`, `auth.throttle`).
    pub async fn login(
        &self,
        username: &str,
        password: &Secret,
        totp: Option<&str>,
        source_ip: Option<&str>,
    ) -> Result<LoginSession, AuthError> {
        let now = self.now();
        let source = source_ip.unwrap_or(UNKNOWN_SOURCE);
        let window = chrono_dur(self.policy.throttle_window);
        let recent = self.store.source_failures(source, now - window).await?;
        if recent >= self.policy.throttle_failures {
            self.counters.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(AuthError::Throttled {
                retry_after_secs: self.policy.throttle_window.as_secs().max(1),
            });
        }
        let username = username.trim();
        let user = if username.is_empty() || username.len() > 200 {
            None
        } else {
            self.store.find_user_for_login(username).await?
        };
        let user = match user {
            Some(u) if u.password_hash.is_some() => {
                let ok = self
                    .verify_password(password, u.password_hash.as_deref().unwrap_or_default())
                    .await?;
                if !ok {
                    return Err(self.fail(Some(&u), source_ip, "password").await);
                }
                u
            }
            found => match &self.ldap {
                Some(dir) => match dir.authenticate(username, password).await? {
                    Some(id) => self.materialize_ldap_user(username, found, id).await?,
                    None => {
                        return Err(self.fail(found.as_ref(), source_ip, "ldap").await);
                    }
                },
                None => {
                    self.verify_dummy(password).await?;
                    return Err(self.fail(found.as_ref(), source_ip, "password").await);
                }
            },
        };
        if user.locked_until.is_some_and(|t| t > now) {
            // Not counted again: a locked account stays locked for its duration.
            self.counters.logins_failed.fetch_add(1, Ordering::Relaxed);
            self.audit(
                &user.username,
                "auth.login",
                ("user", &user.id),
                AuditOutcome::Failure,
                source_ip,
                json!({ "reason": "locked" }),
            )
            .await;
            return Err(AuthError::InvalidCredentials);
        }
        if user.disabled {
            return Err(self.fail(Some(&user), source_ip, "disabled").await);
        }
        if let Some(secret) = &user.totp_secret {
            let Some(code) = totp.filter(|c| !c.trim().is_empty()) else {
                return Err(AuthError::TotpRequired);
            };
            let secret = Secret::new(secret.clone());
            let unix = u64::try_from(now.timestamp()).unwrap_or(0);
            let step = totp::matching_step(&secret, code, unix);
            let accepted = match step {
                Some(s) => {
                    self.store
                        .claim_totp_step(&user.id, i64::try_from(s).unwrap_or(i64::MAX))
                        .await?
                }
                None => false,
            };
            if !accepted {
                let reason = if step.is_some() {
                    "totp_replay"
                } else {
                    "totp"
                };
                return Err(self.fail(Some(&user), source_ip, reason).await);
            }
        }
        let principal = self.user_principal(&user).await?;
        self.store.record_login_success(&user.id, now).await?;
        // Upgrade hashes made with older parameters while the password is at hand.
        if let Some(h) = &user.password_hash
            && self.passwords.needs_rehash(h)
            && let Ok(new) = self.hash_password(password).await
        {
            let patch = UserPatch {
                password_hash: Some(new),
                ..UserPatch::default()
            };
            if let Ok(scope) = self.all_scope().await
                && let Err(e) = self.store.update_user(&scope, &user.id, patch).await
            {
                tracing::warn!(error = %e, user = %user.id, "password rehash not stored");
            }
        }
        let cookie_value = generate_session_secret().map_err(internal)?;
        let session = self
            .store
            .create_session(NewSession {
                user_id: user.id.clone(),
                secret_hash: session_hash(&cookie_value),
                source_ip: source_ip.map(str::to_owned),
                created_at: now,
                expires_at: now + chrono_dur(self.policy.session_lifetime),
            })
            .await?;
        self.counters.logins_ok.fetch_add(1, Ordering::Relaxed);
        self.audit(
            &user.username,
            "auth.login",
            ("user", &user.id),
            AuditOutcome::Success,
            source_ip,
            json!({ "session": session.id, "method": if user.password_hash.is_some() { "password" } else { "ldap" }, "totp": user.totp_secret.is_some() }),
        )
        .await;
        Ok(LoginSession {
            csrf_token: csrf_token(&cookie_value),
            session,
            cookie_value,
            principal,
        })
    }

    /// Counts and audits a failed login; returns the error to answer with.
    async fn fail(&self, user: Option<&User>, source_ip: Option<&str>, reason: &str) -> AuthError {
        let now = self.now();
        self.counters.logins_failed.fetch_add(1, Ordering::Relaxed);
        let source = source_ip.unwrap_or(UNKNOWN_SOURCE);
        // The typed name is recorded only when it names an account: it may be a password.
        let (actor, target) = match user {
            Some(u) => (u.username.as_str(), u.id.as_str()),
            None => ("-", "-"),
        };
        let mut details = json!({ "reason": if user.is_some() { reason } else { "unknown_user" } });
        if let Some(u) = user {
            match self
                .store
                .record_login_failure(
                    &u.id,
                    now,
                    self.policy.lockout_failures,
                    chrono_dur(self.policy.lockout_duration),
                )
                .await
            {
                Ok(state) => {
                    details["failed_logins"] = json!(state.failed_logins);
                    if state.failed_logins == self.policy.lockout_failures {
                        self.counters.lockouts.fetch_add(1, Ordering::Relaxed);
                        self.audit(
                            &u.username,
                            "auth.lockout",
                            ("user", &u.id),
                            AuditOutcome::Success,
                            source_ip,
                            json!({ "failed_logins": state.failed_logins, "locked_until": state.locked_until }),
                        )
                        .await;
                    }
                }
                Err(e) => tracing::error!(error = %e, "failed login not counted"),
            }
        }
        match self
            .store
            .record_source_failure(source, now, chrono_dur(self.policy.throttle_window))
            .await
        {
            Ok(n) => {
                details["source_failures"] = json!(n);
                if n == self.policy.throttle_failures {
                    self.audit(
                        "-",
                        "auth.throttle",
                        ("source", source),
                        AuditOutcome::Success,
                        source_ip,
                        json!({ "failures": n, "window_secs": self.policy.throttle_window.as_secs() }),
                    )
                    .await;
                }
            }
            Err(e) => tracing::error!(error = %e, "failed login of a source not counted"),
        }
        self.audit(
            actor,
            "auth.login",
            ("user", target),
            AuditOutcome::Failure,
            source_ip,
            details,
        )
        .await;
        AuthError::InvalidCredentials
    }

    /// Creates or updates the local record of a user the directory authenticated: roles
    /// follow the group mapping at every login.
    async fn materialize_ldap_user(
        &self,
        username: &str,
        found: Option<User>,
        id: LdapIdentity,
    ) -> Result<User, AuthError> {
        let scope = self.all_scope().await?;
        match found {
            None => {
                if id.grants.is_empty() {
                    return Err(AuthError::NoAccess);
                }
                let user = self
                    .store
                    .create_user(
                        &scope,
                        NewUser {
                            username: username.to_owned(),
                            display_name: id.display_name,
                            email: id.email,
                            password_hash: None,
                            roles: id.grants,
                            must_change_password: false,
                        },
                    )
                    .await?;
                self.audit(
                    &user.username,
                    "user.create",
                    ("user", &user.id),
                    AuditOutcome::Success,
                    None,
                    json!({ "source": "ldap", "roles": user.roles }),
                )
                .await;
                Ok(user)
            }
            Some(u) => {
                let mut current = u.roles.clone();
                current.sort();
                if current != id.grants {
                    let user = self.store.set_user_roles(&scope, &u.id, id.grants).await?;
                    self.audit(
                        "ldap",
                        "user.roles",
                        ("user", &u.id),
                        AuditOutcome::Success,
                        None,
                        json!({ "source": "ldap", "roles": user.roles }),
                    )
                    .await;
                    if user.roles.is_empty() {
                        return Err(AuthError::NoAccess);
                    }
                    return Ok(user);
                }
                Ok(u)
            }
        }
    }

    // ---------------------------------------------------------------- per request

    /// The principal of a cookie-authenticated request. `csrf_header` is the
    /// [`CSRF_HEADER`] value; writes (any method but GET, HEAD, OPTIONS) need it.
    pub async fn resolve_session(
        &self,
        cookie_value: &str,
        csrf_header: Option<&str>,
        method: &str,
    ) -> Result<Principal, AuthError> {
        let refuse = |reason| {
            self.counters
                .session_refused
                .fetch_add(1, Ordering::Relaxed);
            Err(AuthError::Unauthenticated { reason })
        };
        if cookie_value.is_empty() || cookie_value.len() > 100 {
            return refuse("no session");
        }
        let secret = Secret::from(cookie_value);
        let Some(session) = self.store.session_by_hash(&session_hash(&secret)).await? else {
            return refuse("unknown or ended session");
        };
        let now = self.now();
        let idle = chrono_dur(self.policy.session_idle);
        if session.expires_at <= now || session.last_seen_at + idle <= now {
            self.store.delete_session(&session.id).await?;
            return refuse("session expired");
        }
        if method_needs_csrf(method) && !session::csrf_ok(&secret, csrf_header) {
            self.counters.csrf_refused.fetch_add(1, Ordering::Relaxed);
            return Err(AuthError::Csrf);
        }
        let Some(user) = self.store.user_for_auth(&session.user_id).await? else {
            return refuse("unknown or ended session");
        };
        if user.disabled {
            self.store.delete_session(&session.id).await?;
            return refuse("account disabled");
        }
        let principal = self.user_principal(&user).await?;
        if now - session.last_seen_at >= TOUCH_EVERY {
            self.store.touch_session(&session.id, now).await?;
        }
        Ok(principal)
    }

    /// The principal of a bearer-token request for `method path` (path without the query).
    /// A token's roles are capped, per tenant, by its user's current roles.
    pub async fn resolve_bearer(
        &self,
        token: &str,
        source_ip: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<Principal, AuthError> {
        let refuse = |reason| {
            self.counters.bearer_refused.fetch_add(1, Ordering::Relaxed);
            Err(AuthError::Unauthenticated { reason })
        };
        let token = token.trim();
        if !looks_like_token(token) {
            return refuse("malformed token");
        }
        let now = self.now();
        let source = source_ip.unwrap_or(UNKNOWN_SOURCE);
        let window = chrono_dur(self.policy.throttle_window);
        if self.store.source_failures(source, now - window).await? >= self.policy.throttle_failures
        {
            self.counters.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(AuthError::Throttled {
                retry_after_secs: self.policy.throttle_window.as_secs().max(1),
            });
        }
        let secret = Secret::from(token);
        let Some(t) = self.store.token_by_hash(&token_hash(&secret)).await? else {
            // A guessed token counts against the address like a wrong password.
            self.store
                .record_source_failure(source, now, window)
                .await?;
            return refuse("unknown token");
        };
        if t.revoked {
            return refuse("token revoked");
        }
        if t.expires_at.is_some_and(|e| e <= now) {
            return refuse("token expired");
        }
        if !endpoint_allowed(&t.endpoints, method, path) {
            self.counters.bearer_refused.fetch_add(1, Ordering::Relaxed);
            return Err(AuthError::EndpointNotAllowed {
                method: method.to_owned(),
                path: path.chars().take(200).collect(),
            });
        }
        let tenants = self.enabled_tenants().await?;
        let grants = match &t.user_id {
            None => t.roles.clone(),
            Some(uid) => {
                let Some(user) = self.store.user_for_auth(uid).await? else {
                    return refuse("token of a deleted user");
                };
                if user.disabled {
                    return refuse("token of a disabled user");
                }
                let owner = Principal::new(
                    PrincipalKind::User {
                        id: user.id.clone(),
                        username: user.username.clone(),
                    },
                    &user.roles,
                    &tenants,
                );
                cap_grants(&t.roles, &owner)
            }
        };
        let principal = Principal::new(
            PrincipalKind::Token {
                id: t.id.clone(),
                name: t.name.clone(),
                user_id: t.user_id.clone(),
            },
            &grants,
            &tenants,
        );
        if principal.roles.is_empty() {
            return Err(AuthError::NoAccess);
        }
        if t.last_used_at.is_none_or(|l| now - l >= TOUCH_EVERY) {
            self.store.touch_token(&t.id, now).await?;
        }
        Ok(principal)
    }

    /// Ends the session of this cookie (logout). Unknown cookies are not an error.
    pub async fn logout(
        &self,
        cookie_value: &str,
        source_ip: Option<&str>,
    ) -> Result<(), AuthError> {
        if cookie_value.is_empty() || cookie_value.len() > 100 {
            return Ok(());
        }
        let secret = Secret::from(cookie_value);
        if let Some(s) = self.store.session_by_hash(&session_hash(&secret)).await? {
            self.store.delete_session(&s.id).await?;
            self.audit(
                &s.user_id,
                "auth.logout",
                ("session", &s.id),
                AuditOutcome::Success,
                source_ip,
                json!({}),
            )
            .await;
        }
        Ok(())
    }

    /// Deletes expired sessions and old failed-login records (run every few minutes).
    pub async fn purge(&self) -> Result<u64, AuthError> {
        let now = self.now();
        let before = now - chrono_dur(self.policy.throttle_window);
        Ok(self
            .store
            .purge_auth_state(now, chrono_dur(self.policy.session_idle), before)
            .await?)
    }

    // ---------------------------------------------------------------- passwords

    /// Changes the caller's own password (a session, not a token): the current one must be
    /// given, the new one must pass the policy. Every session of the user ends (the caller
    /// logs in again) and `must_change_password` clears.
    pub async fn change_own_password(
        &self,
        principal: &Principal,
        current: &Secret,
        new: &Secret,
        source_ip: Option<&str>,
    ) -> Result<(), AuthError> {
        let PrincipalKind::User { id, .. } = &principal.kind else {
            return Err(Forbidden::NeedsUser {
                action: "password.change",
            }
            .into());
        };
        let user = self
            .store
            .user_for_auth(id)
            .await?
            .ok_or(AuthError::Unauthenticated {
                reason: "unknown user",
            })?;
        let Some(hash) = &user.password_hash else {
            return Err(AuthError::Invalid {
                field: "password",
                reason: "the account authenticates against the directory".into(),
            });
        };
        if !self.verify_password(current, hash).await? {
            return Err(self.fail(Some(&user), source_ip, "password").await);
        }
        self.policy.password.check(&user.username, new.expose())?;
        if self.verify_password(new, hash).await? {
            return Err(AuthError::Invalid {
                field: "password",
                reason: "the new password equals the current one".into(),
            });
        }
        self.store_password(&user, new, false).await?;
        self.audit(
            &user.username,
            "user.password",
            ("user", &user.id),
            AuditOutcome::Success,
            source_ip,
            json!({ "by": "self" }),
        )
        .await;
        Ok(())
    }

    /// Sets another user's password (`users.manage` in one of the user's tenants, and not
    /// above the caller): `None` generates one, returned once. The user must change it at
    /// the next login; their sessions end.
    pub async fn reset_password(
        &self,
        principal: &Principal,
        user_id: &str,
        new: Option<Secret>,
    ) -> Result<Option<Secret>, AuthError> {
        let scope = principal.scope_for(Action::UsersManage, &[])?;
        let user = self.store.get_user(&scope, user_id).await?;
        if principal.user_id() == Some(user_id) {
            return Err(AuthError::Invalid {
                field: "user",
                reason: "change your own password with the current one".into(),
            });
        }
        for g in &user.roles {
            if let Some(mine) = principal.role_in(&g.tenant)
                && role_rank(mine) < role_rank(g.role)
            {
                return Err(Forbidden::AboveOwnRole {
                    tenant: g.tenant.clone(),
                    role: g.role,
                }
                .into());
            }
        }
        let (pw, generated) = match new {
            Some(p) => (p, false),
            None => (generate_password().map_err(internal)?, true),
        };
        self.policy.password.check(&user.username, pw.expose())?;
        self.store_password(&user, &pw, true).await?;
        self.audit(
            &principal.actor(),
            "user.password",
            ("user", &user.id),
            AuditOutcome::Success,
            None,
            json!({ "by": "administrator", "generated": generated }),
        )
        .await;
        Ok(generated.then_some(pw))
    }

    async fn store_password(
        &self,
        user: &User,
        pw: &Secret,
        must_change: bool,
    ) -> Result<(), AuthError> {
        let hash = self.hash_password(pw).await?;
        let scope = self.all_scope().await?;
        self.store
            .update_user(
                &scope,
                &user.id,
                UserPatch {
                    password_hash: Some(hash),
                    must_change_password: Some(must_change),
                    ..UserPatch::default()
                },
            )
            .await?;
        self.store.delete_user_sessions(&user.id).await?;
        Ok(())
    }

    // ---------------------------------------------------------------- users

    /// Creates a local user (`users.manage` in every tenant of the roles, none above the
    /// caller's). Returns the user and, when no password was given, the generated one.
    pub async fn create_user(
        &self,
        principal: &Principal,
        req: CreateUser,
    ) -> Result<(User, Option<Secret>), AuthError> {
        let scope = principal.check_grants_within(Action::UsersManage, &req.roles)?;
        let (user, pw) = self.insert_user(&scope, req).await?;
        self.audit(
            &principal.actor(),
            "user.create",
            ("user", &user.id),
            AuditOutcome::Success,
            None,
            json!({ "username": user.username, "roles": user.roles }),
        )
        .await;
        Ok((user, pw))
    }

    async fn insert_user(
        &self,
        scope: &TenantScope,
        req: CreateUser,
    ) -> Result<(User, Option<Secret>), AuthError> {
        validate_username(&req.username)?;
        let (pw, generated) = match req.password {
            Some(p) => (p, false),
            None => (generate_password().map_err(internal)?, true),
        };
        self.policy.password.check(&req.username, pw.expose())?;
        let hash = self.hash_password(&pw).await?;
        let user = self
            .store
            .create_user(
                scope,
                NewUser {
                    username: req.username,
                    display_name: req.display_name,
                    email: req.email,
                    password_hash: Some(hash),
                    roles: req.roles,
                    must_change_password: generated,
                },
            )
            .await?;
        Ok((user, generated.then_some(pw)))
    }

    /// Replaces a user's roles in the caller's tenants. Nobody changes their own roles, and
    /// nobody grants or removes a role above their own. The user's sessions end.
    pub async fn set_user_roles(
        &self,
        principal: &Principal,
        user_id: &str,
        roles: Vec<RoleGrant>,
    ) -> Result<User, AuthError> {
        let visible = principal.scope_for(Action::UsersRead, &[])?;
        let target = self.store.get_user(&visible, user_id).await?;
        let scope = principal.authorize_role_change(user_id, &target.roles, &roles)?;
        let user = self.store.set_user_roles(&scope, user_id, roles).await?;
        self.store.delete_user_sessions(user_id).await?;
        self.audit(
            &principal.actor(),
            "user.roles",
            ("user", user_id),
            AuditOutcome::Success,
            None,
            json!({ "roles": user.roles }),
        )
        .await;
        Ok(user)
    }

    /// Disables or enables a user (same rules as a role change; nobody disables themselves).
    /// Disabling ends the user's sessions; their tokens stop working.
    pub async fn set_user_disabled(
        &self,
        principal: &Principal,
        user_id: &str,
        disabled: bool,
    ) -> Result<User, AuthError> {
        let visible = principal.scope_for(Action::UsersRead, &[])?;
        let target = self.store.get_user(&visible, user_id).await?;
        let keep: Vec<RoleGrant> = target.roles.clone();
        let scope = principal.authorize_role_change(user_id, &target.roles, &keep)?;
        let user = self
            .store
            .update_user(
                &scope,
                user_id,
                UserPatch {
                    disabled: Some(disabled),
                    ..UserPatch::default()
                },
            )
            .await?;
        if disabled {
            self.store.delete_user_sessions(user_id).await?;
        }
        self.audit(
            &principal.actor(),
            if disabled {
                "user.disable"
            } else {
                "user.enable"
            },
            ("user", user_id),
            AuditOutcome::Success,
            None,
            json!({}),
        )
        .await;
        Ok(user)
    }

    // ---------------------------------------------------------------- first administrator

    /// On first start: when the store has no user at all, creates `admin` (administrator in
    /// Main) with a generated password, which must be changed at first login, and returns the
    /// password for the caller to print **once on the console** (never to the log). `None`
    /// when users exist.
    pub async fn ensure_first_admin(&self) -> Result<Option<Secret>, AuthError> {
        if self.store.user_count().await? > 0 {
            return Ok(None);
        }
        match self.add_admin("admin", None).await {
            Ok((_, pw)) => Ok(pw),
            // Another process created it first.
            Err(AuthError::Store(MetaError::Conflict { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `vigil user add --admin NAME`: creates a general administrator (administrator in
    /// Main). `None` generates the password (returned once; must be changed at first login).
    pub async fn add_admin(
        &self,
        username: &str,
        password: Option<Secret>,
    ) -> Result<(User, Option<Secret>), AuthError> {
        let scope = TenantScope::single(TenantId::main());
        let (user, pw) = self
            .insert_user(
                &scope,
                CreateUser {
                    username: username.to_owned(),
                    display_name: username.to_owned(),
                    email: None,
                    password,
                    roles: vec![RoleGrant {
                        tenant: TenantId::main(),
                        role: Role::Administrator,
                    }],
                },
            )
            .await?;
        self.audit(
            "system",
            "user.create",
            ("user", &user.id),
            AuditOutcome::Success,
            None,
            json!({ "username": user.username, "roles": user.roles, "generated_password": pw.is_some() }),
        )
        .await;
        Ok((user, pw))
    }

    // ---------------------------------------------------------------- tokens

    /// Creates an API token: personal (acts for the caller, capped by the caller's roles at
    /// every use) or, with `service`, a service token (needs `tokens.manage` in each of its
    /// tenants). Tokens cannot create tokens. Every grant must be within the caller's roles;
    /// every endpoint pattern must be valid. The secret is returned once.
    pub async fn create_token(
        &self,
        principal: &Principal,
        req: TokenRequest,
    ) -> Result<CreatedToken, AuthError> {
        let Some(user_id) = (match &principal.kind {
            PrincipalKind::User { id, .. } => Some(id.clone()),
            PrincipalKind::Token { .. } => None,
        }) else {
            return Err(Forbidden::NeedsUser {
                action: "tokens.create",
            }
            .into());
        };
        let name = req.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(AuthError::Invalid {
                field: "name",
                reason: "1 to 200 bytes".into(),
            });
        }
        if req.endpoints.len() > 100 {
            return Err(AuthError::Invalid {
                field: "endpoints",
                reason: "at most 100 patterns".into(),
            });
        }
        for e in &req.endpoints {
            validate_endpoint(e).map_err(|reason| AuthError::Invalid {
                field: "endpoints",
                reason,
            })?;
        }
        if req.expires_at.is_some_and(|e| e <= self.now()) {
            return Err(AuthError::Invalid {
                field: "expires_at",
                reason: "already past".into(),
            });
        }
        let action = if req.service {
            Action::TokensManage
        } else {
            Action::Search
        };
        let scope = if req.service {
            principal.check_grants_within(action, &req.roles)?
        } else {
            // A personal token: any grant within the caller's own roles.
            let tenants: Vec<TenantId> = req.roles.iter().map(|g| g.tenant.clone()).collect();
            for g in &req.roles {
                if principal
                    .role_in(&g.tenant)
                    .is_none_or(|r| role_rank(r) < role_rank(g.role))
                {
                    return Err(Forbidden::AboveOwnRole {
                        tenant: g.tenant.clone(),
                        role: g.role,
                    }
                    .into());
                }
            }
            TenantScope::new(tenants)?
        };
        let secret = generate_token().map_err(internal)?;
        let token = self
            .store
            .create_token(
                &scope,
                NewToken {
                    name: name.to_owned(),
                    user_id: (!req.service).then_some(user_id),
                    token_hash: token_hash(&secret),
                    roles: req.roles,
                    endpoints: req.endpoints,
                    expires_at: req.expires_at,
                    created_by: principal.actor(),
                },
            )
            .await?;
        self.audit(
            &principal.actor(),
            "token.create",
            ("token", &token.id),
            AuditOutcome::Success,
            None,
            json!({ "name": token.name, "roles": token.roles, "endpoints": token.endpoints, "service": req.service }),
        )
        .await;
        Ok(CreatedToken { token, secret })
    }

    /// Tokens the caller may see: with `tokens.manage`, every token of those tenants;
    /// otherwise the caller's own.
    pub async fn list_tokens(
        &self,
        principal: &Principal,
        include_revoked: bool,
        page: &Page,
    ) -> Result<Paged<ApiToken>, AuthError> {
        let (scope, user_id) = match principal.scope_for(Action::TokensManage, &[]) {
            Ok(s) => (s, None),
            Err(_) => {
                let own = principal.user_id().ok_or(Forbidden::Action {
                    action: Action::TokensManage.as_str(),
                })?;
                (
                    principal.scope_for(Action::Search, &[])?,
                    Some(own.to_owned()),
                )
            }
        };
        Ok(self
            .store
            .list_tokens(
                &scope,
                &TokenQuery {
                    user_id,
                    include_revoked,
                },
                page,
            )
            .await?)
    }

    /// Revokes a token: one of the caller's own, or any in tenants where the caller has
    /// `tokens.manage`. Effective on the token's next request.
    pub async fn revoke_token(&self, principal: &Principal, id: &str) -> Result<(), AuthError> {
        let scope = match principal.scope_for(Action::TokensManage, &[]) {
            Ok(s) => s,
            Err(f) => {
                let own = principal.user_id().ok_or(f.clone())?;
                let scope = principal.scope_for(Action::Search, &[])?;
                let mut page = Page::first(1000);
                let mut mine = false;
                loop {
                    let p = self
                        .store
                        .list_tokens(
                            &scope,
                            &TokenQuery {
                                user_id: Some(own.to_owned()),
                                include_revoked: true,
                            },
                            &page,
                        )
                        .await?;
                    if p.items.iter().any(|t| t.id == id) {
                        mine = true;
                        break;
                    }
                    match p.next_cursor {
                        Some(c) => page.cursor = Some(c),
                        None => break,
                    }
                }
                if !mine {
                    return Err(MetaError::NotFound {
                        what: "token",
                        id: id.to_owned(),
                    }
                    .into());
                }
                scope
            }
        };
        self.store.revoke_token(&scope, id).await?;
        self.audit(
            &principal.actor(),
            "token.revoke",
            ("token", id),
            AuditOutcome::Success,
            None,
            json!({}),
        )
        .await;
        Ok(())
    }

    // ---------------------------------------------------------------- TOTP

    /// Starts TOTP enrolment for the caller: a new secret and its `otpauth://` URI, shown to
    /// the user once. Nothing is stored until [`Authenticator::confirm_totp`].
    pub fn begin_totp(&self, principal: &Principal) -> Result<TotpEnrolment, AuthError> {
        let PrincipalKind::User { username, .. } = &principal.kind else {
            return Err(Forbidden::NeedsUser {
                action: "totp.enrol",
            }
            .into());
        };
        let secret = generate_totp_secret().map_err(internal)?;
        let uri = otpauth_uri(&secret, username, &self.policy.totp_issuer).map_err(internal)?;
        Ok(TotpEnrolment { secret, uri })
    }

    /// Completes enrolment: the code must match the secret from
    /// [`Authenticator::begin_totp`]; then logins need a code. The code's step is consumed.
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        secret: &Secret,
        code: &str,
    ) -> Result<(), AuthError> {
        let PrincipalKind::User { id, username } = &principal.kind else {
            return Err(Forbidden::NeedsUser {
                action: "totp.enrol",
            }
            .into());
        };
        let unix = u64::try_from(self.now().timestamp()).unwrap_or(0);
        let Some(step) = totp::matching_step(secret, code, unix) else {
            return Err(AuthError::Invalid {
                field: "code",
                reason: "does not match the secret (check the device clock)".into(),
            });
        };
        let scope = self.all_scope().await?;
        self.store
            .update_user(
                &scope,
                id,
                UserPatch {
                    totp_secret: Some(Some(secret.expose().to_owned())),
                    ..UserPatch::default()
                },
            )
            .await?;
        self.store
            .claim_totp_step(id, i64::try_from(step).unwrap_or(i64::MAX))
            .await?;
        self.audit(
            username,
            "user.totp.enable",
            ("user", id),
            AuditOutcome::Success,
            None,
            json!({}),
        )
        .await;
        Ok(())
    }

    /// Removes a user's TOTP secret: the user themselves, or `users.manage` over them.
    pub async fn disable_totp(
        &self,
        principal: &Principal,
        user_id: &str,
    ) -> Result<(), AuthError> {
        let scope = if principal.user_id() == Some(user_id)
            && matches!(principal.kind, PrincipalKind::User { .. })
        {
            self.all_scope().await?
        } else {
            let visible = principal.scope_for(Action::UsersRead, &[])?;
            let target = self.store.get_user(&visible, user_id).await?;
            principal.authorize_role_change(user_id, &target.roles, &target.roles)?
        };
        self.store
            .update_user(
                &scope,
                user_id,
                UserPatch {
                    totp_secret: Some(None),
                    ..UserPatch::default()
                },
            )
            .await?;
        self.audit(
            &principal.actor(),
            "user.totp.disable",
            ("user", user_id),
            AuditOutcome::Success,
            None,
            json!({}),
        )
        .await;
        Ok(())
    }
}

/// A user token's grants, each lowered to the user's current role in its tenant (dropped
/// where the user has none).
fn cap_grants(token: &[RoleGrant], owner: &Principal) -> Vec<RoleGrant> {
    token
        .iter()
        .filter_map(|g| {
            let mine = owner.role_in(&g.tenant)?;
            let role = if role_rank(mine) < role_rank(g.role) {
                mine
            } else {
                g.role
            };
            Some(RoleGrant {
                tenant: g.tenant.clone(),
                role,
            })
        })
        .collect()
}

fn validate_username(name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name == name.trim()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid {
            field: "username",
            reason: "1 to 64 letters, digits, '.', '_', '-' or '@'".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("alice.b-c_d@corp").is_ok());
        for bad in ["", " a", "a b", "a/b", &"x".repeat(65), "a:b"] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn token_grants_are_capped_by_the_owner() {
        let t = |s: &str| TenantId::new(s).unwrap_or_else(|_| TenantId::main());
        let owner = Principal::new(
            PrincipalKind::User {
                id: "u".into(),
                username: "u".into(),
            },
            &[RoleGrant {
                tenant: t("acme"),
                role: Role::Tier1Analyst,
            }],
            &[t("main"), t("shared"), t("acme"), t("globex")],
        );
        let capped = cap_grants(
            &[
                RoleGrant {
                    tenant: t("acme"),
                    role: Role::Tier2Analyst,
                },
                RoleGrant {
                    tenant: t("globex"),
                    role: Role::ReadOnly,
                },
            ],
            &owner,
        );
        assert_eq!(
            capped,
            vec![RoleGrant {
                tenant: t("acme"),
                role: Role::Tier1Analyst
            }]
        );
    }

    #[test]
    fn errors_map_to_statuses_and_codes() {
        assert_eq!(AuthError::InvalidCredentials.status(), 401);
        assert_eq!(AuthError::Csrf.status(), 403);
        assert_eq!(
            AuthError::Throttled {
                retry_after_secs: 1
            }
            .status(),
            429
        );
        assert_eq!(AuthError::TotpRequired.code(), "totp_required");
        assert_eq!(AuthError::Forbidden(Forbidden::OwnRoles).status(), 403);
    }
}
