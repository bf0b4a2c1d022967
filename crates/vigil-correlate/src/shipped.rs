//! The shipped correlation pack, embedded at build time from `rules/correlation/` (see
//! `build.rs`), so `vigil up` runs it wherever the binary is installed or started from.
//!
//! Configurations name it `builtin:correlation` in `correlation.rules` (the built-in
//! configuration does), or one of its files as `builtin:correlation/<file>`
//! (`builtin:correlation/authentication.yaml`). A rule loaded from it has that name as its
//! path, so explain, the rules API and load problems say where it came from. To change the
//! pack, copy `rules/correlation/` of the source tree and name the directory instead.

use std::path::Path;

mod files {
    include!(concat!(env!("OUT_DIR"), "/shipped.rs"));
}

/// The name of the whole pack in `correlation.rules`.
pub const PACK: &str = "builtin:correlation";

/// The pack's files: (path relative to the pack, text), in name order.
pub fn files() -> &'static [(&'static str, &'static str)] {
    files::FILES
}

/// Whether `p` names the embedded pack or one of its files (`builtin:correlation[/<file>]`);
/// such a name is never read from the file system.
pub fn is_builtin(p: &Path) -> bool {
    p.to_str().is_some_and(|s| s.starts_with("builtin:"))
}

/// The embedded files `p` names: the whole pack, or one file; `None` when `p` is a
/// `builtin:` name the binary does not carry (or not a `builtin:` name at all).
pub fn resolve(p: &Path) -> Option<Vec<(&'static str, &'static str)>> {
    let s = p.to_str()?;
    if s == PACK || s == "builtin:correlation/" {
        return Some(files().to_vec());
    }
    let rel = s.strip_prefix("builtin:correlation/")?;
    let one: Vec<_> = files()
        .iter()
        .filter(|(name, _)| *name == rel)
        .copied()
        .collect();
    (!one.is_empty()).then_some(one)
}

/// The text of one embedded file named `builtin:correlation/<file>`.
pub fn source(p: &Path) -> Option<&'static str> {
    let rel = p.to_str()?.strip_prefix("builtin:correlation/")?;
    files()
        .iter()
        .find(|(name, _)| *name == rel)
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pack_is_embedded_and_resolves_by_name() {
        assert!(files().len() >= 9, "{:?}", files().len());
        assert!(files().iter().any(|(n, _)| *n == "authentication.yaml"));
        let all = resolve(Path::new(PACK)).unwrap_or_default();
        assert_eq!(all.len(), files().len());
        let one = resolve(Path::new("builtin:correlation/web.yaml")).unwrap_or_default();
        assert_eq!(one.len(), 1);
        assert!(one[0].1.contains("web-scan"));
        assert!(resolve(Path::new("builtin:correlation/nope.yaml")).is_none());
        assert!(resolve(Path::new("builtin:sigma")).is_none());
        assert!(resolve(Path::new("rules/correlation")).is_none());
        assert!(is_builtin(Path::new("builtin:nope")));
        assert!(!is_builtin(Path::new("rules/correlation")));
        assert!(source(Path::new("builtin:correlation/web.yaml")).is_some());
    }
}
