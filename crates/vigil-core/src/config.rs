//! The `meta:` section of `vigil.yaml`: which database keeps the core's metadata.
//!
//! ```yaml
//! meta: { type: sqlite }                                   # default: <data_dir>/meta.db
//! meta: { type: postgres, url: "${env:VIGIL_META_URL}" }   # distributed mode
//! ```
//! Defined here until the lead wires it into `vigil-config`.

use std::fmt;

use serde::Deserialize;

use crate::sql::StoreOptions;

/// The backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetaBackend {
    /// One SQLite file, `<data_dir>/meta.db`, WAL mode (all-in-one).
    #[default]
    Sqlite,
    /// A PostgreSQL database (distributed mode).
    Postgres,
}

/// The raw `meta:` section.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    /// `sqlite` (default) or `postgres`.
    #[serde(rename = "type", default)]
    pub backend: MetaBackend,
    /// PostgreSQL URL (`postgres://user:password@host:5432/vigil`), usually a reference
    /// `${env:NAME}` so the password stays out of the file. Only for `type: postgres`.
    #[serde(default)]
    pub url: Option<String>,
    /// PostgreSQL connections, or SQLite reader connections (default 8).
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// Largest incident attachment in bytes (default 10 MiB).
    #[serde(default)]
    pub max_attachment_bytes: Option<u64>,
}

impl fmt::Debug for MetaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaConfig")
            .field("backend", &self.backend)
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("max_connections", &self.max_connections)
            .field("max_attachment_bytes", &self.max_attachment_bytes)
            .finish()
    }
}

/// The validated section: references resolved, defaults applied.
#[derive(Clone, PartialEq)]
pub struct ValidMetaConfig {
    /// The backend.
    pub backend: MetaBackend,
    /// The resolved PostgreSQL URL (secret: redacted in `Debug`).
    pub postgres_url: Option<String>,
    /// Pool and size options.
    pub options: StoreOptions,
}

impl fmt::Debug for ValidMetaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidMetaConfig")
            .field("backend", &self.backend)
            .field(
                "postgres_url",
                &self.postgres_url.as_ref().map(|_| "<redacted>"),
            )
            .field("options", &self.options)
            .finish()
    }
}

impl MetaConfig {
    /// Validates the section found at `path` (`meta`), resolving `${env:NAME}` with `env`.
    /// Returns every problem as `path.field: message`.
    pub fn validate(
        &self,
        path: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ValidMetaConfig, Vec<String>> {
        let mut problems = Vec::new();
        let mut options = StoreOptions::default();
        match self.max_connections {
            Some(0) => problems.push(format!("{path}.max_connections: must be at least 1")),
            Some(n) if n > 1000 => problems.push(format!(
                "{path}.max_connections: {n} is over the limit of 1000"
            )),
            Some(n) => options.max_connections = n,
            None => {}
        }
        match self.max_attachment_bytes {
            Some(0) => problems.push(format!("{path}.max_attachment_bytes: must be at least 1")),
            Some(n) if n > 1 << 30 => problems.push(format!(
                "{path}.max_attachment_bytes: {n} is over the limit of 1 GiB"
            )),
            Some(n) => options.max_attachment_bytes = n,
            None => {}
        }
        let mut postgres_url = None;
        match (self.backend, &self.url) {
            (MetaBackend::Sqlite, Some(_)) => problems.push(format!(
                "{path}.url: only `type: postgres` takes a url (SQLite uses <data_dir>/meta.db)"
            )),
            (MetaBackend::Sqlite, None) => {}
            (MetaBackend::Postgres, None) => problems.push(format!(
                "{path}.url: missing; write `url: \"${{env:NAME}}\"` with a postgres:// URL"
            )),
            (MetaBackend::Postgres, Some(raw)) => match resolve_refs(raw, &env) {
                Err(e) => problems.push(format!("{path}.url: {e}")),
                Ok(url)
                    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) =>
                {
                    problems.push(format!(
                        "{path}.url: must start with postgres:// or postgresql://"
                    ))
                }
                Ok(url) => postgres_url = Some(url),
            },
        }
        if problems.is_empty() {
            Ok(ValidMetaConfig {
                backend: self.backend,
                postgres_url,
                options,
            })
        } else {
            Err(problems)
        }
    }
}

/// Resolves `${env:NAME}` references (the whole value or parts of it).
pub(crate) fn resolve_refs(
    raw: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or("unterminated `${`")?;
        let reference = &after[..end];
        let name = reference
            .strip_prefix("env:")
            .ok_or_else(|| format!("`${{{reference}}}`: only `${{env:NAME}}` references exist"))?;
        let value = env(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> MetaConfig {
        yaml_serde::from_str(y).unwrap_or_else(|e| MetaConfig {
            url: Some(format!("parse error: {e}")),
            ..MetaConfig::default()
        })
    }

    fn env(name: &str) -> Option<String> {
        (name == "PG").then(|| "postgres://postgres@127.0.0.1/vigil".to_owned())
    }

    #[test]
    fn sqlite_is_the_default() {
        let v = parse("{}").validate("meta", env);
        assert_eq!(v.map(|v| v.backend), Ok(MetaBackend::Sqlite));
    }

    #[test]
    fn postgres_url_resolves_env_and_is_redacted() {
        let v = parse("{ type: postgres, url: \"${env:PG}\" }").validate("meta", env);
        let v = v.unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(
            v.postgres_url.as_deref(),
            Some("postgres://postgres@127.0.0.1/vigil")
        );
        assert!(!format!("{v:?}").contains("127.0.0.1"));
    }

    #[test]
    fn every_problem_is_listed_with_its_path() {
        let p = parse("{ type: postgres, url: \"${env:NOPE}\", max_connections: 0 }")
            .validate("meta", env)
            .err()
            .unwrap_or_default();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p.iter()
                .any(|m| m.starts_with("meta.url: environment variable NOPE"))
        );
        assert!(p.iter().any(|m| m.starts_with("meta.max_connections:")));
        let p = parse("{ type: sqlite, url: x }")
            .validate("m", env)
            .err()
            .unwrap_or_default();
        assert_eq!(p.len(), 1);
        assert!(yaml_serde::from_str::<MetaConfig>("{ type: mysql }").is_err());
        assert!(yaml_serde::from_str::<MetaConfig>("{ tpye: sqlite }").is_err());
    }
}
