//! `wharf cp`: `docker cp` / `docker compose cp` (the layer that does the
//! work is src/runtime/copy.rs; this file picks the containers).

use super::GlobalArgs;
use crate::exec::{self, Env};
use crate::runtime::container::{ContainerRecord, Containers};
use crate::runtime::copy::{self, ContainerFs, CopyOptions, Fs};
use anyhow::bail;
use clap::Args;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct CpArgs {
    /// SRC: a host path, CONTAINER:PATH, SERVICE:PATH, or `-` (a tar on stdin)
    pub src: String,
    /// DEST: a host path, CONTAINER:PATH, SERVICE:PATH, or `-` (a tar on stdout)
    pub dest: String,
    /// Archive mode: keep the uid/gid of what is copied into a container
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow a symlink given as SRC
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Do not print the "Successfully copied" line
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Which replica of a service (default: the first when copying out, every one when copying in)
    #[arg(long)]
    pub index: Option<u32>,
}

/// One side of the copy as the user wrote it.
enum Arg<'a> {
    Local(&'a str),
    Stream,
    Remote { target: &'a str, path: &'a str },
}

/// Docker's split: a path that starts with `/` or `.` is local, whatever
/// colons it holds; else `NAME:PATH` names a container.
fn split(arg: &str) -> Arg<'_> {
    if arg == "-" {
        return Arg::Stream;
    }
    if arg.starts_with('/') || arg.starts_with('.') {
        return Arg::Local(arg);
    }
    match arg.split_once(':') {
        Some((target, path)) if !target.is_empty() => Arg::Remote { target, path },
        _ => Arg::Local(arg),
    }
}

/// The containers `target` names: a service of the current project
/// (`--index`, else the first to copy from, all to copy into), or a
/// container.
fn targets(
    global: &GlobalArgs,
    containers: &Containers,
    target: &str,
    index: Option<u32>,
    into: bool,
) -> anyhow::Result<Vec<ContainerRecord>> {
    if let Some(sel) = super::compose::project_mode(global, &[target.to_string()])? {
        let env = Env::open(global.root(), "builtin")?;
        let mut list: Vec<_> = exec::project_containers(&env.containers, sel.name())?
            .into_iter()
            .filter(|c| c.service == target && !c.oneoff)
            .filter(|c| index.is_none_or(|i| c.number == i))
            .collect();
        list.sort_by_key(|c| c.number);
        if list.is_empty() {
            bail!(
                "no container found for service \"{target}\"{}",
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
    Ok(vec![containers.find(target)?])
}

pub fn cp(global: &GlobalArgs, args: &CpArgs) -> anyhow::Result<ExitCode> {
    let opts = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
    };
    let (containers, store) = super::container::open(global)?;
    let done = |bytes: u64, to: &str| {
        if !args.quiet {
            eprintln!(
                "Successfully copied {} to {to}",
                super::image::human_size(bytes)
            );
        }
    };
    match (split(&args.src), split(&args.dest)) {
        (Arg::Remote { target, path }, Arg::Local(dest)) => {
            for r in targets(global, &containers, target, args.index, false)? {
                let fs = Fs::Container(ContainerFs::open(&containers, &store, &r)?);
                let stats = copy::copy(&fs, path, &Fs::Host, dest, opts)?;
                done(stats.content_bytes, dest);
            }
        }
        (Arg::Remote { target, path }, Arg::Stream) => {
            for r in targets(global, &containers, target, args.index, false)? {
                let fs = Fs::Container(ContainerFs::open(&containers, &store, &r)?);
                let out = std::io::stdout().lock();
                copy::archive_to(&fs, path, args.follow_link, std::io::BufWriter::new(out))?;
            }
        }
        (Arg::Local(src), Arg::Remote { target, path }) => {
            for r in targets(global, &containers, target, args.index, true)? {
                let fs = Fs::Container(ContainerFs::open(&containers, &store, &r)?);
                let stats = copy::copy(&Fs::Host, src, &fs, path, opts)?;
                done(stats.content_bytes, &format!("{}:{path}", r.name));
            }
        }
        (Arg::Stream, Arg::Remote { target, path }) => {
            let list = targets(global, &containers, target, args.index, true)?;
            if list.len() > 1 {
                bail!("a tar on standard input can go to one container: give --index");
            }
            for r in list {
                let fs = Fs::Container(ContainerFs::open(&containers, &store, &r)?);
                copy::extract_to(&fs, path, std::io::stdin().lock(), opts)?;
            }
        }
        (Arg::Remote { .. }, Arg::Remote { .. }) => {
            bail!("copying between containers is not supported")
        }
        _ => bail!("must specify at least one container source (CONTAINER:PATH or SERVICE:PATH)"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_docker() {
        assert!(matches!(split("-"), Arg::Stream));
        assert!(matches!(split("/a:b"), Arg::Local("/a:b")));
        assert!(matches!(split("./a:b"), Arg::Local("./a:b")));
        assert!(matches!(split("plain"), Arg::Local("plain")));
        assert!(matches!(
            split("web:/etc/x"),
            Arg::Remote {
                target: "web",
                path: "/etc/x"
            }
        ));
        assert!(matches!(split(":x"), Arg::Local(":x")));
    }
}
