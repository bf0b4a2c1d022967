//! Collectors: the `collectors:` of the configuration file `vigil up` runs from (connector type
//! and options, normalizer, tenant), listed, validated and edited as YAML, one collector at a
//! time.
//!
//! * Reading needs `sources.read` in the collector's tenant; validating, saving and deleting
//!   need `sources.write` (tenant administrator) in the collector's tenant, and in the new one
//!   when an edit moves it. Every scope comes from [`Caller::scope`].
//! * Secrets are never answered: a connector option named `token`, `tokens`, `password`,
//!   `*passphrase` or `*secret*` is shown as [`MASK`], and the password of a URL
//!   (`postgres://user:PASSWORD@host/db`) likewise; `${env:NAME}` and `${file:PATH}` references
//!   are shown as written (they are not the secret). When an edit sends the mask back
//!   unchanged, the stored value is kept.
//! * Validation is the configuration's own ([`vigil_config::load_str`] over the whole file with
//!   the edited collector in place, so duplicate ids and shared ports are caught) plus the
//!   binary's component checks ([`ConfigFile::new`]'s `check`: connector settings, normalizer
//!   packs and files). Every problem comes with its path and, inside the edited collector, its
//!   line in the YAML sent.
//! * Saving rewrites the file (atomically; the previous text is kept as `<file>.previous`;
//!   comments are not kept) and is audited (`collector.update`, `collector.delete`, with the
//!   masked YAML). Connectors bind sockets and own state at start, so a saved change **takes
//!   effect when `vigil up` restarts**; the listing says when the file differs from what runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vigil_core::{Action, TenantId};
use yaml_serde::Value;

use super::admin::audit;
use super::common::*;
use crate::ApiState;

/// What a secret is shown as.
pub const MASK: &str = "********";
/// Longest collector YAML accepted.
pub const MAX_YAML: usize = 256 << 10;
/// When a saved change applies.
pub const TAKES_EFFECT: &str = "Saved changes take effect when vigil up restarts: connectors bind their sockets and open their state at start, so they are not reloaded in place.";

/// Extra checks of a validated configuration that need the binary's components (connector
/// settings, normalizer packs and files): each problem as `(path, message)`.
pub type Check = Box<dyn Fn(&vigil_config::Config) -> Vec<(String, String)> + Send + Sync>;

/// The configuration file the instance runs from.
pub struct ConfigFile {
    /// The file; none when the instance runs the built-in default (then read-only).
    path: Option<PathBuf>,
    /// The `collectors` section the instance started with.
    started: Value,
    /// The file normalizers the instance runs: (tenant, collector id, file).
    file_normalizers: Vec<(TenantId, String, PathBuf)>,
    check: Check,
    /// One save at a time.
    writer: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ConfigFile {
    /// The configuration of a starting instance: its file (none: the built-in default) and
    /// the configuration it validated into.
    pub fn new(path: Option<PathBuf>, running: &vigil_config::Config, check: Check) -> ConfigFile {
        let text = match &path {
            Some(p) => read(p).unwrap_or_default(),
            None => vigil_config::DEFAULT_CONFIG.to_owned(),
        };
        let started = collectors_of(&text);
        let file_normalizers = running
            .collectors
            .iter()
            .filter_map(|c| match &c.normalizer {
                vigil_config::NormalizerConfig::File { path, .. } => {
                    Some((TenantId::new(&c.tenant).ok()?, c.id.clone(), path.clone()))
                }
                _ => None,
            })
            .collect();
        ConfigFile {
            path,
            started,
            file_normalizers,
            check,
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// The file normalizers the instance runs: (tenant, collector id, file).
    pub fn file_normalizers(&self) -> &[(TenantId, String, PathBuf)] {
        &self.file_normalizers
    }

    fn text(&self) -> ApiResult<String> {
        match &self.path {
            Some(p) => read(p).map_err(|e| {
                ApiError::internal(format!("reading the configuration {}: {e}", p.display()))
            }),
            None => Ok(vigil_config::DEFAULT_CONFIG.to_owned()),
        }
    }

    fn base_dir(&self) -> &Path {
        self.path
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."))
    }

    fn origin(&self) -> String {
        self.path.as_ref().map_or_else(
            || "built-in default configuration".to_owned(),
            |p| p.display().to_string(),
        )
    }
}

fn read(p: &Path) -> Result<String, String> {
    let bytes = vigil_config::read_file_capped(p, vigil_config::MAX_CONFIG_SIZE)
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())
}

fn collectors_of(text: &str) -> Value {
    yaml_serde::from_str::<Value>(text)
        .ok()
        .and_then(|d| d.get("collectors").cloned())
        .unwrap_or(Value::Null)
}

fn config(st: &ApiState) -> ApiResult<&Arc<ConfigFile>> {
    st.core()?.config.get().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_supported",
            "this server was not started by `vigil up` and has no configuration file",
        )
    })
}

