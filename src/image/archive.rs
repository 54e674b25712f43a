//! `save` / `load`: image archives in the format `docker save` writes since
//! Docker 25 — an OCI image layout (`oci-layout`, `index.json`, `blobs/`) that
//! also carries the legacy `manifest.json`, so both `docker load` and OCI
//! tools read it. Loading accepts that, a plain OCI layout tarball, and the
//! older docker-archive (`manifest.json` with uncompressed layer tars).
//!
//! Blobs are written exactly as stored, so a saved image keeps its digest,
//! unless the store dropped a layer's compressed blob after unpacking: that
//! layer is written as the plain tar its tar split rebuilds (as `docker
//! save` writes layers), whose digest is its diff id, and the manifest in
//! the archive names it (so that image's digest changes; its config does
//! not).

use super::digest::{Algorithm, Digest, DigestReader};
use super::registry::MAX_MANIFEST_BYTES;
use super::store::{ImageRecord, ImageStore, StoreError};
use super::unpack::{self, UnpackError, UnpackOptions};
use serde_json::json;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the archive: {0}")]
    Write(io::Error),
    #[error("reading the archive: {0}")]
    Extract(#[from] Box<UnpackError>),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("invalid image archive: {0}")]
    Invalid(String),
    #[error("invalid image archive: {0}")]
    Json(#[source] serde_json::Error),
    #[error("invalid image archive: {0}")]
    Layer(#[source] Box<super::push::PushError>),
    #[error("invalid image archive: {0}")]
    TarSplit(#[source] super::tarsplit::TarSplitError),
}

const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The annotation Docker and containerd put the full image name in.
const NAME_ANNOTATION: &str = "io.containerd.image.name";
const REF_ANNOTATION: &str = "org.opencontainers.image.ref.name";

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    name: &str,
    size: u64,
    data: impl Read,
) -> Result<(), ArchiveError> {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar.append_data(&mut h, name, data)
        .map_err(ArchiveError::Write)
}

/// Appends a layer's tar, rebuilt from its tree, as the blob named by its
/// diff id (`size` bytes, from the tar split); the rebuilt bytes are checked
/// against the diff id as they go.
fn append_layer_tar(
    tar: &mut tar::Builder<impl Write>,
    store: &ImageStore,
    layer: &super::store::LayerInfo,
    size: u64,
) -> Result<(), ArchiveError> {
    let mut h = tar::Header::new_ustar();
    h.set_path(blob_name(&layer.diff_id))
        .map_err(ArchiveError::Write)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let out = tar.get_mut();
    out.write_all(h.as_bytes()).map_err(ArchiveError::Write)?;
    let written = super::push::write_layer_tar(store, layer, out)
        .map_err(|e| ArchiveError::Layer(Box::new(e)))?;
    if written != size {
        return Err(ArchiveError::Invalid(format!(
            "layer {}: rebuilt {written} bytes, expected {size}",
            layer.diff_id
        )));
    }
    // Entries are padded to whole 512-byte blocks.
    let pad = (512 - size % 512) % 512;
    out.write_all(&vec![0u8; pad as usize])
        .map_err(ArchiveError::Write)
}

/// Writes `images` (each with the name to record, if any) to `out`.
pub fn save(
    store: &ImageStore,
    images: &[(Option<String>, ImageRecord)],
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut tar = tar::Builder::new(out);
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    append(&mut tar, "oci-layout", layout.len() as u64, &layout[..])?;
    let mut written: Vec<Digest> = Vec::new();
    let mut index = Vec::new();
    let mut legacy = Vec::new();
    for (name, record) in images {
        let mut changed = Vec::new();
        let mut layer_blobs = Vec::new();
        for l in &record.layers {
            if store.has_blob(&l.blob_digest) {
                layer_blobs.push(l.blob_digest.clone());
                if !written.contains(&l.blob_digest) {
                    let size = store.blob_size(&l.blob_digest)?;
                    append(
                        &mut tar,
                        &blob_name(&l.blob_digest),
                        size,
                        store.open_blob(&l.blob_digest)?,
                    )?;
                    written.push(l.blob_digest.clone());
                }
                continue;
            }
            // Rebuilt from the tree: the plain tar, named by its diff id.
            let info = store
                .layer(&l.diff_id)?
                .ok_or_else(|| StoreError::MissingLayer {
                    image: record.id().clone(),
                    diff_id: l.diff_id.clone(),
                })?;
            let split = store
                .tar_split(&info)
                .ok_or_else(|| ArchiveError::Invalid(format!(
                    "layer {}: its blob is not stored and it has no tar split (pull the image again)",
                    l.diff_id
                )))?;
            let size = super::tarsplit::tar_len(&split).map_err(ArchiveError::TarSplit)?;
            if !written.contains(&l.diff_id) {
                append_layer_tar(&mut tar, store, &info, size)?;
                written.push(l.diff_id.clone());
            }
            layer_blobs.push(l.diff_id.clone());
            changed.push((
                l.blob_digest.clone(),
                super::push::Descriptor {
                    digest: l.diff_id.clone(),
                    media_type: unpack::OCI_LAYER_TAR.to_string(),
                    size,
                },
            ));
        }
        let (manifest_digest, manifest_size) = if changed.is_empty() {
            let d = record.manifest_digest.clone();
            let size = store.blob_size(&d)?;
            if !written.contains(&d) {
                append(&mut tar, &blob_name(&d), size, store.open_blob(&d)?)?;
                written.push(d.clone());
            }
            (d, size)
        } else {
            let original = store.read_blob(&record.manifest_digest, true)?;
            let bytes = super::push::rewrite_manifest(record.id(), &original, &changed)
                .map_err(|e| ArchiveError::Layer(Box::new(e)))?;
            let d = Digest::sha256_of(&bytes);
            if !written.contains(&d) {
                append(&mut tar, &blob_name(&d), bytes.len() as u64, &bytes[..])?;
                written.push(d.clone());
            }
            (d, bytes.len() as u64)
        };
        let config = &record.config_digest;
        if !written.contains(config) {
            let size = store.blob_size(config)?;
            append(&mut tar, &blob_name(config), size, store.open_blob(config)?)?;
            written.push(config.clone());
        }
        let mut desc = json!({
            "mediaType": record.manifest_media_type,
            "digest": manifest_digest.to_string(),
            "size": manifest_size,
        });
        if let Some(n) = name {
            let tag = n.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
            desc["annotations"] = json!({ NAME_ANNOTATION: n, REF_ANNOTATION: tag });
        }
        index.push(desc);
        legacy.push(json!({
            "Config": blob_name(&record.config_digest),
            "RepoTags": name.iter().collect::<Vec<_>>(),
            "Layers": layer_blobs.iter().map(blob_name).collect::<Vec<_>>(),
        }));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": index,
    }))
    .map_err(ArchiveError::Json)?;
    append(&mut tar, "index.json", index.len() as u64, &index[..])?;
    let legacy = serde_json::to_vec(&legacy).map_err(ArchiveError::Json)?;
    append(&mut tar, "manifest.json", legacy.len() as u64, &legacy[..])?;
    tar.into_inner()
        .map_err(ArchiveError::Write)?
        .flush()
        .map_err(ArchiveError::Write)
}

