//! Processing pipelines: how a rule's `logsource` becomes conditions on the event (e.g.
//! `process_creation` → Sysmon EventID 1 *or* Security EventID 4688) and how rule field names
//! are renamed for the events at hand.
//!
//! A rule whose logsource matches several mappings compiles to several *variants*, each with
//! its own conditions and field renames; the engine indexes variants by the values of their
//! conditions (e.g. `Channel` and `EventID`), so an event is only tested against rules whose
//! logsource can match it.

use std::collections::HashMap;

use serde::Deserialize;

use crate::rule::LogSource;

/// Errors of this crate's fallible constructors (rule problems are [`crate::LoadProblem`]s).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A pipeline definition could not be read.
    #[error("invalid pipeline: {0}")]
    Pipeline(String),
}

/// One logsource mapping: which rules it applies to, the event conditions it adds, the field
/// renames it applies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsourceMapping {
    /// Rules with this `category` (when set).
    #[serde(default)]
    pub category: Option<String>,
    /// Rules with this `product` (when set; a rule without product also matches).
    #[serde(default)]
    pub product: Option<String>,
    /// Rules with this `service` (when set).
    #[serde(default)]
    pub service: Option<String>,
    /// Conditions added to the rule: field → accepted values (any of them), all fields ANDed.
    #[serde(default, deserialize_with = "de_conditions")]
    pub conditions: Vec<(String, Vec<String>)>,
    /// Field renames for rules under this mapping (rule field → event field).
    #[serde(default)]
    pub fieldmappings: HashMap<String, String>,
}

fn de_conditions<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(String, Vec<String>)>, D::Error> {
    let m: indexmap_like::Map = Deserialize::deserialize(d)?;
    Ok(m.0)
}

mod indexmap_like {
    use serde::Deserialize;
    use serde::de::{MapAccess, Visitor};

    /// Ordered `field → values` map accepting a scalar or a list per field.
    pub struct Map(pub Vec<(String, Vec<String>)>);

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Scalar),
        Many(Vec<Scalar>),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        F(f64),
        B(bool),
    }
    impl Scalar {
        fn text(self) -> String {
            match self {
                Scalar::S(s) => s,
                Scalar::I(i) => i.to_string(),
                Scalar::F(f) => f.to_string(),
                Scalar::B(b) => b.to_string(),
            }
        }
    }

    impl<'de> Deserialize<'de> for Map {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Map;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a mapping of field names to a value or a list of values")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Map, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = a.next_entry::<String, OneOrMany>()? {
                        let vals = match v {
                            OneOrMany::One(s) => vec![s.text()],
                            OneOrMany::Many(xs) => xs.into_iter().map(Scalar::text).collect(),
                        };
                        out.push((k, vals));
                    }
                    Ok(Map(out))
                }
            }
            d.deserialize_map(V)
        }
    }
}

/// A processing pipeline (a subset of pySigma's, plus THOR-style logsource mappings).
///
/// YAML form:
/// ```yaml
/// name: my-pipeline
/// restrict_to_mapped: true      # rules whose logsource no mapping covers are not evaluated
/// field_mappings: {Image: process.executable}
/// logsources:
///   - category: process_creation
///     product: windows
///     conditions: {Channel: Microsoft-Windows-Sysmon/Operational, EventID: 1}
/// transformations:              # pySigma subset
///   - type: field_name_mapping
///     mapping: {CommandLine: process.command_line}
///   - type: add_condition
///     conditions: {Channel: Security}
///     rule_conditions: [{type: logsource, service: security}]
/// ```
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    /// Name (for reports).
    pub name: String,
    /// Renames applied to every rule (rule field → event field).
    pub field_mappings: HashMap<String, String>,
    /// Logsource mappings.
    pub logsources: Vec<LogsourceMapping>,
    /// When true, rules whose logsource no mapping covers are loaded but never evaluated (and
    /// reported as warnings); when false they are evaluated against every event.
    pub restrict_to_mapped: bool,
}

/// One way a rule applies to events: extra conditions and field renames.
#[derive(Debug, Clone, Default)]
pub(crate) struct Variant {
    pub conditions: Vec<(String, Vec<String>)>,
    pub fieldmap: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    name: String,
    #[serde(default)]
    restrict_to_mapped: bool,
    #[serde(default)]
    field_mappings: HashMap<String, String>,
    #[serde(default)]
    logsources: Vec<LogsourceMapping>,
    #[serde(default)]
    transformations: Vec<RawTransformation>,
    #[serde(default)]
    #[allow(dead_code)]
    priority: Option<i64>,
}