// ------------------------------------------------------------------ secrets

fn is_secret_key(k: &str) -> bool {
    matches!(k, "token" | "tokens" | "password" | "bind_password")
        || k.ends_with("passphrase")
        || k.contains("secret")
}

fn is_reference(s: &str) -> bool {
    let s = s.trim();
    s.starts_with("${") && s.ends_with('}')
}

/// The byte range of a URL's password (`scheme://user:PASSWORD@host`), if it has one.
fn url_password(s: &str) -> Option<std::ops::Range<usize>> {
    let start = s.find("://")? + 3;
    let authority_end = s[start..]
        .find(['/', '?', '#'])
        .map_or(s.len(), |i| start + i);
    let at = s[start..authority_end].rfind('@')? + start;
    let colon = s[start..at].find(':')? + start;
    Some(colon + 1..at)
}

/// Replaces every secret under `v` by [`MASK`].
pub fn mask(v: &mut Value) {
    mask_in(v, false);
}

fn mask_in(v: &mut Value, secret: bool) {
    match v {
        Value::Mapping(m) => {
            for (k, x) in m.iter_mut() {
                let key = k.as_str().unwrap_or("");
                if key == "url" {
                    if let Value::String(s) = x
                        && !is_reference(s)
                        && let Some(r) = url_password(s)
                    {
                        s.replace_range(r, MASK);
                    }
                } else {
                    mask_in(x, secret || is_secret_key(key));
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|x| mask_in(x, secret)),
        Value::Tagged(t) => mask_in(&mut t.value, secret),
        Value::Null => {}
        Value::String(s) if is_reference(s) => {}
        other if secret => *other = Value::String(MASK.into()),
        _ => {}
    }
}

/// Puts the stored secrets back where an edit sent the mask unchanged; a mask with no stored
/// secret at its place is a problem.
fn unmask(v: &mut Value, old: Option<&Value>, path: &str, problems: &mut Vec<(String, String)>) {
    match v {
        Value::Mapping(m) => {
            for (k, x) in m.iter_mut() {
                let key = k.as_str().unwrap_or("").to_owned();
                let o = old.and_then(|o| o.get(key.as_str()));
                unmask(x, o, &join(path, &key), problems);
            }
        }
        Value::Sequence(items) => {
            for (i, x) in items.iter_mut().enumerate() {
                let o = old.and_then(|o| o.get(i));
                unmask(x, o, &format!("{path}[{i}]"), problems);
            }
        }
        Value::String(s) if s.as_str() == MASK => match old {
            Some(o) if !o.is_null() => *v = o.clone(),
            _ => problems.push((
                path.to_owned(),
                "the masked value has no stored secret here; write the secret (or a `${env:NAME}` reference)".into(),
            )),
        },
        Value::String(s) => {
            if let Some(r) = url_password(s)
                && &s[r.clone()] == MASK
            {
                let stored = old
                    .and_then(Value::as_str)
                    .and_then(|o| url_password(o).map(|or| o[or].to_owned()));
                match stored {
                    Some(p) => s.replace_range(r, &p),
                    None => problems.push((
                        path.to_owned(),
                        "the URL's masked password has no stored password here; write it".into(),
                    )),
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

// ------------------------------------------------------------------ lines

/// The path's segments: `connector.tokens[0]` → `connector`, `[0]`... as keys and indexes.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                out.push(Seg::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

/// Column of a line's content after its indentation and list dashes, with the column of its
/// first dash (if any) and the content.
fn shape(line: &str) -> Option<(usize, Option<usize>, &str)> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let mut col = line.len() - trimmed.len();
    let mut dash = None;
    let mut rest = trimmed;
    while let Some(r) = rest
        .strip_prefix("- ")
        .or(if rest == "-" { Some("") } else { None })
    {
        dash.get_or_insert(col);
        let after = r.trim_start();
        col += rest.len() - after.len();
        rest = after;
    }
    Some((col, dash, rest))
}

/// The 1-based line of `path` in block-style YAML `text`, or of its deepest ancestor found
/// (a value written in flow style is found at its parent's line); none for the whole text.
pub fn locate(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let (mut lo, mut hi) = (0usize, lines.len());
    let mut found = None;
    for seg in segments(path) {
        let mut hit = None;
        match seg {
            Seg::Key(k) => {
                let mut best: Option<(usize, usize)> = None;
                for (i, l) in lines.iter().enumerate().take(hi).skip(lo) {
                    let Some((col, _, rest)) = shape(l) else {
                        continue;
                    };
                    let rest = rest.trim_start_matches(['"', '\'']);
                    if let Some(after) = rest.strip_prefix(k) {
                        let after = after.trim_start_matches(['"', '\'']);
                        if after.starts_with(':') && best.is_none_or(|(_, c)| col < c) {
                            best = Some((i, col));
                        }
                    }
                }
                if let Some((i, col)) = best {
                    let end = (i + 1..hi)
                        .find(|&j| shape(lines[j]).is_some_and(|(c, d, _)| d.unwrap_or(c) <= col))
                        .unwrap_or(hi);
                    hit = Some((i, i + 1, end));
                }
            }
            Seg::Index(n) => {
                let dash_col = (lo..hi)
                    .filter_map(|i| shape(lines[i]).and_then(|(_, d, _)| d))
                    .min();
                if let Some(dc) = dash_col {
                    let items: Vec<usize> = (lo..hi)
                        .filter(|&i| shape(lines[i]).is_some_and(|(_, d, _)| d == Some(dc)))
                        .collect();
                    if let Some(&i) = items.get(n) {
                        let end = (i + 1..hi)
                            .find(|&j| {
                                shape(lines[j]).is_some_and(|(c, d, _)| d.unwrap_or(c) <= dc)
                            })
                            .unwrap_or(hi);
                        hit = Some((i, i, end));
                    }
                }
            }
        }
        match hit {
            Some((line, from, to)) => {
                found = Some(line + 1);
                lo = from;
                hi = to;
            }
            None => break,
        }
    }
    found
}

// ------------------------------------------------------------------ views

/// A collector of the configuration, secrets masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectorView {
    /// Its id (`vigil.source` of its events).
    pub id: String,
    /// Tenant of its events.
    pub tenant: String,
    /// Connector type (`syslog`, `http`, `file`, `sql`, ...).
    pub connector: String,
    /// The connector's options (secrets masked).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// Normalizer type (`syslog`, `pack`, `file`, `auto`).
    pub normalizer: String,
    /// The pack's name or the file's path, for `pack` and `file`.
    pub normalizer_name: Option<String>,
    /// Transforms in order.
    pub transforms: usize,
    /// The collector as YAML (secrets masked), as edited.
    pub yaml: String,
}

/// The configuration's collectors.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectorList {
    /// The file they are read from and saved to; none: the built-in default (read-only).
    pub config_file: Option<String>,
    /// Whether they can be saved (the instance runs from a file).
    pub editable: bool,
    /// Whether the file's collectors differ from those running (saved, restart pending).
    pub restart_pending: bool,
    /// When a saved change takes effect.
    pub takes_effect: String,
    /// The collectors in the caller's tenants, in file order.
    pub collectors: Vec<CollectorView>,
}

fn view(v: &Value) -> Option<CollectorView> {
    let mut masked = v.clone();
    mask(&mut masked);
    let s = |x: Option<&Value>| x.and_then(Value::as_str).map(str::to_owned);
    let connector = masked.get("connector");
    let mut options = connector
        .map(|c| serde_json::to_value(c).unwrap_or_default())
        .unwrap_or_default();
    if let Some(o) = options.as_object_mut() {
        o.remove("type");
    }
    let normalizer = masked.get("normalizer");
    Some(CollectorView {
        id: s(masked.get("id"))?,
        tenant: s(masked.get("tenant")).unwrap_or_else(|| "main".into()),
        connector: s(connector.and_then(|c| c.get("type"))).unwrap_or_default(),
        options,
        normalizer: s(normalizer.and_then(|n| n.get("type"))).unwrap_or_else(|| "syslog".into()),
        normalizer_name: s(normalizer.and_then(|n| n.get("name").or_else(|| n.get("path")))),
        transforms: masked
            .get("transforms")
            .and_then(Value::as_sequence)
            .map_or(0, Vec::len),
        yaml: yaml_serde::to_string(&masked).unwrap_or_default(),
    })
}

fn tenant_of(v: &Value) -> String {
    v.get("tenant")
        .and_then(Value::as_str)
        .unwrap_or("main")
        .to_owned()
}

/// Whose collectors.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CollectorParams {
    /// Tenants (comma-separated); default: every tenant where the caller may read sources.
    pub tenant: Option<String>,
}

/// Lists the configuration file's collectors in the caller's tenants, secrets masked.
#[utoipa::path(get, path = "/api/v1/collectors", tag = "sources", params(CollectorParams),
    responses((status = 200, body = CollectorList), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_collectors(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<CollectorParams>,
) -> ApiResult<axum::Json<CollectorList>> {
    let scope = caller.scope(Action::SourcesRead, &tenants(&p.tenant)?)?;
    let cf = config(&st)?;
    let now = collectors_of(&cf.text()?);
    let collectors = now
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|c| TenantId::new(&tenant_of(c)).is_ok_and(|t| scope.contains(&t)))
        .filter_map(view)
        .collect();
    Ok(axum::Json(CollectorList {
        config_file: cf.path.as_ref().map(|p| p.display().to_string()),
        editable: cf.path.is_some(),
        restart_pending: now != cf.started,
        takes_effect: TAKES_EFFECT.into(),
        collectors,
    }))
}

// ------------------------------------------------------------------ validate and save

/// A collector as YAML, to validate or save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectorEdit {
    /// The collector being edited (its id before the edit); none: a new collector.
    #[serde(default)]
    pub id: Option<String>,
    /// One collector (`id`, `tenant`, `connector`, `normalizer`, `transforms`), as YAML; a
    /// masked secret sent back unchanged keeps the stored value.
    pub yaml: String,
}

/// One problem of an edit.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectorProblem {
    /// Where, relative to the edited collector (`connector.tokens[0]`), or the full path in
    /// the file (`collectors[2].id`) for a problem elsewhere; empty: the whole collector.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Its line in the YAML sent (1-based), when it lies in the edited collector.
    pub line: Option<usize>,
}

/// What validating an edit found.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectorValidation {
    /// No problem.
    pub valid: bool,
    /// Every problem, with its path and line.
    pub problems: Vec<CollectorProblem>,
}

