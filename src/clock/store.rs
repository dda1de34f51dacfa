//! The last trusted time in the device's state folder: one RFC 3339 line in
//! `<state_dir>/clock/last-trusted`, replaced atomically (written beside, synced, renamed).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{parse_rfc3339, rfc3339, ClockError, TrustStore, Unix};

/// The file under a state folder.
pub const FILE: &str = "clock/last-trusted";

/// [`TrustStore`] in a file.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// The store of the device whose state folder is `state_dir`.
    pub fn in_state_dir(state_dir: &Path) -> Self {
        FileStore {
            path: state_dir.join(FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> ClockError {
        ClockError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl TrustStore for FileStore {
    fn load(&mut self) -> Result<Option<Unix>, ClockError> {
        match fs::read_to_string(&self.path) {
            Ok(s) => parse_rfc3339(s.trim()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    fn save(&mut self, t: Unix) -> Result<(), ClockError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let tmp = self.path.with_extension("new");
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            writeln!(f, "{}", rfc3339(t))?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            // The rename itself survives a power cut once the folder is synced.
            fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| self.io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_is_kept_in_a_file_and_a_damaged_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = FileStore::in_state_dir(tmp.path());
        assert_eq!(s.load().unwrap(), None);
        s.save(1_780_000_000).unwrap();
        assert_eq!(s.load().unwrap(), Some(1_780_000_000));
        let text = fs::read_to_string(s.path()).unwrap();
        assert_eq!(text, "2026-05-28T20:26:40Z\n");
        assert!(!s.path().with_extension("new").exists());
        fs::write(s.path(), "yesterday").unwrap();
        let err = s.load().unwrap_err().to_string();
        assert!(err.contains("yesterday"), "{err}");
        // Saving replaces the damaged file.
        s.save(1_780_000_100).unwrap();
        assert_eq!(s.load().unwrap(), Some(1_780_000_100));
    }
}
