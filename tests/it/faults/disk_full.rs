//! A full disk: real ENOSPC from `/dev/full` for gallery and photo writes, and failing photo
//! saves during a session.

use super::*;

#[cfg(target_os = "linux")]
fn write_to_dev_full(_: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    // The kernel's full device: every write fails with ENOSPC.
    let mut full = std::fs::OpenOptions::new().write(true).open("/dev/full")?;
    full.write_all(bytes)?;
    full.flush()
}

#[cfg(target_os = "linux")]
const ENOSPC: i32 = 28;

#[test]
#[cfg(target_os = "linux")]
fn disk_full_gallery_write_keeps_the_old_gallery() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("g.gmg");
    let old = make_gallery(20, "old", 3, 12, "x");
    old.save(&path).unwrap();
    let new = make_gallery(21, "new", 3, 30, "x");
    let err = gallery::write_atomic_via(&path, &new.to_bytes(), write_to_dev_full).unwrap_err();
    match &err {
        GalleryError::Write { path: p, source } => {
            assert_eq!(p, &path);
            assert_eq!(source.raw_os_error(), Some(ENOSPC), "{source}");
        }
        other => panic!("expected a write error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("cannot write gallery") && msg.contains("g.gmg"),
        "{msg}"
    );
    assert_eq!(Gallery::load(&path).unwrap(), old);
    assert_eq!(files_in(tmp.path()), ["g.gmg"], "the temp file is gone");
}

#[test]
#[cfg(target_os = "linux")]
fn disk_full_capture_leaves_no_partial_file() {
    use gestaltcam::app::save::{save_capture_via, SaveError};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("captures");
    let frame = Frame::new(RgbImage::new(32, 24), 7, Duration::ZERO);
    let err = save_capture_via(&dir, 1, 1, &frame, write_to_dev_full).unwrap_err();
    match &err {
        SaveError::File { source, .. } => assert_eq!(source.raw_os_error(), Some(ENOSPC)),
        other => panic!("expected a file error, got {other:?}"),
    }
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(
        files_in(&dir),
        Vec::<String>::new(),
        "no half-written photo"
    );
}

#[test]
fn failing_capture_save_keeps_the_session_running() {
    // Saving is enabled but the folder cannot be created (a file is in the way): every save
    // fails with a real OS error, as with a full disk (ENOSPC itself: the test above).
    let tmp = tempfile::tempdir().unwrap();
    let blocked = tmp.path().join("captures");
    std::fs::write(&blocked, b"not a folder").unwrap();
    logs::start();
    let ctx = AppContext {
        saving: true,
        ..ctx(2)
    };
    let cam = replay(RgbImage::new(16, 12));
    let out = run(
        cam,
        FakeAnalyzer,
        &[(2, Capture), (4, Capture)],
        &ctx,
        &RunOptions {
            save_dir: Some(blocked.join("sub")),
            ..opts(7)
        },
    );
    assert_eq!(out.report.save_errors, 2);
    assert!(out.report.saved.is_empty());
    assert_eq!(out.report.analyses, 1);
    assert_eq!(out.report.final_mode, "results");
    let basis = basis_of(out.views.last().unwrap()).unwrap();
    assert_eq!(basis.photos, 2, "both photos analysed from RAM");
    let notices: Vec<&String> = out
        .notices
        .iter()
        .filter_map(|n| match n {
            Notice::Status(s) if s.contains("not saved") => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 2, "{:?}", out.notices);
    assert!(
        notices[0].starts_with("photo 1 not saved: cannot create"),
        "{}",
        notices[0]
    );
    let warned = logs::from("gestaltcam::app::run");
    assert_eq!(
        warned
            .iter()
            .filter(|(l, m)| *l == log::Level::Warn && m.starts_with("saving photo"))
            .count(),
        2,
        "{warned:?}"
    );
}