/// An image found in an extracted archive: the name it carried, and its
/// manifest digest within the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedImage {
    pub name: Option<String>,
    pub manifest: Digest,
}

/// Extracts an archive into `dest` (an empty directory) with the layer
/// unpacker, so a hostile archive cannot write outside it.
pub fn extract(archive: impl Read, dest: &Path) -> Result<(), ArchiveError> {
    let opts = UnpackOptions {
        allow_devices: false,
        preserve_owners: false,
    };
    unpack::unpack_layer(archive, dest, &opts).map_err(Box::new)?;
    Ok(())
}

/// Opens the regular file `name` of the extracted archive `dir`, never
/// outside it (see `open_regular_beneath`).
fn open_inside(dir: &Path, name: &str) -> Result<std::fs::File, ArchiveError> {
    if name.is_empty() {
        return Err(ArchiveError::Invalid("an empty path".into()));
    }
    crate::sys::confined::open_regular_beneath(dir, name).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ArchiveError::Invalid(format!("{name} is missing")),
        _ => ArchiveError::Invalid(format!("{name}: {e}")),
    })
}

/// Reads the JSON document `name` of the archive, at most `cap` bytes.
fn read_inside(dir: &Path, name: &str, cap: usize) -> Result<Vec<u8>, ArchiveError> {
    let file = open_inside(dir, name)?;
    let mut bytes = Vec::new();
    file.take(cap as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_at(&dir.join(name)))?;
    if bytes.len() > cap {
        return Err(ArchiveError::Invalid(format!(
            "{name} is larger than {cap} bytes"
        )));
    }
    Ok(bytes)
}

/// The digest and size of the archive's regular file `name`.
fn file_digest(dir: &Path, name: &str) -> Result<(Digest, u64), ArchiveError> {
    let f = open_inside(dir, name)?;
    let mut r = DigestReader::new(f, Algorithm::Sha256);
    io::copy(&mut r, &mut io::sink()).map_err(io_at(&dir.join(name)))?;
    Ok(r.finish())
}

