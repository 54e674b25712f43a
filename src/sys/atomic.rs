//! Whole-file replacement for state files that several wharf processes
//! read while one writes (container state, network records, IPAM).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames
/// it over `path`: readers see the old file or the new one, never half a
/// file. On failure, the failing step and the path it was at.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), (&'static str, PathBuf, io::Error)> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let step = |what: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |e| (what, p, e)
    };
    let mut f = File::create(&tmp).map_err(step("writing", &tmp))?;
    f.write_all(bytes).map_err(step("writing", &tmp))?;
    f.sync_data().map_err(step("writing", &tmp))?;
    fs::rename(&tmp, path).map_err(step("renaming", &tmp))
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.json");
        super::write(&p, b"one").expect("write");
        super::write(&p, b"two").expect("rewrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
