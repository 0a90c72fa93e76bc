//! Where attachments' bytes are kept, behind one trait ([`BlobStore`]) chosen at start-up by
//! `ATTACHMENT_STORE`:
//! - [`DatabaseStore`] (the default): chunks of [`CHUNK`] bytes in `attachment_blobs`, in the
//!   same database as everything else, so it needs no set-up and every node sees every file;
//! - [`DirStore`]: one file per key in a directory (written to a temporary name, synced,
//!   then renamed: a reader never sees half a file);
//! - [`S3Store`]: an S3-compatible bucket through `object_store` (multipart upload).
//!
//! Every store takes the bytes as a stream and hands them back as one: no store holds a
//! whole file in memory (the S3 store holds one part, 5 MiB, S3's smallest).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use crate::config::Config;
use crate::error::{AppError, AppResult};

/// Bytes as they arrive or leave.
pub type ByteStream<'a> = BoxStream<'a, AppResult<Bytes>>;

/// A place for files, each under a key (`[0-9a-f]{32}` or that and `.thumb`).
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// `database`, `dir` or `s3` (kept with each attachment).
    fn name(&self) -> &'static str;

    /// Writes `bytes` under `key`, returning how many were written. When the stream or the
    /// store fails, nothing is left under `key` and the stream's error is returned.
    async fn put(&self, key: &str, bytes: ByteStream<'_>) -> AppResult<u64>;

    /// The bytes under `key` (`not_found` when there are none).
    async fn get(&self, key: &str) -> AppResult<ByteStream<'static>>;

    /// Removes `key`; a key that is not there is fine.
    async fn delete(&self, key: &str) -> AppResult<()>;

    /// Periodic clean-up of what an interrupted write left (the directory's temporary files).
    async fn sweep(&self) {}
}

/// The store `config` names.
pub async fn from_config(
    config: &Config,
    db: &DatabaseConnection,
) -> anyhow::Result<Arc<dyn BlobStore>> {
    let named = config.attachment_store.as_deref().map(str::trim);
    let dir = config
        .attachment_dir
        .as_deref()
        .filter(|d| !d.trim().is_empty());
    match (named, dir) {
        (None | Some(""), None) | (Some("database"), _) => {
            Ok(Arc::new(DatabaseStore::new(db.clone())))
        }
        (None | Some(""), Some(d)) | (Some("dir"), Some(d)) => {
            Ok(Arc::new(DirStore::open(d).await?))
        }
        (Some(s), _) if s.starts_with("dir:") => Ok(Arc::new(DirStore::open(&s[4..]).await?)),
        (Some("dir"), None) => {
            anyhow::bail!("ATTACHMENT_STORE=dir needs ATTACHMENT_DIR (or use dir:<path>)")
        }
        (Some("s3"), _) => Ok(Arc::new(S3Store::from_config(config)?)),
        (Some(other), _) => {
            anyhow::bail!("ATTACHMENT_STORE={other:?}: expected database, dir:<path> or s3")
        }
    }
}

fn internal(what: &'static str) -> impl Fn(std::io::Error) -> AppError {
    move |e| AppError::Internal(anyhow::anyhow!("{what}: {e}"))
}

/// Bytes per `attachment_blobs` row.
pub const CHUNK: usize = 256 * 1024;

/// Files in the database, in chunks of [`CHUNK`] bytes (one row each, inserted as they
/// fill up; read back one row at a time).
pub struct DatabaseStore {
    db: DatabaseConnection,
}

impl DatabaseStore {
    pub fn new(db: DatabaseConnection) -> Self {
        DatabaseStore { db }
    }

