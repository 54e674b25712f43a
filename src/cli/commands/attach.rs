//! `attach`, and the foreground of `run -it` / `start -ai`: a running
//! container's output from now on, our stdin typed into it, until it
//! exits (its exit code is ours) or the detach keys are typed.

use super::common::{self, exit, fail, open};
use crate::cli::args::container::AttachArgs;
use crate::cli::resolve::{Settings, Target};
use crate::runtime::container::{ContainerRecord, ContainerState, Containers, Status};
use crate::supervise::attach::{Client, Event};
use crate::supervise::logs::{self, Follower};
use crate::supervise::start::{open_fifo, Fifo};
use crate::supervise::{control, pty, shim};
use anyhow::Context as _;
use std::io::{IsTerminal as _, Write as _};
use std::os::fd::OwnedFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Signals received here go to the container unless `--sig-proxy=false`
/// (or it has a terminal: then keys reach it as bytes, as Docker's).
pub fn attach(settings: &Settings, target: &Target, args: &AttachArgs) -> anyhow::Result<ExitCode> {
    // Refused before attaching, as Docker's engine does.
    let keys = match parse_keys(args.detach_keys.as_deref()) {
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
    if containers.state(&record.id)?.status != Status::Running {
        return Ok(fail(
            "You cannot attach to a stopped container, start it first",
            1,
        ));
    }
    let session = Session {
        containers: &containers,
        record: &record,
        from_start: false,
        keys,
        // Docker attaches stdin only to a container that keeps it open
        // (-i, `stdin_open`).
        stdin: !args.no_stdin && record.spec.stdin_open,
        sig_proxy: args.sig_proxy && !record.spec.tty,
    };
    let client = if record.spec.tty {
        Client::connect(containers.run_root(), &record.id).ok()
    } else {
        None
    };
    Ok(match session.run(client)? {
        Ended::Exited(code) => exit(code),
        Ended::Detached => {
            eprintln!("{}", pty::DETACHED_MESSAGE);
            exit(DETACHED_EXIT_CODE)
        }
    })
}

/// `docker attach` and `docker compose attach` report a detach as their
/// error "read escape sequence" and exit 1 (recorded: Docker CLI 28.2.2,
/// Compose v2.40.3, with a terminal), though the container runs on.
const DETACHED_EXIT_CODE: i32 = 1;

/// The bytes of `--detach-keys` (none or empty: Docker's default).
pub fn parse_keys(spec: Option<&str>) -> Result<Vec<u8>, pty::DetachKeysError> {
    pty::detach_keys(
        spec.filter(|k| !k.is_empty())
            .unwrap_or(pty::DEFAULT_DETACH_KEYS),
    )
}

/// How an attached session ended.
pub enum Ended {
    Exited(i32),
    /// The detach keys were typed: the container runs on.
    Detached,
}

/// The foreground of `run -it` and `start -ai` for a container with a
/// terminal: started under a detached monitor that waits for us, then
/// attached, so the detach keys leave it running as Docker's do (and of
/// `run --sig-proxy=false`: a signal that ends us leaves it running too).
/// Under `--rm` an exit returns once the monitor has removed it.
pub fn foreground(
    containers: &Containers,
    record: &ContainerRecord,
    keys: Vec<u8>,
) -> Result<Ended, control::ControlError> {
    let size = std::io::stdout()
        .is_terminal()
        .then(pty::our_window_size)
        .flatten();
    let client = control::start_attached(containers, &record.id, size)?;
    let session = Session {
        containers,
        record,
        from_start: true,
        keys,
        stdin: record.spec.stdin_open,
        sig_proxy: false,
    };
    let ended = session
        .run(Some(client))
        .map_err(|e| control::ControlError::StartFailed {
            code: 125,
            message: format!("{e:#}"),
        })?;
    if let (Ended::Exited(_), true) = (&ended, record.auto_remove) {
        // Docker's `run --rm` returns once the container is gone.
        let deadline = std::time::Instant::now() + REMOVAL_WAIT;
        while containers.record(&record.id).is_ok() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(ended)
}

/// How long `run --rm` waits for the monitor to remove what exited.
const REMOVAL_WAIT: Duration = Duration::from_secs(30);

/// How often an attached session looks at the container's state.
const TICK: Duration = Duration::from_millis(20);

struct Session<'a> {
    containers: &'a Containers,
    record: &'a ContainerRecord,
    /// Its log from the first line (a container we started), not only
    /// what comes after we attached.
    from_start: bool,
    keys: Vec<u8>,
    stdin: bool,
    sig_proxy: bool,
}

/// What the reader of the attach socket saw last.
#[derive(Clone, Copy)]
enum Heard {
    Nothing,
    Exited(i32),
    /// The monitor went away (killed): its successor listens again.
    Lost,
}

impl Session<'_> {
    /// Output comes from the monitor's attach socket (`client`: a
    /// terminal's, byte for byte) or else from the log, line by line.
    fn run(self, client: Option<Client>) -> anyhow::Result<Ended> {
        let id = &self.record.id;
        let state = self.containers.state(id)?;
        let (detached, master, raw) = if self.stdin {
            let (d, m, r) = attach_input(self.record, &state, self.containers, self.keys)?;
            (Some(d), m, r)
        } else {
            (None, None, None)
        };
        if self.sig_proxy {
            proxy_signals(self.containers, id)?;
        }
        let heard = Arc::new(Mutex::new(Heard::Nothing));
        let mut reading = client.map(|c| read_socket(c, heard.clone()));
        // Without a terminal the output is the log's, whether or not the
        // monitor also tells us the exit code.
        let mut follower = (reading.is_none() || !self.record.spec.tty)
            .then(|| Follower::new(&self.containers.dir(id).log(), !self.from_start));
        let mut size = pty::our_window_size();
        let ended = loop {
            if detached.as_ref().is_some_and(|d| d.load(Ordering::SeqCst)) {
                break Ended::Detached;
            }
            let now = match heard.lock() {
                Ok(h) => *h,
                Err(_) => Heard::Lost,
            };
            match now {
                Heard::Exited(code) => {
                    // The monitor logs everything before it tells the code.
                    if let Some(f) = follower.as_mut() {
                        f.poll().iter().for_each(print_line);
                    }
                    break Ended::Exited(code);
                }
                Heard::Lost => {
                    if let Ok(h) = heard.lock().as_deref_mut() {
                        *h = Heard::Nothing;
                    }
                    reading = None;
                }
                Heard::Nothing => {}
            }
            let state = self.containers.state(id)?;
            if reading.is_none() && self.record.spec.tty {
                reading = Client::connect(self.containers.run_root(), id)
                    .ok()
                    .map(|c| read_socket(c, heard.clone()));
            }
            if let Some(f) = follower.as_mut() {
                f.poll().iter().for_each(print_line);
            }
            if reading.is_none() && !matches!(state.status, Status::Running | Status::Restarting) {
                // What it wrote last is read before its exit is reported.
                if let Some(f) = follower.as_mut() {
                    f.poll().iter().for_each(print_line);
                }
                break Ended::Exited(state.exit_code.unwrap_or(0));
            }
            // Docker's CLI follows our terminal's size (MonitorTtySize).
            if let Some(m) = &master {
                let now = pty::our_window_size();
                if now != size {
                    size = now;
                    pty::copy_window_size(m);
                }
            }
            std::thread::sleep(TICK);
        };
        // Our terminal back as it was before anything more is printed.
        drop(raw);
        Ok(ended)
    }
}

