//! Image records, references (tag, untag, resolve), holders, and the
//! garbage collection built on them (`remove`, `prune`, `release`, `disk_usage`).

use super::{
    remove_file_if_exists, DiskUsage, Holder, ImageRecord, ImageStore, Removed, Result, StoreError,
};
use crate::image::digest::{Algorithm, Digest};
use crate::sys::path_error::{IoAt, PathError};
use nix::fcntl::FlockArg;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::PathBuf;

impl ImageStore {
    /// Adds `name@digest` to the image's repo digests (after a push that kept
    /// the manifest).
    pub fn add_repo_digest(&self, image: &Digest, repo_digest: &str) -> Result<()> {
        validate_reference(repo_digest)?;
        let _lock = self.lock(FlockArg::LockExclusive)?;
        let path = self.record_path(image);
        let Some(mut record) = Self::read_json::<ImageRecord>(&path)? else {
            return Ok(());
        };
        if !record.repo_digests.iter().any(|r| r == repo_digest) {
            record.repo_digests.push(repo_digest.to_string());
            self.write_json(&path, &record)?;
        }
        Ok(())
    }

    fn record_path(&self, id: &Digest) -> PathBuf {
        self.root
            .join("images")
            .join(format!("{}-{}.json", id.algorithm().as_str(), id.hex()))
    }

    fn holder_path(&self, holder: &str) -> PathBuf {
        self.root.join("holders").join(format!("{holder}.json"))
    }

