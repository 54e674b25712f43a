//! The hidden verbs a container's monitor and health prober run as, the
//! adoption of containers whose monitor died, and the boot hook
//! (`system restore`, `system install`).

use super::common::{exit, open};
use crate::cli::resolve::Settings;
use crate::runtime::container::Containers;
use crate::supervise::control;
use anyhow::Context as _;
use std::path::Path;
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

/// `wharf system restore`: takes over the containers that were running when
/// the host went down and starts those whose restart policy brings them
/// back at boot; prints the names of those it started.
pub fn restore(settings: &Settings) -> anyhow::Result<ExitCode> {
    if !settings.root().join("containers").is_dir() {
        return Ok(ExitCode::SUCCESS);
    }
    let containers = Containers::open(settings.root())?;
    let restored = control::restore(&containers).with_context(|| {
        format!(
            "restoring the containers under {}",
            settings.root().display()
        )
    })?;
    if restored.taken_over > 0 {
        tracing::info!(
            "{} containers that were running were taken over",
            restored.taken_over
        );
    }
    for name in &restored.started {
        println!("{name}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The unit `system install` writes.
pub const RESTORE_UNIT: &str = "wharf-restore.service";

/// `wharf system install --unit-dir DIR`: writes the systemd unit that runs
/// `wharf system restore` at boot, for this binary and data root. It does
/// not enable it: that is the administrator's `systemctl enable`.
pub fn install(settings: &Settings, unit_dir: &Path) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("finding the wharf binary")?;
    if !unit_dir.is_dir() {
        anyhow::bail!("--unit-dir {}: no such directory", unit_dir.display());
    }
    // The unit runs from /, whatever directory this ran in.
    let root = std::path::absolute(settings.root())
        .with_context(|| format!("resolving {}", settings.root().display()))?;
    let path = unit_dir.join(RESTORE_UNIT);
    crate::sys::atomic::write(&path, restore_unit(&exe, &root).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{}", path.display());
    eprintln!("enable it with: systemctl daemon-reload && systemctl enable {RESTORE_UNIT}");
    Ok(ExitCode::SUCCESS)
}

/// podman-restart.service's shape: a oneshot after the network is up. The
/// shims and monitors it starts outlive it (they supervise the
/// containers), so stopping the unit must not kill them.
fn restore_unit(exe: &Path, root: &Path) -> String {
    format!(
        "# Written by `wharf system install`.
[Unit]
Description=wharf: bring back containers with a restart policy after boot
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=oneshot
RemainAfterExit=yes
KillMode=process
ExecStart={} --root {} system restore

[Install]
WantedBy=multi-user.target
",
        systemd_quote(&exe.to_string_lossy()),
        systemd_quote(&root.to_string_lossy())
    )
}

/// One word of a systemd command line: quoted, with what systemd would
/// expand (`%` specifiers, `$` variables) or unquote escaped.
fn systemd_quote(word: &str) -> String {
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_restore_for_this_binary_and_root() {
        let unit = restore_unit(Path::new("/usr/bin/wharf"), Path::new("/data/my wharf%1"));
        assert!(
            unit.contains(
                "ExecStart=\"/usr/bin/wharf\" --root \"/data/my wharf%%1\" system restore\n"
            ),
            "{unit}"
        );
        assert!(unit.contains("Type=oneshot\n"), "{unit}");
        assert!(unit.contains("KillMode=process\n"), "{unit}");
        assert!(unit.contains("WantedBy=multi-user.target\n"), "{unit}");
        assert_eq!(systemd_quote(r#"a"b\c$d"#), r#""a\"b\\c$$d""#);
    }
}
