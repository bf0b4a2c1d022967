//! Normalizers: the shipped packs (name, product, parser, definition) and "try this normalizer
//! on a sample", which runs a pack, or a definition sent in the request, over sample lines and
//! answers the events it makes, each with its parse error if it failed — the console's Sources
//! page and `vigil normalize` over HTTP. A definition with no lines only validates it: every
//! problem with its path (`name.mapping[2].convert: unknown conversion 'ipp'`).
//!
//! Both need `rules.read` (normalizers are content) in the tenant named, or in any tenant of
//! the caller. Nothing is stored: a definition sent here lives for the request only.
//!
//! Besides the shipped packs, the list holds the normalizers the running configuration loads
//! from files (`normalizer: {type: file, path}`) for collectors of the caller's tenants, read
//! from disk at each request (with the collectors that use them); "try" runs them by name too.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_core::Action;
use vigil_event::{Bytes, RawRecord, SourceInfo, Timestamp};
use vigil_normalize::{DefinitionErrors, Library, Normalizer, NormalizerTree};

use super::common::*;
use crate::ApiState;

/// Most sample lines one try runs.
pub const MAX_LINES: usize = 200;
/// Longest sample line, bytes (longer lines are refused, not cut: the answer would mislead).
pub const MAX_LINE: usize = 64 << 10;
/// Longest definition, bytes.
pub const MAX_DEFINITION: usize = 1 << 20;

/// A shipped pack, compiled once.
struct Pack {
    dir: &'static str,
    text: &'static str,
    normalizer: Arc<Normalizer>,
}

/// The shipped library and its compiled packs by name.
type Shipped = (Library, BTreeMap<String, Pack>);

/// The shipped library and its packs by name; an error when a shipped pack does not compile
/// (a build defect, answered 500 and logged).
fn shipped() -> Result<&'static Shipped, ApiError> {
    static SHIPPED: OnceLock<Result<Shipped, String>> = OnceLock::new();
    SHIPPED
        .get_or_init(|| {
            let lib = Library::builtin().map_err(|e| e.to_string())?;
            let mut packs = BTreeMap::new();
            for (dir, text) in vigil_normalize::shipped_packs() {
                let mut one = Library::new();
                let name = one
                    .add_yaml(text, &format!("packs/{dir}/normalizer.yaml"))
                    .map_err(|e| e.to_string())?;
                let normalizer = lib.compile(&name).map_err(|e| e.to_string())?;
                packs.insert(
                    name,
                    Pack {
                        dir,
                        text,
                        normalizer,
                    },
                );
            }
            Ok((lib, packs))
        })
        .as_ref()
        .map_err(|e| ApiError::internal(format!("shipped normalizer packs: {e}")))
}

/// A normalizer: a shipped pack, or a definition file the configuration loads.
#[derive(Debug, Serialize, ToSchema)]
pub struct NormalizerInfo {
    /// The normalizer's name (what `normalizer: {type: pack, name}` names, or the `name:` of
    /// a file's definition).
    pub name: String,
    /// `pack` (shipped) or `file` (loaded by the configuration).
    pub source: String,
    /// The pack's directory under `packs/` (packs).
    pub pack: Option<String>,
    /// The definition file (files).
    pub file: Option<String>,
    /// The collectors that use it (files; packs name none).
    pub collectors: Vec<String>,
    /// Why the file does not compile (files); none when it does.
    pub error: Option<String>,
    /// The product it reads.
    pub product: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// Its parser type (`syslog`, `json`, `cef`, ...); none when it only routes to children.
    pub parser: Option<String>,
    /// Whether `auto` can pick it (it has a `detect` condition).
    pub detect: bool,
    /// The definition, YAML.
    pub definition: String,
}

/// Whose normalizers.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NormalizerParams {
    /// A tenant the caller reads content in; default: any of its tenants.
    pub tenant: Option<String>,
}

fn check_scope(caller: &Caller, tenant: Option<&str>) -> ApiResult<vigil_core::TenantScope> {
    let named = tenant.map(super::common::tenant).transpose()?;
    caller.scope(Action::RulesRead, named.as_slice())
}

/// A definition file the running configuration loads.
struct FileNormalizer {
    path: String,
    collectors: Vec<String>,
    text: String,
    compiled: Result<Arc<Normalizer>, String>,
}

/// The definition files of the collectors in `scope`, read and compiled now (one entry per
/// file, in configuration order).
fn file_normalizers(
    st: &ApiState,
    scope: &vigil_core::TenantScope,
) -> ApiResult<Vec<FileNormalizer>> {
    let Some(cf) = st.core.as_ref().and_then(|c| c.config.get()) else {
        return Ok(Vec::new());
    };
    let (lib, _) = shipped()?;
    let mut out: Vec<FileNormalizer> = Vec::new();
    for (tenant, collector, path) in cf.file_normalizers() {
        if !scope.contains(tenant) {
            continue;
        }
        let shown = path.display().to_string();
        if let Some(f) = out.iter_mut().find(|f| f.path == shown) {
            f.collectors.push(collector.clone());
            continue;
        }
        let read = vigil_config::read_file_capped(path, MAX_DEFINITION as u64)
            .map_err(|e| e.to_string())
            .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8".to_owned()));
        let (text, compiled) = match read {
            Ok(text) => {
                let mut lib = lib.clone();
                let c = lib
                    .add_yaml(&text, &shown)
                    .and_then(|name| lib.compile(&name))
                    .map_err(|e| e.to_string());
                (text, c)
            }
            Err(e) => (String::new(), Err(format!("{shown}: {e}"))),
        };
        out.push(FileNormalizer {
            path: shown,
            collectors: vec![collector.clone()],
            text,
            compiled,
        });
    }
    Ok(out)
}

