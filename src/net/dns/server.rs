//! The resolver's sockets and threads: one thread polls the UDP socket, the
//! TCP listener and a wake-up socket; forwarded UDP queries and TCP
//! connections get short-lived worker threads, all scoped to the poll
//! thread so that joining it joins every one of them.

use super::answer::{self, Incoming, Policy};
use super::forward::{self, read_framed, write_framed, SLICE};
use super::records::Records;
use super::{DnsError, ResolverConfig};
use hickory_proto::op::ResponseCode;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{setns, CloneFlags};
use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

/// Concurrent forwarded queries plus open TCP connections, as Docker's
/// `maxConcurrent`: beyond it queries are REFUSED rather than piling up
/// threads.
const MAX_INFLIGHT: usize = 100;

/// An idle TCP client is dropped after this long.
const TCP_IDLE: Duration = Duration::from_secs(10);

pub(crate) struct Shared {
    records: Records,
    upstreams: Vec<SocketAddr>,
    search: Vec<String>,
    ndots_set: bool,
    links: Vec<(String, String)>,
    stop: AtomicBool,
    inflight: AtomicUsize,
}

impl Shared {
    fn policy(&self) -> Policy<'_> {
        Policy {
            search: &self.search,
            ndots_set: self.ndots_set,
            links: &self.links,
            has_upstreams: !self.upstreams.is_empty(),
        }
    }
}

/// A running resolver; see [`super::ResolverHandle`].
pub(crate) struct Running {
    shared: Arc<Shared>,
    wake: UnixStream,
    thread: Option<JoinHandle<()>>,
    pub(crate) local: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the poll; workers notice `stop` within one SLICE.
        let _ = self.wake.write_all(&[1]);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::warn!("dns: resolver thread panicked");
            }
        }
    }
}

pub(crate) fn start(cfg: ResolverConfig) -> Result<Running, DnsError> {
    let (udp, tcp) = match &cfg.netns {
        None => bind_pair(cfg.listen).map_err(|source| DnsError::Bind {
            addr: cfg.listen,
            netns: None,
            source,
        })?,
        Some(path) => {
            in_netns(path, || bind_pair(cfg.listen))?.map_err(|source| DnsError::Bind {
                addr: cfg.listen,
                netns: Some(path.clone()),
                source,
            })?
        }
    };
    let local = udp.local_addr().map_err(|source| DnsError::Bind {
        addr: cfg.listen,
        netns: cfg.netns.clone(),
        source,
    })?;
    let mut upstreams = cfg.upstreams;
    if cfg.netns.is_none() {
        // Forwarding to ourselves would loop until every worker is busy.
        upstreams.retain(|u| *u != local);
    }
    let shared = Arc::new(Shared {
        records: Records::new(cfg.root, cfg.networks).following(cfg.follow),
        upstreams,
        search: cfg.search,
        ndots_set: cfg.ndots_set,
        links: cfg.links,
        stop: AtomicBool::new(false),
        inflight: AtomicUsize::new(0),
    });
    let (wake, wake_rx) = UnixStream::pair().map_err(|source| DnsError::Thread { source })?;
    for s in [&udp as &dyn SetNonblocking, &tcp, &wake_rx] {
        s.nonblocking()
            .map_err(|source| DnsError::Thread { source })?;
    }
    let sh = shared.clone();
    let thread = thread::Builder::new()
        .name("wharf-dns".into())
        .spawn(move || serve(&sh, &udp, &tcp, &wake_rx))
        .map_err(|source| DnsError::Thread { source })?;
    Ok(Running {
        shared,
        wake,
        thread: Some(thread),
        local,
    })
}

trait SetNonblocking {
    fn nonblocking(&self) -> io::Result<()>;
}
impl SetNonblocking for UdpSocket {
    fn nonblocking(&self) -> io::Result<()> {
        self.set_nonblocking(true)
    }
}
impl SetNonblocking for TcpListener {
    fn nonblocking(&self) -> io::Result<()> {
        self.set_nonblocking(true)
    }
}
impl SetNonblocking for UnixStream {
    fn nonblocking(&self) -> io::Result<()> {
        self.set_nonblocking(true)
    }
}

/// Runs `f` on a thread that has joined the network namespace at `path`;
/// sockets it creates stay in that namespace after the thread exits. The
/// calling thread's namespace is untouched. (A private stand-in for
/// netcore's `net::netns::in_netns`, to be folded into it.)
fn in_netns<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T, DnsError> {
    let ns = File::open(path).map_err(|source| DnsError::OpenNetns {
        path: path.to_path_buf(),
        source,
    })?;
    thread::scope(|s| {
        let worker = thread::Builder::new()
            .name("wharf-dns-ns".into())
            .spawn_scoped(s, || {
                setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|source| DnsError::EnterNetns {
                        path: path.to_path_buf(),
                        source,
                    })
                    .map(|()| f())
            })
            .map_err(|source| DnsError::Thread { source })?;
        worker.join().map_err(|_| DnsError::Thread {
            source: io::Error::other("namespace thread panicked"),
        })?
    })
}

