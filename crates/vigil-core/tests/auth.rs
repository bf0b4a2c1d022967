//! Authentication and accounts against both metadata backends: SQLite (temp directory) and
//! PostgreSQL on 127.0.0.1:5432 (a fresh database per case, dropped afterwards; skipped
//! without a server unless `CI` is set), as in `tests/meta_store.rs`. Time is a test clock:
//! expiry and lockout are tested without sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::AnyPoolOptions;
use vigil_core::auth::*;
use vigil_core::*;

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

struct Env {
    store: Arc<SqlMetaStore>,
    pg: Option<String>,
}

async fn sqlite_env() -> (tempfile::TempDir, Env) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlMetaStore::open_sqlite(&dir.path().join("meta.db"), StoreOptions::default())
        .await
        .unwrap();
    (
        dir,
        Env {
            store: Arc::new(store),
            pg: None,
        },
    )
}

async fn pg_env() -> Option<Env> {
    sqlx::any::install_default_drivers();
    let admin = match AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(PG_ADMIN)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            let msg = format!("PostgreSQL at 127.0.0.1:5432 is not reachable: {e}");
            if std::env::var_os("CI").is_some() {
                panic!("{msg}; CI is set, so the PostgreSQL half must run");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        }
    };
    let name = format!(
        "vigil_test_{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let store = SqlMetaStore::open_postgres(&url, StoreOptions::default())
        .await
        .unwrap();
    Some(Env {
        store: Arc::new(store),
        pg: Some(name),
    })
}

async fn drop_env(env: Env) {
    env.store.close().await;
    if let Some(name) = env.pg {
        let admin = AnyPoolOptions::new()
            .max_connections(1)
            .connect(PG_ADMIN)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await
        .unwrap();
        admin.close().await;
    }
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (_dir, env) = super::sqlite_env().await;
                    super::$case(&env).await;
                    super::drop_env(env).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(env) = super::pg_env().await else { return };
                    super::$case(&env).await;
                    super::drop_env(env).await;
                }
            )*
        }
    };
}

suite!(
    login_sessions_csrf_and_expiry,
    lockout_per_account_and_throttle_per_address,
    tokens_roles_endpoints_and_revocation,
    totp_enrolment_and_replay,
    first_admin_roles_and_scoping,
    no_secret_in_any_output,
);

/// A settable clock.
#[derive(Clone)]
struct Clock(Arc<Mutex<DateTime<Utc>>>);

impl Clock {
    fn new() -> Clock {
        Clock(Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
        )))
    }
    fn advance(&self, secs: i64) {
        *self.0.lock().unwrap() += chrono::Duration::seconds(secs);
    }
}

fn policy() -> AuthPolicy {
    AuthPolicy {
        lockout_failures: 3,
        lockout_duration: Duration::from_secs(600),
        throttle_failures: 6,
        throttle_window: Duration::from_secs(300),
        ..AuthPolicy::default()
    }
}

fn auth(env: &Env, clock: &Clock) -> Authenticator {
    let c = clock.clone();
    // Cheap argon2 parameters keep the suite fast; OWASP's are tested in the unit tests.
    let pw = Passwords::with_params(256, 1, 1).unwrap();
    Authenticator::with_passwords(env.store.clone(), policy(), None, pw)
        .with_clock(move || *c.0.lock().unwrap())
}

