//! The only module that opens `/dev/*`: the V4L2 camera (the `v4l` crate, raw buffers decoded by
//! [`crate::camera::decode`]), GPIO buttons and panel control lines (GPIO character device),
//! SPI and I2C buses (linux-embedded-hal), and the systemd notifier. The board's memory
//! (`/proc/meminfo`) is read here too ([`memory`]).
//!
//! Every opener returns a typed [`HwError`] naming the device node, so a missing or
//! unpermitted node is reported in words the person wiring the board can act on.

use std::path::{Path, PathBuf};

#[cfg(target_os = "linux")]
pub mod buttons;
#[cfg(all(target_os = "linux", feature = "camera-v4l"))]
pub mod camera;
pub mod memory;
#[cfg(target_os = "linux")]
pub mod notify;
#[cfg(target_os = "linux")]
pub mod panel;

#[cfg(target_os = "linux")]
pub use buttons::GpioButtons;
#[cfg(all(target_os = "linux", feature = "camera-v4l"))]
pub use camera::{reconnecting_camera, V4lCamera};
#[cfg(target_os = "linux")]
pub use notify::SystemdNotifier;
#[cfg(target_os = "linux")]
pub use panel::{open_panel, panel_config};

// Off Linux (a laptop running the demo, `analyze` or `eval`): the same names, so the command
// layer builds unchanged; opening hardware fails with [`HwError::NotLinux`], notices are no-ops.
#[cfg(not(target_os = "linux"))]
mod stub;
#[cfg(not(target_os = "linux"))]
pub use stub::{open_panel, GpioButtons, SystemdNotifier};

/// Why a device could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum HwError {
    #[error("{path} does not exist (is the interface enabled and the device plugged in?)")]
    NotFound { path: PathBuf },
    #[error("no permission to open {path} (is the service user in the right group?)")]
    Permission { path: PathBuf },
    #[error("cannot open {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("GPIO line {line} on {chip}: {reason}")]
    Gpio {
        chip: PathBuf,
        line: u32,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{what}: GPIO/SPI/I2C need Linux (this build is for another system; use `demo` or a PNG panel)")]
    NotLinux { what: &'static str },
}

/// Classifies an error from opening `path`; checks existence first so a missing node is
/// reported as such whatever the library's error type says.
pub fn open_error(path: &Path, reason: impl std::fmt::Display) -> HwError {
    if !path.exists() {
        return HwError::NotFound {
            path: path.to_path_buf(),
        };
    }
    let reason = reason.to_string();
    if reason.contains("ermission denied") || reason.contains("os error 13") {
        return HwError::Permission {
            path: path.to_path_buf(),
        };
    }
    HwError::Open {
        path: path.to_path_buf(),
        reason,
    }
}

/// Opens an SPI device node (`/dev/spidevB.C`) as an embedded-hal `SpiDevice`, in mode 0 at
/// `hz`. Display writes must be chunked to the spidev buffer size (4096 bytes by default).
#[cfg(target_os = "linux")]
pub fn open_spi(path: &Path, hz: u32) -> Result<linux_embedded_hal::SpidevDevice, HwError> {
    use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
    let mut dev = linux_embedded_hal::SpidevDevice::open(path).map_err(|e| open_error(path, e))?;
    let opts = SpidevOptions::new()
        .bits_per_word(8)
        .max_speed_hz(hz)
        .mode(SpiModeFlags::SPI_MODE_0)
        .build();
    dev.configure(&opts).map_err(|e| HwError::Config {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(dev)
}

/// Opens an I2C bus node (`/dev/i2c-N`) as an embedded-hal `I2c`.
#[cfg(target_os = "linux")]
pub fn open_i2c(path: &Path) -> Result<linux_embedded_hal::I2cdev, HwError> {
    linux_embedded_hal::I2cdev::new(path).map_err(|e| open_error(path, e))
}

/// Requests GPIO line `line` of `chip` as an output (initial level `high`), as an embedded-hal
/// `OutputPin` (panel DC/RST/backlight).
#[cfg(target_os = "linux")]
pub fn open_output_pin(
    chip: &Path,
    line: u32,
    high: bool,
) -> Result<linux_embedded_hal::CdevPin, HwError> {
    use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
    let gpio_err = |e: linux_embedded_hal::gpio_cdev::Error| HwError::Gpio {
        chip: chip.to_path_buf(),
        line,
        reason: e.to_string(),
    };
    let mut c = Chip::new(chip).map_err(|e| open_error(chip, e))?;
    let handle = c
        .get_line(line)
        .map_err(gpio_err)?
        .request(LineRequestFlags::OUTPUT, u8::from(high), "gestaltcam")
        .map_err(gpio_err)?;
    linux_embedded_hal::CdevPin::new(handle).map_err(gpio_err)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn missing_nodes_are_typed_not_found() {
        let missing = Path::new("/dev/gestaltcam-test-no-such-node");
        assert!(matches!(
            open_spi(missing, 1_000_000),
            Err(HwError::NotFound { path }) if path == missing
        ));
        assert!(matches!(open_i2c(missing), Err(HwError::NotFound { .. })));
        assert!(matches!(
            open_output_pin(missing, 25, false),
            Err(HwError::NotFound { .. })
        ));
    }
}

/// Opens a device node for reading and writing and closes it again: does it exist, and may this
/// process use it? (`gestaltcam doctor`.)
pub fn check_node(path: &Path) -> Result<(), HwError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|e| open_error(path, e))
}
