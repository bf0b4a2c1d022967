//! `vigil user`, `vigil token`, `vigil tenant`: administrators' counterparts of the API's
//! account routes, working on the metadata store directly (`meta:` of the configuration; the
//! SQLite file may be open by a running `vigil up` at the same time). The CLI acts as a
//! general administrator (whoever can read the data directory or the database URL is one);
//! every change is audited with the actor `cli`.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use vigil_core::auth::{CreateUser, TokenRequest};
use vigil_core::{
    Authenticator, MetaStore, NewTenant, Page, Principal, PrincipalKind, Role, RoleGrant, Secret,
    SqlMetaStore, TenantId, TenantScope, TokenQuery, UserQuery,
};

use crate::UsageError;
use crate::cmd::up::load_config;
use crate::exit;

/// Where the metadata store is.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Configuration file (its `meta:` and `data_dir`).
    #[arg(short, long, global = true, env = "VIGIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the configuration's).
    #[arg(long, global = true, env = "VIGIL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `vigil user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub what: UserCmd,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Adds a user; the generated password is printed once (or read from standard input).
    Add {
        /// Login name.
        name: String,
        /// A general administrator (administrator in the Main tenant).
        #[arg(long)]
        admin: bool,
        /// A role in a tenant, `TENANT:ROLE` (repeatable), e.g. `acme:tier1_analyst`.
        #[arg(long = "role", value_name = "TENANT:ROLE")]
        roles: Vec<String>,
        /// Read the password from the first line of standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lists users (disabled ones too).
    List,
    /// Disables a user (the account and its history stay; sessions end, tokens stop).
    Remove {
        /// Login name.
        name: String,
    },
}

/// `vigil token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub what: TokenCmd,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Creates a service token; its secret is printed once.
    Add {
        /// Name.
        name: String,
        /// A role in a tenant, `TENANT:ROLE` (repeatable, at least one).
        #[arg(long = "role", value_name = "TENANT:ROLE", required = true)]
        roles: Vec<String>,
        /// Endpoints it may call (`GET /api/v1/alerts/**`; repeatable); all when absent.
        #[arg(long = "endpoint")]
        endpoints: Vec<String>,
    },
    /// Lists tokens (never their secrets).
    List,
    /// Revokes a token by id.
    Remove {
        /// Token id.
        id: String,
    },
}

/// `vigil tenant`.
#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(subcommand)]
    pub what: TenantCmd,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Tenant commands.
#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// Adds a customer tenant.
    Add {
        /// Id (`a-z0-9_-`, at most 64).
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
    },
    /// Lists tenants.
    List,
    /// Disables a tenant (its data stays; its users cannot log in). Main and Shared cannot.
    Remove {
        /// Id.
        id: String,
    },
}

fn grants(specs: &[String]) -> Result<Vec<RoleGrant>> {
    specs
        .iter()
        .map(|s| {
            let (t, r) = s
                .split_once(':')
                .ok_or_else(|| UsageError(format!("--role {s}: write TENANT:ROLE")))?;
            let tenant = TenantId::new(t).map_err(|e| UsageError(format!("--role {s}: {e}")))?;
            let role = r.parse::<Role>().map_err(|_| {
                UsageError(format!(
                    "--role {s}: roles are administrator, tenant_administrator, tier2_analyst, tier1_analyst, read_only"
                ))
            })?;
            Ok(RoleGrant { tenant, role })
        })
        .collect()
}

struct Ctx {
    store: Arc<dyn MetaStore>,
    auth: Authenticator,
    cli: Principal,
    all: TenantScope,
}

