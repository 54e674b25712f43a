//! Container events (`wharf events`, Docker's `/events`): with no daemon to
//! broadcast them, every process that changes a container appends one JSON
//! line, in the shape of Docker's event message, to `<root>/events.log`,
//! and `wharf events` reads and follows that file.
//!
//! Concurrent writers: each line goes out in one `write(2)` on an
//! `O_APPEND` descriptor, so lines never interleave. The file is bounded:
//! past [`MAX_BYTES`] a writer renames it to `events.log.1` (one old file
//! kept) under an flock, so two writers never both rotate.

use super::container::{lock_file, ContainerRecord};
use crate::sys::path_error::{IoAt, PathError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Rotation threshold of the events file.
pub const MAX_BYTES: u64 = 4 << 20;

/// Docker's event message (`docker events --format '{{json .}}'`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Deprecated in Docker, still sent: the action.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub id: String,
    /// Deprecated in Docker, still sent: the image.
    #[serde(default)]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    #[serde(default)]
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    /// A container event as Docker builds it: the container's labels, its
    /// image and name, plus `extra` (`exitCode`, `signal`).
    pub fn container(record: &ContainerRecord, action: &str, extra: &[(&str, String)]) -> Event {
        let mut attributes: BTreeMap<String, String> = record
            .spec
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        attributes.insert("image".into(), record.image.clone());
        attributes.insert("name".into(), record.name.clone());
        for (k, v) in extra {
            attributes.insert((*k).to_string(), v.clone());
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        Event {
            status: action.to_string(),
            id: record.id.clone(),
            from: record.image.clone(),
            kind: "container".into(),
            action: action.to_string(),
            actor: Actor {
                id: record.id.clone(),
                attributes,
            },
            scope: "local".into(),
            time: nanos.div_euclid(1_000_000_000),
            time_nano: nanos,
        }
    }

    pub fn attr(&self, key: &str) -> Option<&str> {
        self.actor.attributes.get(key).map(String::as_str)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("locking {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: Box<super::container::ContainerError>,
    },
}

pub type Result<T> = std::result::Result<T, EventsError>;

/// The events file of a data root.
pub fn path(root: &Path) -> PathBuf {
    root.join("events.log")
}

fn rotated(root: &Path) -> PathBuf {
    root.join("events.log.1")
}

/// Appends `event`; see the module comment for why this is safe from
/// several processes at once.
pub fn append(root: &Path, event: &Event) -> Result<()> {
    let file = path(root);
    let mut line = serde_json::to_vec(event)
        .map_err(io::Error::from)
        .at("encoding an event for", &file)?;
    line.push(b'\n');
    if fs::metadata(&file).map(|m| m.len()).unwrap_or(0) >= MAX_BYTES {
        rotate(root)?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .at("opening", &file)?;
    // One write call: a short write would let another writer's line in.
    let n = f.write(&line).at("appending to", &file)?;
    if n != line.len() {
        let short = io::Error::other(format!("short write ({n} of {} bytes)", line.len()));
        return Err(PathError::new("appending to", &file, short).into());
    }
    Ok(())
}

fn rotate(root: &Path) -> Result<()> {
    let lock = root.join("events.lock");
    let _guard = lock_file(&lock).map_err(|e| EventsError::Lock {
        path: lock.clone(),
        source: Box::new(e),
    })?;
    let file = path(root);
    // Someone else may have rotated while we waited for the lock.
    if fs::metadata(&file).map(|m| m.len()).unwrap_or(0) < MAX_BYTES {
        return Ok(());
    }
    Ok(fs::rename(&file, rotated(root)).at("rotating", &file)?)
}

/// Records a container event; a failure is logged, never fatal, since the
/// operation it describes has already happened.
pub fn emit(root: &Path, record: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
    if let Err(e) = append(root, &Event::container(record, action, extra)) {
        tracing::warn!("recording the {action} event of {}: {e}", record.name);
    }
}

/// Reads every stored event (the rotated file first), then follows new ones.
pub struct Follower {
    path: PathBuf,
    file: Option<BufReader<File>>,
    inode: u64,
    partial: String,
}

impl Follower {
    /// The events stored so far, and a follower positioned after them.
    pub fn open(root: &Path) -> Result<(Vec<Event>, Follower)> {
        let mut all = Vec::new();
        let old = rotated(root);
        if let Ok(f) = File::open(&old) {
            let mut f = BufReader::new(f);
            let mut partial = String::new();
            read_lines(&mut f, &mut partial, &mut all).at("reading", &old)?;
        }
        let mut me = Follower {
            path: path(root),
            file: None,
            inode: 0,
            partial: String::new(),
        };
        all.extend(me.poll()?);
        Ok((all, me))
    }

    /// Events appended since the last call (across a rotation too).
    pub fn poll(&mut self) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        if let Some(f) = self.file.as_mut() {
            read_lines(f, &mut self.partial, &mut out).at("reading", &self.path)?;
        }
        // Rotated (or created): what was appended to the old file is read
        // above; the new one is read from its start.
        let now = fs::metadata(&self.path).map(|m| m.ino()).ok();
        if now.is_some_and(|ino| ino != self.inode) || self.file.is_none() {
            if let Ok(f) = File::open(&self.path) {
                self.inode = f.metadata().map(|m| m.ino()).unwrap_or(0);
                let mut f = BufReader::new(f);
                f.seek(SeekFrom::Start(0)).at("reading", &self.path)?;
                self.partial.clear();
                read_lines(&mut f, &mut self.partial, &mut out).at("reading", &self.path)?;
                self.file = Some(f);
            }
        }
        Ok(out)
    }
}

/// Complete lines only: a line still being written stays in `partial`.
fn read_lines(f: &mut impl BufRead, partial: &mut String, out: &mut Vec<Event>) -> io::Result<()> {
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    partial.push_str(&String::from_utf8_lossy(&buf));
    while let Some(i) = partial.find('\n') {
        let line: String = partial.drain(..=i).collect();
        // A torn or foreign line is skipped rather than ending the stream.
        if let Ok(e) = serde_json::from_str::<Event>(line.trim_end()) {
            out.push(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> ContainerRecord {
        let mut spec = crate::runtime::spec::ContainerSpec::default();
        spec.labels
            .insert("com.docker.compose.service".into(), "web".into());
        ContainerRecord {
            id: format!("{name}-id"),
            name: name.into(),
            created: String::new(),
            image: "busybox".into(),
            image_id: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
                .parse()
                .unwrap(),
            spec,
            runtime: "builtin".into(),
            auto_remove: false,
        }
    }

    #[test]
    fn docker_shape() {
        let e = Event::container(&record("a"), "die", &[("exitCode", "3".into())]);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "die");
        assert_eq!(v["status"], "die");
        assert_eq!(v["id"], "a-id");
        assert_eq!(v["Actor"]["ID"], "a-id");
        assert_eq!(v["Actor"]["Attributes"]["exitCode"], "3");
        assert_eq!(v["Actor"]["Attributes"]["name"], "a");
        assert_eq!(v["Actor"]["Attributes"]["image"], "busybox");
        assert_eq!(
            v["Actor"]["Attributes"]["com.docker.compose.service"],
            "web"
        );
        assert_eq!(
            v["time"].as_i64().unwrap(),
            v["timeNano"].as_i64().unwrap() / 1_000_000_000
        );
    }

    /// Concurrent appenders (threads here, processes in real use) never
    /// tear a line, and the follower sees each event once, across a
    /// rotation.
    #[test]
    fn concurrent_appends_and_rotation() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let (before, mut f) = Follower::open(&root).unwrap();
        assert!(before.is_empty());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let root = root.clone();
                std::thread::spawn(move || {
                    let r = record(&format!("c{t}"));
                    for _ in 0..200 {
                        append(&root, &Event::container(&r, "start", &[])).unwrap();
                    }
                })
            })
            .collect();
        let mut seen = Vec::new();
        for t in threads {
            t.join().unwrap();
        }
        seen.extend(f.poll().unwrap());
        assert_eq!(seen.len(), 800);
        // Force a rotation: the file is made to look full.
        let big = path(&root);
        let pad = OpenOptions::new().append(true).open(&big).unwrap();
        pad.set_len(MAX_BYTES).unwrap();
        drop(pad);
        // The padding (NUL bytes, no newline) is not an event.
        append(&root, &Event::container(&record("late"), "stop", &[])).unwrap();
        assert!(rotated(&root).exists());
        let more = f.poll().unwrap();
        assert_eq!(more.len(), 1, "{more:?}");
        assert_eq!(more[0].actor.attributes["name"], "late");
        let (all, _) = Follower::open(&root).unwrap();
        assert_eq!(all.len(), 801);
    }
}
