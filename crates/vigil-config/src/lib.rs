//! Vigil's configuration: one YAML file, `version: 1`, parsed into raw types ([`raw`]) that say
//! exactly what the file says, then validated into runtime types ([`Config`]) with addresses,
//! durations, sizes and time zones parsed.
//!
//! Every problem is collected with its path (`collectors[0].connector.tcp: port 0 is not
//! allowed`) and reported together, so an administrator fixes a file in one pass. Unknown
//! fields are errors (a typo never silently falls back to a default). The configuration
//! reference in `docs/configuration.md` is generated from the raw types' doc comments
//! ([`reference_markdown`]), and a test keeps the two in step.

#![warn(missing_docs)]

pub mod raw;
pub mod raw_bus;
mod secret;
mod validate;

use std::fmt;
use std::io::Read;
use std::path::Path;

pub use secret::Secret;
pub use validate::*;

/// The configuration `vigil up` runs with when no file is given: syslog on 127.0.0.1:5514
/// (UDP and TCP), the API on 127.0.0.1:8080, data under `./vigil-data`.
pub const DEFAULT_CONFIG: &str = include_str!("default.yaml");

/// Largest configuration file read.
pub const MAX_CONFIG_SIZE: u64 = 16 * 1024 * 1024;

/// One problem in a configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Path of the offending value, e.g. `collectors[0].connector.tcp`; empty for the whole file.
    pub path: String,
    /// What is wrong and, where it helps, what to write instead.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// Where the configuration came from (a file path or "built-in default").
    pub origin: String,
    /// The problems, in file order.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(
            f,
            "{}: {n} problem{}:",
            self.origin,
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

/// Collects problems while walking a configuration.
#[derive(Debug, Default)]
pub struct Problems(Vec<ConfigError>);

impl Problems {
    /// Records a problem at `path`.
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems as an error for `origin`, or `Ok` when there are none.
    pub fn into_result(self, origin: &str) -> Result<(), ConfigErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors {
                origin: origin.to_owned(),
                errors: self.0,
            })
        }
    }
}

/// Reads a file of at most `limit` bytes; a larger file is an error, not a truncation.
pub fn read_file_capped(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    #[allow(clippy::disallowed_methods)] // bounded by take()
    f.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is larger than {limit} bytes", path.display()),
        ));
    }
    Ok(buf)
}

