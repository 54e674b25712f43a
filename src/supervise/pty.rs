//! Terminal plumbing for `run -t` and `exec -t`: the container's pty master
//! is copied to our stdout (and the log), our stdin to the master, with our
//! own terminal in raw mode so keys like Ctrl-C reach the container's
//! process as bytes, the way `docker run -it` behaves.

use super::logs::{LogWriter, Stream};
use nix::sys::termios::{self, SetArg, Termios};
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Puts our stdin's terminal in raw mode until dropped.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            return RawMode { saved: None };
        }
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl RawMode {
    /// Keys one at a time, unechoed, Ctrl-C as a byte, but output still
    /// processed (newlines stay newlines): for a keyboard menu beside
    /// line output, where [`RawMode::enter`] is for a container's terminal.
    pub fn keys() -> RawMode {
        use termios::{LocalFlags, SpecialCharacterIndices as C};
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            return RawMode { saved: None };
        }
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut keys = saved.clone();
        keys.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
        keys.control_chars[C::VMIN as usize] = 1;
        keys.control_chars[C::VTIME as usize] = 0;
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &keys);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Our terminal's size (rows, cols), if stdout is one.
pub fn our_window_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Gives the container's terminal our terminal's size.
pub fn copy_window_size(master: &OwnedFd) {
    if let Some((rows, cols)) = our_window_size() {
        let _ = crate::runtime::oci_cli::set_window_size(master.as_fd(), rows, cols);
    }
}

/// Copies the master's output to the log, the attach socket's clients
/// (`hub`) and (with `echo`) our stdout, until the container side closes.
pub fn pump_output(
    master: &OwnedFd,
    log: Option<Arc<Mutex<LogWriter>>>,
    hub: Option<Arc<super::attach::Hub>>,
    echo: bool,
) -> io::Result<JoinHandle<()>> {
    let mut reader = File::from(master.try_clone()?);
    Ok(std::thread::spawn(move || {
        let mut buf = [0u8; 32 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // EIO: every slave fd is closed (the process exited).
                Err(_) => break,
            };
            if let Some(log) = &log {
                if let Ok(mut l) = log.lock() {
                    let _ = l.write(Stream::Stdout, &buf[..n]);
                }
            }
            if let Some(hub) = &hub {
                hub.output(&buf[..n]);
            }
            if echo {
                let mut out = io::stdout().lock();
                let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
            }
        }
    }))
}

/// Copies our stdin into the master (no detach keys: `run -it` and
/// `exec -it` are the container's foreground).
pub fn pump_input(master: &OwnedFd) -> io::Result<()> {
    pump_input_until_detach(Some(File::from(master.try_clone()?)), Vec::new());
    Ok(())
}

/// Docker's detach sequence when none is given (`docker attach`, and the
/// engine's default for every attach).
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// What Docker prints when the detach sequence was typed.
pub const DETACHED_MESSAGE: &str = "read escape sequence";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DetachKeysError {
    /// The engine's words (moby's `term.ToBytes` names the key; the
    /// daemon answers with the whole spec).
    #[error("Invalid detach keys ({spec}) provided")]
    Unknown { spec: String, key: String },
}

/// The bytes of a `--detach-keys` spec, as moby's `term.ToBytes` reads it:
/// comma-separated keys, each one character, `ctrl-@`, `ctrl-a`…`ctrl-z`,
/// `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`, `ctrl-_` or `DEL`.
pub fn detach_keys(spec: &str) -> Result<Vec<u8>, DetachKeysError> {
    const CTRL: &[u8] = b"@abcdefghijklmnopqrstuvwxyz[\\]^_";
    spec.split(',')
        .map(|key| match key.as_bytes() {
            [one] => Ok(*one),
            b"DEL" => Ok(127),
            [b'c', b't', b'r', b'l', b'-', c] if CTRL.contains(c) => {
                Ok(CTRL.iter().position(|k| k == c).unwrap_or_default() as u8)
            }
            _ => Err(DetachKeysError::Unknown {
                spec: spec.to_string(),
                key: key.to_string(),
            }),
        })
        .collect()
}