/// An edit applied to the file's text, checked.
struct Applied {
    doc: Value,
    collector: Value,
    old_tenant: Option<String>,
    problems: Vec<CollectorProblem>,
}

fn apply(cf: &ConfigFile, text: &str, edit: &CollectorEdit, remove: bool) -> ApiResult<Applied> {
    if edit.yaml.len() > MAX_YAML {
        return Err(ApiError::invalid(format!(
            "yaml: longer than {MAX_YAML} bytes"
        )));
    }
    let mut doc: Value = yaml_serde::from_str(text)
        .map_err(|e| ApiError::internal(format!("the configuration file no longer parses: {e}")))?;
    let Value::Mapping(top) = &mut doc else {
        return Err(ApiError::internal(
            "the configuration file is not a mapping",
        ));
    };
    let list = top
        .entry(Value::String("collectors".into()))
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if list.is_null() {
        *list = Value::Sequence(Vec::new());
    }
    let Value::Sequence(items) = list else {
        return Err(ApiError::invalid(
            "collectors: the file's collectors are not a list",
        ));
    };
    let index = edit.id.as_deref().and_then(|id| {
        items
            .iter()
            .position(|c| c.get("id").and_then(Value::as_str) == Some(id))
    });
    let old = index.map(|i| items[i].clone());
    let old_tenant = old.as_ref().map(tenant_of);
    let mut problems = Vec::new();
    if remove {
        if let Some(i) = index {
            items.remove(i);
        }
        let collector = old.unwrap_or(Value::Null);
        check(cf, &doc, usize::MAX, "", &mut problems);
        return Ok(Applied {
            doc,
            collector,
            old_tenant,
            problems,
        });
    }
    let mut collector: Value = match yaml_serde::from_str(&edit.yaml) {
        Ok(v) => v,
        Err(e) => {
            problems.push(CollectorProblem {
                path: String::new(),
                message: format!("invalid YAML: {e}"),
                line: e.location().map(|l| l.line()),
            });
            return Ok(Applied {
                doc,
                collector: Value::Null,
                old_tenant,
                problems,
            });
        }
    };
    if !collector.is_mapping() {
        problems.push(CollectorProblem {
            path: String::new(),
            message:
                "a collector is a mapping: `id`, `tenant`, `connector`, `normalizer`, `transforms`"
                    .into(),
            line: Some(1),
        });
        return Ok(Applied {
            doc,
            collector,
            old_tenant,
            problems,
        });
    }
    let mut masked = Vec::new();
    unmask(&mut collector, old.as_ref(), "", &mut masked);
    problems.extend(masked.into_iter().map(|(path, message)| CollectorProblem {
        line: locate(&edit.yaml, &path),
        path,
        message,
    }));
    let at = match index {
        Some(i) => {
            items[i] = collector.clone();
            i
        }
        None => {
            items.push(collector.clone());
            items.len() - 1
        }
    };
    check(cf, &doc, at, &edit.yaml, &mut problems);
    Ok(Applied {
        doc,
        collector,
        old_tenant,
        problems,
    })
}