#[derive(Deserialize)]
struct RawTransformation {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    mapping: HashMap<String, String>,
    #[serde(default, deserialize_with = "de_conditions")]
    conditions: Vec<(String, Vec<String>)>,
    #[serde(default)]
    rule_conditions: Vec<RawRuleCondition>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawRuleCondition {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    product: Option<String>,
    #[serde(default)]
    service: Option<String>,
}

fn eq_opt(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => true,
    }
}

impl Pipeline {
    /// An empty pipeline: no renames, every rule evaluated against every event.
    pub fn none() -> Pipeline {
        Pipeline {
            name: "none".into(),
            ..Default::default()
        }
    }

    /// Parse a pipeline from YAML (see the type docs for the format).
    pub fn from_yaml(text: &str) -> Result<Pipeline, Error> {
        let raw: RawPipeline =
            yaml_serde::from_str(text).map_err(|e| Error::Pipeline(e.to_string()))?;
        let mut p = Pipeline {
            name: raw.name,
            field_mappings: raw.field_mappings,
            logsources: raw.logsources,
            restrict_to_mapped: raw.restrict_to_mapped,
        };
        for (i, t) in raw.transformations.into_iter().enumerate() {
            let ls: Vec<&RawRuleCondition> = t
                .rule_conditions
                .iter()
                .filter(|c| c.kind == "logsource")
                .collect();
            if let Some(c) = t.rule_conditions.iter().find(|c| c.kind != "logsource") {
                return Err(Error::Pipeline(format!(
                    "transformations[{i}]: unsupported rule condition type '{}'",
                    c.kind
                )));
            }
            match t.kind.as_str() {
                "field_name_mapping" => {
                    if ls.is_empty() {
                        p.field_mappings.extend(t.mapping);
                    } else {
                        for c in ls {
                            p.logsources.push(LogsourceMapping {
                                category: c.category.clone(),
                                product: c.product.clone(),
                                service: c.service.clone(),
                                conditions: Vec::new(),
                                fieldmappings: t.mapping.clone(),
                            });
                        }
                    }
                }
                "add_condition" => {
                    if ls.is_empty() {
                        p.logsources.push(LogsourceMapping {
                            conditions: t.conditions,
                            ..Default::default()
                        });
                    } else {
                        for c in ls {
                            p.logsources.push(LogsourceMapping {
                                category: c.category.clone(),
                                product: c.product.clone(),
                                service: c.service.clone(),
                                conditions: t.conditions.clone(),
                                fieldmappings: HashMap::new(),
                            });
                        }
                    }
                }
                other => {
                    return Err(Error::Pipeline(format!(
                        "transformations[{i}]: unsupported transformation type '{other}'"
                    )));
                }
            }
        }
        Ok(p)
    }

