//! `version` and `info`: what wharf is and what it holds.

use super::common::open;
use crate::cli::args::{ListFormat, VersionFormat};
use crate::cli::render::print_template;
use crate::cli::resolve::Settings;
use crate::cli::template::Fields;
use crate::runtime::container::Status;
use anyhow::Context as _;
use std::process::ExitCode;

/// `wharf version`: Compose's forms (`--short`, `--format json`).
pub fn version(format: VersionFormat, short: bool) -> ExitCode {
    let v = env!("CARGO_PKG_VERSION");
    if short {
        println!("{v}");
    } else if format == VersionFormat::Json {
        println!("{}", serde_json::json!({ "version": v }));
    } else {
        println!("wharf version {v}");
    }
    ExitCode::SUCCESS
}

/// `wharf info`: Docker's fields for what a daemonless wharf has: the
/// containers by state, the images, the data root and the host.
pub fn info(settings: &Settings, format: &ListFormat) -> anyhow::Result<ExitCode> {
    let (containers, store) = open(settings)?;
    let mut counts = [0usize; 3];
    let records = containers.list_records()?;
    for r in &records {
        let i = match containers.state(&r.id)?.status {
            Status::Running | Status::Restarting => 0,
            Status::Paused => 1,
            _ => 2,
        };
        counts[i] += 1;
    }
    let images = store.list().context("listing images")?.len();
    let kernel = |key: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{key}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let os = os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let info = serde_json::json!({
        "Architecture": std::env::consts::ARCH,
        "Containers": records.len(),
        "ContainersPaused": counts[1],
        "ContainersRunning": counts[0],
        "ContainersStopped": counts[2],
        "DefaultRuntime": settings.runtime,
        "DockerRootDir": settings.root().display().to_string(),
        "Images": images,
        "KernelVersion": kernel("osrelease"),
        "MemTotal": super::ps::host_memory(),
        "NCPU": cpus,
        "Name": kernel("hostname"),
        "OSType": "linux",
        "OperatingSystem": os,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
    });
    match format {
        ListFormat::Json => println!("{info}"),
        ListFormat::Template(t) => {
            // One object: a template line, no table header.
            let t = t.strip_prefix("table").unwrap_or(t);
            print_template(t, std::slice::from_ref(&info), &[], Fields::Strict)?;
        }
        ListFormat::Table => {
            let f = |k: &str| crate::cli::template::text_of(&info.get(k).cloned());
            println!("Server:");
            println!(" Containers: {}", f("Containers"));
            println!("  Running: {}", f("ContainersRunning"));
            println!("  Paused: {}", f("ContainersPaused"));
            println!("  Stopped: {}", f("ContainersStopped"));
            println!(" Images: {}", f("Images"));
            println!(" Server Version: wharf {}", f("ServerVersion"));
            println!(" Default Runtime: {}", f("DefaultRuntime"));
            println!(" Kernel Version: {}", f("KernelVersion"));
            println!(" Operating System: {}", f("OperatingSystem"));
            println!(" OSType: linux");
            println!(" Architecture: {}", f("Architecture"));
            println!(" CPUs: {}", f("NCPU"));
            println!(
                " Total Memory: {}",
                crate::cli::render::human_bytes(super::ps::host_memory())
            );
            println!(" Name: {}", f("Name"));
            println!(" Docker Root Dir: {}", f("DockerRootDir"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
