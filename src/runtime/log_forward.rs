//! A container's output lines sent on to syslog or journald, as Docker's
//! `syslog` and `journald` log drivers send them. The json-file log is kept
//! beside them, as Docker's "dual logging" cache is, so `logs` still reads.
//! It lives beside the spec so the planner checks a driver's options with
//! the same parser the monitor connects with.
//!
//! The formats follow moby's `daemon/logger/syslog` (which uses srslog's
//! formatters) and `daemon/logger/journald`: stdout lines are sent with
//! severity info, stderr lines with err; the tag defaults to the container
//! id's first 12 digits.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where journald listens for its native protocol.
pub const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

/// Where a local syslog daemon listens, in the order Go's (and so
/// Docker's) syslog client tries them when no `syslog-address` is given.
pub const LOCAL_SYSLOG_SOCKETS: &[&str] = &["/dev/log", "/var/run/syslog", "/var/run/log"];

const SEVERITY_ERR: u8 = 3;
const SEVERITY_INFO: u8 = 6;

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("log driver {driver:?}: option {key}={value:?}: {message}")]
    Option {
        driver: String,
        key: String,
        value: String,
        message: String,
    },
    #[error("log driver {driver:?}: connecting to {address}: {source}")]
    Connect {
        driver: String,
        address: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "log driver {driver:?} is not supported (json-file, local, none, syslog and journald are)"
    )]
    UnknownDriver { driver: String },
}

/// What a tag template (`{{.Name}}`, …) may name about the container.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub id: String,
    pub name: String,
    pub image: String,
    /// The image id's hex digits.
    pub image_id: String,
}

/// The `tag` log option with Docker's template fields filled in; the
/// default is `{{.ID}}`. Any other `{{…}}` is an error.
pub fn expand_tag(template: Option<&str>, origin: &Origin) -> Result<String, String> {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let mut out = template.unwrap_or("{{.ID}}").to_string();
    for (field, value) in [
        ("{{.ID}}", short(&origin.id)),
        ("{{.FullID}}", origin.id.clone()),
        ("{{.Name}}", origin.name.clone()),
        ("{{.ImageID}}", short(&origin.image_id)),
        ("{{.ImageFullID}}", origin.image_id.clone()),
        ("{{.ImageName}}", origin.image.clone()),
        ("{{.DaemonName}}", "docker".to_string()),
    ] {
        out = out.replace(field, &value);
    }
    if out.contains("{{") {
        return Err(
            "only {{.ID}}, {{.FullID}}, {{.Name}}, {{.ImageID}}, {{.ImageFullID}}, {{.ImageName}} and {{.DaemonName}} are filled in".into(),
        );
    }
    Ok(out)
}

/// Why the log `driver` cannot work on this host (no journald socket, no
/// local syslog socket when `address` is unset), or `None`. Remote and
/// explicit addresses are tried when the container starts.
pub fn host_missing(driver: &str, address: Option<&str>) -> Option<String> {
    let present = |p: &str| Path::new(p).exists();
    match driver {
        "journald" if !present(JOURNALD_SOCKET) => Some(format!(
            "this host has no journald ({JOURNALD_SOCKET} does not exist)"
        )),
        "syslog"
            if address.is_none_or(str::is_empty)
                && !LOCAL_SYSLOG_SOCKETS.iter().any(|p| present(p)) =>
        {
            Some(format!(
                "this host has no local syslog socket ({}); set logging.options.syslog-address",
                LOCAL_SYSLOG_SOCKETS.join(", ")
            ))
        }
        _ => None,
    }
}

/// Checks a driver's options without connecting anywhere: what `up` and
/// `create` refuse before any container exists.
pub fn validate(driver: &str, options: &BTreeMap<String, String>) -> Result<(), ForwardError> {
    let bad = |key: &str, message: String| ForwardError::Option {
        driver: driver.to_string(),
        key: key.to_string(),
        value: options.get(key).cloned().unwrap_or_default(),
        message,
    };
    let known: &[&str] = match driver {
        "json-file" | "local" | "" => return Ok(()),
        "none" => &[],
        "syslog" => &[
            "syslog-address",
            "syslog-facility",
            "syslog-format",
            "tag",
            "env",
            "env-regex",
            "labels",
            "labels-regex",
        ],
        "journald" => &["tag", "env", "env-regex", "labels", "labels-regex"],
        other => {
            return Err(ForwardError::UnknownDriver {
                driver: other.to_string(),
            })
        }
    };
    if let Some(k) = options.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(bad(
            k,
            format!("unknown log opt for the {driver} log driver"),
        ));
    }
    if driver == "syslog" {
        if let Some(a) = options.get("syslog-address") {
            SyslogAddress::parse(a).map_err(|m| bad("syslog-address", m))?;
        }
        if let Some(f) = options.get("syslog-facility") {
            facility(f).map_err(|m| bad("syslog-facility", m))?;
        }
        if let Some(f) = options.get("syslog-format") {
            SyslogFormat::parse(f).map_err(|m| bad("syslog-format", m))?;
        }
    }
    if let Some(t) = options.get("tag") {
        expand_tag(Some(t), &Origin::default()).map_err(|m| bad("tag", m))?;
    }
    Ok(())
}

