//! Vigil's files are private to the user it runs as, and secrets are checked one way.
//!
//! # Why a crate
//! Events, keys, tokens and state are written by the store, the binary and the detection
//! engine. Each wrote files the way `std` does by default (mode 0644 in 0755 directories under
//! a usual umask), so with encryption at rest off every local user could read every event.
//! Putting the two modes and the secret check in one dependency-free crate lets every writer use
//! the same calls, and lets `vigil up` and `vigil validate` refuse the same secret files with
//! the same message.
//!
//! # The rules
//! * Every directory Vigil creates is mode **0700** ([`create_dir_all`]), every file it creates
//!   **0600** ([`options`], [`create`], [`write`]). The umask can only remove bits, so these are
//!   upper bounds whatever the umask.
//! * A data directory that already exists with group or other access is tightened to 0700 at
//!   start ([`make_private_dir`]; the caller logs a warning with the old mode). The files below
//!   it keep their modes: without search permission on the root nobody else reaches them.
//! * A secret file (API token, encryption key file, TLS private key) must give group and others
//!   no access at all; [`check_secret_file`] refuses it otherwise, naming the path, its mode and
//!   the `chmod` that fixes it.
//!
//! On platforms without Unix modes the calls create files and directories normally and the
//! check only verifies the file can be read.

#![warn(missing_docs)]

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Mode of every directory Vigil creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file Vigil creates.
pub const FILE_MODE: u32 = 0o600;
/// Permission bits of group and others: none may be set on a secret file.
const GROUP_OTHER: u32 = 0o077;

/// Creates `path` and its missing parents with mode 0700. Existing directories are left as
/// they are.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(path)
}

/// Creates `path` (mode 0700) if missing; if it exists with group or other permission bits,
/// sets it to 0700 and returns the mode it had, for the caller to report.
pub fn make_private_dir(path: &Path) -> io::Result<Option<u32>> {
    create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        if mode & GROUP_OTHER != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(DIR_MODE))?;
            return Ok(Some(mode));
        }
    }
    Ok(None)
}

/// `OpenOptions` whose newly created files get mode 0600 (an existing file keeps its mode). Add
/// `.write(true).create(true)`, `.append(true)` and so on as usual.
pub fn options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(FILE_MODE);
    }
    o
}

/// Like [`File::create`] (write, create, truncate), with mode 0600. A file that already
/// existed with group or other permission bits is set to 0600 too: its old content is being
/// replaced by Vigil's.
pub fn create(path: &Path) -> io::Result<File> {
    let f = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    tighten_open_file(&f)?;
    Ok(f)
}

/// Like [`std::fs::write`], with mode 0600 (see [`create`]).
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    create(path)?.write_all(bytes.as_ref())
}

fn tighten_open_file(f: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = f.metadata()?.permissions().mode();
        if mode & GROUP_OTHER != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
        }
    }
    #[cfg(not(unix))]
    let _ = f;
    Ok(())
}

/// The group and other permission bits of `mode` (0 when private).
pub fn open_bits(mode: u32) -> u32 {
    mode & GROUP_OTHER
}

/// Why a secret file is refused.
#[derive(Debug)]
pub enum SecretFileError {
    /// The file cannot be read (missing, a directory, no permission).
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// Group or others have some access.
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

impl fmt::Display for SecretFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretFileError::Unreadable { path, source } => {
                write!(
                    f,
                    "cannot read the secret file {}: {source}",
                    path.display()
                )
            }
            SecretFileError::Exposed { path, mode } => {
                let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
                    (true, true) => "group and others",
                    (true, false) => "its group",
                    _ => "others",
                };
                let how = match (mode & 0o022 != 0, mode & 0o044 != 0) {
                    (true, true) => "read and change",
                    (true, false) => "change",
                    (false, true) => "read",
                    (false, false) => "access",
                };
                write!(
                    f,
                    "the secret file {} has mode {:04o}: {who} can {how} it; run `chmod 600 {}`",
                    path.display(),
                    mode & 0o7777,
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for SecretFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SecretFileError::Unreadable { source, .. } => Some(source),
            SecretFileError::Exposed { .. } => None,
        }
    }
}

/// Checks a secret file (API token, encryption key file, TLS private key): it must be a
/// readable file that gives group and others no access (mode 0600, 0400 or stricter). The
/// one check every command uses, so `vigil validate` refuses what `vigil up` would.
pub fn check_secret_file(path: &Path) -> Result<(), SecretFileError> {
    let unreadable = |source| SecretFileError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(unreadable(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & GROUP_OTHER != 0 {
            return Err(SecretFileError::Exposed {
                path: path.to_owned(),
                mode,
            });
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::disallowed_methods)] // test code on files it made
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn chmod(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn created_files_and_directories_are_private() {
        let d = tempfile::tempdir().unwrap();
        let nested = d.path().join("a/b/c");
        create_dir_all(&nested).unwrap();
        for p in [d.path().join("a"), d.path().join("a/b"), nested.clone()] {
            assert_eq!(mode(&p), 0o700, "{}", p.display());
        }
        let f = nested.join("f");
        write(&f, b"x").unwrap();
        assert_eq!(mode(&f), 0o600);
        let g = nested.join("g");
        options().append(true).create(true).open(&g).unwrap();
        assert_eq!(mode(&g), 0o600);
    }

    #[test]
    fn rewriting_a_loose_file_tightens_it() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("url");
        std::fs::write(&f, b"old").unwrap();
        chmod(&f, 0o644);
        write(&f, b"new").unwrap();
        assert_eq!(mode(&f), 0o600);
        assert_eq!(std::fs::read(&f).unwrap(), b"new");
    }

    #[test]
    fn a_loose_data_directory_is_tightened_and_reported() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        assert_eq!(make_private_dir(&data).unwrap(), None);
        assert_eq!(mode(&data), 0o700);
        chmod(&data, 0o755);
        assert_eq!(make_private_dir(&data).unwrap(), Some(0o755));
        assert_eq!(mode(&data), 0o700);
    }

    #[test]
    fn secret_files_must_be_private() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("key");
        std::fs::write(&f, b"secret").unwrap();
        for ok in [0o600, 0o400, 0o700] {
            chmod(&f, ok);
            assert!(check_secret_file(&f).is_ok(), "{ok:o}");
        }
        for (bad, words) in [
            (0o644, "group and others can read it"),
            (0o640, "its group can read it"),
            (0o602, "others can change it"),
            (0o666, "group and others can read and change it"),
            (0o610, "its group can access it"),
        ] {
            chmod(&f, bad);
            let e = check_secret_file(&f).unwrap_err().to_string();
            assert!(e.contains(&format!("mode {bad:04o}")), "{e}");
            assert!(e.contains(words), "{e}");
            assert!(e.contains(&format!("chmod 600 {}", f.display())), "{e}");
        }
        let e = check_secret_file(&d.path().join("missing")).unwrap_err();
        assert!(matches!(e, SecretFileError::Unreadable { .. }));
        let e = check_secret_file(d.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
