//! Forwarding names that are not ours to the upstream servers, from
//! sockets in the monitor's (host) network namespace, over the transport
//! the client used — as Docker's `forwardExtDNS` does.

use hickory_proto::op::{Message, ResponseCode};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long one upstream server gets to answer, as Docker's `extIOTimeout`.
pub(crate) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);

/// Blocking calls wake this often to notice the resolver is stopping, so
/// dropping the handle returns quickly even with a query in flight.
pub(crate) const SLICE: Duration = Duration::from_millis(200);

/// Asks each upstream in turn until one gives a usable answer: a response
/// to this query whose code is not SERVFAIL or REFUSED (those may be
/// transient, so the next server is tried). `None` when none answered.
/// The answer is passed on byte for byte, including a TC bit, on which the
/// client retries over TCP and we forward over TCP.
pub(crate) fn forward(
    raw: &[u8],
    query: &Message,
    upstreams: &[SocketAddr],
    tcp: bool,
    stop: &AtomicBool,
) -> Option<Vec<u8>> {
    for &up in upstreams {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let got = if tcp {
            exchange_tcp(raw, up, stop)
        } else {
            exchange_udp(raw, up, stop)
        };
        let bytes = match got {
            Ok(Some(b)) => b,
            Ok(None) => {
                tracing::debug!("dns: upstream {up} did not answer in time");
                continue;
            }
            Err(e) => {
                tracing::debug!("dns: upstream {up}: {e}");
                continue;
            }
        };
        let Ok(resp) = Message::from_vec(&bytes) else {
            tracing::debug!("dns: upstream {up} sent an undecodable answer");
            continue;
        };
        let same_question = match (resp.queries.first(), query.queries.first()) {
            (Some(a), Some(b)) => a.name() == b.name() && a.query_type() == b.query_type(),
            // A truncated or error reply may omit the question.
            (None, _) => true,
            (Some(_), None) => false,
        };
        if resp.id != query.id || !same_question {
            continue;
        }
        if matches!(
            resp.response_code,
            ResponseCode::ServFail | ResponseCode::Refused
        ) {
            tracing::debug!("dns: upstream {up} answered {}", resp.response_code);
            continue;
        }
        return Some(bytes);
    }
    None
}

fn exchange_udp(raw: &[u8], up: SocketAddr, stop: &AtomicBool) -> io::Result<Option<Vec<u8>>> {
    let local: SocketAddr = if up.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local)?;
    // Connected: the kernel drops datagrams from anyone but the server.
    sock.connect(up)?;
    sock.set_read_timeout(Some(SLICE))?;
    sock.send(raw)?;
    let deadline = Instant::now() + UPSTREAM_TIMEOUT;
    // Room for any reply, even one larger than the client advertised.
    let mut buf = vec![0u8; 65_535];
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        match sock.recv(&mut buf) {
            Ok(n) if n >= 2 && buf[..2] == raw[..2] => return Ok(Some(buf[..n].to_vec())),
            Ok(_) => continue,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

fn exchange_tcp(raw: &[u8], up: SocketAddr, stop: &AtomicBool) -> io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + UPSTREAM_TIMEOUT;
    let mut stream = TcpStream::connect_timeout(&up, UPSTREAM_TIMEOUT)?;
    stream.set_read_timeout(Some(SLICE))?;
    stream.set_write_timeout(Some(UPSTREAM_TIMEOUT))?;
    write_framed(&mut stream, raw)?;
    read_framed(&mut stream, deadline, stop)
}

/// Writes one DNS-over-TCP message: a 16-bit length, then the message.
pub(crate) fn write_framed(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "DNS message over 64 KiB"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    stream.write_all(&out)
}

/// Reads one DNS-over-TCP message. `Ok(None)` on a clean close before a
/// message, on `deadline`, or when `stop` is set. The stream must have a
/// read timeout of about [`SLICE`].
pub(crate) fn read_framed(
    stream: &mut TcpStream,
    deadline: Instant,
    stop: &AtomicBool,
) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    if !read_full(stream, &mut len, deadline, stop)? {
        return Ok(None);
    }
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    if !read_full(stream, &mut msg, deadline, stop)? {
        return Ok(None);
    }
    Ok(Some(msg))
}

/// Fills `buf`, waking every read timeout to check `deadline` and `stop`.
/// `false` when the peer closed, the deadline passed or we are stopping.
fn read_full(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    stop: &AtomicBool,
) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            return Ok(false);
        }
        match stream.read(&mut buf[got..]) {
            Ok(0) => {
                if got == 0 {
                    return Ok(false);
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            Ok(n) => got += n,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
