//! Issue 11, point 6: Vigil's files are private by default, and secret files are checked the
//! same way by `vigil validate` and `vigil up`. Real processes on 127.0.0.1, bounded waits.

#![allow(clippy::disallowed_methods, clippy::unwrap_used)] // test code
#![cfg(unix)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::{Vigil, tmp, up_refused, vigil};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// Every file and directory under `root` (and `root`), symbolic links excluded.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                let e = e.unwrap().path();
                if !std::fs::symlink_metadata(&e)
                    .unwrap()
                    .file_type()
                    .is_symlink()
                {
                    out.push(e);
                }
            }
        }
        i += 1;
    }
    out
}

#[test]
fn data_files_are_private() {
    let dir = tmp();
    let data = dir.path().join("data");
    let v = Vigil::start(&data, None);
    let lines: Vec<String> = (0..50)
        .map(|i| format!("<38>Nov 22 07:00:00 web01 sshd[{i}]: private line {i}"))
        .collect();
    v.send_tcp(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(v.wait_count("private", 50), 50);
    // stopping seals the memtable into a segment and writes the manifest
    v.stop();
    let all = walk(&data);
    let exposed: Vec<String> = all
        .iter()
        .filter(|p| mode(p) & 0o077 != 0)
        .map(|p| format!("{} {:04o}", p.display(), mode(p)))
        .collect();
    assert!(
        exposed.is_empty(),
        "accessible to group or others: {exposed:#?}"
    );
    // the walk saw the kinds of files the issue names
    let names: Vec<String> = all
        .iter()
        .filter_map(|p| p.strip_prefix(&data).ok())
        .map(|p| p.display().to_string())
        .collect();
    for want in ["api-token", "vigil.lock", "audit", "keys", "events"] {
        assert!(
            names.iter().any(|n| n.starts_with(want)),
            "{want} not in {names:#?}"
        );
    }
    assert!(
        names.iter().any(|n| n.ends_with("manifest.log")),
        "no manifest in {names:#?}"
    );
}

#[test]
fn a_loose_data_directory_is_tightened_at_start() {
    let dir = tmp();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    chmod(&data, 0o755);
    let v = Vigil::start(&data, None);
    assert_eq!(mode(&data), 0o700);
    v.stop();
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(
        log.contains("the data directory was accessible to other users"),
        "{log}"
    );
}

/// A configuration in `dir` with one syslog collector, data in `dir/data`, and `body`.
fn write_config(dir: &Path, body: &str) -> PathBuf {
    let cfg = dir.join("vigil.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 1\ndata_dir: {}\ncollectors:\n  - id: syslog\n    connector: {{ type: syslog, tcp: \"127.0.0.1:5514\" }}\n{body}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    cfg
}

fn validate(cfg: &Path) -> std::process::Output {
    vigil().args(["validate", "-c"]).arg(cfg).output().unwrap()
}

#[test]
fn world_writable_token_file_is_refused() {
    let dir = tmp();
    let data = dir.path().join("data");
    let token = dir.path().join("token");
    std::fs::write(&token, "0123456789abcdefghijklmnopqrstuvwxyz0123").unwrap();
    chmod(&token, 0o666);
    let cfg = write_config(dir.path(), "api:\n  token_file: token\n");
    let want = format!("chmod 600 {}", token.display());

    let out = validate(&cfg);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "validate accepted it: {err}");
    assert!(
        err.contains("api.token_file") && err.contains(&want),
        "{err}"
    );
    assert!(err.contains("mode 0666"), "{err}");

    let out = up_refused(&data, Some(&cfg));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "up started: {err}");
    assert!(
        err.contains("api.token_file") && err.contains(&want),
        "{err}"
    );

    chmod(&token, 0o600);
    let out = validate(&cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_and_up_agree_on_key_file_mode() {
    let dir = tmp();
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("1:{}\n", "ab".repeat(32))).unwrap();
    chmod(&keys, 0o644);
    let cfg = write_config(dir.path(), "storage:\n  encryption:\n    key_file: keys\n");
    let want = format!("chmod 600 {}", keys.display());

    let out = validate(&cfg);
    let validate_err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "validate accepted it");
    assert!(
        validate_err.contains("storage.encryption.key_file") && validate_err.contains(&want),
        "{validate_err}"
    );
    let out = up_refused(&data, Some(&cfg));
    let up_err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "up started: {up_err}");
    assert!(
        up_err.contains("storage.encryption.key_file") && up_err.contains(&want),
        "{up_err}"
    );

    // once private, both accept it
    chmod(&keys, 0o600);
    let out = validate(&cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = Vigil::start(&data, Some(&cfg));
    v.stop();
}
