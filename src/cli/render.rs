//! Everything that turns data into text: tables, sizes, times, ports,
//! container status, truncation, the colored prefix of containers' log
//! lines, and the look of wharf's own log lines.

use crate::cli::template::{Fields, RowFormat};
use crate::exec::ProjectContainer;
use crate::runtime::container::{ContainerState, Status};
use crate::runtime::spec::PortBinding;
use crate::supervise::logs::{LogLine, Stream};
use std::io::Write;
use std::time::SystemTime;

/// An error and its causes as `{:#}` prints them (`a: b: c`), except that a
/// cause is left out when the message before it already ends with its text:
/// many library errors put their `#[source]` in their own message, and the
/// chain would print it twice.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.is_empty() {
            out = text;
        } else if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// `Up 5 seconds`, `Exited (0) 2 minutes ago`, `Created`.
pub fn status_text(state: &ContainerState) -> String {
    let since = |t: &Option<String>| {
        t.as_deref()
            .and_then(crate::time::parse_rfc3339)
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map(crate::time::human_duration)
            .unwrap_or_default()
    };
    match state.status {
        Status::Created => "Created".into(),
        Status::Running => {
            let health = match state.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => " (health: starting)",
                Some("healthy") => " (healthy)",
                Some("unhealthy") => " (unhealthy)",
                _ => "",
            };
            format!("Up {}{health}", since(&state.started_at))
        }
        Status::Paused => format!("Up {} (Paused)", since(&state.started_at)),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            state.exit_code.unwrap_or(-1),
            since(&state.finished_at)
        ),
        Status::Dead => "Dead".into(),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            state.exit_code.unwrap_or(-1),
            since(&state.finished_at)
        ),
    }
}

pub fn proto_text(b: &PortBinding) -> &'static str {
    match b.protocol {
        crate::runtime::spec::Protocol::Tcp => "tcp",
        crate::runtime::spec::Protocol::Udp => "udp",
        crate::runtime::spec::Protocol::Sctp => "sctp",
    }
}

pub fn host_ip_text(b: &PortBinding) -> String {
    b.host_ip
        .map(crate::net::ports::show_ip)
        .unwrap_or_else(|| "0.0.0.0".into())
}

/// Docker's PORTS column (its `DisplayablePorts`): ports published on the
/// same host port as the container port are grouped into ranges per
/// address and protocol (`0.0.0.0:8000-8001->8000-8001/tcp`); the others
/// follow one by one (`0.0.0.0:32768->80/tcp`).
pub fn ports_column(ports: &[PortBinding]) -> String {
    let mut sorted: Vec<&PortBinding> = ports.iter().collect();
    sorted.sort_by_key(|b| {
        (
            b.container_port,
            host_ip_text(b),
            b.host_port,
            proto_text(b),
        )
    });
    // (address, protocol) → (first, last) of the running range.
    type Range = (u16, u16);
    let mut groups: Vec<((String, &str), Range)> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    let form = |(ip, proto): &(String, &str), (first, last): (u16, u16)| {
        let range = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        };
        format!("{ip}:{range}->{range}/{proto}")
    };
    for b in sorted {
        let ip = host_ip_text(b);
        let proto = proto_text(b);
        if b.host_port != b.container_port {
            mappings.push(format!(
                "{ip}:{}->{}/{proto}",
                b.host_port, b.container_port
            ));
            continue;
        }
        let key = (ip, proto);
        let port = b.container_port;
        match groups.iter_mut().find(|(k, _)| *k == key) {
            None => groups.push((key, (port, port))),
            Some((_, range)) if range.1.checked_add(1) == Some(port) => range.1 = port,
            Some((k, range)) => {
                result.push(form(k, *range));
                *range = (port, port);
            }
        }
    }
    result.extend(groups.iter().map(|(k, r)| form(k, *r)));
    result.extend(mappings);
    result.join(", ")
}

/// The lines `wharf port` prints; `Err(key)` when `private` is not published.
pub fn port_lines(ports: &[PortBinding], private: Option<&str>) -> Result<Vec<String>, String> {
    let mut sorted: Vec<&PortBinding> = ports.iter().collect();
    sorted.sort_by_key(|b| {
        (
            b.container_port,
            proto_text(b),
            matches!(b.host_ip, Some(std::net::IpAddr::V6(_))),
            host_ip_text(b),
            b.host_port,
        )
    });
    let host = |b: &PortBinding| format!("{}:{}", host_ip_text(b), b.host_port);
    match private {
        None => Ok(sorted
            .iter()
            .map(|b| format!("{}/{} -> {}", b.container_port, proto_text(b), host(b)))
            .collect()),
        Some(p) => {
            let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            let key = format!("{port}/{proto}");
            let lines: Vec<String> = sorted
                .iter()
                .filter(|b| b.container_port.to_string() == port && proto_text(b) == proto)
                .map(|b| host(b))
                .collect();
            if lines.is_empty() {
                Err(key)
            } else {
                Ok(lines)
            }
        }
    }
}

