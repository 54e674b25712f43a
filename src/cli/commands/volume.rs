//! `wharf volume create|ls|inspect|rm|prune`.

use crate::cli::args::volume::VolumeCommand;
use crate::cli::resolve::Settings;
use crate::runtime::container::Containers;
use crate::runtime::spec::MountSpec;
use crate::runtime::volume::{VolumeOptions, Volumes};
use anyhow::Context as _;
use std::process::ExitCode;

/// Names of the containers that mount volume `name`.
fn users(containers: &Containers, name: &str) -> anyhow::Result<Vec<String>> {
    Ok(containers
        .list_records()?
        .into_iter()
        .filter(|r| {
            r.spec
                .mounts
                .iter()
                .any(|m| matches!(m, MountSpec::Volume { name: n, .. } if n == name))
        })
        .map(|r| r.name)
        .collect())
}

pub fn run(settings: &Settings, cmd: &VolumeCommand) -> anyhow::Result<ExitCode> {
    let volumes = Volumes::open(settings.root()).context("opening the volume store")?;
    let containers = Containers::open(settings.root())?;
    match cmd {
        VolumeCommand::Create { name, label } => {
            let mut opts = VolumeOptions::default();
            for l in label {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                opts.labels.insert(k.to_string(), v.to_string());
            }
            let v = match name {
                Some(n) => volumes.ensure(n, opts)?,
                None => volumes.create_anonymous()?,
            };
            println!("{}", v.name);
        }
        VolumeCommand::Ls { quiet } => {
            if !quiet {
                println!("DRIVER    VOLUME NAME");
            }
            for v in volumes.list()? {
                if *quiet {
                    println!("{}", v.name);
                } else {
                    println!("local     {}", v.name);
                }
            }
        }
        VolumeCommand::Inspect { names } => {
            let mut out = Vec::new();
            for n in names {
                let v = volumes
                    .get(n)?
                    .with_context(|| format!("get {n}: no such volume"))?;
                out.push(serde_json::json!({
                    "CreatedAt": v.created,
                    "Driver": "local",
                    "Labels": v.labels,
                    "Mountpoint": v.data,
                    "Name": v.name,
                    "Scope": "local",
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        VolumeCommand::Rm { names, force: _ } => {
            let mut code = ExitCode::SUCCESS;
            for n in names {
                match volumes.remove(n, &users(&containers, n)?) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = ExitCode::from(1);
                    }
                }
            }
            return Ok(code);
        }
        VolumeCommand::Prune { all, force: _ } => {
            for v in volumes.list()? {
                if (*all || v.anonymous) && users(&containers, &v.name)?.is_empty() {
                    volumes.remove(&v.name, &[])?;
                    println!("{}", v.name);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
