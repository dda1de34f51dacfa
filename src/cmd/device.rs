use anyhow::{bail, Result};
use clap::Args;
#[derive(Args, Debug)]
pub struct RunArgs {}
#[derive(Args, Debug)]
pub struct DemoArgs {}
pub fn run(_: RunArgs) -> Result<()> { bail!("wip") }
pub fn demo(_: DemoArgs) -> Result<()> { bail!("wip") }
pub fn test_pattern(_: RunArgs) -> Result<()> { bail!("wip") }
pub fn doctor(_: RunArgs) -> Result<()> { bail!("wip") }