/// Lists the shipped normalizer packs with their definitions.
#[utoipa::path(get, path = "/api/v1/normalizers", tag = "sources", params(NormalizerParams),
    responses((status = 200, body = Vec<NormalizerInfo>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_normalizers(
    State(st): State<ApiState>,
    caller: Caller,
    Params(p): Params<NormalizerParams>,
) -> ApiResult<axum::Json<Vec<NormalizerInfo>>> {
    let scope = check_scope(&caller, p.tenant.as_deref())?;
    let (_, packs) = shipped()?;
    let files = file_normalizers(&st, &scope)?;
    let mut out: Vec<NormalizerInfo> = files
        .into_iter()
        .map(|f| {
            let n = f.compiled.as_ref().ok();
            NormalizerInfo {
                name: n.map_or_else(|| f.path.clone(), |n| n.name().to_owned()),
                source: "file".into(),
                pack: None,
                file: Some(f.path),
                collectors: f.collectors,
                error: f.compiled.as_ref().err().cloned(),
                product: n.and_then(|n| n.product()).map(str::to_owned),
                description: n.and_then(|n| n.description()).map(str::to_owned),
                parser: n.and_then(|n| n.parser_kind()).map(str::to_owned),
                detect: n.is_some_and(|n| n.has_detect()),
                definition: f.text,
            }
        })
        .collect();
    out.extend(packs.iter().map(|(name, p)| NormalizerInfo {
        name: name.clone(),
        source: "pack".into(),
        pack: Some(p.dir.to_owned()),
        file: None,
        collectors: Vec::new(),
        error: None,
        product: p.normalizer.product().map(str::to_owned),
        description: p.normalizer.description().map(str::to_owned),
        parser: p.normalizer.parser_kind().map(str::to_owned),
        detect: p.normalizer.has_detect(),
        definition: p.text.to_owned(),
    }));
    Ok(axum::Json(out))
}

/// A normalizer to try and the lines to try it on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    /// A tenant the caller reads content in; default: any of its tenants.
    #[serde(default)]
    pub tenant: Option<String>,
    /// A normalizer by name (see GET /api/v1/normalizers: a shipped pack, or a definition file
    /// of a collector in the caller's tenants). Exactly one of `normalizer` and `definition`.
    #[serde(default)]
    pub normalizer: Option<String>,
    /// A normalizer definition (YAML, as in a `normalizer: {type: file}` file); it may use the
    /// shipped packs' normalizers as children.
    #[serde(default)]
    pub definition: Option<String>,
    /// Sample lines, one record each (at most 200, each at most 64 KiB). None: only validate.
    #[serde(default)]
    pub lines: Vec<String>,
    /// Time zone of times without an offset (IANA name, default `UTC`).
    #[serde(default)]
    pub timezone: Option<String>,
}

/// One problem in a definition.
#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionProblem {
    /// Where: `name.mapping[2].convert`.
    pub path: String,
    /// What.
    pub message: String,
}

/// What one sample line became.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriedLine {
    /// The line as sent.
    pub line: String,
    /// Whether it parsed (the event is kept either way, as ingestion keeps it).
    pub parsed: bool,
    /// Why it did not parse.
    pub parse_error: Option<String>,
    /// A child (`extra`) or a mapping that failed while the line itself parsed.
    pub partial_errors: Vec<String>,
    /// The event, as nested ECS JSON (as a search answers it).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

/// The answer of a try.
#[derive(Debug, Serialize, ToSchema)]
pub struct TryResponse {
    /// The normalizer that ran (the definition's name for a definition).
    pub normalizer: Option<String>,
    /// Whether the definition (or the named pack) is valid; the lines ran only then.
    pub valid: bool,
    /// Every problem of the definition.
    pub errors: Vec<DefinitionProblem>,
    /// One per sample line, in order.
    pub results: Vec<TriedLine>,
    /// Lines that parsed.
    pub parsed: usize,
}

fn problems(e: DefinitionErrors) -> Vec<DefinitionProblem> {
    e.0.into_iter()
        .map(|d| DefinitionProblem {
            path: d.path,
            message: d.message,
        })
        .collect()
}