/// A command line as `ps` shows it: its words joined by spaces.
pub fn command_text(words: &[String]) -> String {
    words.join(" ")
}

pub fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map(|r| r.len()).unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
            }
        }
        println!("{}", line.trim_end());
    }
}

/// Rows as Go's `tabwriter.NewWriter(w, minwidth, 1, padding, ' ', 0)`
/// lays them out (Docker's `formatter` tables): every column but the last
/// as wide as its widest cell plus `padding`, at least `minwidth`; trailing
/// padding kept.
pub fn go_table(rows: &[Vec<String>], minwidth: usize, padding: usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols.saturating_sub(1))
        .map(|c| {
            let widest = rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count() + padding)
                .max()
                .unwrap_or(0);
            widest.max(minwidth)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            match widths.get(c) {
                Some(w) => out.push_str(&format!("{cell:<w$}")),
                None => out.push_str(cell),
            }
        }
        out.push('\n');
    }
    out
}

/// `12.5MiB`, as docker stats prints sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", UNITS[i])
    }
}

/// Docker's decimal units: `7.25MB`.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[i]
    }
}

/// Compose's log colors, in its order.
pub const COLORS: [&str; 10] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// `web-1`: the container name without the project prefix, as Compose
/// prints it; `web_1` for a container named in compatibility mode
/// (`p_web_1`).
pub fn prefix_name(c: &ProjectContainer, project: &str) -> String {
    let name = c.record.name.as_str();
    if name == format!("{project}_{}_{}", c.service, c.number) {
        return name[project.len() + 1..].to_string();
    }
    name.strip_prefix(&format!("{project}-"))
        .unwrap_or(name)
        .to_string()
}

/// Tags containers' log lines the way Compose does: each container's
/// short name, padded to the longest, in its service's color.
pub struct Printer {
    pub names: Vec<String>,
    colors: Vec<&'static str>,
    width: usize,
    color: bool,
    prefix: bool,
    timestamps: bool,
}

impl Printer {
    /// Colors go by service, in the order services first appear; `color`
    /// is the settings' choice (`Settings::colors`).
    pub fn new(
        list: &[ProjectContainer],
        project: &str,
        color: bool,
        no_prefix: bool,
        timestamps: bool,
    ) -> Printer {
        Printer::with_color(list, project, color, !no_prefix, timestamps)
    }

    fn with_color(
        list: &[ProjectContainer],
        project: &str,
        color: bool,
        prefix: bool,
        timestamps: bool,
    ) -> Printer {
        let mut services: Vec<&str> = Vec::new();
        let colors = list
            .iter()
            .map(|c| {
                let i = match services.iter().position(|s| *s == c.service) {
                    Some(i) => i,
                    None => {
                        services.push(&c.service);
                        services.len() - 1
                    }
                };
                COLORS[i % COLORS.len()]
            })
            .collect();
        let names: Vec<String> = list.iter().map(|c| prefix_name(c, project)).collect();
        Printer {
            width: names.iter().map(|n| n.chars().count()).max().unwrap_or(0),
            names,
            colors,
            color,
            prefix,
            timestamps,
        }
    }

    /// One log line of container `i`, tagged, ending in a newline.
    pub fn format_line(&self, i: usize, l: &LogLine) -> String {
        let (name, color) = (&self.names[i], self.colors[i]);
        let mut text = l.log.clone();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if self.timestamps {
            text = format!("{} {text}", l.time);
        }
        if !self.prefix {
            text
        } else if self.color {
            format!("\x1b[{color}m{name:<w$} |\x1b[0m {text}", w = self.width)
        } else {
            format!("{name:<w$} | {text}", w = self.width)
        }
    }

    /// Writes one line of container `i` to the stream it came from.
    pub fn line(&self, i: usize, l: &LogLine) {
        let out = self.format_line(i, l);
        let _ = match l.stream {
            Stream::Stdout => std::io::stdout().write_all(out.as_bytes()),
            Stream::Stderr => std::io::stderr().write_all(out.as_bytes()),
        };
    }

    /// Compose's own lines about container `i` (`web-1 exited with code 0`).
    pub fn note(&self, i: usize, text: &str) {
        let (name, color) = (&self.names[i], self.colors[i]);
        if self.color {
            println!("\x1b[{color}m{name}\x1b[0m {text}");
        } else {
            println!("{name} {text}");
        }
    }
}

