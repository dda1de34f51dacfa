//! The result code read back as a phone would: each result-code golden image (every panel size)
//! is decoded with a QR decoder and its text compared field by field with the summary it was
//! made from; and the device as `gestaltcam run` assembles it, run with its clock at 1970, before
//! its last trusted time and right, encodes a date only in the last case.

use std::path::Path;
use std::sync::{Arc, Mutex};

use gestaltcam::analysis::AnalysisOutcome;
use gestaltcam::app::{ButtonEvent, ScriptedButtons};
use gestaltcam::clock::{
    parse_rfc3339, store::FileStore, FixedWall, TrustStore, TrustedClock, Unix,
};
use gestaltcam::handoff::{parse, Finding, Listed, Summary};
use gestaltcam::ui::view::{Basis, Candidate, View};
use rqrr::BitGrid;

use crate::assemble;
use crate::ui_golden::{self, TEST_DAY, TEST_DEVICE};

/// Every text a QR decoder finds in `img`, with the code's width in pixels per module.
fn decode(img: &image::RgbImage) -> Vec<(String, f32)> {
    let (w, h) = img.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            let p = img.get_pixel(x as u32, y as u32).0;
            ((u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])) / 3) as u8
        });
    prepared
        .detect_grids()
        .into_iter()
        .map(|g| {
            let span = (g.bounds[1].x - g.bounds[0].x) as f32;
            let modules = g.grid.size() as f32;
            let (_, text) = g.decode().expect("the code decodes");
            (text, span / modules)
        })
        .collect()
}

/// The summary of `candidates` on `basis` as the device makes it: every field, the test device
/// and day.
fn summary_of(candidates: Option<&[Candidate]>, basis: &Basis) -> Summary {
    let finding = match candidates {
        Some(list) => Finding::Candidates(
            list.iter()
                .map(|c| Listed {
                    rank: c.rank,
                    name: c.name.clone(),
                    omim: c.omim.clone(),
                    band: c.band,
                })
                .collect(),
        ),
        None => Finding::NoCloseMatch,
    };
    Summary {
        finding: Some(finding),
        photos: Some(basis.photos),
        model: Some(basis.model_version.clone()),
        gallery: Some(basis.gallery_version.clone()),
        demo: basis.demo,
        hpo: basis
            .phenotype
            .as_ref()
            .map(|h| h.trim_start_matches("HPO ").to_string()),
        device: Some(TEST_DEVICE.into()),
        date: Some(TEST_DAY.into()),
        disclaimer: true,
    }
}

/// `got` against the summary `want` it was made from: the same candidates in order (the name
/// may be left out for the OMIM id, at most `max_candidates`), and each other field either as
/// made or left out; `complete`: nothing may be left out.
fn compare(got: &Summary, want: &Summary, max_candidates: usize, complete: bool) {
    match (&got.finding, &want.finding) {
        (Some(Finding::Candidates(g)), Some(Finding::Candidates(w))) => {
            assert!(!g.is_empty() && g.len() <= max_candidates, "{g:?}");
            for (g, w) in g.iter().zip(w) {
                assert_eq!((g.rank, &g.omim, g.band), (w.rank, &w.omim, w.band));
                assert!(g.name == w.name || g.name.is_empty() && w.omim.is_some());
                assert!(!complete || g.name == w.name, "{g:?}");
            }
            if complete {
                assert_eq!(g.len(), max_candidates.min(w.len()));
            }
        }
        (g, w) => assert_eq!(g, w),
    }
    let fields = [
        ("gallery", &got.gallery, &want.gallery),
        ("model", &got.model, &want.model),
        ("HPO", &got.hpo, &want.hpo),
        ("device", &got.device, &want.device),
        ("date", &got.date, &want.date),
    ];
    for (name, g, w) in fields {
        assert!(g == w || g.is_none() && !complete, "{name}: {g:?} vs {w:?}");
    }
    assert_eq!(got.photos, want.photos, "photos");
    assert!(got.disclaimer || !complete, "disclaimer");
    assert_eq!(got.demo, want.demo, "the DEMO line is never left out");
}

