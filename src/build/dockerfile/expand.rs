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