/// Binds UDP and TCP on the same address. With port 0, the TCP listener
/// takes the port the kernel gave the UDP socket (retried if taken).
fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    if addr.port() != 0 {
        return Ok((UdpSocket::bind(addr)?, TcpListener::bind(addr)?));
    }
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for _ in 0..16 {
        let udp = UdpSocket::bind(addr)?;
        match TcpListener::bind(udp.local_addr()?) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn serve(shared: &Shared, udp: &UdpSocket, tcp: &TcpListener, wake: &UnixStream) {
    thread::scope(|s| {
        let mut buf = vec![0u8; 65_535];
        // Workers are joined, not just awaited by the scope: a joined thread
        // is gone from the process when the handle's drop returns.
        let mut workers: Vec<ScopedJoinHandle<'_, ()>> = Vec::new();
        while !shared.stop.load(Ordering::SeqCst) {
            reap(&mut workers, false);
            let mut fds = [
                PollFd::new(udp.as_fd(), PollFlags::POLLIN),
                PollFd::new(tcp.as_fd(), PollFlags::POLLIN),
                PollFd::new(wake.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!("dns: poll failed, resolver stops: {e}");
                    break;
                }
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            if ready[2] {
                break;
            }
            if ready[0] {
                loop {
                    match udp.recv_from(&mut buf) {
                        Ok((n, peer)) => workers.extend(on_udp(s, shared, udp, &buf[..n], peer)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // ICMP errors from earlier replies surface here.
                        Err(e) => {
                            tracing::debug!("dns: udp receive: {e}");
                            break;
                        }
                    }
                }
            }
            if ready[1] {
                loop {
                    match tcp.accept() {
                        Ok((stream, _)) => workers.extend(on_tcp(s, shared, stream)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            tracing::debug!("dns: tcp accept: {e}");
                            break;
                        }
                    }
                }
            }
        }
        shared.stop.store(true, Ordering::SeqCst);
        reap(&mut workers, true);
    });
}

/// Joins the workers that have finished (all of them when `all`).
fn reap(workers: &mut Vec<ScopedJoinHandle<'_, ()>>, all: bool) {
    let mut i = 0;
    while i < workers.len() {
        if all || workers[i].is_finished() {
            if workers.swap_remove(i).join().is_err() {
                tracing::warn!("dns: a worker thread panicked");
            }
        } else {
            i += 1;
        }
    }
}

/// Counts one forwarded query or TCP connection while it lives.
struct Inflight<'a>(&'a AtomicUsize);

impl<'a> Inflight<'a> {
    fn take(counter: &'a AtomicUsize) -> Option<Inflight<'a>> {
        if counter.fetch_add(1, Ordering::SeqCst) >= MAX_INFLIGHT {
            counter.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Inflight(counter))
    }
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn on_udp<'s, 'e>(
    s: &'s Scope<'s, 'e>,
    shared: &'s Shared,
    udp: &UdpSocket,
    raw: &[u8],
    peer: SocketAddr,
) -> Option<ScopedJoinHandle<'s, ()>> {
    let (query, max) = match answer::incoming(raw, &shared.records, &shared.policy(), false) {
        Incoming::Ignore => return None,
        Incoming::Malformed(reply) => {
            send_udp(udp, reply, peer);
            return None;
        }
        Incoming::Reply(bytes) => {
            send_udp(udp, Some(bytes), peer);
            return None;
        }
        Incoming::Forward { query, max } => (query, max),
    };
    let Some(slot) = Inflight::take(&shared.inflight) else {
        let refused = answer::reply(&query, ResponseCode::Refused);
        send_udp(udp, answer::encode(refused, max), peer);
        return None;
    };
    let out = udp.try_clone().ok()?;
    let raw = raw.to_vec();
    let spawned = thread::Builder::new()
        .name("wharf-dns-fwd".into())
        .spawn_scoped(s, move || {
            let _slot = slot;
            let resp = forward::forward(&raw, &query, &shared.upstreams, false, &shared.stop)
                .or_else(|| answer::encode(answer::reply(&query, ResponseCode::ServFail), max));
            send_udp(&out, resp, peer);
        });
    spawned
        .map_err(|e| tracing::warn!("dns: cannot start a forwarding thread: {e}"))
        .ok()
}

fn send_udp(udp: &UdpSocket, bytes: Option<Vec<u8>>, peer: SocketAddr) {
    if let Some(b) = bytes {
        if let Err(e) = udp.send_to(&b, peer) {
            tracing::debug!("dns: reply to {peer}: {e}");
        }
    }
}

fn on_tcp<'s, 'e>(
    s: &'s Scope<'s, 'e>,
    shared: &'s Shared,
    stream: TcpStream,
) -> Option<ScopedJoinHandle<'s, ()>> {
    // Too many open: closing the connection is the answer.
    let slot = Inflight::take(&shared.inflight)?;
    let spawned = thread::Builder::new()
        .name("wharf-dns-tcp".into())
        .spawn_scoped(s, move || {
            let _slot = slot;
            if let Err(e) = serve_tcp(shared, stream) {
                tracing::debug!("dns: tcp client: {e}");
            }
        });
    spawned
        .map_err(|e| tracing::warn!("dns: cannot start a tcp thread: {e}"))
        .ok()
}

/// Answers the queries of one TCP client, in order, until it closes, idles
/// out, or the resolver stops.
fn serve_tcp(shared: &Shared, mut stream: TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(SLICE))?;
    stream.set_write_timeout(Some(TCP_IDLE))?;
    loop {
        let Some(raw) = read_framed(&mut stream, Instant::now() + TCP_IDLE, &shared.stop)? else {
            return Ok(());
        };
        let resp = match answer::incoming(&raw, &shared.records, &shared.policy(), true) {
            Incoming::Ignore => None,
            Incoming::Malformed(reply) => {
                if let Some(r) = reply {
                    write_framed(&mut stream, &r)?;
                }
                return Ok(());
            }
            Incoming::Reply(bytes) => Some(bytes),
            Incoming::Forward { query, max } => {
                forward::forward(&raw, &query, &shared.upstreams, true, &shared.stop)
                    .or_else(|| answer::encode(answer::reply(&query, ResponseCode::ServFail), max))
            }
        };
        match resp {
            Some(bytes) => write_framed(&mut stream, &bytes)?,
            None => return Ok(()),
        }
    }
}
