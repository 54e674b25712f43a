//! `wharf events`: `docker events`, or `docker compose events` when a
//! project is selected. The events come from the file every wharf process
//! appends to (src/runtime/events.rs); this follows it like `logs -f`.

use super::common;
use crate::cli::args::events::EventsArgs;
use crate::cli::resolve::{Settings, Target};
use crate::cli::template::{Fields, Template, TemplateError};
use crate::runtime::events::{Event, Follower};
use anyhow::bail;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `--since`/`--until`: Docker also takes Unix seconds (`1700000000.5`).
fn when(flag: &str, v: &str) -> anyhow::Result<SystemTime> {
    if let Ok(secs) = v.parse::<f64>() {
        if secs >= 0.0 && v.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Ok(UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    common::parse_when(flag, v)
}

fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Docker's filters: values of one key are alternatives, keys all must hold.
#[derive(Debug, Default)]
struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    fn parse(raw: &[String]) -> anyhow::Result<Filters> {
        let mut f = Filters::default();
        for r in raw {
            let Some((k, v)) = r.split_once('=') else {
                bail!("bad format of filter (expected name=value): {r}");
            };
            if !matches!(
                k,
                "container" | "service" | "event" | "type" | "image" | "label"
            ) {
                bail!("invalid filter '{k}'");
            }
            f.0.entry(k.to_string()).or_default().push(v.to_string());
        }
        Ok(f)
    }

    fn matches(&self, e: &Event) -> bool {
        self.0.iter().all(|(k, vals)| {
            vals.iter().any(|v| match k.as_str() {
                "container" => {
                    e.attr("name") == Some(v.as_str()) || e.actor.id.starts_with(v.as_str())
                }
                "service" => e.attr("com.docker.compose.service") == Some(v.as_str()),
                // `health_status` matches `health_status: healthy`.
                "event" => e.action == *v || e.action.split(':').next() == Some(v.as_str()),
                "type" => e.kind == *v,
                "image" => e.attr("image") == Some(v.as_str()),
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => e.attr(lk) == Some(lv),
                    None => e.actor.attributes.contains_key(v),
                },
                _ => false,
            })
        })
    }
}

/// How one event is printed.
enum Style {
    DockerText,
    DockerJson,
    /// `docker compose events` (`--json` or not).
    Compose {
        json: bool,
    },
    /// `--format` with a Go template.
    Template(Box<Template>),
}

fn attrs_text(e: &Event, skip_compose: bool) -> String {
    e.actor
        .attributes
        .iter()
        .filter(|(k, _)| !(skip_compose && k.starts_with("com.docker.compose.")))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's RFC3339Nano: trailing zeros of the fraction dropped.
fn rfc3339_trimmed(t: SystemTime) -> String {
    let s = crate::time::rfc3339_nanos(t);
    match s.rsplit_once('.') {
        Some((head, frac)) => {
            let digits = frac.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{head}Z")
            } else {
                format!("{head}.{digits}Z")
            }
        }
        None => s,
    }
}

/// An event through a `--format` template: Docker's fields by their Go
/// names (`.Type`, `.Action`, `.Actor.Attributes`, `.Time`, `.TimeNano`,
/// `.ID`, `.Status`, `.From`, `.Scope`).
fn event_template(t: &Template, e: &Event) -> Result<String, TemplateError> {
    let fields = match serde_json::to_value(e) {
        Ok(serde_json::Value::Object(m)) => m
            .into_iter()
            .map(|(k, v)| {
                let go_name = match k.as_str() {
                    "id" => "ID".to_string(),
                    other => {
                        let mut c = other.chars();
                        c.next()
                            .map(|f| f.to_uppercase().chain(c).collect())
                            .unwrap_or_default()
                    }
                };
                (go_name, v)
            })
            .collect(),
        _ => serde_json::Map::new(),
    };
    t.render(&serde_json::Value::Object(fields), Fields::Strict)
}

fn render(style: &Style, e: &Event) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(e.time_nano.max(0) as u64);
    match style {
        Style::DockerJson => serde_json::to_string(e).unwrap_or_default(),
        Style::DockerText => format!(
            "{} {} {} {} ({})",
            crate::time::rfc3339_nanos(t),
            e.kind,
            e.action,
            e.actor.id,
            attrs_text(e, false)
        ),
        Style::Compose { json: true } => {
            // Compose marshals a Go map: keys in sorted order.
            let attributes: serde_json::Map<String, serde_json::Value> = e
                .actor
                .attributes
                .iter()
                .filter(|(k, _)| !k.starts_with("com.docker.compose."))
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            let mut m = serde_json::Map::new();
            m.insert("action".into(), e.action.clone().into());
            m.insert("attributes".into(), attributes.into());
            m.insert("id".into(), e.actor.id.clone().into());
            m.insert(
                "service".into(),
                e.attr("com.docker.compose.service").unwrap_or("").into(),
            );
            m.insert("time".into(), rfc3339_trimmed(t).into());
            m.insert("type".into(), "container".into());
            serde_json::Value::Object(m).to_string()
        }
        Style::Template(t) => event_template(t, e).unwrap_or_else(|err| err.to_string()),
        Style::Compose { json: false } => {
            // Go layout "2006-01-02 15:04:05.000000".
            let full = crate::time::rfc3339_nanos(t).replacen('T', " ", 1);
            format!(
                "{} container {} {} ({})",
                &full[..full.len().min(26)],
                e.action,
                e.actor.id,
                attrs_text(e, true)
            )
        }
    }
}

