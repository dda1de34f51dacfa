//! `report`: the device's usage report, signed by its own key (`--out`), the key a programme
//! registers (`--public-key`), and the check of a report against that key (`--verify --key`).
//! The library does the work ([`gestaltcam::counters`]); here it is parsed and printed.

use anyhow::{Context, Result};
use clap::Args;
use gestaltcam::config::Config;
use gestaltcam::counters::{report, store, DeviceKey, Report};
use gestaltcam::gallery::sign::read_verifying_key;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Write the report (JSON) here, and its signature beside it (FILE.sig).
    #[arg(long, required_unless_present_any = ["verify", "public_key"])]
    out: Option<PathBuf>,
    /// Device configuration (TOML): its `state_dir` holds the counters and the device key.
    #[arg(long, default_value = "/etc/gestaltcam/config.toml")]
    config: PathBuf,
    /// Check this report and FILE.sig against a device's public key (--key).
    #[arg(long, requires = "key", conflicts_with_all = ["out", "public_key"])]
    verify: Option<PathBuf>,
    /// The device's public key file (device-key.pub.pem, as `report --public-key` prints it).
    #[arg(long, requires = "verify")]
    key: Option<PathBuf>,
    /// Print the device id and its public key (PEM): what a programme registers.
    #[arg(long, conflicts_with = "out")]
    public_key: bool,
}

fn state_dir(config: &Path) -> Result<PathBuf> {
    let loaded =
        Config::load(config).with_context(|| format!("configuration {}", config.display()))?;
    Ok(loaded.config.state_dir)
}

pub fn report(a: ReportArgs) -> Result<()> {
    if let (Some(file), Some(key)) = (&a.verify, &a.key) {
        return verify(file, key);
    }
    let state = state_dir(&a.config)?;
    let key = DeviceKey::load(&state)?;
    if a.public_key {
        println!("device id {}", key.device_id());
        print!("{}", key.public_pem());
        return Ok(());
    }
    let Some(out) = a.out else {
        anyhow::bail!("report: give --out FILE, --public-key or --verify FILE --key PUB");
    };
    let counters = store::read(&store::counters_path(&state))?;
    let today = (gestaltcam::setup::device_today())();
    let r = Report::new(&counters, &key, env!("CARGO_PKG_VERSION"), today.as_deref());
    let sig = report::write_signed(&r, &key, &out)?;
    println!(
        "report: wrote {} and {} (device {}, {} day(s))",
        out.display(),
        sig.display(),
        r.device_id,
        r.days.len()
    );
    Ok(())
}

fn verify(file: &Path, key: &Path) -> Result<()> {
    let public = read_verifying_key(key)?;
    let r = report::verify(file, &public)?;
    let (sessions, photos) = r.days.iter().fold((0, 0), |(s, p), d| {
        (s + d.counts.sessions, p + d.counts.photos)
    });
    println!(
        "report: verified: device {}, software {}, made on {}, {} day(s), {sessions} session(s), \
         {photos} photo(s)",
        r.device_id,
        r.software_version,
        r.made_on.as_deref().unwrap_or("an untrusted date"),
        r.days.len()
    );
    Ok(())
}