    async fn insert(&self, key: &str, idx: i32, data: Vec<u8>) -> AppResult<()> {
        use entity::attachment_blob;
        use sea_orm::ActiveValue::Set;
        attachment_blob::Entity::insert(attachment_blob::ActiveModel {
            store_key: Set(key.to_string()),
            idx: Set(idx),
            data: Set(data),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    async fn write_all(&self, key: &str, mut bytes: ByteStream<'_>) -> AppResult<u64> {
        let mut buf = BytesMut::with_capacity(CHUNK);
        let (mut idx, mut total) = (0i32, 0u64);
        while let Some(chunk) = bytes.next().await {
            let mut chunk = chunk?;
            total += chunk.len() as u64;
            while !chunk.is_empty() {
                let take = (CHUNK - buf.len()).min(chunk.len());
                buf.extend_from_slice(&chunk.split_to(take));
                if buf.len() == CHUNK {
                    self.insert(key, idx, buf.split().to_vec()).await?;
                    idx += 1;
                }
            }
        }
        if !buf.is_empty() {
            self.insert(key, idx, buf.to_vec()).await?;
        }
        Ok(total)
    }

    async fn chunk(db: &DatabaseConnection, key: &str, idx: i32) -> AppResult<Option<Vec<u8>>> {
        use entity::attachment_blob;
        Ok(attachment_blob::Entity::find()
            .select_only()
            .column(attachment_blob::Column::Data)
            .filter(attachment_blob::Column::StoreKey.eq(key))
            .filter(attachment_blob::Column::Idx.eq(idx))
            .into_tuple::<Vec<u8>>()
            .one(db)
            .await?)
    }
}

#[async_trait::async_trait]
impl BlobStore for DatabaseStore {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn put(&self, key: &str, bytes: ByteStream<'_>) -> AppResult<u64> {
        match self.write_all(key, bytes).await {
            Ok(n) => Ok(n),
            Err(e) => {
                if let Err(gone) = self.delete(key).await {
                    tracing::warn!(error = %gone, key, "could not remove a failed upload's chunks");
                }
                Err(e)
            }
        }
    }

    async fn get(&self, key: &str) -> AppResult<ByteStream<'static>> {
        let db = self.db.clone();
        let key = key.to_string();
        // The first chunk is read now, so that a missing file is `not_found` before any
        // response starts; the others one at a time as the client takes them.
        let first = Self::chunk(&db, &key, 0).await?;
        let stream = futures::stream::try_unfold((first, 1i32), move |(next, idx)| {
            let (db, key) = (db.clone(), key.clone());
            async move {
                match next {
                    None => Ok(None),
                    Some(data) => {
                        let after = Self::chunk(&db, &key, idx).await?;
                        Ok(Some((Bytes::from(data), (after, idx + 1))))
                    }
                }
            }
        });
        Ok(stream.boxed())
    }

    async fn delete(&self, key: &str) -> AppResult<()> {
        use entity::attachment_blob;
        attachment_blob::Entity::delete_many()
            .filter(attachment_blob::Column::StoreKey.eq(key))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// Files in a directory, one per key.
pub struct DirStore {
    root: PathBuf,
}

/// Temporary files (an upload under way) start with this.
const TMP_PREFIX: &str = ".upload-";

impl DirStore {
    /// The store in `root`, created if missing.
    pub async fn open(root: &str) -> anyhow::Result<Self> {
        let root = PathBuf::from(root.trim());
        tokio::fs::create_dir_all(&root)
            .await
            .map_err(|e| anyhow::anyhow!("ATTACHMENT_DIR {}: {e}", root.display()))?;
        Ok(DirStore { root })
    }

    fn path(&self, key: &str) -> AppResult<PathBuf> {
        // Keys are made by chatdesk ([0-9a-f] and `.thumb`); anything else never names a file.
        let safe = !key.is_empty()
            && !key.starts_with('.')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
        if !safe {
            return Err(AppError::NotFound("attachment not found".into()));
        }
        Ok(self.root.join(key))
    }

    async fn write_all(tmp: &Path, mut bytes: ByteStream<'_>) -> AppResult<u64> {
        use tokio::io::AsyncWriteExt;
        let mut file = tokio::fs::File::create(tmp)
            .await
            .map_err(internal("create an attachment file"))?;
        let mut total = 0u64;
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk?;
            total += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(internal("write an attachment file"))?;
        }
        file.sync_all()
            .await
            .map_err(internal("sync an attachment file"))?;
        Ok(total)
    }

    /// Removes temporary files older than `age` (uploads cut short by a crash; an upload
    /// under way on another node sharing the directory is younger).
    pub async fn sweep_temporary(&self, age: std::time::Duration) {
        let Ok(mut dir) = tokio::fs::read_dir(&self.root).await else {
            return;
        };
        while let Ok(Some(entry)) = dir.next_entry().await {
            let stale = entry.file_name().to_string_lossy().starts_with(TMP_PREFIX)
                && entry
                    .metadata()
                    .await
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|e| e > age);
            if stale {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for DirStore {
    fn name(&self) -> &'static str {
        "dir"
    }

    async fn put(&self, key: &str, bytes: ByteStream<'_>) -> AppResult<u64> {
        let path = self.path(key)?;
        let tmp = self.root.join(format!(
            "{TMP_PREFIX}{key}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let written = match Self::write_all(&tmp, bytes).await {
            Ok(n) => tokio::fs::rename(&tmp, &path)
                .await
                .map(|()| n)
                .map_err(internal("rename an attachment file")),
            Err(e) => Err(e),
        };
        if written.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        written
    }

    async fn get(&self, key: &str) -> AppResult<ByteStream<'static>> {
        let file = match tokio::fs::File::open(self.path(key)?).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AppError::NotFound("attachment not found".into()))
            }
            Err(e) => return Err(internal("open an attachment file")(e)),
        };
        Ok(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024)
            .map_err(internal("read an attachment file"))
            .boxed())
    }

    async fn delete(&self, key: &str) -> AppResult<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(internal("remove an attachment file")(e)),
        }
    }

    async fn sweep(&self) {
        self.sweep_temporary(super::PENDING_TTL).await;
    }
}

