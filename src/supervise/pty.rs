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

/// Copies the master's output to the log and (with `echo`) our stdout,
/// until the container side closes.
pub fn pump_output(
    master: &OwnedFd,
    log: Option<Arc<Mutex<LogWriter>>>,
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
            if echo {
                let mut out = io::stdout().lock();
                let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
            }
        }
    }))
}

/// Copies our stdin into the master. The thread is left to die with the
/// process: a read from a terminal cannot be interrupted portably.
pub fn pump_input(master: &OwnedFd) -> io::Result<()> {
    let mut writer = File::from(master.try_clone()?);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match io::stdin().lock().read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if writer.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    });
    Ok(())
}
