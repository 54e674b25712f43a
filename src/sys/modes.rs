//! Who may enter wharf's roots. As Docker after CVE-2021-41091: the data
//! and runtime roots, `containers/` and `layers/` are `0710` (root only;
//! no `x` for others), so no local user reaches a container's rootfs or
//! upper dir (setuid binaries, device nodes a container made), a layer's
//! files, records holding env secrets, or logs. State files are written
//! `0600` (`sys::atomic`) and logs `0640`.

use super::path_error::{IoAt, PathError};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// The mode of the roots and of the dirs that hold rootfs and layer trees.
pub const ROOT_DIR_MODE: u32 = 0o710;
/// The mode of state files (records, state, IPAM).
pub const STATE_FILE_MODE: u32 = 0o600;
/// The mode of container logs.
pub const LOG_FILE_MODE: u32 = 0o640;

/// Creates `dir` (and missing parents) and sets it to `mode`, also when it
/// already existed with a wider one (a root made by an older wharf is
/// tightened on open). Not through a symlink: the leaf must be a directory.
pub fn restricted_dir(dir: &Path, mode: u32) -> Result<(), PathError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .at("creating", dir)?;
    let meta = fs::symlink_metadata(dir).at("inspecting", dir)?;
    if meta.permissions().mode() & 0o7777 != mode {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode)).at("chmod", dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_dir_makes_and_tightens() {
        let tmp = tempfile::tempdir().expect("tmp");
        let fresh = tmp.path().join("a/b");
        restricted_dir(&fresh, ROOT_DIR_MODE).expect("make");
        let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(mode(&fresh), 0o710);
        let old = tmp.path().join("old");
        fs::create_dir(&old).expect("mkdir");
        fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).expect("chmod");
        restricted_dir(&old, ROOT_DIR_MODE).expect("tighten");
        assert_eq!(mode(&old), 0o710);
    }
}
