//! Pulling an image: resolve the reference to a manifest for our platform,
//! fetch the config, then fetch and unpack every layer — layers of one image
//! in parallel, and a layer wanted by several concurrent pulls fetched once.
//!
//! Everything that lands in the store is verified first (manifest, config,
//! blob and diff-id digests). While a pull runs, what it has stored is held
//! under a `pull-<pid>` holder so a concurrent prune cannot take it away.

use super::digest::Digest;
use super::platform::Platform;
use super::reference::Reference;
use super::registry::{self, RegistryClient, RegistryError};
use super::store::{ImageRecord, ImageStore, LayerRecord, StoreError};
use super::tarsplit::Split;
use super::unpack::{self, UnpackError, UnpackOptions};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{Mutex, OnceCell};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{reference}: layer {digest}: {source}")]
    Unpack {
        reference: String,
        digest: Digest,
        // Boxed: unpack errors are large and rare.
        source: Box<UnpackError>,
    },
    /// Writing the tree failed (a full disk): says where, so the user
    /// knows which file system filled up.
    #[error("{reference}: layer {digest}: unpacking into {}: {source}", path.display())]
    UnpackInto {
        reference: String,
        digest: Digest,
        path: std::path::PathBuf,
        source: Box<UnpackError>,
    },
    #[error("{reference}: invalid {what}: {msg}")]
    Invalid {
        reference: String,
        what: &'static str,
        msg: String,
    },
    #[error("{reference}: no image for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        reference: String,
        platform: String,
        available: String,
    },
    #[error(
        "{reference}: layer {digest} unpacks to {actual}, but the image config says {expected}"
    )]
    DiffIdMismatch {
        reference: String,
        digest: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("{reference}: the manifest lists {layers} layers but the config {diff_ids} diff ids")]
    LayerCount {
        reference: String,
        layers: usize,
        diff_ids: usize,
    },
    #[error("unpacking a layer was interrupted: {0}")]
    Join(#[source] tokio::task::JoinError),
    #[error("unpacking a layer was interrupted: {0}")]
    Pipe(#[source] std::io::Error),
}

/// What a pull reports as it goes, for progress bars or plain log lines.
#[derive(Clone, Debug, PartialEq)]
pub enum PullEvent {
    Resolved {
        reference: String,
        digest: Digest,
    },
    LayerExists {
        digest: Digest,
    },
    Downloading {
        digest: Digest,
        done: u64,
        total: u64,
    },
    Downloaded {
        digest: Digest,
    },
    Extracted {
        digest: Digest,
    },
    Done {
        reference: String,
        digest: Digest,
    },
}

/// Receives pull events; must be cheap (it is called for every chunk).
pub trait PullProgress: Sync {
    fn event(&self, event: PullEvent);
}

/// Ignores all events.
pub struct NoProgress;

impl PullProgress for NoProgress {
    fn event(&self, _: PullEvent) {}
}

#[derive(Clone, Debug)]
pub struct PullOptions {
    /// Defaults to the host's platform.
    pub platform: Option<Platform>,
    /// Keep compressed layer blobs after unpacking (by default they are
    /// dropped once the layer's tar split is shown to rebuild its diff id).
    pub keep_layer_blobs: bool,
}

/// Where images come from: a registry, or an OCI image layout on disk
/// (what `wharf load` unpacks an archive into). Both are verified the same way.
pub enum ImageSource {
    Registry(RegistryClient),
    Layout(std::path::PathBuf),
}

impl ImageSource {
    /// Opens the layout's blob `digest`: a regular file below `dir`, never
    /// through a symlink leading out of it (the layout is an untrusted
    /// archive's content).
    fn open_layout_blob(
        dir: &std::path::Path,
        digest: &Digest,
    ) -> Result<std::fs::File, PullError> {
        let name = format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex());
        crate::sys::confined::open_regular_beneath(dir, &name).map_err(|e| PullError::Invalid {
            reference: digest.to_string(),
            what: "image layout",
            msg: format!("{name}: {e}"),
        })
    }

    async fn get_manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
    ) -> Result<registry::FetchedManifest, PullError> {
        match self {
            ImageSource::Registry(c) => Ok(c.get_manifest(registry, repo, reference).await?),
            ImageSource::Layout(dir) => {
                let invalid = |msg: String| PullError::Invalid {
                    reference: reference.to_string(),
                    what: "image layout",
                    msg,
                };
                let digest: Digest = reference
                    .parse()
                    .map_err(|e: super::digest::DigestError| invalid(e.to_string()))?;
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(
                        Self::open_layout_blob(dir, &digest)?,
                        registry::MAX_MANIFEST_BYTES as u64 + 1,
                    ),
                    &mut bytes,
                )
                .map_err(|e| invalid(e.to_string()))?;
                if bytes.len() > registry::MAX_MANIFEST_BYTES {
                    return Err(invalid(format!(
                        "manifest is larger than {} bytes",
                        registry::MAX_MANIFEST_BYTES
                    )));
                }
                digest
                    .verify(&Digest::of(digest.algorithm(), &bytes))
                    .map_err(|e| invalid(e.to_string()))?;
                let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
                    .unwrap_or_else(|| registry::MEDIA_OCI_MANIFEST.to_string());
                Ok(registry::FetchedManifest {
                    digest,
                    media_type,
                    bytes,
                })
            }
        }
    }

    async fn fetch_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &Digest,
        sink: &mut BlobSink,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), PullError> {
        match self {
            ImageSource::Registry(c) => {
                c.fetch_blob(registry, repo, digest, sink, progress).await?;
            }
            ImageSource::Layout(dir) => {
                let unreadable = |e: std::io::Error| PullError::Invalid {
                    reference: digest.to_string(),
                    what: "image layout",
                    msg: e.to_string(),
                };
                let mut file = tokio::fs::File::from_std(Self::open_layout_blob(dir, digest)?);
                let n = tokio::io::copy(&mut file, sink).await.map_err(unreadable)?;
                progress(n);
            }
        }
        Ok(())
    }
}