/// Loads and validates a configuration file.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let origin = path.display().to_string();
    let bytes = read_file_capped(path, MAX_CONFIG_SIZE).map_err(|e| ConfigErrors {
        origin: origin.clone(),
        errors: vec![ConfigError {
            path: String::new(),
            message: format!("cannot read: {e}"),
        }],
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ConfigErrors {
        origin: origin.clone(),
        errors: vec![ConfigError {
            path: String::new(),
            message: format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        }],
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    load_str(&text, &origin, base)
}

/// Loads and validates configuration text; relative paths in it resolve against `base_dir`.
pub fn load_str(text: &str, origin: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let raw = parse_raw(text, origin)?;
    validate(&raw, origin, base_dir)
}

/// The built-in default configuration, validated.
pub fn default_config() -> Result<Config, ConfigErrors> {
    load_str(
        DEFAULT_CONFIG,
        "built-in default configuration",
        Path::new("."),
    )
}

const TOP_LEVEL: &[&str] = &[
    "version",
    "data_dir",
    "api",
    "collectors",
    "storage",
    "pipeline",
    "detection",
    "correlation",
    "destinations",
    "search",
    "meta",
    "auth",
];

fn section<T: serde::de::DeserializeOwned>(
    v: &yaml_serde::Value,
    path: &str,
    problems: &mut Problems,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(v.clone()) {
        Ok(t) => Some(t),
        Err(e) => {
            let inner = e.path().to_string();
            let full = match (path.is_empty(), inner.as_str()) {
                (_, ".") | (_, "") => path.to_owned(),
                (true, p) => p.to_owned(),
                (false, p) if p.starts_with('[') => format!("{path}{p}"),
                (false, p) => format!("{path}.{p}"),
            };
            problems.add(full, e.into_inner().to_string());
            None
        }
    }
}

/// The settings of a `type`-tagged list element when its `type` is `tag`: the mapping without
/// its `type` key, deserialized as the variant's own settings type. An internally tagged enum
/// buffers its content, so a bad field inside loses its path (`destinations[0]` instead of
/// `destinations[0].format`); deserializing the variant's settings directly keeps it. `None`
/// when the element is not a mapping with that tag (the caller then deserializes the enum and
/// reports an unknown or missing `type`).
fn tagged_variant<T: serde::de::DeserializeOwned>(
    v: &yaml_serde::Value,
    tag: &str,
    path: &str,
    problems: &mut Problems,
) -> Option<Option<T>> {
    let yaml_serde::Value::Mapping(m) = v else {
        return None;
    };
    if m.get("type").and_then(|t| t.as_str()) != Some(tag) {
        return None;
    }
    let mut rest = m.clone();
    rest.remove("type");
    Some(section(&yaml_serde::Value::Mapping(rest), path, problems))
}

/// One element of `destinations`.
fn destination(
    v: &yaml_serde::Value,
    path: &str,
    problems: &mut Problems,
) -> Option<raw::RawDestination> {
    if let Some(file) = tagged_variant(v, "file", path, problems) {
        return file.map(raw::RawDestination::File);
    }
    section(v, path, problems)
}

/// Whether a collector's `connector` reads as its type's settings; a bad field is reported
/// with its own path (`collectors[0].connector.max_connections`), which the tagged enum would
/// lose. `None` for an unknown or missing `type` (the enum then reports it).
fn connector_reads(v: &yaml_serde::Value, path: &str, problems: &mut Problems) -> Option<bool> {
    fn read<T: serde::de::DeserializeOwned>(
        v: &yaml_serde::Value,
        tag: &str,
        path: &str,
        problems: &mut Problems,
    ) -> Option<bool> {
        tagged_variant::<T>(v, tag, path, problems).map(|t| t.is_some())
    }
    let tag = v.get("type").and_then(|t| t.as_str())?;
    match tag {
        "syslog" => read::<raw::RawSyslog>(v, tag, path, problems),
        "http" => read::<raw::RawHttp>(v, tag, path, problems),
        "nats" => read::<raw_bus::RawNats>(v, tag, path, problems),
        "sql" => read::<raw::RawSql>(v, tag, path, problems),
        "netflow" => read::<raw::RawNetflow>(v, tag, path, problems),
        "snmp_trap" => read::<raw::RawSnmpTrap>(v, tag, path, problems),
        "sflow" => read::<raw::RawSflow>(v, tag, path, problems),
        "file" => read::<raw::RawFile>(v, tag, path, problems),
        "evtx" => read::<raw::RawEvtx>(v, tag, path, problems),
        "kafka" => read::<raw::RawKafka>(v, tag, path, problems),
        _ => None,
    }
}

/// One element of `collectors`: its connector is read as its type's settings (see
/// [`connector_reads`]) and its transforms one by one (see [`transform`]), so that every
/// problem is listed with its own path, not only the collector's first.
fn collector(
    v: &yaml_serde::Value,
    path: &str,
    problems: &mut Problems,
) -> Option<raw::RawCollector> {
    let yaml_serde::Value::Mapping(m) = v else {
        return section(v, path, problems);
    };
    let key = yaml_serde::Value::String("connector".into());
    if let Some(c) = m.get(&key)
        && connector_reads(c, &format!("{path}.connector"), problems) == Some(false)
    {
        // the rest of the collector is still read (with a connector that reads), so its
        // other problems are listed too
        let mut rest = m.clone();
        let mut placeholder = yaml_serde::Mapping::new();
        placeholder.insert("type".into(), "syslog".into());
        rest.insert(key, yaml_serde::Value::Mapping(placeholder));
        collector(&yaml_serde::Value::Mapping(rest), path, problems);
        return None;
    }
    let Some(list) = m.get("transforms") else {
        return section(v, path, problems);
    };
    let mut rest = m.clone();
    rest.remove("transforms");
    let c: Option<raw::RawCollector> = section(&yaml_serde::Value::Mapping(rest), path, problems);
    let tpath = format!("{path}.transforms");
    let transforms = match list {
        yaml_serde::Value::Null => Some(Vec::new()),
        yaml_serde::Value::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match transform(item, &format!("{tpath}[{i}]"), problems) {
                    Some(t) => out.push(t),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        _ => {
            problems.add(tpath, "must be a list of transforms");
            None
        }
    };
    let mut c = c?;
    c.transforms = transforms?;
    Some(c)
}

/// One transform: the variant's settings read on their own, so a bad field keeps its path.
fn transform(
    v: &yaml_serde::Value,
    path: &str,
    problems: &mut Problems,
) -> Option<raw::RawTransform> {
    use raw::RawTransform as T;
    if let Some(t) = tagged_variant(v, "filter", path, problems) {
        return t.map(T::Filter);
    }
    if let Some(t) = tagged_variant(v, "set", path, problems) {
        return t.map(T::Set);
    }
    if let Some(t) = tagged_variant(v, "copy", path, problems) {
        return t.map(T::Copy);
    }
    if let Some(t) = tagged_variant(v, "aggregate", path, problems) {
        return t.map(T::Aggregate);
    }
    section(v, path, problems)
}

/// A `type`-tagged section with its default type filled in when the file leaves it out (an
/// empty section is the default type with default settings).
fn default_tag(v: &yaml_serde::Value, default: &str) -> yaml_serde::Value {
    let tag = yaml_serde::Value::String("type".into());
    match v {
        yaml_serde::Value::Null => {
            let mut m = yaml_serde::Mapping::new();
            m.insert(tag, yaml_serde::Value::String(default.into()));
            yaml_serde::Value::Mapping(m)
        }
        yaml_serde::Value::Mapping(m) if !m.contains_key(&tag) => {
            let mut m = m.clone();
            m.insert(tag, yaml_serde::Value::String(default.into()));
            yaml_serde::Value::Mapping(m)
        }
        other => other.clone(),
    }
}

/// Parses YAML into the raw types, collecting a problem for every section or list element that
/// does not fit (not only the first).
pub fn parse_raw(text: &str, origin: &str) -> Result<raw::RawConfig, ConfigErrors> {
    let fail = |path: &str, message: String| ConfigErrors {
        origin: origin.to_owned(),
        errors: vec![ConfigError {
            path: path.to_owned(),
            message,
        }],
    };
    let doc: yaml_serde::Value =
        yaml_serde::from_str(text).map_err(|e| fail("", format!("invalid YAML: {e}")))?;
    let map = match &doc {
        yaml_serde::Value::Mapping(m) => m,
        yaml_serde::Value::Null => {
            return Err(fail(
                "",
                "the file is empty; start it with `version: 1`".into(),
            ));
        }
        _ => {
            return Err(fail(
                "",
                "the top level must be a mapping (`version: 1` ...)".into(),
            ));
        }
    };
    let mut problems = Problems::default();
    let mut cfg = raw::RawConfig::default();
    for (k, _) in map {
        match k.as_str() {
            Some(key) if TOP_LEVEL.contains(&key) => {}
            Some(key) => problems.add(
                key,
                format!("unknown field, expected one of: {}", TOP_LEVEL.join(", ")),
            ),
            None => problems.add("", "field names must be strings"),
        }
    }
    match map.get("version") {
        None => problems.add("version", "missing; add `version: 1` at the top"),
        Some(v) => {
            if let Some(n) = section::<u32>(v, "version", &mut problems) {
                cfg.version = n;
            }
        }
    }
    if let Some(v) = map.get("data_dir") {
        cfg.data_dir = section(v, "data_dir", &mut problems).flatten();
    }
    if let Some(v) = map.get("api") {
        cfg.api = section(v, "api", &mut problems).unwrap_or_default();
    }
    if let Some(v) = map.get("storage") {
        cfg.storage =
            section(&default_tag(v, "embedded"), "storage", &mut problems).unwrap_or_default();
    }
    if let Some(v) = map.get("search") {
        cfg.search = section(v, "search", &mut problems).unwrap_or_default();
    }
    if let Some(v) = map.get("detection") {
        cfg.detection = section(v, "detection", &mut problems);
    }
    if let Some(v) = map.get("correlation") {
        cfg.correlation = section(v, "correlation", &mut problems);
    }
    if let Some(v) = map.get("pipeline") {
        cfg.pipeline = section(v, "pipeline", &mut problems).unwrap_or_default();
    }
    if let Some(v) = map.get("meta") {
        cfg.meta = section(v, "meta", &mut problems).unwrap_or_default();
    }
    if let Some(v) = map.get("auth") {
        cfg.auth = section(v, "auth", &mut problems).unwrap_or_default();
    }
    match map.get("collectors") {
        None | Some(yaml_serde::Value::Null) => {}
        Some(yaml_serde::Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(c) = collector(item, &format!("collectors[{i}]"), &mut problems) {
                    cfg.collectors.push(c);
                }
            }
        }
        Some(_) => problems.add("collectors", "must be a list of collectors"),
    }
    match map.get("destinations") {
        None | Some(yaml_serde::Value::Null) => {}
        Some(yaml_serde::Value::Sequence(items)) => {
            let mut list = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if let Some(d) = destination(item, &format!("destinations[{i}]"), &mut problems) {
                    list.push(d);
                }
            }
            cfg.destinations = Some(list);
        }
        Some(_) => problems.add("destinations", "must be a list of destinations"),
    }
    problems.into_result(origin)?;
    Ok(cfg)
}

/// The JSON schema of the configuration file.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(raw::RawConfig)).unwrap_or_default()
}

