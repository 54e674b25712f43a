//! Tar split: everything in a layer tar except the contents of its regular
//! files (headers, PAX and long-name records, padding, end-of-archive
//! blocks), recorded while the layer is unpacked. With it the exact tar, and
//! so its diff id, is rebuilt from the unpacked tree, which is what lets the
//! store drop compressed layer blobs after a pull and still push and save
//! images whose config (diff ids) is unchanged. The idea is Docker's
//! (tar-split); the format is ours.
//!
//! Format, gzip-compressed: a sequence of records
//!
//! ```text
//! b'R' len:u32le bytes[len]               raw tar bytes
//! b'F' size:u64le len:u32le path[len]     `size` bytes: the file `path` (cleaned, relative to the layer root)
//! ```

use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Raw bytes are written out in records of at most this size.
const RAW_CHUNK: usize = 64 << 10;
/// Longest path a record may carry (Linux's PATH_MAX, as the unpacker enforces).
const MAX_PATH: usize = 4096;

/// How much of a split (compressed) is kept in memory and how much a layer may
/// have at all. Real splits are headers: kilobytes to a few MiB. But all of a
/// tar that is not regular-file content is split, and a hostile layer can
/// carry gigabytes of directory payload or data after the end-of-archive
/// blocks; past `memory` the split goes to an unnamed file, past `cap` the
/// layer is refused.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitLimits {
    pub(crate) memory: u64,
    pub(crate) cap: u64,
}

