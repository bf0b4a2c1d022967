//! The core's REST API over HTTP, for the tests that drive a running `vigil up`: one client
//! (bearer token, session cookie with or without its CSRF token, or no credentials from
//! 127.0.0.2 so that failures throttle that address and not the analysts') and the waits and
//! senders those tests share.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Vigil;

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No credentials; sent from 127.0.0.2.
    None,
    Bearer(String),
    Session {
        cookie: String,
        csrf: String,
    },
    /// A session cookie without its CSRF header.
    SessionNoCsrf(String),
}

impl Auth {
    pub fn bearer(token: &str) -> Auth {
        Auth::Bearer(token.to_owned())
    }
}

pub struct Api {
    pub base: String,
    pub client: reqwest::blocking::Client,
    anonymous: reqwest::blocking::Client,
}

impl Api {
    pub fn new(v: &Vigil) -> Api {
        Api::at(v.http)
    }

    pub fn at(http: SocketAddr) -> Api {
        // reqwest is built without a crypto provider of its own (the binary installs one)
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            base: format!("http://{http}"),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            anonymous: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
                .build()
                .unwrap(),
        }
    }

    /// One request; the answer's status and its body as JSON (a string when it is not JSON).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (s, text, _) = self.raw(method, path, auth, body);
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// One request; the answer's status, body and headers.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        body: Option<&Value>,
    ) -> (u16, String, reqwest::header::HeaderMap) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let client = match auth {
            Auth::None => &self.anonymous,
            _ => &self.client,
        };
        let mut r = client.request(m, format!("{}{path}", self.base));
        match auth {
            Auth::None => {}
            Auth::Bearer(t) => r = r.bearer_auth(t),
            Auth::Session { cookie, csrf } => {
                r = r.header("Cookie", cookie).header("X-CSRF-Token", csrf)
            }
            Auth::SessionNoCsrf(cookie) => r = r.header("Cookie", cookie),
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.text().unwrap_or_default(), headers)
    }

    /// Signs in with a password: the session, and the `Set-Cookie` header that carried it.
    pub fn login_response(&self, user: &str, password: &str) -> (Auth, String) {
        let (s, text, headers) = self.raw(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            Some(&json!({ "username": user, "password": password })),
        );
        assert_eq!(s, 200, "login {user}: {text}");
        let set = headers
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_owned();
        let body: Value = serde_json::from_str(&text).unwrap();
        let session = Auth::Session {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        };
        (session, set)
    }

    /// Signs in with a password: the session cookie and its CSRF token.
    pub fn login(&self, user: &str, password: &str) -> Auth {
        self.login_response(user, password).0
    }
}

/// Waits (at most 60 s, polling every 100 ms) until `f` holds.
pub fn wait(what: &str, f: impl FnMut() -> bool) {
    wait_up_to(Duration::from_secs(60), what, f)
}

/// Waits (at most `limit`, polling every 100 ms) until `f` holds.
pub fn wait_up_to(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "waited {} s for {what}",
            limit.as_secs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `lines` over one TCP connection, a newline after each.
pub fn send_lines(addr: SocketAddr, lines: &[String]) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    for l in lines {
        s.write_all(l.as_bytes()).unwrap();
        s.write_all(b"\n").unwrap();
    }
    s.flush().unwrap();
}
