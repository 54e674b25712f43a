//! The attach socket of a `tty: true` container (and of one a `run
//! --sig-proxy=false` follows). Its monitor copies the terminal's output
//! to every client (`attach`, a foreground `run -it`) as it comes, byte
//! for byte, and tells them the exit code. The log
//! cannot serve them: it keeps whole lines, so a shell's prompt or the
//! echo of a typed key would wait there for a newline. Input does not go
//! through here: clients type into a copy of the pty master the shim
//! holds ([`super::shim::held_pty`]).
//!
//! Frames: one kind byte, a big-endian u32 length, the payload.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

const OUTPUT: u8 = 0;
const EXIT: u8 = 1;

/// A client that reads no more for this long is dropped: a stalled
/// reader must not stall the container's output (nor its log).
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the monitor of container `id` listens; in the short run root,
/// as a socket path must fit a sockaddr_un.
pub fn socket_path(run_root: &Path, id: &str) -> PathBuf {
    run_root.join(format!("{}.attach", &id[..id.len().min(12)]))
}

/// The environment variable that makes a detached monitor wait for its
/// first client before it starts the container (a `run -it` that must
/// not miss the first prompt): `ROWSxCOLS`, the starter's terminal size
/// the container's gets first, or `-` when it has none. The shim drops it
/// for monitors it starts again.
pub const WAIT_ENV: &str = "WHARF_ATTACH_WAIT";

/// The value of [`WAIT_ENV`] for a starter whose terminal is `size`.
pub fn wait_value(size: Option<(u16, u16)>) -> String {
    match size {
        Some((rows, cols)) => format!("{rows}x{cols}"),
        None => "-".to_string(),
    }
}

fn parse_size(value: &str) -> Option<(u16, u16)> {
    let (rows, cols) = value.split_once('x')?;
    Some((rows.parse().ok()?, cols.parse().ok()?))
}

/// The monitor's side: the clients of this process's container.
pub struct Hub {
    path: PathBuf,
    clients: Mutex<Vec<UnixStream>>,
    joined: Condvar,
}

static HUB: OnceLock<Option<Arc<Hub>>> = OnceLock::new();
static WAITED: AtomicBool = AtomicBool::new(false);

impl Hub {
    /// This monitor's hub, listening from the first call on (one monitor
    /// process supervises one container). `None` when the socket cannot
    /// be made: `attach` then follows the log, as before.
    pub fn get(run_root: &Path, id: &str) -> Option<Arc<Hub>> {
        HUB.get_or_init(|| {
            let path = socket_path(run_root, id);
            match Hub::listen(&path) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!("attach socket {}: {e}", path.display());
                    None
                }
            }
        })
        .clone()
    }

    /// The hub, if this process made one.
    pub fn current() -> Option<Arc<Hub>> {
        HUB.get().cloned().flatten()
    }

    fn listen(path: &Path) -> io::Result<Arc<Hub>> {
        // A monitor that was killed left its socket behind.
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        let hub = Arc::new(Hub {
            path: path.to_path_buf(),
            clients: Mutex::new(Vec::new()),
            joined: Condvar::new(),
        });
        let accepting = hub.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
                if let Ok(mut c) = accepting.clients.lock() {
                    c.push(stream);
                    accepting.joined.notify_all();
                }
            }
        });
        Ok(hub)
    }

    /// Once per monitor, when its starter asked ([`WAIT_ENV`]): waits for
    /// the first client, `timeout` at most, so that it sees the container's
    /// output from its first byte on.
    pub fn wait_for_first_client(&self, master: Option<&OwnedFd>, timeout: Duration) {
        let Some(value) = std::env::var(WAIT_ENV).ok() else {
            return;
        };
        if WAITED.swap(true, Ordering::SeqCst) {
            return;
        }
        if let (Some(master), Some((rows, cols))) = (master, parse_size(&value)) {
            let _ = crate::runtime::oci_cli::set_window_size(master.as_fd(), rows, cols);
        }
        let deadline = Instant::now() + timeout;
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        while clients.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!("nobody attached to {} in time", self.path.display());
                return;
            }
            clients = match self.joined.wait_timeout(clients, left) {
                Ok((c, _)) => c,
                Err(_) => return,
            };
        }
    }

    /// Terminal output, to every client.
    pub fn output(&self, bytes: &[u8]) {
        self.send(OUTPUT, bytes, false);
    }

    /// The container exited with `code`: every client is told and let go
    /// (a restart policy's next run gets the clients that attach then).
    pub fn exited(&self, code: i32) {
        self.send(EXIT, &code.to_be_bytes(), true);
    }

    fn send(&self, kind: u8, payload: &[u8], last: bool) {
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        if clients.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(5 + payload.len());
        frame.push(kind);
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(payload);
        clients.retain_mut(|c| c.write_all(&frame).is_ok());
        if last {
            clients.clear();
        }
    }

    /// Removes the socket: the monitor is done.
    pub fn close(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What a client hears.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Output(Vec<u8>),
    Exited(i32),
}

/// The client's side: a connection to a container's monitor.
pub struct Client {
    stream: UnixStream,
}

impl Client {
    pub fn connect(run_root: &Path, id: &str) -> io::Result<Client> {
        UnixStream::connect(socket_path(run_root, id)).map(|stream| Client { stream })
    }

    /// The next event; `None` when the monitor went away without a word
    /// (killed: its successor listens again).
    pub fn next_event(&mut self) -> io::Result<Option<Event>> {
        let mut head = [0u8; 5];
        match self.stream.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut payload = vec![0u8; len];
        match self.stream.read_exact(&mut payload) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        Ok(match head[0] {
            EXIT if len == 4 => Some(Event::Exited(i32::from_be_bytes([
                payload[0], payload[1], payload[2], payload[3],
            ]))),
            _ => Some(Event::Output(payload)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_get_output_then_the_exit_code() {
        let dir = tempfile::tempdir().expect("tmp");
        let id = "0123456789abcdef";
        let hub = Hub::listen(&socket_path(dir.path(), id)).expect("listen");
        let mut a = Client::connect(dir.path(), id).expect("connect");
        let mut b = Client::connect(dir.path(), id).expect("connect");
        // Accepting is another thread's: wait until both are in.
        let deadline = Instant::now() + Duration::from_secs(10);
        while hub.clients.lock().expect("lock").len() < 2 {
            assert!(Instant::now() < deadline, "clients never accepted");
            std::thread::sleep(Duration::from_millis(5));
        }
        hub.output(b"/ # ");
        hub.exited(130);
        for c in [&mut a, &mut b] {
            assert_eq!(
                c.next_event().expect("read"),
                Some(Event::Output(b"/ # ".to_vec()))
            );
            assert_eq!(c.next_event().expect("read"), Some(Event::Exited(130)));
            // Let go after the exit.
            assert_eq!(c.next_event().expect("read"), None);
        }
        hub.close();
        assert!(!socket_path(dir.path(), id).exists());
    }

    #[test]
    fn the_starters_terminal_size_travels_in_the_wait_value() {
        assert_eq!(parse_size(&wait_value(Some((40, 132)))), Some((40, 132)));
        assert_eq!(parse_size(&wait_value(None)), None);
    }
}
