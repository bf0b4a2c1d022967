//! API token secrets and endpoint allow-lists.
//!
//! A token is `vgl_` followed by 43 base64url characters (256 random bits): the prefix makes
//! leaked tokens recognizable by secret scanners and in logs. The store keeps its SHA-256;
//! the secret is shown once, at creation.

use super::secret::{Secret, b64url, random_bytes, sha256_hex};

/// The prefix of every Vigil API token.
pub const TOKEN_PREFIX: &str = "vgl_";
/// Length of a token: prefix + 43 base64url characters.
pub const TOKEN_LEN: usize = 4 + 43;

/// A new token secret.
pub fn generate_token() -> Result<Secret, String> {
    Ok(Secret::new(format!(
        "{TOKEN_PREFIX}{}",
        b64url(&random_bytes::<32>()?)
    )))
}

/// Whether `s` has the shape of a Vigil token (checked before any lookup).
pub fn looks_like_token(s: &str) -> bool {
    s.len() == TOKEN_LEN
        && s.starts_with(TOKEN_PREFIX)
        && s[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The stored form of a token: SHA-256, hex.
pub fn token_hash(token: &Secret) -> String {
    sha256_hex(token.expose())
}

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// Checks an endpoint pattern of a token's allow-list: `[METHOD ]PATH`, where METHOD is one
/// of GET, HEAD, POST, PUT, PATCH, DELETE (none: any method) and PATH starts with `/`; a `*`
/// segment matches one path segment and a final `**` any rest (`GET /api/v1/alerts/*`,
/// `/api/v1/search/**`).
pub fn validate_endpoint(pattern: &str) -> Result<(), String> {
    let (method, path) = split_pattern(pattern);
    if let Some(m) = method
        && !METHODS.contains(&m)
    {
        return Err(format!(
            "{pattern:?}: method {m:?} is not one of {}",
            METHODS.join(", ")
        ));
    }
    if !path.starts_with('/') || path.len() > 512 {
        return Err(format!(
            "{pattern:?}: the path must start with '/' (at most 512 bytes)"
        ));
    }
    let segs: Vec<&str> = path[1..].split('/').collect();
    for (i, s) in segs.iter().enumerate() {
        if s.contains('*') && *s != "*" && *s != "**" {
            return Err(format!("{pattern:?}: '*' must be a whole segment"));
        }
        if *s == "**" && i + 1 != segs.len() {
            return Err(format!("{pattern:?}: '**' may only be the last segment"));
        }
        if *s == "." || *s == ".." {
            return Err(format!(
                "{pattern:?}: '.' and '..' segments are not allowed"
            ));
        }
    }
    Ok(())
}

fn split_pattern(pattern: &str) -> (Option<&str>, &str) {
    match pattern.trim().split_once(' ') {
        Some((m, p)) => (Some(m.trim()), p.trim()),
        None => (None, pattern.trim()),
    }
}

/// Whether a request (`method`, `path` without query string) is allowed by an allow-list;
/// an empty list allows every endpoint. Paths with empty, `.` or `..` segments never match a
/// non-empty list (the HTTP layer passes the path it routes on).
pub fn endpoint_allowed(allow: &[String], method: &str, path: &str) -> bool {
    if allow.is_empty() {
        return true;
    }
    let path = path.split('?').next().unwrap_or_default();
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let req: Vec<&str> = rest.split('/').collect();
    if req
        .iter()
        .enumerate()
        .any(|(i, s)| (s.is_empty() && i + 1 != req.len()) || *s == "." || *s == "..")
    {
        return false;
    }
    allow.iter().any(|p| {
        let (m, pp) = split_pattern(p);
        if m.is_some_and(|m| !m.eq_ignore_ascii_case(method)) {
            return false;
        }
        let pat: Vec<&str> = pp.trim_start_matches('/').split('/').collect();
        segments_match(&pat, &req)
    })
}

fn segments_match(pat: &[&str], req: &[&str]) -> bool {
    match (pat.first(), req.first()) {
        (Some(&"**"), _) => true,
        (None, None) => true,
        (Some(p), Some(r)) => {
            (*p == "*" && !r.is_empty() || p == r) && segments_match(&pat[1..], &req[1..])
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_prefix_and_hash_stably() {
        let t = generate_token().unwrap_or_else(|e| panic!("{e}"));
        assert!(looks_like_token(t.expose()), "{}", t.expose());
        let u = generate_token().unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(t.expose(), u.expose());
        assert_eq!(token_hash(&t), token_hash(&t.clone()));
        assert_eq!(token_hash(&t).len(), 64);
        assert!(!looks_like_token("vgl_short"));
        assert!(!looks_like_token(&format!("xyz_{}", &t.expose()[4..])));
        assert!(!looks_like_token(&format!("vgl_{}", "!".repeat(43))));
        assert_eq!(format!("{t:?}"), "<redacted>");
    }

    #[test]
    fn endpoint_patterns() {
        for ok in [
            "GET /api/v1/alerts",
            "/api/v1/alerts/*",
            "POST /api/v1/search/**",
            "/",
        ] {
            assert_eq!(validate_endpoint(ok), Ok(()), "{ok}");
        }
        for bad in [
            "FETCH /x",
            "api/v1",
            "/api/v1/al*",
            "/api/**/x",
            "/api/../users",
        ] {
            assert!(validate_endpoint(bad).is_err(), "{bad}");
        }
        let allow = vec![
            "GET /api/v1/alerts".to_owned(),
            "GET /api/v1/alerts/*".to_owned(),
            "/api/v1/search/**".to_owned(),
        ];
        assert!(endpoint_allowed(&allow, "GET", "/api/v1/alerts"));
        assert!(endpoint_allowed(&allow, "get", "/api/v1/alerts/01ABC?x=1"));
        assert!(!endpoint_allowed(&allow, "POST", "/api/v1/alerts/01ABC"));
        assert!(!endpoint_allowed(
            &allow,
            "GET",
            "/api/v1/alerts/01ABC/comments"
        ));
        assert!(!endpoint_allowed(&allow, "GET", "/api/v1/alerts/"));
        assert!(endpoint_allowed(&allow, "POST", "/api/v1/search"));
        assert!(endpoint_allowed(&allow, "POST", "/api/v1/search/a/b"));
        assert!(!endpoint_allowed(&allow, "GET", "/api/v1/users"));
        assert!(!endpoint_allowed(&allow, "GET", "/api/v1/alerts/../users"));
        assert!(!endpoint_allowed(&allow, "GET", "/api/v1//alerts"));
        assert!(!endpoint_allowed(&allow, "GET", "api/v1/alerts"));
        assert!(endpoint_allowed(&[], "DELETE", "/anything"));
    }
}
