//! Real tar layers built here, unpacked into real directories (as root).

use super::*;
use nix::sys::stat::makedev;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use tar::{Builder, EntryType, Header};

const MTIME: u64 = 1_700_000_000;

/// An entry written with its name and link name as raw bytes, so hostile
/// names (`..`, absolute) get past the tar crate's own checks.
struct E<'a> {
    kind: EntryType,
    name: &'a [u8],
    link: &'a [u8],
    mode: u32,
    uid: u64,
    gid: u64,
    data: &'a [u8],
    dev: (u32, u32),
}

fn e(kind: EntryType, name: &'static str) -> E<'static> {
    E {
        kind,
        name: name.as_bytes(),
        link: b"",
        mode: if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        },
        uid: 0,
        gid: 0,
        data: b"",
        dev: (0, 0),
    }
}

fn dir(name: &'static str) -> E<'static> {
    e(EntryType::Directory, name)
}

fn file(name: &'static str, data: &'static [u8]) -> E<'static> {
    E {
        data,
        ..e(EntryType::Regular, name)
    }
}

fn symlink(name: &'static str, target: &'static str) -> E<'static> {
    E {
        link: target.as_bytes(),
        mode: 0o777,
        ..e(EntryType::Symlink, name)
    }
}

fn hardlink(name: &'static str, target: &'static str) -> E<'static> {
    E {
        link: target.as_bytes(),
        ..e(EntryType::Link, name)
    }
}

fn header(x: &E<'_>) -> Header {
    let mut h = Header::new_gnu();
    h.as_old_mut().name[..x.name.len()].copy_from_slice(x.name);
    h.as_old_mut().linkname[..x.link.len()].copy_from_slice(x.link);
    h.set_entry_type(x.kind);
    h.set_mode(x.mode);
    h.set_uid(x.uid);
    h.set_gid(x.gid);
    h.set_mtime(MTIME);
    h.set_size(x.data.len() as u64);
    if matches!(x.kind, EntryType::Char | EntryType::Block) {
        h.set_device_major(x.dev.0).expect("major");
        h.set_device_minor(x.dev.1).expect("minor");
    }
    h.set_cksum();
    h
}

fn tar_of(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = Builder::new(Vec::new());
    for x in entries {
        b.append(&header(x), x.data).expect("append");
    }
    b.into_inner().expect("finish")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

fn lgetxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).expect("path");
    let n = CString::new(name).expect("name");
    let mut buf = vec![0u8; 256];
    // SAFETY: NUL-terminated strings, buffer pointer/length from a Vec.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return None;
    }
    buf.truncate(r as usize);
    Some(buf)
}

/// A temp dir holding `dest` (the layer) next to other content that a
/// hostile layer must not touch.
struct Sandbox {
    tmp: tempfile::TempDir,
    /// Absolute path of `outside`, for symlinks that hostile layers write through.
    outside: &'static str,
}

/// The only name a hostile test would create in /etc or / if the protection
/// regressed: tests never aim at real host files, so a bug cannot damage the
/// machine, and the probe is removed again.
const PROBE: &str = "wharf-unpack-escape-probe";

type Snapshot = BTreeMap<PathBuf, (u32, u64, i64, i64, u64, Vec<u8>)>;

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join("dest")).expect("dest");
        std::fs::create_dir(tmp.path().join("outside")).expect("outside");
        std::fs::write(tmp.path().join("outside/keep"), b"keep").expect("keep");
        std::fs::write(tmp.path().join("sentinel"), b"sentinel").expect("sentinel");
        let outside = tmp.path().join("outside").to_string_lossy().into_owned();
        Sandbox {
            tmp,
            outside: Box::leak(outside.into_boxed_str()),
        }
    }

    fn dest(&self) -> PathBuf {
        self.tmp.path().join("dest")
    }

    fn unpack(&self, layer: &[u8]) -> Result<UnpackStats, UnpackError> {
        unpack_layer(layer, &self.dest(), &UnpackOptions::default())
    }

    /// Everything outside `dest`, plus the host files hostile layers aim at.
    fn snapshot(&self) -> Snapshot {
        let mut out = BTreeMap::new();
        let mut todo = vec![self.tmp.path().to_path_buf()];
        while let Some(d) = todo.pop() {
            for ent in std::fs::read_dir(&d).expect("read_dir") {
                let p = ent.expect("entry").path();
                if p == self.dest() {
                    continue;
                }
                let m = std::fs::symlink_metadata(&p).expect("lstat");
                if m.is_dir() {
                    todo.push(p.clone());
                }
                let content = if m.is_file() {
                    std::fs::read(&p).expect("read")
                } else {
                    Vec::new()
                };
                out.insert(
                    p,
                    (m.mode(), m.nlink(), m.mtime(), m.ctime(), m.ino(), content),
                );
            }
        }
        for host in ["/etc/passwd", "/etc/shadow", "/etc", "/"] {
            if let Ok(m) = std::fs::symlink_metadata(host) {
                let names = if m.is_dir() {
                    // A new name directly in /etc or / would show here.
                    let mut v: Vec<_> = std::fs::read_dir(host)
                        .expect("read_dir")
                        .filter_map(|e| e.ok().map(|e| e.file_name().as_bytes().to_vec()))
                        .filter(|n| !n.starts_with(b".tmp"))
                        .collect();
                    v.sort();
                    v.concat()
                } else {
                    Vec::new()
                };
                out.insert(
                    PathBuf::from(host),
                    (m.mode(), m.nlink(), m.mtime(), 0, m.ino(), names),
                );
            }
        }
        out
    }
}

