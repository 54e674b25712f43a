//! Capabilities, seccomp and rlimits of the container's process: moby's
//! `TweakCapabilities`/`SetCapabilities`, its `--security-opt` and `--ulimit` rules.

use super::{BundleError, Host, ALL_CAPS, DEFAULT_CAPS, DEFAULT_NOFILE};
use crate::runtime::seccomp::Profile;
use crate::runtime::spec::ContainerSpec;
use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxSeccomp, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType,
};
use std::path::PathBuf;

#[derive(Default)]
pub(super) struct SecurityOpts {
    pub(super) no_new_privileges: bool,
    seccomp: SeccompChoice,
    /// `systempaths=unconfined`: no masked or read-only /proc paths.
    pub(super) unconfined_paths: bool,
    /// `apparmor=PROFILE`: the (loaded) profile the runtime applies.
    apparmor_named: Option<String>,
    /// `apparmor=unconfined`: no profile, not even the default.
    apparmor_unconfined: bool,
}

#[derive(Default)]
enum SeccompChoice {
    #[default]
    Default,
    Unconfined,
    File(PathBuf),
}

impl SecurityOpts {
    /// `apparmor` says whether the host has AppArmor enabled.
    pub(super) fn parse(opts: &[String], cid: &str, apparmor: bool) -> Result<Self, BundleError> {
        let bad = |o: &str| BundleError::SecurityOpt {
            container: cid.to_string(),
            opt: o.to_string(),
        };
        let unsupported = |o: &str, reason: &str| BundleError::SecurityOptUnsupported {
            container: cid.to_string(),
            opt: o.to_string(),
            reason: reason.to_string(),
        };
        let mut out = SecurityOpts::default();
        for o in opts {
            if o == "no-new-privileges" {
                out.no_new_privileges = true;
                continue;
            }
            // Docker accepts `key=value` and the legacy `key:value`.
            let (k, v) = o
                .split_once('=')
                .or_else(|| o.split_once(':'))
                .ok_or_else(|| bad(o))?;
            match k {
                "no-new-privileges" => {
                    out.no_new_privileges = v.parse::<bool>().map_err(|_| bad(o))?;
                }
                "seccomp" if v == "unconfined" => out.seccomp = SeccompChoice::Unconfined,
                "seccomp" if !v.is_empty() => out.seccomp = SeccompChoice::File(v.into()),
                "systempaths" if v == "unconfined" => out.unconfined_paths = true,
                // Where the host has no AppArmor, unconfined is what runs
                // anyway; a named profile is applied by the runtime where
                // AppArmor is on, and refused where it cannot be.
                // The last apparmor= wins, as in Docker.
                "apparmor" if v == "unconfined" => {
                    out.apparmor_unconfined = true;
                    out.apparmor_named = None;
                }
                "apparmor" if !v.is_empty() && apparmor => {
                    out.apparmor_named = Some(v.to_string());
                    out.apparmor_unconfined = false;
                }
                "apparmor" if !v.is_empty() => {
                    return Err(unsupported(o, "AppArmor is not enabled on this host"))
                }
                // wharf sets no SELinux label, so only `disable` is true.
                "label" if v == "disable" => {}
                "label" => {
                    return Err(unsupported(
                        o,
                        "wharf applies no SELinux labels (only label=disable is accepted)",
                    ))
                }
                _ => return Err(bad(o)),
            }
        }
        Ok(out)
    }

    /// The AppArmor profile of the container's process, as moby picks it:
    /// the one named, else none for `unconfined` or a privileged container,
    /// else `wharf-default` where the host can load and apply it.
    pub(super) fn apparmor_profile(&self, privileged: bool, host: &Host) -> Option<String> {
        if self.apparmor_named.is_some() {
            return self.apparmor_named.clone();
        }
        let default = host.apparmor && host.apparmor_parser.is_some();
        (!self.apparmor_unconfined && !privileged && default)
            .then(|| crate::runtime::apparmor::DEFAULT_PROFILE.to_string())
    }
}

