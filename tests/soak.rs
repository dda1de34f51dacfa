//! A short soak in-process: the real device loop, real detector and int8 embedder, the DEMO
//! gallery built in memory, every screen drawn into a framebuffer, a scripted clinician
//! capturing one photo per patient. After the warm-up, open descriptors must not grow and
//! resident memory must stay within a small bound. (`gestaltcam soak` runs thousands.)

use std::path::Path;

use gestaltcam::analyzer::PipelineAnalyzer;
use gestaltcam::camera::ReplayCamera;
use gestaltcam::embed::EmbedOptions;
use gestaltcam::pipeline::FacePipeline;
use gestaltcam::soak::{self, SoakOptions};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Allowed RSS growth after the warm-up.
const MAX_GROWTH_KIB: u64 = 4 * 1024;

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "hundreds of model inferences: too slow under qemu-user"
)]
fn short_soak_keeps_fds_and_rss_flat() {
    let root = Path::new(ROOT);
    let pipeline = FacePipeline::load(&root.join("models"), None, EmbedOptions { flip_tta: false })
        .expect("models");
    let gallery = soak::demo_gallery(&pipeline, &root.join("demo")).expect("demo gallery");
    let camera = ReplayCamera::from_path(&root.join("demo/patient.txt"), 15.0).expect("photos");
    let mut analyzer = PipelineAnalyzer::new(Ok(pipeline), Ok(gallery));
    analyzer.demo = true;
    let opts = SoakOptions {
        captures: 100,
        photos_per_patient: 1,
        sample_every: 10,
        warmup: 30,
        panel: (240, 240),
    };
    let report = soak::run_soak(camera, analyzer, &opts, |_| {}).expect("soak run");
    let table: Vec<String> = report.rows.iter().map(soak::format_row).collect();
    let table = format!("{}\n{}", soak::table_header(), table.join("\n"));
    eprintln!("{table}");

    assert_eq!(report.end.captures, 100, "{table}");
    assert_eq!(report.baseline.captures, 30, "{table}");
    // Every patient got a ranking: the replayed photos are usable faces.
    assert_eq!(report.results, 100, "{table}");
    assert_eq!(report.failed_analyses, 0);
    assert_eq!(report.run.analyses, 100);
    assert!(report.screens >= 4 * 100, "{} screens", report.screens);
    let captures: Vec<u64> = report.rows.iter().map(|r| r.captures).collect();
    assert_eq!(captures, (1..=10).map(|i| i * 10).collect::<Vec<u64>>());
    // No descriptor opened for good after the warm-up, at any sample.
    for r in report.rows.iter().filter(|r| r.captures >= opts.warmup) {
        assert!(
            r.sample.fds <= report.baseline.sample.fds,
            "fds grew to {} at {} captures:\n{table}",
            r.sample.fds,
            r.captures
        );
    }
    report
        .check(MAX_GROWTH_KIB)
        .unwrap_or_else(|e| panic!("{e}\n{table}"));
}
