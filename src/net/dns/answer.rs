//! What to do with one query: answer it from the endpoint records, or hand
//! it to the upstream servers — the rules of Docker's embedded server.

use super::records::Records;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// TTL of local answers, as Docker's (`respTTL`).
pub(crate) const TTL: u32 = 600;

/// The most a TCP message can carry (its length prefix is 16 bits).
pub(crate) const TCP_MAX: usize = 65_535;

/// The settings that shape answers.
pub(crate) struct Policy<'a> {
    pub search: &'a [String],
    /// `ndots` was set explicitly (compose `dns_opt: [ndots:N]`): a
    /// single-label A/AAAA name not found locally gets an empty answer so
    /// the client retries with its search domains, instead of a forward.
    pub ndots_set: bool,
    /// Whether any upstream server is configured. Without one, a name not
    /// found here does not exist for this container: NXDOMAIN.
    pub has_upstreams: bool,
}

#[derive(Debug)]
pub(crate) enum Outcome {
    /// Answered here.
    Local(Message),
    /// Not a local name: forward the query as it came.
    Forward,
}

/// What the server does with one raw message from a client.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// Nothing is sent back (a response, which two resolvers could bounce
    /// forever, or an answer that cannot be encoded).
    Ignore,
    /// Too broken to answer: FORMERR built from the raw header, if it has
    /// one. A TCP client is disconnected after it.
    Malformed(Option<Vec<u8>>),
    /// Answered here: the encoded reply.
    Reply(Vec<u8>),
    /// Not a local name: forward `query` upstream; a reply may be `max` bytes.
    Forward { query: Message, max: usize },
}

/// Decodes one raw message and decides what to send back: the whole of the
/// server's work on a query but the sockets and the forwarding, so that the
/// fuzz target (`net::dns::answer_raw`) drives exactly this code.
pub(crate) fn incoming(raw: &[u8], records: &Records, policy: &Policy<'_>, tcp: bool) -> Incoming {
    if !tcp && raw.len() > 2 && raw[2] & 0x80 != 0 {
        return Incoming::Ignore;
    }
    let query = match Message::from_vec(raw) {
        Ok(m) if m.message_type == MessageType::Query => m,
        Ok(_) if !tcp => return Incoming::Ignore,
        _ => return Incoming::Malformed(formerr_raw(raw)),
    };
    let max = if tcp {
        TCP_MAX
    } else {
        usize::from(query.max_payload())
    };
    match decide(&query, records, policy) {
        Outcome::Local(resp) => encode(resp, max).map_or(Incoming::Ignore, Incoming::Reply),
        Outcome::Forward => Incoming::Forward { query, max },
    }
}

/// Decides how to answer `query` (already decoded).
pub(crate) fn decide(query: &Message, records: &Records, policy: &Policy<'_>) -> Outcome {
    if query.message_type != MessageType::Query {
        return Outcome::Local(reply(query, ResponseCode::FormErr));
    }
    if query.op_code != OpCode::Query {
        return Outcome::Local(reply(query, ResponseCode::NotImp));
    }
    // Docker answers the first question only; real clients send one.
    let Some(q) = query.queries.first() else {
        return Outcome::Local(reply(query, ResponseCode::FormErr));
    };
    if q.query_class() != DNSClass::IN {
        return forward_or_nx(query, policy);
    }
    let name = q.name().to_ascii();
    let local = match q.query_type() {
        RecordType::A | RecordType::AAAA => records.lookup_name(&name, policy.search).map(|f| {
            let mut resp = reply(query, ResponseCode::NoError);
            if q.query_type() == RecordType::A {
                let mut v4 = f.v4;
                shuffle(&mut v4);
                for ip in v4 {
                    resp.add_answer(Record::from_rdata(q.name().clone(), TTL, RData::A(A(ip))));
                }
            } else {
                let mut v6 = f.v6;
                shuffle(&mut v6);
                for ip in v6 {
                    resp.add_answer(Record::from_rdata(
                        q.name().clone(),
                        TTL,
                        RData::AAAA(AAAA(ip)),
                    ));
                }
            }
            resp
        }),
        // A local name has no mail exchanger: an empty answer lets mail
        // clients fall back to the name's address (RFC 5321 5.1).
        RecordType::MX => records
            .lookup_name(&name, policy.search)
            .map(|_| reply(query, ResponseCode::NoError)),
        RecordType::PTR => ptr_addr(q.name())
            .and_then(|ip| records.lookup_ip(ip))
            .and_then(|target| Name::from_ascii(format!("{target}.")).ok())
            .map(|target| {
                let mut resp = reply(query, ResponseCode::NoError);
                resp.add_answer(Record::from_rdata(
                    q.name().clone(),
                    TTL,
                    RData::PTR(PTR(target)),
                ));
                resp
            }),
        _ => None,
    };
    if let Some(resp) = local {
        return Outcome::Local(resp);
    }
    let single_label = !name.trim_end_matches('.').contains('.');
    if policy.ndots_set
        && single_label
        && matches!(q.query_type(), RecordType::A | RecordType::AAAA)
    {
        return Outcome::Local(reply(query, ResponseCode::NoError));
    }
    forward_or_nx(query, policy)
}

