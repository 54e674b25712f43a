//! Pushing a stored image: every blob the registry lacks, then the manifest
//! under the target tag.
//!
//! A layer blob is found, cheapest first: already in the target repository
//! (HEAD); mountable from another repository of the same registry that is
//! known to hold it (the repositories the image was pulled from or pushed
//! to: `POST …/blobs/uploads/?mount=&from=`, no data sent); the original
//! blob if the store kept it; otherwise a gzip blob made again from the
//! unpacked tree through the layer's tar split, which rebuilds the exact
//! tar, so the diff ids and the config stay. Only in that last case does the
//! manifest change (new layer digests and sizes), and with it the pushed
//! image's digest; otherwise the manifest is pushed byte for byte.

use super::digest::{Algorithm, Digest, Hasher};
use super::reference::Reference;
use super::registry::{RegistryClient, RegistryError, MEDIA_DOCKER_MANIFEST};
use super::store::{ImageRecord, ImageStore, LayerBlob, LayerInfo, ScratchFile, StoreError};
use super::tarsplit::TarSplitError;
use super::unpack::{DOCKER_LAYER_GZIP, OCI_LAYER_GZIP};
use std::collections::BTreeSet;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no such image: {0}")]
    NoSuchImage(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("layer {diff_id}: its blob is not stored and the layer has no tar split to make it again (pull the image again)")]
    NoLayerBlob { diff_id: Digest },
    #[error("layer {diff_id}: {source}")]
    Rebuild {
        diff_id: Digest,
        source: TarSplitError,
    },
    #[error("layer {diff_id}: the rebuilt tar has digest {actual}; the layer changed on disk")]
    LayerChanged { diff_id: Digest, actual: Digest },
    #[error("image {image}: invalid manifest: {reason}")]
    Manifest { image: Digest, reason: String },
    #[error("making a layer blob was interrupted: {0}")]
    Join(#[source] tokio::task::JoinError),
}

/// What happened to each blob, for progress lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobPush {
    Exists(Digest),
    /// Mounted from another repository (`registry/repo`) of the registry.
    Mounted {
        digest: Digest,
        from: String,
    },
    Pushed(Digest),
}

/// A blob as a manifest describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// Repositories (`registry/repo`) the store knows to hold `digest`: where
/// images naming it were pulled from or pushed to.
fn known_repositories(records: &[ImageRecord], digest: &Digest) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in records {
        if r.blobs().any(|b| b == digest) {
            for rd in &r.repo_digests {
                if let Some((name, _)) = rd.split_once('@') {
                    out.insert(name.to_string());
                }
            }
        }
    }
    out
}

/// One way to provide a layer: its descriptor and where it is known to be.
struct Candidate {
    desc: Descriptor,
    repositories: BTreeSet<String>,
}

/// Makes the target repository hold `digest` without sending data, if it
/// can: it has it already, or another repository of the registry does.
async fn without_upload(
    client: &RegistryClient,
    target: &Reference,
    digest: &Digest,
    repositories: &BTreeSet<String>,
) -> Result<Option<BlobPush>, PushError> {
    let (registry, repo) = (target.registry(), target.repository());
    if client.blob_exists(registry, repo, digest).await? {
        return Ok(Some(BlobPush::Exists(digest.clone())));
    }
    for source in repositories {
        let Ok(src) = Reference::parse(source) else {
            continue;
        };
        if src.registry() != registry || src.repository() == repo {
            continue;
        }
        // A 202 (no mount) is not an error: the next source, or an upload.
        match client
            .mount_blob(registry, repo, digest, src.repository())
            .await
        {
            Ok(true) => {
                return Ok(Some(BlobPush::Mounted {
                    digest: digest.clone(),
                    from: source.clone(),
                }))
            }
            Ok(false) => {}
            Err(e) => tracing::debug!("mounting {digest} from {source}: {e}"),
        }
    }
    Ok(None)
}

