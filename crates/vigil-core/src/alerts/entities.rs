//! Entity extraction from ECS fields and the grouping key.
//!
//! An alert is about *things*: hosts, users, addresses, processes, files. They are read from
//! the matched event's ECS fields through [`EventFields`], a small view trait, so the core does
//! not depend on how events are stored; `vigil_event::Event` implements it.

use std::fmt::Write as _;

use crate::model::{Entity, EntityKind};

/// A read-only view of an event's fields by ECS dotted name (`host.name`, `source.ip`).
/// Multi-valued fields call `f` once per value; numbers and addresses are given as text.
pub trait EventFields {
    /// Visits every value of `name` (nothing when the field is absent).
    fn field(&self, name: &str, f: &mut dyn FnMut(&str));

    /// The first value of `name`, owned.
    fn first(&self, name: &str) -> Option<String> {
        let mut out = None;
        self.field(name, &mut |v| {
            if out.is_none() {
                out = Some(v.to_owned());
            }
        });
        out
    }
}

impl EventFields for vigil_event::Event {
    fn field(&self, name: &str, f: &mut dyn FnMut(&str)) {
        use vigil_event::ValueRef;
        self.visit_field(name, &mut |v| match v {
            ValueRef::Null => {}
            ValueRef::Str(s) => f(s),
            ValueRef::Int(i) => f(&i.to_string()),
            ValueRef::Float(x) => f(&x.to_string()),
            ValueRef::Bool(b) => f(if b { "true" } else { "false" }),
            ValueRef::Ip(ip) => f(&ip.to_string()),
            ValueRef::Time(t) => f(&vigil_event::Timestamp(t).to_rfc3339()),
        });
    }
}

/// Flat field maps (tests, benchmarks, events decoded from JSON by the caller).
impl<S: std::hash::BuildHasher> EventFields for std::collections::HashMap<String, String, S> {
    fn field(&self, name: &str, f: &mut dyn FnMut(&str)) {
        if let Some(v) = self.get(name) {
            f(v);
        }
    }
}

impl EventFields for std::collections::BTreeMap<String, String> {
    fn field(&self, name: &str, f: &mut dyn FnMut(&str)) {
        if let Some(v) = self.get(name) {
            f(v);
        }
    }
}

impl EventFields for &[(&str, &str)] {
    fn field(&self, name: &str, f: &mut dyn FnMut(&str)) {
        for (k, v) in self.iter() {
            if *k == name {
                f(v);
            }
        }
    }
}

/// Which entity a field gives, and whether it is part of the default grouping key.
struct Source {
    field: &'static str,
    kind: EntityKind,
    /// Part of the default grouping key ("main entities").
    key: bool,
    /// Lower-cased (host and domain names compare case-insensitively).
    fold_case: bool,
}

const fn src(field: &'static str, kind: EntityKind, key: bool, fold_case: bool) -> Source {
    Source {
        field,
        kind,
        key,
        fold_case,
    }
}

/// The ECS fields entities come from, in key order. The default grouping key is made of the
/// host, the users, the source and destination addresses and the process name: the things a
/// repeated detection is "for". Paths, hashes, URLs, domains and process ids are kept as
/// entities for pivoting but do not split groups (a rule firing on 100 files of one host is
/// one alert).
const SOURCES: &[Source] = &[
    src("host.name", EntityKind::Host, true, true),
    src("host.hostname", EntityKind::Host, true, true),
    src("host.ip", EntityKind::Ip, false, false),
    src("user.name", EntityKind::User, true, false),
    src("user.target.name", EntityKind::User, true, false),
    src("source.ip", EntityKind::Ip, true, false),
    src("destination.ip", EntityKind::Ip, true, false),
    src("client.ip", EntityKind::Ip, false, false),
    src("server.ip", EntityKind::Ip, false, false),
    src("process.name", EntityKind::Process, true, false),
    src("process.executable", EntityKind::Process, false, false),
    src("file.path", EntityKind::File, false, false),
    src("file.hash.sha256", EntityKind::Hash, false, true),
    src("file.hash.sha1", EntityKind::Hash, false, true),
    src("file.hash.md5", EntityKind::Hash, false, true),
    src("process.hash.sha256", EntityKind::Hash, false, true),
    src("url.domain", EntityKind::Domain, false, true),
    src("dns.question.name", EntityKind::Domain, false, true),
    src("url.full", EntityKind::Url, false, false),
];

