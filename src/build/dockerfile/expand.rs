//! Which words of which instruction the builder expands (BuildKit's
//! `Expand` methods), and the typing of `RUN --mount` after expansion.

use super::ast::*;
use super::parse::csv_fields;
use super::shell::{substitute, substitute_heredoc, substitute_words, SubstError};

/// An instruction whose words cannot be expanded or typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("{instruction}: {source}")]
    Subst {
        instruction: &'static str,
        #[source]
        source: SubstError,
    },
    #[error("RUN --mount={spec}: {message}")]
    Mount { spec: String, message: String },
    #[error("EXPOSE: invalid port {port:?}: {message}")]
    Port { port: String, message: String },
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Returns `instruction` with the words BuildKit expands substituted through
/// `lookup` (the stage's ARG and ENV values at that point):
/// ADD/COPY sources, destination, `--chown`, `--chmod`, `--checksum` and the
/// bodies of unquoted heredocs; ENV and LABEL keys and values; ARG names and
/// defaults; EXPOSE (split into words); USER, WORKDIR, VOLUME, STOPSIGNAL.
/// RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER and ONBUILD come back
/// unchanged: their variables are for the shell in the container (RUN's
/// `--mount` values are typed by [`resolve_mount`]).
pub fn expand_instruction(
    instruction: &Instruction,
    escape: char,
    lookup: Lookup,
) -> Result<Instruction, ExpandError> {
    let keyword = instruction.keyword();
    let fail = |source| ExpandError::Subst {
        instruction: keyword,
        source,
    };
    let word = |w: &str| substitute(w, escape, lookup).map_err(fail);
    let words = |ws: &[String]| ws.iter().map(|w| word(w)).collect::<Result<Vec<_>, _>>();
    let pairs = |ps: &[(String, String)]| {
        ps.iter()
            .map(|(k, v)| Ok((word(k)?, word(v)?)))
            .collect::<Result<Vec<_>, ExpandError>>()
    };
    let optional = |w: &Option<String>| w.as_deref().map(word).transpose();
    Ok(match instruction {
        Instruction::Copy(args) | Instruction::Add(args) => {
            let heredocs = args
                .heredocs
                .iter()
                .map(|h| {
                    let content = if h.expand {
                        substitute_heredoc(&h.content, lookup).map_err(fail)?
                    } else {
                        h.content.clone()
                    };
                    Ok(Heredoc {
                        content,
                        ..h.clone()
                    })
                })
                .collect::<Result<Vec<_>, ExpandError>>()?;
            let expanded = CopyArgs {
                sources: words(&args.sources)?,
                heredocs,
                dest: word(&args.dest)?,
                chown: optional(&args.chown)?,
                chmod: optional(&args.chmod)?,
                checksum: optional(&args.checksum)?,
                ..args.clone()
            };
            match instruction {
                Instruction::Add(_) => Instruction::Add(expanded),
                _ => Instruction::Copy(expanded),
            }
        }
        Instruction::Workdir(path) => Instruction::Workdir(word(path)?),
        Instruction::User(user) => Instruction::User(word(user)?),
        Instruction::StopSignal(signal) => Instruction::StopSignal(word(signal)?),
        Instruction::Volume(paths) => Instruction::Volume(words(paths)?),
        Instruction::Env(vars) => Instruction::Env(pairs(vars)?),
        Instruction::Label(labels) => Instruction::Label(pairs(labels)?),
        Instruction::Expose(ports) => {
            let mut expanded = Vec::new();
            for port in ports {
                expanded.extend(substitute_words(port, escape, lookup).map_err(fail)?);
            }
            Instruction::Expose(expanded)
        }
        Instruction::Arg(decls) => Instruction::Arg(
            decls
                .iter()
                .map(|d| {
                    Ok(ArgDecl {
                        name: word(&d.name)?,
                        default: optional(&d.default)?,
                    })
                })
                .collect::<Result<Vec<_>, ExpandError>>()?,
        ),
        Instruction::Run(_)
        | Instruction::Cmd(_)
        | Instruction::Entrypoint(_)
        | Instruction::Healthcheck(_)
        | Instruction::Shell(_)
        | Instruction::Onbuild { .. }
        | Instruction::Maintainer(_) => instruction.clone(),
    })
}

