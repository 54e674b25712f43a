//! `--output type=local|tar`: a built image's merged filesystem written out
//! as a directory tree or a tar stream, through the same staging COPY uses
//! (owners, modes, mtimes and symlinks kept; whiteouts applied).

use crate::build::builder::{layers_view, BuildError};
use crate::build::step::{self, CopyPlan, CopySource, SourceRoot, StepError};
use crate::build::tree::MergedView;
use crate::image::store::{ImageRecord, ImageStore};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the image's layers: {0}")]
    Layers(#[source] Box<BuildError>),
    #[error("writing the filesystem to {dest}: {source}")]
    Stage {
        dest: PathBuf,
        #[source]
        source: Box<StepError>,
    },
    #[error("--output dest {dest}: {source}")]
    Io {
        dest: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("--output dest {dest}: exists and is not a directory")]
    NotADirectory { dest: PathBuf },
}

/// Copies the image's merged filesystem into `staging` (an empty directory).
fn stage_rootfs(
    store: &ImageStore,
    image: &ImageRecord,
    staging: &Path,
) -> Result<(), ExportError> {
    if image.layers.is_empty() {
        return Ok(());
    }
    let view = layers_view(store, &image.layers).map_err(|e| ExportError::Layers(Box::new(e)))?;
    let plan = CopyPlan {
        instruction: "--output",
        root: SourceRoot::Layers(&view),
        sources: vec![CopySource {
            rel: PathBuf::new(),
            below_dest: None,
        }],
        dest: "/".into(),
        chown: None,
        chmod: None,
        epoch: None,
        extract_archives: false,
        included: None,
    };
    step::stage_copy(&plan, &MergedView::default(), staging).map_err(|e| ExportError::Stage {
        dest: staging.to_path_buf(),
        source: Box::new(e),
    })
}

/// A fresh directory beside `dest` (same filesystem, so entries can be renamed).
fn staging_beside(dest: &Path) -> Result<PathBuf, ExportError> {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = parent.join(format!(".{name}.wharf-partial-{}", std::process::id()));
    let io_err = |source| ExportError::Io {
        dest: staging.clone(),
        source,
    };
    std::fs::create_dir_all(&parent).map_err(io_err)?;
    if std::fs::symlink_metadata(&staging).is_ok() {
        crate::image::unpack::remove_tree(&staging)
            .map_err(|e| io_err(io::Error::other(e.to_string())))?;
    }
    std::fs::create_dir(&staging).map_err(io_err)?;
    Ok(staging)
}

/// `type=local`: the image's files under `dest` (made if missing). The tree
/// is staged beside `dest` first, so a failure leaves nothing half-written;
/// files already in `dest` that the image also has are replaced, as
/// BuildKit's local exporter does.
pub fn write_local(
    store: &ImageStore,
    image: &ImageRecord,
    dest: &Path,
) -> Result<(), ExportError> {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if !m.is_dir() => {
            return Err(ExportError::NotADirectory {
                dest: dest.to_path_buf(),
            })
        }
        _ => {}
    }
    let staging = staging_beside(dest)?;
    let result = stage_rootfs(store, image, &staging).and_then(|()| move_into(&staging, dest));
    let _ = crate::image::unpack::remove_tree(&staging);
    result
}

fn move_into(staging: &Path, dest: &Path) -> Result<(), ExportError> {
    let io_err = |source| ExportError::Io {
        dest: dest.to_path_buf(),
        source,
    };
    if std::fs::symlink_metadata(dest).is_err() {
        return std::fs::rename(staging, dest).map_err(io_err);
    }
    for e in std::fs::read_dir(staging).map_err(io_err)? {
        let e = e.map_err(io_err)?;
        let to = dest.join(e.file_name());
        if let Ok(m) = std::fs::symlink_metadata(&to) {
            if m.is_dir() {
                crate::image::unpack::remove_tree(&to)
                    .map_err(|err| io_err(io::Error::other(err.to_string())))?;
            } else {
                std::fs::remove_file(&to).map_err(io_err)?;
            }
        }
        std::fs::rename(e.path(), &to).map_err(io_err)?;
    }
    Ok(())
}

/// `type=tar`: the image's files as one tar stream (owners and modes kept,
/// symlinks as links), staged under `scratch_parent` and removed after.
pub fn write_tar(
    store: &ImageStore,
    image: &ImageRecord,
    scratch_parent: &Path,
    out: impl Write,
) -> Result<(), ExportError> {
    let staging = staging_beside(&scratch_parent.join("rootfs"))?;
    let result = stage_rootfs(store, image, &staging).and_then(|()| {
        let io_err = |source| ExportError::Io {
            dest: staging.clone(),
            source,
        };
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Complete);
        // Entries are named from the root down (`bin/sh`), as BuildKit's tar exporter names them.
        let mut names: Vec<_> = std::fs::read_dir(&staging)
            .map_err(io_err)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(io_err)?;
        names.sort();
        for name in names {
            let path = staging.join(&name);
            if path.is_dir() && !path.is_symlink() {
                tar.append_dir_all(&name, &path).map_err(io_err)?;
            } else {
                tar.append_path_with_name(&path, &name).map_err(io_err)?;
            }
        }
        tar.into_inner().and_then(|mut w| w.flush()).map_err(io_err)
    });
    let _ = crate::image::unpack::remove_tree(&staging);
    result
}
