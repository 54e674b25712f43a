//! The userland half of published ports: threads that accept on the
//! reserved host socket and carry the bytes to the container. TCP is moved
//! with `splice(2)` through a pipe (no copy into user space); UDP keeps one
//! connected upstream socket per client, dropped after an idle timeout as
//! docker-proxy does.

use super::Reserved;
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// docker-proxy's UDP flow timeout.
const UDP_IDLE: Duration = Duration::from_secs(90);
/// How often UDP loops look at the stop flag.
const TICK: Duration = Duration::from_millis(200);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One running proxy; [`Proxy::stop`] (or drop) ends it and every
/// connection it carries.
pub(super) struct Proxy {
    stop: Arc<AtomicBool>,
    /// The listening socket, to wake a blocked `accept` with `shutdown`.
    listener_fd: Option<RawFd>,
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    pub(super) fn start(socket: Reserved, target: SocketAddr) -> io::Result<Proxy> {
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(HashMap::new()));
        let (listener_fd, thread) = match socket {
            Reserved::Tcp(l) => {
                let fd = l.as_raw_fd();
                let (stop2, conns2) = (stop.clone(), conns.clone());
                let t = std::thread::Builder::new()
                    .name("port-proxy-tcp".into())
                    .spawn(move || tcp_accept_loop(l, target, stop2, conns2))?;
                (Some(fd), t)
            }
            Reserved::Udp(s) => {
                s.set_read_timeout(Some(TICK))?;
                let stop2 = stop.clone();
                let t = std::thread::Builder::new()
                    .name("port-proxy-udp".into())
                    .spawn(move || udp_loop(s, target, stop2))?;
                (None, t)
            }
        };
        Ok(Proxy {
            stop,
            listener_fd,
            conns,
            thread: Some(thread),
        })
    }

    pub(super) fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(fd) = self.listener_fd.take() {
            // SAFETY: the listener is owned by the accept thread, which is
            // still running (joined below), so the descriptor is open.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
        if let Ok(conns) = self.conns.lock() {
            for c in conns.values() {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn tcp_accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
) {
    let next = AtomicU64::new(0);
    loop {
        let client = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let client = match client {
            Ok((c, _)) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("port proxy for {target}: accept: {e}");
                // A persistent error (EMFILE) must not spin the CPU.
                std::thread::sleep(TICK);
                continue;
            }
        };
        let id = next.fetch_add(1, Ordering::Relaxed);
        let conns = conns.clone();
        let spawned = std::thread::Builder::new()
            .name("port-proxy-conn".into())
            .spawn(move || tcp_connection(client, target, id, conns));
        if let Err(e) = spawned {
            tracing::warn!("port proxy for {target}: {e}");
        }
    }
}

fn tcp_connection(
    client: TcpStream,
    target: SocketAddr,
    id: u64,
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
) {
    let upstream = match TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) {
        Ok(u) => u,
        Err(e) => {
            tracing::debug!("port proxy: connecting to {target}: {e}");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    if let Ok(mut map) = conns.lock() {
        if let (Ok(c3), Ok(u3)) = (client.try_clone(), upstream.try_clone()) {
            map.insert(id * 2, c3);
            map.insert(id * 2 + 1, u3);
        }
    }
    let back = std::thread::Builder::new()
        .name("port-proxy-conn".into())
        .spawn(move || pump(&u2, &c2));
    pump(&client, &upstream);
    if let Ok(t) = back {
        let _ = t.join();
    }
    if let Ok(mut map) = conns.lock() {
        map.remove(&(id * 2));
        map.remove(&(id * 2 + 1));
    }
}

/// Moves bytes from `from` to `to` until EOF, then half-closes `to` so the
/// other side sees the end too.
fn pump(from: &TcpStream, to: &TcpStream) {
    if let Err(e) = splice_all(from, to) {
        tracing::debug!("port proxy: {e}");
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
        return;
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn splice_all(from: &TcpStream, to: &TcpStream) -> io::Result<()> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these two descriptors; we own them.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // A bigger pipe moves more per call (fewer wake-ups); failure is harmless.
    // SAFETY: plain fcntl on a descriptor we own.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
    let chunk = 1 << 20;
    loop {
        let n = splice(from.as_raw_fd(), w.as_raw_fd(), chunk)?;
        if n == 0 {
            return Ok(());
        }
        let mut left = n;
        while left > 0 {
            let m = splice(r.as_raw_fd(), to.as_raw_fd(), left)?;
            if m == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero));
            }
            left -= m;
        }
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: both descriptors are open for the duration of the call;
        // null offsets are allowed for sockets and pipes.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

struct Flow {
    upstream: Arc<UdpSocket>,
    done: Arc<AtomicBool>,
}

fn udp_loop(host: UdpSocket, target: SocketAddr, stop: Arc<AtomicBool>) {
    let host = Arc::new(host);
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        flows.retain(|_, f| !f.done.load(Ordering::SeqCst));
        let (n, client) = match host.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::debug!("port proxy for {target}: {e}");
                std::thread::sleep(TICK);
                continue;
            }
        };
        let flow = match flows.entry(client) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                match new_flow(&host, client, target, stop.clone()) {
                    Ok(f) => e.insert(f),
                    Err(err) => {
                        tracing::debug!("port proxy for {target}: {err}");
                        continue;
                    }
                }
            }
        };
        // A refused datagram (nothing listening yet) is the client's
        // problem, as with a direct send.
        let _ = flow.upstream.send(&buf[..n]);
    }
    for f in flows.values() {
        f.done.store(true, Ordering::SeqCst);
    }
}

fn new_flow(
    host: &Arc<UdpSocket>,
    client: SocketAddr,
    target: SocketAddr,
    stop: Arc<AtomicBool>,
) -> io::Result<Flow> {
    let local: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().map_err(io::Error::other)?
    } else {
        "[::]:0".parse().map_err(io::Error::other)?
    };
    let upstream = UdpSocket::bind(local)?;
    upstream.connect(target)?;
    upstream.set_read_timeout(Some(TICK))?;
    let upstream = Arc::new(upstream);
    let done = Arc::new(AtomicBool::new(false));
    let (up, host, done2) = (upstream.clone(), host.clone(), done.clone());
    std::thread::Builder::new()
        .name("port-proxy-udp-flow".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut last = Instant::now();
            while !stop.load(Ordering::SeqCst) && !done2.load(Ordering::SeqCst) {
                match up.recv(&mut buf) {
                    Ok(n) => {
                        last = Instant::now();
                        let _ = host.send_to(&buf[..n], client);
                    }
                    Err(_) if last.elapsed() > UDP_IDLE => break,
                    Err(_) => {}
                }
            }
            done2.store(true, Ordering::SeqCst);
        })?;
    Ok(Flow { upstream, done })
}