/// Validates the whole document; problems inside `collectors[at]` are given relative to it,
/// with their line in `snippet`.
fn check(cf: &ConfigFile, doc: &Value, at: usize, snippet: &str, out: &mut Vec<CollectorProblem>) {
    let text = yaml_serde::to_string(doc).unwrap_or_default();
    let found: Vec<(String, String)> =
        match vigil_config::load_str(&text, &cf.origin(), cf.base_dir()) {
            Ok(cfg) => (cf.check)(&cfg),
            Err(e) => e.errors.into_iter().map(|e| (e.path, e.message)).collect(),
        };
    let prefix = format!("collectors[{at}]");
    for (path, message) in found {
        let rel = path
            .strip_prefix(&prefix)
            .filter(|r| r.is_empty() || r.starts_with(['.', '[']))
            .map(|r| r.trim_start_matches('.').to_owned());
        out.push(match rel {
            Some(rel) => CollectorProblem {
                line: locate(snippet, &rel).or(Some(1)),
                path: rel,
                message,
            },
            None => CollectorProblem {
                path,
                message,
                line: None,
            },
        });
    }
}

/// The tenants an edit touches, each needing `sources.write`.
fn authorize(caller: &Caller, a: &Applied) -> ApiResult<()> {
    let mut touched: Vec<String> = a.old_tenant.iter().cloned().collect();
    if a.collector.is_mapping() {
        touched.push(tenant_of(&a.collector));
    }
    for t in touched {
        // a tenant id the configuration would refuse is reported by validation
        if let Ok(t) = TenantId::new(&t) {
            caller.scope(Action::SourcesWrite, std::slice::from_ref(&t))?;
        }
    }
    if a.old_tenant.is_none() && !a.collector.is_mapping() {
        caller.scope(Action::SourcesWrite, &[])?;
    }
    Ok(())
}

