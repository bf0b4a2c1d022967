//! A throwaway `clickhouse-server` for tests and benchmarks: its own directory, free loopback
//! ports, a minimal configuration (zstd compression for parts), stopped when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::StoreError;

/// A running local server.
#[derive(Debug)]
pub struct LocalServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The server's directory (data, logs, config).
    pub dir: PathBuf,
}

/// The server binary: `$VIGIL_CLICKHOUSE_SERVER`, else the Debian path
/// (`/usr/sbin/clickhouse-server`), else `clickhouse-server` or `clickhouse` on `PATH`.
/// The second element is the argument that selects the server mode, if any.
pub fn find_binary() -> Option<(PathBuf, Option<&'static str>)> {
    if let Some(p) = std::env::var_os("VIGIL_CLICKHOUSE_SERVER") {
        return Some((PathBuf::from(p), None));
    }
    for p in ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"] {
        if Path::new(p).is_file() {
            return Some((PathBuf::from(p), None));
        }
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        if dir.join("clickhouse-server").is_file() {
            return Some((dir.join("clickhouse-server"), None));
        }
        if dir.join("clickhouse").is_file() {
            return Some((dir.join("clickhouse"), Some("server")));
        }
    }
    None
}

fn free_port() -> Result<u16, StoreError> {
    let l =
        TcpListener::bind("127.0.0.1:0").map_err(|e| StoreError::io("bind", "127.0.0.1:0", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| StoreError::io("bind", "127.0.0.1:0", e))
}

impl LocalServer {
    /// Starts a server under `dir` (created if needed) and waits until `/ping` answers.
    pub fn start(dir: &Path) -> Result<LocalServer, StoreError> {
        let (bin, mode) = find_binary().ok_or_else(|| {
            StoreError::Invalid(
                "clickhouse-server not found (apt-get install clickhouse-server)".into(),
            )
        })?;
        vigil_fs::create_dir_all(dir).map_err(|e| StoreError::io("create", dir, e))?;
        let http = free_port()?;
        let tcp = free_port()?;
        let d = dir.display();
        let config = format!(
            r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>32</max_concurrent_queries>
  <compression><case><method>zstd</method></case></compression>
  <!-- A throwaway local server: parts replaced by a merge are deleted within seconds rather
       than kept 8 minutes, so a test's data directory holds the live parts only (a wide part
       is a few hundred files; a 200,000-line test left ~1,000 dead parts to unlink). -->
  <merge_tree><old_parts_lifetime>5</old_parts_lifetime><cleanup_delay_period>1</cleanup_delay_period></merge_tree>
</yandex>
"#
        );
        let users = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"#;
        let cfg_path = dir.join("config.xml");
        vigil_fs::write(&cfg_path, config).map_err(|e| StoreError::io("write", &cfg_path, e))?;
        let users_path = dir.join("users.xml");
        vigil_fs::write(&users_path, users).map_err(|e| StoreError::io("write", &users_path, e))?;
        let out_path = dir.join("stdout.log");
        let out =
            vigil_fs::create(&out_path).map_err(|e| StoreError::io("create", &out_path, e))?;
        let err = out
            .try_clone()
            .map_err(|e| StoreError::io("create", &out_path, e))?;
        let mut cmd = Command::new(&bin);
        if let Some(m) = mode {
            cmd.arg(m);
        }
        let child = cmd
            .arg(format!("--config-file={}", cfg_path.display()))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| StoreError::io("start", &bin, e))?;
        let mut server = LocalServer {
            child,
            url: format!("http://127.0.0.1:{http}"),
            dir: dir.to_path_buf(),
        };
        server.wait_ready(Duration::from_secs(60))?;
        Ok(server)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), StoreError> {
        let client = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(super::http::tls_config()?)
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{}/ping", self.url)).send()
                && let Ok(body) = r.text()
                && body.trim() == "Ok."
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(StoreError::Invalid(format!(
                    "clickhouse-server exited with {status}; see {}",
                    self.dir.join("server.err.log").display()
                )));
            }
            if started.elapsed() > timeout {
                return Err(StoreError::Invalid(format!(
                    "clickhouse-server did not answer /ping within {timeout:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