/// Pulls into one store; share one `Puller` between concurrent pulls so
/// that common layers are fetched once.
pub struct Puller {
    client: ImageSource,
    store: Arc<ImageStore>,
    /// Layers being fetched now, by diff id: later pulls wait for the first.
    in_flight: Mutex<HashMap<Digest, Arc<OnceCell<u64>>>>,
    /// Numbers the holders of concurrent pulls.
    pulls: std::sync::atomic::AtomicU64,
}

/// `AsyncWrite` over the store's synchronous blob writer, optionally
/// copying every byte into a socket that an unpacker reads at the same time
/// (decompression runs while the download goes on). Writes go to a local
/// file and a socket drained by another thread, which do not block for long.
/// A socket rather than a pipe: its writes can say MSG_NOSIGNAL, so an
/// unpacker that stops early (a full disk, a corrupt tar) gives EPIPE, not a
/// SIGPIPE that kills the verbs that keep its default disposition (`pull`).
struct BlobSink {
    blob: super::store::BlobWriter,
    tee: Option<UnixStream>,
}

impl BlobSink {
    fn new(blob: super::store::BlobWriter) -> Self {
        BlobSink { blob, tee: None }
    }
}

impl tokio::io::AsyncWrite for BlobSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let n = match std::io::Write::write(&mut self.blob, buf) {
            Ok(n) => n,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Some(socket) = self.tee.as_ref() {
            // The unpacker stopped reading (it failed, or the tar ended):
            // keep storing the blob; its error is reported on join.
            if send_all(socket, &buf[..n]).is_err() {
                self.tee = None;
            }
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(std::io::Write::flush(&mut self.blob))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// Writes all of `buf` to `socket` without raising SIGPIPE.
fn send_all(socket: &UnixStream, mut buf: &[u8]) -> nix::Result<()> {
    use nix::sys::socket::{send, MsgFlags};
    while !buf.is_empty() {
        match send(socket.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => buf = &buf[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One layer of an image being pulled.
#[derive(Clone, Copy)]
struct LayerJob<'a> {
    /// The image reference, for messages.
    reference: &'a str,
    registry: &'a str,
    repo: &'a str,
    blob: &'a Digest,
    media_type: &'a str,
    /// Compressed size from the manifest.
    size: u64,
    diff_id: &'a Digest,
    keep_blob: bool,
}

impl Puller {
    pub fn new(client: RegistryClient, store: Arc<ImageStore>) -> Self {
        Self::from_source(ImageSource::Registry(client), store)
    }

    pub fn from_source(client: ImageSource, store: Arc<ImageStore>) -> Self {
        Puller {
            client,
            store,
            in_flight: Mutex::new(HashMap::new()),
            pulls: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn store(&self) -> &Arc<ImageStore> {
        &self.store
    }

    /// Pulls `reference` and records it in the store under its name.
    pub async fn pull(
        &self,
        reference: &Reference,
        opts: &PullOptions,
        progress: &dyn PullProgress,
    ) -> Result<ImageRecord, PullError> {
        // Each pull holds what it stores under its own name, so one pull
        // finishing cannot drop what a concurrent one still needs.
        let n = self
            .pulls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let holder = format!("pull-{}-{n}", std::process::id());
        let result = self.pull_inner(reference, opts, progress, &holder).await;
        // Whatever happened, this pull no longer needs its holds; a record
        // written by `put_image` keeps what the image uses.
        self.store.release(&holder)?;
        result
    }

    async fn pull_inner(
        &self,
        reference: &Reference,
        opts: &PullOptions,
        progress: &dyn PullProgress,
        holder: &str,
    ) -> Result<ImageRecord, PullError> {
        let name = reference.to_string();
        let registry = reference.registry();
        let repo = reference.repository();
        let invalid = |what: &'static str, msg: String| PullError::Invalid {
            reference: reference.to_string(),
            what,
            msg,
        };
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);

        let mut fetched = self
            .client
            .get_manifest(registry, repo, &reference.manifest_reference())
            .await?;
        let mut index_digest = None;
        if registry::is_index_media_type(&fetched.media_type) {
            let index: ImageIndex = serde_json::from_slice(&fetched.bytes)
                .map_err(|e| invalid("image index", e.to_string()))?;
            let Some(chosen) = platform.select_manifest(&index) else {
                let available = index
                    .manifests()
                    .iter()
                    .filter_map(|d| d.platform().as_ref().map(|p| Platform::from(p).to_string()))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(PullError::NoMatchingPlatform {
                    reference: name,
                    platform: platform.to_string(),
                    available,
                });
            };
            let child: Digest = chosen
                .digest()
                .to_string()
                .parse()
                .map_err(|e: super::digest::DigestError| invalid("image index", e.to_string()))?;
            self.put_held_blob(holder, &fetched.digest, &fetched.bytes)?;
            index_digest = Some(fetched.digest.clone());
            fetched = self
                .client
                .get_manifest(registry, repo, &child.to_string())
                .await?;
        }
        progress.event(PullEvent::Resolved {
            reference: name.clone(),
            digest: fetched.digest.clone(),
        });
        let manifest: ImageManifest = serde_json::from_slice(&fetched.bytes)
            .map_err(|e| invalid("image manifest", e.to_string()))?;
        self.put_held_blob(holder, &fetched.digest, &fetched.bytes)?;

        let config_digest: Digest =
            manifest.config().digest().to_string().parse().map_err(
                |e: super::digest::DigestError| invalid("image manifest", e.to_string()),
            )?;
        // A config is read whole into memory: refuse a huge one before
        // fetching it, and fetch no more than its descriptor says.
        let config_size = manifest.config().size();
        if config_size > super::config::MAX_CONFIG_BYTES as u64 {
            return Err(invalid(
                "image config",
                format!(
                    "{config_size} bytes, more than the {} allowed",
                    super::config::MAX_CONFIG_BYTES
                ),
            ));
        }
        let config_bytes = self
            .fetch_small_blob(holder, registry, repo, &config_digest, config_size)
            .await?;
        let config: ImageConfiguration = serde_json::from_slice(&config_bytes)
            .map_err(|e| invalid("image config", e.to_string()))?;

        let layers: Vec<_> = manifest
            .layers()
            .iter()
            .filter(|l| !unpack::is_foreign_media_type(l.media_type().as_ref()))
            .collect();
        let diff_ids = config.rootfs().diff_ids();
        if layers.len() != diff_ids.len() {
            return Err(PullError::LayerCount {
                reference: name,
                layers: layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        let mut jobs = Vec::new();
        let name_ref = name.as_str();
        for (layer, diff_id) in layers.iter().zip(diff_ids) {
            let blob: Digest =
                layer
                    .digest()
                    .to_string()
                    .parse()
                    .map_err(|e: super::digest::DigestError| {
                        invalid("image manifest", e.to_string())
                    })?;
            let diff_id: Digest = diff_id
                .parse()
                .map_err(|e: super::digest::DigestError| invalid("image config", e.to_string()))?;
            let media_type = layer.media_type().to_string();
            let size = layer.size();
            jobs.push(async move {
                let job = LayerJob {
                    reference: name_ref,
                    registry,
                    repo,
                    blob: &blob,
                    media_type: &media_type,
                    size,
                    diff_id: &diff_id,
                    keep_blob: opts.keep_layer_blobs,
                };
                let unpacked = self.ensure_layer(holder, &job, progress).await?;
                Ok::<LayerRecord, PullError>(LayerRecord {
                    blob_digest: blob,
                    media_type,
                    diff_id,
                    compressed_size: size,
                    size: unpacked,
                })
            });
        }
        let layer_records = futures_util::future::try_join_all(jobs).await?;

        let record = ImageRecord {
            // Pulled by digest, an image gets no name (as in Docker, even
            // when a tag was written next to the digest).
            references: if reference.digest().is_none() {
                vec![reference.to_string()]
            } else {
                Vec::new()
            },
            // Only a registry gives the image a `name@digest` to pull again by.
            repo_digests: match self.client {
                ImageSource::Registry(_) => {
                    vec![format!("{}@{}", reference.name(), fetched.digest)]
                }
                ImageSource::Layout(_) => Vec::new(),
            },
            manifest_digest: fetched.digest.clone(),
            manifest_media_type: fetched.media_type.clone(),
            index_digest,
            config_digest,
            platform: Platform::new(
                &config.os().to_string(),
                &config.architecture().to_string(),
                config.variant().as_deref(),
            ),
            size: layer_records.iter().map(|l| l.size).sum(),
            layers: layer_records,
            created: config.created().clone(),
        };
        self.store.put_image(record.clone())?;
        progress.event(PullEvent::Done {
            reference: name,
            digest: fetched.digest,
        });
        Ok(record)
    }

    fn put_held_blob(&self, holder: &str, digest: &Digest, bytes: &[u8]) -> Result<(), PullError> {
        self.store
            .retain_blobs(holder, std::slice::from_ref(digest))?;
        if !self.store.has_blob(digest) {
            self.store.put_blob(digest, bytes)?;
        }
        Ok(())
    }

    async fn fetch_small_blob(
        &self,
        holder: &str,
        registry: &str,
        repo: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<Vec<u8>, PullError> {
        self.store
            .retain_blobs(holder, std::slice::from_ref(digest))?;
        if !self.store.has_blob(digest) {
            let mut sink = BlobSink::new(self.store.blob_writer(digest)?.with_size_limit(size));
            self.client
                .fetch_blob(registry, repo, digest, &mut sink, &|_| {})
                .await?;
            sink.blob.commit()?;
        }
        let stored = self.store.blob_size(digest)?;
        if stored != size {
            return Err(PullError::Invalid {
                reference: digest.to_string(),
                what: "image config",
                msg: format!("{stored} bytes stored, the manifest says {size}"),
            });
        }
        Ok(self.store.read_blob(digest, false)?)
    }

    /// Makes sure the layer `diff_id` is unpacked in the store; returns its size.
    async fn ensure_layer(
        &self,
        holder: &str,
        job: &LayerJob<'_>,
        progress: &dyn PullProgress,
    ) -> Result<u64, PullError> {
        let (blob, diff_id) = (job.blob, job.diff_id);
        self.store
            .retain_layers(holder, std::slice::from_ref(diff_id))?;
        self.store
            .retain_blobs(holder, std::slice::from_ref(blob))?;
        if let Some(info) = self.store.layer(diff_id)? {
            progress.event(PullEvent::LayerExists {
                digest: blob.clone(),
            });
            return Ok(info.size);
        }
        let cell = {
            let mut map = self.in_flight.lock().await;
            map.entry(diff_id.clone()).or_default().clone()
        };
        let unpacked = cell
            .get_or_try_init(|| async {
                let size = if self.store.has_blob(blob) {
                    let store = self.store.clone();
                    let (blob_owned, media, diff) =
                        (blob.clone(), job.media_type.to_string(), diff_id.clone());
                    let reference = job.reference.to_string();
                    tokio::task::spawn_blocking(move || {
                        unpack_into_store(&store, &reference, &blob_owned, &media, &diff)
                    })
                    .await
                    .map_err(PullError::Join)??
                } else {
                    self.download_and_unpack(job, progress).await?
                };
                progress.event(PullEvent::Extracted {
                    digest: blob.clone(),
                });
                Ok::<u64, PullError>(size)
            })
            .await?;
        Ok(*unpacked)
    }

    /// Downloads a layer blob into the store while a blocking task unpacks
    /// the same bytes as they arrive; the layer is committed only once both
    /// the blob digest and the diff id check out.
    async fn download_and_unpack(
        &self,
        job: &LayerJob<'_>,
        progress: &dyn PullProgress,
    ) -> Result<u64, PullError> {
        let LayerJob {
            reference: name,
            registry,
            repo,
            blob,
            media_type,
            size,
            diff_id,
            keep_blob,
        } = *job;
        let (reader, writer) = UnixStream::pair().map_err(PullError::Pipe)?;
        let store = self.store.clone();
        let (blob_owned, media, diff) = (blob.clone(), media_type.to_string(), diff_id.clone());
        let reference = name.to_string();
        let unpacker = tokio::task::spawn_blocking(move || {
            unpack_stream(&store, &reference, &blob_owned, &media, &diff, reader).map(
                |(builder, actual, split)| {
                    let rebuilds = actual == diff && keeps_split(&builder, split, &diff);
                    (builder, actual, rebuilds)
                },
            )
        });
        let mut sink = BlobSink {
            // A registry streaming past the descriptor's size fails here,
            // before it fills the disk.
            blob: self.store.blob_writer(blob)?.with_size_limit(size),
            tee: Some(writer),
        };
        let report = |done: u64| {
            progress.event(PullEvent::Downloading {
                digest: blob.clone(),
                done,
                total: size,
            })
        };
        let fetched = self
            .client
            .fetch_blob(registry, repo, blob, &mut sink, &report)
            .await;
        let BlobSink { blob: writer, tee } = sink;
        // End of stream for the unpacker, whatever happened to the download.
        drop(tee);
        if fetched.is_ok() {
            // Unpacking (and checking the tar split) may still take a moment.
            progress.event(PullEvent::Downloaded {
                digest: blob.clone(),
            });
        }
        let unpacked = unpacker.await.map_err(PullError::Join)?;
        fetched?;
        let (builder, actual, rebuilds) = unpacked?;
        check_diff_id(&actual, name, blob, diff_id)?;
        // The blob was verified by the download; it is stored only when the
        // tree cannot give the tar back (or the caller wants it).
        if keep_blob || !rebuilds {
            writer.commit()?;
        } else {
            drop(writer);
        }
        Ok(builder.commit()?.size)
    }
}

/// A layer unpacked but not committed, the digest of its tar, and its tar
/// split (or why it has none).
type Unpacked = (super::store::LayerBuilder, Digest, Result<Split, String>);

/// Unpacks a layer from a stream into a new, not yet committed, layer.
fn unpack_stream(
    store: &ImageStore,
    reference: &str,
    blob: &Digest,
    media_type: &str,
    diff_id: &Digest,
    stream: impl std::io::Read,
) -> Result<Unpacked, PullError> {
    let unpack_err = |source| PullError::Unpack {
        reference: reference.to_string(),
        digest: blob.clone(),
        source: Box::new(source),
    };
    let tar =
        unpack::decompress(media_type, std::io::BufReader::new(stream)).map_err(unpack_err)?;
    let builder = store.begin_layer(diff_id)?;
    let path = builder.path();
    let (stats, split) = unpack::unpack_layer_with_split(
        tar,
        &path,
        builder.scratch_dir(),
        &UnpackOptions::default(),
    )
    .map_err(|source| match source {
        // Not about the file system it was unpacked into.
        UnpackError::SplitTooLarge { .. } => unpack_err(source),
        source => PullError::UnpackInto {
            reference: reference.to_string(),
            digest: blob.clone(),
            path: path.clone(),
            source: Box::new(source),
        },
    })?;
    Ok((builder, stats.diff_id, split))
}

/// Stores the tar split with the layer if it rebuilds exactly the tar
/// `diff_id` names (read back from the tree now, while it is in the page
/// cache); only then may the compressed blob go.
fn keeps_split(
    builder: &super::store::LayerBuilder,
    split: Result<Split, String>,
    diff_id: &Digest,
) -> bool {
    let split = match split {
        Ok(s) => s,
        Err(why) => {
            tracing::debug!(%diff_id, "no tar split, keeping the layer blob: {why}");
            return false;
        }
    };
    let path = builder.tar_split_path();
    if let Err(e) = split.persist(&path) {
        tracing::debug!(%diff_id, "{e}");
        let _ = std::fs::remove_file(&path);
        return false;
    }
    let mut hasher = HashingSink(super::digest::Hasher::new(diff_id.algorithm()));
    match super::tarsplit::rebuild(&path, &builder.path(), &mut hasher) {
        Ok(_) if &hasher.0.finish() == diff_id => true,
        other => {
            let why = match other {
                Err(e) => e.to_string(),
                Ok(_) => "the rebuilt tar has another digest".to_string(),
            };
            tracing::debug!(%diff_id, "tar split does not rebuild the layer, keeping its blob: {why}");
            let _ = std::fs::remove_file(&path);
            false
        }
    }
}

/// A writer that only hashes.
struct HashingSink(super::digest::Hasher);

impl std::io::Write for HashingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Unpacks a stored blob into a new layer, checking its diff id.
fn unpack_into_store(
    store: &ImageStore,
    reference: &str,
    blob: &Digest,
    media_type: &str,
    diff_id: &Digest,
) -> Result<u64, PullError> {
    let file = store.open_blob(blob)?;
    let (builder, actual, split) =
        unpack_stream(store, reference, blob, media_type, diff_id, file)?;
    check_diff_id(&actual, reference, blob, diff_id)?;
    // The blob stays: it was stored before this pull, for a reason.
    keeps_split(&builder, split, diff_id);
    Ok(builder.commit()?.size)
}

/// An unpacked layer is used only if it is the one the image config names.
fn check_diff_id(
    actual: &Digest,
    reference: &str,
    blob: &Digest,
    diff_id: &Digest,
) -> Result<(), PullError> {
    if actual != diff_id {
        return Err(PullError::DiffIdMismatch {
            reference: reference.to_string(),
            digest: blob.clone(),
            expected: diff_id.clone(),
            actual: actual.clone(),
        });
    }
    Ok(())
}