/// Creates `blobs/sha256/<hex>` in `dir` for writing, following no symlink
/// on the way; `None` when it is already there (the layout reader verifies
/// every blob by its digest).
fn create_blob(dir: &Path, d: &Digest) -> Result<Option<std::fs::File>, ArchiveError> {
    use crate::sys::confined::{create_file_at, walk_dirs, WalkError};
    use nix::fcntl::OFlag;
    use std::os::fd::AsFd;
    let root = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| io_at(dir)(e.into()))?;
    let algo = d.algorithm().as_str().as_bytes();
    let blobs = walk_dirs(root.as_fd(), &[b"blobs", algo], true).map_err(|e| match e {
        WalkError::Symlink(c) => ArchiveError::Invalid(format!("{c} is a symlink")),
        WalkError::NotDir(c) => ArchiveError::Invalid(format!("{c} is not a directory")),
        WalkError::Missing(c) => ArchiveError::Invalid(format!("{c} is missing")),
        WalkError::Io(_, e) => io_at(dir)(e),
    })?;
    match create_file_at(
        blobs.as_fd(),
        d.hex().as_bytes(),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    ) {
        Ok(fd) => Ok(Some(std::fs::File::from(fd))),
        Err(nix::errno::Errno::EEXIST) => Ok(None),
        Err(e) => Err(io_at(&dir.join(blob_name(d)))(e.into())),
    }
}

fn write_blob(dir: &Path, bytes: &[u8]) -> Result<(Digest, u64), ArchiveError> {
    let d = Digest::sha256_of(bytes);
    if let Some(mut f) = create_blob(dir, &d)? {
        f.write_all(bytes)
            .map_err(io_at(&dir.join(blob_name(&d))))?;
    }
    Ok((d, bytes.len() as u64))
}

/// The images of an extracted archive. A legacy docker-archive (no
/// `index.json`) is turned into an OCI layout in place first.
pub fn images_in(dir: &Path) -> Result<Vec<ArchivedImage>, ArchiveError> {
    let has_index = std::fs::symlink_metadata(dir.join("index.json")).is_ok();
    if has_index {
        let text = read_inside(dir, "index.json", MAX_MANIFEST_BYTES)?;
        let index: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| ArchiveError::Invalid(format!("index.json: {e}")))?;
        let mut out = Vec::new();
        for m in index["manifests"].as_array().into_iter().flatten() {
            let manifest: Digest =
                m["digest"].as_str().unwrap_or_default().parse().map_err(
                    |e: super::digest::DigestError| ArchiveError::Invalid(e.to_string()),
                )?;
            let ann = &m["annotations"];
            let name = ann[NAME_ANNOTATION]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    ann[REF_ANNOTATION]
                        .as_str()
                        .filter(|r| r.contains('/'))
                        .map(str::to_string)
                });
            out.push(ArchivedImage { name, manifest });
        }
        return Ok(out);
    }
    if std::fs::symlink_metadata(dir.join("manifest.json")).is_err() {
        return Err(ArchiveError::Invalid(
            "neither index.json nor manifest.json found".into(),
        ));
    }
    let text = read_inside(dir, "manifest.json", MAX_MANIFEST_BYTES)?;
    let legacy: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| ArchiveError::Invalid(format!("manifest.json: {e}")))?;
    let mut out = Vec::new();
    for entry in legacy.as_array().into_iter().flatten() {
        let config = read_inside(
            dir,
            entry["Config"].as_str().unwrap_or_default(),
            super::config::MAX_CONFIG_BYTES,
        )?;
        let (config_digest, config_size) = write_blob(dir, &config)?;
        let mut layers = Vec::new();
        for l in entry["Layers"].as_array().into_iter().flatten() {
            let name = l.as_str().unwrap_or_default();
            let (digest, size) = file_digest(dir, name)?;
            if let Some(mut target) = create_blob(dir, &digest)? {
                let mut source = open_inside(dir, name)?;
                io::copy(&mut source, &mut target).map_err(io_at(&dir.join(name)))?;
            }
            // Old archives hold plain tars; newer ones may hold gzip.
            let mut magic = [0u8; 2];
            let gz =
                open_inside(dir, name)?.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
            layers.push(json!({
                "mediaType": if gz { "application/vnd.oci.image.layer.v1.tar+gzip" } else { "application/vnd.oci.image.layer.v1.tar" },
                "digest": digest.to_string(),
                "size": size,
            }));
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest.to_string(),
                "size": config_size,
            },
            "layers": layers,
        }))
        .map_err(ArchiveError::Json)?;
        let (manifest, _) = write_blob(dir, &manifest)?;
        let name = entry["RepoTags"]
            .as_array()
            .and_then(|t| t.first())
            .and_then(|t| t.as_str())
            .map(str::to_string);
        out.push(ArchivedImage { name, manifest });
    }
    Ok(out)
}
