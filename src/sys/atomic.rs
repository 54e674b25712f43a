//! Whole-file replacement for state files that several wharf processes
//! read while one writes (container state, network records, IPAM, image
//! records), and the JSON state files built on it.

use super::path_error::{IoAt, PathError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum AtomicError {
    #[error(transparent)]
    Io(#[from] PathError),
    /// A state file that is not the JSON its reader expects (or a value
    /// that cannot be written as JSON).
    #[error("corrupt state file {}: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Distinguishes the temporary files of several threads of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames
/// it over `path`: readers see the old file or the new one, never half a
/// file. On failure the temporary file is removed.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), AtomicError> {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    // pid and counter alone repeat across pid namespaces and reboots.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let temp = path.with_extension(format!("tmp{}-{nanos:08x}-{n}", std::process::id()));
    write_via(&temp, path, bytes)
}

/// [`write`] through the temporary file `temp` (on the same file system as
/// `path`), for a writer that keeps its temporary files in a place of its
/// own where it cleans up after a crash.
pub fn write_via(temp: &Path, path: &Path, bytes: &[u8]) -> Result<(), AtomicError> {
    // A new file (O_EXCL: never another writer's temp, never through a
    // symlink); state files hold env secrets, so only root reads them.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(super::modes::STATE_FILE_MODE)
        .open(temp)
        .at("creating", temp)?;
    // From here the temp is ours: removed on any failure (ENOSPC included).
    let written = f.write_all(bytes).and_then(|()| f.sync_data());
    drop(f);
    let result = match written {
        Ok(()) => fs::rename(temp, path).at("renaming into", path),
        Err(source) => Err(PathError::new("writing", temp, source)),
    };
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result?;
    // The rename is durable only once the directory is synced.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .at("syncing", dir)?;
    }
    Ok(())
}

/// Reads the JSON state file `path`; `None` when there is none.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, AtomicError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| AtomicError::Json {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PathError::new("reading", path, source).into()),
    }
}

/// Replaces the JSON state file `path` with `value`, as [`write`] does.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), AtomicError> {
    write(path, &to_json(path, value)?)
}

/// [`write_json`] through the temporary file `temp`, as [`write_via`].
pub fn write_json_via<T: Serialize>(
    temp: &Path,
    path: &Path,
    value: &T,
) -> Result<(), AtomicError> {
    write_via(temp, path, &to_json(path, value)?)
}

fn to_json<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, AtomicError> {
    serde_json::to_vec_pretty(value).map_err(|source| AtomicError::Json {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.json");
        write(&p, b"one").expect("write");
        write(&p, b"two").expect("rewrite");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn json_state_round_trips_and_names_the_bad_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.json");
        assert_eq!(read_json::<Vec<u32>>(&p).expect("absent"), None);
        write_json(&p, &vec![1u32, 2]).expect("write");
        assert_eq!(read_json::<Vec<u32>>(&p).expect("read"), Some(vec![1, 2]));
        fs::write(&p, "{half").expect("corrupt");
        let err = read_json::<Vec<u32>>(&p).expect_err("corrupt");
        assert!(matches!(&err, AtomicError::Json { path, .. } if path == &p));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.json");
        write(&p, b"old").expect("write");
        // The rename cannot replace a directory with a file.
        let target = dir.path().join("dir.json");
        fs::create_dir(&target).expect("mkdir");
        let temp = dir.path().join("temp");
        let err = write_via(&temp, &target, b"new").expect_err("rename over a dir");
        assert!(matches!(
            err,
            AtomicError::Io(PathError {
                action: "renaming into",
                ..
            })
        ));
        assert!(!temp.exists());
        assert_eq!(fs::read(&p).expect("read"), b"old");
    }

    #[test]
    fn a_temp_name_in_use_is_neither_overwritten_nor_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let temp = dir.path().join("temp");
        fs::write(&temp, b"another writer's").expect("write");
        let err = write_via(&temp, &dir.path().join("state.json"), b"new").expect_err("taken");
        assert!(matches!(
            err,
            AtomicError::Io(PathError {
                action: "creating",
                ..
            })
        ));
        assert_eq!(fs::read(&temp).expect("read"), b"another writer's");
        assert!(!dir.path().join("state.json").exists());
    }

    #[test]
    fn state_files_are_for_root_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.json");
        write(&p, b"{}").expect("write");
        let mode = fs::metadata(&p).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
