//! A power cut during a gallery write (a SIGKILLed child writer): the old or the new gallery,
//! never a broken one.

use super::*;

const WRITER_ENV: &str = "GESTALTCAM_FAULTS_WRITER";
const POWER_CUT_TEST: &str = "faults::power_cut::power_cut_during_gallery_write_leaves_old_or_new";

fn power_galleries() -> (Gallery, Gallery) {
    // About 0.5 MB each, so a kill often lands inside a write.
    (
        make_gallery(11, "gallery A", 20, 1000, "power-cut"),
        make_gallery(12, "gallery B", 25, 1100, "power-cut"),
    )
}

/// The child: writes A, B, A, B, ... with the library's atomic writer until it is killed.
fn writer_loop(path: &Path) -> ! {
    let (a, b) = power_galleries();
    std::fs::write(path.with_extension("started"), b"").unwrap();
    loop {
        a.save(path).unwrap();
        b.save(path).unwrap();
    }
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the test binary, impossible under qemu-user"
)]
fn power_cut_during_gallery_write_leaves_old_or_new() {
    use std::os::unix::process::ExitStatusExt;
    if let Ok(p) = std::env::var(WRITER_ENV) {
        writer_loop(Path::new(&p));
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("g.gmg");
    let started = path.with_extension("started");
    let (a, b) = power_galleries();
    // One A+B cycle of the writer, so the kills spread over about two cycles.
    let t = std::time::Instant::now();
    for _ in 0..3 {
        b.save(&path).unwrap();
        a.save(&path).unwrap();
    }
    let cycle_us = (t.elapsed().as_micros() as u64 / 3).max(500);
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0x5EED);
    let (rounds, mut got_a, mut got_b, mut torn_temp) = (200, 0, 0, 0);
    let t0 = std::time::Instant::now();
    for round in 0..rounds {
        let _ = std::fs::remove_file(&started);
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", POWER_CUT_TEST, "--test-threads=1", "--nocapture"])
            .env(WRITER_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let wait_start = std::time::Instant::now();
        while !started.exists() {
            assert!(
                wait_start.elapsed() < Duration::from_secs(20),
                "writer did not start"
            );
            assert!(child.try_wait().unwrap().is_none(), "writer exited early");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.below(2 * cycle_us)));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "round {round}: {status:?}");
        // A temp file left behind = the kill landed inside a write; loading ignores it.
        torn_temp += gallery::remove_stale_temp_files(&path).unwrap();
        let g = Gallery::load(&path)
            .unwrap_or_else(|e| panic!("round {round}: a broken gallery after the kill: {e}"));
        if g.content_hash() == a.content_hash() {
            got_a += 1;
        } else if g.content_hash() == b.content_hash() {
            got_b += 1;
        } else {
            panic!("round {round}: neither A nor B");
        }
    }
    eprintln!(
        "power cut: {rounds} rounds, {rounds} SIGKILLs, old/new: A {got_a}, B {got_b}, \
         killed mid-write (temp file left) {torn_temp}, A+B write cycle {cycle_us} us, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(got_a + got_b, rounds);
    // The kills landed at different points of the loop.
    assert!(got_a > 0 && got_b > 0, "A {got_a}, B {got_b}");
    std::fs::remove_file(&started).unwrap();
    assert_eq!(files_in(tmp.path()), ["g.gmg"]);
}