/// The COMMAND column: at most 20 characters unless `--no-trunc`.
pub fn command_column(words: &[String], no_trunc: bool) -> String {
    let mut cmd = command_text(words);
    if !no_trunc && cmd.chars().count() > 20 {
        cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
    }
    format!("\"{cmd}\"")
}

/// A container id as listings show it: 12 digits unless `--no-trunc`.
pub fn short_id(id: &str, no_trunc: bool) -> &str {
    if no_trunc {
        id
    } else {
        &id[..id.len().min(12)]
    }
}

/// `5 minutes ago` for an RFC 3339 time; empty when it does not parse.
pub fn ago(rfc3339: &str) -> String {
    crate::time::parse_rfc3339(rfc3339)
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|d| format!("{} ago", crate::time::human_duration(d)))
        .unwrap_or_default()
}

/// Prints `rows` through a `--format` Go template (`table …` or a bare
/// one; see cli/template.rs). `titles` heads a table's columns field by
/// field, as Docker's do (`ID` → `CONTAINER ID`); a field not listed is
/// headed by its name in capitals (`CreatedAt` → `CREATED AT`).
pub fn print_template(
    format: &str,
    rows: &[serde_json::Value],
    titles: &[(&str, &str)],
    fields: Fields,
) -> anyhow::Result<()> {
    let text = render_template(format, rows, titles, fields)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// What [`print_template`] prints, as text.
pub fn render_template(
    format: &str,
    rows: &[serde_json::Value],
    titles: &[(&str, &str)],
    fields: Fields,
) -> anyhow::Result<String> {
    let parsed = RowFormat::parse(format)
        .map_err(|e| anyhow::anyhow!("--format: template parsing error: {e}"))?;
    let mut headers = serde_json::Map::new();
    for key in rows
        .iter()
        .filter_map(|r| r.as_object())
        .flat_map(|r| r.keys())
    {
        headers.insert(key.clone(), field_title(key).into());
    }
    for (field, title) in titles {
        headers.insert(field.to_string(), (*title).into());
    }
    parsed
        .render(rows, &headers, fields)
        .map_err(|e| anyhow::anyhow!("--format: template parsing error: {e}"))
}

/// `CreatedAt` → `CREATED AT`.
fn field_title(field: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in field.chars() {
        if c.is_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        out.extend(c.to_uppercase());
    }
    out
}

/// Labels as Docker's listings show them: `k=v,k2=v2`.
pub fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `CreatedAt` of Docker's listings for an RFC 3339 time (empty when it
/// does not parse).
pub fn created_at(rfc3339: &str) -> String {
    crate::time::parse_rfc3339(rfc3339)
        .map(crate::time::go_time_text)
        .unwrap_or_default()
}

/// Log lines look like Compose's (`WARN[0000] message`), so people and
/// scripts used to Compose read them the same way.
pub struct ComposeStyle;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for ComposeStyle
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let tag = match *event.metadata().level() {
            tracing::Level::ERROR => "ERRO",
            tracing::Level::WARN => "WARN",
            tracing::Level::INFO => "INFO",
            tracing::Level::DEBUG => "DEBU",
            tracing::Level::TRACE => "TRAC",
        };
        write!(writer, "{tag}[0000] ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_table_pads_like_tabwriter() {
        let rows = vec![
            vec![
                "NAME".to_string(),
                "LONG VALUE HERE!!!".into(),
                "LAST".into(),
            ],
            vec!["A".to_string(), "".into(), "x".into()],
        ];
        assert_eq!(
            go_table(&rows, 20, 3),
            "NAME                LONG VALUE HERE!!!   LAST\nA                                        x\n"
        );
    }

    use super::*;
    use crate::runtime::container::ContainerRecord;
    use crate::runtime::spec::Protocol;

    fn pb(ip: &str, host: u16, container: u16, protocol: Protocol) -> PortBinding {
        PortBinding {
            host_ip: Some(ip.parse().unwrap()),
            host_port: host,
            container_port: container,
            protocol,
        }
    }

    #[test]
    fn ports_column_is_dockers() {
        use Protocol::{Tcp, Udp};
        assert_eq!(ports_column(&[]), "");
        assert_eq!(
            ports_column(&[pb("0.0.0.0", 8080, 80, Tcp), pb("::", 8080, 80, Tcp)]),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        // Same host and container port: grouped into ranges per address.
        let range: Vec<PortBinding> = (8000..=8002)
            .map(|p| pb("0.0.0.0", p, p, Tcp))
            .chain([pb("127.0.0.1", 53, 53, Udp), pb("0.0.0.0", 8005, 8005, Tcp)])
            .collect();
        assert_eq!(
            ports_column(&range),
            "0.0.0.0:8000-8002->8000-8002/tcp, 127.0.0.1:53->53/udp, 0.0.0.0:8005->8005/tcp"
        );
    }

    #[test]
    fn port_lines_are_dockers() {
        use Protocol::{Tcp, Udp};
        let ports = [
            pb("::", 32768, 80, Tcp),
            pb("0.0.0.0", 32768, 80, Tcp),
            pb("127.0.0.1", 5353, 53, Udp),
        ];
        assert_eq!(
            port_lines(&ports, None).unwrap(),
            vec![
                "53/udp -> 127.0.0.1:5353",
                "80/tcp -> 0.0.0.0:32768",
                "80/tcp -> [::]:32768",
            ]
        );
        assert_eq!(
            port_lines(&ports, Some("80")).unwrap(),
            vec!["0.0.0.0:32768", "[::]:32768"]
        );
        assert_eq!(
            port_lines(&ports, Some("53/udp")).unwrap(),
            vec!["127.0.0.1:5353"]
        );
        assert_eq!(port_lines(&ports, Some("53")), Err("53/tcp".to_string()));
    }

    #[test]
    fn fields_are_titled_in_capitals() {
        assert_eq!(field_title("CreatedAt"), "CREATED AT");
        assert_eq!(field_title("ID"), "ID");
        assert_eq!(field_title("MemPerc"), "MEM PERC");
    }

    #[test]
    fn sizes_print_like_docker() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.261MB");
        assert_eq!(human_size(117_000_000), "117MB");
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(12 * 1024 * 1024 + 512 * 1024), "12.50MiB");
    }

    fn container(service: &str, name: &str) -> ProjectContainer {
        ProjectContainer {
            record: ContainerRecord {
                id: "0".repeat(64),
                name: name.into(),
                created: String::new(),
                image: "busybox".into(),
                image_id: crate::image::digest::Digest::sha256_of(b"busybox"),
                spec: Default::default(),
                runtime: "builtin".into(),
                auto_remove: false,
            },
            state: Default::default(),
            service: service.into(),
            number: 1,
            oneoff: false,
        }
    }

    fn line(text: &str) -> LogLine {
        LogLine {
            log: text.into(),
            stream: Stream::Stdout,
            time: "2026-01-02T03:04:05.000000000Z".into(),
        }
    }

    #[test]
    fn log_lines_are_tagged_like_composes() {
        let list = [
            container("web", "demo-web-1"),
            container("db", "demo-database-1"),
            container("web", "demo-web-2"),
        ];
        let plain = Printer::with_color(&list, "demo", false, true, false);
        assert_eq!(plain.format_line(0, &line("up\n")), "web-1      | up\n");
        assert_eq!(plain.format_line(1, &line("ready")), "database-1 | ready\n");
        // One color per service, in the order services first appear.
        let colored = Printer::with_color(&list, "demo", true, true, false);
        assert_eq!(
            colored.format_line(2, &line("x")),
            "\x1b[36mweb-2      |\x1b[0m x\n"
        );
        assert_eq!(
            colored.format_line(1, &line("y")),
            "\x1b[33mdatabase-1 |\x1b[0m y\n"
        );
        let bare = Printer::with_color(&list, "demo", true, false, true);
        assert_eq!(
            bare.format_line(0, &line("z")),
            "2026-01-02T03:04:05.000000000Z z\n"
        );
    }

    #[test]
    fn commands_and_ids_are_truncated_unless_asked() {
        let c = container("web", "demo-web-1");
        let words: Vec<String> = vec!["sh".into(), "-c".into(), "sleep 1000000000000".into()];
        assert_eq!(command_column(&words, false), "\"sh -c sleep 1000000…\"");
        assert_eq!(
            command_column(&words, true),
            "\"sh -c sleep 1000000000000\""
        );
        assert_eq!(short_id(&c.record.id, false).len(), 12);
        assert_eq!(short_id(&c.record.id, true).len(), 64);
    }
}

#[cfg(test)]
mod error_text_tests {
    use super::error_text;

    #[derive(Debug, thiserror::Error)]
    #[error("reading /x: {source}")]
    struct Repeats {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_message_already_ends_with_is_printed_once() {
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        let e = anyhow::Error::new(Repeats { source: io }).context("converting");
        assert_eq!(
            error_text(&e),
            "converting: reading /x: No such file or directory (os error 2)"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&plain), "outer: inner");
    }
}