pub fn events(settings: &Settings, target: &Target, args: &EventsArgs) -> anyhow::Result<ExitCode> {
    let (since, until) = common::time_window(args.since.as_deref(), args.until.as_deref(), when)?;
    let filters = Filters::parse(&args.filter)?;
    let (docker_json, template) = match args.format.as_deref() {
        None => (false, None),
        Some("json" | "{{json .}}") => (true, None),
        Some(f) => (
            false,
            Some(
                Template::parse(f)
                    .map_err(|e| anyhow::anyhow!("--format: template parsing error: {e}"))?,
            ),
        ),
    };
    let project = target.project();
    if project.is_some() && template.is_some() {
        bail!("--format: a compose project's events print as text or --json only");
    }
    if project.is_none() && !args.services.is_empty() {
        bail!("no such service: {}", args.services.join(", "));
    }
    let project_name = project.map(|(p, _)| p.name().to_string());
    let style = match (&project_name, template) {
        (None, Some(t)) => Style::Template(Box::new(t)),
        (Some(_), _) => Style::Compose {
            json: args.json || docker_json,
        },
        (None, None) if args.json || docker_json => Style::DockerJson,
        (None, None) => Style::DockerText,
    };
    let keep = |e: &Event| -> bool {
        if let Some(p) = &project_name {
            if e.attr("com.docker.compose.project") != Some(p.as_str())
                || e.attr("com.docker.compose.oneoff") == Some("True")
            {
                return false;
            }
            let svc = e.attr("com.docker.compose.service").unwrap_or("");
            if !args.services.is_empty() && !args.services.iter().any(|s| s == svc) {
                return false;
            }
        }
        filters.matches(e)
    };
    let root = settings.root();
    std::fs::create_dir_all(root).ok();
    let (past, mut follower) = Follower::open(root)?;
    let mut out = std::io::stdout().lock();
    let mut failure = None;
    let mut print = |e: &Event| -> bool {
        if !keep(e) {
            return true;
        }
        let line = match &style {
            Style::Template(t) => match event_template(t, e) {
                Ok(line) => line,
                Err(err) => {
                    failure = Some(err);
                    return false;
                }
            },
            _ => render(&style, e),
        };
        writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
    };
    // A template that fails on an event is the command's error.
    let done = |failure: Option<TemplateError>| match failure {
        Some(e) => Err(anyhow::anyhow!("--format: template parsing error: {e}")),
        None => Ok(ExitCode::SUCCESS),
    };
    // Past events only with --since, as Docker does.
    if let Some(s) = since {
        let from = nanos(s);
        for e in past.iter().filter(|e| e.time_nano >= from) {
            if until.is_some_and(|u| e.time_nano > nanos(u)) {
                break;
            }
            if !print(e) {
                return done(failure);
            }
        }
    }
    loop {
        if until.is_some_and(|u| SystemTime::now() > u) {
            return Ok(ExitCode::SUCCESS);
        }
        for e in follower.poll()? {
            if until.is_some_and(|u| e.time_nano > nanos(u)) {
                return Ok(ExitCode::SUCCESS);
            }
            if since.is_some_and(|s| e.time_nano < nanos(s)) {
                continue;
            }
            if !print(&e) {
                // stdout closed (`| head`), or the template failed.
                return done(failure);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::events::Actor;

    fn ev(action: &str, attrs: &[(&str, &str)]) -> Event {
        Event {
            status: action.into(),
            id: "abc123".into(),
            from: "busybox".into(),
            kind: "container".into(),
            action: action.into(),
            actor: Actor {
                id: "abc123".into(),
                attributes: attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            scope: "local".into(),
            time: 1_700_000_000,
            time_nano: 1_700_000_000_500_000_000,
        }
    }

    #[test]
    fn filters_like_docker() {
        let e = ev(
            "health_status: healthy",
            &[("name", "p-web-1"), ("com.docker.compose.service", "web")],
        );
        let f = |r: &[&str]| {
            Filters::parse(&r.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
                .matches(&e)
        };
        assert!(f(&["event=health_status"]));
        assert!(f(&["event=start", "event=health_status"]));
        assert!(!f(&["event=start"]));
        assert!(f(&["container=p-web-1", "service=web"]));
        assert!(f(&["container=abc"]));
        assert!(!f(&["container=p-web-1", "service=db"]));
        assert!(f(&["label=com.docker.compose.service=web"]));
        assert!(Filters::parse(&["bogus=1".into()]).is_err());
    }

    #[test]
    fn compose_json_shape() {
        let e = ev(
            "die",
            &[
                ("name", "p-web-1"),
                ("image", "busybox"),
                ("exitCode", "0"),
                ("com.docker.compose.service", "web"),
            ],
        );
        let line = render(&Style::Compose { json: true }, &e);
        assert_eq!(
            line,
            r#"{"action":"die","attributes":{"exitCode":"0","image":"busybox","name":"p-web-1"},"id":"abc123","service":"web","time":"2023-11-14T22:13:20.5Z","type":"container"}"#
        );
        let text = render(&Style::Compose { json: false }, &e);
        assert_eq!(
            text,
            "2023-11-14 22:13:20.500000 container die abc123 (exitCode=0, image=busybox, name=p-web-1)"
        );
    }
}