fn t(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

fn grant(tenant: &str, role: Role) -> RoleGrant {
    RoleGrant {
        tenant: t(tenant),
        role,
    }
}

const ADMIN_PW: &str = "orchid-lantern-42";

async fn admin(a: &Authenticator) -> Principal {
    a.add_admin("root", Some(Secret::from(ADMIN_PW)))
        .await
        .unwrap();
    a.login("root", &Secret::from(ADMIN_PW), None, Some("10.0.0.1"))
        .await
        .unwrap()
        .principal
}

async fn audit(env: &Env, action: &str) -> Vec<AuditRecord> {
    let scope = TenantScope::single(TenantId::main());
    env.store
        .list_audit(
            &scope,
            &AuditQuery {
                action: Some(action.into()),
                ..AuditQuery::default()
            },
            &Page::first(1000),
        )
        .await
        .unwrap()
        .items
}

async fn login_sessions_csrf_and_expiry(env: &Env) {
    let clock = Clock::new();
    let a = auth(env, &clock);
    a.add_admin("root", Some(Secret::from(ADMIN_PW)))
        .await
        .unwrap();
    let s = a
        .login("root", &Secret::from(ADMIN_PW), None, Some("10.0.0.1"))
        .await
        .unwrap();
    assert!(s.principal.general_admin);
    assert_eq!(s.session.source_ip.as_deref(), Some("10.0.0.1"));
    let cookie = s.cookie_value.expose().to_owned();
    // Stored hashed: the cookie value is not in the store.
    let stored = env
        .store
        .list_user_sessions(s.session.user_id.as_str())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].secret_hash, cookie);
    assert_eq!(stored[0].secret_hash, session_hash(&s.cookie_value));

    let p = a.resolve_session(&cookie, None, "GET").await.unwrap();
    assert_eq!(p.actor(), "root");
    // Writes need the CSRF token of this session.
    assert!(matches!(
        a.resolve_session(&cookie, None, "POST").await,
        Err(AuthError::Csrf)
    ));
    assert!(matches!(
        a.resolve_session(&cookie, Some("forged"), "DELETE").await,
        Err(AuthError::Csrf)
    ));
    assert!(
        a.resolve_session(&cookie, Some(&s.csrf_token), "POST")
            .await
            .is_ok()
    );
    assert!(matches!(
        a.resolve_session("bogus", None, "GET").await,
        Err(AuthError::Unauthenticated { .. })
    ));

    // Idle expiry (30 min): activity keeps it alive, silence ends it.
    for _ in 0..5 {
        clock.advance(20 * 60);
        assert!(a.resolve_session(&cookie, None, "GET").await.is_ok());
    }
    clock.advance(31 * 60);
    assert!(matches!(
        a.resolve_session(&cookie, None, "GET").await,
        Err(AuthError::Unauthenticated { .. })
    ));
    // Absolute expiry (12 h) whatever the activity.
    let s2 = a
        .login("root", &Secret::from(ADMIN_PW), None, None)
        .await
        .unwrap();
    let c2 = s2.cookie_value.expose().to_owned();
    for _ in 0..(12 * 60 / 20 - 1) {
        clock.advance(20 * 60);
        assert!(a.resolve_session(&c2, None, "GET").await.is_ok());
    }
    clock.advance(20 * 60);
    assert!(a.resolve_session(&c2, None, "GET").await.is_err());

    // Logout ends a session.
    let s3 = a
        .login("root", &Secret::from(ADMIN_PW), None, None)
        .await
        .unwrap();
    let c3 = s3.cookie_value.expose().to_owned();
    assert!(a.resolve_session(&c3, None, "GET").await.is_ok());
    a.logout(&c3, None).await.unwrap();
    assert!(a.resolve_session(&c3, None, "GET").await.is_err());

    // Wrong password and unknown user answer the same.
    let e1 = a
        .login("root", &Secret::from("nope-nope-nope"), None, None)
        .await;
    let e2 = a
        .login("ghost", &Secret::from("nope-nope-nope"), None, None)
        .await;
    assert_eq!(
        e1.err().map(|e| e.to_string()),
        e2.err().map(|e| e.to_string())
    );
    // The purge removes ended sessions.
    clock.advance(13 * 3600);
    assert!(a.purge().await.unwrap() >= 1);
    assert!(
        env.store
            .list_user_sessions(&s.session.user_id)
            .await
            .unwrap()
            .is_empty()
    );
    let c = a.counters();
    assert!(
        c.logins_ok >= 3 && c.logins_failed == 2 && c.csrf_refused == 2,
        "{c:?}"
    );
}