#[test]
fn every_result_code_golden_decodes_to_the_summary_it_was_made_from() {
    let panels = [
        ("128x64", 128, 64),
        ("240x240", 240, 240),
        ("320x240", 320, 240),
    ];
    let candidates = ui_golden::candidates();
    let with_hpo = ui_golden::phenotype_basis();
    let demo = ui_golden::basis(true);
    for (panel, w, h) in panels {
        let cases = [
            (
                "result_code",
                Ok(AnalysisOutcome::Candidates {
                    candidates: candidates.clone(),
                    basis: with_hpo.clone(),
                }),
                summary_of(Some(&candidates), &with_hpo),
            ),
            (
                "result_code_no_match",
                Ok(AnalysisOutcome::NoCloseMatch {
                    basis: demo.clone(),
                }),
                summary_of(None, &demo),
            ),
        ];
        for (screen, outcome, want) in cases {
            let View::ResultCode {
                code: Some(code), ..
            } = ui_golden::result_code(w, h, outcome)
            else {
                panic!("{panel}/{screen}: no code");
            };
            let path = ui_golden::golden_dir()
                .join(panel)
                .join(format!("{screen}.png"));
            let img = image::open(&path).expect("the golden image").to_rgb8();
            let found = decode(&img);
            assert_eq!(
                found.len(),
                1,
                "{panel}/{screen}: {} codes found",
                found.len()
            );
            let (text, module_px) = &found[0];
            assert_eq!(text, &code.text, "{panel}/{screen}");
            let small = h < 160;
            let min_px = if small { 2.0 } else { 3.0 };
            assert!(
                *module_px >= min_px - 0.1,
                "{panel}/{screen}: {module_px} px a module"
            );
            let got = parse(text).expect("a summary");
            let max_candidates = if small { 1 } else { 3 };
            compare(&got, &want, max_candidates, !small);
            println!(
                "{panel}/{screen}: QR version {}-{}, {} modules, {module_px:.1} px a module, {} bytes, {} lines",
                code.version,
                code.ecc,
                code.width,
                text.len(),
                text.lines().count()
            );
            println!("  {}", text.replace('\n', " / "));
        }
    }
}

/// The assembled device (real models, gallery, replay camera, the `png` panel) with its wall
/// clock at `now` and a last trusted time `last` kept in its state folder: a session, then
/// capture on the result. Returns the summary read from the screen and the time kept after.
fn session_with_clock(now: Unix, last: Option<Unix>) -> (Summary, Option<Unix>) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = assemble::config(tmp.path());
    let mut store = FileStore::in_state_dir(&cfg.state_dir);
    if let Some(t) = last {
        store.save(t).unwrap();
    }
    // The device's wall clock from its assembly on: the counters open under its day.
    let calendar = TrustedClock::new(Box::new(FixedWall(now)), Box::new(store.clone()));
    let (mut dev, _keys) = assemble::device_wired(&cfg, 16, |w| {
        w.calendar = Some(Arc::new(Mutex::new(calendar)));
    });
    dev.ctx.device_id = TEST_DEVICE.into();
    dev.device.buttons = Box::new(ScriptedButtons::at_frames([
        (4, ButtonEvent::Capture),
        (10, ButtonEvent::Capture),
    ]));
    let report = dev.run();
    assert_eq!(report.analyses, 1, "{report:?}");
    assert_eq!(report.final_mode, "result code", "{report:?}");
    let img = image::open(Path::new(&cfg.display.png_path))
        .unwrap()
        .to_rgb8();
    let found = decode(&img);
    assert_eq!(found.len(), 1, "one code on the screen");
    let summary = parse(&found[0].0).expect("a summary");
    assert!(
        summary.finding.is_some() && summary.photos == Some(1),
        "{summary:?}"
    );
    assert_eq!(summary.device.as_deref(), Some(TEST_DEVICE));
    (summary, store.load().unwrap())
}

#[test]
fn a_device_whose_clock_says_1970_works_and_encodes_no_date() {
    let (summary, kept) = session_with_clock(0, None);
    assert_eq!(summary.date, None, "{summary:?}");
    assert_eq!(kept, None, "an untrusted time is never kept");
}

#[test]
fn a_device_whose_clock_is_behind_its_last_trusted_time_encodes_no_date() {
    let last = parse_rfc3339("2031-03-01T08:00:00Z").unwrap();
    let now = parse_rfc3339("2030-01-02T10:00:00Z").unwrap();
    let (summary, kept) = session_with_clock(now, Some(last));
    assert_eq!(summary.date, None, "{summary:?}");
    assert_eq!(kept, Some(last), "the later time stays");
}

#[test]
fn a_device_with_a_good_clock_encodes_the_day_and_keeps_the_time() {
    let last = parse_rfc3339("2029-12-31T23:00:00Z").unwrap();
    let now = parse_rfc3339("2030-01-02T10:00:00Z").unwrap();
    let (summary, kept) = session_with_clock(now, Some(last));
    assert_eq!(summary.date.as_deref(), Some("2030-01-02"), "{summary:?}");
    assert_eq!(kept, Some(now));
}