/// The configuration reference (`docs/configuration.md`), generated from the schema.
pub fn reference_markdown() -> String {
    use std::fmt::Write as _;
    let schema = json_schema();
    let mut out = String::new();
    out.push_str("# Configuration reference\n\n");
    out.push_str(
        "Generated from the configuration schema by `vigil config reference`; do not edit by hand.\n\
         A test fails when this file and the schema disagree.\n\n\
         Vigil reads one YAML file (`vigil up --config FILE`, `vigil validate -c FILE`). It starts \
         with `version: 1`; unknown fields are errors; every problem is listed with its path. \
         Durations are written like `200ms`, `30s`, `10m`; sizes like `65536`, `64KiB`, `1MiB`.\n\n\
         The built-in default, used when no file is given:\n\n```yaml\n",
    );
    out.push_str(DEFAULT_CONFIG.trim_end());
    out.push_str("\n```\n");
    let defs = schema
        .get("$defs")
        .and_then(|d| d.as_object())
        .cloned()
        .unwrap_or_default();
    // sorted explicitly: serde_json's map order depends on its `preserve_order` feature, which
    // other crates in the build may switch on
    let mut defs: Vec<(String, serde_json::Value)> = defs.into_iter().collect();
    defs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut sections: Vec<(String, serde_json::Value)> = vec![("RawConfig".into(), schema.clone())];
    sections.extend(defs);
    for (name, def) in sections {
        let title = name.strip_prefix("Raw").unwrap_or(&name).to_owned();
        let _ = write!(out, "\n## {title}\n\n");
        if let Some(d) = def.get("description").and_then(|d| d.as_str()) {
            let _ = writeln!(out, "{}\n", d.trim());
        }
        write_props(&mut out, &def, "");
        for key in ["oneOf", "anyOf"] {
            if let Some(variants) = def.get(key).and_then(|v| v.as_array()) {
                for v in variants {
                    let tag = v
                        .pointer("/properties/type/const")
                        .or_else(|| v.pointer("/properties/type/enum/0"))
                        .and_then(|t| t.as_str())
                        .map(|t| format!("`type: {t}`"))
                        .or_else(|| {
                            // a unit variant: its name as written in the file
                            v.get("const")
                                .or_else(|| v.pointer("/enum/0"))
                                .and_then(|c| c.as_str())
                                .map(|c| format!("`{c}`"))
                        })
                        .or_else(|| {
                            v.get("required")
                                .and_then(|r| r.get(0))
                                .and_then(|r| r.as_str())
                                .map(|r| format!("`{r}:`"))
                        })
                        .unwrap_or_else(|| type_of(v));
                    let desc = v.get("description").and_then(|d| d.as_str()).unwrap_or("");
                    let _ = writeln!(out, "- {tag}: {}", desc.trim().replace('\n', " "));
                    if v.get("properties").is_some() {
                        out.push('\n');
                    }
                    write_props(&mut out, v, "  ");
                }
                out.push('\n');
            }
        }
    }
    out
}

