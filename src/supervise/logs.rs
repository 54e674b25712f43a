//! Container logs in Docker's json-file format: one JSON object per line,
//! `{"log":"…\n","stream":"stdout","time":"2026-…Z"}`, so people who know
//! Docker's files can read ours, and `logs --since/--tail` need no index.
//! Files rotate by size (`max-size`, `max-file`) like Docker's driver.

use crate::time::rfc3339_nanos;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{action} log {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

type Result<T> = std::result::Result<T, LogError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    pub log: String,
    pub stream: Stream,
    /// RFC 3339 with nanoseconds, UTC.
    pub time: String,
}

/// Rotation settings; `max_size: None` never rotates (Docker's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: Option<u64>,
    pub max_files: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_size: None,
            max_files: 1,
        }
    }
}

pub struct LogWriter {
    path: PathBuf,
    /// `None` with `logging.driver: none`: nothing is kept.
    file: Option<File>,
    /// syslog or journald, which get every line too.
    forward: Option<crate::runtime::log_forward::Forwarder>,
    size: u64,
    rotation: Rotation,
    /// Partial lines per stream, held until their newline arrives so that
    /// interleaved stdout/stderr stay whole lines.
    pending: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path, rotation: Rotation) -> Result<LogWriter> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(crate::sys::modes::LOG_FILE_MODE)
            .open(path)
            .map_err(|source| LogError::Io {
                action: "opening",
                path: path.to_path_buf(),
                source,
            })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogWriter {
            path: path.to_path_buf(),
            file: Some(file),
            forward: None,
            size,
            rotation,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Sends every line to `forward` as well.
    pub fn forwarding(
        mut self,
        forward: Option<crate::runtime::log_forward::Forwarder>,
    ) -> LogWriter {
        self.forward = forward;
        self
    }

    /// Appends raw output; complete lines are written at once, a trailing
    /// partial line waits for more (or for [`LogWriter::flush_partial`]).
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<()> {
        let idx = stream as usize;
        self.pending[idx].extend_from_slice(data);
        while let Some(pos) = self.pending[idx].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending[idx].drain(..=pos).collect();
            self.append(stream, &line)?;
        }
        // A line longer than 16 KiB is split, as Docker does.
        while self.pending[idx].len() >= 16 * 1024 {
            let chunk: Vec<u8> = self.pending[idx].drain(..16 * 1024).collect();
            self.append(stream, &chunk)?;
        }
        Ok(())
    }

    /// Writes what is left of unterminated lines (at container exit).
    pub fn flush_partial(&mut self) -> Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.pending[stream as usize]);
            if !rest.is_empty() {
                self.append(stream, &rest)?;
            }
        }
        Ok(())
    }

    fn append(&mut self, stream: Stream, bytes: &[u8]) -> Result<()> {
        if let Some(f) = self.forward.as_mut() {
            // A lost line is not worth stopping the container for; Docker
            // logs the failure and goes on too.
            if let Err(e) = f.send(stream == Stream::Stderr, bytes) {
                tracing::warn!("forwarding a log line of {}: {e}", self.path.display());
            }
        }
        if self.file.is_none() {
            return Ok(());
        }
        let line = LogLine {
            log: String::from_utf8_lossy(bytes).into_owned(),
            stream,
            time: rfc3339_nanos(SystemTime::now()),
        };
        let mut json = serde_json::to_vec(&line).unwrap_or_default();
        json.push(b'\n');
        if let Some(max) = self.rotation.max_size {
            if self.size > 0 && self.size + json.len() as u64 > max {
                self.rotate()?;
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.write_all(&json).map_err(|source| LogError::Io {
            action: "writing",
            path: self.path.clone(),
            source,
        })?;
        self.size += json.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LogError::Io {
                action: "rotating",
                path,
                source,
            }
        };
        let keep = self.rotation.max_files.max(1);
        if keep > 1 {
            for n in (1..keep - 1).rev() {
                let from = rotated(&self.path, n);
                if from.exists() {
                    fs::rename(&from, rotated(&self.path, n + 1)).map_err(io_err(&from))?;
                }
            }
            fs::rename(&self.path, rotated(&self.path, 1)).map_err(io_err(&self.path))?;
        }
        self.file = Some(
            OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(crate::sys::modes::LOG_FILE_MODE)
                .open(&self.path)
                .map_err(io_err(&self.path))?,
        );
        self.size = 0;
        Ok(())
    }
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Every stored line, oldest first (rotated files included).
pub fn read_all(path: &Path) -> Result<Vec<LogLine>> {
    read_files(path, true)
}

/// Every line up to now followed by a [`Follower`] for what comes next,
/// with no line in both.
pub fn read_and_follow(path: &Path) -> Result<(Vec<LogLine>, Follower)> {
    let mut follower = Follower::new(path, false);
    let mut lines = read_files(path, false)?;
    lines.extend(follower.poll());
    Ok((lines, follower))
}

/// The last `n` lines up to now followed by a [`Follower`], as
/// [`read_and_follow`] but read backwards from the end of the files, so
/// `logs --tail N` of a huge log reads about N lines, not the log.
pub fn read_tail_and_follow(path: &Path, n: usize) -> Result<(Vec<LogLine>, Follower)> {
    use io::{Seek, SeekFrom};
    let mut follower = Follower::new(path, false);
    let mut newest_first = Vec::new();
    if let Some(file) = follower.file.as_mut() {
        let end = file.seek(SeekFrom::End(0)).map_err(|source| LogError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        // What follows the last newline is a line still being written: the
        // follower reads it whole.
        let done = last_lines(file, end, n, path, &mut newest_first)?;
        file.seek(SeekFrom::Start(done))
            .map_err(|source| LogError::Io {
                action: "reading",
                path: path.to_path_buf(),
                source,
            })?;
    }
    let mut k = 1;
    while newest_first.len() < n {
        let older = rotated(path, k);
        let mut file = match File::open(&older) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(source) => {
                return Err(LogError::Io {
                    action: "reading",
                    path: older,
                    source,
                })
            }
        };
        let end = file.seek(SeekFrom::End(0)).map_err(|source| LogError::Io {
            action: "reading",
            path: older.clone(),
            source,
        })?;
        last_lines(&mut file, end, n, &older, &mut newest_first)?;
        k += 1;
    }
    newest_first.truncate(n);
    newest_first.reverse();
    Ok((newest_first, follower))
}

/// Reads `file` backwards from `end`, pushing its complete lines (newest
/// first) onto `out` until it holds `n`; returns the offset just past the
/// file's last newline.
fn last_lines(
    file: &mut File,
    end: u64,
    n: usize,
    path: &Path,
    out: &mut Vec<LogLine>,
) -> Result<u64> {
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 64 << 10;
    let mut pos = end;
    // Bytes after `pos` not yet split into lines, in file order.
    let mut rest: Vec<u8> = Vec::new();
    let mut last_newline = None;
    while pos > 0 && (out.len() < n || last_newline.is_none()) {
        let len = CHUNK.min(pos);
        pos -= len;
        let mut chunk = vec![0u8; len as usize];
        file.read_exact_at(&mut chunk, pos)
            .map_err(|source| LogError::Io {
                action: "reading",
                path: path.to_path_buf(),
                source,
            })?;
        chunk.extend_from_slice(&rest);
        rest = chunk;
        if last_newline.is_none() {
            match rest.iter().rposition(|&b| b == b'\n') {
                Some(i) => {
                    last_newline = Some(pos + i as u64 + 1);
                    rest.truncate(i + 1);
                }
                None => continue,
            }
        }
        // Every line but the first is whole; the first may start before `pos`.
        while out.len() < n {
            let body = &rest[..rest.len() - 1];
            let Some(start) = body.iter().rposition(|&b| b == b'\n') else {
                break;
            };
            // A torn line (a crash mid-write) is skipped, as read_files does.
            if let Ok(l) = serde_json::from_slice::<LogLine>(&rest[start + 1..]) {
                out.push(l);
            }
            rest.truncate(start + 1);
        }
    }
    if pos == 0 && out.len() < n && !rest.is_empty() && last_newline.is_some() {
        if let Ok(l) = serde_json::from_slice::<LogLine>(&rest) {
            out.push(l);
        }
    }
    Ok(last_newline.unwrap_or(0))
}

fn read_files(path: &Path, current: bool) -> Result<Vec<LogLine>> {
    let mut files = Vec::new();
    let mut n = 1;
    while rotated(path, n).exists() {
        files.push(rotated(path, n));
        n += 1;
    }
    files.reverse();
    if current {
        files.push(path.to_path_buf());
    }
    let mut out = Vec::new();
    for f in files {
        let file = match File::open(&f) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(LogError::Io {
                    action: "reading",
                    path: f,
                    source,
                })
            }
        };
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|source| LogError::Io {
                action: "reading",
                path: f.clone(),
                source,
            })?;
            // A torn last line (crash mid-write) is skipped, not fatal.
            if let Ok(l) = serde_json::from_str::<LogLine>(&line) {
                out.push(l);
            }
        }
    }
    Ok(out)
}

