//! `image prune` and `system prune`, with Docker's flags: `-a`, `-f`,
//! `--filter until=…/label=…` and (system) `--volumes`. `system prune`
//! removes what Docker's does: stopped containers, networks no container
//! uses (never the default `bridge`), untagged (with `-a`: unused) images,
//! the build cache and, with `--volumes`, unused anonymous volumes.

use super::common::{open, parse_when};
use crate::cli::args::container::ContainerPruneArgs;
use crate::cli::args::image::{ImagePruneArgs, SystemPruneArgs};
use crate::cli::resolve::Settings;
use crate::image::store::{ImageRecord, ImageStore, Removed};
use crate::runtime::container::Status;
use crate::runtime::spec::MountSpec;
use anyhow::bail;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::SystemTime;

/// `--filter` of the prune verbs: every given condition must hold.
#[derive(Debug, Default)]
struct PruneFilter {
    until: Option<SystemTime>,
    /// (key, value, wanted): `label=k[=v]` wants it, `label!=k[=v]` not.
    labels: Vec<(String, Option<String>, bool)>,
}

impl PruneFilter {
    fn parse(filters: &[String]) -> anyhow::Result<PruneFilter> {
        let mut f = PruneFilter::default();
        for kv in filters {
            let (key, value, wanted) = match kv.split_once("!=") {
                Some((k, v)) if !k.contains('=') => (k, v, false),
                _ => match kv.split_once('=') {
                    Some((k, v)) => (k, v, true),
                    None => bail!("--filter {kv:?}: expected KEY=VALUE"),
                },
            };
            match (key, wanted) {
                ("until", true) => {
                    f.until = Some(match value.parse::<u64>() {
                        Ok(secs) => SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs),
                        Err(_) => parse_when("filter until", value)?,
                    })
                }
                ("label", _) => f.labels.push(match value.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string()), wanted),
                    None => (value.to_string(), None, wanted),
                }),
                _ => bail!("--filter {kv:?}: invalid filter (until, label, label!)"),
            }
        }
        Ok(f)
    }

    /// Whether a thing created at `created` (RFC 3339; unknown counts as
    /// old) with `labels` is to go.
    fn keeps(&self, created: Option<&str>, labels: &BTreeMap<String, String>) -> bool {
        let old_enough = self.until.is_none_or(|until| {
            created
                .and_then(crate::time::parse_rfc3339)
                .is_none_or(|t| t < until)
        });
        old_enough
            && self.labels.iter().all(|(k, want, wanted)| {
                let has = match (labels.get(k), want) {
                    (Some(have), Some(want)) => have == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                has == *wanted
            })
    }
}

/// Docker's question before a prune (`prompt.Confirm` of docker/cli): the
/// `warning` and "[y/N]" on stdout, then one line of stdin, terminal or
/// not; only `y`/`Y` goes on, anything else (EOF too) cancels, which is
/// exit 0 with nothing removed, as with Docker 28.
pub fn confirmed(force: bool, warning: &str) -> anyhow::Result<bool> {
    if force {
        return Ok(true);
    }
    let mut out = std::io::stdout().lock();
    write!(out, "{warning}\nAre you sure you want to continue? [y/N] ")?;
    out.flush()?;
    drop(out);
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let yes = answer.trim().eq_ignore_ascii_case("y");
    if !yes {
        // The prompt has no newline of its own.
        println!();
    }
    Ok(yes)
}

/// The image config's labels.
fn image_labels(store: &ImageStore, r: &ImageRecord) -> BTreeMap<String, String> {
    crate::image::config::image_config(store, r)
        .ok()
        .and_then(|c| c.labels().clone())
        .map(|l| l.into_iter().collect())
        .unwrap_or_default()
}

fn prune_images(store: &ImageStore, all: bool, filter: &PruneFilter) -> anyhow::Result<Removed> {
    Ok(store.prune_matching(all, &|r| {
        filter.keeps(r.created.as_deref(), &image_labels(store, r))
    })?)
}

fn print_images(removed: &Removed) {
    for d in &removed.deleted_images {
        println!("Deleted Images: {d}");
    }
    println!(
        "Deleted {} images, {} layers, {} blobs",
        removed.deleted_images.len(),
        removed.deleted_layers.len(),
        removed.deleted_blobs.len()
    );
}

pub fn image_prune(settings: &Settings, args: &ImagePruneArgs) -> anyhow::Result<ExitCode> {
    let filter = PruneFilter::parse(&args.filter)?;
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !confirmed(args.force, warning)? {
        return Ok(ExitCode::SUCCESS);
    }
    let store = super::common::open_store(settings)?;
    print_images(&prune_images(&store, args.all, &filter)?);
    Ok(ExitCode::SUCCESS)
}