    fn load_records(&self) -> Result<Vec<ImageRecord>> {
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).at("reading", &dir)? {
            let path = entry.at("reading", &dir)?.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Some(r) = Self::read_json(&path)? {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    fn load_holders(&self) -> Result<BTreeMap<String, Holder>> {
        let dir = self.root.join("holders");
        let mut out = BTreeMap::new();
        for entry in fs::read_dir(&dir).at("reading", &dir)? {
            let path = entry.at("reading", &dir)?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            // A killed pull keeps nothing alive (open() removes its file).
            if dead_pull_holder(name) {
                continue;
            }
            if let Some(h) = Self::read_json(&path)? {
                out.insert(name.to_string(), h);
            }
        }
        Ok(out)
    }

    /// Removes the holders of pulls whose process is gone (killed before
    /// it could release them). Called with the exclusive store lock.
    pub(super) fn reap_dead_pull_holders(&self) -> Result<()> {
        let dir = self.root.join("holders");
        for entry in fs::read_dir(&dir).at("reading", &dir)? {
            let path = entry.at("reading", &dir)?.path();
            let dead = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .is_some_and(dead_pull_holder);
            if dead {
                tracing::debug!(path = %path.display(), "removing the holder of a killed pull");
                remove_file_if_exists(&path)?;
            }
        }
        Ok(())
    }

    /// Records an image. Its manifest and config blobs and every layer must be
    /// in the store (layer blobs may have been dropped after unpacking). An
    /// existing record with the same id keeps its references; each of the new
    /// record's references moves to it.
    pub fn put_image(&self, record: ImageRecord) -> Result<()> {
        for r in &record.references {
            validate_reference(r)?;
        }
        let _lock = self.lock(FlockArg::LockExclusive)?;
        for digest in [&record.manifest_digest, &record.config_digest] {
            if !self.has_blob(digest) {
                return Err(StoreError::MissingBlob {
                    digest: digest.clone(),
                    path: self.blob_path(digest),
                });
            }
        }
        for diff_id in record.diff_ids() {
            if self.layer_unlocked(diff_id)?.is_none() {
                return Err(StoreError::MissingLayer {
                    image: record.id().clone(),
                    diff_id: diff_id.clone(),
                });
            }
        }
        let mut record = record;
        let path = self.record_path(record.id());
        if let Some(old) = Self::read_json::<ImageRecord>(&path)? {
            for r in old.references {
                if !record.references.contains(&r) {
                    record.references.push(r);
                }
            }
            for r in old.repo_digests {
                if !record.repo_digests.contains(&r) {
                    record.repo_digests.push(r);
                }
            }
        }
        let moved: Vec<String> = record.references.clone();
        self.drop_references_elsewhere(record.id(), &moved)?;
        self.write_json(&path, &record)
    }

    /// Removes `references` from every record but `keep`.
    fn drop_references_elsewhere(&self, keep: &Digest, references: &[String]) -> Result<()> {
        for mut other in self.load_records()? {
            if other.id() == keep {
                continue;
            }
            let before = other.references.len();
            other.references.retain(|r| !references.contains(r));
            if other.references.len() != before {
                self.write_json(&self.record_path(other.id()), &other)?;
            }
        }
        Ok(())
    }

    /// Points `reference` at the image `image` names (any form `resolve` takes),
    /// moving it off whichever image had it.
    pub fn tag(&self, reference: &str, image: &str) -> Result<ImageRecord> {
        validate_reference(reference)?;
        let _lock = self.lock(FlockArg::LockExclusive)?;
        let records = self.load_records()?;
        let mut record = resolve_in(&records, image)?.ok_or_else(|| StoreError::NotFound {
            reference: image.to_string(),
        })?;
        if !record.references.iter().any(|r| r == reference) {
            record.references.push(reference.to_string());
        }
        self.drop_references_elsewhere(record.id(), &[reference.to_string()])?;
        self.write_json(&self.record_path(record.id()), &record)?;
        Ok(record)
    }

    /// Removes `reference` from its image; the image stays (dangling if it was
    /// its last name).
    pub fn untag(&self, reference: &str) -> Result<ImageRecord> {
        let _lock = self.lock(FlockArg::LockExclusive)?;
        let mut record = self
            .load_records()?
            .into_iter()
            .find(|r| r.references.iter().any(|x| x == reference))
            .ok_or_else(|| StoreError::NotFound {
                reference: reference.to_string(),
            })?;
        record.references.retain(|r| r != reference);
        self.write_json(&self.record_path(record.id()), &record)?;
        Ok(record)
    }

    /// Finds an image by exact reference, repo digest, digest (manifest,
    /// config or index), or a prefix of its id or config digest's hex.
    pub fn resolve(&self, query: &str) -> Result<Option<ImageRecord>> {
        let _lock = self.lock(FlockArg::LockShared)?;
        resolve_in(&self.load_records()?, query)
    }

    /// Finds an image by the name as given (a short name, an id or digest,
    /// a prefix), then by its full reference (`busybox` →
    /// `docker.io/library/busybox:latest`), as `docker run` and Compose
    /// look an image up.
    pub fn find(&self, name: &str) -> Result<Option<ImageRecord>> {
        if let Some(found) = self.resolve(name)? {
            return Ok(Some(found));
        }
        match crate::image::reference::Reference::parse(name) {
            Ok(full) if full.to_string() != name => self.resolve(&full.to_string()),
            _ => Ok(None),
        }
    }

    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let _lock = self.lock(FlockArg::LockShared)?;
        let mut records = self.load_records()?;
        records.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id().cmp(b.id())));
        Ok(records)
    }

    /// `rmi`: by reference, untags it and deletes the image if that was its
    /// last name; by id, deletes the image (with several names only if
    /// `force`). An image a holder keeps is not deleted unless `force`; its
    /// held layers and blobs stay until `release`.
    pub fn remove(&self, name: &str, force: bool) -> Result<Removed> {
        let _lock = self.lock(FlockArg::LockExclusive)?;
        let records = self.load_records()?;
        let holders = self.load_holders()?;
        let mut removed = Removed::default();
        let by_reference = records
            .iter()
            .find(|r| r.references.iter().any(|x| x == name));
        let mut record = match by_reference {
            Some(r) => r.clone(),
            None => resolve_in(&records, name)?.ok_or_else(|| StoreError::NotFound {
                reference: name.to_string(),
            })?,
        };
        let holder = holders
            .iter()
            .find(|(_, h)| h.images.contains(record.id()))
            .map(|(id, _)| id.clone());
        if by_reference.is_some() && record.references.len() > 1 {
            record.references.retain(|r| r != name);
            self.write_json(&self.record_path(record.id()), &record)?;
            removed.untagged.push(name.to_string());
            return Ok(removed);
        }
        if !force {
            if let Some(holder) = holder {
                return Err(StoreError::Conflict {
                    reference: name.to_string(),
                    reason: format!(
                        "must force: {holder} is using image {}",
                        short_digest(record.id())
                    ),
                });
            }
            if record.references.len() > 1 {
                return Err(StoreError::Conflict {
                    reference: name.to_string(),
                    reason: format!(
                        "must force: image {} is referenced as {}",
                        short_digest(record.id()),
                        record.references.join(", ")
                    ),
                });
            }
        }
        removed.untagged = record.references.clone();
        self.delete_images(&records, &holders, &[record], &mut removed)?;
        Ok(removed)
    }

    /// Deletes the records of `doomed`, then whatever of theirs nothing else names.
    fn delete_images(
        &self,
        all: &[ImageRecord],
        holders: &BTreeMap<String, Holder>,
        doomed: &[ImageRecord],
        removed: &mut Removed,
    ) -> Result<()> {
        let doomed_ids: HashSet<&Digest> = doomed.iter().map(|r| r.id()).collect();
        for r in doomed {
            let path = self.record_path(r.id());
            remove_file_if_exists(&path)?;
            removed.deleted_images.push(r.id().clone());
        }
        let (live_blobs, live_layers) = live_sets(
            all.iter().filter(|r| !doomed_ids.contains(r.id())),
            holders.values(),
        );
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for r in doomed {
            blobs.extend(r.blobs().filter(|d| !live_blobs.contains(*d)).cloned());
            layers.extend(r.diff_ids().filter(|d| !live_layers.contains(*d)).cloned());
        }
        self.delete_blobs_and_layers(blobs, layers, removed)
    }

    fn delete_blobs_and_layers(
        &self,
        blobs: BTreeSet<Digest>,
        layers: BTreeSet<Digest>,
        removed: &mut Removed,
    ) -> Result<()> {
        for digest in blobs {
            let path = self.blob_path(&digest);
            if remove_file_if_exists(&path)? {
                removed.deleted_blobs.push(digest);
            }
        }
        for diff_id in layers {
            if let Some(info) = self.layer_unlocked(&diff_id)? {
                // The mapping goes first: it is what makes the layer exist.
                remove_file_if_exists(&self.diff_id_map_path(&diff_id))?;
                self.delete_layer_dir(&self.layers_dir().join(&info.short_id))?;
                removed.deleted_layers.push(diff_id);
            }
        }
        Ok(())
    }

    /// Deletes untagged images (`all`: every image no holder uses), then blobs
    /// and layers nothing names.
    pub fn prune(&self, all: bool) -> Result<Removed> {
        self.prune_matching(all, &|_| true)
    }

    /// [`prune`](Self::prune) of only the images `matches` accepts
    /// (`image prune --filter until=…/label=…`).
    pub fn prune_matching(
        &self,
        all: bool,
        matches: &dyn Fn(&ImageRecord) -> bool,
    ) -> Result<Removed> {
        let _lock = self.lock(FlockArg::LockExclusive)?;
        let records = self.load_records()?;
        let holders = self.load_holders()?;
        let held: HashSet<&Digest> = holders.values().flat_map(|h| h.images.iter()).collect();
        let doomed: Vec<ImageRecord> = records
            .iter()
            .filter(|r| !held.contains(r.id()) && (all || r.references.is_empty()) && matches(r))
            .cloned()
            .collect();
        let mut removed = Removed::default();
        for r in &doomed {
            removed.untagged.extend(r.references.iter().cloned());
        }
        self.delete_images(&records, &holders, &doomed, &mut removed)?;
        let doomed_ids: HashSet<&Digest> = doomed.iter().map(|r| r.id()).collect();
        let (live_blobs, live_layers) = live_sets(
            records.iter().filter(|r| !doomed_ids.contains(r.id())),
            holders.values(),
        );
        let (blobs, _) = self.all_blobs()?;
        let orphan_blobs = blobs
            .into_iter()
            .map(|(d, _)| d)
            .filter(|d| !live_blobs.contains(d))
            .collect();
        let orphan_layers = self
            .layer_map()?
            .into_keys()
            .filter(|d| !live_layers.contains(d))
            .collect();
        self.delete_blobs_and_layers(orphan_blobs, orphan_layers, &mut removed)?;
        Ok(removed)
    }

    /// Every blob on disk with its size, and the total.
    pub(super) fn all_blobs(&self) -> Result<(Vec<(Digest, u64)>, u64)> {
        let mut out = Vec::new();
        let mut total = 0;
        for algo in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join("blobs").join(algo.as_str());
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(PathError::new("reading", &dir, e).into()),
            };
            for entry in entries {
                let entry = entry.at("reading", &dir)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(digest) = format!("{}:{name}", algo.as_str()).parse::<Digest>() else {
                    continue;
                };
                let len = entry.metadata().at("reading", entry.path())?.len();
                total += len;
                out.push((digest, len));
            }
        }
        Ok((out, total))
    }

    /// Numbers for `system df`.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let _lock = self.lock(FlockArg::LockShared)?;
        let records = self.load_records()?;
        let holders = self.load_holders()?;
        let held_images: HashSet<&Digest> =
            holders.values().flat_map(|h| h.images.iter()).collect();
        let (active_blobs, active_layers) = live_sets(
            records.iter().filter(|r| held_images.contains(r.id())),
            holders.values(),
        );
        let mut usage = DiskUsage::default();

        let (blobs, _) = self.all_blobs()?;
        for (digest, size) in blobs {
            usage.blobs.count += 1;
            usage.blobs.size += size;
            if active_blobs.contains(&digest) {
                usage.blobs.active += 1;
            } else {
                usage.reclaimable += size;
            }
        }
        let mut layer_sizes = BTreeMap::new();
        for diff_id in self.layer_map()?.into_keys() {
            let Some(info) = self.layer_unlocked(&diff_id)? else {
                continue;
            };
            // The layer's own metadata (tar split) is on disk too.
            let on_disk = info.size + self.layer_meta_size(&info)?;
            usage.layers.count += 1;
            usage.layers.size += on_disk;
            if active_layers.contains(&diff_id) {
                usage.layers.active += 1;
            } else {
                usage.reclaimable += on_disk;
            }
            layer_sizes.insert(diff_id, info.size);
        }
        let mut image_layers = BTreeSet::new();
        for r in &records {
            usage.images.count += 1;
            if held_images.contains(r.id()) {
                usage.images.active += 1;
            }
            image_layers.extend(r.diff_ids().cloned());
        }
        usage.images.size = image_layers.iter().filter_map(|d| layer_sizes.get(d)).sum();
        Ok(usage)
    }

    // ---- holders ----

    fn update_holder(&self, holder: &str, f: impl FnOnce(&mut Holder)) -> Result<()> {
        validate_holder(holder)?;
        let _lock = self.lock(FlockArg::LockExclusive)?;
        let path = self.holder_path(holder);
        let mut h: Holder = Self::read_json(&path)?.unwrap_or_default();
        f(&mut h);
        self.write_json(&path, &h)
    }

    /// Keeps these layers (by diff id) alive until `release(holder)`.
    pub fn retain_layers(&self, holder: &str, diff_ids: &[Digest]) -> Result<()> {
        self.update_holder(holder, |h| h.layers.extend(diff_ids.iter().cloned()))
    }

    /// Keeps these blobs alive until `release(holder)` (e.g. during a pull).
    pub fn retain_blobs(&self, holder: &str, digests: &[Digest]) -> Result<()> {
        self.update_holder(holder, |h| h.blobs.extend(digests.iter().cloned()))
    }

    /// Marks `image` as used by `holder` (a container) and keeps its layers:
    /// `remove` refuses it without force, `prune(true)` skips it.
    pub fn retain_image(&self, holder: &str, image: &ImageRecord) -> Result<()> {
        self.update_holder(holder, |h| {
            h.images.insert(image.id().clone());
            h.layers.extend(image.diff_ids().cloned());
        })
    }

    /// Drops `holder` and deletes what only it kept alive.
    pub fn release(&self, holder: &str) -> Result<Removed> {
        validate_holder(holder)?;
        let _lock = self.lock(FlockArg::LockExclusive)?;
        let path = self.holder_path(holder);
        let mut removed = Removed::default();
        let Some(h) = Self::read_json::<Holder>(&path)? else {
            return Ok(removed);
        };
        remove_file_if_exists(&path)?;
        let records = self.load_records()?;
        let holders = self.load_holders()?;
        let (live_blobs, live_layers) = live_sets(records.iter(), holders.values());
        let blobs = h
            .blobs
            .into_iter()
            .filter(|d| !live_blobs.contains(d))
            .collect();
        let layers = h
            .layers
            .into_iter()
            .filter(|d| !live_layers.contains(d))
            .collect();
        self.delete_blobs_and_layers(blobs, layers, &mut removed)?;
        Ok(removed)
    }
}

