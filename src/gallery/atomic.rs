//! Atomic file writes for the gallery, its signature and the last-good copies: a temp file in
//! the same directory, written, fsynced, renamed over the target, then the directory fsynced;
//! a power cut leaves the old or the new file. Temp files an interrupted write left behind are
//! removed before the next write (loading never looks at them).

use super::{GalleryError, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What marks a temp file of `<name>`: it is named `.<name>.tmp-<pid>-<nanos>`.
const TEMP_MARK: &str = ".tmp-";

/// The directory `path`'s temp files go in, and the name prefix they share.
fn temp_prefix(path: &Path) -> Result<(PathBuf, String)> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| GalleryError::Invalid(format!("{} has no file name", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, format!(".{file_name}{TEMP_MARK}")))
}

/// Removes temp files a previous interrupted [`write_atomic`] of `path` left behind; returns how
/// many. Loading never looks at them.
pub fn remove_stale_temp_files(path: &Path) -> Result<usize> {
    let (dir, prefix) = temp_prefix(path)?;
    let wr = |source| GalleryError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut removed = 0;
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(wr(e)),
    };
    for e in entries {
        let e = e.map_err(wr)?;
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            std::fs::remove_file(e.path()).map_err(wr)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes `bytes` to `path` atomically: stale temp files are removed, a new temp file is created
/// in the same directory, written, fsynced, renamed over `path`, and the directory is fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_via(path, bytes, |f, b| f.write_all(b))
}

/// [`write_atomic`] with the write step injected (tests use a writer that fails part-way, as a
/// power cut would). On failure the temp file is removed and `path` is untouched.
pub fn write_atomic_via(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> std::io::Result<()>,
) -> Result<()> {
    let wr = |source| GalleryError::Write {
        path: path.to_path_buf(),
        source,
    };
    remove_stale_temp_files(path)?;
    let (dir, prefix) = temp_prefix(path)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!("{prefix}{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        write(&mut f, bytes)?;
        f.flush()?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename durable. Directories cannot be opened for fsync on every platform.
        #[cfg(unix)]
        File::open(&dir)?.sync_all()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(wr(e));
    }
    Ok(())
}