/// Runs a shipped normalizer, or a definition, over sample lines and answers the events; a
/// definition with no lines is only validated. An invalid definition is answered 200 with
/// `valid: false` and its problems; a request naming no normalizer, both, an unknown pack, or
/// too many or too long lines is answered 400.
#[utoipa::path(post, path = "/api/v1/normalizers/try", tag = "sources", request_body = TryRequest,
    responses((status = 200, body = TryResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn try_normalizer(
    State(st): State<ApiState>,
    caller: Caller,
    Body(req): Body<TryRequest>,
) -> ApiResult<axum::Json<TryResponse>> {
    let scope = check_scope(&caller, req.tenant.as_deref())?;
    if req.lines.len() > MAX_LINES {
        return Err(ApiError::invalid(format!(
            "lines: {} lines; at most {MAX_LINES}",
            req.lines.len()
        )));
    }
    if let Some(i) = req.lines.iter().position(|l| l.len() > MAX_LINE) {
        return Err(ApiError::invalid(format!(
            "lines[{i}]: longer than {MAX_LINE} bytes"
        )));
    }
    let tz: chrono_tz::Tz = match req.timezone.as_deref() {
        None | Some("") => chrono_tz::UTC,
        Some(z) => z
            .parse()
            .map_err(|_| ApiError::invalid(format!("timezone: unknown time zone '{z}'")))?,
    };
    let (lib, packs) = shipped()?;
    let root = match (&req.normalizer, &req.definition) {
        (Some(name), None) => match packs.get(name) {
            Some(p) => p.normalizer.clone(),
            None => {
                let file = file_normalizers(&st, &scope)?
                    .into_iter()
                    .find_map(|f| f.compiled.ok().filter(|n| n.name() == name.as_str()));
                match file {
                    Some(n) => n,
                    None => {
                        return Err(ApiError::invalid(format!(
                            "normalizer: no normalizer named '{name}' (shipped, or loaded from a file by a collector of your tenants)"
                        )));
                    }
                }
            }
        },
        (None, Some(text)) => {
            if text.len() > MAX_DEFINITION {
                return Err(ApiError::invalid(format!(
                    "definition: longer than {MAX_DEFINITION} bytes"
                )));
            }
            let mut lib = lib.clone();
            let compiled = lib
                .add_yaml(text, "definition")
                .and_then(|name| lib.compile(&name));
            match compiled {
                Ok(n) => n,
                Err(e) => {
                    return Ok(axum::Json(TryResponse {
                        normalizer: None,
                        valid: false,
                        errors: problems(e),
                        results: Vec::new(),
                        parsed: 0,
                    }));
                }
            }
        }
        _ => {
            return Err(ApiError::invalid(
                "name a shipped `normalizer` or send a `definition` (one of them)",
            ));
        }
    };
    let name = root.name().to_owned();
    let lines = req.lines;
    let results = tokio::task::spawn_blocking(move || run(root, tz, &lines))
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(TryResponse {
        normalizer: Some(name),
        valid: true,
        errors: Vec::new(),
        parsed: results.iter().filter(|r| r.parsed).count(),
        results,
    }))
}

/// The events `root` makes of `lines`, as the pipeline makes them.
fn run(root: Arc<Normalizer>, tz: chrono_tz::Tz, lines: &[String]) -> Vec<TriedLine> {
    let tree = NormalizerTree::new(root, tz);
    let src = SourceInfo {
        id: "try".into(),
        tenant: "main".into(),
        collector: "api".into(),
    };
    let now = Timestamp::now();
    lines
        .iter()
        .map(|l| {
            let ev = tree.normalize_record(
                &src,
                RawRecord {
                    data: Bytes::copy_from_slice(l.as_bytes()),
                    received: now,
                    peer: None,
                    transport_error: None,
                },
            );
            let partial_errors = ["vigil.extra_error", "vigil.mapping_error"]
                .into_iter()
                .filter_map(|k| ev.extra.get(k).map(|v| format!("{k}: {v}")))
                .collect();
            TriedLine {
                line: l.clone(),
                parsed: ev.meta.parse_error.is_none(),
                parse_error: ev.meta.parse_error.as_ref().map(ToString::to_string),
                partial_errors,
                event: ev.to_json(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_pack_compiles_and_is_listed_by_name() {
        let Ok((_, packs)) = shipped() else {
            panic!("the shipped packs do not compile")
        };
        assert!(packs.len() >= 5, "{} packs", packs.len());
        assert!(packs.values().all(|p| !p.text.is_empty()));
    }

    #[test]
    fn a_line_that_does_not_parse_is_answered_with_its_reason_and_raw_line() {
        let mut lib = Library::new();
        let name = lib
            .add_yaml(
                "name: jsontest\nparser: {type: json}\nmapping:\n  - {from: user, to: user.name}\n",
                "t",
            )
            .unwrap_or_default();
        let n = lib.compile(&name).unwrap_or_else(|e| panic!("{e}"));
        let r = run(
            n,
            chrono_tz::UTC,
            &[
                r#"{"user":"alice"}"#.to_owned(),
                "not json at all".to_owned(),
            ],
        );
        assert!(r[0].parsed, "{:?}", r[0].parse_error);
        assert_eq!(r[0].event["user"]["name"], "alice");
        assert!(!r[1].parsed);
        assert!(r[1].parse_error.is_some());
        assert_eq!(r[1].line, "not json at all");
    }
}