impl Default for SplitLimits {
    fn default() -> Self {
        SplitLimits {
            memory: 4 << 20,
            cap: 1 << 30,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TarSplitError {
    #[error("tar split {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("tar split {path}: corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("layer {layer}: file {file:?} cannot be read back: {source}")]
    File {
        layer: PathBuf,
        file: String,
        source: io::Error,
    },
    #[error("layer {layer}: file {file:?} is {actual} bytes, the layer tar had {expected}")]
    FileChanged {
        layer: PathBuf,
        file: String,
        expected: u64,
        actual: u64,
    },
    #[error("writing the layer tar: {0}")]
    Write(io::Error),
    #[error("tar split {path}: {source}")]
    Persist { path: PathBuf, source: io::Error },
}

/// Where the compressed split accumulates: memory first, then an unnamed
/// file in the layer's private scratch directory (gone with its descriptor,
/// on every path, a crash included).
struct SpillBuf {
    memory: Vec<u8>,
    file: Option<File>,
    dir: PathBuf,
    len: u64,
    limits: SplitLimits,
    over_cap: bool,
}

impl SpillBuf {
    fn spill(&mut self) -> io::Result<&mut File> {
        let mut f = unnamed_file(&self.dir)?;
        f.write_all(&self.memory)?;
        self.memory = Vec::new();
        Ok(self.file.insert(f))
    }
}

impl Write for SpillBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len() as u64;
        if self.len + n > self.limits.cap {
            self.over_cap = true;
            return Err(io::Error::other(format!(
                "the tar split exceeds {} bytes",
                self.limits.cap
            )));
        }
        let file = match self.file.as_mut() {
            Some(f) => Some(f),
            None if self.len + n > self.limits.memory => Some(self.spill()?),
            None => None,
        };
        match file {
            Some(f) => f.write_all(buf)?,
            None => self.memory.extend_from_slice(buf),
        }
        self.len += n;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A file with no name in `dir` (`O_TMPFILE`); where the file system lacks
/// it, a fresh name unlinked at once (`dir` is private to this writer).
fn unnamed_file(dir: &Path) -> io::Result<File> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let flags = OFlag::O_RDWR | OFlag::O_CLOEXEC;
    match open(
        dir,
        flags | OFlag::O_TMPFILE,
        Mode::from_bits_truncate(0o600),
    ) {
        Ok(fd) => return Ok(File::from(fd)),
        Err(nix::errno::Errno::EOPNOTSUPP | nix::errno::Errno::EISDIR) => {}
        Err(e) => return Err(e.into()),
    }
    let path = dir.join(format!(".split-spill-{}", std::process::id()));
    let fd = open(
        &path,
        flags | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
        Mode::from_bits_truncate(0o600),
    )?;
    std::fs::remove_file(&path)?;
    Ok(File::from(fd))
}

/// A finished split: the compressed bytes, in memory or in an unnamed file.
pub struct Split {
    memory: Vec<u8>,
    file: Option<File>,
}

impl Split {
    /// Writes the split to `path` (a new file in the layer being built).
    pub fn persist(self, path: &Path) -> Result<(), TarSplitError> {
        let err = |source| TarSplitError::Persist {
            path: path.to_path_buf(),
            source,
        };
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(err)?;
        match self.file {
            Some(mut f) => {
                use std::io::Seek;
                f.rewind().map_err(err)?;
                io::copy(&mut f, &mut out).map_err(err)?;
            }
            None => out.write_all(&self.memory).map_err(err)?,
        }
        Ok(())
    }
}

/// Collects the split while the tar stream passes through [`Recorder::observe`];
/// the unpacker calls [`Recorder::file`] when it is about to read an entry's
/// content into a regular file.
pub(crate) struct Recorder {
    enc: GzEncoder<SpillBuf>,
    raw: Vec<u8>,
    /// Bytes of the tar stream seen so far.
    pos: u64,
    /// The content range of the current file entry, `[start, end)`.
    skip: Option<(u64, u64)>,
    /// Why the split cannot rebuild the tar (the layer's blob is then kept).
    broken: Option<String>,
}

impl Recorder {
    /// A recorder that spills to an unnamed file in `scratch` (a directory
    /// private to the layer being unpacked) once the split outgrows memory.
    pub(crate) fn new(scratch: &Path, limits: SplitLimits) -> Self {
        let buf = SpillBuf {
            memory: Vec::new(),
            file: None,
            dir: scratch.to_path_buf(),
            len: 0,
            limits,
            over_cap: false,
        };
        Recorder {
            enc: GzEncoder::new(buf, flate2::Compression::fast()),
            raw: Vec::new(),
            pos: 0,
            skip: None,
            broken: None,
        }
    }

    fn fail(&mut self, why: String) {
        if self.broken.is_none() {
            self.broken = Some(why);
        }
    }

    fn flush_raw(&mut self) {
        if self.raw.is_empty() || self.broken.is_some() {
            self.raw.clear();
            return;
        }
        let raw = std::mem::take(&mut self.raw);
        let mut rec = Vec::with_capacity(5);
        rec.push(b'R');
        rec.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        if let Err(e) = self
            .enc
            .write_all(&rec)
            .and_then(|()| self.enc.write_all(&raw))
        {
            self.fail(format!("compressing the split: {e}"));
        }
    }

    /// The split outgrew its cap: the layer must be refused (its bytes
    /// would otherwise have to be kept somewhere unbounded).
    pub(crate) fn over_cap(&self) -> Option<u64> {
        let buf = self.enc.get_ref();
        buf.over_cap.then_some(buf.limits.cap)
    }

    /// Bytes of the tar stream, in order, as the tar reader reads them; an
    /// error once the split is over its cap.
    pub(crate) fn observe(&mut self, data: &[u8]) -> io::Result<()> {
        let mut off = 0usize;
        while off < data.len() {
            let abs = self.pos + off as u64;
            let left = (data.len() - off) as u64;
            let n = match self.skip {
                Some((start, end)) if abs >= start && abs < end => {
                    // File content: it lives in the unpacked tree.
                    (end - abs).min(left) as usize
                }
                Some((start, _)) if abs < start => {
                    let n = (start - abs).min(left) as usize;
                    self.raw.extend_from_slice(&data[off..off + n]);
                    n
                }
                _ => {
                    self.raw.extend_from_slice(&data[off..]);
                    data.len() - off
                }
            };
            off += n;
            if self.raw.len() >= RAW_CHUNK {
                self.flush_raw();
            }
        }
        self.pos += data.len() as u64;
        match self.over_cap() {
            Some(cap) => Err(io::Error::other(format!(
                "the layer's tar split exceeds {cap} bytes"
            ))),
            None => Ok(()),
        }
    }

    /// The next `size` bytes at stream offset `start` are the content of the
    /// regular file `path` (cleaned, relative to the layer root).
    pub(crate) fn file(&mut self, start: u64, size: u64, path: &[u8]) {
        if size == 0 {
            return;
        }
        if start != self.pos {
            // The reader went past the header before we were told: nothing
            // to split on reliably.
            self.fail(format!(
                "content of {:?} at offset {start}, reader at {}",
                String::from_utf8_lossy(path),
                self.pos
            ));
            return;
        }
        self.flush_raw();
        let mut rec = Vec::with_capacity(13 + path.len());
        rec.push(b'F');
        rec.extend_from_slice(&size.to_le_bytes());
        rec.extend_from_slice(&(path.len() as u32).to_le_bytes());
        rec.extend_from_slice(path);
        if let Err(e) = self.enc.write_all(&rec) {
            self.fail(format!("compressing the split: {e}"));
        }
        self.skip = Some((start, start + size));
    }

    /// Entries whose tar data is not the file's bytes (GNU sparse files).
    pub(crate) fn unsplittable(&mut self, why: String) {
        self.fail(why);
    }

    /// The compressed split, or why there is none.
    pub(crate) fn finish(mut self) -> Result<Split, String> {
        self.flush_raw();
        if let Some(why) = self.broken {
            return Err(why);
        }
        let buf = self
            .enc
            .finish()
            .map_err(|e| format!("compressing the split: {e}"))?;
        Ok(Split {
            memory: buf.memory,
            file: buf.file,
        })
    }
}

/// One record of a split.
enum Record {
    Raw(Vec<u8>),
    File { size: u64, path: Vec<u8> },
}

struct Records<R> {
    r: R,
    path: PathBuf,
}

impl<R: Read> Records<R> {
    fn corrupt(&self, reason: impl Into<String>) -> TarSplitError {
        TarSplitError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), TarSplitError> {
        self.r.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                self.corrupt("truncated record")
            } else {
                TarSplitError::Read {
                    path: self.path.clone(),
                    source: e,
                }
            }
        })
    }

    fn next(&mut self) -> Result<Option<Record>, TarSplitError> {
        let mut tag = [0u8; 1];
        match self.r.read(&mut tag) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => {
                return Err(TarSplitError::Read {
                    path: self.path.clone(),
                    source: e,
                })
            }
        }
        match tag[0] {
            b'R' => {
                let mut len = [0u8; 4];
                self.read_exact(&mut len)?;
                let len = u32::from_le_bytes(len) as usize;
                if len > 16 * RAW_CHUNK {
                    return Err(self.corrupt(format!("raw record of {len} bytes")));
                }
                let mut raw = vec![0u8; len];
                self.read_exact(&mut raw)?;
                Ok(Some(Record::Raw(raw)))
            }
            b'F' => {
                let mut size = [0u8; 8];
                self.read_exact(&mut size)?;
                let mut len = [0u8; 4];
                self.read_exact(&mut len)?;
                let len = u32::from_le_bytes(len) as usize;
                if len == 0 || len > MAX_PATH {
                    return Err(self.corrupt(format!("file record with a {len}-byte path")));
                }
                let mut path = vec![0u8; len];
                self.read_exact(&mut path)?;
                Ok(Some(Record::File {
                    size: u64::from_le_bytes(size),
                    path,
                }))
            }
            other => Err(self.corrupt(format!("unknown record tag {other:#x}"))),
        }
    }
}

