//! `vigil demo`: send demo traffic to a syslog TCP port.

use anyhow::{Context, Result};

use crate::cli::DemoArgs;
use crate::exit;

pub fn run(args: DemoArgs) -> Result<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let shutdown = vigil_pipeline::Shutdown::new();
    let sig = shutdown.signal();
    rt.block_on(async move {
        let stopper = shutdown.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stopper.trigger();
        });
        crate::demo::run_async(args.target, args.rate, args.count, args.backfill, sig).await
    })?;
    Ok(exit::OK)
}
