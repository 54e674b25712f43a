//! The registry operations of `RegistryClient`: ping, manifests (get, put)
//! and blobs (fetch with resume, exists, mount, push).

use super::{
    display_name, header_value, json_schema_version, manifest_media_type, pull_scope, push_scope,
    transport, FetchedManifest, RegistryClient, RegistryError, Result, MAX_MANIFEST_BYTES,
    MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_SCHEMA1, MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
};
use crate::image::digest::{Digest, Hasher};
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

impl RegistryClient {
    /// Checks that the registry answers the v2 API and, when credentials are known for
    /// it, that it accepts them (`wharf login`). A registry that requires auth when
    /// none is known gives `AuthRequired`.
    pub async fn ping(&self, registry: &str) -> Result<()> {
        let req = self.req(Method::GET, self.url(registry, "/v2/")?);
        let resp = self.send_authed(registry, "", &[], req).await?;
        self.expect_success(resp, "").await.map(drop)
    }

    pub async fn get_manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
    ) -> Result<FetchedManifest> {
        let by_digest: Option<Digest> = reference.parse().ok();
        let name = display_name(registry, repo, reference);
        let mut req = self.req(
            Method::GET,
            self.url(registry, &format!("/v2/{repo}/manifests/{reference}"))?,
        );
        req.headers.insert(
            ACCEPT,
            HeaderValue::from_static(concat!(
                "application/vnd.oci.image.index.v1+json, ",
                "application/vnd.oci.image.manifest.v1+json, ",
                "application/vnd.docker.distribution.manifest.list.v2+json, ",
                "application/vnd.docker.distribution.manifest.v2+json"
            )),
        );
        let resp = self
            .send_authed(registry, repo, &[pull_scope(repo)], req)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::ManifestUnknown { name });
        }
        let mut resp = self.expect_success(resp, repo).await?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string());
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport(resp.url(), &e))? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_MANIFEST_BYTES {
                return Err(RegistryError::ManifestTooLarge { name });
            }
        }

        if let Some(expected) = &by_digest {
            let actual = Digest::of(expected.algorithm(), &bytes);
            if &actual != expected {
                return Err(RegistryError::DigestMismatch {
                    name,
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        let digest = match &by_digest {
            Some(d) => d.clone(),
            None => Digest::sha256_of(&bytes),
        };
        if let Some(h) = header_digest {
            let claimed: Digest = h.parse().map_err(|_| RegistryError::BadDigestHeader {
                name: name.clone(),
                value: h.clone(),
            })?;
            let actual = Digest::of(claimed.algorithm(), &bytes);
            if actual != claimed {
                return Err(RegistryError::DigestMismatch {
                    name,
                    expected: claimed,
                    actual,
                });
            }
        }

        let media_type = manifest_media_type(content_type.as_deref(), &bytes);
        if media_type.starts_with(MEDIA_DOCKER_SCHEMA1) || json_schema_version(&bytes) == Some(1) {
            return Err(RegistryError::Schema1 { name });
        }
        match media_type.as_str() {
            MEDIA_OCI_MANIFEST | MEDIA_OCI_INDEX | MEDIA_DOCKER_MANIFEST | MEDIA_DOCKER_LIST => {}
            _ => return Err(RegistryError::UnsupportedMediaType { name, media_type }),
        }
        Ok(FetchedManifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// Streams a blob into `sink`, hashing on the way; errors (after the sink saw the
    /// bytes, which the caller must then discard) unless the content matches `digest`.
    /// Returns the number of bytes written.
    pub async fn fetch_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &Digest,
        sink: &mut (dyn AsyncWrite + Unpin + Send),
        progress: &dyn Fn(u64),
    ) -> Result<u64> {
        let name = format!("{registry}/{repo}@{digest}");
        let url = self.url(registry, &format!("/v2/{repo}/blobs/{digest}"))?;
        let resp = self
            .send_authed(
                registry,
                repo,
                &[pull_scope(repo)],
                self.req(Method::GET, url.clone()),
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::BlobUnknown {
                registry: registry.to_string(),
                repo: repo.to_string(),
                digest: digest.clone(),
            });
        }
        let mut resp = self.expect_success(resp, repo).await?;
        let expected_len = resp.content_length();
        let mut hasher = Hasher::new(digest.algorithm());
        let mut total: u64 = 0;
        let mut resumes = 0;
        // Bytes of the current response the sink already has: a registry
        // that ignores Range sends the blob again from byte 0.
        let mut skip: u64 = 0;
        loop {
            let mut chunk = match resp.chunk().await {
                Ok(Some(chunk)) => chunk,
                // The length check below reports a body that ended short.
                Ok(None) => break,
                Err(e) if resumes < self.opts.retries => {
                    // A stall or a dropped connection mid-blob (a loaded or
                    // flaky registry) costs a Range request from where it
                    // broke, not the whole pull, as containerd resumes.
                    resumes += 1;
                    tracing::debug!(%url, total, resumes, "resuming a broken blob download: {e}");
                    let (next, restarted) =
                        self.resume_blob(registry, repo, &url, total, &e).await?;
                    resp = next;
                    skip = if restarted { total } else { 0 };
                    continue;
                }
                Err(e) => return Err(transport(resp.url(), &e)),
            };
            if skip > 0 {
                let dropped = skip.min(chunk.len() as u64);
                skip -= dropped;
                chunk = chunk.split_off(dropped as usize);
                if chunk.is_empty() {
                    continue;
                }
            }
            hasher.update(&chunk);
            sink.write_all(&chunk)
                .await
                .map_err(|source| RegistryError::Io {
                    name: name.clone(),
                    source,
                })?;
            total += chunk.len() as u64;
            progress(total);
        }
        sink.flush().await.map_err(|source| RegistryError::Io {
            name: name.clone(),
            source,
        })?;
        let actual = hasher.finish();
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                name,
                expected: digest.clone(),
                actual,
            });
        }
        if let Some(len) = expected_len {
            if len != total {
                return Err(RegistryError::SizeMismatch {
                    name,
                    expected: len,
                    actual: total,
                });
            }
        }
        Ok(total)
    }

    /// The rest of a blob from byte `from` on, after `broken` cut its body:
    /// a 206 that starts there, or, from a registry that does not honour
    /// Range, a 200 with the whole blob again (then `true`: the caller
    /// drops its first `from` bytes, which the sink already has, as
    /// containerd's fetcher does). Anything else fails with `broken`.
    async fn resume_blob(
        &self,
        registry: &str,
        repo: &str,
        url: &Url,
        from: u64,
        broken: &reqwest::Error,
    ) -> Result<(reqwest::Response, bool)> {
        let mut req = self.req(Method::GET, url.clone());
        req.headers.insert(
            reqwest::header::RANGE,
            header_value(&format!("bytes={from}-")),
        );
        let resp = self
            .send_authed(registry, repo, &[pull_scope(repo)], req)
            .await?;
        let starts_at = resp
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse::<u64>().ok());
        match resp.status() {
            StatusCode::PARTIAL_CONTENT if starts_at == Some(from) => Ok((resp, false)),
            StatusCode::OK => Ok((resp, true)),
            _ => Err(transport(url, broken)),
        }
    }

    pub async fn blob_exists(&self, registry: &str, repo: &str, digest: &Digest) -> Result<bool> {
        let req = self.req(
            Method::HEAD,
            self.url(registry, &format!("/v2/{repo}/blobs/{digest}"))?,
        );
        let resp = self
            .send_authed(registry, repo, &[pull_scope(repo)], req)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.expect_success(resp, repo).await.map(|_| true)
    }

    /// Cross-repository mount. `Ok(false)` when the registry would not mount (it then
    /// opened an upload session, which we cancel): push the blob instead.
    pub async fn mount_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &Digest,
        from_repo: &str,
    ) -> Result<bool> {
        let mut url = self.url(registry, &format!("/v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from_repo);
        let scopes = [push_scope(repo), pull_scope(from_repo)];
        let mut req = self.req(Method::POST, url);
        req.body = Some(Arc::new(Vec::new()));
        let resp = self.send_authed(registry, repo, &scopes, req).await?;
        let resp = self.expect_success(resp, repo).await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(true);
        }
        if let Ok(loc) = self.location(registry, &resp) {
            let req = self.req(Method::DELETE, loc);
            // Best effort: an abandoned session is garbage-collected by the registry.
            let _ = self.send_authed(registry, repo, &scopes, req).await;
        }
        Ok(false)
    }

    /// Uploads `size` bytes from `reader` as blob `digest`: one PUT when it fits in a
    /// chunk, otherwise PATCH chunks then the closing PUT. The content is hashed on the
    /// way and the upload is not committed when it does not match `digest`.
    pub async fn push_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &Digest,
        size: u64,
        reader: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<()> {
        let name = format!("{registry}/{repo}@{digest}");
        let scopes = [push_scope(repo)];
        let mut req = self.req(
            Method::POST,
            self.url(registry, &format!("/v2/{repo}/blobs/uploads/"))?,
        );
        req.body = Some(Arc::new(Vec::new()));
        let resp = self.send_authed(registry, repo, &scopes, req).await?;
        let resp = self.expect_success(resp, repo).await?;
        let mut location = self.location(registry, &resp)?;

        let chunk_size = self.opts.chunk_size.max(1);
        let mut hasher = Hasher::new(digest.algorithm());
        let mut sent: u64 = 0;
        let mut last: Vec<u8> = Vec::new();
        loop {
            let mut buf = Vec::with_capacity(chunk_size.min(size as usize + 1));
            let n = (&mut *reader)
                .take(chunk_size as u64)
                .read_to_end(&mut buf)
                .await
                .map_err(|source| RegistryError::Io {
                    name: name.clone(),
                    source,
                })?;
            hasher.update(&buf);
            let at_end = n < chunk_size || sent + n as u64 >= size;
            if at_end && sent == 0 {
                // Fits in one request: monolithic PUT below.
                last = buf;
                sent = n as u64;
                break;
            }
            if n > 0 {
                let mut req = self.req(Method::PATCH, location.clone());
                req.headers.insert(
                    "content-range",
                    header_value(&format!("{}-{}", sent, sent + n as u64 - 1)),
                );
                req.headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                req.body = Some(Arc::new(buf));
                let resp = self.send_authed(registry, repo, &scopes, req).await?;
                let resp = self.expect_success(resp, repo).await?;
                location = self.location(registry, &resp)?;
                sent += n as u64;
            }
            if at_end {
                break;
            }
        }
        // Read one byte past `size` would be a lie too; the hash check catches both.
        if sent != size {
            return Err(RegistryError::SizeMismatch {
                name,
                expected: size,
                actual: sent,
            });
        }
        let actual = hasher.finish();
        if &actual != digest {
            let req = self.req(Method::DELETE, location);
            let _ = self.send_authed(registry, repo, &scopes, req).await;
            return Err(RegistryError::DigestMismatch {
                name,
                expected: digest.clone(),
                actual,
            });
        }
        location
            .query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut req = self.req(Method::PUT, location);
        req.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        req.body = Some(Arc::new(last));
        let resp = self.send_authed(registry, repo, &scopes, req).await?;
        self.expect_success(resp, repo).await.map(drop)
    }

    /// Uploads a manifest under a tag or digest; returns its digest (sha256 of `bytes`,
    /// checked against what the registry reports).
    pub async fn put_manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        let name = display_name(registry, repo, reference);
        let digest = Digest::sha256_of(bytes);
        let mut req = self.req(
            Method::PUT,
            self.url(registry, &format!("/v2/{repo}/manifests/{reference}"))?,
        );
        req.headers.insert(CONTENT_TYPE, header_value(media_type));
        req.body = Some(Arc::new(bytes.to_vec()));
        let resp = self
            .send_authed(registry, repo, &[push_scope(repo)], req)
            .await?;
        let resp = self.expect_success(resp, repo).await?;
        if let Some(h) = resp.headers().get("docker-content-digest") {
            let h = String::from_utf8_lossy(h.as_bytes()).to_string();
            let claimed: Digest = h.parse().map_err(|_| RegistryError::BadDigestHeader {
                name: name.clone(),
                value: h.clone(),
            })?;
            if claimed.algorithm() == digest.algorithm() && claimed != digest {
                return Err(RegistryError::DigestMismatch {
                    name,
                    expected: digest,
                    actual: claimed,
                });
            }
        }
        Ok(digest)
    }
}
