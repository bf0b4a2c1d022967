//! Shared helpers of the ClickHouse tests: a throwaway server, skipped (with a message) when
//! `clickhouse-server` is not installed, except under CI where that is a failure.
#![allow(dead_code)]

use vigil_store::clickhouse::local::{LocalServer, find_binary};

/// A running server and the directory it lives in (removed after the server stops).
pub struct Server {
    pub server: LocalServer,
    _dir: tempfile::TempDir,
}

#[allow(clippy::panic)]
pub fn clickhouse() -> Option<Server> {
    if find_binary().is_none() {
        let msg = "clickhouse-server not found (apt-get install clickhouse-server, or set VIGIL_CLICKHOUSE_SERVER)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}; CI must run the ClickHouse tests");
        }
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let server =
        LocalServer::start(dir.path()).unwrap_or_else(|e| panic!("start clickhouse-server: {e}"));
    Some(Server { server, _dir: dir })
}