fn forward_or_nx(query: &Message, policy: &Policy<'_>) -> Outcome {
    if policy.has_upstreams {
        Outcome::Forward
    } else {
        Outcome::Local(reply(query, ResponseCode::NXDomain))
    }
}

/// An empty response to `query` with the given code and its question.
pub(crate) fn reply(query: &Message, code: ResponseCode) -> Message {
    let mut m = Message::response(query.id, query.op_code);
    m.metadata.recursion_desired = query.recursion_desired;
    m.metadata.recursion_available = true;
    m.metadata.checking_disabled = query.checking_disabled;
    m.metadata.response_code = code;
    m.add_queries(query.queries.iter().cloned());
    m
}

/// A reply to a message too broken to decode, built from its raw header:
/// FORMERR with the same id, or nothing when even the header is missing.
pub(crate) fn formerr_raw(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() < 12 {
        return None;
    }
    let mut out = vec![0u8; 12];
    out[0] = raw[0];
    out[1] = raw[1];
    // QR=1, opcode copied, RD copied; RA=1; RCODE=FORMERR(1).
    out[2] = 0x80 | (raw[2] & 0x79);
    out[3] = 0x80 | 1;
    Some(out)
}

/// Encodes `msg` in at most `max` bytes: answers that do not fit are
/// dropped from the end and the TC bit set, so the client retries over TCP
/// (RFC 1035 4.2.1, as Docker's `Truncate`).
pub(crate) fn encode(mut msg: Message, max: usize) -> Option<Vec<u8>> {
    loop {
        let bytes = msg.to_vec().ok()?;
        if bytes.len() <= max {
            return Some(bytes);
        }
        msg.metadata.truncation = true;
        if msg.answers.pop().is_none()
            && msg.authorities.pop().is_none()
            && msg.additionals.pop().is_none()
        {
            // Only the header and question are left and still too big:
            // the question alone exceeds the limit; send what we have.
            return Some(bytes);
        }
    }
}

/// The address a reverse name (`4.3.2.1.in-addr.arpa.`) stands for, when it
/// names a whole address rather than a network.
fn ptr_addr(name: &Name) -> Option<IpAddr> {
    let mut n = name.clone();
    n.set_fqdn(true);
    let net = n.parse_arpa_name().ok()?;
    (net.prefix_len() == net.max_prefix_len()).then(|| net.addr())
}

/// Shuffles local answers so clients that take the first address spread
/// over replicas, as Docker does. Not security-relevant: a splitmix64
/// stream seeded from the clock is enough.
fn shuffle<T>(v: &mut [T]) {
    static STATE: AtomicU64 = AtomicU64::new(0);
    if v.len() < 2 {
        return;
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ seed;
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..v.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}
