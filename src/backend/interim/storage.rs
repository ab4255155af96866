//! INTERIM adapter until branch `stream` lands (STREAM_API.md shape).
#![allow(missing_docs, dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("too large: {size} > {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("not found: {id}")]
    NotFound { id: u64 },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointLocation {
    pub id: u64,
    pub bytes: u64,
    pub path: Option<PathBuf>,
}

pub trait CheckpointStorage: Send + Sync + std::fmt::Debug {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError>;
    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError>;
    fn list(&self) -> Result<Vec<u64>, StorageError>;
}

pub trait CheckpointSink: Write + Send {
    fn commit(self: Box<Self>) -> Result<CheckpointLocation, StorageError>;
}

#[derive(Debug, Clone)]
pub struct MemoryStorage {
    map: Arc<Mutex<BTreeMap<u64, Vec<u8>>>>,
    limit: u64,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::with_max_size(5 * 1024 * 1024)
    }
    pub fn with_max_size(limit: usize) -> Self {
        MemoryStorage {
            map: Default::default(),
            limit: limit as u64,
        }
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

struct MemSink {
    id: u64,
    buf: Vec<u8>,
    limit: u64,
    map: Arc<Mutex<BTreeMap<u64, Vec<u8>>>>,
}

impl Write for MemSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let size = (self.buf.len() + b.len()) as u64;
        if size > self.limit {
            return Err(std::io::Error::other(StorageError::TooLarge {
                size,
                limit: self.limit,
            }));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CheckpointSink for MemSink {
    fn commit(self: Box<Self>) -> Result<CheckpointLocation, StorageError> {
        let bytes = self.buf.len() as u64;
        self.map.lock().unwrap().insert(self.id, self.buf);
        Ok(CheckpointLocation {
            id: self.id,
            bytes,
            path: None,
        })
    }
}

impl CheckpointStorage for MemoryStorage {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError> {
        Ok(Box::new(MemSink {
            id,
            buf: Vec::new(),
            limit: self.limit,
            map: self.map.clone(),
        }))
    }
    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        self.map
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .ok_or(StorageError::NotFound { id })
    }
    fn list(&self) -> Result<Vec<u64>, StorageError> {
        Ok(self.map.lock().unwrap().keys().copied().collect())
    }
}
