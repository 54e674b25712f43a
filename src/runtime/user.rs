//! Who the container process runs as: Docker's `--user` and `--group-add`
//! resolved against the image's own `/etc/passwd` and `/etc/group`, the way
//! runc's `GetExecUser` (which Docker uses) does it. The files are read
//! inside the rootfs with `openat2(RESOLVE_IN_ROOT)` ([`crate::sys::confined`]),
//! so a symlinked `/etc/passwd` in a hostile image resolves inside the
//! image, never on the host.

use crate::sys::confined::Confine;
use nix::fcntl::OFlag;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Largest uid/gid Docker accepts (runc's `maxID`).
const MAX_ID: u64 = (1 << 31) - 1;
/// passwd/group files bigger than this are refused rather than read whole.
const MAX_FILE: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// Docker's exact wording, so users searching the message find answers.
    #[error("unable to find user {name}: no matching entries in passwd file")]
    NoSuchUser { name: String },
    #[error("unable to find group {name}: no matching entries in group file")]
    NoSuchGroup { name: String },
    #[error("user {spec:?}: id {id} is out of range (0..={MAX_ID})")]
    OutOfRange { spec: String, id: String },
    #[error("reading {path} in the image: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} in the image is larger than {MAX_FILE} bytes")]
    TooLarge { path: PathBuf },
}

/// The resolved identity, ready for `process.user`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Docker's order: the primary gid first, then the groups listing the
    /// user in /etc/group (only when no group was given explicitly), then
    /// `group_add`.
    pub additional_gids: Vec<u32>,
    /// Home from passwd ("/" when the user has no entry), used for `HOME`.
    pub home: String,
}

#[derive(Debug, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u64,
    gid: u64,
    home: String,
}

#[derive(Debug, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: u64,
    members: Vec<String>,
}

/// Resolves `user` (`""`/None = root, `uid`, `uid:gid`, `name`, `name:group`,
/// …) and `group_add` against `rootfs/etc/passwd` and `rootfs/etc/group`.
pub fn resolve(
    rootfs: &Path,
    user: Option<&str>,
    group_add: &[String],
) -> Result<ResolvedUser, UserError> {
    let passwd = read_in_root(rootfs, "etc/passwd")?
        .map(|t| parse_passwd(&t))
        .unwrap_or_default();
    let group = read_in_root(rootfs, "etc/group")?
        .map(|t| parse_group(&t))
        .unwrap_or_default();
    resolve_with(user.unwrap_or(""), group_add, &passwd, &group)
}

fn resolve_with(
    spec: &str,
    group_add: &[String],
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
) -> Result<ResolvedUser, UserError> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let uid_num = user_arg.parse::<u64>().ok();
    let gid_num = group_arg.parse::<u64>().ok();

    // Defaults when nothing matches: root, home "/" (runc's defaults).
    let mut uid = 0u64;
    let mut gid = 0u64;
    let mut home = "/".to_string();
    let found = passwd.iter().find(|p| {
        if user_arg.is_empty() {
            p.uid == 0
        } else if let Some(n) = uid_num {
            // A numeric user is always a uid, even if a user has that name.
            p.uid == n
        } else {
            p.name == user_arg
        }
    });
    let matched_name = match found {
        Some(p) => {
            uid = p.uid;
            gid = p.gid;
            home = p.home.clone();
            Some(p.name.as_str())
        }
        None if !user_arg.is_empty() => {
            let Some(n) = uid_num else {
                return Err(UserError::NoSuchUser {
                    name: user_arg.to_string(),
                });
            };
            uid = n;
            None
        }
        None => None,
    };
    check_range(spec, uid)?;

    let mut sgids = Vec::new();
    if !group_arg.is_empty() {
        let g = groups.iter().find(|g| match gid_num {
            Some(n) => g.gid == n,
            None => g.name == group_arg,
        });
        gid = match (g, gid_num) {
            (Some(g), _) => g.gid,
            (None, Some(n)) => n,
            (None, None) => {
                return Err(UserError::NoSuchGroup {
                    name: group_arg.to_string(),
                })
            }
        };
        check_range(spec, gid)?;
    } else if let Some(name) = matched_name {
        // Supplementary groups only in the implicit form, as runc does.
        sgids = groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
            .map(|g| g.gid)
            .collect();
    }

    let mut additional = vec![gid];
    additional.extend(sgids);
    for g in group_add {
        let id = match groups.iter().find(|e| &e.name == g) {
            Some(e) => e.gid,
            None => match g.parse::<u64>() {
                Ok(n) => n,
                Err(_) => return Err(UserError::NoSuchGroup { name: g.clone() }),
            },
        };
        check_range(g, id)?;
        additional.push(id);
    }
    // Every id passed check_range, so these casts cannot truncate.
    Ok(ResolvedUser {
        uid: uid as u32,
        gid: gid as u32,
        additional_gids: additional.into_iter().map(|g| g as u32).collect(),
        home,
    })
}

