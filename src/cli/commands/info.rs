//! `version` and `info`: what wharf is and what it holds.

use super::common::open;
use crate::cli::args::{ListFormat, VersionFormat};
use crate::cli::render::print_template;
use crate::cli::resolve::Settings;
use crate::cli::template::Fields;
use crate::runtime::container::Status;
use anyhow::Context as _;
use std::process::ExitCode;

/// `wharf version`: Compose's forms (`--short`, `--format json`), or a
/// template over Docker's `Client` and `Server` (wharf is both).
pub fn version(format: &VersionFormat, short: bool) -> anyhow::Result<ExitCode> {
    let v = env!("CARGO_PKG_VERSION");
    if short {
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    match format {
        VersionFormat::Json => println!("{}", serde_json::json!({ "version": v })),
        VersionFormat::Pretty => println!("wharf version {v}"),
        VersionFormat::Template(t) => {
            let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            let side = |extra: serde_json::Value| {
                let mut s = serde_json::json!({
                    "Platform": { "Name": "wharf" },
                    "Version": v,
                    "Os": "linux",
                    "Arch": crate::image::platform::Platform::host().architecture,
                });
                if let (Some(s), serde_json::Value::Object(more)) = (s.as_object_mut(), extra) {
                    s.extend(more);
                }
                s
            };
            let data = serde_json::json!({
                "Client": side(serde_json::json!({})),
                "Server": side(serde_json::json!({ "KernelVersion": kernel })),
            });
            print_template(t, std::slice::from_ref(&data), &[], Fields::Strict)?;
        }
    }
    Ok(ExitCode::SUCCESS)
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
    let cgroup_version = match crate::runtime::cgroups::detect(std::path::Path::new(
        crate::runtime::cgroups::DEFAULT_ROOT,
    )) {
        Ok(crate::runtime::cgroups::CgroupMode::Unified) => "2",
        _ => "1",
    };
    // Docker's list: the default seccomp profile, AppArmor where the
    // kernel enforces it, cgroupns on cgroup v2.
    let mut security = Vec::new();
    if crate::runtime::apparmor::enabled() {
        security.push("name=apparmor");
    }
    security.push("name=seccomp,profile=builtin");
    if cgroup_version == "2" {
        security.push("name=cgroupns");
    }
    let info = serde_json::json!({
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "Driver": "overlay2",
        "LoggingDriver": "json-file",
        "SecurityOptions": security,
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
            println!(" Storage Driver: {}", f("Driver"));
            println!(" Logging Driver: {}", f("LoggingDriver"));
            println!(" Cgroup Driver: {}", f("CgroupDriver"));
            println!(" Cgroup Version: {}", f("CgroupVersion"));
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