fn write_props(out: &mut String, def: &serde_json::Value, indent: &str) {
    use std::fmt::Write as _;
    let Some(props) = def.get("properties").and_then(|p| p.as_object()) else {
        return;
    };
    let required: Vec<&str> = def
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let _ = writeln!(out, "{indent}| field | type | required | description |");
    let _ = writeln!(out, "{indent}|---|---|---|---|");
    let mut props: Vec<(&String, &serde_json::Value)> = props.iter().collect();
    props.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in props {
        if k == "type" && v.get("const").is_some() {
            continue;
        }
        let desc = v
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .trim()
            .replace('\n', " ");
        let _ = writeln!(
            out,
            "{indent}| `{k}` | {} | {} | {desc} |",
            type_of(v),
            if required.contains(&k.as_str()) {
                "yes"
            } else {
                "no"
            }
        );
    }
    out.push('\n');
}

fn type_of(v: &serde_json::Value) -> String {
    if let Some(r) = v.get("$ref").and_then(|r| r.as_str()) {
        let name = r.rsplit('/').next().unwrap_or(r);
        let name = name.strip_prefix("Raw").unwrap_or(name);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    if let Some(any) = v.get("anyOf").and_then(|a| a.as_array()) {
        let parts: Vec<String> = any
            .iter()
            .filter(|x| x.get("type").and_then(|t| t.as_str()) != Some("null"))
            .map(type_of)
            .collect();
        return parts.join(" or ");
    }
    match v.get("type") {
        Some(serde_json::Value::String(t)) if t == "array" => {
            format!(
                "list of {}",
                v.get("items")
                    .map(type_of)
                    .unwrap_or_else(|| "values".into())
            )
        }
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(serde_json::Value::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str())
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "value".into(),
    }
}

#[cfg(test)]
mod tests;
