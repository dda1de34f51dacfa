//! The board's memory: `MemTotal` of `/proc/meminfo`, what the start-up memory check
//! ([`crate::setup::memory`]) compares the configured models' need with.

use std::path::Path;

use super::HwError;

/// Where Linux says how much memory the board has.
pub const MEMINFO: &str = "/proc/meminfo";

/// The board's memory in bytes (`MemTotal`: the RAM the kernel manages, without the firmware's
/// and the GPU's share).
pub fn board_memory() -> Result<u64, HwError> {
    let path = Path::new(MEMINFO);
    let text = std::fs::read_to_string(path).map_err(|e| super::open_error(path, e))?;
    mem_total(&text).ok_or_else(|| HwError::Config {
        path: path.to_path_buf(),
        reason: "no `MemTotal: N kB` line".into(),
    })
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
pub fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        let pi4 = "MemTotal:        3884356 kB\nMemFree:         2930000 kB\n";
        assert_eq!(mem_total(pi4), Some(3_884_356 * 1024));
        let zero2 = "MemFree: 1 kB\nMemTotal: 439812 kB\n";
        assert_eq!(mem_total(zero2), Some(439_812 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(mem_total("MemTotal: 5 MB\n"), None);
    }

    /// The host this runs on has a `/proc/meminfo` with a plausible size.
    #[cfg(target_os = "linux")]
    #[test]
    fn this_board_has_memory() {
        let bytes = board_memory().expect("/proc/meminfo");
        assert!(bytes > 64 << 20, "{bytes}");
    }
}