fn check_range(spec: &str, id: u64) -> Result<(), UserError> {
    if id > MAX_ID {
        return Err(UserError::OutOfRange {
            spec: spec.to_string(),
            id: id.to_string(),
        });
    }
    Ok(())
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let f: Vec<&str> = line.split(':').collect();
            // name:password:uid:gid:gecos:home:shell; malformed ids skip the line
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let f: Vec<&str> = line.split(':').collect();
            // name:password:gid:member,member
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Opens `rel` inside `root` as if `root` were `/` (symlinks and `..`
/// cannot leave it). `Ok(None)` when the file does not exist.
pub fn open_in_root(root: &Path, rel: &str, flags: OFlag) -> Result<Option<File>, UserError> {
    let err = |source| UserError::Read {
        path: root.join(rel),
        source,
    };
    let dir = File::open(root).map_err(err)?;
    match crate::sys::confined::open(dir.as_fd(), rel, flags, Confine::InRoot) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(err(std::io::Error::from(e))),
    }
}

fn read_in_root(root: &Path, rel: &str) -> Result<Option<String>, UserError> {
    let Some(file) = open_in_root(root, rel, OFlag::O_RDONLY)? else {
        return Ok(None);
    };
    let path = root.join(rel);
    let meta = file.metadata().map_err(|source| UserError::Read {
        path: path.clone(),
        source,
    })?;
    if !meta.is_file() {
        // A directory or device where passwd should be: treat as absent, as
        // there is nothing sensible to parse.
        return Ok(None);
    }
    let mut text = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut text)
        .map_err(|source| UserError::Read {
            path: path.clone(),
            source,
        })?;
    if text.len() as u64 > MAX_FILE {
        return Err(UserError::TooLarge { path });
    }
    Ok(Some(String::from_utf8_lossy(&text).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # a comment\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        1234:x:1500:1500::/home/numeric:/bin/sh\n\
        broken:x:notanumber:0::/:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
        daemon:x:1:\n\
        tty:x:5:app\n\
        app:x:1000:\n\
        staff:x:50:app,daemon\n\
        wheel:x:10:root\n\
        docker:x:999:\n";

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/passwd"), PASSWD).unwrap();
        fs::write(dir.path().join("etc/group"), GROUP).unwrap();
        dir
    }

    fn r(root: &Path, user: Option<&str>, add: &[&str]) -> Result<ResolvedUser, UserError> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve(root, user, &add)
    }

    #[test]
    fn no_user_is_root_with_roots_groups() {
        let dir = rootfs();
        let u = r(dir.path(), None, &[]).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert_eq!(u.additional_gids, vec![0, 10]);
        assert_eq!(u.home, "/root");
    }

    #[test]
    fn name_takes_gid_and_member_groups_from_the_files() {
        let dir = rootfs();
        let u = r(dir.path(), Some("app"), &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![1000, 5, 50]);
        assert_eq!(u.home, "/home/app");
    }

    #[test]
    fn explicit_group_drops_member_groups() {
        let dir = rootfs();
        let u = r(dir.path(), Some("app:docker"), &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 999));
        assert_eq!(u.additional_gids, vec![999]);
        let u = r(dir.path(), Some("app:4242"), &[]).unwrap();
        assert_eq!(u.gid, 4242);
    }

    #[test]
    fn numeric_user_is_a_uid_even_if_a_name_matches() {
        let dir = rootfs();
        // "1234" is a user *name* in passwd, but numbers are uids.
        let u = r(dir.path(), Some("1234"), &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1234, 0));
        assert_eq!(u.home, "/");
        let u = r(dir.path(), Some("1000"), &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![1000, 5, 50]);
    }

    #[test]
    fn uid_gid_numbers_not_in_the_files_are_allowed() {
        let dir = rootfs();
        let u = r(dir.path(), Some("4000:4001"), &[]).unwrap();
        assert_eq!((u.uid, u.gid), (4000, 4001));
        assert_eq!(u.additional_gids, vec![4001]);
    }

    #[test]
    fn unknown_names_fail_with_dockers_message() {
        let dir = rootfs();
        let e = r(dir.path(), Some("nobody"), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        let e = r(dir.path(), Some("app:nogroup"), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        let e = r(dir.path(), Some("app"), &["nogroup"]).unwrap_err();
        assert!(e.to_string().contains("unable to find group nogroup"));
    }

    #[test]
    fn group_add_by_name_and_number() {
        let dir = rootfs();
        let u = r(dir.path(), Some("app"), &["docker", "7777"]).unwrap();
        assert_eq!(u.additional_gids, vec![1000, 5, 50, 999, 7777]);
    }

    #[test]
    fn ids_out_of_range_are_refused() {
        let dir = rootfs();
        assert!(matches!(
            r(dir.path(), Some("4294967296"), &[]),
            Err(UserError::OutOfRange { .. })
        ));
        assert!(matches!(
            r(dir.path(), Some("0:2147483648"), &[]),
            Err(UserError::OutOfRange { .. })
        ));
    }

    #[test]
    fn missing_files_allow_numbers_only() {
        let dir = tempfile::tempdir().unwrap();
        let u = r(dir.path(), Some("33:44"), &[]).unwrap();
        assert_eq!((u.uid, u.gid), (33, 44));
        let u = r(dir.path(), None, &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/"));
        assert!(matches!(
            r(dir.path(), Some("app"), &[]),
            Err(UserError::NoSuchUser { .. })
        ));
    }

    #[test]
    fn symlinked_passwd_resolves_inside_the_rootfs() {
        // The image's /etc/passwd is an absolute symlink; it must be read
        // relative to the rootfs, not from the host.
        let outside = tempfile::tempdir().unwrap();
        fs::write(
            outside.path().join("probe-passwd"),
            "hostonly:x:4242:4242::/host:/bin/sh\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::create_dir_all(dir.path().join("real")).unwrap();
        fs::write(
            dir.path().join("real/passwd"),
            "inimage:x:77:77::/in:/bin/sh\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/real/passwd", dir.path().join("etc/passwd")).unwrap();
        let u = r(dir.path(), Some("inimage"), &[]).unwrap();
        assert_eq!(u.uid, 77);

        // And one that climbs with .. towards the probe on the host stays in.
        let target = format!(
            "../../../../../../..{}/probe-passwd",
            outside.path().display()
        );
        fs::remove_file(dir.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("etc/passwd")).unwrap();
        assert!(matches!(
            r(dir.path(), Some("hostonly"), &[]),
            Err(UserError::NoSuchUser { .. })
        ));
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let p = parse_passwd(PASSWD);
        assert!(p.iter().all(|e| e.name != "broken"));
        assert_eq!(p.len(), 4);
    }
}
