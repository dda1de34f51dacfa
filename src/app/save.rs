//! Writing captured photos, only when the configuration enables it: the folder is created 0700,
//! each file 0600 and never overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::camera::Frame;

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("cannot create {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode the photo: {0}")]
    Encode(String),
}

/// Writes `frame` as `session-<unix seconds>-<session>-photo<photo>.png` under `dir`.
pub fn save_capture(
    dir: &Path,
    session: u64,
    photo: usize,
    frame: &Frame,
) -> Result<PathBuf, SaveError> {
    save_capture_via(dir, session, photo, frame, |f, b| f.write_all(b))
}

/// [`save_capture`] with the write step injected (tests hand it a full disk). A file that could
/// not be written completely (disk full, I/O error) is removed: no half photo stays behind.
pub fn save_capture_via(
    dir: &Path,
    session: u64,
    photo: usize,
    frame: &Frame,
    write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
) -> Result<PathBuf, SaveError> {
    create_private_dir(dir)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = dir.join(format!(
        "session-{stamp}-{session:04}-photo{photo}-{:06}.png",
        frame.sequence
    ));
    let mut png = Vec::new();
    frame
        .image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| SaveError::Encode(e.to_string()))?;
    let file_err = |source| SaveError::File {
        path: path.clone(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).map_err(file_err)?;
    if let Err(e) = write(&mut f, &png).and_then(|()| f.sync_all()) {
        drop(f);
        let _ = std::fs::remove_file(&path);
        return Err(file_err(e));
    }
    Ok(path)
}

/// Creates `dir` and its parents, new folders with mode 0700 (owner only).
pub(crate) fn create_dir_0700(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

fn create_private_dir(dir: &Path) -> Result<(), SaveError> {
    let dir_err = |source| SaveError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    create_dir_0700(dir).map_err(dir_err)?;
    // An existing folder may have been created more open: tighten it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(dir_err)?;
    }
    Ok(())
}
