//! `<state_dir>/content/notice.json`: what the last import did, in the clinician's words, for
//! the running device to show. The import writes it (atomically); the device watches it
//! through [`NoticeSource`] (the file's modification time, looked at once a second:
//! [`NoticeFile`]), so tests can hand it notices without files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

/// The notice file's name in the content folder.
pub const NOTICE_FILE: &str = "notice.json";

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The bundle was switched in.
    Imported,
    /// The bundle was refused; the content in use did not change.
    Refused,
}

/// The contents of `notice.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub outcome: Outcome,
    /// For the clinician, e.g. "Gallery updated: GMDB 2026-06, 7,459 cases" or "Update
    /// refused: not signed by your programme".
    pub text: String,
    /// For the technician: one line (the reason in full, or the bundle's file).
    pub detail: String,
    /// The bundle's name and version, when its manifest could be read.
    pub name: Option<String>,
    pub version: Option<String>,
    /// `true` when `current` now names new content: the device restarts to load it.
    pub switched: bool,
    /// The content folder `current` names after the import (its name only), if any.
    pub content: Option<String>,
}

impl Notice {
    /// Writes the notice to `dir/notice.json` (temp file, fsync, rename).
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join(NOTICE_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::gallery::write_atomic(&path, &json).map_err(std::io::Error::other)?;
        Ok(path)
    }

    /// Reads `dir/notice.json`.
    pub fn read(dir: &Path) -> std::io::Result<Notice> {
        let bytes = std::fs::read(dir.join(NOTICE_FILE))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// Where the running device hears of new notices.
pub trait NoticeSource: Send {
    /// A notice that appeared since the last call, if any. Cheap: called every loop iteration.
    fn poll(&mut self) -> Option<Notice>;
}

/// Watches `notice.json` by its modification time, at most once per `every`. A notice that
/// was already there when the watch began is not shown again.
pub struct NoticeFile {
    dir: PathBuf,
    every: Duration,
    seen: Option<SystemTime>,
    last_look: Option<Instant>,
}

impl NoticeFile {
    pub fn new(content_dir: &Path) -> Self {
        let mut w = NoticeFile {
            dir: content_dir.to_path_buf(),
            every: Duration::from_secs(1),
            seen: None,
            last_look: None,
        };
        w.seen = w.mtime();
        w
    }

    fn mtime(&self) -> Option<SystemTime> {
        std::fs::metadata(self.dir.join(NOTICE_FILE))
            .and_then(|m| m.modified())
            .ok()
    }
}

impl NoticeSource for NoticeFile {
    fn poll(&mut self) -> Option<Notice> {
        let now = Instant::now();
        if self
            .last_look
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            return None;
        }
        self.last_look = Some(now);
        let m = self.mtime();
        if m.is_none() || m == self.seen {
            return None;
        }
        self.seen = m;
        match Notice::read(&self.dir) {
            Ok(n) => Some(n),
            Err(e) => {
                log::warn!(
                    "content notice {}: {e}",
                    self.dir.join(NOTICE_FILE).display()
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(text: &str) -> Notice {
        Notice {
            outcome: Outcome::Refused,
            text: text.into(),
            detail: "signed by key 0011".into(),
            name: Some("GMDB 2026-06".into()),
            version: Some("2026.06.1".into()),
            switched: false,
            content: None,
        }
    }

    #[test]
    fn a_new_notice_file_is_seen_once_and_an_old_one_never() {
        let tmp = tempfile::tempdir().unwrap();
        notice("old").write(tmp.path()).unwrap();
        let mut w = NoticeFile::new(tmp.path());
        w.every = Duration::ZERO;
        assert_eq!(w.poll(), None, "the notice from before the start");
        // Modification times can be coarse: make the new one visibly newer.
        std::thread::sleep(Duration::from_millis(20));
        let n = notice("Update refused: not signed by your programme");
        n.write(tmp.path()).unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(tmp.path().join(NOTICE_FILE))
            .unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(w.poll(), Some(n));
        assert_eq!(w.poll(), None, "shown once");
        let json = std::fs::read_to_string(tmp.path().join(NOTICE_FILE)).unwrap();
        assert!(json.contains("\"outcome\": \"refused\""), "{json}");
    }

    #[test]
    fn the_file_is_looked_at_once_a_second_at_most() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = NoticeFile::new(tmp.path());
        assert_eq!(w.poll(), None);
        notice("x").write(tmp.path()).unwrap();
        assert_eq!(w.poll(), None, "within the second after the last look");
    }
}
