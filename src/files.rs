//! Files chatdesk keeps on disk (the SQLite database, the generated JWT secret) hold
//! everything an attacker on the same machine would want: they are created readable and
//! writable by their owner only (mode 0600). A file that already exists is left as the
//! operator made it, but a mode that lets others read it is reported at start-up.

use std::io::Write;
use std::path::Path;

/// Creates `path` with mode 0600 and writes `contents` (replacing what it held). The mode is
/// set again after writing: `OpenOptions::mode` only applies to a file it creates.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Creates an empty `path` with mode 0600 unless it exists; an existing file is checked with
/// [`warn_if_shared`] instead. Returns whether it was created.
pub fn create_private_if_missing(path: &Path, what: &str) -> std::io::Result<bool> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_shared(path, what);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Warns when other users of the machine may read or write `path` (Unix only).
pub fn warn_if_shared(path: &Path, what: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:o}"),
                "the {what} is readable or writable by others than its owner: chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
}
