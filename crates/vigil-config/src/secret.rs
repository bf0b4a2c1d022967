//! Secrets in the configuration: written as references (`${env:NAME}`, `${file:PATH}`),
//! resolved when the file is validated, and never shown: `Debug` prints the reference only.

use std::fmt;
use std::path::Path;

/// Largest secret file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A resolved secret and the reference it came from.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret {
    value: String,
    reference: String,
}

impl Secret {
    /// Resolves a reference: `${env:NAME}` reads an environment variable, `${file:PATH}` the
    /// first line of a file (relative paths against `base_dir`). Anything else is refused, so
    /// that a password never sits in a configuration file in clear.
    pub fn resolve(reference: &str, base_dir: &Path) -> Result<Secret, String> {
        let r = reference.trim();
        let inner = r
            .strip_prefix("${")
            .and_then(|x| x.strip_suffix('}'))
            .ok_or_else(|| {
                "write a reference, `${env:NAME}` or `${file:PATH}`, not the secret itself"
                    .to_owned()
            })?;
        let value = if let Some(name) = inner.strip_prefix("env:") {
            let name = name.trim();
            if name.is_empty() {
                return Err("`${env:}` names no variable".into());
            }
            std::env::var(name)
                .map_err(|_| format!("environment variable {name} is not set (or not UTF-8)"))?
        } else if let Some(file) = inner.strip_prefix("file:") {
            let file = file.trim();
            if file.is_empty() {
                return Err("`${file:}` names no file".into());
            }
            let path = base_dir.join(file);
            let bytes = crate::read_file_capped(&path, MAX_SECRET_FILE)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let text =
                String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
            text.lines().next().unwrap_or("").trim_end().to_owned()
        } else {
            return Err(format!(
                "unknown reference `{r}`; use `${{env:NAME}}` or `${{file:PATH}}`"
            ));
        };
        Ok(Secret {
            value,
            reference: r.to_owned(),
        })
    }

    /// A secret written in the configuration itself (the HTTP connector's tokens may be);
    /// `Debug` shows `<literal>`.
    pub fn literal(value: &str) -> Secret {
        Secret {
            value: value.to_owned(),
            reference: "<literal>".to_owned(),
        }
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where it came from (`${env:NAME}`), empty when none was given.
    pub fn reference(&self) -> &str {
        &self.reference
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reference.is_empty() {
            f.write_str("Secret(none)")
        } else {
            write!(f, "Secret(<redacted> from {})", self.reference)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_and_debug_redacts() {
        let dir = std::env::temp_dir();
        // PATH is set in every test environment
        let s = Secret::resolve("${env:PATH}", &dir).unwrap();
        assert_eq!(s.expose(), std::env::var("PATH").unwrap());
        let shown = format!("{s:?}");
        assert_eq!(shown, "Secret(<redacted> from ${env:PATH})");
        assert!(!shown.contains(s.expose()));
        assert!(
            Secret::resolve("hunter2", &dir)
                .unwrap_err()
                .contains("not the secret itself")
        );
        assert!(
            Secret::resolve("${env:VIGIL_TEST_SURELY_UNSET_VARIABLE}", &dir)
                .unwrap_err()
                .contains("is not set")
        );
        assert!(
            Secret::resolve("${vault:x}", &dir)
                .unwrap_err()
                .contains("unknown reference")
        );
    }
}