/// Blobs and layers that `records` and `holders` name.
fn live_sets<'a>(
    records: impl Iterator<Item = &'a ImageRecord>,
    holders: impl Iterator<Item = &'a Holder>,
) -> (HashSet<Digest>, HashSet<Digest>) {
    let mut blobs = HashSet::new();
    let mut layers = HashSet::new();
    for r in records {
        blobs.extend(r.blobs().cloned());
        layers.extend(r.diff_ids().cloned());
    }
    for h in holders {
        blobs.extend(h.blobs.iter().cloned());
        layers.extend(h.layers.iter().cloned());
    }
    (blobs, layers)
}

fn resolve_in(records: &[ImageRecord], query: &str) -> Result<Option<ImageRecord>> {
    if let Some(r) = records.iter().find(|r| {
        r.references.iter().any(|x| x == query) || r.repo_digests.iter().any(|x| x == query)
    }) {
        return Ok(Some(r.clone()));
    }
    if let Ok(d) = query.parse::<Digest>() {
        return Ok(records
            .iter()
            .find(|r| r.id() == &d || r.config_digest == d || r.index_digest.as_ref() == Some(&d))
            .cloned());
    }
    let hex = query.strip_prefix("sha256:").unwrap_or(query);
    if hex.is_empty()
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Ok(None);
    }
    let matches: Vec<&ImageRecord> = records
        .iter()
        .filter(|r| r.id().hex().starts_with(hex) || r.config_digest.hex().starts_with(hex))
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).clone())),
        many => Err(StoreError::Ambiguous {
            prefix: query.to_string(),
            count: many.len(),
        }),
    }
}

fn short_digest(d: &Digest) -> &str {
    &d.hex()[..12]
}

/// Whether `holder` is a pull's (`pull-<pid>-<n>`, see image::pull) whose
/// process no longer exists. A reused pid keeps it alive a while longer,
/// which errs on the safe side.
fn dead_pull_holder(holder: &str) -> bool {
    let Some(pid) = holder
        .strip_prefix("pull-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|p| p.parse::<i32>().ok())
        .filter(|&p| p > 0)
    else {
        return false;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH)
}

fn validate_holder(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what: "holder id",
            value: id.to_string(),
            reason: "expected 1-128 of [A-Za-z0-9_.-], not starting with '.'",
        })
    }
}

fn validate_reference(r: &str) -> Result<()> {
    if r.is_empty() || r.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::Invalid {
            what: "reference",
            value: r.to_string(),
            reason: "empty or containing whitespace",
        });
    }
    Ok(())
}
