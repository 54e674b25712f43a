//! Pushing a stored image: every blob the registry lacks (existence checked
//! first), then the manifest under the target tag. The manifest is pushed
//! byte for byte, so the image keeps its digest.

use super::digest::Digest;
use super::reference::Reference;
use super::registry::{RegistryClient, RegistryError};
use super::store::{ImageStore, StoreError};

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
}

/// What happened to each blob, for progress lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobPush {
    Exists(Digest),
    Pushed(Digest),
}

/// Pushes the image `local` (a name, id or digest in `store`) as `target`;
/// returns the manifest digest and what each blob needed.
pub async fn push(
    client: &RegistryClient,
    store: &ImageStore,
    local: &str,
    target: &Reference,
) -> Result<(Digest, Vec<BlobPush>), PushError> {
    let record = store
        .resolve(local)?
        .ok_or_else(|| PushError::NoSuchImage(local.to_string()))?;
    let (registry, repo) = (target.registry(), target.repository());
    let mut report = Vec::new();
    let blobs = record
        .layers
        .iter()
        .map(|l| l.blob_digest.clone())
        .chain(std::iter::once(record.config_digest.clone()));
    for digest in blobs {
        if client.blob_exists(registry, repo, &digest).await? {
            report.push(BlobPush::Exists(digest));
            continue;
        }
        let path = store.blob_path(&digest);
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|source| PushError::Read {
                path: path.clone(),
                source,
            })?;
        let size = store.blob_size(&digest)?;
        client
            .push_blob(registry, repo, &digest, size, &mut file)
            .await?;
        report.push(BlobPush::Pushed(digest));
    }
    let manifest = store.read_blob(&record.manifest_digest, true)?;
    let tag = target.tag().unwrap_or("latest");
    let digest = client
        .put_manifest(registry, repo, tag, &record.manifest_media_type, &manifest)
        .await?;
    Ok((digest, report))
}