/// Follows one container's log file as it grows, across rotations: the
/// open handle keeps reading the renamed file to its end before the new
/// file is opened, so no line is lost or repeated.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    ino: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// From the start of the current file (`from_end: false`) or only
    /// what is written from now on.
    pub fn new(path: &Path, from_end: bool) -> Follower {
        let mut f = Follower {
            path: path.to_path_buf(),
            file: None,
            ino: 0,
            partial: Vec::new(),
        };
        f.reopen();
        if from_end {
            if let Some(file) = f.file.as_mut() {
                let _ = io::Seek::seek(file, io::SeekFrom::End(0));
            }
        }
        f
    }

    fn reopen(&mut self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match File::open(&self.path) {
            Ok(file) => {
                self.ino = file.metadata().map(|m| m.ino()).unwrap_or(0);
                self.file = Some(file);
                true
            }
            Err(_) => false,
        }
    }

    /// The complete lines written since the last call.
    pub fn poll(&mut self) -> Vec<LogLine> {
        use std::os::unix::fs::MetadataExt;
        let mut out = Vec::new();
        if self.file.is_none() && !self.reopen() {
            return out;
        }
        self.drain(&mut out);
        let current = fs::metadata(&self.path).map(|m| m.ino()).ok();
        if current.is_some() && current != Some(self.ino) {
            // Rotated, maybe more than once: the old handle was read to its
            // end above; the files rotated after it are read whole, oldest
            // first, then the new current file.
            let mut chain = Vec::new();
            let mut n = 1;
            while let Ok(m) = fs::metadata(rotated(&self.path, n)) {
                chain.push((rotated(&self.path, n), m.ino()));
                n += 1;
            }
            chain.reverse();
            let newer = match chain.iter().position(|(_, ino)| *ino == self.ino) {
                Some(i) => &chain[i + 1..],
                None => &chain[..],
            };
            for (p, _) in newer {
                self.partial.clear();
                if let Ok(file) = File::open(p) {
                    self.file = Some(file);
                    self.drain(&mut out);
                }
            }
            self.partial.clear();
            if self.reopen() {
                self.drain(&mut out);
            }
        }
        out
    }

    fn drain(&mut self, out: &mut Vec<LogLine>) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let mut buf = Vec::new();
        let _ = io::Read::read_to_end(file, &mut buf);
        self.partial.extend_from_slice(&buf);
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            if let Ok(l) = serde_json::from_slice::<LogLine>(&line) {
                out.push(l);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_whole_and_ordered_per_stream() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&path, Rotation::default()).expect("open");
        w.write(Stream::Stdout, b"hel").expect("w");
        w.write(Stream::Stderr, b"oops\n").expect("w");
        w.write(Stream::Stdout, b"lo\nworld").expect("w");
        w.flush_partial().expect("flush");
        let lines = read_all(&path).expect("read");
        let got: Vec<(&str, Stream)> = lines.iter().map(|l| (l.log.as_str(), l.stream)).collect();
        assert_eq!(
            got,
            vec![
                ("oops\n", Stream::Stderr),
                ("hello\n", Stream::Stdout),
                ("world", Stream::Stdout)
            ]
        );
    }

    #[test]
    fn rotation_keeps_max_files_and_all_recent_lines() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("c-json.log");
        let rotation = Rotation {
            max_size: Some(400),
            max_files: 3,
        };
        let mut w = LogWriter::open(&path, rotation).expect("open");
        for i in 0..40 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .expect("w");
        }
        assert!(rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        let lines = read_all(&path).expect("read");
        let nums: Vec<u32> = lines
            .iter()
            .map(|l| l.log.trim().trim_start_matches("line ").parse().expect("n"))
            .collect();
        assert_eq!(nums.last(), Some(&39));
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
        assert!(nums.len() < 40, "old lines were rotated away");
    }

    #[test]
    fn follower_sees_every_line_once_across_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(
            &path,
            Rotation {
                max_size: Some(200),
                max_files: 3,
            },
        )
        .expect("open");
        let mut f = Follower::new(&path, false);
        let mut seen = Vec::new();
        for i in 0..50 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .expect("write");
            // Up to two rotations between polls; a third would delete a
            // file before anyone read it, as Docker's max-file does.
            if i % 5 == 0 {
                seen.extend(f.poll());
            }
        }
        seen.extend(f.poll());
        let got: Vec<String> = seen.iter().map(|l| l.log.clone()).collect();
        let want: Vec<String> = (0..50).map(|i| format!("line {i}\n")).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn tail_reads_the_last_lines_across_rotation_and_follows_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(
            &path,
            Rotation {
                max_size: Some(2000),
                max_files: 3,
            },
        )
        .expect("open");
        for i in 0..60 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .expect("write");
        }
        // A line the writer still holds (no newline yet) is not in the tail.
        w.write(Stream::Stdout, b"partial").expect("write");
        let all: Vec<String> = read_all(&path)
            .expect("read")
            .into_iter()
            .map(|l| l.log)
            .filter(|l| l.ends_with('\n'))
            .collect();
        assert!(rotated(&path, 1).exists());
        for n in [0, 1, 3, 40, all.len(), all.len() + 5] {
            let (lines, _) = read_tail_and_follow(&path, n).expect("tail");
            let got: Vec<String> = lines.into_iter().map(|l| l.log).collect();
            assert_eq!(got, all[all.len().saturating_sub(n)..], "--tail {n}");
        }
        let (_, mut follower) = read_tail_and_follow(&path, 2).expect("tail");
        w.write(Stream::Stdout, b" done\nnext\n").expect("write");
        let next: Vec<String> = follower.poll().into_iter().map(|l| l.log).collect();
        assert_eq!(
            next,
            vec!["partial done\n".to_string(), "next\n".to_string()]
        );
    }
}
