//! Embeds the build's own time for `clock::BUILD_TIME`: `SOURCE_DATE_EPOCH` when set (package
//! builds), else the commit time of the checked-out source, else a fixed floor. The same source
//! gives the same binary.

use std::process::Command;

/// 2026-12-01T00:00:00Z: the floor when neither is known (a source tree without git).
const FLOOR: u64 = 1_796_083_200;

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
    let from_env = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let from_git = || {
        let out = Command::new("git")
            .args(["log", "-1", "--format=%ct"])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8(out.stdout)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    };
    let t = from_env.or_else(from_git).unwrap_or(FLOOR).max(FLOOR);
    println!("cargo:rustc-env=GESTALTCAM_BUILD_TIME={t}");
}
