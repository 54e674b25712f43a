//! `wharf cp`: `docker cp` / `docker compose cp` (the layer that does the
//! work is src/runtime/copy.rs; this file picks the containers).

use super::common;
use crate::cli::args::cp::{CpArgs, CpEnd};
use crate::cli::render::human_size;
use crate::cli::resolve::{Settings, Target};
use crate::exec;
use crate::runtime::container::{ContainerRecord, Containers};
use crate::runtime::copy::{self, ContainerFs, CopyOptions, Fs};
use anyhow::bail;
use std::process::ExitCode;

/// The containers `name` names: a service of the current project
/// (`--index`, else the first to copy from, all to copy into), or a
/// container.
fn targets(
    settings: &Settings,
    target: &Target,
    containers: &Containers,
    name: &str,
    index: Option<u32>,
    into: bool,
) -> anyhow::Result<Vec<ContainerRecord>> {
    if let Some((sel, _)) = target.project() {
        let env = common::env(settings)?;
        let mut list: Vec<_> = exec::project_containers(&env.containers, sel.name())?
            .into_iter()
            .filter(|c| c.service == name && !c.oneoff)
            .filter(|c| index.is_none_or(|i| c.number == i))
            .collect();
        list.sort_by_key(|c| c.number);
        if list.is_empty() {
            bail!(
                "no container found for service \"{name}\"{}",
                index
                    .map(|i| format!(" with index {i}"))
                    .unwrap_or_default()
            );
        }
        if !into {
            list.truncate(1);
        }
        return Ok(list.into_iter().map(|c| c.record).collect());
    }
    Ok(vec![containers.find(name)?])
}

pub fn cp(settings: &Settings, resolved: &Target, args: &CpArgs) -> anyhow::Result<ExitCode> {
    let opts = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
    };
    let (containers, store) = common::open(settings)?;
    let done = |bytes: u64, to: &str| {
        if !args.quiet {
            eprintln!("Successfully copied {} to {to}", human_size(bytes));
        }
    };
    match (CpEnd::parse(&args.src), CpEnd::parse(&args.dest)) {
        (CpEnd::Remote { target, path }, CpEnd::Local(dest)) => {
            for r in targets(settings, resolved, &containers, target, args.index, false)? {
                let fs = Fs::Container(ContainerFs::open(&containers, &store, &r)?);
                let stats = copy::copy(&fs, path, &Fs::Host, dest, opts)?;
                done(stats.content_bytes, dest);
            }
        }
        (CpEnd::Remote { target, path }, CpEnd::Stream) => {
            for r in targets(settings, resolved, &containers, target, args.index, false)? {
                let fs = Fs::Container(ContainerFs::open(&containers, &store, &r)?);
                let out = std::io::stdout().lock();
                copy::archive_to(&fs, path, args.follow_link, std::io::BufWriter::new(out))?;
            }
        }
        (CpEnd::Local(src), CpEnd::Remote { target, path }) => {
            for r in targets(settings, resolved, &containers, target, args.index, true)? {
                let fs = Fs::Container(ContainerFs::open(&containers, &store, &r)?);
                let stats = copy::copy(&Fs::Host, src, &fs, path, opts)?;
                done(stats.content_bytes, &format!("{}:{path}", r.name));
            }
        }
        (CpEnd::Stream, CpEnd::Remote { target, path }) => {
            let list = targets(settings, resolved, &containers, target, args.index, true)?;
            if list.len() > 1 {
                bail!("a tar on standard input can go to one container: give --index");
            }
            for r in list {
                let fs = Fs::Container(ContainerFs::open(&containers, &store, &r)?);
                copy::extract_to(&fs, path, std::io::stdin().lock(), opts)?;
            }
        }
        (CpEnd::Remote { .. }, CpEnd::Remote { .. }) => {
            bail!("copying between containers is not supported")
        }
        _ => bail!("must specify at least one container source (CONTAINER:PATH or SERVICE:PATH)"),
    }
    Ok(ExitCode::SUCCESS)
}