async fn upload_stored(
    client: &RegistryClient,
    store: &ImageStore,
    target: &Reference,
    digest: &Digest,
) -> Result<(), PushError> {
    let path = store.blob_path(digest);
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|source| PushError::Read {
            path: path.clone(),
            source,
        })?;
    let size = store.blob_size(digest)?;
    client
        .push_blob(
            target.registry(),
            target.repository(),
            digest,
            size,
            &mut file,
        )
        .await?;
    Ok(())
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Hasher,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the layer's exact tar (rebuilt from its tree) to `out`, checking
/// that it is the tar the diff id names; returns its length.
pub fn write_layer_tar(
    store: &ImageStore,
    layer: &LayerInfo,
    out: &mut dyn Write,
) -> Result<u64, PushError> {
    let split = store
        .tar_split(layer)
        .ok_or_else(|| PushError::NoLayerBlob {
            diff_id: layer.diff_id.clone(),
        })?;
    let mut h = Hashing {
        inner: out,
        hasher: Hasher::new(layer.diff_id.algorithm()),
        len: 0,
    };
    super::tarsplit::rebuild(&split, &layer.path, &mut h).map_err(|source| PushError::Rebuild {
        diff_id: layer.diff_id.clone(),
        source,
    })?;
    let actual = h.hasher.finish();
    if actual != layer.diff_id {
        return Err(PushError::LayerChanged {
            diff_id: layer.diff_id.clone(),
            actual,
        });
    }
    Ok(h.len)
}

/// Makes a gzip layer blob from the tree into a scratch file.
fn gzip_layer(
    store: &ImageStore,
    layer: &LayerInfo,
    media_type: &str,
) -> Result<(Descriptor, ScratchFile), PushError> {
    let scratch = store.scratch_file()?;
    let write_err = |source| PushError::Read {
        path: scratch.path().to_path_buf(),
        source,
    };
    let compressed = Hashing {
        inner: std::io::BufWriter::new(scratch.file()),
        hasher: Hasher::new(Algorithm::Sha256),
        len: 0,
    };
    let mut gz = flate2::write::GzEncoder::new(compressed, flate2::Compression::default());
    write_layer_tar(store, layer, &mut gz)?;
    let Hashing {
        inner: mut file,
        hasher,
        len,
    } = gz.finish().map_err(write_err)?;
    file.flush().map_err(write_err)?;
    drop(file);
    let desc = Descriptor {
        digest: hasher.finish(),
        media_type: media_type.to_string(),
        size: len,
    };
    Ok((desc, scratch))
}

/// Gets one layer into the target repository; returns the descriptor the
/// pushed manifest must name.
async fn push_layer(
    client: &RegistryClient,
    store: &ImageStore,
    records: &[ImageRecord],
    record: &ImageRecord,
    index: usize,
    target: &Reference,
    report: &mut Vec<BlobPush>,
) -> Result<Descriptor, PushError> {
    let l = &record.layers[index];
    let info = store
        .layer(&l.diff_id)?
        .ok_or_else(|| StoreError::MissingLayer {
            image: record.id().clone(),
            diff_id: l.diff_id.clone(),
        })?;
    let made = store.layer_blobs(&info)?;
    let original = Descriptor {
        digest: l.blob_digest.clone(),
        media_type: l.media_type.clone(),
        size: l.compressed_size,
    };
    let mut candidates = vec![Candidate {
        repositories: known_repositories(records, &original.digest),
        desc: original,
    }];
    for b in made {
        match candidates.iter_mut().find(|c| c.desc.digest == b.digest) {
            Some(c) => c.repositories.extend(b.repositories),
            None => candidates.push(Candidate {
                desc: Descriptor {
                    digest: b.digest,
                    media_type: b.media_type,
                    size: b.size,
                },
                repositories: b.repositories,
            }),
        }
    }
    let target_repo = format!("{}/{}", target.registry(), target.repository());
    let note = |desc: &Descriptor| {
        store.note_layer_blob(
            &info,
            &LayerBlob {
                digest: desc.digest.clone(),
                media_type: desc.media_type.clone(),
                size: desc.size,
                repositories: BTreeSet::new(),
            },
            &target_repo,
        )
    };
    for c in &candidates {
        if let Some(done) = without_upload(client, target, &c.desc.digest, &c.repositories).await? {
            report.push(done);
            note(&c.desc)?;
            return Ok(c.desc.clone());
        }
    }
    for c in &candidates {
        if store.has_blob(&c.desc.digest) {
            upload_stored(client, store, target, &c.desc.digest).await?;
            report.push(BlobPush::Pushed(c.desc.digest.clone()));
            note(&c.desc)?;
            return Ok(c.desc.clone());
        }
    }
    let media_type = if record.manifest_media_type == MEDIA_DOCKER_MANIFEST {
        DOCKER_LAYER_GZIP
    } else {
        OCI_LAYER_GZIP
    };
    let (store2, info2) = (store.clone(), info.clone());
    let (desc, scratch) =
        tokio::task::spawn_blocking(move || gzip_layer(&store2, &info2, media_type))
            .await
            .map_err(PushError::Join)??;
    if client
        .blob_exists(target.registry(), target.repository(), &desc.digest)
        .await?
    {
        report.push(BlobPush::Exists(desc.digest.clone()));
    } else {
        let mut file = tokio::fs::File::open(scratch.path())
            .await
            .map_err(|source| PushError::Read {
                path: scratch.path().to_path_buf(),
                source,
            })?;
        client
            .push_blob(
                target.registry(),
                target.repository(),
                &desc.digest,
                desc.size,
                &mut file,
            )
            .await?;
        report.push(BlobPush::Pushed(desc.digest.clone()));
    }
    note(&desc)?;
    Ok(desc)
}