async fn open(args: &StoreArgs) -> Result<Ctx> {
    let cfg = load_config(&crate::cli::UpArgs {
        config: args.config.clone(),
        data_dir: args.data_dir.clone(),
        syslog_addr: None,
        http_addr: None,
        demo: false,
        demo_rate: 0,
    })?;
    let settings = crate::core_wiring::settings(&cfg).map_err(|p| UsageError(p.join("\n")))?;
    vigil_fs::make_private_dir(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let store: Arc<dyn MetaStore> = Arc::new(
        SqlMetaStore::open(&settings.meta, &cfg.data_dir)
            .await
            .context("opening the metadata store")?,
    );
    let auth = Authenticator::new(store.clone(), settings.policy, settings.ldap)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let tenants = store.all_tenant_ids().await?;
    let cli = Principal::new(
        PrincipalKind::User {
            id: "cli".into(),
            username: "cli".into(),
        },
        &[RoleGrant {
            tenant: TenantId::main(),
            role: Role::Administrator,
        }],
        &tenants,
    );
    Ok(Ctx {
        store,
        auth,
        cli,
        all: TenantScope::new(tenants)?,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn fail(e: vigil_core::AuthError) -> anyhow::Error {
    match e.status() {
        400..=499 => UsageError(e.to_string()).into(),
        _ => anyhow::anyhow!("{e}"),
    }
}

async fn find_user(c: &Ctx, name: &str) -> Result<vigil_core::User> {
    let mut page = Page::first(1000);
    loop {
        let p = c
            .store
            .list_users(
                &c.all,
                &UserQuery {
                    text: Some(name.to_owned()),
                    include_disabled: true,
                },
                &page,
            )
            .await?;
        if let Some(u) = p.items.into_iter().find(|u| u.username == name) {
            return Ok(u);
        }
        match p.next_cursor {
            Some(cur) => page.cursor = Some(cur),
            None => return Err(UsageError(format!("no user {name:?}")).into()),
        }
    }
}

fn roles_text(roles: &[RoleGrant]) -> String {
    roles
        .iter()
        .map(|g| format!("{}:{}", g.tenant.as_str(), g.role))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn user(args: UserArgs) -> Result<u8> {
    runtime()?.block_on(async {
        let c = open(&args.store).await?;
        match args.what {
            UserCmd::Add {
                name,
                admin,
                roles,
                password_stdin,
            } => {
                let password = if password_stdin {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    Some(Secret::new(line.trim_end_matches(['\r', '\n']).to_owned()))
                } else {
                    None
                };
                let (user, pw) = if admin {
                    if !roles.is_empty() {
                        return Err(
                            UsageError("--admin holds every role; drop --role".into()).into()
                        );
                    }
                    c.auth.add_admin(&name, password).await.map_err(fail)?
                } else {
                    let roles = grants(&roles)?;
                    if roles.is_empty() {
                        return Err(UsageError(
                            "give --admin or at least one --role TENANT:ROLE".into(),
                        )
                        .into());
                    }
                    c.auth
                        .create_user(
                            &c.cli,
                            CreateUser {
                                username: name.clone(),
                                display_name: name.clone(),
                                email: None,
                                password,
                                roles,
                            },
                        )
                        .await
                        .map_err(fail)?
                };
                println!(
                    "created user {} ({}) {}",
                    user.username,
                    user.id,
                    roles_text(&user.roles)
                );
                if let Some(pw) = pw {
                    println!(
                        "password (shown once; to be changed at the first login): {}",
                        pw.expose()
                    );
                }
            }
            UserCmd::List => {
                let mut page = Page::first(1000);
                println!("{:<26}  {:<24}  {:<8}  roles", "id", "username", "state");
                loop {
                    let p = c
                        .store
                        .list_users(
                            &c.all,
                            &UserQuery {
                                text: None,
                                include_disabled: true,
                            },
                            &page,
                        )
                        .await?;
                    for u in &p.items {
                        println!(
                            "{:<26}  {:<24}  {:<8}  {}",
                            u.id,
                            u.username,
                            if u.disabled { "disabled" } else { "active" },
                            roles_text(&u.roles)
                        );
                    }
                    match p.next_cursor {
                        Some(cur) => page.cursor = Some(cur),
                        None => break,
                    }
                }
            }
            UserCmd::Remove { name } => {
                let u = find_user(&c, &name).await?;
                c.auth
                    .set_user_disabled(&c.cli, &u.id, true)
                    .await
                    .map_err(fail)?;
                println!("disabled user {name} ({})", u.id);
            }
        }
        Ok(exit::OK)
    })
}

pub fn token(args: TokenArgs) -> Result<u8> {
    runtime()?.block_on(async {
        let c = open(&args.store).await?;
        match args.what {
            TokenCmd::Add {
                name,
                roles,
                endpoints,
            } => {
                let t = c
                    .auth
                    .create_token(
                        &c.cli,
                        TokenRequest {
                            name,
                            roles: grants(&roles)?,
                            endpoints,
                            expires_at: None,
                            service: true,
                        },
                    )
                    .await
                    .map_err(fail)?;
                println!(
                    "created token {} ({}) {}",
                    t.token.name,
                    t.token.id,
                    roles_text(&t.token.roles)
                );
                println!("secret (shown once): {}", t.secret.expose());
            }
            TokenCmd::List => {
                let mut page = Page::first(1000);
                println!("{:<26}  {:<24}  {:<8}  roles", "id", "name", "state");
                loop {
                    let p = c
                        .store
                        .list_tokens(
                            &c.all,
                            &TokenQuery {
                                user_id: None,
                                include_revoked: true,
                            },
                            &page,
                        )
                        .await?;
                    for t in &p.items {
                        println!(
                            "{:<26}  {:<24}  {:<8}  {}",
                            t.id,
                            t.name,
                            if t.revoked { "revoked" } else { "active" },
                            roles_text(&t.roles)
                        );
                    }
                    match p.next_cursor {
                        Some(cur) => page.cursor = Some(cur),
                        None => break,
                    }
                }
            }
            TokenCmd::Remove { id } => {
                c.auth.revoke_token(&c.cli, &id).await.map_err(fail)?;
                println!("revoked token {id}");
            }
        }
        Ok(exit::OK)
    })
}

pub fn tenant(args: TenantArgs) -> Result<u8> {
    runtime()?.block_on(async {
        let c = open(&args.store).await?;
        match args.what {
            TenantCmd::Add { id, name } => {
                let tid = TenantId::new(&id).map_err(|e| UsageError(format!("{id}: {e}")))?;
                let t = c
                    .store
                    .create_tenant(NewTenant {
                        id: tid,
                        name: name.unwrap_or_else(|| id.clone()),
                        description: String::new(),
                        eps_limit: None,
                    })
                    .await
                    .map_err(|e| match e {
                        vigil_core::MetaError::Conflict { .. } => {
                            anyhow::Error::from(UsageError(format!("tenant {id} exists already")))
                        }
                        e => e.into(),
                    })?;
                audit(&c, "tenant.create", &id).await;
                println!("created tenant {} ({})", t.id.as_str(), t.name);
            }
            TenantCmd::List => {
                println!("{:<24}  {:<8}  {:<8}  name", "id", "kind", "state");
                for t in c.store.list_tenants(&c.all).await? {
                    println!(
                        "{:<24}  {:<8}  {:<8}  {}",
                        t.id.as_str(),
                        t.kind,
                        if t.disabled { "disabled" } else { "active" },
                        t.name
                    );
                }
            }
            TenantCmd::Remove { id } => {
                let tid = TenantId::new(&id).map_err(|e| UsageError(format!("{id}: {e}")))?;
                if tid == TenantId::main() || tid == TenantId::shared() {
                    return Err(UsageError(format!("tenant {id} cannot be disabled")).into());
                }
                c.store
                    .update_tenant(&c.all, &tid, None, None, None, Some(true))
                    .await
                    .map_err(|e| match e {
                        vigil_core::MetaError::NotFound { .. } => {
                            anyhow::Error::from(UsageError(format!("no tenant {id}")))
                        }
                        e => e.into(),
                    })?;
                audit(&c, "tenant.disable", &id).await;
                println!("disabled tenant {id}");
            }
        }
        Ok(exit::OK)
    })
}

async fn audit(c: &Ctx, action: &str, id: &str) {
    let rec = vigil_core::NewAuditRecord {
        tenant: TenantId::main(),
        at: chrono::Utc::now(),
        actor: "cli".into(),
        action: action.into(),
        target_kind: "tenant".into(),
        target_id: id.into(),
        outcome: vigil_core::AuditOutcome::Success,
        source_ip: None,
        details: serde_json::json!({}),
    };
    if let Err(e) = c.store.append_audit(rec).await {
        tracing::error!(error = %e, action, "audit record not written");
    }
}