/// Where a syslog driver sends: `syslog-address`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogAddress {
    /// No address: the host's own syslog socket.
    Local,
    Udp(String),
    Tcp(String),
    Unix(PathBuf),
    Unixgram(PathBuf),
}

impl SyslogAddress {
    /// Docker's forms: `udp://host[:port]`, `tcp://host[:port]` (port 514
    /// by default), `unix:///path`, `unixgram:///path`.
    pub fn parse(text: &str) -> Result<SyslogAddress, String> {
        if text.is_empty() {
            return Ok(SyslogAddress::Local);
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err("should be in form proto://address".into());
        };
        let host_port = || {
            let host = rest.trim_end_matches('/');
            if host.is_empty() {
                return Err("names no host".to_string());
            }
            // `[::1]` and `host` without a port get syslog's 514.
            let has_port = match host.rsplit_once(':') {
                Some((h, p)) => {
                    !h.ends_with(':') && p.parse::<u16>().is_ok() && !host.ends_with(']')
                }
                None => false,
            };
            Ok(if has_port {
                host.to_string()
            } else {
                format!("{host}:514")
            })
        };
        match scheme {
            "udp" => host_port().map(SyslogAddress::Udp),
            "tcp" => host_port().map(SyslogAddress::Tcp),
            "unix" => Ok(SyslogAddress::Unix(PathBuf::from(rest))),
            "unixgram" => Ok(SyslogAddress::Unixgram(PathBuf::from(rest))),
            "tcp+tls" => Err("TLS to the syslog server is not supported".into()),
            other => Err(format!("unsupported scheme: {other:?}")),
        }
    }
}

/// `syslog-facility`: a name or a number 0–23; Docker's default is daemon.
fn facility(text: &str) -> Result<u8, String> {
    const NAMES: &[&str] = &[
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp",
    ];
    if text.is_empty() {
        return Ok(3);
    }
    if let Some(n) = NAMES.iter().position(|n| *n == text) {
        return Ok(n as u8);
    }
    if let Some(n) = text
        .strip_prefix("local")
        .and_then(|d| d.parse::<u8>().ok())
        .filter(|d| *d <= 7)
    {
        return Ok(16 + n);
    }
    match text.parse::<u8>() {
        Ok(n) if n <= 23 => Ok(n),
        _ => Err("invalid syslog facility".into()),
    }
}

/// `syslog-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogFormat {
    /// Docker's default: `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG`.
    Unix,
    Rfc3164,
    Rfc5424,
    Rfc5424Micro,
}

impl SyslogFormat {
    fn parse(text: &str) -> Result<SyslogFormat, String> {
        match text {
            "" => Ok(SyslogFormat::Unix),
            "rfc3164" => Ok(SyslogFormat::Rfc3164),
            "rfc5424" => Ok(SyslogFormat::Rfc5424),
            "rfc5424micro" => Ok(SyslogFormat::Rfc5424Micro),
            _ => Err("invalid syslog format (rfc3164, rfc5424 or rfc5424micro)".into()),
        }
    }

    /// One message, newline-terminated, as srslog formats it for Docker
    /// (the pid is the sender's, here the monitor's).
    pub fn format(
        self,
        priority: u8,
        now: SystemTime,
        hostname: &str,
        tag: &str,
        pid: u32,
        line: &str,
    ) -> String {
        let line = line.strip_suffix('\n').unwrap_or(line);
        match self {
            SyslogFormat::Unix => format!(
                "<{priority}>{} {tag}[{pid}]: {line}\n",
                crate::time::syslog_stamp(now)
            ),
            SyslogFormat::Rfc3164 => format!(
                "<{priority}>{} {hostname} {tag}[{pid}]: {line}\n",
                crate::time::syslog_stamp(now)
            ),
            SyslogFormat::Rfc5424 | SyslogFormat::Rfc5424Micro => {
                let stamp = if self == SyslogFormat::Rfc5424 {
                    crate::time::rfc3339_seconds(now)
                } else {
                    crate::time::rfc3339_micros(now)
                };
                format!("<{priority}>1 {stamp} {hostname} {tag} {pid} {tag} - {line}\n")
            }
        }
    }
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Unix(UnixStream),
    Unixgram(UnixDatagram),
}