/// Validates a collector edit against the whole configuration: every problem with its path
/// and its line in the YAML sent. Nothing is written.
#[utoipa::path(post, path = "/api/v1/collectors/validate", tag = "sources", request_body = CollectorEdit,
    responses((status = 200, body = CollectorValidation), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn validate_collector(
    State(st): State<ApiState>,
    caller: Caller,
    Body(edit): Body<CollectorEdit>,
) -> ApiResult<axum::Json<CollectorValidation>> {
    caller.scope(Action::SourcesWrite, &[])?;
    let cf = config(&st)?;
    let a = apply(cf, &cf.text()?, &edit, false)?;
    authorize(&caller, &a)?;
    Ok(axum::Json(CollectorValidation {
        valid: a.problems.is_empty(),
        problems: a.problems,
    }))
}

/// What a save did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectorSaved {
    /// The collector as saved (secrets masked); none after a delete.
    pub collector: Option<CollectorView>,
    /// The file written.
    pub config_file: String,
    /// Always true: the change runs after a restart.
    pub restart_pending: bool,
    /// When it takes effect.
    pub takes_effect: String,
}

async fn save(
    st: &ApiState,
    caller: &Caller,
    edit: CollectorEdit,
    remove: bool,
) -> ApiResult<axum::Json<CollectorSaved>> {
    caller.scope(Action::SourcesWrite, &[])?;
    let cf = config(st)?;
    let Some(path) = cf.path.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_supported",
            "this instance runs the built-in default configuration; start it with --config FILE to edit collectors",
        ));
    };
    let _one = cf.writer.lock().await;
    let text = cf.text()?;
    let a = apply(cf, &text, &edit, remove)?;
    authorize(caller, &a)?;
    if remove && a.old_tenant.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such collector",
        ));
    }
    if !a.problems.is_empty() {
        let list: Vec<String> = a
            .problems
            .iter()
            .map(|p| {
                if p.path.is_empty() {
                    p.message.clone()
                } else {
                    format!("{}: {}", p.path, p.message)
                }
            })
            .collect();
        return Err(ApiError::invalid(list.join("; ")));
    }
    let out = yaml_serde::to_string(&a.doc).map_err(ApiError::internal)?;
    let previous = PathBuf::from(format!("{}.previous", path.display()));
    let tmp = PathBuf::from(format!("{}.saving", path.display()));
    let written = vigil_fs::write(&previous, &text)
        .and_then(|()| vigil_fs::write(&tmp, &out))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(ApiError::internal(format!(
            "writing {}: {e}",
            path.display()
        )));
    }
    let saved = view(&a.collector);
    let id = edit
        .id
        .clone()
        .or_else(|| saved.as_ref().map(|v| v.id.clone()))
        .unwrap_or_default();
    let tenant = saved
        .as_ref()
        .map(|v| v.tenant.clone())
        .or(a.old_tenant.clone())
        .unwrap_or_else(|| "main".into());
    audit(
        st,
        caller,
        &TenantId::new(&tenant).unwrap_or_else(|_| TenantId::main()),
        if remove {
            "collector.delete"
        } else {
            "collector.update"
        },
        ("collector", &id),
        json!({
            "file": path.display().to_string(),
            "created": a.old_tenant.is_none(),
            "yaml": saved.as_ref().map(|v| v.yaml.clone()),
            "takes_effect": "restart",
        }),
    )
    .await;
    Ok(axum::Json(CollectorSaved {
        collector: if remove { None } else { saved },
        config_file: path.display().to_string(),
        restart_pending: true,
        takes_effect: TAKES_EFFECT.into(),
    }))
}

