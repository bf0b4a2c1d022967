//! Session secrets, the CSRF token of a session, and the session cookie's attributes.
//!
//! # CSRF: a synchronizer token derived from the session
//! The cookie holds a random 256-bit secret (HttpOnly: scripts cannot read it). The CSRF token
//! is `base64url(SHA-256("vigil-csrf-v1:" + secret))`: the login response and the session
//! endpoint give it to the UI, which sends it in the `X-CSRF-Token` header of every write
//! (any method but GET, HEAD, OPTIONS). The server recomputes it from the cookie and compares
//! in constant time. Another site can make the browser send the cookie but can neither read
//! the token (same-origin policy) nor derive it (SHA-256 preimage), and the token is bound to
//! one session, so nothing extra is stored. `SameSite=Strict` is the second layer.

use std::time::Duration;

use super::secret::{Secret, b64url, ct_eq, random_bytes, sha256_hex};

/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// A new session secret (the cookie value): 256 random bits, base64url.
pub fn generate_session_secret() -> Result<Secret, String> {
    Ok(Secret::new(b64url(&random_bytes::<32>()?)))
}

/// The stored form of a session secret.
pub fn session_hash(secret: &Secret) -> String {
    sha256_hex(secret.expose())
}

/// The CSRF token of the session with this secret.
pub fn csrf_token(secret: &Secret) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"vigil-csrf-v1:");
    h.update(secret.expose().as_bytes());
    b64url(&h.finalize())
}

/// Whether a request method changes state and so needs the CSRF token.
pub fn method_needs_csrf(method: &str) -> bool {
    !["GET", "HEAD", "OPTIONS"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// Checks the CSRF header of a request made with the session `secret`.
pub fn csrf_ok(secret: &Secret, header: Option<&str>) -> bool {
    header.is_some_and(|h| ct_eq(h.trim(), &csrf_token(secret)))
}

/// The attributes of the session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAttributes {
    /// `__Host-vigil_session` with TLS (the prefix makes browsers insist on Secure, Path=/ and
    /// no Domain), `vigil_session` without.
    pub name: &'static str,
    /// `Secure`: only with TLS (a plain-HTTP loopback UI would otherwise never get it back).
    pub secure: bool,
    /// `HttpOnly`: always.
    pub http_only: bool,
    /// `SameSite=Strict`: always.
    pub same_site: &'static str,
    /// `Path=/`.
    pub path: &'static str,
    /// `Max-Age`: the absolute session lifetime.
    pub max_age: Duration,
}

impl CookieAttributes {
    /// The session cookie's attributes for a listener with or without TLS.
    pub fn session(tls: bool, absolute_lifetime: Duration) -> CookieAttributes {
        CookieAttributes {
            name: if tls {
                "__Host-vigil_session"
            } else {
                "vigil_session"
            },
            secure: tls,
            http_only: true,
            same_site: "Strict",
            path: "/",
            max_age: absolute_lifetime,
        }
    }

    /// The `Set-Cookie` header value that stores `secret` (itself a secret: never log it).
    pub fn set_cookie(&self, secret: &Secret) -> Secret {
        Secret::new(format!(
            "{}={}; {}",
            self.name,
            secret.expose(),
            self.attrs(self.max_age.as_secs())
        ))
    }

    /// The `Set-Cookie` header value that deletes the cookie (logout).
    pub fn clear_cookie(&self) -> String {
        format!("{}=; {}", self.name, self.attrs(0))
    }

    fn attrs(&self, max_age: u64) -> String {
        let mut s = format!("Path={}; Max-Age={max_age}", self.path);
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        s.push_str("; SameSite=");
        s.push_str(self.same_site);
        if self.secure {
            s.push_str("; Secure");
        }
        s
    }

    /// The cookie's value in a `Cookie` request header, if present.
    pub fn find_in<'a>(&self, cookie_header: &'a str) -> Option<&'a str> {
        cookie_header.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == self.name).then_some(v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_attributes_follow_tls() {
        let day = Duration::from_secs(86400);
        let tls = CookieAttributes::session(true, day);
        let s = Secret::from("abc");
        assert_eq!(
            tls.set_cookie(&s).expose(),
            "__Host-vigil_session=abc; Path=/; Max-Age=86400; HttpOnly; SameSite=Strict; Secure"
        );
        let plain = CookieAttributes::session(false, day);
        assert_eq!(
            plain.set_cookie(&s).expose(),
            "vigil_session=abc; Path=/; Max-Age=86400; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            plain.clear_cookie(),
            "vigil_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        );
        assert_eq!(format!("{:?}", plain.set_cookie(&s)), "<redacted>");
        assert_eq!(plain.find_in("a=1; vigil_session=xyz; b=2"), Some("xyz"));
        assert_eq!(tls.find_in("vigil_session=xyz"), None);
    }

    #[test]
    fn csrf_token_is_bound_to_the_session() {
        let a = generate_session_secret().unwrap_or_else(|e| panic!("{e}"));
        let b = generate_session_secret().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.expose().len(), 43);
        let ta = csrf_token(&a);
        assert!(csrf_ok(&a, Some(&ta)));
        assert!(!csrf_ok(&b, Some(&ta)));
        assert!(!csrf_ok(&a, None));
        assert!(!csrf_ok(&a, Some("")));
        // Neither the secret nor its stored hash.
        assert_ne!(ta, a.expose());
        assert_ne!(ta, session_hash(&a));
        assert!(method_needs_csrf("POST"));
        assert!(method_needs_csrf("delete"));
        assert!(!method_needs_csrf("GET"));
        assert!(!method_needs_csrf("HEAD"));
    }
}