    /// The variants of a rule with this logsource, or `None` when no mapping covers it.
    pub(crate) fn variants(&self, ls: &LogSource) -> Option<Vec<Variant>> {
        let matching: Vec<&LogsourceMapping> = self
            .logsources
            .iter()
            .filter(|m| {
                // A mapping with no selector applies to every rule.
                let generic = m.category.is_none() && m.service.is_none() && m.product.is_none();
                if generic {
                    return true;
                }
                let key_ok = match (&ls.category, &m.category, &ls.service, &m.service) {
                    (Some(c), Some(mc), _, _) => c.eq_ignore_ascii_case(mc),
                    (None, None, Some(s), Some(ms)) => s.eq_ignore_ascii_case(ms),
                    (Some(_), None, Some(s), Some(ms)) => s.eq_ignore_ascii_case(ms),
                    (None, None, None, None) => m.product.is_some() && ls.product.is_some(),
                    _ => false,
                };
                key_ok && eq_opt(&ls.product, &m.product) && eq_opt(&ls.service, &m.service)
            })
            .collect();
        let base = Variant {
            conditions: Vec::new(),
            fieldmap: self.field_mappings.clone(),
        };
        if matching.is_empty() {
            let product_known = ls.product.as_ref().is_some_and(|p| {
                self.logsources.iter().any(|m| {
                    m.product
                        .as_ref()
                        .is_some_and(|mp| mp.eq_ignore_ascii_case(p))
                })
            });
            // Product-only rules (no category/service) run on every event of a known product.
            if ls.category.is_none()
                && ls.service.is_none()
                && (product_known || !self.restrict_to_mapped)
            {
                return Some(vec![base]);
            }
            return if self.restrict_to_mapped {
                None
            } else {
                Some(vec![base])
            };
        }
        // Generic mappings (no selector) combine with every specific one.
        let (generic, specific): (Vec<&LogsourceMapping>, Vec<&LogsourceMapping>) = matching
            .into_iter()
            .partition(|m| m.category.is_none() && m.service.is_none() && m.product.is_none());
        let mut common = base;
        for g in &generic {
            common.conditions.extend(g.conditions.iter().cloned());
            common
                .fieldmap
                .extend(g.fieldmappings.iter().map(|(a, b)| (a.clone(), b.clone())));
        }
        if specific.is_empty() {
            return Some(vec![common]);
        }
        // Mappings that only rename (no conditions) apply to all the conditional variants.
        let (renames, conds): (Vec<&LogsourceMapping>, Vec<&LogsourceMapping>) =
            specific.into_iter().partition(|m| m.conditions.is_empty());
        let mut out = Vec::new();
        if conds.is_empty() {
            let mut v = common.clone();
            for r in &renames {
                v.fieldmap
                    .extend(r.fieldmappings.iter().map(|(a, b)| (a.clone(), b.clone())));
            }
            out.push(v);
        }
        for m in conds {
            let mut v = common.clone();
            v.conditions.extend(m.conditions.iter().cloned());
            for r in &renames {
                v.fieldmap
                    .extend(r.fieldmappings.iter().map(|(a, b)| (a.clone(), b.clone())));
            }
            v.fieldmap
                .extend(m.fieldmappings.iter().map(|(a, b)| (a.clone(), b.clone())));
            out.push(v);
        }
        Some(out)
    }

    /// The built-in Windows mapping, equivalent to the THOR configuration SigmaHQ's regression
    /// runner uses (`ci-data/thor.yml`): Sysmon categories → Sysmon channel + EventID,
    /// `process_creation` → Sysmon EID 1 or Security EID 4688 (with `Image` →
    /// `NewProcessName`, `ParentImage` → `ParentProcessName`), PowerShell categories, the
    /// Defender `antivirus` category, and every Windows `service` → its channel(s).
    /// Rules for other products are loaded but not evaluated (`restrict_to_mapped`).
    pub fn windows() -> Pipeline {
        let mut logsources = Vec::new();
        let channels = |service: &str| -> Vec<String> {
            WIN_SERVICES
                .iter()
                .filter(|(s, _)| *s == service)
                .flat_map(|(_, chans)| chans.iter().map(|c| c.to_string()))
                .collect()
        };
        for (service, chans) in WIN_SERVICES {
            logsources.push(LogsourceMapping {
                product: Some("windows".into()),
                service: Some(service.to_string()),
                conditions: vec![(
                    "Channel".into(),
                    chans.iter().map(|c| c.to_string()).collect(),
                )],
                ..Default::default()
            });
        }
        for (category, service, eids, extra, renames) in WIN_CATEGORIES {
            let mut conditions = vec![
                ("Channel".to_string(), channels(service)),
                (
                    "EventID".to_string(),
                    eids.iter().map(|e| e.to_string()).collect(),
                ),
            ];
            for (f, v) in *extra {
                conditions.push((f.to_string(), vec![v.to_string()]));
            }
            logsources.push(LogsourceMapping {
                category: Some(category.to_string()),
                product: Some("windows".into()),
                service: None,
                conditions,
                fieldmappings: renames
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            });
        }
        Pipeline {
            name: "windows (thor-equivalent)".into(),
            field_mappings: HashMap::new(),
            logsources,
            restrict_to_mapped: true,
        }
    }