/// Files in an S3-compatible bucket.
pub struct S3Store {
    store: object_store::aws::AmazonS3,
    prefix: String,
}

/// S3's smallest part of a multipart upload (but the last).
const S3_PART: usize = 5 * 1024 * 1024;

impl S3Store {
    pub fn from_config(c: &Config) -> anyhow::Result<Self> {
        use object_store::aws::AmazonS3Builder;
        let bucket = c
            .attachment_s3_bucket
            .as_deref()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| anyhow::anyhow!("ATTACHMENT_STORE=s3 needs ATTACHMENT_S3_BUCKET"))?;
        // The standard AWS_* settings first; chatdesk's own ones override them.
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(c.attachment_s3_region.as_deref().unwrap_or("us-east-1"))
            .with_allow_http(c.attachment_s3_allow_http);
        if let Some(e) = c
            .attachment_s3_endpoint
            .as_deref()
            .filter(|e| !e.is_empty())
        {
            // An S3-compatible server: path-style URLs (bucket in the path), as MinIO wants.
            b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
        }
        if let Some(k) = c.attachment_s3_access_key_id.as_deref() {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = c.attachment_s3_secret_access_key.as_deref() {
            b = b.with_secret_access_key(k);
        }
        let store = b
            .build()
            .map_err(|e| anyhow::anyhow!("the S3 attachment store: {e}"))?;
        Ok(S3Store {
            store,
            prefix: c.attachment_s3_prefix.clone(),
        })
    }

    fn path(&self, key: &str) -> object_store::path::Path {
        object_store::path::Path::from(format!("{}{key}", self.prefix))
    }
}

fn s3_error(e: object_store::Error) -> AppError {
    match e {
        object_store::Error::NotFound { .. } => AppError::NotFound("attachment not found".into()),
        e => AppError::Internal(anyhow::anyhow!("S3 attachment store: {e}")),
    }
}

#[async_trait::async_trait]
impl BlobStore for S3Store {
    fn name(&self) -> &'static str {
        "s3"
    }

    async fn put(&self, key: &str, mut bytes: ByteStream<'_>) -> AppResult<u64> {
        use object_store::{ObjectStore, WriteMultipart};
        let upload = self
            .store
            .put_multipart(&self.path(key))
            .await
            .map_err(s3_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, S3_PART);
        let mut total = 0u64;
        while let Some(chunk) = bytes.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e);
                }
            };
            total += chunk.len() as u64;
            // At most one part in flight besides the one filling up.
            if let Err(e) = writer.wait_for_capacity(1).await {
                let _ = writer.abort().await;
                return Err(s3_error(e));
            }
            writer.put(chunk);
        }
        writer.finish().await.map_err(s3_error)?;
        Ok(total)
    }

    async fn get(&self, key: &str) -> AppResult<ByteStream<'static>> {
        use object_store::ObjectStore;
        let got = self.store.get(&self.path(key)).await.map_err(s3_error)?;
        Ok(got.into_stream().map_err(s3_error).boxed())
    }

    async fn delete(&self, key: &str) -> AppResult<()> {
        use object_store::ObjectStore;
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_error(e)),
        }
    }
}