/// The `FROM` line's image and `--platform` expanded with the global ARGs
/// (those declared before the first FROM, with build-arg overrides).
pub fn expand_from(
    from: &FromImage,
    escape: char,
    lookup: Lookup,
) -> Result<FromImage, ExpandError> {
    let fail = |source| ExpandError::Subst {
        instruction: "FROM",
        source,
    };
    Ok(FromImage {
        image: substitute(&from.image, escape, lookup).map_err(fail)?,
        platform: from
            .platform
            .as_deref()
            .map(|p| substitute(p, escape, lookup).map_err(fail))
            .transpose()?,
    })
}

/// Types one `--mount=` value after substituting its option values
/// (BuildKit's rules: bind is the default type and read-only by default,
/// cache and tmpfs are writable, `mode`/`uid`/`gid` only for cache, secret
/// and ssh, `size` only for tmpfs, `required` only for secret and ssh).
pub fn resolve_mount(
    spec: &MountSpec,
    escape: char,
    lookup: Lookup,
) -> Result<RunMount, ExpandError> {
    let fail = |message: String| ExpandError::Mount {
        spec: spec.raw.clone(),
        message,
    };
    let fields =
        csv_fields(&spec.raw).map_err(|m| fail(format!("failed to parse csv mounts: {m}")))?;
    let mut mount = RunMount {
        kind: MountKind::Bind,
        from: None,
        source: None,
        target: None,
        readonly: false,
        size: None,
        id: None,
        sharing: None,
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut readonly: Option<bool> = None;
    for field in &fields {
        let Some((key, value)) = field.split_once('=') else {
            match field.to_ascii_lowercase().as_str() {
                "readonly" | "ro" => readonly = Some(true),
                "readwrite" | "rw" => readonly = Some(false),
                "required" if matches!(mount.kind, MountKind::Secret | MountKind::Ssh) => {
                    mount.required = true
                }
                "required" => {
                    return Err(fail(format!(
                        "unexpected key 'required' for mount type '{}'",
                        kind_name(mount.kind)
                    )))
                }
                _ => {
                    return Err(fail(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )))
                }
            }
            continue;
        };
        let key = key.to_ascii_lowercase();
        let value = substitute(value, escape, lookup).map_err(|e| fail(e.to_string()))?;
        let parse_bool =
            |v: &str| parse_go_bool(v).ok_or_else(|| fail(format!("invalid value for {key}: {v}")));
        match key.as_str() {
            "type" => {
                mount.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountKind::Bind,
                    "cache" => MountKind::Cache,
                    "tmpfs" => MountKind::Tmpfs,
                    "secret" => MountKind::Secret,
                    "ssh" => MountKind::Ssh,
                    _ => {
                        return Err(fail(format!(
                            "unsupported mount type {value:?} (bind, cache, tmpfs, secret or ssh)"
                        )))
                    }
                }
            }
            "from" => mount.from = Some(value),
            "source" | "src" => mount.source = Some(value),
            "target" | "dst" | "destination" => mount.target = Some(value),
            "readonly" | "ro" => readonly = Some(parse_bool(&value)?),
            "readwrite" | "rw" => readonly = Some(!parse_bool(&value)?),
            "required" => {
                if !matches!(mount.kind, MountKind::Secret | MountKind::Ssh) {
                    return Err(fail(format!(
                        "unexpected key 'required' for mount type '{}'",
                        kind_name(mount.kind)
                    )));
                }
                mount.required = parse_bool(&value)?;
            }
            "size" => {
                if mount.kind != MountKind::Tmpfs {
                    return Err(fail(format!(
                        "unexpected key 'size' for mount type '{}'",
                        kind_name(mount.kind)
                    )));
                }
                mount.size = Some(
                    parse_ram_bytes(&value)
                        .ok_or_else(|| fail(format!("invalid value for size: {value}")))?,
                );
            }
            "id" => mount.id = Some(value),
            "sharing" => {
                mount.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    _ => {
                        return Err(fail(format!(
                            "unsupported sharing value {value:?} (shared, private or locked)"
                        )))
                    }
                })
            }
            "mode" => {
                mount.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| fail(format!("invalid value {value} for mode")))?,
                )
            }
            "uid" => {
                mount.uid = Some(
                    value
                        .parse()
                        .map_err(|_| fail(format!("invalid value {value} for uid")))?,
                )
            }
            "gid" => {
                mount.gid = Some(
                    value
                        .parse()
                        .map_err(|_| fail(format!("invalid value {value} for gid")))?,
                )
            }
            "env" => mount.env = Some(value),
            _ => return Err(fail(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    let kind = kind_name(mount.kind);
    let file_info_allowed = matches!(
        mount.kind,
        MountKind::Secret | MountKind::Ssh | MountKind::Cache
    );
    if !file_info_allowed {
        for (name, set) in [
            ("mode", mount.mode.is_some()),
            ("uid", mount.uid.is_some()),
            ("gid", mount.gid.is_some()),
        ] {
            if set {
                return Err(fail(format!("{name} not allowed for {kind:?} type mounts")));
            }
        }
    }
    mount.readonly = readonly.unwrap_or(!matches!(mount.kind, MountKind::Cache | MountKind::Tmpfs));
    if mount.kind == MountKind::Secret {
        if mount.from.is_some() {
            return Err(fail("secret mount should not have a from".to_string()));
        }
        if mount.sharing.is_some() {
            return Err(fail("secret mount should not define sharing".to_string()));
        }
        if mount.source.is_none() && mount.target.is_none() && mount.id.is_none() {
            return Err(fail(
                "invalid secret mount. one of source, target required".to_string(),
            ));
        }
        if mount.source.is_some() && mount.id.is_some() {
            return Err(fail("both source and id can't be set".to_string()));
        }
    }
    if mount.sharing.is_some() && mount.kind != MountKind::Cache {
        return Err(fail(format!("invalid cache sharing set for {kind} mount")));
    }
    if matches!(
        mount.kind,
        MountKind::Bind | MountKind::Cache | MountKind::Tmpfs
    ) && mount.target.as_deref().unwrap_or("").is_empty()
    {
        return Err(fail(format!("a {kind} mount needs a target")));
    }
    Ok(mount)
}

/// The image config's `ExposedPorts` keys (`80/tcp`) for expanded EXPOSE
/// words, as BuildKit reads them: `port[/proto]`, ranges (`8000-8002/udp`),
/// and the (tolerated) `[ip:][host:]container` forms; the protocol defaults
/// to tcp and is lower-cased.
pub fn exposed_ports(words: &[String]) -> Result<Vec<String>, ExpandError> {
    let mut ports = Vec::new();
    for word in words {
        let fail = |message: String| ExpandError::Port {
            port: word.clone(),
            message,
        };
        let parts: Vec<&str> = word.split(':').collect();
        let (ip, host, container) = match parts.as_slice() {
            [container] => ("".to_string(), "", *container),
            [host, container] => ("".to_string(), *host, *container),
            [ip @ .., host, container] => (ip.join(":"), *host, *container),
            [] => ("".to_string(), "", ""),
        };
        let (number, proto) = container.split_once('/').unwrap_or((container, ""));
        if number.is_empty() {
            return Err(fail("no port specified".to_string()));
        }
        let proto = match proto.to_ascii_lowercase().as_str() {
            "" => "tcp".to_string(),
            p @ ("tcp" | "udp" | "sctp") => p.to_string(),
            _ => return Err(fail(format!("invalid proto: {proto}"))),
        };
        if !ip.is_empty() {
            let bare = ip.trim_start_matches('[').trim_end_matches(']');
            if bare.parse::<std::net::IpAddr>().is_err() {
                return Err(fail(format!("invalid IP address: {ip}")));
            }
        }
        let (start, end) =
            port_range(number).ok_or_else(|| fail(format!("invalid containerPort: {number}")))?;
        if !host.is_empty() {
            let (host_start, host_end) =
                port_range(host).ok_or_else(|| fail(format!("invalid hostPort: {host}")))?;
            if end - start != host_end - host_start && end != start {
                return Err(fail(format!(
                    "invalid ranges specified for container and host Ports: {number} and {host}"
                )));
            }
        }
        ports.extend((start..=end).map(|p| format!("{p}/{proto}")));
    }
    Ok(ports)
}

/// `80` or `8000-8010` (0-65535).
fn port_range(text: &str) -> Option<(u32, u32)> {
    let number = |s: &str| s.parse::<u32>().ok().filter(|p| *p <= 65535);
    match text.split_once('-') {
        None => number(text).map(|p| (p, p)),
        Some((start, end)) if start == end => number(start).map(|p| (p, p)),
        Some((start, end)) => {
            let (start, end) = (number(start)?, number(end)?);
            (start <= end).then_some((start, end))
        }
    }
}

fn kind_name(kind: MountKind) -> &'static str {
    match kind {
        MountKind::Bind => "bind",
        MountKind::Cache => "cache",
        MountKind::Tmpfs => "tmpfs",
        MountKind::Secret => "secret",
        MountKind::Ssh => "ssh",
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// docker/go-units `RAMInBytes`: `64m`, `1.5GiB`, `512 kb`, `100` (binary multiples).
fn parse_ram_bytes(value: &str) -> Option<u64> {
    let number_len = value
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(number_len);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let number: f64 = number.parse().ok()?;
    let suffix = suffix
        .strip_prefix(' ')
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    let mut chars = suffix.chars();
    let multiplier: f64 = match chars.next() {
        None => return Some(number as u64),
        Some('b') if chars.as_str().is_empty() => 1.0,
        Some(unit) => {
            let power = "kmgtp".find(unit)? as i32 + 1;
            let rest = chars.as_str();
            if !matches!(rest, "" | "b" | "i" | "ib") {
                return None;
            }
            1024f64.powi(power)
        }
    };
    Some((number * multiplier) as u64)
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    fn instruction(line: &str) -> Instruction {
        let dockerfile = parse(&format!("FROM a\n{line}"), "Dockerfile").unwrap();
        dockerfile.stages[0].instructions[0].value.clone()
    }

    fn expanded(line: &str, pairs: &[(&str, &str)]) -> Instruction {
        expand_instruction(&instruction(line), '\\', &vars(pairs)).unwrap()
    }

    #[test]
    fn builder_words_are_expanded_and_shell_words_are_not() {
        let env = [
            ("APP", "/srv/app"),
            ("USER", "app"),
            ("PORT", "8080 9090"),
            ("NAME", "x"),
        ];
        match expanded(
            "COPY --from=$NAME --chown=$USER:$USER --chmod=${MODE:-644} ${SRC:-src}/ $APP/",
            &env,
        ) {
            Instruction::Copy(c) => {
                assert_eq!(c.sources, vec!["src/"]);
                assert_eq!(c.dest, "/srv/app/");
                assert_eq!(c.chown.as_deref(), Some("app:app"));
                assert_eq!(c.chmod.as_deref(), Some("644"));
                assert_eq!(c.from.as_deref(), Some("$NAME"), "--from is never expanded");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            expanded("WORKDIR $APP/sub", &env),
            Instruction::Workdir("/srv/app/sub".into())
        );
        assert_eq!(
            expanded("USER ${USER}", &env),
            Instruction::User("app".into())
        );
        assert_eq!(
            expanded("EXPOSE $PORT 53/udp", &env),
            Instruction::Expose(vec!["8080".into(), "9090".into(), "53/udp".into()])
        );
        assert_eq!(
            expanded("ENV DIR=\"$APP/data dir\" LEGACY=a\\ b", &env),
            Instruction::Env(vec![
                ("DIR".into(), "/srv/app/data dir".into()),
                ("LEGACY".into(), "a b".into())
            ])
        );
        assert_eq!(
            expanded("ENV PATH $APP/bin:$PATH", &env),
            Instruction::Env(vec![("PATH".into(), "/srv/app/bin:".into())])
        );
        assert_eq!(
            expanded("LABEL \"app.dir\"='$APP'", &env),
            Instruction::Label(vec![("app.dir".into(), "$APP".into())])
        );
        assert_eq!(
            expanded("VOLUME [\"$APP/data\"]", &env),
            Instruction::Volume(vec!["/srv/app/data".into()])
        );
        assert_eq!(
            expanded("STOPSIGNAL ${SIG:-SIGTERM}", &env),
            Instruction::StopSignal("SIGTERM".into())
        );
        assert_eq!(
            expanded("ARG DEST=$APP/out", &env),
            Instruction::Arg(vec![ArgDecl {
                name: "DEST".into(),
                default: Some("/srv/app/out".into())
            }])
        );
        for line in [
            "RUN echo $APP",
            "CMD echo $APP",
            "ENTRYPOINT [\"$APP\"]",
            "HEALTHCHECK CMD curl $APP",
            "ONBUILD COPY $APP /x",
            "SHELL [\"$APP\"]",
        ] {
            assert_eq!(expanded(line, &env), instruction(line), "{line}");
        }
    }

    #[test]
    fn heredoc_sources_expand_unless_quoted() {
        let env = [("NAME", "world")];
        match expanded(
            "COPY <<A <<\"B\" /dest/\nhello $NAME\nA\nhello $NAME\nB\n",
            &env,
        ) {
            Instruction::Copy(c) => {
                assert_eq!(c.heredocs[0].content, "hello world\n");
                assert_eq!(c.heredocs[1].content, "hello $NAME\n");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failing_expansion_names_the_instruction() {
        let error = expand_instruction(&instruction("WORKDIR ${DIR:?set DIR}"), '\\', &vars(&[]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "WORKDIR: failed to process \"${DIR:?set DIR}\": DIR: set DIR"
        );
    }

    #[test]
    fn from_lines_expand_image_and_platform() {
        let from = FromImage {
            image: "${REPO:-docker.io}/app:$TAG".into(),
            platform: Some("$TARGETPLATFORM".into()),
        };
        let expanded = expand_from(
            &from,
            '\\',
            &vars(&[("TAG", "1.0"), ("TARGETPLATFORM", "linux/amd64")]),
        )
        .unwrap();
        assert_eq!(expanded.image, "docker.io/app:1.0");
        assert_eq!(expanded.platform.as_deref(), Some("linux/amd64"));
    }

    fn mount(raw: &str, pairs: &[(&str, &str)]) -> Result<RunMount, ExpandError> {
        let spec = MountSpec {
            raw: raw.to_string(),
            from: None,
        };
        resolve_mount(&spec, '\\', &vars(pairs))
    }

    #[test]
    fn mounts_are_typed_after_expansion() {
        let m = mount("target=/src", &[]).unwrap();
        assert_eq!(
            (m.kind, m.readonly, m.target.as_deref()),
            (MountKind::Bind, true, Some("/src"))
        );
        let m = mount("type=bind,source=out,target=/in,from=build,rw", &[]).unwrap();
        assert_eq!(
            (m.readonly, m.from.as_deref(), m.source.as_deref()),
            (false, Some("build"), Some("out"))
        );
        let m = mount(
            "type=cache,target=$HOME/.cache,id=pip-$ARCH,sharing=locked,mode=0700,uid=$UID,gid=0",
            &[("HOME", "/root"), ("ARCH", "amd64"), ("UID", "1000")],
        )
        .unwrap();
        assert_eq!(m.kind, MountKind::Cache);
        assert!(!m.readonly);
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(m.id.as_deref(), Some("pip-amd64"));
        assert_eq!(m.sharing, Some(CacheSharing::Locked));
        assert_eq!((m.mode, m.uid, m.gid), (Some(0o700), Some(1000), Some(0)));
        let m = mount("type=tmpfs,target=/tmp,size=64m", &[]).unwrap();
        assert_eq!(m.size, Some(64 << 20));
        let m = mount("type=secret,id=npmrc,target=/root/.npmrc,required", &[]).unwrap();
        assert!(m.required && m.readonly);
        let m = mount("type=secret,id=token,env=TOKEN", &[]).unwrap();
        assert_eq!(m.env.as_deref(), Some("TOKEN"));
        let m = mount("type=ssh,required=true", &[]).unwrap();
        assert_eq!((m.kind, m.required), (MountKind::Ssh, true));
    }

    #[test]
    fn bad_mounts_are_refused() {
        let cases: &[(&str, &str)] = &[
            ("type=volume,target=/x", "unsupported mount type \"volume\""),
            (
                "type=bind,target=/x,uid=1",
                "uid not allowed for \"bind\" type mounts",
            ),
            (
                "type=tmpfs,target=/x,mode=0700",
                "mode not allowed for \"tmpfs\" type mounts",
            ),
            (
                "type=bind,target=/x,size=1m",
                "unexpected key 'size' for mount type 'bind'",
            ),
            (
                "type=bind,target=/x,required",
                "unexpected key 'required' for mount type 'bind'",
            ),
            (
                "type=bind,target=/x,sharing=shared",
                "invalid cache sharing set for bind mount",
            ),
            (
                "type=cache,target=/x,sharing=sometimes",
                "unsupported sharing value \"sometimes\"",
            ),
            (
                "type=cache,target=/x,mode=999",
                "invalid value 999 for mode",
            ),
            ("type=cache,target=/x,uid=me", "invalid value me for uid"),
            (
                "type=cache,target=/x,readonly=maybe",
                "invalid value for readonly: maybe",
            ),
            (
                "type=cache,target=/x,flavour=x",
                "unexpected key 'flavour' in 'flavour=x'",
            ),
            (
                "type=cache,target=/x,nosuch",
                "invalid field 'nosuch' must be a key=value pair",
            ),
            (
                "type=secret,id=a,from=b",
                "secret mount should not have a from",
            ),
            ("type=secret", "one of source, target required"),
            (
                "type=secret,source=a,id=b",
                "both source and id can't be set",
            ),
            ("type=cache", "a cache mount needs a target"),
            (
                "type=tmpfs,target=/t,size=lots",
                "invalid value for size: lots",
            ),
        ];
        for (raw, fragment) in cases {
            let error = mount(raw, &[]).unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("RUN --mount={raw}: ")),
                "{message}"
            );
            assert!(
                message.contains(fragment),
                "{raw}: {message} (expected {fragment:?})"
            );
        }
    }

    #[test]
    fn exposed_ports_like_buildkit() {
        let words = |ws: &[&str]| ws.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(
            exposed_ports(&words(&[
                "80",
                "53/UDP",
                "8000-8002/udp",
                "9000:90",
                "127.0.0.1:8080:80/sctp",
                "[::1]:1:1"
            ]))
            .unwrap(),
            words(&[
                "80/tcp", "53/udp", "8000/udp", "8001/udp", "8002/udp", "90/tcp", "80/sctp",
                "1/tcp"
            ])
        );
        for (bad, fragment) in [
            ("/tcp", "no port specified"),
            ("80/icmp", "invalid proto: icmp"),
            ("70000", "invalid containerPort: 70000"),
            ("90-80", "invalid containerPort"),
            ("x", "invalid containerPort"),
            ("nope:1:1", "invalid IP address: nope"),
            ("1-3:1-2", "invalid ranges"),
        ] {
            let error = exposed_ports(&words(&[bad])).unwrap_err().to_string();
            assert!(
                error.contains(fragment) && error.contains(bad),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn ram_sizes_like_go_units() {
        let cases: &[(&str, Option<u64>)] = &[
            ("100", Some(100)),
            ("1k", Some(1024)),
            ("64m", Some(64 << 20)),
            ("1.5GiB", Some(3 << 29)),
            ("2 gb", Some(2 << 30)),
            ("1b", Some(1)),
            ("", None),
            ("m", None),
            ("1x", None),
            ("1mbb", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_ram_bytes(text), *expected, "{text:?}");
        }
    }
}
