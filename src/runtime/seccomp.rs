//! Seccomp profiles in Docker's JSON format (`--security-opt seccomp=…`),
//! and Docker's default profile as data (`seccomp_default.json`, moby's
//! `profiles/seccomp/default.json`), turned into the OCI `linux.seccomp`
//! for this host the way moby's `setupSeccomp` does: the host's arch (and
//! its sub-arches from `archMap`), rules kept or dropped by `includes` /
//! `excludes` on caps (the bounding set), arch and minimum kernel.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Docker's default profile (moby/profiles `seccomp/default.json`).
pub const DEFAULT_PROFILE: &str = include_str!("seccomp_default.json");

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp profile {source_name}: {source}")]
    Parse {
        source_name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading seccomp profile {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("seccomp profile {source_name}: both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'")]
    ArchAndArchMap { source_name: String },
    #[error("seccomp profile {source_name}: both 'name' and 'names' are specified in a rule, use either 'name' or 'names'")]
    NameAndNames { source_name: String },
    #[error("seccomp profile {source_name}: unknown architecture {arch:?}")]
    UnknownArch { source_name: String, arch: String },
    #[error("building the OCI seccomp section: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
    #[error("seccomp profile {source_name}: invalid minKernel {value:?} (want major.minor)")]
    MinKernel { source_name: String, value: String },
}

/// A profile in Docker's format.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(skip)]
    source_name: String,
    #[serde(default)]
    pub default_action: Option<LinuxSeccompAction>,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub arch_map: Vec<ArchMap>,
    #[serde(default)]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default)]
    pub listener_path: Option<PathBuf>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub names: Vec<String>,
    pub action: LinuxSeccompAction,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub caps: Vec<String>,
    /// Go/libseccomp arch names (`amd64`, `x32`, `arm64`, …).
    #[serde(default)]
    pub arches: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: usize,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: LinuxSeccompOperator,
}

/// What the profile is filtered for: the host's arch and kernel.
#[derive(Clone, Debug)]
pub struct Target {
    /// libseccomp's native name (`amd64`, `arm64`, …) as the profile's
    /// `includes.arches` spell it.
    pub arch: &'static str,
    /// `SCMP_ARCH_…` of the native arch, to pick the `archMap` entry.
    pub scmp_arch: &'static str,
    /// (major, minor) of the running kernel.
    pub kernel: (u32, u32),
}

impl Target {
    pub fn host() -> Self {
        let (arch, scmp_arch) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
            "x86" => ("x86", "SCMP_ARCH_X86"),
            "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
            "arm" => ("arm", "SCMP_ARCH_ARM"),
            "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
            "s390x" => ("s390x", "SCMP_ARCH_S390X"),
            "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
            "loongarch64" => ("loongarch64", "SCMP_ARCH_LOONGARCH64"),
            "mips64" => ("mips64", "SCMP_ARCH_MIPS64"),
            other => (other, ""),
        };
        let kernel = nix::sys::utsname::uname()
            .ok()
            .and_then(|u| parse_kernel(&u.release().to_string_lossy()))
            .unwrap_or((0, 0));
        Target {
            arch,
            scmp_arch,
            kernel,
        }
    }
}

/// `6.18.0-1-amd64` → (6, 18).
pub fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