    /// The built-in ECS mapping, for events normalized by Vigil's packs (see
    /// `docs/normalizers.md`): Sigma logsources → conditions on `process.name`,
    /// `event.dataset`, `event.category`, `observer.type` and `host.os.type`, and Sigma's
    /// web/proxy/firewall/DNS taxonomy field names → ECS names. Source-specific fields
    /// (CloudTrail `eventName`, Okta `eventType`, Kubernetes `verb`, ...) are not renamed: the
    /// packs keep them as the event's original fields, which the engine's event view resolves
    /// by name. Keyword detections search every string value (message and raw line included).
    /// Linux `auditd` rules and the Linux `process_creation`, `file_event` and
    /// `network_connection` categories run on the auditd pack's records; Windows rules route
    /// exactly as in [`Pipeline::windows`] (the Windows packs keep `Channel`, `EventID` and the
    /// `EventData` names). Rules for logsources no mapping covers are loaded but not evaluated
    /// (`restrict_to_mapped`). The table is in `docs/detection-reference.md`.
    pub fn ecs() -> Pipeline {
        let strs = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<String>>();
        let renames = |xs: &[(&str, &str)]| {
            xs.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<HashMap<String, String>>()
        };
        let mut logsources = Vec::new();
        // Linux: product-only rules run on every Linux host event.
        logsources.push(LogsourceMapping {
            product: Some("linux".into()),
            conditions: vec![("host.os.type".into(), strs(&["linux"]))],
            ..Default::default()
        });
        for (service, field, values) in ECS_LINUX_SERVICES {
            logsources.push(LogsourceMapping {
                product: Some("linux".into()),
                service: Some(service.to_string()),
                conditions: vec![(field.to_string(), strs(values))],
                ..Default::default()
            });
        }
        // Web servers: Vigil's access-log pack and Suricata HTTP records.
        logsources.push(LogsourceMapping {
            category: Some("webserver".into()),
            conditions: vec![("event.category".into(), strs(&["web"]))],
            fieldmappings: renames(ECS_WEB_FIELDS),
            ..Default::default()
        });
        // Proxies: any source with observer.type proxy, and Suricata HTTP records.
        for (field, value) in [
            ("observer.type", "proxy"),
            ("event.dataset", "suricata.http"),
        ] {
            logsources.push(LogsourceMapping {
                category: Some("proxy".into()),
                conditions: vec![(field.into(), strs(&[value]))],
                fieldmappings: renames(ECS_WEB_FIELDS),
                ..Default::default()
            });
        }
        logsources.push(LogsourceMapping {
            category: Some("firewall".into()),
            conditions: vec![("observer.type".into(), strs(&["firewall"]))],
            fieldmappings: renames(ECS_FIREWALL_FIELDS),
            ..Default::default()
        });
        logsources.push(LogsourceMapping {
            category: Some("dns".into()),
            conditions: vec![("event.dataset".into(), strs(&["suricata.dns"]))],
            fieldmappings: renames(&[
                ("query", "dns.question.name"),
                ("record_type", "dns.question.type"),
                ("src_ip", "source.ip"),
                ("dst_ip", "destination.ip"),
            ]),
            ..Default::default()
        });
        // Cloud and identity audit logs: routed by dataset; their own field names are kept.
        for (product, service, dataset, fields) in ECS_CLOUD {
            logsources.push(LogsourceMapping {
                product: Some(product.to_string()),
                service: Some(service.to_string()),
                conditions: vec![("event.dataset".into(), strs(&[dataset]))],
                fieldmappings: renames(fields),
                ..Default::default()
            });
        }
        // Linux auditd: the auditd pack keeps every key=value of the record under its own name
        // (`type`, `a0`.., `exe`, `comm`, `key`, `name`, `nametype`, ...); `SYSCALL` is the
        // interpreted syscall name, which the pack puts in `event.action`.
        logsources.push(LogsourceMapping {
            product: Some("linux".into()),
            service: Some("auditd".into()),
            conditions: vec![("event.module".into(), strs(&["auditd"]))],
            fieldmappings: renames(&[("SYSCALL", "event.action")]),
            ..Default::default()
        });
        // Linux categories (Sysmon for Linux taxonomy) from auditd records.
        for (category, conditions, fields) in ECS_LINUX_CATEGORIES {
            logsources.push(LogsourceMapping {
                category: Some(category.to_string()),
                product: Some("linux".into()),
                conditions: conditions
                    .iter()
                    .map(|(f, vs)| (f.to_string(), strs(vs)))
                    .collect(),
                fieldmappings: renames(fields),
                ..Default::default()
            });
        }
        // Zeek logs: one dataset per log, Zeek's own field names kept.
        for service in [
            "conn",
            "dns",
            "http",
            "ssl",
            "x509",
            "smb_files",
            "dce_rpc",
            "kerberos",
            "rdp",
        ] {
            logsources.push(LogsourceMapping {
                product: Some("zeek".into()),
                service: Some(service.to_string()),
                conditions: vec![("event.dataset".into(), vec![format!("zeek.{service}")])],
                ..Default::default()
            });
        }
        // Windows: the Windows Security, Sysmon and PowerShell packs keep `Channel`, `EventID`
        // and the `EventData` names, so the Windows (THOR) routing applies unchanged.
        logsources.extend(Pipeline::windows().logsources);
        Pipeline {
            name: "ecs".into(),
            field_mappings: HashMap::new(),
            logsources,
            restrict_to_mapped: true,
        }
    }
}

