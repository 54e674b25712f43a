//! A terminal for the tests that type into wharf as a user does (`exec`
//! and `attach` from a terminal): a pty pair whose output is collected.
//!
//! Include it with `#[path = "support/pty.rs"] mod pty;`.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pty pair a test drives `wharf exec`/`attach` through, like a user's terminal.
pub struct Pty {
    master: std::fs::File,
    slave: Option<std::os::fd::OwnedFd>,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Pty {
    pub fn open(rows: u16, cols: u16) -> Pty {
        let pair = nix::pty::openpty(None, None).expect("openpty");
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the struct we pass.
        let rc = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&pair.slave),
                libc::TIOCSWINSZ,
                &ws,
            )
        };
        assert_eq!(rc, 0, "TIOCSWINSZ");
        let master = std::fs::File::from(pair.master);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut reader = master.try_clone().expect("clone master");
        let sink = seen.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            // EIO once every slave fd is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Pty {
            master,
            slave: Some(pair.slave),
            seen,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.master.write_all(bytes).expect("write to pty");
    }

    /// Waits until the output has `what` after the first `from` bytes;
    /// returns where it ends.
    pub fn expect(&self, what: &str, from: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let text = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
            if let Some(i) = text.get(from..).and_then(|t| t.find(what)) {
                return from + i + what.len();
            }
            assert!(Instant::now() < deadline, "no {what:?} in {text:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts `cmd` with the slave as its stdin, stdout, stderr and
    /// controlling terminal, as a shell would; only the child holds the
    /// slave afterwards.
    pub fn spawn(&mut self, mut cmd: Command) -> Child {
        use std::os::unix::process::CommandExt;
        let slave = self.slave.take().expect("slave");
        let dup = || Stdio::from(slave.try_clone().expect("dup slave"));
        cmd.stdin(dup()).stdout(dup()).stderr(dup());
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe; the slave is fd 0.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        cmd.spawn().expect("spawn through the pty")
    }

    /// Everything read from the terminal so far.
    pub fn seen(&self) -> String {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits for `child` to end (killed, and the test failed, after
    /// `within`), showing what the terminal saw if it does not.
    pub fn wait(&self, child: &mut Child, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = child.try_wait().expect("wait child") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the command did not end; the terminal saw {:?}",
                    self.seen()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