/// Longest entity value kept; longer values are counted in [`Entities::dropped`].
pub const MAX_ENTITY_LEN: usize = 1024;
/// Most entities kept per detection; more are counted in [`Entities::dropped`].
pub const MAX_ENTITIES: usize = 64;
/// Grouping keys longer than this are replaced by a stable 128-bit hash (`h:<hex>`); the store
/// accepts at most 4096 bytes.
pub const MAX_KEY_LEN: usize = 512;

/// The typed entities of one detection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entities {
    /// Host names (lower case).
    pub hosts: Vec<String>,
    /// Accounts: `user.name` then `user.target.name`.
    pub users: Vec<String>,
    /// Addresses: source, destination, host, client, server (deduplicated).
    pub ips: Vec<String>,
    /// Process names and executables.
    pub processes: Vec<String>,
    /// The process id, when the event carries one (not stored: ids are reused).
    pub pid: Option<i64>,
    /// File paths.
    pub files: Vec<String>,
    /// File and process hashes (lower case).
    pub hashes: Vec<String>,
    /// Domain names (lower case).
    pub domains: Vec<String>,
    /// URLs.
    pub urls: Vec<String>,
    /// The values of the main entities, as `kind=value` in extraction order: the default key.
    key_parts: Vec<String>,
    /// Values not kept: over [`MAX_ENTITY_LEN`], or beyond [`MAX_ENTITIES`].
    pub dropped: u32,
}

impl Entities {
    /// Reads the entities of an event.
    pub fn extract(ev: &dyn EventFields) -> Entities {
        let mut out = Entities::default();
        let mut n = 0usize;
        for s in SOURCES {
            ev.field(s.field, &mut |v| {
                let v = v.trim();
                if v.is_empty() || v == "-" {
                    return;
                }
                if v.len() > MAX_ENTITY_LEN || n >= MAX_ENTITIES {
                    out.dropped += 1;
                    return;
                }
                let v = if s.fold_case {
                    v.to_lowercase()
                } else {
                    v.to_owned()
                };
                let list = match s.kind {
                    EntityKind::Host => &mut out.hosts,
                    EntityKind::User => &mut out.users,
                    EntityKind::Ip => &mut out.ips,
                    EntityKind::Process => &mut out.processes,
                    EntityKind::File => &mut out.files,
                    EntityKind::Hash => &mut out.hashes,
                    EntityKind::Domain => &mut out.domains,
                    EntityKind::Url => &mut out.urls,
                };
                if list.contains(&v) {
                    return;
                }
                if s.key {
                    out.key_parts.push(format!("{}={v}", s.kind.as_str()));
                }
                list.push(v);
                n += 1;
            });
        }
        out.pid = ev.first("process.pid").and_then(|p| p.trim().parse().ok());
        out
    }

    /// The entities as the store keeps them (sorted, deduplicated).
    pub fn to_entities(&self) -> Vec<Entity> {
        let lists: [(EntityKind, &Vec<String>); 8] = [
            (EntityKind::Host, &self.hosts),
            (EntityKind::User, &self.users),
            (EntityKind::Ip, &self.ips),
            (EntityKind::Process, &self.processes),
            (EntityKind::File, &self.files),
            (EntityKind::Hash, &self.hashes),
            (EntityKind::Domain, &self.domains),
            (EntityKind::Url, &self.urls),
        ];
        let mut out: Vec<Entity> = lists
            .iter()
            .flat_map(|(k, l)| {
                l.iter().map(|v| Entity {
                    kind: *k,
                    value: v.clone(),
                })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The default grouping key: the main entities (`host=web1|user=alice|ip=10.0.0.5`), or
    /// `-` when the event has none (every detection of the rule then shares one group).
    pub fn default_key(&self) -> String {
        finish_key(self.key_parts.join("|"))
    }
}

/// The grouping key of explicit field values (a correlation rule's group-by fields, or the
/// fields a rule is configured to group by), in the order given: `field=value|...`.
pub fn key_of_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut key = String::new();
    for (i, (f, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            key.push('|');
        }
        let _ = write!(key, "{f}={v}");
    }
    finish_key(key)
}

/// The key of the fields `names` read from an event (absent fields give an empty value).
pub fn key_of_event(names: &[String], ev: &dyn EventFields) -> String {
    let values: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            let mut vals = Vec::new();
            ev.field(n, &mut |v| vals.push(v.to_owned()));
            (n.clone(), vals.join(","))
        })
        .collect();
    key_of_fields(values.iter().map(|(f, v)| (f.as_str(), v.as_str())))
}