/// Removes the stopped containers `filter` keeps and says which.
fn prune_containers(
    containers: &crate::runtime::container::Containers,
    store: &ImageStore,
    filter: &PruneFilter,
) -> anyhow::Result<()> {
    let mut deleted = Vec::new();
    for r in containers.list_records()? {
        let state = containers.state(&r.id)?;
        let stopped = matches!(
            state.status,
            Status::Created | Status::Exited | Status::Dead
        );
        if stopped && filter.keeps(Some(&r.created), &r.spec.labels) {
            crate::supervise::control::remove(containers, store, &r.id, false)?;
            deleted.push(r.id);
        }
    }
    if !deleted.is_empty() {
        println!("Deleted Containers:\n{}\n", deleted.join("\n"));
    }
    Ok(())
}

/// `docker container prune`: every stopped container (`--filter`ed).
pub fn container_prune(settings: &Settings, args: &ContainerPruneArgs) -> anyhow::Result<ExitCode> {
    let filter = PruneFilter::parse(&args.filter)?;
    if !confirmed(
        args.force,
        "WARNING! This will remove all stopped containers.",
    )? {
        return Ok(ExitCode::SUCCESS);
    }
    let (containers, store) = open(settings)?;
    prune_containers(&containers, &store, &filter)?;
    Ok(ExitCode::SUCCESS)
}

pub fn system_prune(settings: &Settings, args: &SystemPruneArgs) -> anyhow::Result<ExitCode> {
    let filter = PruneFilter::parse(&args.filter)?;
    let mut what = vec![
        "  - all stopped containers",
        "  - all networks not used by at least one container",
    ];
    if args.volumes {
        what.push("  - all anonymous volumes not used by at least one container");
    }
    what.push(if args.all {
        "  - all images without at least one container associated to them"
    } else {
        "  - all dangling images"
    });
    what.push(if args.all {
        "  - all build cache"
    } else {
        "  - unused build cache"
    });
    let warning = format!("WARNING! This will remove:\n{}\n", what.join("\n"));
    if !confirmed(args.force, &warning)? {
        return Ok(ExitCode::SUCCESS);
    }
    let (containers, store) = open(settings)?;

    prune_containers(&containers, &store, &filter)?;

    let networks = crate::net::store::Networks::open(settings.root())?;
    let mut deleted = Vec::new();
    for n in networks.list()? {
        if n.name != crate::net::store::DEFAULT_BRIDGE
            && networks.endpoints(&n.id)?.is_empty()
            && filter.keeps(Some(&n.created), &n.labels)
        {
            crate::net::attach::remove_network(settings.root(), &n.id)?;
            deleted.push(n.name);
        }
    }
    if !deleted.is_empty() {
        println!("Deleted Networks:\n{}\n", deleted.join("\n"));
    }

    if args.volumes {
        let volumes = crate::runtime::volume::Volumes::open(settings.root())?;
        let records = containers.list_records()?;
        let mut deleted = Vec::new();
        for v in volumes.list()? {
            let used = records.iter().any(|r| {
                r.spec
                    .mounts
                    .iter()
                    .any(|m| matches!(m, MountSpec::Volume { name, .. } if *name == v.name))
            });
            if v.anonymous && !used && filter.keeps(None, &v.labels) {
                volumes.remove(&v.name, &[])?;
                deleted.push(v.name);
            }
        }
        if !deleted.is_empty() {
            println!("Deleted Volumes:\n{}\n", deleted.join("\n"));
        }
    }

    let removed = prune_images(&store, args.all, &filter)?;
    print_images(&removed);
    let cache = crate::build::cache::BuildCache::open(&store)?;
    let (entries, cache_removed) = cache.prune()?;
    println!(
        "Deleted build cache objects: {entries} entries, {} layers",
        cache_removed.deleted_layers.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn filter(f: &[&str]) -> PruneFilter {
        PruneFilter::parse(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("filter")
    }

    #[test]
    fn prune_filters_select_by_age_and_labels() {
        let old = Some("2020-01-01T00:00:00Z");
        let new = Some("2999-01-01T00:00:00Z");
        let keep = labels(&[("keep", "yes")]);
        let none = labels(&[]);
        let f = filter(&["until=2024-01-01T00:00:00Z"]);
        assert!(f.keeps(old, &none));
        assert!(!f.keeps(new, &none));
        // Unix seconds (2019-12-22), as Docker takes them.
        assert!(filter(&["until=1577000000"]).keeps(Some("2019-01-01T00:00:00Z"), &none));
        assert!(!filter(&["until=1577000000"]).keeps(old, &none));
        assert!(filter(&["label=keep"]).keeps(old, &keep));
        assert!(!filter(&["label=keep"]).keeps(old, &none));
        assert!(filter(&["label=keep=yes"]).keeps(old, &keep));
        assert!(!filter(&["label=keep=no"]).keeps(old, &keep));
        assert!(!filter(&["label!=keep"]).keeps(old, &keep));
        assert!(filter(&["label!=keep"]).keeps(old, &none));
        assert!(filter(&["label!=keep=no"]).keeps(old, &keep));
        for bad in ["dangling=true", "until", "until=soon"] {
            assert!(
                PruneFilter::parse(&[bad.to_string()]).is_err(),
                "{bad} accepted"
            );
        }
    }
}
