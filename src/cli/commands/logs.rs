//! `logs` and `attach`: a container's output (or the project's, each line
//! tagged with its container).

use super::common::{self, exit, fail, open, parse_tail, parse_when, select_lines, time_window};
use crate::cli::args::container::{AttachArgs, LogsArgs};
use crate::cli::render::Printer;
use crate::cli::resolve::{Project, Settings, Target};
use crate::exec::{self, ProjectContainer};
use crate::runtime::container::{ContainerRecord, ContainerState, Containers, Status};
use crate::supervise::logs::{self, Follower};
use crate::supervise::{control, pty, shim};
use anyhow::{bail, Context as _};
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
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

/// `attach`: the output of a running container (or a service's) from
/// now on, until it exits; its exit code is ours. Signals received here
/// go to the container unless `--sig-proxy=false`.
pub fn attach(settings: &Settings, target: &Target, args: &AttachArgs) -> anyhow::Result<ExitCode> {
    // Refused before attaching, as Docker's engine does; an empty spec is
    // the default one.
    let spec = args
        .detach_keys
        .as_deref()
        .filter(|k| !k.is_empty())
        .unwrap_or(pty::DEFAULT_DETACH_KEYS);
    let keys = match pty::detach_keys(spec) {
        Ok(k) => k,
        Err(e) => return Ok(fail(e, 1)),
    };
    let (containers, _) = open(settings)?;
    let record = match target.project() {
        Some((sel, _)) => {
            let env = common::env(settings)?;
            match common::running_container(&env, sel, &args.container, args.index)? {
                Ok(c) => c.record,
                Err(msg) => return Ok(fail(msg, 1)),
            }
        }
        None => match containers.find(&args.container) {
            Ok(r) => r,
            Err(e) => return Ok(fail(e, 1)),
        },
    };
    let state = containers.state(&record.id)?;
    if state.status != Status::Running {
        return Ok(fail(
            "You cannot attach to a stopped container, start it first",
            1,
        ));
    }
    // Docker attaches stdin only to a container that keeps it open (-i,
    // `stdin_open`), and reads the detach keys from it.
    let input = if !args.no_stdin && record.spec.stdin_open {
        let fifo = crate::supervise::start::stdio_dir(containers.run_root(), &record.id)
            .join(crate::supervise::start::STDIN_NAME);
        Some(attach_input(&record, &state, &fifo, keys)?)
    } else {
        None
    };
    let mut follower = logs::Follower::new(&containers.dir(&record.id).log(), true);
    if args.sig_proxy {
        use nix::sys::signal::{SigSet, Signal};
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGTERM);
        mask.thread_block().context("blocking SIGINT")?;
        let root = settings.root().to_path_buf();
        let id = record.id.clone();
        std::thread::spawn(move || {
            let Ok(containers) = Containers::open(&root) else {
                return;
            };
            while let Ok(sig) = mask.wait() {
                let _ = control::kill(&containers, &id, sig);
            }
        });
    }
    let print = |l: &logs::LogLine| {
        use std::io::Write as _;
        let _ = match l.stream {
            logs::Stream::Stdout => std::io::stdout().write_all(l.log.as_bytes()),
            logs::Stream::Stderr => std::io::stderr().write_all(l.log.as_bytes()),
        };
        let _ = std::io::stdout().flush();
    };
    loop {
        let state = containers.state(&record.id)?;
        follower.poll().iter().for_each(print);
        let detached = input
            .as_ref()
            .is_some_and(|(d, _)| d.load(std::sync::atomic::Ordering::SeqCst));
        if detached {
            return Ok(detach(input));
        }
        if !matches!(state.status, Status::Running | Status::Restarting) {
            // What it wrote last is read before its exit is reported.
            follower.poll().iter().for_each(print);
            return Ok(exit(state.exit_code.unwrap_or(0)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `docker attach` and `docker compose attach` report a detach as their
/// error "read escape sequence" and exit 1 (recorded: Docker CLI 28.2.2,
/// Compose v2.40.3, with a terminal), though the container runs on.
const DETACHED_EXIT_CODE: i32 = 1;

/// Our terminal back as it was, and Docker's word for a detach; the
/// container runs on.
fn detach(input: Option<(Arc<AtomicBool>, Option<pty::RawMode>)>) -> ExitCode {
    drop(input);
    eprintln!("{}", pty::DETACHED_MESSAGE);
    exit(DETACHED_EXIT_CODE)
}

/// Our stdin, attached: typed into a `tty: true` container's terminal
/// (a copy of the master its shim holds; our terminal raw meanwhile, as
/// Docker's), or, without a terminal, into the stdin FIFO a detached `-i`
/// container reads (`stdin_fifo`); input that cannot be delivered is
/// still watched for the detach keys, and this says so.
fn attach_input(
    record: &ContainerRecord,
    state: &ContainerState,
    fifo: &std::path::Path,
    keys: Vec<u8>,
) -> anyhow::Result<(Arc<AtomicBool>, Option<pty::RawMode>)> {
    let (input, raw) = if record.spec.tty {
        let master = match state.shim_pid {
            Some(pid) => shim::held_pty(pid, state.shim_start)
                .with_context(|| format!("taking the terminal of {} from its shim", record.name))?,
            None => None,
        };
        let raw = master.as_ref().map(|m| {
            if std::io::stdout().is_terminal() {
                pty::copy_window_size(m);
            }
            pty::RawMode::enter()
        });
        (master.map(std::fs::File::from), raw)
    } else {
        (open_stdin_fifo(fifo), None)
    };
    if input.is_none() {
        let why = if record.spec.tty {
            "no shim holds its terminal"
        } else {
            "it was not started detached with its stdin kept open"
        };
        tracing::warn!(
            "{}: input is not delivered ({why}); stdin is read for the detach keys only",
            record.name
        );
    }
    let detached = pty::pump_input_until_detach(input, keys);
    Ok((detached, raw))
}

/// The writing end of a container's stdin FIFO, or `None` when it has
/// none (started attached, or by an older wharf). Opened without waiting:
/// the container holds the reading end.
fn open_stdin_fifo(path: &std::path::Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    // Blocking again for the pump: a full FIFO waits for the container.
    let flags = nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_GETFL).ok()?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) & !nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFL(flags)).ok()?;
    Some(file)
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