impl Profile {
    /// Parses a profile's JSON; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, SeccompError> {
        let mut p: Profile = serde_json::from_str(text).map_err(|source| SeccompError::Parse {
            source_name: source_name.to_string(),
            source,
        })?;
        p.source_name = source_name.to_string();
        Ok(p)
    }

    pub fn load(path: &Path) -> Result<Self, SeccompError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeccompError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn docker_default() -> Result<Self, SeccompError> {
        Self::parse(DEFAULT_PROFILE, "docker default")
    }

    /// The OCI seccomp section for `target` and a process whose bounding
    /// set is `bounding` (`CAP_…` names). `None` when the profile is empty
    /// (no default action and no rules means "no seccomp", as in moby).
    pub fn to_oci(
        &self,
        bounding: &[String],
        target: &Target,
    ) -> Result<Option<LinuxSeccomp>, SeccompError> {
        let name = || self.source_name.clone();
        if self.default_action.is_none() && self.syscalls.is_empty() {
            return Ok(None);
        }
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(SeccompError::ArchAndArchMap {
                source_name: name(),
            });
        }
        let mut arch_names: Vec<&str> = self.architectures.iter().map(String::as_str).collect();
        if let Some(m) = self
            .arch_map
            .iter()
            .find(|m| m.architecture == target.scmp_arch)
        {
            arch_names.push(&m.architecture);
            arch_names.extend(m.sub_architectures.iter().flatten().map(String::as_str));
        }
        let architectures = arch_names
            .iter()
            .map(|a| {
                serde_json::from_value::<Arch>(serde_json::Value::String(a.to_string())).map_err(
                    |_| SeccompError::UnknownArch {
                        source_name: name(),
                        arch: a.to_string(),
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;

        let has_cap = |c: &String| bounding.iter().any(|b| b == c);
        let mut syscalls = Vec::new();
        for rule in &self.syscalls {
            let names = match (&rule.name, rule.names.is_empty()) {
                (Some(_), false) => {
                    return Err(SeccompError::NameAndNames {
                        source_name: name(),
                    })
                }
                (Some(n), true) => vec![n.clone()],
                (None, _) => rule.names.clone(),
            };
            if let Some(ex) = &rule.excludes {
                if ex.arches.iter().any(|a| a == target.arch) || ex.caps.iter().any(has_cap) {
                    continue;
                }
                if let Some(k) = &ex.min_kernel {
                    if target.kernel >= self.min_kernel(k)? {
                        continue;
                    }
                }
            }
            if let Some(inc) = &rule.includes {
                if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == target.arch) {
                    continue;
                }
                // Every listed cap must be in the bounding set.
                if !inc.caps.iter().all(has_cap) {
                    continue;
                }
                if let Some(k) = &inc.min_kernel {
                    if target.kernel < self.min_kernel(k)? {
                        continue;
                    }
                }
            }
            let mut sc = LinuxSyscall::default();
            sc.set_names(names);
            sc.set_action(rule.action);
            sc.set_errno_ret(rule.errno_ret);
            if !rule.args.is_empty() {
                sc.set_args(Some(
                    rule.args
                        .iter()
                        .map(|a| {
                            let mut b = LinuxSeccompArgBuilder::default()
                                .index(a.index)
                                .value(a.value)
                                .op(a.op);
                            if a.value_two != 0 {
                                b = b.value_two(a.value_two);
                            }
                            b.build()
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ));
            }
            syscalls.push(sc);
        }

        let mut out = LinuxSeccomp::default();
        out.set_default_action(
            self.default_action
                .unwrap_or(LinuxSeccompAction::ScmpActAllow),
        );
        out.set_default_errno_ret(self.default_errno_ret);
        if !architectures.is_empty() {
            out.set_architectures(Some(architectures));
        }
        if !self.flags.is_empty() {
            out.set_flags(Some(self.flags.clone()));
        }
        out.set_listener_path(self.listener_path.clone());
        out.set_listener_metadata(self.listener_metadata.clone());
        out.set_syscalls(Some(syscalls));
        Ok(Some(out))
    }

    fn min_kernel(&self, v: &str) -> Result<(u32, u32), SeccompError> {
        parse_kernel(v).ok_or_else(|| SeccompError::MinKernel {
            source_name: self.source_name.clone(),
            value: v.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x86(kernel: (u32, u32)) -> Target {
        Target {
            arch: "amd64",
            scmp_arch: "SCMP_ARCH_X86_64",
            kernel,
        }
    }

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    use crate::runtime::bundle::DEFAULT_CAPS;

    fn allowed(s: &LinuxSeccomp, name: &str) -> Vec<LinuxSyscall> {
        s.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == name))
            .cloned()
            .collect()
    }

    #[test]
    fn default_profile_for_x86_64_with_default_caps() {
        let p = Profile::docker_default().unwrap();
        let s = p
            .to_oci(&caps(DEFAULT_CAPS), &x86((6, 18)))
            .unwrap()
            .unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        // Plain syscalls allowed, arch-gated ones only for amd64.
        assert!(!allowed(&s, "read").is_empty());
        assert!(!allowed(&s, "arch_prctl").is_empty());
        assert!(allowed(&s, "riscv_flush_icache").is_empty());
        assert!(allowed(&s, "s390_runtime_instr").is_empty());
        // CAP_SYS_ADMIN rules out; the masked clone rule and clone3 → ENOSYS in.
        assert!(allowed(&s, "mount").is_empty());
        let clone = allowed(&s, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args().as_ref().unwrap()[0].index(), 0);
        let clone3 = allowed(&s, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));
        // chroot comes with CAP_SYS_CHROOT (a default cap); ptrace with kernel >= 4.8.
        assert!(!allowed(&s, "chroot").is_empty());
        assert!(!allowed(&s, "ptrace").is_empty());
    }

    #[test]
    fn caps_and_kernel_change_the_rules() {
        let p = Profile::docker_default().unwrap();
        let mut c = caps(DEFAULT_CAPS);
        c.push("CAP_SYS_ADMIN".into());
        let s = p.to_oci(&c, &x86((6, 1))).unwrap().unwrap();
        assert!(!allowed(&s, "mount").is_empty());
        // With SYS_ADMIN the restricted clone rule and the clone3 errno are excluded.
        assert!(allowed(&s, "clone3")
            .iter()
            .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow));
        assert!(allowed(&s, "clone").iter().all(|r| r.args().is_none()));

        let no_chroot: Vec<String> = caps(DEFAULT_CAPS)
            .into_iter()
            .filter(|c| c != "CAP_SYS_CHROOT")
            .collect();
        let s = p.to_oci(&no_chroot, &x86((4, 4))).unwrap().unwrap();
        assert!(allowed(&s, "chroot").is_empty());
        // Kernel 4.4 < minKernel 4.8: ptrace is not allowed.
        assert!(allowed(&s, "ptrace").is_empty());
    }

    #[test]
    fn other_arch_gets_its_own_arch_map() {
        let p = Profile::docker_default().unwrap();
        let t = Target {
            arch: "arm64",
            scmp_arch: "SCMP_ARCH_AARCH64",
            kernel: (6, 1),
        };
        let s = p.to_oci(&caps(DEFAULT_CAPS), &t).unwrap().unwrap();
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(allowed(&s, "arch_prctl").is_empty());
        assert!(!allowed(&s, "set_tls").is_empty());
    }

    #[test]
    fn custom_profiles_in_dockers_format() {
        let text = r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 511, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
            ]
        }"#;
        let p = Profile::parse(text, "custom.json").unwrap();
        let s = p.to_oci(&[], &x86((6, 1))).unwrap().unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64][..])
        );
        assert_eq!(allowed(&s, "mkdir")[0].errno_ret(), Some(13));
        assert_eq!(
            allowed(&s, "chmod")[0].args().as_ref().unwrap()[0].value(),
            511
        );
    }

    #[test]
    fn malformed_profiles_are_errors_naming_the_file() {
        let e = Profile::parse("{", "bad.json").unwrap_err();
        assert!(e.to_string().contains("bad.json"), "{e}");
        let both = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}"#;
        let p = Profile::parse(both, "both.json").unwrap();
        assert!(matches!(
            p.to_oci(&[], &x86((6, 1))),
            Err(SeccompError::NameAndNames { .. })
        ));
        let arch = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_VAX"]}"#;
        let p = Profile::parse(arch, "arch.json").unwrap();
        assert!(matches!(
            p.to_oci(&[], &x86((6, 1))),
            Err(SeccompError::UnknownArch { .. })
        ));
    }

    #[test]
    fn empty_profile_means_no_seccomp() {
        let p = Profile::parse("{}", "empty.json").unwrap();
        assert!(p.to_oci(&[], &x86((6, 1))).unwrap().is_none());
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel("6.18.0-1-amd64"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("5"), None);
    }
}