/// Watches an input stream for the detach sequence (moby's escape proxy):
/// bytes that may start the sequence are held back; the whole sequence
/// means detach, and a partial one followed by other bytes is passed on
/// unchanged.
pub struct EscapeFilter {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeFilter {
    pub fn new(keys: Vec<u8>) -> EscapeFilter {
        EscapeFilter { keys, matched: 0 }
    }

    /// The bytes of `input` to pass on, and whether the sequence was
    /// completed (then nothing after it is passed on).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // Not the sequence after all: what was held back goes on, and
            // so does this byte (moby does not start a new match on it).
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            out.push(b);
        }
        (out, false)
    }
}

/// Copies our stdin through an [`EscapeFilter`] into `sink` (none: the
/// input is only watched for the sequence) until the sequence is typed,
/// which the returned flag then tells; stdin's end or a write error ends
/// the copy without it. The thread is left to die with the process: a
/// read from a terminal cannot be interrupted portably.
pub fn pump_input_until_detach(
    mut sink: Option<File>,
    keys: Vec<u8>,
) -> Arc<std::sync::atomic::AtomicBool> {
    let detached = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = detached.clone();
    std::thread::spawn(move || {
        let mut filter = EscapeFilter::new(keys);
        let mut buf = [0u8; 4096];
        loop {
            let n = match io::stdin().lock().read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (pass, done) = filter.feed(&buf[..n]);
            if let Some(w) = &mut sink {
                if w.write_all(&pass).is_err() {
                    break;
                }
            }
            if done {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                break;
            }
        }
    });
    detached
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_read_as_docker_reads_them() {
        assert_eq!(detach_keys(DEFAULT_DETACH_KEYS), Ok(vec![16, 17]));
        assert_eq!(
            detach_keys("ctrl-@,ctrl-a,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_"),
            Ok(vec![0, 1, 26, 27, 28, 29, 30, 31])
        );
        assert_eq!(
            detach_keys("a,Z,DEL,,"),
            Err(DetachKeysError::Unknown {
                spec: "a,Z,DEL,,".into(),
                key: String::new(),
            })
        );
        assert_eq!(detach_keys("a,Z,DEL,-"), Ok(vec![b'a', b'Z', 127, b'-']));
        for bad in ["", "foo", "ctrl-P", "ctrl-1", "ctrl-", "ctrl-a,ctrl-ab"] {
            let e = detach_keys(bad).expect_err(bad);
            assert_eq!(
                e.to_string(),
                format!("Invalid detach keys ({bad}) provided")
            );
        }
    }

    #[test]
    fn the_escape_filter_detaches_on_the_whole_sequence_only() {
        let keys = detach_keys("ctrl-p,ctrl-q").expect("keys");
        let mut f = EscapeFilter::new(keys.clone());
        assert_eq!(f.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        // Split across reads, with bytes before it passed on.
        assert_eq!(f.feed(b"x\x10"), (b"x".to_vec(), false));
        assert_eq!(f.feed(b"\x11rest"), (Vec::new(), true));
        // A partial sequence then another byte: passed on unchanged.
        let mut f = EscapeFilter::new(keys.clone());
        assert_eq!(f.feed(b"\x10"), (Vec::new(), false));
        assert_eq!(f.feed(b"a\x10"), (b"\x10a".to_vec(), false));
        assert_eq!(f.feed(b"\x11"), (Vec::new(), true));
        // One key.
        let mut f = EscapeFilter::new(vec![1]);
        assert_eq!(f.feed(b"ab\x01c"), (b"ab".to_vec(), true));
        // As moby's proxy, the byte that breaks a partial match does not
        // begin a new one: ctrl-p,ctrl-p,ctrl-q passes through.
        let mut f = EscapeFilter::new(keys);
        assert_eq!(f.feed(b"\x10\x10\x11"), (b"\x10\x10\x11".to_vec(), false));
    }
}