impl Conn {
    fn open(address: &SyslogAddress) -> io::Result<Conn> {
        match address {
            SyslogAddress::Udp(a) => {
                let any = if a.starts_with('[') {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                };
                let s = UdpSocket::bind(any)?;
                s.connect(a)?;
                Ok(Conn::Udp(s))
            }
            SyslogAddress::Tcp(a) => TcpStream::connect(a).map(Conn::Tcp),
            SyslogAddress::Unix(p) => UnixStream::connect(p).map(Conn::Unix),
            SyslogAddress::Unixgram(p) => {
                let s = UnixDatagram::unbound()?;
                s.connect(p)?;
                Ok(Conn::Unixgram(s))
            }
            // As Go's syslog client: each socket, datagram first, then stream.
            SyslogAddress::Local => {
                let mut last = io::Error::from(io::ErrorKind::NotFound);
                for p in LOCAL_SYSLOG_SOCKETS {
                    if let Ok(s) = UnixDatagram::unbound().and_then(|s| s.connect(p).map(|()| s)) {
                        return Ok(Conn::Unixgram(s));
                    }
                    match UnixStream::connect(p) {
                        Ok(s) => return Ok(Conn::Unix(s)),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        match self {
            Conn::Udp(s) => s.send(msg).map(drop),
            Conn::Tcp(s) => s.write_all(msg),
            Conn::Unix(s) => s.write_all(msg),
            Conn::Unixgram(s) => s.send(msg).map(drop),
        }
    }
}

/// A connection to a syslog server and what each message carries.
pub struct Syslog {
    address: SyslogAddress,
    conn: Option<Conn>,
    facility: u8,
    format: SyslogFormat,
    hostname: String,
    tag: String,
}

impl Syslog {
    fn send(&mut self, stderr: bool, line: &str) -> io::Result<()> {
        let severity = if stderr { SEVERITY_ERR } else { SEVERITY_INFO };
        let msg = self.format.format(
            self.facility * 8 + severity,
            SystemTime::now(),
            &self.hostname,
            &self.tag,
            std::process::id(),
            line,
        );
        // A server that went away is dialled again once, as srslog does.
        if let Some(conn) = self.conn.as_mut() {
            if conn.send(msg.as_bytes()).is_ok() {
                return Ok(());
            }
        }
        self.conn = None;
        let mut conn = Conn::open(&self.address)?;
        conn.send(msg.as_bytes())?;
        self.conn = Some(conn);
        Ok(())
    }
}

/// journald's native protocol: one datagram of `KEY=value` fields.
pub struct Journald {
    socket: PathBuf,
    sender: UnixDatagram,
    /// The fields every entry carries (container id, name, tag, …).
    fields: Vec<(&'static str, String)>,
}

/// Appends one field to a native-protocol datagram; values with a newline
/// take the length-prefixed form.
fn journal_field(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.extend_from_slice(key.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

impl Journald {
    fn open(socket: &Path, tag: &str, origin: &Origin) -> io::Result<Journald> {
        let sender = UnixDatagram::unbound()?;
        // Checked now so a missing journal fails the start, not each line.
        std::fs::metadata(socket)?;
        Ok(Journald {
            socket: socket.to_path_buf(),
            sender,
            fields: vec![
                (
                    "CONTAINER_ID",
                    origin.id.chars().take(12).collect::<String>(),
                ),
                ("CONTAINER_ID_FULL", origin.id.clone()),
                ("CONTAINER_NAME", origin.name.clone()),
                ("CONTAINER_TAG", tag.to_string()),
                ("IMAGE_NAME", origin.image.clone()),
                ("SYSLOG_IDENTIFIER", tag.to_string()),
            ],
        })
    }

    /// The datagram of one line.
    fn entry(&self, stderr: bool, line: &str) -> Vec<u8> {
        let priority = if stderr { SEVERITY_ERR } else { SEVERITY_INFO };
        let mut out = Vec::new();
        let line = line.strip_suffix('\n').unwrap_or(line);
        journal_field(&mut out, "MESSAGE", line.as_bytes());
        journal_field(&mut out, "PRIORITY", priority.to_string().as_bytes());
        for (k, v) in &self.fields {
            journal_field(&mut out, k, v.as_bytes());
        }
        out
    }

    fn send(&mut self, stderr: bool, line: &str) -> io::Result<()> {
        let entry = self.entry(stderr, line);
        self.sender.send_to(&entry, &self.socket).map(drop)
    }
}

/// Where lines go besides the json-file log.
pub enum Forwarder {
    Syslog(Syslog),
    Journald(Journald),
}

impl Forwarder {
    /// The forwarder of `driver` (`None` for the drivers that only keep the
    /// file), connected: an unreachable server fails the start, as Docker's
    /// does. `journal_socket` is journald's (tests point it elsewhere).
    pub fn open(
        driver: &str,
        options: &BTreeMap<String, String>,
        origin: &Origin,
        journal_socket: &Path,
    ) -> Result<Option<Forwarder>, ForwardError> {
        validate(driver, options)?;
        let tag =
            expand_tag(options.get("tag").map(String::as_str), origin).map_err(|message| {
                ForwardError::Option {
                    driver: driver.to_string(),
                    key: "tag".into(),
                    value: options.get("tag").cloned().unwrap_or_default(),
                    message,
                }
            })?;
        let opt = |k: &str| options.get(k).map(String::as_str).unwrap_or_default();
        let connect_err = |address: String| {
            let driver = driver.to_string();
            move |source| ForwardError::Connect {
                driver,
                address,
                source,
            }
        };
        match driver {
            "syslog" => {
                // Validated above; these cannot fail here.
                let address =
                    SyslogAddress::parse(opt("syslog-address")).unwrap_or(SyslogAddress::Local);
                let conn = Conn::open(&address).map_err(connect_err(
                    if opt("syslog-address").is_empty() {
                        LOCAL_SYSLOG_SOCKETS.join(", ")
                    } else {
                        opt("syslog-address").to_string()
                    },
                ))?;
                Ok(Some(Forwarder::Syslog(Syslog {
                    hostname: if matches!(address, SyslogAddress::Udp(_) | SyslogAddress::Tcp(_)) {
                        nix::unistd::gethostname()
                            .map(|h| h.to_string_lossy().into_owned())
                            .unwrap_or_else(|_| "localhost".into())
                    } else {
                        "localhost".into()
                    },
                    address,
                    conn: Some(conn),
                    facility: facility(opt("syslog-facility")).unwrap_or(3),
                    format: SyslogFormat::parse(opt("syslog-format")).unwrap_or(SyslogFormat::Unix),
                    tag,
                })))
            }
            "journald" => Journald::open(journal_socket, &tag, origin)
                .map(|j| Some(Forwarder::Journald(j)))
                .map_err(connect_err(journal_socket.display().to_string())),
            _ => Ok(None),
        }
    }

    /// Sends one line of stdout or `stderr` (its newline dropped; Docker
    /// sends none).
    pub fn send(&mut self, stderr: bool, line: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(line);
        if text.trim_end_matches('\n').is_empty() {
            return Ok(());
        }
        match self {
            Forwarder::Syslog(s) => s.send(stderr, &text),
            Forwarder::Journald(j) => j.send(stderr, &text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn origin() -> Origin {
        Origin {
            id: "0123456789abcdef0123".into(),
            name: "demo-web-1".into(),
            image: "busybox".into(),
            image_id: "fedcba9876543210".into(),
        }
    }

    #[test]
    fn tags_fill_dockers_fields_and_refuse_others() {
        assert_eq!(expand_tag(None, &origin()).unwrap(), "0123456789ab");
        assert_eq!(
            expand_tag(Some("{{.Name}}/{{.ImageName}}/{{.ImageID}}"), &origin()).unwrap(),
            "demo-web-1/busybox/fedcba987654"
        );
        assert!(expand_tag(Some("{{.Labels}}"), &origin()).is_err());
    }

    #[test]
    fn addresses_as_docker_reads_them() {
        assert_eq!(SyslogAddress::parse(""), Ok(SyslogAddress::Local));
        assert_eq!(
            SyslogAddress::parse("udp://127.0.0.1"),
            Ok(SyslogAddress::Udp("127.0.0.1:514".into()))
        );
        assert_eq!(
            SyslogAddress::parse("tcp://[::1]:601"),
            Ok(SyslogAddress::Tcp("[::1]:601".into()))
        );
        assert_eq!(
            SyslogAddress::parse("tcp://[::1]"),
            Ok(SyslogAddress::Tcp("[::1]:514".into()))
        );
        assert_eq!(
            SyslogAddress::parse("unixgram:///dev/log"),
            Ok(SyslogAddress::Unixgram("/dev/log".into()))
        );
        assert!(SyslogAddress::parse("127.0.0.1:514").is_err());
        assert!(SyslogAddress::parse("tcp+tls://h").is_err());
        assert!(SyslogAddress::parse("http://h").is_err());
    }

    #[test]
    fn validation_names_the_option() {
        let err = validate("syslog", &opts(&[("syslog-format", "json")])).unwrap_err();
        assert!(err.to_string().contains("syslog-format=\"json\""), "{err}");
        let err = validate("journald", &opts(&[("max-size", "1m")])).unwrap_err();
        assert!(err.to_string().contains("unknown log opt"), "{err}");
        let err = validate("gelf", &opts(&[])).unwrap_err();
        assert!(
            err.to_string().contains("\"gelf\" is not supported"),
            "{err}"
        );
        assert!(validate("syslog", &opts(&[("syslog-facility", "local7")])).is_ok());
        assert!(validate("syslog", &opts(&[("syslog-facility", "24")])).is_err());
        assert!(validate("none", &opts(&[])).is_ok());
    }

    #[test]
    fn formats_match_srslogs() {
        // 2026-01-02T03:04:05.000120Z
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_767_323_045, 120_000);
        let f = |fmt: SyslogFormat| fmt.format(30, t, "host", "tag", 7, "hello\n");
        assert_eq!(f(SyslogFormat::Unix), "<30>Jan  2 03:04:05 tag[7]: hello\n");
        assert_eq!(
            f(SyslogFormat::Rfc3164),
            "<30>Jan  2 03:04:05 host tag[7]: hello\n"
        );
        assert_eq!(
            f(SyslogFormat::Rfc5424),
            "<30>1 2026-01-02T03:04:05Z host tag 7 tag - hello\n"
        );
        assert_eq!(
            f(SyslogFormat::Rfc5424Micro),
            "<30>1 2026-01-02T03:04:05.00012Z host tag 7 tag - hello\n"
        );
    }

    #[test]
    fn syslog_over_udp_carries_priority_and_tag() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let address = format!("udp://{}", server.local_addr().unwrap());
        let mut f = Forwarder::open(
            "syslog",
            &opts(&[("syslog-address", &address), ("tag", "{{.Name}}")]),
            &origin(),
            Path::new("/nonexistent"),
        )
        .unwrap()
        .unwrap();
        f.send(false, b"out line\n").unwrap();
        f.send(true, b"err line\n").unwrap();
        let mut buf = [0u8; 512];
        let mut got = Vec::new();
        for _ in 0..2 {
            let n = server.recv(&mut buf).unwrap();
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        let pid = std::process::id();
        assert!(got[0].starts_with("<30>"), "{got:?}");
        assert!(
            got[0].ends_with(&format!(" demo-web-1[{pid}]: out line\n")),
            "{got:?}"
        );
        assert!(got[1].starts_with("<27>"), "{got:?}");
        assert!(got[1].ends_with(": err line\n"), "{got:?}");
    }

    #[test]
    fn journald_entries_use_the_native_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("journal.sock");
        let server = UnixDatagram::bind(&socket).unwrap();
        let mut f = Forwarder::open("journald", &opts(&[]), &origin(), &socket)
            .unwrap()
            .unwrap();
        f.send(true, b"two\nlines\n").unwrap();
        let mut buf = [0u8; 1024];
        let n = server.recv(&mut buf).unwrap();
        let got = &buf[..n];
        let mut want = b"MESSAGE\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\nPRIORITY=3\nCONTAINER_ID=0123456789ab\n");
        assert!(got.starts_with(&want), "{:?}", String::from_utf8_lossy(got));
        let text = String::from_utf8_lossy(got);
        assert!(text.contains("\nCONTAINER_NAME=demo-web-1\n"), "{text}");
        assert!(
            text.contains("\nSYSLOG_IDENTIFIER=0123456789ab\n"),
            "{text}"
        );
        // No journal there: the start fails, naming the socket.
        let err = Forwarder::open("journald", &opts(&[]), &origin(), &dir.path().join("gone"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