type LinuxCategory = (
    &'static str,
    &'static [(&'static str, &'static [&'static str])],
    &'static [(&'static str, &'static str)],
);

/// Linux Sigma categories → (conditions, field renames), over the auditd pack's events.
/// auditd writes one record per aspect of a syscall (SYSCALL: executable and ids; EXECVE:
/// arguments; PATH: file names; SOCKADDR: peer), so a rule that combines fields of two records
/// (e.g. `Image` and `CommandLine`) cannot match one auditd event.
const ECS_LINUX_CATEGORIES: &[LinuxCategory] = &[
    (
        "process_creation",
        &[
            ("event.module", &["auditd"]),
            ("event.category", &["process"]),
        ],
        ECS_LINUX_PROCESS_FIELDS,
    ),
    (
        "file_event",
        &[
            ("event.module", &["auditd"]),
            ("event.code", &["PATH"]),
            ("nametype", &["CREATE"]),
        ],
        &[("TargetFilename", "name"), ("Image", "process.executable")],
    ),
    (
        "network_connection",
        &[
            ("event.module", &["auditd"]),
            ("event.action", &["connect"]),
        ],
        &[
            ("Image", "process.executable"),
            ("DestinationIp", "destination.ip"),
            ("DestinationPort", "destination.port"),
            ("DestinationHostname", "destination.domain"),
            ("User", "user.name"),
        ],
    ),
];

/// Sigma `process_creation` (Linux) → ECS process fields.
const ECS_LINUX_PROCESS_FIELDS: &[(&str, &str)] = &[
    ("Image", "process.executable"),
    ("CommandLine", "process.command_line"),
    ("CurrentDirectory", "process.working_directory"),
    ("ParentImage", "process.parent.executable"),
    ("ParentCommandLine", "process.parent.command_line"),
    ("ProcessId", "process.pid"),
    ("ParentProcessId", "process.parent.pid"),
    ("User", "user.name"),
    ("LogonId", "user.audit.id"),
];

/// Linux Sigma services → (event field, accepted values).
const ECS_LINUX_SERVICES: &[(&str, &str, &[&str])] = &[
    (
        "auth",
        "process.name",
        &[
            "sshd",
            "sudo",
            "su",
            "login",
            "passwd",
            "chpasswd",
            "chage",
            "useradd",
            "usermod",
            "userdel",
            "groupadd",
            "groupmod",
            "groupdel",
            "gpasswd",
            "systemd-logind",
            "polkitd",
            "pkexec",
            "cron",
            "crond",
            "CRON",
        ],
    ),
    ("sshd", "process.name", &["sshd"]),
    ("sudo", "process.name", &["sudo"]),
    ("su", "process.name", &["su"]),
    ("cron", "process.name", &["cron", "crond", "CRON"]),
    ("vsftpd", "process.name", &["vsftpd"]),
    (
        "clamav",
        "process.name",
        &["clamd", "freshclam", "clamscan"],
    ),
    ("syslog", "host.os.type", &["linux"]),
];

