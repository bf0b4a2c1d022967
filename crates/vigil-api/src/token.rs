//! The API bearer token of all-in-one mode: `<data_dir>/api-token` (or `api.token_file`),
//! created with a random value on first start, refused when group or others can read it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Why the token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file exists but must not be used as it is (loose permissions, too short): the user
    /// fixes it.
    #[error("{0}")]
    Refused(String),
    /// Reading or creating the file failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TokenError {
    let path = path.to_path_buf();
    move |source| TokenError::Io { what, path, source }
}

/// Reads a token file (trimmed).
pub fn read(path: &Path) -> Result<String, TokenError> {
    let b =
        vigil_config::read_file_capped(path, 4096).map_err(io("reading the API token", path))?;
    Ok(String::from_utf8_lossy(&b).trim().to_owned())
}

/// Reads the API token, creating a random one (mode 0600) on first start. An existing token
/// file that group or others can access is refused ([`vigil_fs::check_secret_file`]).
pub fn ensure(path: &Path) -> Result<String, TokenError> {
    if path.exists() {
        vigil_fs::check_secret_file(path)
            .map_err(|e| TokenError::Refused(format!("api.token_file: {e}")))?;
        let t = read(path)?;
        if t.len() < 16 {
            return Err(TokenError::Refused(format!(
                "{} holds a token shorter than 16 characters; delete it to get a new one",
                path.display()
            )));
        }
        return Ok(t);
    }
    let token: String = {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..40)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
            .collect()
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        vigil_fs::create_dir_all(dir).map_err(io("creating the directory of", path))?;
    }
    let mut f = vigil_fs::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io("creating the API token", path))?;
    f.write_all(token.as_bytes())
        .map_err(io("writing the API token", path))?;
    Ok(token)
}
