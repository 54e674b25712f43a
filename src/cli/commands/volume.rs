//! `wharf volume create|ls|inspect|rm|prune`.

use crate::cli::args::compose::VolumesArgs;
use crate::cli::args::volume::VolumeCommand;
use crate::cli::args::ListFormat;
use crate::cli::render::{labels_text, print_template};
use crate::cli::resolve::Settings;
use crate::cli::template::Fields;
use crate::runtime::container::Containers;
use crate::runtime::spec::MountSpec;
use crate::runtime::volume::Volume;
use crate::runtime::volume::{VolumeOptions, Volumes};
use anyhow::{bail, Context as _};
use std::process::ExitCode;

/// The columns' titles of `volume ls --format 'table …'`, as Docker's.
const VOLUME_TITLES: &[(&str, &str)] = &[
    ("Driver", "DRIVER"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Name", "VOLUME NAME"),
    ("Scope", "SCOPE"),
    ("Size", "SIZE"),
];

/// What `volume ls --filter` keeps: every given key must match (one of its values).
#[derive(Debug, Default, PartialEq)]
struct VolumeFilter {
    names: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    dangling: Option<bool>,
}

impl VolumeFilter {
    fn parse(filters: &[String]) -> anyhow::Result<VolumeFilter> {
        let mut f = VolumeFilter::default();
        for kv in filters {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("--filter {kv:?}: expected KEY=VALUE");
            };
            match k {
                "name" => f.names.push(v.to_string()),
                "label" => f.labels.push(match v.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (v.to_string(), None),
                }),
                "driver" if v == "local" => {}
                "driver" => bail!("--filter driver={v}: wharf's volumes are all local"),
                "dangling" => {
                    f.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => bail!("--filter dangling={v}: expected true or false"),
                    })
                }
                other => {
                    bail!("--filter {other}: unknown volume filter (name, label, driver, dangling)")
                }
            }
        }
        Ok(f)
    }

    /// `unused` answers whether no container mounts the volume, asked only
    /// for a dangling filter.
    fn keeps(
        &self,
        v: &Volume,
        unused: impl FnOnce() -> anyhow::Result<bool>,
    ) -> anyhow::Result<bool> {
        let named = self.names.is_empty() || self.names.iter().any(|n| v.name.contains(n.as_str()));
        let labelled = self
            .labels
            .iter()
            .all(|(k, want)| match (v.labels.get(k), want) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            });
        if !(named && labelled) {
            return Ok(false);
        }
        match self.dangling {
            Some(d) => Ok(unused()? == d),
            None => Ok(true),
        }
    }
}

/// A volume as `volume inspect` shows it.
pub fn volume_json(v: &Volume) -> serde_json::Value {
    serde_json::json!({
        "CreatedAt": v.created,
        "Driver": "local",
        "Labels": v.labels,
        "Mountpoint": v.data,
        "Name": v.name,
        "Options": if v.driver_opts.is_empty() { serde_json::Value::Null } else { serde_json::json!(v.driver_opts) },
        "Scope": "local",
    })
}