/// Sigma web server / proxy taxonomy → ECS.
const ECS_WEB_FIELDS: &[(&str, &str)] = &[
    ("cs-method", "http.request.method"),
    ("cs-uri-query", "url.original"),
    ("cs-uri-stem", "url.path"),
    ("cs-uri", "url.original"),
    ("c-uri", "url.original"),
    ("c-uri-query", "url.original"),
    ("c-uri-stem", "url.path"),
    ("c-uri-extension", "url.extension"),
    ("cs-host", "url.domain"),
    ("cs-referer", "http.request.referrer"),
    ("cs-user-agent", "user_agent.original"),
    ("c-useragent", "user_agent.original"),
    ("sc-status", "http.response.status_code"),
    ("cs-bytes", "http.request.bytes"),
    ("sc-bytes", "http.response.bytes"),
    ("c-ip", "source.ip"),
    ("s-ip", "destination.ip"),
    ("src_ip", "source.ip"),
    ("dst_ip", "destination.ip"),
    ("cs-username", "user.name"),
];

/// Sigma firewall taxonomy → ECS.
const ECS_FIREWALL_FIELDS: &[(&str, &str)] = &[
    ("src_ip", "source.ip"),
    ("dst_ip", "destination.ip"),
    ("src_port", "source.port"),
    ("dst_port", "destination.port"),
    ("action", "event.action"),
    ("protocol", "network.transport"),
];

type CloudSource = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// (product, service, event.dataset, field renames) of the cloud and identity packs.
const ECS_CLOUD: &[CloudSource] = &[
    ("aws", "cloudtrail", "aws.cloudtrail", &[]),
    ("okta", "okta", "okta.system", &[]),
    (
        "azure",
        "signinlogs",
        "azure.signinlogs",
        &[
            ("ResultType", "event.code"),
            ("ResultDescription", "event.reason"),
            ("Username", "user.name"),
            ("UserPrincipalName", "user.name"),
        ],
    ),
    ("kubernetes", "audit", "kubernetes.audit", &[]),
    // Elastic integration dataset names, for events shipped already in ECS form.
    ("azure", "auditlogs", "azure.auditlogs", &[]),
    ("azure", "activitylogs", "azure.activitylogs", &[]),
    ("azure", "riskdetection", "azure.identity_protection", &[]),
    ("azure", "pim", "azure.auditlogs", &[]),
    ("gcp", "gcp.audit", "gcp.audit", &[]),
    (
        "gcp",
        "google_workspace.admin",
        "google_workspace.admin",
        &[],
    ),
    (
        "gcp",
        "google_workspace.login",
        "google_workspace.login",
        &[],
    ),
    ("m365", "audit", "o365.audit", &[]),
    ("m365", "exchange", "o365.audit", &[]),
    ("m365", "threat_management", "o365.audit", &[]),
    ("m365", "threat_detection", "o365.audit", &[]),
    ("github", "audit", "github.audit", &[]),
    ("bitbucket", "audit", "bitbucket.audit", &[]),
    ("onelogin", "onelogin.events", "onelogin.events", &[]),
    ("cisco", "duo", "cisco_duo.auth", &[]),
];

const SYSMON: &str = "sysmon";

type Category = (
    &'static str,
    &'static str,
    &'static [u32],
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
);

