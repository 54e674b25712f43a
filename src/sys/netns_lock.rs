//! A lock held per network namespace: an abstract unix socket's name can
//! be bound by one socket at a time in a namespace, and it goes with the
//! process that holds it (no file to leave behind, none to clean after a
//! kill). Two data roots in one namespace pick subnets from the same
//! routes, so picking and claiming one is done under this lock.

use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::time::{Duration, Instant};

/// Held until dropped.
#[derive(Debug)]
pub struct NetnsLock {
    _socket: UnixListener,
}

/// Takes the lock `name` of this network namespace, waiting up to
/// `timeout` for whoever holds it.
pub fn lock(name: &str, timeout: Duration) -> io::Result<NetnsLock> {
    let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    let deadline = Instant::now() + timeout;
    loop {
        match UnixListener::bind_addr(&addr) {
            Ok(socket) => return Ok(NetnsLock { _socket: socket }),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("waited {timeout:?} for another wharf holding the lock {name:?} of this network namespace"),
                ))
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let name = format!("wharf-test-lock-{}", std::process::id());
        let first = lock(&name, Duration::from_secs(1)).unwrap();
        let err = lock(&name, Duration::from_millis(50)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
        });
        lock(&name, Duration::from_secs(5)).unwrap();
        released.join().unwrap();
    }
}