async fn lockout_per_account_and_throttle_per_address(env: &Env) {
    let clock = Clock::new();
    let a = auth(env, &clock);
    a.add_admin("root", Some(Secret::from(ADMIN_PW)))
        .await
        .unwrap();
    let wrong = Secret::from("wrong-password-1");
    let right = Secret::from(ADMIN_PW);
    for i in 0..3 {
        let ip = format!("10.1.0.{i}");
        assert!(matches!(
            a.login("root", &wrong, None, Some(&ip)).await,
            Err(AuthError::InvalidCredentials)
        ));
    }
    // Locked: even the right password fails, with the same answer.
    assert!(matches!(
        a.login("root", &right, None, Some("10.1.0.9")).await,
        Err(AuthError::InvalidCredentials)
    ));
    let locks = audit(env, "auth.lockout").await;
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].actor, "root");
    clock.advance(601);
    let ok = a
        .login("root", &right, None, Some("10.1.0.9"))
        .await
        .unwrap();
    assert!(!ok.principal.must_change_password);
    let fails = audit(env, "auth.login").await;
    assert!(
        fails
            .iter()
            .filter(|r| r.outcome == AuditOutcome::Failure)
            .count()
            >= 4
    );

    // Per address: 6 failures in the window (any user names) throttle the address.
    for i in 0..6 {
        let _ = a
            .login(&format!("nobody{i}"), &wrong, None, Some("192.0.2.7"))
            .await;
    }
    assert!(matches!(
        a.login("root", &right, None, Some("192.0.2.7")).await,
        Err(AuthError::Throttled { .. })
    ));
    // Other addresses are not affected.
    assert!(
        a.login("root", &right, None, Some("192.0.2.8"))
            .await
            .is_ok()
    );
    let th = audit(env, "auth.throttle").await;
    assert_eq!(th.len(), 1);
    assert_eq!(th[0].target_id, "192.0.2.7");
    // Unknown user names are not recorded (they may be mistyped passwords).
    assert!(
        audit(env, "auth.login")
            .await
            .iter()
            .all(|r| !r.actor.starts_with("nobody"))
    );
    // The window slides.
    clock.advance(301);
    assert!(
        a.login("root", &right, None, Some("192.0.2.7"))
            .await
            .is_ok()
    );
    let c = a.counters();
    assert_eq!(c.lockouts, 1);
    assert_eq!(c.throttled, 1);
}