/// category, service (for the channel), EventIDs, extra conditions, field renames.
const WIN_CATEGORIES: &[Category] = &[
    ("process_creation", SYSMON, &[1], &[], &[]),
    (
        "process_creation",
        "security",
        &[4688],
        &[],
        &[
            ("Image", "NewProcessName"),
            ("ParentImage", "ParentProcessName"),
        ],
    ),
    ("file_change", SYSMON, &[2], &[], &[]),
    ("network_connection", SYSMON, &[3], &[], &[]),
    ("sysmon_status", SYSMON, &[4, 16], &[], &[]),
    ("process_termination", SYSMON, &[5], &[], &[]),
    ("driver_load", SYSMON, &[6], &[], &[]),
    ("image_load", SYSMON, &[7], &[], &[]),
    ("create_remote_thread", SYSMON, &[8], &[], &[]),
    ("raw_access_thread", SYSMON, &[9], &[], &[]),
    ("process_access", SYSMON, &[10], &[], &[]),
    ("file_event", SYSMON, &[11], &[], &[]),
    ("registry_event", SYSMON, &[12, 13, 14], &[], &[]),
    (
        "registry_add",
        SYSMON,
        &[12],
        &[("EventType", "CreateKey")],
        &[],
    ),
    (
        "registry_delete",
        SYSMON,
        &[12],
        &[("EventType", "DeleteKey")],
        &[],
    ),
    (
        "registry_delete",
        SYSMON,
        &[12],
        &[("EventType", "DeleteValue")],
        &[],
    ),
    ("registry_set", SYSMON, &[13], &[], &[]),
    ("registry_rename", SYSMON, &[14], &[], &[]),
    ("create_stream_hash", SYSMON, &[15], &[], &[]),
    ("pipe_created", SYSMON, &[17, 18], &[], &[]),
    ("wmi_event", SYSMON, &[19, 20, 21], &[], &[]),
    ("dns_query", SYSMON, &[22], &[], &[]),
    ("file_delete", SYSMON, &[23], &[], &[]),
    ("clipboard_change", SYSMON, &[24], &[], &[]),
    ("process_tampering", SYSMON, &[25], &[], &[]),
    ("file_delete_detected", SYSMON, &[26], &[], &[]),
    ("file_block_executable", SYSMON, &[27], &[], &[]),
    ("file_block_shredding", SYSMON, &[28], &[], &[]),
    ("file_executable_detected", SYSMON, &[29], &[], &[]),
    ("sysmon_error", SYSMON, &[255], &[], &[]),
    ("ps_module", "powershell", &[4103], &[], &[]),
    ("ps_script", "powershell", &[4104], &[], &[]),
    ("ps_classic_start", "powershell-classic", &[400], &[], &[]),
    (
        "ps_classic_provider_start",
        "powershell-classic",
        &[600],
        &[],
        &[],
    ),
    ("ps_classic_script", "powershell-classic", &[800], &[], &[]),
    (
        "antivirus",
        "windefend",
        &[
            1006, 1007, 1008, 1009, 1010, 1011, 1012, 1017, 1018, 1019, 1115, 1116,
        ],
        &[],
        &[("Signature", "ThreatName"), ("Filename", "Path")],
    ),
];