fn finish_key(key: String) -> String {
    if key.is_empty() {
        "-".into()
    } else if key.len() > MAX_KEY_LEN {
        format!("h:{:032x}", stable_hash128(key.as_bytes()))
    } else {
        key
    }
}

/// FNV-1a over 128 bits: stable across processes and versions (a key must name the same group
/// after a restart), which `std`'s hashers do not promise.
pub fn stable_hash128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for b in bytes {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    struct Pairs(Vec<(String, String)>);
    impl EventFields for Pairs {
        fn field(&self, name: &str, f: &mut dyn FnMut(&str)) {
            for (k, v) in &self.0 {
                if k == name {
                    f(v);
                }
            }
        }
    }

    #[test]
    fn ecs_fields_become_typed_entities() {
        let e = Entities::extract(&Pairs(ev(&[
            ("host.name", "WEB1.corp"),
            ("host.ip", "10.0.0.5"),
            ("host.ip", "fe80::1"),
            ("user.name", "alice"),
            ("user.target.name", "admin"),
            ("source.ip", "203.0.113.9"),
            ("destination.ip", "10.0.0.5"),
            ("process.name", "powershell.exe"),
            ("process.executable", "C:\\Windows\\powershell.exe"),
            ("process.pid", "4242"),
            ("file.path", "/tmp/x"),
            ("file.hash.sha256", "ABCDEF"),
        ])));
        assert_eq!(e.hosts, ["web1.corp"]);
        assert_eq!(e.users, ["alice", "admin"]);
        assert_eq!(e.ips, ["10.0.0.5", "fe80::1", "203.0.113.9"]);
        assert_eq!(
            e.processes,
            ["powershell.exe", "C:\\Windows\\powershell.exe"]
        );
        assert_eq!(e.pid, Some(4242));
        assert_eq!(e.files, ["/tmp/x"]);
        assert_eq!(e.hashes, ["abcdef"]);
        // host.ip is not a key part; the destination equals it and is deduplicated, so the
        // key holds what was first seen as a key field
        assert_eq!(
            e.default_key(),
            "host=web1.corp|user=alice|user=admin|ip=203.0.113.9|process=powershell.exe"
        );
        let stored = e.to_entities();
        assert_eq!(stored.len(), 10);
        assert!(stored.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn file_paths_and_pids_do_not_split_groups() {
        let a = Entities::extract(&Pairs(ev(&[
            ("host.name", "h"),
            ("file.path", "/a"),
            ("process.pid", "1"),
        ])));
        let b = Entities::extract(&Pairs(ev(&[
            ("host.name", "H"),
            ("file.path", "/b"),
            ("process.pid", "2"),
        ])));
        assert_eq!(a.default_key(), b.default_key());
    }

    #[test]
    fn no_entities_share_one_group_and_long_values_are_counted() {
        let e = Entities::extract(&Pairs(ev(&[("message", "x")])));
        assert_eq!(e.default_key(), "-");
        let long = "x".repeat(MAX_ENTITY_LEN + 1);
        let e = Entities::extract(&Pairs(ev(&[("host.name", &long), ("user.name", " - ")])));
        assert_eq!(e.dropped, 1);
        assert!(e.hosts.is_empty() && e.users.is_empty());
    }

    #[test]
    fn long_keys_hash_stably() {
        let v = "v".repeat(600);
        let k = key_of_fields([("a", v.as_str())]);
        assert!(k.starts_with("h:") && k.len() == 34);
        assert_eq!(k, key_of_fields([("a", v.as_str())]));
        assert_eq!(key_of_fields([("a", "1"), ("b", "2")]), "a=1|b=2");
        let fields = Pairs(ev(&[("source.ip", "1.2.3.4")]));
        assert_eq!(
            key_of_event(&["source.ip".into(), "user.name".into()], &fields),
            "source.ip=1.2.3.4|user.name="
        );
    }
}