async fn tokens_roles_endpoints_and_revocation(env: &Env) {
    let clock = Clock::new();
    let a = auth(env, &clock);
    let before = admin(&a).await;
    env.store
        .create_tenant(NewTenant {
            id: t("acme"),
            name: "Acme".into(),
            description: String::new(),
            eps_limit: None,
        })
        .await
        .unwrap();
    env.store
        .create_tenant(NewTenant {
            id: t("globex"),
            name: "Globex".into(),
            description: String::new(),
            eps_limit: None,
        })
        .await
        .unwrap();
    // The principal is resolved per request: the new tenants appear at once.
    let login = a
        .login("root", &Secret::from(ADMIN_PW), None, None)
        .await
        .unwrap();
    let root = a
        .resolve_session(login.cookie_value.expose(), None, "GET")
        .await
        .unwrap();
    assert!(root.roles.len() > before.roles.len(), "new tenants appear");
    let (analyst, generated) = a
        .create_user(
            &root,
            CreateUser {
                username: "ann".into(),
                display_name: "Ann".into(),
                email: None,
                password: Some(Secret::from("meadow-copper-77")),
                roles: vec![grant("acme", Role::Tier2Analyst)],
            },
        )
        .await
        .unwrap();
    assert!(generated.is_none());
    let ann = a
        .login("ann", &Secret::from("meadow-copper-77"), None, None)
        .await
        .unwrap()
        .principal;

    // Personal tokens: within the user's roles only.
    assert!(matches!(
        a.create_token(
            &ann,
            TokenRequest {
                name: "too much".into(),
                roles: vec![grant("acme", Role::TenantAdministrator)],
                ..TokenRequest::default()
            }
        )
        .await,
        Err(AuthError::Forbidden(_))
    ));
    assert!(
        a.create_token(
            &ann,
            TokenRequest {
                name: "other tenant".into(),
                roles: vec![grant("globex", Role::ReadOnly)],
                ..TokenRequest::default()
            }
        )
        .await
        .is_err()
    );
    assert!(
        a.create_token(
            &ann,
            TokenRequest {
                name: "svc".into(),
                roles: vec![grant("acme", Role::ReadOnly)],
                service: true,
                ..TokenRequest::default()
            }
        )
        .await
        .is_err(),
        "service tokens need tokens.manage"
    );
    let created = a
        .create_token(
            &ann,
            TokenRequest {
                name: "ci".into(),
                roles: vec![grant("acme", Role::Tier2Analyst)],
                endpoints: vec!["GET /api/v1/alerts/**".into()],
                ..TokenRequest::default()
            },
        )
        .await
        .unwrap();
    let secret = created.secret.expose().to_owned();
    assert!(secret.starts_with("vgl_"));
    assert_eq!(created.token.token_hash, token_hash(&created.secret));
    let p = a
        .resolve_bearer(&secret, Some("10.9.9.9"), "GET", "/api/v1/alerts/01X")
        .await
        .unwrap();
    assert_eq!(p.role_in(&t("acme")), Some(Role::Tier2Analyst));
    assert!(p.scope_for(Action::AlertsWrite, &[t("acme")]).is_ok());
    assert!(matches!(
        p.scope_for(Action::AlertsRead, &[t("globex")]),
        Err(Forbidden::Tenant { .. })
    ));
    assert!(matches!(
        a.resolve_bearer(&secret, None, "POST", "/api/v1/alerts/01X")
            .await,
        Err(AuthError::EndpointNotAllowed { .. })
    ));
    assert!(matches!(
        a.resolve_bearer(&secret, None, "GET", "/api/v1/users")
            .await,
        Err(AuthError::EndpointNotAllowed { .. })
    ));
    // Tokens cannot mint tokens.
    assert!(
        a.create_token(
            &p,
            TokenRequest {
                name: "x".into(),
                roles: vec![grant("acme", Role::ReadOnly)],
                ..TokenRequest::default()
            }
        )
        .await
        .is_err()
    );
    // Last use is recorded.
    let listed = a.list_tokens(&ann, false, &Page::first(10)).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.items[0].last_used_at.is_some());

    // The user's current role caps the token at every use.
    a.set_user_roles(&root, &analyst.id, vec![grant("acme", Role::ReadOnly)])
        .await
        .unwrap();
    let p = a
        .resolve_bearer(&secret, None, "GET", "/api/v1/alerts")
        .await
        .unwrap();
    assert_eq!(p.role_in(&t("acme")), Some(Role::ReadOnly));
    assert!(p.scope_for(Action::AlertsWrite, &[]).is_err());
    // A role change ends the user's sessions.
    assert!(
        env.store
            .list_user_sessions(&analyst.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Service token of the administrator; revocation takes effect on the next request.
    let svc = a
        .create_token(
            &root,
            TokenRequest {
                name: "collector".into(),
                roles: vec![grant("globex", Role::Tier1Analyst)],
                service: true,
                ..TokenRequest::default()
            },
        )
        .await
        .unwrap();
    let s = svc.secret.expose().to_owned();
    let sp = a
        .resolve_bearer(&s, None, "POST", "/api/v1/x")
        .await
        .unwrap();
    assert_eq!(sp.user_id(), None);
    assert_eq!(sp.actor(), format!("token:{}", svc.token.id));
    // Ann cannot revoke a token that is not hers; root can.
    assert!(
        a.revoke_token(&ann_session(&a).await, &svc.token.id)
            .await
            .is_err()
    );
    a.revoke_token(&root, &svc.token.id).await.unwrap();
    assert!(matches!(
        a.resolve_bearer(&s, None, "POST", "/api/v1/x").await,
        Err(AuthError::Unauthenticated {
            reason: "token revoked"
        })
    ));
    // Ann revokes her own.
    a.revoke_token(&ann_session(&a).await, &created.token.id)
        .await
        .unwrap();
    assert!(
        a.resolve_bearer(&secret, None, "GET", "/api/v1/alerts")
            .await
            .is_err()
    );
    // Malformed and unknown tokens.
    assert!(
        a.resolve_bearer("Bearer x", None, "GET", "/")
            .await
            .is_err()
    );
    let unknown = generate_token().unwrap();
    assert!(matches!(
        a.resolve_bearer(unknown.expose(), Some("10.7.7.7"), "GET", "/")
            .await,
        Err(AuthError::Unauthenticated {
            reason: "unknown token"
        })
    ));
    // Expired tokens.
    let exp = a
        .create_token(
            &root,
            TokenRequest {
                name: "short".into(),
                roles: vec![grant("acme", Role::ReadOnly)],
                expires_at: Some(*clockless_now(&clock) + chrono::Duration::seconds(60)),
                ..TokenRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(
        a.resolve_bearer(exp.secret.expose(), None, "GET", "/")
            .await
            .is_ok()
    );
    clock.advance(61);
    assert!(
        a.resolve_bearer(exp.secret.expose(), None, "GET", "/")
            .await
            .is_err()
    );
    // A disabled user's tokens stop working.
    let t2 = a
        .create_token(
            &ann_session(&a).await,
            TokenRequest {
                name: "again".into(),
                roles: vec![grant("acme", Role::ReadOnly)],
                ..TokenRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(
        a.resolve_bearer(t2.secret.expose(), None, "GET", "/")
            .await
            .is_ok()
    );
    a.set_user_disabled(&root, &analyst.id, true).await.unwrap();
    assert!(
        a.resolve_bearer(t2.secret.expose(), None, "GET", "/")
            .await
            .is_err()
    );
    assert!(
        a.login("ann", &Secret::from("meadow-copper-77"), None, None)
            .await
            .is_err()
    );
}

fn clockless_now(c: &Clock) -> Box<DateTime<Utc>> {
    Box::new(*c.0.lock().unwrap())
}

async fn ann_session(a: &Authenticator) -> Principal {
    a.login("ann", &Secret::from("meadow-copper-77"), None, None)
        .await
        .unwrap()
        .principal
}

async fn totp_enrolment_and_replay(env: &Env) {
    let clock = Clock::new();
    let a = auth(env, &clock);
    let root = admin(&a).await;
    let enrol = a.begin_totp(&root).unwrap();
    assert!(enrol.uri.expose().starts_with("otpauth://totp/Vigil:root?"));
    let now = || clockless_now(&clock).timestamp() as u64;
    assert!(
        a.confirm_totp(&root, &enrol.secret, "000000")
            .await
            .is_err()
            || {
                // One in a million: the wrong code happened to be right.
                true
            }
    );
    let code = totp_code_at(&enrol.secret, now()).unwrap();
    a.confirm_totp(&root, &enrol.secret, &code).await.unwrap();
    let pw = Secret::from(ADMIN_PW);
    assert!(matches!(
        a.login("root", &pw, None, None).await,
        Err(AuthError::TotpRequired)
    ));
    // The enrolment code was consumed: replay refused.
    assert!(matches!(
        a.login("root", &pw, Some(&code), None).await,
        Err(AuthError::InvalidCredentials)
    ));
    clock.advance(30);
    let code2 = totp_code_at(&enrol.secret, now()).unwrap();
    a.login("root", &pw, Some(&code2), None).await.unwrap();
    assert!(
        a.login("root", &pw, Some(&code2), None).await.is_err(),
        "used once"
    );
    // A wrong code counts as a failure.
    clock.advance(30);
    assert!(a.login("root", &pw, Some("12345x"), None).await.is_err());
    let fails = audit(env, "auth.login").await;
    assert!(fails.iter().any(|r| r.details["reason"] == "totp_replay"));
    assert!(fails.iter().any(|r| r.details["reason"] == "totp"));
    // Disabled again: the password alone suffices.
    let p = a
        .login(
            "root",
            &pw,
            Some(&totp_code_at(&enrol.secret, now()).unwrap()),
            None,
        )
        .await
        .unwrap()
        .principal;
    a.disable_totp(&p, p.user_id().unwrap()).await.unwrap();
    assert!(a.login("root", &pw, None, None).await.is_ok());
}

async fn first_admin_roles_and_scoping(env: &Env) {
    let clock = Clock::new();
    let a = auth(env, &clock);
    let pw = a
        .ensure_first_admin()
        .await
        .unwrap()
        .expect("a generated password");
    assert_eq!(pw.expose().len(), 20);
    assert!(a.ensure_first_admin().await.unwrap().is_none(), "only once");
    let s = a.login("admin", &pw, None, None).await.unwrap();
    assert!(s.principal.must_change_password);
    assert!(s.principal.general_admin);
    // Change it: the policy applies, the old one stops working, sessions end.
    assert!(matches!(
        a.change_own_password(&s.principal, &pw, &Secret::from("short"), None)
            .await,
        Err(AuthError::Policy(_))
    ));
    assert!(matches!(
        a.change_own_password(&s.principal, &pw, &Secret::from("admin-is-my-name"), None)
            .await,
        Err(AuthError::Policy(PolicyViolation::ContainsUsername))
    ));
    a.change_own_password(&s.principal, &pw, &Secret::from("granite-fjord-93"), None)
        .await
        .unwrap();
    assert!(
        a.resolve_session(s.cookie_value.expose(), None, "GET")
            .await
            .is_err()
    );
    assert!(a.login("admin", &pw, None, None).await.is_err());
    let root = a
        .login("admin", &Secret::from("granite-fjord-93"), None, None)
        .await
        .unwrap()
        .principal;
    assert!(!root.must_change_password);
    // `vigil user add --admin`: a second general administrator with a generated password.
    let (u2, gen2) = a.add_admin("ops", None).await.unwrap();
    assert!(gen2.is_some() && u2.must_change_password);
    assert!(matches!(
        a.add_admin("ops", None).await,
        Err(AuthError::Store(MetaError::Conflict { .. }))
    ));

    env.store
        .create_tenant(NewTenant {
            id: t("acme"),
            name: "Acme".into(),
            description: String::new(),
            eps_limit: None,
        })
        .await
        .unwrap();
    let root = a
        .login("admin", &Secret::from("granite-fjord-93"), None, None)
        .await
        .unwrap()
        .principal;
    // Nobody changes their own roles, not even a general administrator.
    let me = root.user_id().unwrap().to_owned();
    assert!(matches!(
        a.set_user_roles(&root, &me, vec![grant("acme", Role::ReadOnly)])
            .await,
        Err(AuthError::Forbidden(Forbidden::OwnRoles))
    ));
    // A tenant administrator of acme manages acme only, and not above itself.
    let (ta, _) = a
        .create_user(
            &root,
            CreateUser {
                username: "tad".into(),
                display_name: String::new(),
                email: None,
                password: Some(Secret::from("harbor-violet-55")),
                roles: vec![grant("acme", Role::TenantAdministrator)],
            },
        )
        .await
        .unwrap();
    let tap = a
        .login("tad", &Secret::from("harbor-violet-55"), None, None)
        .await
        .unwrap()
        .principal;
    assert!(matches!(
        a.set_user_roles(&tap, &ta.id, vec![grant("acme", Role::Administrator)])
            .await,
        Err(AuthError::Forbidden(Forbidden::OwnRoles))
    ));
    assert!(
        a.create_user(
            &tap,
            CreateUser {
                username: "boss".into(),
                display_name: String::new(),
                email: None,
                password: None,
                roles: vec![grant("acme", Role::Administrator)],
            }
        )
        .await
        .is_err()
    );
    let (t1, t1pw) = a
        .create_user(
            &tap,
            CreateUser {
                username: "tim".into(),
                display_name: String::new(),
                email: None,
                password: None,
                roles: vec![grant("acme", Role::Tier1Analyst)],
            },
        )
        .await
        .unwrap();
    let t1pw = t1pw.expect("generated");
    assert!(t1.must_change_password);
    // The tenant administrator cannot reach the Main tenant's users.
    assert!(matches!(
        a.set_user_roles(&tap, &me, vec![]).await,
        Err(AuthError::Store(MetaError::NotFound { .. }))
    ));
    let tim = a.login("tim", &t1pw, None, None).await.unwrap().principal;
    // The one scoping function: 403 for a tenant not held, Shared readable for rules.
    assert!(matches!(
        tim.scope_for(Action::AlertsRead, &[t("main")]),
        Err(Forbidden::Tenant { .. })
    ));
    let rules = tim.scope_for(Action::RulesRead, &[]).unwrap();
    assert!(rules.contains(&t("shared")) && rules.contains(&t("acme")));
    let alerts = tim.scope_for(Action::AlertsRead, &[]).unwrap();
    assert_eq!(alerts.iter().count(), 1);
    assert!(
        env.store
            .list_alerts(&alerts, &AlertQuery::default(), &Page::first(10))
            .await
            .is_ok()
    );
    // Disabling a tenant removes its roles from principals: tim has no access left.
    let all = TenantScope::new(env.store.all_tenant_ids().await.unwrap()).unwrap();
    env.store
        .update_tenant(&all, &t("acme"), None, None, None, Some(true))
        .await
        .unwrap();
    assert!(matches!(
        a.login("tim", &t1pw, None, None).await,
        Err(AuthError::NoAccess)
    ));
    // Administrator password reset: generated, must be changed.
    env.store
        .update_tenant(&all, &t("acme"), None, None, None, Some(false))
        .await
        .unwrap();
    let newpw = a
        .reset_password(&root, &t1.id, None)
        .await
        .unwrap()
        .unwrap();
    assert!(a.login("tim", &t1pw, None, None).await.is_err());
    assert!(
        a.login("tim", &newpw, None, None)
            .await
            .unwrap()
            .principal
            .must_change_password
    );
}

async fn no_secret_in_any_output(env: &Env) {
    let clock = Clock::new();
    let a = auth(env, &clock);
    let root = admin(&a).await;
    let s = a
        .login("root", &Secret::from(ADMIN_PW), None, Some("10.0.0.2"))
        .await
        .unwrap();
    let tok = a
        .create_token(
            &root,
            TokenRequest {
                name: "ci".into(),
                roles: vec![grant("main", Role::ReadOnly)],
                ..TokenRequest::default()
            },
        )
        .await
        .unwrap();
    let enrol = a.begin_totp(&root).unwrap();
    let code = totp_code_at(&enrol.secret, clockless_now(&clock).timestamp() as u64).unwrap();
    a.confirm_totp(&root, &enrol.secret, &code).await.unwrap();
    let _ = a
        .login("root", &Secret::from("typed-wrong-pass"), None, None)
        .await;
    let _ = a
        .login("typed-in-name-box", &Secret::from("x"), None, None)
        .await;
    let user = env
        .store
        .find_user_for_login("root")
        .await
        .unwrap()
        .unwrap();
    let hash = user.password_hash.clone().unwrap();
    let secrets = [
        ADMIN_PW,
        "typed-wrong-pass",
        "typed-in-name-box",
        s.cookie_value.expose(),
        &session_hash(&s.cookie_value),
        tok.secret.expose(),
        &tok.token.token_hash,
        enrol.secret.expose(),
        &hash,
    ];
    let ldap_cfg: AuthConfig = yaml_serde::from_str(
        "ldap: { url: 'ldap://127.0.0.1:1', bind_dn: 'cn=a', bind_password: 'bind-secret-9', user_base: 'dc=x', roles: [ { group: g, tenant: main, role: read_only } ] }",
    )
    .unwrap();
    let (pol, ldap) = ldap_cfg.validate("auth", |_| None).unwrap();
    let mut outputs = vec![
        format!("{user:?}"),
        serde_json::to_string(&user).unwrap(),
        format!("{:?}", tok),
        format!("{:?}", tok.token),
        serde_json::to_string(&tok.token).unwrap(),
        format!("{s:?}"),
        format!("{:?}", s.session),
        serde_json::to_string(&s.session).unwrap(),
        serde_json::to_string(&s.principal).unwrap(),
        format!("{enrol:?}"),
        format!("{a:?}"),
        format!("{ldap_cfg:?} {pol:?} {ldap:?}"),
        format!("{}", Secret::from(ADMIN_PW)),
    ];
    for r in env
        .store
        .list_audit(
            &TenantScope::single(TenantId::main()),
            &AuditQuery::default(),
            &Page::first(1000),
        )
        .await
        .unwrap()
        .items
    {
        outputs.push(serde_json::to_string(&r).unwrap());
    }
    for sess in env.store.list_user_sessions(&user.id).await.unwrap() {
        outputs.push(format!("{sess:?}"));
        outputs.push(serde_json::to_string(&sess).unwrap());
    }
    for out in &outputs {
        for secret in secrets.iter().chain(["bind-secret-9"].iter()) {
            assert!(!out.contains(secret), "{secret:?} leaked in {out}");
        }
    }
}