/// The manifest with the layers whose blob changed (original digest →
/// new descriptor) pointing at the new blobs; everything else as it was.
pub fn rewrite_manifest(
    image: &Digest,
    manifest: &[u8],
    changed: &[(Digest, Descriptor)],
) -> Result<Vec<u8>, PushError> {
    let invalid = |reason: String| PushError::Manifest {
        image: image.clone(),
        reason,
    };
    let mut v: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| invalid(e.to_string()))?;
    let layers = v
        .get_mut("layers")
        .and_then(|l| l.as_array_mut())
        .ok_or_else(|| invalid("no layers".into()))?;
    for layer in layers {
        let Some(old) = layer
            .get("digest")
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse::<Digest>().ok())
        else {
            continue;
        };
        if let Some((_, new)) = changed.iter().find(|(o, _)| *o == old) {
            layer["digest"] = serde_json::Value::String(new.digest.to_string());
            layer["size"] = serde_json::Value::from(new.size);
            layer["mediaType"] = serde_json::Value::String(new.media_type.clone());
        }
    }
    serde_json::to_vec(&v).map_err(|e| invalid(e.to_string()))
}

/// Pushes the image `local` (a name, id or digest in `store`) as `target`;
/// returns the pushed manifest's digest and what each blob needed.
pub async fn push(
    client: &RegistryClient,
    store: &ImageStore,
    local: &str,
    target: &Reference,
) -> Result<(Digest, Vec<BlobPush>), PushError> {
    let record = store
        .resolve(local)?
        .ok_or_else(|| PushError::NoSuchImage(local.to_string()))?;
    let records = store.list()?;
    let (registry, repo) = (target.registry(), target.repository());
    let mut report = Vec::new();
    let mut changed = Vec::new();
    for i in 0..record.layers.len() {
        let desc = push_layer(client, store, &records, &record, i, target, &mut report).await?;
        let original = &record.layers[i].blob_digest;
        if &desc.digest != original {
            changed.push((original.clone(), desc));
        }
    }
    // The config goes where the layers went, so the same sources serve it.
    let config = &record.config_digest;
    let mut config_sources = known_repositories(&records, config);
    for l in &record.layers {
        if let Some(info) = store.layer(&l.diff_id)? {
            for b in store.layer_blobs(&info)? {
                config_sources.extend(b.repositories);
            }
        }
    }
    match without_upload(client, target, config, &config_sources).await? {
        Some(done) => report.push(done),
        None => {
            upload_stored(client, store, target, config).await?;
            report.push(BlobPush::Pushed(config.clone()));
        }
    }
    let manifest = store.read_blob(&record.manifest_digest, true)?;
    let manifest = if changed.is_empty() {
        manifest
    } else {
        rewrite_manifest(record.id(), &manifest, &changed)?
    };
    let tag = target.tag().unwrap_or("latest");
    let digest = client
        .put_manifest(registry, repo, tag, &record.manifest_media_type, &manifest)
        .await?;
    if changed.is_empty() {
        // As after a pull: the registry holds this very image under that name.
        store.add_repo_digest(record.id(), &format!("{}@{digest}", target.name()))?;
    }
    Ok((digest, report))
}