/// The YAML of a collector to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectorBody {
    /// One collector as YAML (masked secrets sent back unchanged keep their stored value).
    pub yaml: String,
}

/// Saves a collector (creates it when no collector has the id) into the configuration file,
/// after validating the whole file with it; answered 400 with every problem when invalid.
/// Takes effect at the next restart.
#[utoipa::path(put, path = "/api/v1/collectors/{id}", tag = "sources",
    params(("id" = String, Path, description = "the collector's id before the edit")),
    request_body = CollectorBody,
    responses((status = 200, body = CollectorSaved), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn save_collector(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
    Body(b): Body<CollectorBody>,
) -> ApiResult<axum::Json<CollectorSaved>> {
    save(
        &st,
        &caller,
        CollectorEdit {
            id: Some(id),
            yaml: b.yaml,
        },
        false,
    )
    .await
}

/// Removes a collector from the configuration file; takes effect at the next restart.
#[utoipa::path(delete, path = "/api/v1/collectors/{id}", tag = "sources",
    params(("id" = String, Path, description = "the collector's id")),
    responses((status = 200, body = CollectorSaved), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn delete_collector(
    State(st): State<ApiState>,
    caller: Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<axum::Json<CollectorSaved>> {
    save(
        &st,
        &caller,
        CollectorEdit {
            id: Some(id),
            yaml: String::new(),
        },
        true,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "id: web\ntenant: acme\nconnector:\n  type: http\n  listen: 127.0.0.1:8088\n  tokens:\n    - s3cret-token-1\n    - ${env:HEC_TOKEN}\nnormalizer:\n  type: pack\n  name: linux\ntransforms:\n  - type: filter\n    drop: 'process.name:CRON'\n";

    #[test]
    fn paths_are_found_at_their_lines() {
        assert_eq!(locate(C, "connector.tokens[1]"), Some(8));
        assert_eq!(locate(C, "connector.listen"), Some(5));
        assert_eq!(locate(C, "normalizer.name"), Some(11));
        assert_eq!(locate(C, "transforms[0].drop"), Some(14));
        assert_eq!(locate(C, "tenant"), Some(2));
        // not written: the deepest ancestor
        assert_eq!(locate(C, "connector.tls.cert"), Some(3));
        assert_eq!(locate(C, ""), None);
        let flow = "id: a\nconnector: {type: syslog, tcp: 'x'}\n";
        assert_eq!(locate(flow, "connector.tcp"), Some(2));
    }

    #[test]
    fn secrets_are_masked_and_kept_when_the_mask_comes_back() {
        let stored: Value = yaml_serde::from_str(C).unwrap_or(Value::Null);
        let mut shown = stored.clone();
        mask(&mut shown);
        let text = yaml_serde::to_string(&shown).unwrap_or_default();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("${env:HEC_TOKEN}"), "{text}");
        let mut back: Value = yaml_serde::from_str(&text).unwrap_or(Value::Null);
        let mut problems = Vec::new();
        unmask(&mut back, Some(&stored), "", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, stored);
        // a mask where nothing is stored is a problem at its path
        let mut new: Value =
            yaml_serde::from_str("connector:\n  password: '********'\n").unwrap_or(Value::Null);
        unmask(&mut new, None, "", &mut problems);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "connector.password");
    }

    #[test]
    fn url_passwords_are_masked_and_restored() {
        let stored: Value = yaml_serde::from_str(
            "connector:\n  type: sql\n  url: postgres://vigil:pa55@db:5432/audit\n",
        )
        .unwrap_or(Value::Null);
        let mut shown = stored.clone();
        mask(&mut shown);
        assert_eq!(
            shown["connector"]["url"].as_str(),
            Some("postgres://vigil:********@db:5432/audit")
        );
        let mut problems = Vec::new();
        unmask(&mut shown, Some(&stored), "", &mut problems);
        assert!(problems.is_empty());
        assert_eq!(shown, stored);
    }
}