fn normalize_cap(name: &str) -> String {
    let up = name.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// moby's `TweakCapabilities`.
pub(super) fn tweak_caps(
    spec: &ContainerSpec,
    host: &Host,
    cid: &str,
) -> Result<Vec<String>, BundleError> {
    let all = host.all_caps();
    if spec.privileged {
        return Ok(all.iter().map(|s| s.to_string()).collect());
    }
    let norm = |list: &[String]| -> Result<Vec<String>, BundleError> {
        list.iter()
            .map(|c| {
                let n = normalize_cap(c);
                if n == "ALL" || ALL_CAPS.contains(&n.as_str()) {
                    Ok(n)
                } else {
                    Err(BundleError::UnknownCapability {
                        container: cid.to_string(),
                        name: n,
                    })
                }
            })
            .collect()
    };
    let add = norm(&spec.cap_add)?;
    let drop = norm(&spec.cap_drop)?;
    let has = |l: &[String], c: &str| l.iter().any(|x| x == c);
    let mut caps: Vec<String> = if has(&add, "ALL") {
        all.iter()
            .filter(|c| !has(&drop, c))
            .map(|s| s.to_string())
            .collect()
    } else if has(&drop, "ALL") {
        add.clone()
    } else {
        DEFAULT_CAPS
            .iter()
            .filter(|c| !has(&drop, c))
            .map(|s| s.to_string())
            .chain(add.iter().cloned())
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

pub(super) fn cap_set<S: AsRef<str>>(names: &[S], cid: &str) -> Result<Capabilities, BundleError> {
    names
        .iter()
        .map(|n| {
            serde_json::from_value::<Capability>(serde_json::Value::String(n.as_ref().to_string()))
                .map_err(|_| BundleError::UnknownCapability {
                    container: cid.to_string(),
                    name: n.as_ref().to_string(),
                })
        })
        .collect()
}

/// moby's `SetCapabilities` (20.10.14+): root gets the set in bounding,
/// effective and permitted; other users only in bounding, as execve would
/// leave them. Never inheritable or ambient (CVE-2022-24769).
pub(super) fn caps_for_user(
    caps: &[String],
    uid: u32,
    cid: &str,
) -> Result<LinuxCapabilities, BundleError> {
    let set = cap_set(caps, cid)?;
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(set.clone()));
    if uid == 0 {
        c.set_effective(Some(set.clone()));
        c.set_permitted(Some(set));
    } else {
        c.set_effective(None);
        c.set_permitted(None);
    }
    c.set_inheritable(None);
    c.set_ambient(None);
    Ok(c)
}

pub(super) fn seccomp(
    spec: &ContainerSpec,
    sec: &SecurityOpts,
    caps: &[String],
    host: &Host,
    cid: &str,
) -> Result<Option<LinuxSeccomp>, BundleError> {
    if spec.privileged {
        return Ok(None);
    }
    let wrap = |source| BundleError::Seccomp {
        container: cid.to_string(),
        source,
    };
    let profile = match &sec.seccomp {
        SeccompChoice::Unconfined => return Ok(None),
        SeccompChoice::Default => Profile::docker_default().map_err(wrap)?,
        SeccompChoice::File(p) => Profile::load(p).map_err(wrap)?,
    };
    profile.to_oci(caps, &host.seccomp).map_err(wrap)
}

// ---------------------------------------------------------------- rlimits, sysctls

pub(super) fn rlimits(
    spec: &ContainerSpec,
    host: &Host,
    cid: &str,
) -> Result<Vec<PosixRlimit>, BundleError> {
    let mut out = Vec::new();
    let bad = |name: &str, reason: String| BundleError::Ulimit {
        container: cid.to_string(),
        name: name.to_string(),
        reason,
    };
    // -1 is unlimited (RLIM_INFINITY), as in go-units.
    let value = |name: &str, v: i64| -> Result<u64, BundleError> {
        match v {
            -1 => Ok(u64::MAX),
            v if v >= 0 => Ok(v as u64),
            v => Err(bad(name, format!("invalid value {v}"))),
        }
    };
    for (name, &(soft, hard)) in &spec.ulimits {
        let typ = match name.as_str() {
            "as" => PosixRlimitType::RlimitAs,
            "core" => PosixRlimitType::RlimitCore,
            "cpu" => PosixRlimitType::RlimitCpu,
            "data" => PosixRlimitType::RlimitData,
            "fsize" => PosixRlimitType::RlimitFsize,
            "locks" => PosixRlimitType::RlimitLocks,
            "memlock" => PosixRlimitType::RlimitMemlock,
            "msgqueue" => PosixRlimitType::RlimitMsgqueue,
            "nice" => PosixRlimitType::RlimitNice,
            "nofile" => PosixRlimitType::RlimitNofile,
            "nproc" => PosixRlimitType::RlimitNproc,
            "rss" => PosixRlimitType::RlimitRss,
            "rtprio" => PosixRlimitType::RlimitRtprio,
            "rttime" => PosixRlimitType::RlimitRttime,
            "sigpending" => PosixRlimitType::RlimitSigpending,
            "stack" => PosixRlimitType::RlimitStack,
            _ => return Err(bad(name, "invalid ulimit type".into())),
        };
        let (s, h) = (value(name, soft)?, value(name, hard)?);
        if s > h {
            return Err(bad(
                name,
                format!(
                    "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
                ),
            ));
        }
        out.push(
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(s)
                .hard(h)
                .build()?,
        );
    }
    if !spec.ulimits.contains_key("nofile") {
        let hard = host
            .nofile_hard
            .map_or(DEFAULT_NOFILE.1, |h| h.min(DEFAULT_NOFILE.1));
        out.push(
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .soft(DEFAULT_NOFILE.0.min(hard))
                .hard(hard)
                .build()?,
        );
    }
    Ok(out)
}