pub fn run(settings: &Settings, cmd: &VolumeCommand) -> anyhow::Result<ExitCode> {
    let volumes = Volumes::open(settings.root()).context("opening the volume store")?;
    let containers = Containers::open(settings.root())?;
    match cmd {
        VolumeCommand::Create {
            name,
            label,
            driver,
            opt,
        } => {
            if driver != "local" {
                bail!("error looking up volume plugin {driver}: plugin {driver:?} not found (wharf has the local driver only)");
            }
            let mut opts = VolumeOptions::default();
            for l in label {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                opts.labels.insert(k.to_string(), v.to_string());
            }
            for o in opt {
                let Some((k, v)) = o.split_once('=') else {
                    bail!("invalid option {o:?}: expected KEY=VALUE (-o type=tmpfs)");
                };
                opts.driver_opts.insert(k.to_string(), v.to_string());
            }
            if !opts.driver_opts.is_empty() {
                // Checked now, as Docker's local driver does, not at the first mount.
                let get = |k: &str| opts.driver_opts.get(k).cloned().unwrap_or_default();
                crate::plan::container::local_volume_mount(&get, "/", false)
                    .map_err(|e| anyhow::anyhow!("invalid volume options: {e}"))?;
            }
            if let Some(existing) = name
                .as_deref()
                .map(|n| volumes.get(n))
                .transpose()?
                .flatten()
            {
                if existing.driver_opts != opts.driver_opts {
                    bail!(
                        "volume {:?} already exists with other options",
                        existing.name
                    );
                }
            }
            let v = match name {
                Some(n) => volumes.ensure(n, opts)?,
                None => volumes.create_anonymous()?,
            };
            println!("{}", v.name);
        }
        VolumeCommand::Ls {
            quiet,
            format,
            filter,
        } => {
            let filters = VolumeFilter::parse(filter)?;
            let mut list = Vec::new();
            for v in volumes.list()? {
                if filters.keeps(&v, || Ok(containers.mounting(&v.name)?.is_empty()))? {
                    list.push(v);
                }
            }
            print_volumes(&list, *quiet, format)?;
        }
        VolumeCommand::Inspect { names } => {
            let mut out = Vec::new();
            for n in names {
                let v = volumes
                    .get(n)?
                    .with_context(|| format!("get {n}: no such volume"))?;
                out.push(volume_json(&v));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        VolumeCommand::Rm { names, force: _ } => {
            let mut code = ExitCode::SUCCESS;
            for n in names {
                match volumes.remove(n, &containers.mounting(n)?) {
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
                if (*all || v.anonymous) && containers.mounting(&v.name)?.is_empty() {
                    volumes.remove(&v.name, &[])?;
                    println!("{}", v.name);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A volume listing as `volume ls` prints it (`-q`, `--format`).
fn print_volumes(list: &[Volume], quiet: bool, format: &ListFormat) -> anyhow::Result<()> {
    if quiet {
        for v in list {
            println!("{}", v.name);
        }
        return Ok(());
    }
    match format {
        ListFormat::Table => {
            println!("DRIVER    VOLUME NAME");
            for v in list {
                println!("local     {}", v.name);
            }
        }
        ListFormat::Json | ListFormat::Template(_) => {
            // Docker's fields; those a local volume has not are N/A, as in its listing.
            let rows: Vec<serde_json::Value> = list
                .iter()
                .map(|v| {
                    serde_json::json!({
                        "Driver": "local",
                        "Labels": labels_text(&v.labels),
                        "Links": "N/A",
                        "Mountpoint": v.data.display().to_string(),
                        "Name": v.name,
                        "Scope": "local",
                        "Size": "N/A",
                    })
                })
                .collect();
            match format {
                ListFormat::Template(t) => print_template(t, &rows, VOLUME_TITLES, Fields::Strict)?,
                _ => {
                    for row in &rows {
                        println!("{row}");
                    }
                }
            }
        }
    }
    Ok(())
}

/// Compose's `volumes [SERVICE…]`: the volumes labelled with the project;
/// with services named, those their containers mount.
pub fn project_volumes(
    settings: &Settings,
    loaded: &crate::compose::load::Loaded,
    args: &VolumesArgs,
) -> anyhow::Result<ExitCode> {
    let project = &loaded.project;
    if let Some(s) = args
        .services
        .iter()
        .find(|s| !project.services.contains_key(*s))
    {
        bail!("no such service: {s}");
    }
    let volumes = Volumes::open(settings.root()).context("opening the volume store")?;
    let containers = Containers::open(settings.root())?;
    let mounted: Vec<String> = crate::exec::project_containers(&containers, &project.name)?
        .into_iter()
        .filter(|c| args.services.contains(&c.service))
        .flat_map(|c| c.record.spec.mounts)
        .filter_map(|m| match m {
            MountSpec::Volume { name, .. } => Some(name),
            _ => None,
        })
        .collect();
    let list: Vec<Volume> = volumes
        .list()?
        .into_iter()
        .filter(|v| v.labels.get(crate::plan::container::LABEL_PROJECT) == Some(&project.name))
        .filter(|v| args.services.is_empty() || mounted.contains(&v.name))
        .collect();
    print_volumes(&list, args.quiet, &args.format)?;
    Ok(ExitCode::SUCCESS)
}
