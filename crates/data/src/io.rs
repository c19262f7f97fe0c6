//! Atomic, durable file writes: the one implementation the workspace uses for run
//! folders, plots, reports and checkpoints.
//!
//! [`write_atomic_with`] hands the caller a temporary file in the target's own folder
//! (same file system, so the rename below is atomic; same extension, so writers that pick
//! a format by extension work), then
//!
//! 1. `fsync`s the temporary file (its bytes are on disk before its name is),
//! 2. renames it onto the target (a reader sees the old file or the new one, never a
//!    partial one),
//! 3. `fsync`s the folder (the rename itself survives a power loss; Unix only — other
//!    platforms cannot open a folder as a file).
//!
//! On any failure the temporary file is removed and the target is left untouched. The
//! new file gets the permissions `std::fs::write` would give it (`0o666` less the umask).

use std::path::{Path, PathBuf};

/// A failed atomic write: what was being done, to which path, and the OS error.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}", path.display())]
pub struct WriteError {
    /// The step that failed (`"creating a temporary file in"`, `"writing"`, `"flushing"`,
    /// `"renaming into"`, `"syncing the folder"`).
    pub action: &'static str,
    /// The path the step acted on (the temporary file, the target or its folder).
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

impl WriteError {
    fn new(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        WriteError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes the file at `path` atomically and durably (module doc): `write` receives the
/// path of a fresh temporary file next to `path`, with the same extension, and fills it
/// (e.g. `std::fs::write(tmp, …)` or a plotting backend); on success the file is synced
/// and renamed onto `path` and the folder synced.
///
/// # Errors
/// The error of `write`, or a [`WriteError`] (converted into `E`) naming the path of the
/// step that failed: `path` without a file name, a folder that does not exist or cannot
/// be written, a failed sync or rename.
pub fn write_atomic_with<E: From<WriteError>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        WriteError::new(
            "writing",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"),
        )
    })?;
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let suffix = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(&suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // dropped (and so deleted) on every early return below
    let tmp = builder
        .tempfile_in(dir)
        .map_err(|e| WriteError::new("creating a temporary file in", dir, e))?;
    write(tmp.path())?;
    // `write` may have written through its own handle: sync the file by its path
    std::fs::File::open(tmp.path())
        .and_then(|f| f.sync_all())
        .map_err(|e| WriteError::new("flushing", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| WriteError::new("renaming into", path, e.error))?;
    sync_dir(dir)?;
    Ok(())
}

/// `fsync`s the folder `dir`, so that the entries created, renamed or removed in it survive
/// a power loss (Unix only; a no-op elsewhere, where a folder cannot be opened as a file).
///
/// # Errors
/// [`WriteError`] naming the folder.
pub fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WriteError::new("syncing the folder", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Renames `from` to `to` (a file or a whole folder, atomically on one file system) and
/// `fsync`s the folders of both, so the rename is durable once this returns.
///
/// # Errors
/// [`WriteError`] naming the path of the step that failed.
pub fn rename_durable(from: &Path, to: &Path) -> Result<(), WriteError> {
    std::fs::rename(from, to).map_err(|e| WriteError::new("renaming into", to, e))?;
    let parent = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (a, b) = (parent(from), parent(to));
    sync_dir(&b)?;
    if a != b {
        sync_dir(&a)?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically and durably (see [`write_atomic_with`]).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("plres-io-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("a.txt");
/// plres_data::io::write_atomic(&path, b"first").unwrap();
/// plres_data::io::write_atomic(&path, b"second").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"second");
/// assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1); // no temporary file left
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
/// [`WriteError`] naming the path of the step that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomic_with(path, |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| WriteError::new("writing", tmp, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("plres-io-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A failing writer leaves the old file and no temporary file; the temporary file
    /// carries the target's extension.
    #[test]
    fn failure_leaves_target_untouched() {
        let dir = scratch("fail");
        let path = dir.join("plot.png");
        write_atomic(&path, b"old").unwrap();
        let mut seen = None;
        let r: Result<(), WriteError> = write_atomic_with(&path, |tmp| {
            seen = Some(tmp.to_path_buf());
            std::fs::write(tmp, b"partial").unwrap();
            Err(WriteError::new(
                "writing",
                tmp,
                std::io::Error::other("writer failed"),
            ))
        });
        assert!(r.is_err());
        let seen = seen.unwrap();
        assert_eq!(seen.parent(), Some(dir.as_path()));
        assert_eq!(seen.extension().unwrap(), "png");
        assert!(!seen.exists());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A missing folder is an error naming that folder; the new file has the permissions
    /// `std::fs::write` gives.
    #[test]
    fn errors_name_the_path_and_permissions_match_fs_write() {
        let dir = scratch("perm");
        let missing = dir.join("no-such-folder").join("x.json");
        let e = write_atomic(&missing, b"x").unwrap_err();
        assert_eq!(e.path, dir.join("no-such-folder"));
        assert!(e.to_string().contains("no-such-folder"), "{e}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let (a, b) = (dir.join("a"), dir.join("b"));
            write_atomic(&a, b"x").unwrap();
            std::fs::write(&b, b"x").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&a), mode(&b));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