/// Windows `service` → event log channel(s).
const WIN_SERVICES: &[(&str, &[&str])] = &[
    ("application", &["Application"]),
    ("security", &["Security"]),
    ("system", &["System"]),
    ("ntlm", &["Microsoft-Windows-NTLM/Operational"]),
    ("sysmon", &["Microsoft-Windows-Sysmon/Operational"]),
    (
        "powershell",
        &[
            "Microsoft-Windows-PowerShell/Operational",
            "PowerShellCore/Operational",
        ],
    ),
    ("powershell-classic", &["Windows PowerShell"]),
    (
        "taskscheduler",
        &["Microsoft-Windows-TaskScheduler/Operational"],
    ),
    ("wmi", &["Microsoft-Windows-WMI-Activity/Operational"]),
    ("dhcp", &["Microsoft-Windows-DHCP-Server/Operational"]),
    (
        "printservice-admin",
        &["Microsoft-Windows-PrintService/Admin"],
    ),
    (
        "smbclient-security",
        &["Microsoft-Windows-SmbClient/Security"],
    ),
    (
        "smbclient-connectivity",
        &["Microsoft-Windows-SmbClient/Connectivity"],
    ),
    (
        "smbserver-connectivity",
        &["Microsoft-Windows-SMBServer/Connectivity"],
    ),
    (
        "printservice-operational",
        &["Microsoft-Windows-PrintService/Operational"],
    ),
    (
        "terminalservices-localsessionmanager",
        &["Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"],
    ),
    (
        "codeintegrity-operational",
        &["Microsoft-Windows-CodeIntegrity/Operational"],
    ),
    (
        "applocker",
        &[
            "Microsoft-Windows-AppLocker/MSI and Script",
            "Microsoft-Windows-AppLocker/EXE and DLL",
            "Microsoft-Windows-AppLocker/Packaged app-Deployment",
            "Microsoft-Windows-AppLocker/Packaged app-Execution",
        ],
    ),
    ("msexchange-management", &["MSExchange Management"]),
    (
        "windefend",
        &["Microsoft-Windows-Windows Defender/Operational"],
    ),
    (
        "firewall-as",
        &["Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"],
    ),
    (
        "bits-client",
        &["Microsoft-Windows-Bits-Client/Operational"],
    ),
    (
        "security-mitigations",
        &[
            "Microsoft-Windows-Security-Mitigations/Kernel Mode",
            "Microsoft-Windows-Security-Mitigations/User Mode",
        ],
    ),
    (
        "diagnosis-scripted",
        &["Microsoft-Windows-Diagnosis-Scripted/Operational"],
    ),
    ("shell-core", &["Microsoft-Windows-Shell-Core/Operational"]),
    ("openssh", &["OpenSSH/Operational"]),
    ("ldap", &["Microsoft-Windows-LDAP-Client/Debug"]),
    (
        "bitlocker",
        &["Microsoft-Windows-BitLocker/BitLocker Management"],
    ),
    ("vhdmp", &["Microsoft-Windows-VHDMP/Operational"]),
    (
        "appxdeployment-server",
        &["Microsoft-Windows-AppXDeploymentServer/Operational"],
    ),
    ("lsa-server", &["Microsoft-Windows-LSA/Operational"]),
    (
        "appxpackaging-om",
        &["Microsoft-Windows-AppxPackaging/Operational"],
    ),
    (
        "dns-client",
        &["Microsoft-Windows-DNS Client Events/Operational"],
    ),
    (
        "appmodel-runtime",
        &["Microsoft-Windows-AppModel-Runtime/Admin"],
    ),
    ("capi2", &["Microsoft-Windows-CAPI2/Operational"]),
    (
        "certificateservicesclient-lifecycle-system",
        &["Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational"],
    ),
    (
        "kernel-shimengine",
        &[
            "Microsoft-Windows-Kernel-ShimEngine/Operational",
            "Microsoft-Windows-Kernel-ShimEngine/Diagnostic",
        ],
    ),
    (
        "application-experience",
        &[
            "Microsoft-Windows-Application-Experience/Program-Telemetry",
            "Microsoft-Windows-Application-Experience/Program-Compatibility-Assistant",
        ],
    ),
    ("ntfs", &["Microsoft-Windows-Ntfs/Operational"]),
    ("hyper-v-worker", &["Microsoft-Windows-Hyper-V-Worker"]),
    (
        "kernel-event-tracing",
        &["Microsoft-Windows-Kernel-EventTracing"],
    ),
    ("sense", &["Microsoft-Windows-SENSE/Operational"]),
    (
        "servicebus-client",
        &[
            "Microsoft-ServiceBus-Client/Admin",
            "Microsoft-ServiceBus-Client/Operational",
        ],
    ),
    (
        "iis-configuration",
        &["Microsoft-IIS-Configuration/Operational"],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(c: Option<&str>, p: Option<&str>, s: Option<&str>) -> LogSource {
        LogSource {
            category: c.map(Into::into),
            product: p.map(Into::into),
            service: s.map(Into::into),
            definition: None,
        }
    }

    #[test]
    fn windows_process_creation_has_two_variants() {
        let p = Pipeline::windows();
        let v = p
            .variants(&ls(Some("process_creation"), Some("windows"), None))
            .unwrap_or_default();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[1].fieldmap.get("Image").map(String::as_str),
            Some("NewProcessName")
        );
        let sec = p
            .variants(&ls(None, Some("windows"), Some("security")))
            .unwrap_or_default();
        assert_eq!(sec.len(), 1);
        assert_eq!(
            sec[0].conditions,
            vec![("Channel".to_string(), vec!["Security".to_string()])]
        );
        assert!(
            p.variants(&ls(Some("process_creation"), Some("linux"), None))
                .is_none()
        );
        assert!(
            p.variants(&ls(None, Some("aws"), Some("cloudtrail")))
                .is_none()
        );
    }

    #[test]
    fn pipeline_yaml_subset() {
        let p = Pipeline::from_yaml(
            "name: t\ntransformations:\n  - type: field_name_mapping\n    mapping: {Image: process.executable}\n  - type: add_condition\n    conditions: {Channel: Security}\n    rule_conditions: [{type: logsource, service: security}]\n",
        );
        let p = p.unwrap_or_default();
        assert_eq!(
            p.field_mappings.get("Image").map(String::as_str),
            Some("process.executable")
        );
        let v = p
            .variants(&ls(None, Some("windows"), Some("security")))
            .unwrap_or_default();
        assert_eq!(v[0].conditions[0].0, "Channel");
        assert!(Pipeline::from_yaml("transformations: [{type: bogus}]").is_err());
    }
}