fn open_split(split: &Path) -> Result<Records<impl Read>, TarSplitError> {
    let f = File::open(split).map_err(|source| TarSplitError::Read {
        path: split.to_path_buf(),
        source,
    })?;
    Ok(Records {
        r: flate2::read::GzDecoder::new(io::BufReader::new(f)),
        path: split.to_path_buf(),
    })
}

/// Length of the tar that [`rebuild`] writes.
pub fn tar_len(split: &Path) -> Result<u64, TarSplitError> {
    let mut records = open_split(split)?;
    let mut total = 0u64;
    while let Some(r) = records.next()? {
        total += match r {
            Record::Raw(raw) => raw.len() as u64,
            Record::File { size, .. } => size,
        };
    }
    Ok(total)
}

/// Writes the layer's original tar to `out`: the split's raw bytes with the
/// files of `layer` (the unpacked tree) in between. Files are opened without
/// following symlinks anywhere on their path, so nothing outside the layer is
/// ever read. Returns the number of bytes written; the caller checks the
/// digest against the diff id.
pub fn rebuild(split: &Path, layer: &Path, out: &mut dyn Write) -> Result<u64, TarSplitError> {
    let mut records = open_split(split)?;
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 << 10];
    while let Some(r) = records.next()? {
        match r {
            Record::Raw(raw) => {
                out.write_all(&raw).map_err(TarSplitError::Write)?;
                total += raw.len() as u64;
            }
            Record::File { size, path } => {
                let name = String::from_utf8_lossy(&path).into_owned();
                let file_err = |source| TarSplitError::File {
                    layer: layer.to_path_buf(),
                    file: name.clone(),
                    source,
                };
                let file =
                    crate::sys::confined::open_file_no_follow(layer, &path).map_err(file_err)?;
                let actual = file.metadata().map_err(file_err)?.len();
                if actual != size {
                    return Err(TarSplitError::FileChanged {
                        layer: layer.to_path_buf(),
                        file: name,
                        expected: size,
                        actual,
                    });
                }
                let mut r = file.take(size);
                let mut copied = 0u64;
                loop {
                    let n = match r.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(file_err(e)),
                    };
                    out.write_all(&buf[..n]).map_err(TarSplitError::Write)?;
                    copied += n as u64;
                }
                if copied != size {
                    return Err(TarSplitError::FileChanged {
                        layer: layer.to_path_buf(),
                        file: name,
                        expected: size,
                        actual: copied,
                    });
                }
                total += size;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::unpack::{
        unpack_layer_with_split, unpack_layer_with_split_limits, UnpackError, UnpackOptions,
    };

    /// The path goes in with `append_data`/`append_link` (GNU long names).
    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_700_000_000);
        h
    }

    /// A layer with what real ones hold: dirs, files, a long (GNU) name, a
    /// symlink, a hard link, a whiteout, an opaque dir, an empty file.
    fn layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let dir = |b: &mut tar::Builder<Vec<u8>>, p: &str| {
            let mut h = header(tar::EntryType::Directory, 0);
            b.append_data(&mut h, p, io::empty()).expect("dir")
        };
        let file = |b: &mut tar::Builder<Vec<u8>>, p: &str, data: &[u8]| {
            let mut h = header(tar::EntryType::Regular, data.len() as u64);
            b.append_data(&mut h, p, data).expect("file")
        };
        dir(&mut b, "etc/");
        file(&mut b, "etc/hostname", b"wharf\n");
        file(&mut b, "etc/empty", b"");
        dir(&mut b, "usr/");
        let long = format!("usr/{}", "d".repeat(150));
        file(&mut b, &long, &vec![7u8; 70_000]);
        let mut h = header(tar::EntryType::Symlink, 0);
        b.append_link(&mut h, "usr/link", "../etc/hostname")
            .expect("symlink");
        let mut h = header(tar::EntryType::Link, 0);
        b.append_link(&mut h, "usr/hard", "etc/hostname")
            .expect("hard link");
        file(&mut b, "etc/.wh.shadow", b"");
        dir(&mut b, "var/");
        file(&mut b, "var/.wh..wh..opq", b"");
        b.into_inner().expect("tar")
    }

    fn unpack(tar: &[u8]) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().expect("tmp");
        let tree = d.path().join("diff");
        std::fs::create_dir(&tree).expect("mkdir");
        let (_, split) = unpack_layer_with_split(tar, &tree, d.path(), &UnpackOptions::default())
            .expect("unpack");
        let split_path = d.path().join("tar-split.gz");
        split.expect("a split").persist(&split_path).expect("write");
        (d, tree, split_path)
    }

    /// A cheap stand-in for random bytes: incompressible enough that the
    /// split grows with it.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A layer whose split is mostly payload: a directory entry carrying
    /// data, and data after the end-of-archive blocks.
    fn payload_layer(dir_payload: usize, trailing: usize) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Directory, dir_payload as u64);
        b.append_data(&mut h, "d/", &noise(dir_payload, 1)[..])
            .expect("dir");
        let mut h = header(tar::EntryType::Regular, 5);
        b.append_data(&mut h, "d/f", &b"hello"[..]).expect("file");
        let mut tar = b.into_inner().expect("tar");
        tar.extend(noise(trailing, 2));
        tar
    }

    fn scratch_entries(dir: &Path) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(dir)
            .expect("scratch")
            .map(|e| e.expect("entry").file_name())
            .collect()
    }

    #[test]
    fn a_split_past_the_memory_bound_spills_to_an_unnamed_file_and_still_rebuilds() {
        let tar = payload_layer(300_000, 200_000);
        let d = tempfile::tempdir().expect("tmp");
        let (tree, scratch) = (d.path().join("diff"), d.path().join("scratch"));
        std::fs::create_dir(&tree).expect("mkdir");
        std::fs::create_dir(&scratch).expect("mkdir");
        let limits = SplitLimits {
            memory: 64 << 10,
            cap: 8 << 20,
        };
        let (_, split) = unpack_layer_with_split_limits(
            &tar[..],
            &tree,
            &scratch,
            &UnpackOptions::default(),
            limits,
        )
        .expect("unpack");
        let split = split.expect("a split");
        assert!(split.file.is_some(), "the split stayed in memory");
        assert!(split.memory.is_empty(), "memory kept after the spill");
        // The spill file has no name: nothing to clean up, whatever happens.
        assert!(scratch_entries(&scratch).is_empty());
        let path = d.path().join("tar-split.gz");
        split.persist(&path).expect("persist");
        let mut out = Vec::new();
        rebuild(&path, &tree, &mut out).expect("rebuild");
        assert!(out == tar, "rebuilt tar differs");
    }

    #[test]
    fn a_split_past_its_cap_refuses_the_layer_and_leaves_no_file() {
        let d = tempfile::tempdir().expect("tmp");
        let (tree, scratch) = (d.path().join("diff"), d.path().join("scratch"));
        std::fs::create_dir(&scratch).expect("mkdir");
        let limits = SplitLimits {
            memory: 16 << 10,
            cap: 256 << 10,
        };
        for (dir_payload, trailing) in [(1 << 20, 0), (0, 1 << 20)] {
            std::fs::create_dir(&tree).expect("mkdir");
            let tar = payload_layer(dir_payload, trailing);
            let err = unpack_layer_with_split_limits(
                &tar[..],
                &tree,
                &scratch,
                &UnpackOptions::default(),
                limits,
            )
            .map(|_| ())
            .expect_err("over the cap");
            assert!(
                matches!(err, UnpackError::SplitTooLarge { cap } if cap == 256 << 10),
                "{err}"
            );
            assert!(scratch_entries(&scratch).is_empty());
            std::fs::remove_dir_all(&tree).expect("rm");
        }
    }

    #[test]
    fn rebuilds_the_exact_tar_from_the_tree() {
        let tar = layer();
        let (_d, tree, split) = unpack(&tar);
        let mut out = Vec::new();
        let n = rebuild(&split, &tree, &mut out).expect("rebuild");
        assert_eq!(n, tar.len() as u64);
        assert_eq!(tar_len(&split).expect("len"), tar.len() as u64);
        assert!(out == tar, "rebuilt tar differs");
        // The split holds no file content: far smaller than the 70 kB file.
        let split_len = std::fs::metadata(&split).expect("m").len();
        assert!(split_len < 2_000, "{split_len} bytes");
    }

    #[test]
    fn a_changed_file_or_a_symlinked_parent_is_an_error_not_a_wrong_tar() {
        let tar = layer();
        let (_d, tree, split) = unpack(&tar);
        std::fs::write(tree.join("etc/hostname"), b"changed, longer\n").expect("w");
        let err = rebuild(&split, &tree, &mut io::sink()).expect_err("changed");
        assert!(matches!(err, TarSplitError::FileChanged { .. }), "{err}");

        let (_d2, tree, split) = unpack(&tar);
        // A parent replaced by a symlink to elsewhere is never followed.
        let outside = tree.parent().expect("p").join("outside");
        std::fs::create_dir(&outside).expect("mkdir");
        std::fs::write(outside.join("hostname"), b"wharf\n").expect("w");
        std::fs::remove_file(tree.join("etc/hostname")).expect("rm");
        std::fs::remove_file(tree.join("usr/hard")).expect("rm");
        std::fs::remove_file(tree.join("etc/empty")).expect("rm");
        std::fs::remove_file(tree.join("etc/shadow")).expect("rm whiteout");
        std::fs::remove_dir(tree.join("etc")).expect("rmdir");
        std::os::unix::fs::symlink(&outside, tree.join("etc")).expect("symlink");
        let err = rebuild(&split, &tree, &mut io::sink()).expect_err("symlink");
        assert!(
            matches!(&err, TarSplitError::File { file, .. } if file == "etc/hostname"),
            "{err}"
        );
    }

    #[test]
    fn corrupt_splits_are_errors() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("split");
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"Zjunk").expect("w");
        std::fs::write(&p, gz.finish().expect("gz")).expect("w");
        let err = rebuild(&p, d.path(), &mut io::sink()).expect_err("corrupt");
        assert!(err.to_string().contains("unknown record tag"), "{err}");
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"R\x10\x00\x00\x00abc").expect("w");
        std::fs::write(&p, gz.finish().expect("gz")).expect("w");
        let err = tar_len(&p).expect_err("truncated");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
