//! The hidden verbs a container's monitor and health prober run as, and
//! the adoption of containers whose monitor died.

use super::common::{exit, open};
use crate::cli::resolve::Settings;
use crate::runtime::container::Containers;
use crate::supervise::control;
use std::process::ExitCode;

/// The hidden verb a container's healthcheck prober runs as.
pub fn health_main(settings: &Settings, id: &str) -> anyhow::Result<ExitCode> {
    let containers = Containers::open(settings.root())?;
    Ok(exit(crate::supervise::control::health_main(
        &containers,
        id,
    )))
}

/// Adopts containers whose monitor died; a failure here must not keep the
/// verb itself from running, so it is only reported.
pub fn recover(settings: &Settings) {
    if !settings.root().join("containers").is_dir() {
        return;
    }
    match Containers::open(settings.root()) {
        Ok(containers) => {
            if let Err(e) = control::recover(&containers) {
                tracing::warn!("taking over containers whose monitor died: {e}");
            }
        }
        Err(e) => tracing::warn!("opening the container store: {e}"),
    }
}

/// The hidden verb a detached container's monitor runs as.
pub fn monitor_main(settings: &Settings, id: &str, adopt: bool) -> anyhow::Result<ExitCode> {
    let (containers, store) = open(settings)?;
    Ok(exit(control::monitor_main(&containers, &store, id, adopt)))
}
