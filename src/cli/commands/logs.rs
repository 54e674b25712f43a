//! `logs`: a container's output (or the project's, each line tagged with
//! its container).

use super::common::{self, exit, open, parse_tail, parse_when, select_lines, time_window};
use crate::cli::args::container::LogsArgs;
use crate::cli::render::Printer;
use crate::cli::resolve::{Project, Settings, Target};
use crate::exec::{self, ProjectContainer};
use crate::runtime::container::Status;
use crate::supervise::logs::{self, Follower};
use anyhow::bail;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// What Docker's engine answers for a log it does not keep.
const NOT_READABLE: &str = "configured logging driver does not support reading";

/// Whether the container's output is kept for `logs` (all drivers but `none`).
fn keeps_log(record: &crate::runtime::container::ContainerRecord) -> bool {
    record.spec.log_driver.as_deref() != Some("none")
}

/// A log's lines so far and a follower for the rest: `--tail N` alone
/// reads from the end; with `--since`/`--until` the tail is of what they
/// keep, so the whole log is read.
fn read_log(
    path: &std::path::Path,
    tail: Option<usize>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
) -> anyhow::Result<(Vec<logs::LogLine>, Follower)> {
    Ok(match tail {
        Some(n) if since.is_none() && until.is_none() => logs::read_tail_and_follow(path, n)?,
        _ => logs::read_and_follow(path)?,
    })
}

pub fn logs(settings: &Settings, target: &Target, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    if let Some((project, _)) = target.project() {
        if args.details {
            bail!("--details is docker logs' flag: name a container, not a compose service");
        }
        return logs_services(settings, project, args);
    }
    let [container] = args.targets.as_slice() else {
        bail!("\"wharf logs\" requires exactly 1 container (or services of a compose project)");
    };
    let (containers, _store) = open(settings)?;
    let record = containers.find(container)?;
    if !keeps_log(&record) {
        eprintln!("Error response from daemon: {NOT_READABLE}");
        return Ok(exit(1));
    }
    let path = containers.dir(&record.id).log();
    let tail = parse_tail(&args.tail)?;
    let print = |l: &logs::LogLine| {
        use std::io::Write as _;
        // Docker: the timestamp, then the attributes and a space (no
        // attributes here: the line starts with the space).
        let details = if args.details { " " } else { "" };
        let text = if args.timestamps {
            format!("{} {details}{}", l.time, l.log)
        } else {
            format!("{details}{}", l.log)
        };
        let _ = match l.stream {
            logs::Stream::Stdout => std::io::stdout().write_all(text.as_bytes()),
            logs::Stream::Stderr => std::io::stderr().write_all(text.as_bytes()),
        };
    };
    let (since, until) = time_window(args.since.as_deref(), args.until.as_deref(), parse_when)?;
    let (lines, mut follower) = read_log(&path, tail, since, until)?;
    select_lines(lines, since, until, tail)
        .iter()
        .for_each(print);
    if args.follow {
        loop {
            let running = matches!(
                containers.state(&record.id)?.status,
                Status::Running | Status::Paused
            );
            select_lines(follower.poll(), since, until, None)
                .iter()
                .for_each(print);
            if !running || until.is_some_and(|u| SystemTime::now() >= u) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `logs [SERVICE…]` for a project: every container's lines with the
/// service prefix; `-f` follows until interrupted.
fn logs_services(settings: &Settings, sel: &Project, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let env = common::env(settings)?;
    let list: Vec<ProjectContainer> = exec::project_containers(&env.containers, sel.name())?
        .into_iter()
        .filter(|c| args.targets.is_empty() || args.targets.contains(&c.service))
        .filter(|c| args.index.is_none_or(|i| c.number == i))
        // Compose warns about such a container and goes on with the others.
        .filter(|c| {
            let kept = keeps_log(&c.record);
            if !kept {
                tracing::warn!(
                    "Can't retrieve logs for {:?}: Error response from daemon: {NOT_READABLE}",
                    c.record.name
                );
            }
            kept
        })
        .collect();
    let printer = Printer::new(
        &list,
        sel.name(),
        settings.colors(args.no_color),
        args.no_log_prefix,
        args.timestamps,
    );
    let tail = parse_tail(&args.tail)?;
    let (since, until) = time_window(args.since.as_deref(), args.until.as_deref(), parse_when)?;
    let mut followers: Vec<Follower> = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let path = env.containers.dir(&c.record.id).log();
        let (lines, follower) = read_log(&path, tail, since, until)?;
        followers.push(follower);
        for l in &select_lines(lines, since, until, tail) {
            printer.line(i, l);
        }
    }
    if args.follow {
        loop {
            let mut any_running = false;
            for (i, c) in list.iter().enumerate() {
                for l in &select_lines(followers[i].poll(), since, until, None) {
                    printer.line(i, l);
                }
                any_running |= matches!(
                    env.containers.state(&c.record.id)?.status,
                    Status::Running | Status::Paused
                );
            }
            if !any_running || until.is_some_and(|u| std::time::SystemTime::now() >= u) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(ExitCode::SUCCESS)
}