/// Unpacks a hostile layer; it must fail with the given refusal and leave
/// everything outside `dest` as it was.
fn assert_refused(entries: &[E<'_>], want: Refusal) {
    assert_refused_in(&Sandbox::new(), entries, want)
}

fn assert_refused_in(sb: &Sandbox, entries: &[E<'_>], want: Refusal) {
    let before = sb.snapshot();
    let result = sb.unpack(&tar_of(entries));
    for probe in [Path::new("/etc").join(PROBE), Path::new("/").join(PROBE)] {
        if std::fs::symlink_metadata(&probe).is_ok() {
            let _ = std::fs::remove_file(&probe);
            panic!("ESCAPE: {} was created: {result:?}", probe.display());
        }
    }
    let err = result.expect_err("hostile layer unpacked");
    match &err {
        UnpackError::Refused { reason, .. } => assert_eq!(*reason, want, "{err}"),
        other => panic!("expected refusal {want:?}, got {other}"),
    }
    assert!(err.to_string().contains("refused"), "{err}");
    assert_eq!(
        sb.snapshot(),
        before,
        "something outside dest changed: {err}"
    );
    remove_tree(&sb.dest()).expect("remove_tree");
    assert!(!sb.dest().exists());
}

#[test]
fn clean_path_folds_dots_and_refuses_escapes() {
    let c =
        |s: &str| clean_path(s.as_bytes()).map(|v| v.iter().map(|c| lossy(c)).collect::<Vec<_>>());
    assert_eq!(c("/etc/./passwd").expect("ok"), ["etc", "passwd"]);
    assert_eq!(c("a/../b//c/").expect("ok"), ["b", "c"]);
    assert!(c("./").expect("ok").is_empty());
    assert_eq!(c("../x"), Err(Refusal::EscapesRoot));
    assert_eq!(c("a/../../x"), Err(Refusal::EscapesRoot));
    assert_eq!(c("/../x"), Err(Refusal::EscapesRoot));
    assert_eq!(clean_path(b"a\0b").map(|v| v.len()), Err(Refusal::NulByte));
}

#[test]
fn pax_times_parse() {
    assert_eq!(
        parse_pax_time(b"12.5"),
        Some(TimeSpec::new(12, 500_000_000))
    );
    assert_eq!(parse_pax_time(b"7"), Some(TimeSpec::new(7, 0)));
    assert_eq!(
        parse_pax_time(b"-1.25"),
        Some(TimeSpec::new(-2, 750_000_000))
    );
    assert_eq!(parse_pax_time(b"x"), None);
}

#[test]
fn preserves_files_modes_owners_links_devices_xattrs() {
    let mut b = Builder::new(Vec::new());
    let plain = |x: E<'_>, b: &mut Builder<Vec<u8>>| b.append(&header(&x), x.data).expect("append");
    plain(
        E {
            mode: 0o2775,
            uid: 1000,
            gid: 1001,
            ..dir("srv/")
        },
        &mut b,
    );
    plain(
        E {
            mode: 0o1777,
            ..dir("tmp/")
        },
        &mut b,
    );
    plain(
        E {
            mode: 0o4755,
            data: b"#!/bin/true\n",
            ..file("srv/suid", b"")
        },
        &mut b,
    );
    plain(
        E {
            mode: 0o2711,
            uid: 5,
            gid: 6,
            ..file("srv/sgid", b"x")
        },
        &mut b,
    );
    plain(symlink("srv/abs", "/etc/passwd"), &mut b);
    plain(symlink("srv/rel", "../../../etc"), &mut b);
    plain(hardlink("srv/hard", "srv/sgid"), &mut b);
    plain(hardlink("srv/hard-abs", "/srv/suid"), &mut b);
    plain(
        E {
            dev: (1, 3),
            mode: 0o666,
            ..e(EntryType::Char, "dev/null")
        },
        &mut b,
    );
    plain(
        E {
            dev: (7, 0),
            mode: 0o660,
            gid: 6,
            ..e(EntryType::Block, "dev/loop0")
        },
        &mut b,
    );
    plain(
        E {
            mode: 0o600,
            ..e(EntryType::Fifo, "run/fifo")
        },
        &mut b,
    );
    // security.capability: VFS_CAP_REVISION_2 with the effective bit,
    // permitted = CAP_NET_BIND_SERVICE.
    let mut cap = Vec::new();
    for w in [0x0200_0001u32, 1 << 10, 0, 0, 0] {
        cap.extend_from_slice(&w.to_le_bytes());
    }
    b.append_pax_extensions([
        ("SCHILY.xattr.security.capability", cap.as_slice()),
        ("SCHILY.xattr.user.note", b"hello".as_slice()),
        ("SCHILY.xattr.trusted.overlay.redirect", b"/etc".as_slice()),
        ("uid", b"3000000".as_slice()),
        ("mtime", b"1600000000.25".as_slice()),
    ])
    .expect("pax");
    plain(
        E {
            mode: 0o755,
            ..file("usr/bin/ping", b"ping")
        },
        &mut b,
    );
    let long = format!("usr/share/{}/file", "d".repeat(150));
    let mut h = Header::new_gnu();
    h.set_mode(0o640);
    h.set_mtime(MTIME);
    h.set_size(4);
    b.append_data(&mut h, &long, b"long".as_slice())
        .expect("long name");
    let mut h = Header::new_gnu();
    h.set_entry_type(EntryType::Symlink);
    h.set_mtime(MTIME);
    h.set_size(0);
    b.append_link(&mut h, "usr/longlink", format!("/{}", "t".repeat(200)))
        .expect("long link");
    // PAX path and linkpath override the header's names.
    let pax_name = format!("opt/{}/pax", "p".repeat(120));
    let pax_link = format!("../{}", "q".repeat(120));
    b.append_pax_extensions([
        ("path", pax_name.as_bytes()),
        ("linkpath", pax_link.as_bytes()),
    ])
    .expect("pax");
    plain(symlink("ignored", "ignored"), &mut b);
    let layer = b.into_inner().expect("finish");

    let sb = Sandbox::new();
    let d = sb.dest();
    let st = sb.unpack(&gzip_roundtrip(&layer)).expect("unpack");
    assert_eq!(
        std::fs::read_link(d.join(&pax_name)).expect("pax symlink"),
        Path::new(&pax_link)
    );
    assert!(!d.join("ignored").exists());
    assert_eq!(st.diff_id, Digest::sha256_of(&layer));
    assert_eq!(st.tar_bytes, layer.len() as u64);
    assert_eq!(
        (st.files, st.dirs, st.symlinks, st.hard_links),
        (4, 2, 4, 2)
    );
    assert_eq!((st.devices, st.fifos), (2, 1));
    assert_eq!(
        st.xattrs_skipped, 1,
        "the trusted.overlay.* xattr from the tar"
    );
    assert_eq!(st.content_bytes, 12 + 1 + 4 + 4);

    let m = |p: &str| std::fs::symlink_metadata(d.join(p)).expect(p);
    assert_eq!(m("srv").mode() & 0o7777, 0o2775);
    assert_eq!((m("srv").uid(), m("srv").gid()), (1000, 1001));
    assert_eq!(
        m("srv").mtime(),
        MTIME as i64,
        "dir mtime applied after its contents"
    );
    assert_eq!(m("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(m("srv/suid").mode() & 0o7777, 0o4755);
    assert_eq!(
        std::fs::read(d.join("srv/suid")).expect("read"),
        b"#!/bin/true\n"
    );
    assert_eq!(m("srv/sgid").mode() & 0o7777, 0o2711);
    assert_eq!((m("srv/sgid").uid(), m("srv/sgid").gid()), (5, 6));
    assert_eq!(m("srv/sgid").mtime(), MTIME as i64);
    assert_eq!(
        std::fs::read_link(d.join("srv/abs")).expect("link"),
        Path::new("/etc/passwd")
    );
    assert_eq!(m("srv/abs").mtime(), MTIME as i64);
    assert_eq!(
        std::fs::read_link(d.join("srv/rel")).expect("link"),
        Path::new("../../../etc")
    );
    assert_eq!(m("srv/hard").ino(), m("srv/sgid").ino());
    assert_eq!(m("srv/sgid").nlink(), 2);
    assert_eq!(m("srv/hard-abs").ino(), m("srv/suid").ino());
    assert!(m("dev/null").file_type().is_char_device());
    assert_eq!(m("dev/null").rdev(), makedev(1, 3));
    assert_eq!(m("dev/null").mode() & 0o7777, 0o666);
    assert!(m("dev/loop0").file_type().is_block_device());
    assert_eq!(m("dev/loop0").rdev(), makedev(7, 0));
    assert_eq!(m("dev/loop0").gid(), 6);
    assert!(m("run/fifo").file_type().is_fifo());
    assert_eq!(m("run/fifo").mode() & 0o7777, 0o600);
    // Implicit parents: 0755 whatever the umask.
    assert_eq!(m("usr/bin").mode() & 0o7777, 0o755);
    let ping = m("usr/bin/ping");
    assert_eq!(ping.uid(), 3_000_000, "PAX uid");
    assert_eq!(
        (ping.mtime(), ping.mtime_nsec()),
        (1_600_000_000, 250_000_000)
    );
    assert_eq!(
        lgetxattr(&d.join("usr/bin/ping"), "security.capability").as_deref(),
        Some(cap.as_slice())
    );
    assert_eq!(
        lgetxattr(&d.join("usr/bin/ping"), "user.note").as_deref(),
        Some(b"hello".as_slice())
    );
    assert_eq!(
        lgetxattr(&d.join("usr/bin/ping"), "trusted.overlay.redirect"),
        None
    );
    assert_eq!(std::fs::read(d.join(&long)).expect("long"), b"long");
    assert_eq!(m(&long).mode() & 0o7777, 0o640);
    assert_eq!(
        std::fs::read_link(d.join("usr/longlink")).expect("link"),
        Path::new(&format!("/{}", "t".repeat(200)))
    );
    drop(sb);
}

/// gzip then decompress through `decompress`, as a pull does.
fn gzip_roundtrip(layer: &[u8]) -> Vec<u8> {
    let gz = gzip(layer);
    let mut out = Vec::new();
    decompress(OCI_LAYER_GZIP, gz.as_slice())
        .expect("decompress")
        .read_to_end(&mut out)
        .expect("read");
    assert_eq!(out, layer);
    out
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let layer = tar_of(&[
        dir("etc/"),
        E {
            uid: 7,
            gid: 7,
            ..file("etc/.wh.shadow", b"")
        },
        dir("var/spool/"),
        file("var/spool/.wh..wh..opq", b""),
        file("var/spool/NOTE", b"note"),
        file(".wh.gone", b""),
        // A file and its whiteout in one layer: the whiteout wins.
        file("tmp/x", b"x"),
        file("tmp/.wh.x", b""),
        // AUFS metadata is skipped, as Docker does.
        file(".wh..wh.plnk/123", b"junk"),
    ]);
    let sb = Sandbox::new();
    let d = sb.dest();
    let st = sb.unpack(&layer).expect("unpack");
    assert_eq!((st.whiteouts, st.opaque_dirs, st.aufs_skipped), (3, 1, 1));
    for w in ["etc/shadow", "gone", "tmp/x"] {
        let m = std::fs::symlink_metadata(d.join(w)).expect(w);
        assert!(m.file_type().is_char_device(), "{w}");
        assert_eq!((m.rdev(), m.uid(), m.gid()), (0, 0, 0), "{w}");
    }
    assert!(!d.join("etc/.wh.shadow").exists());
    assert!(!d.join(".wh..wh.plnk").exists());
    assert_eq!(
        lgetxattr(&d.join("var/spool"), "trusted.overlay.opaque").as_deref(),
        Some(b"y".as_slice())
    );
    assert_eq!(lgetxattr(&d.join("etc"), "trusted.overlay.opaque"), None);
    assert!(!d.join("var/spool/.wh..wh..opq").exists());
    assert_eq!(
        std::fs::read(d.join("var/spool/NOTE")).expect("note"),
        b"note"
    );
}

#[test]
fn later_entries_replace_earlier_ones_without_following_symlinks() {
    let sb = Sandbox::new();
    let outside = sb.tmp.path().join("outside");
    let outside_s: &'static str =
        Box::leak(outside.to_string_lossy().into_owned().into_boxed_str());
    let before = sb.snapshot();
    let layer = tar_of(&[
        symlink("l", "/etc/passwd"),
        file("l", b"replaced"),
        symlink("o", outside_s),
        dir("o/"),
        file("o/keep", b"mine"),
        dir("a/"),
        file("a/f", b"f"),
        file("a", b"now a file"),
        // A leading `/` is stripped, as Docker does.
        file("/abs/file", b"abs"),
    ]);
    sb.unpack(&layer).expect("unpack");
    let d = sb.dest();
    assert_eq!(std::fs::read(d.join("l")).expect("l"), b"replaced");
    assert!(std::fs::symlink_metadata(d.join("o")).expect("o").is_dir());
    assert_eq!(std::fs::read(d.join("o/keep")).expect("keep"), b"mine");
    assert_eq!(std::fs::read(d.join("a")).expect("a"), b"now a file");
    assert_eq!(std::fs::read(d.join("abs/file")).expect("abs"), b"abs");
    assert_eq!(sb.snapshot(), before);
}

#[test]
fn hostile_paths_are_refused() {
    assert_refused(&[file("../escape", b"x")], Refusal::EscapesRoot);
    assert_refused(
        &[dir("a/"), file("a/../../escape", b"x")],
        Refusal::EscapesRoot,
    );
    assert_refused(&[file("/../../sentinel", b"x")], Refusal::EscapesRoot);
    let probe_in =
        |dir: &str| -> &'static str { Box::leak(format!("{dir}/{PROBE}").into_boxed_str()) };
    assert_refused(
        &[symlink("etc", "/etc"), file(probe_in("etc"), b"x")],
        Refusal::ThroughSymlink {
            component: "etc".into(),
        },
    );
    // Overwriting an existing file through an absolute symlink: aimed at a
    // fake etc/passwd in the sandbox rather than the host's.
    let sb = Sandbox::new();
    std::fs::write(
        sb.tmp.path().join("outside/passwd"),
        b"root:x:0:0::/root:/bin/bash\n",
    )
    .expect("fake passwd");
    assert_refused_in(
        &sb,
        &[
            symlink("etc", sb.outside),
            file("etc/passwd", b"root::0:0::/:/bin/sh\n"),
        ],
        Refusal::ThroughSymlink {
            component: "etc".into(),
        },
    );
    assert_refused(
        &[symlink("x", "../../.."), file(probe_in("x"), b"x")],
        Refusal::ThroughSymlink {
            component: "x".into(),
        },
    );
    // Deeper, and for a directory entry.
    assert_refused(
        &[dir("a/"), symlink("a/b", "../.."), dir("a/b/c/")],
        Refusal::ThroughSymlink {
            component: "a/b".into(),
        },
    );
    // A directory replaced by a symlink, then written through (the parent
    // cache must not keep the old directory).
    assert_refused(
        &[
            dir("d/"),
            file("d/1", b"1"),
            symlink("d", "/etc"),
            file(probe_in("d"), b"2"),
        ],
        Refusal::ThroughSymlink {
            component: "d".into(),
        },
    );
    assert_refused(
        &[
            symlink("w", "/etc"),
            file(Box::leak(format!("w/.wh.{PROBE}").into_boxed_str()), b""),
        ],
        Refusal::ThroughSymlink {
            component: "w".into(),
        },
    );
    let sb = Sandbox::new();
    assert_refused_in(
        &sb,
        &[symlink("o", sb.outside), file("o/.wh..wh..opq", b"")],
        Refusal::ThroughSymlink {
            component: "o".into(),
        },
    );
    assert_refused(
        &[file("f", b"x"), file("f/g", b"x")],
        Refusal::NotADirectory {
            component: "f".into(),
        },
    );
    assert_refused(&[file("/", b"x")], Refusal::ReplacesRoot);
}

#[test]
fn hostile_links_and_whiteouts_are_refused() {
    let shadow_links = std::fs::metadata("/etc/shadow").map(|m| m.nlink()).ok();
    assert_refused(
        &[hardlink("shadow", "/etc/shadow")],
        Refusal::LinkTargetMissing {
            target: "/etc/shadow".into(),
        },
    );
    assert_refused(
        &[hardlink("out", "../outside/keep")],
        Refusal::LinkEscapes {
            target: "../outside/keep".into(),
        },
    );
    assert_refused(
        &[symlink("s", "/etc"), hardlink("pw", "s/passwd")],
        Refusal::LinkThroughSymlink {
            target: "s/passwd".into(),
            component: "s".into(),
        },
    );
    assert_refused(
        &[hardlink("later", "notyet"), file("notyet", b"x")],
        Refusal::LinkTargetMissing {
            target: "notyet".into(),
        },
    );
    assert_refused(
        &[file("self", b""), hardlink("self", "./self")],
        Refusal::LinkToSelf,
    );
    assert_eq!(
        std::fs::metadata("/etc/shadow").map(|m| m.nlink()).ok(),
        shadow_links
    );
    assert_refused(
        &[file(".wh...", b"")],
        Refusal::BadWhiteout {
            name: ".wh...".into(),
        },
    );
    assert_refused(
        &[dir("a/"), file("a/.wh..", b"")],
        Refusal::BadWhiteout {
            name: ".wh..".into(),
        },
    );
    assert_refused(&[file("a/../../.wh.etc", b"")], Refusal::EscapesRoot);
    assert_refused(
        &[file(".wh.", b"")],
        Refusal::BadWhiteout {
            name: ".wh.".into(),
        },
    );
}

#[test]
fn devices_refused_when_not_allowed() {
    let sb = Sandbox::new();
    let layer = tar_of(&[E {
        dev: (1, 3),
        ..e(EntryType::Char, "dev/null")
    }]);
    let opts = UnpackOptions {
        allow_devices: false,
        ..UnpackOptions::default()
    };
    let err = unpack_layer(layer.as_slice(), &sb.dest(), &opts).expect_err("device");
    assert!(
        matches!(&err, UnpackError::Refused { entry, reason: Refusal::DeviceNotAllowed } if entry == "dev/null"),
        "{err}"
    );
    // Fifos and whiteouts are not devices.
    let layer = tar_of(&[e(EntryType::Fifo, "p"), file(".wh.x", b"")]);
    let sb = Sandbox::new();
    unpack_layer(layer.as_slice(), &sb.dest(), &opts).expect("fifo and whiteout");
}

#[test]
fn broken_streams_fail_clearly() {
    // 0-byte "gzip".
    let err = decompress(OCI_LAYER_GZIP, [].as_slice())
        .err()
        .expect("empty gzip");
    assert!(matches!(err, UnpackError::EmptyBlob { .. }), "{err}");
    assert!(err.to_string().contains("0-byte"), "{err}");
    let err = decompress(OCI_LAYER_ZSTD, [].as_slice())
        .err()
        .expect("empty zstd");
    assert!(matches!(err, UnpackError::EmptyBlob { .. }), "{err}");

    // Truncated gzip: fails even though the tar part that arrived is whole.
    let layer = tar_of(&[file("a", &[7u8; 5000]), file("b", b"b")]);
    let gz = gzip(&layer);
    for cut in [gz.len() - 4, gz.len() / 2, 10] {
        let sb = Sandbox::new();
        let err = decompress(OCI_LAYER_GZIP, &gz[..cut])
            .and_then(|r| unpack_layer(r, &sb.dest(), &UnpackOptions::default()))
            .expect_err("truncated gzip");
        assert!(err.to_string().contains("gzip"), "cut {cut}: {err}");
    }

    // Truncated zstd.
    let zst = zstd::encode_all(layer.as_slice(), 3).expect("zstd");
    let sb = Sandbox::new();
    let err = decompress(OCI_LAYER_ZSTD, &zst[..zst.len() - 3])
        .and_then(|r| unpack_layer(r, &sb.dest(), &UnpackOptions::default()))
        .expect_err("truncated zstd");
    assert!(err.to_string().contains("zstd"), "{err}");

    // A huge declared size with a short body.
    let mut h = header(&file("big", b""));
    h.set_size(1 << 40);
    h.set_cksum();
    let mut layer = h.as_bytes().to_vec();
    layer.extend_from_slice(&[1u8; 1000]);
    let sb = Sandbox::new();
    let before = sb.snapshot();
    let err = sb.unpack(&layer).expect_err("short body");
    assert!(
        matches!(&err, UnpackError::Truncated { entry, declared, read: 1000 } if entry == "big" && *declared == 1 << 40),
        "{err}"
    );
    assert_eq!(sb.snapshot(), before);
    // An oversized PAX record (the tar crate would buffer it whole).
    let mut b = Builder::new(Vec::new());
    let big = vec![b'a'; 5 << 20];
    b.append_pax_extensions([("comment", big.as_slice())])
        .expect("pax");
    b.append(&header(&file("after-pax", b"")), &b""[..])
        .expect("append");
    let sb = Sandbox::new();
    let err = sb
        .unpack(&b.into_inner().expect("finish"))
        .expect_err("huge PAX record");
    assert!(
        matches!(&err, UnpackError::Tar { .. }) && err.to_string().contains("exceeds 4 MiB"),
        "{err}"
    );
    // A 3 MiB GNU long name is within the budget but not a usable path.
    let mut b = Builder::new(Vec::new());
    let mut h = Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_mtime(MTIME);
    let long = "n/".repeat(3 << 19);
    b.append_data(&mut h, &long, &b""[..]).expect("long name");
    let err = Sandbox::new()
        .unpack(&b.into_inner().expect("finish"))
        .expect_err("long path");
    assert!(
        matches!(
            &err,
            UnpackError::Refused {
                reason: Refusal::TooLong,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().len() < 1000, "error names are cut short");

    // Garbage instead of a tar header.
    let sb = Sandbox::new();
    let err = sb.unpack(&[b'x'; 1024]).expect_err("garbage");
    assert!(matches!(err, UnpackError::Tar { .. }), "{err}");
}

#[test]
fn decompress_by_magic_and_media_type() {
    let layer = tar_of(&[file("a", b"hello")]);
    let zst = zstd::encode_all(layer.as_slice(), 3).expect("zstd");
    let read = |mt: &str, data: &[u8]| -> Vec<u8> {
        let mut out = Vec::new();
        decompress(mt, data)
            .expect(mt)
            .read_to_end(&mut out)
            .expect("read");
        out
    };
    assert_eq!(read(OCI_LAYER_ZSTD, &zst), layer);
    assert_eq!(read(DOCKER_LAYER_GZIP, &gzip(&layer)), layer);
    // Two gzip members, as `cat a.gz b.gz` makes.
    let mut two = gzip(&layer[..512]);
    two.extend(gzip(&layer[512..]));
    assert_eq!(read(OCI_LAYER_GZIP, &two), layer);
    // Plain tar labelled gzip: Docker tolerates it.
    assert_eq!(read(OCI_LAYER_GZIP, &layer), layer);
    assert_eq!(read(OCI_LAYER_TAR, &layer), layer);
    // An empty plain tar is an empty layer, as in Go's archive/tar.
    assert!(read(OCI_LAYER_TAR, b"").is_empty());
    let sb = Sandbox::new();
    assert_eq!(sb.unpack(b"").expect("empty").entries, 0);

    for foreign in [
        DOCKER_FOREIGN_LAYER_GZIP,
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    ] {
        let err = decompress(foreign, layer.as_slice()).err().expect(foreign);
        assert!(matches!(err, UnpackError::ForeignLayer { .. }), "{err}");
    }
    let err = decompress("application/vnd.oci.image.config.v1+json", layer.as_slice())
        .err()
        .expect("config");
    assert!(
        matches!(err, UnpackError::UnsupportedMediaType { .. }),
        "{err}"
    );
    let err = decompress(OCI_LAYER_GZIP, b"BZh91AY".as_slice())
        .err()
        .expect("bzip2");
    assert!(err.to_string().contains("bzip2"), "{err}");
}

#[test]
fn remove_tree_handles_read_only_dirs_and_symlinks() {
    let sb = Sandbox::new();
    let d = sb.dest();
    let before = sb.snapshot();
    let layer = tar_of(&[
        E {
            mode: 0o555,
            ..dir("ro/")
        },
        E {
            mode: 0o000,
            ..dir("ro/none/")
        },
        file("ro/none/f", b"f"),
        symlink("ro/out", "../../outside"),
        symlink("abs", "/etc"),
    ]);
    sb.unpack(&layer).expect("unpack");
    // Deep nesting, deeper than a small descriptor limit would allow if each
    // level held one.
    let mut p = d.clone();
    for _ in 0..300 {
        p.push("n");
    }
    std::fs::create_dir_all(&p).expect("deep");
    remove_tree(&d).expect("remove");
    assert!(!d.exists());
    assert_eq!(sb.snapshot(), before);
    remove_tree(&d).expect("missing is fine");
    std::fs::create_dir(&d).expect("recreate");
    let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755));
}

/// Lines of `tar --numeric-owner -tvf`, as (mode string, uid/gid, size, date time, name, link).
fn tar_tv(blob: &Path) -> Vec<(String, String, String, String, String, Option<String>)> {
    let out = std::process::Command::new("tar")
        .env("TZ", "UTC")
        .args(["--numeric-owner", "-tvf"])
        .arg(blob)
        .output()
        .expect("run tar");
    assert!(out.status.success(), "tar -tvf {}", blob.display());
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut it = line
            .splitn(6, char::is_whitespace)
            .filter(|s| !s.is_empty());
        let mode = it.next().unwrap_or_default().to_string();
        let owner = it.next().unwrap_or_default().to_string();
        // The rest: size, date, time, name [-> target | link to target].
        let rest: Vec<&str> = line.split_whitespace().skip(2).collect();
        let size = rest[0].to_string();
        let when = format!("{} {}", rest[1], rest[2]);
        let tail = rest[3..].join(" ");
        let (name, link) = if let Some((n, t)) = tail.split_once(" -> ") {
            (n.to_string(), Some(t.to_string()))
        } else if let Some((n, t)) = tail.split_once(" link to ") {
            (n.to_string(), Some(t.to_string()))
        } else {
            (tail, None)
        };
        v.push((mode, owner, size, when, name, link));
    }
    v
}

fn mode_string(m: &std::fs::Metadata) -> String {
    let ft = m.file_type();
    let t = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_fifo() {
        'p'
    } else {
        '-'
    };
    let mode = m.mode();
    let mut s = String::from(t);
    for (shift, special, lower, upper) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => lower,
            (true, false) => upper,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// "2025-05-20 00:00" (UTC) to seconds since the epoch.
fn epoch_minutes(when: &str) -> Option<i64> {
    let (date, time) = when.split_once(' ')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (h, mi) = time.split_once(':')?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h.parse::<i64>().ok()? * 3600 + mi.parse::<i64>().ok()? * 60)
}

#[test]
fn fixture_images_unpack_like_tar_lists_them() {
    let cache = Path::new("/var/cache/wharf-fixtures/oci");
    if !cache.is_dir() {
        eprintln!("SKIP fixture_images_unpack_like_tar_lists_them: {} is absent (run scripts/fixtures/build-images)", cache.display());
        return;
    }
    let json = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&p).expect("read json")).expect("json")
    };
    let blob = |layout: &Path, digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let mut checked = 0;
    for name in [
        "busybox",
        "whiteout",
        "busybox-zstd",
        "busybox-uncompressed",
        "busybox-docker",
    ] {
        let layout = cache.join(name);
        if !layout.is_dir() {
            eprintln!("SKIP fixture {name}: {} is absent", layout.display());
            continue;
        }
        let index = json(layout.join("index.json"));
        let mdigest = index["manifests"][0]["digest"]
            .as_str()
            .expect("manifest digest");
        let manifest = json(blob(&layout, mdigest));
        let config = json(blob(
            &layout,
            manifest["config"]["digest"]
                .as_str()
                .expect("config digest"),
        ));
        let layers = manifest["layers"].as_array().expect("layers");
        for (i, layer) in layers.iter().enumerate() {
            let mt = layer["mediaType"].as_str().expect("mediaType");
            let path = blob(&layout, layer["digest"].as_str().expect("digest"));
            let sb = Sandbox::new();
            let d = sb.dest();
            let f = File::open(&path).expect("blob");
            let st = unpack_layer(
                decompress(mt, f).expect("decompress"),
                &d,
                &UnpackOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{name} layer {i}: {e}"));
            assert_eq!(
                Some(st.diff_id.to_string().as_str()),
                config["rootfs"]["diff_ids"][i].as_str(),
                "{name} layer {i} diff_id"
            );
            let listing = tar_tv(&path);
            assert_eq!(st.entries, listing.len() as u64, "{name} layer {i}");
            for (mode, owner, size, when, ename, link) in &listing {
                let clean = ename.trim_end_matches('/');
                let base = Path::new(clean)
                    .file_name()
                    .map(|b| b.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let ctx = format!("{name} layer {i} entry {ename}");
                if base == ".wh..wh..opq" {
                    let dir = d.join(Path::new(clean).parent().expect("parent"));
                    assert_eq!(
                        lgetxattr(&dir, "trusted.overlay.opaque").as_deref(),
                        Some(b"y".as_slice()),
                        "{ctx}"
                    );
                    continue;
                }
                if let Some(target) = base.strip_prefix(".wh.") {
                    let p = d.join(Path::new(clean).with_file_name(target));
                    let m = std::fs::symlink_metadata(&p).expect(&ctx);
                    assert!(m.file_type().is_char_device() && m.rdev() == 0, "{ctx}");
                    assert!(!d.join(clean).exists(), "{ctx}");
                    continue;
                }
                let p = if clean.is_empty() || clean == "." {
                    d.clone()
                } else {
                    d.join(clean)
                };
                let m = std::fs::symlink_metadata(&p).expect(&ctx);
                if let Some(rest) = mode.strip_prefix('h') {
                    let t = std::fs::symlink_metadata(d.join(link.as_deref().expect("target")))
                        .expect(&ctx);
                    assert_eq!(m.ino(), t.ino(), "{ctx}");
                    assert_eq!(&mode_string(&m)[1..], rest, "{ctx}");
                    continue;
                }
                assert_eq!(&mode_string(&m), mode, "{ctx}");
                assert_eq!(&format!("{}/{}", m.uid(), m.gid()), owner, "{ctx}");
                let mins = m.mtime() - m.mtime().rem_euclid(60);
                assert_eq!(Some(mins), epoch_minutes(when), "{ctx} mtime");
                if m.is_file() {
                    assert_eq!(&m.len().to_string(), size, "{ctx}");
                }
                if m.file_type().is_symlink() {
                    assert_eq!(
                        std::fs::read_link(&p).expect(&ctx).to_string_lossy(),
                        link.as_deref().unwrap_or_default(),
                        "{ctx}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no fixture entries were checked");
    eprintln!("checked {checked} fixture entries against tar -tvf");
}

#[test]
fn owners_kept_only_when_asked() {
    let layer = tar_of(&[E {
        uid: 1234,
        gid: 4321,
        mode: 0o4755,
        ..file("f", b"f")
    }]);
    let opts = UnpackOptions {
        preserve_owners: false,
        ..UnpackOptions::default()
    };
    let sb = Sandbox::new();
    unpack_layer(layer.as_slice(), &sb.dest(), &opts).expect("unpack");
    let m = std::fs::symlink_metadata(sb.dest().join("f")).expect("f");
    assert_eq!(
        (m.uid(), m.gid()),
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw()
        )
    );
    assert_eq!(m.mode() & 0o7777, 0o4755);
    let sb = Sandbox::new();
    sb.unpack(&layer).expect("unpack");
    let m = std::fs::symlink_metadata(sb.dest().join("f")).expect("f");
    assert_eq!((m.uid(), m.gid()), (1234, 4321));
}