fn print_line(l: &logs::LogLine) {
    let _ = match l.stream {
        logs::Stream::Stdout => std::io::stdout().write_all(l.log.as_bytes()),
        logs::Stream::Stderr => std::io::stderr().write_all(l.log.as_bytes()),
    };
    let _ = std::io::stdout().flush();
}

/// Copies what the monitor sends to our stdout; what it heard last goes
/// to `heard`.
fn read_socket(mut client: Client, heard: Arc<Mutex<Heard>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let last = loop {
            match client.next_event() {
                Ok(Some(Event::Output(bytes))) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&bytes).and_then(|_| out.flush());
                }
                Ok(Some(Event::Exited(code))) => break Heard::Exited(code),
                Ok(None) | Err(_) => break Heard::Lost,
            }
        };
        if let Ok(mut h) = heard.lock() {
            *h = last;
        }
    })
}

/// SIGINT and SIGTERM received here go to the container.
fn proxy_signals(containers: &Containers, id: &str) -> anyhow::Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block().context("blocking SIGINT")?;
    let root = containers.root().to_path_buf();
    let id = id.to_string();
    std::thread::spawn(move || {
        let Ok(containers) = Containers::open(&root) else {
            return;
        };
        while let Ok(sig) = mask.wait() {
            let _ = control::kill(&containers, &id, sig);
        }
    });
    Ok(())
}

/// Our stdin, attached: typed into a `tty: true` container's terminal (a
/// copy of the master its shim holds; our terminal raw meanwhile, as
/// Docker's, and watched for the detach keys), or, without a terminal,
/// into the stdin FIFO a detached `-i` container reads, whole: Docker
/// looks for the keys only in a terminal's input. Input that cannot be
/// delivered is still watched for the keys, and this says so.
fn attach_input(
    record: &ContainerRecord,
    state: &ContainerState,
    containers: &Containers,
    keys: Vec<u8>,
) -> anyhow::Result<(Arc<AtomicBool>, Option<OwnedFd>, Option<pty::RawMode>)> {
    let (input, master, raw, keys) = if record.spec.tty {
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
        let copy = master.as_ref().and_then(|m| m.try_clone().ok());
        (master.map(std::fs::File::from), copy, raw, keys)
    } else {
        let fifo = crate::supervise::start::stdio_dir(containers.run_root(), &record.id)
            .join(crate::supervise::start::STDIN_NAME);
        (
            open_fifo(&fifo, Fifo::Write).ok().map(std::fs::File::from),
            None,
            None,
            Vec::new(),
        )
    };
    if input.is_none() {
        let why = if record.spec.tty {
            "no shim holds its terminal; stdin is read for the detach keys only"
        } else {
            "it was not started detached with its stdin kept open"
        };
        tracing::warn!("{}: input is not delivered ({why})", record.name);
    }
    let detached = pty::pump_input_until_detach(input, keys);
    Ok((detached, master, raw))
}
