//! A short soak in-process: the real device loop, real detector and int8 embedder, the DEMO
//! gallery built in memory, every screen drawn into a framebuffer, a scripted clinician
//! capturing one photo per patient. After the warm-up, open descriptors must not grow and
//! resident memory must stay within a small bound. (`gestaltcam soak` runs thousands.)

use std::path::Path;

use gestaltcam::camera::ReplayCamera;
use gestaltcam::embed::EmbedOptions;
use gestaltcam::lab::demo_gallery;
use gestaltcam::pipeline::FacePipeline;
use gestaltcam::screening::PipelineAnalyzer;
use gestaltcam::soak::{self, SoakOptions};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The name of the soak that runs alone (see `short_soak_keeps_fds_and_rss_flat`).
const ALONE: &str = "soak::short_soak_alone";
/// Allowed RSS growth after the warm-up.
const MAX_GROWTH_KIB: u64 = 4 * 1024;

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "hundreds of model inferences: too slow under qemu-user"
)]
fn short_soak_keeps_fds_and_rss_flat() {
    // The soak counts this process's open descriptors and resident memory. The other tests of
    // this binary run beside it on other threads, open photos, spawn commands and allocate, and
    // would show up in those counts (a photo read at the wrong moment failed CI once). So this
    // test runs the soak alone, in a child process of this test binary, on one test thread.
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([
            ALONE,
            "--exact",
            "--include-ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .expect("run the soak alone");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The filter matched the soak and it ran: not zero tests.
    assert!(
        stdout.contains(&format!("test {ALONE} ... ok")) && stdout.contains("1 passed"),
        "{stdout}"
    );
}

#[test]
#[ignore = "run alone, in its own process, by short_soak_keeps_fds_and_rss_flat"]
fn short_soak_alone() {
    let root = Path::new(ROOT);
    let pipeline = FacePipeline::load(&root.join("models"), None, EmbedOptions { flip_tta: false })
        .expect("models");
    let gallery = demo_gallery(&pipeline, &root.join("demo")).expect("demo gallery");
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

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn soak_command_prints_the_table_and_passes() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gestaltcam"))
        .args(["soak", "--captures", "6", "--every", "2", "--warmup", "2"])
        .args(["--no-flip-tta", "--panel", "128x64"])
        .output()
        .expect("run gestaltcam soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&soak::table_header()), "{stdout}");
    let rows: Vec<u64> = stdout
        .lines()
        .filter(|l| l.split_whitespace().count() == 5)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(rows, vec![2, 4, 6], "{stdout}");
    assert!(stdout.contains("open fds: start"), "{stdout}");
    assert!(stdout.contains("soak passed"), "{stdout}");
    // A bad option is refused before any model is loaded.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gestaltcam"))
        .args(["soak", "--captures", "5", "--warmup", "5"])
        .output()
        .expect("run gestaltcam soak");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warm-up"));
}
