//! Restored states that are not registered yet (B23, B24; Flink: the `restoredKvStateMetaInfos` and restored
//! tables of `HeapKeyedStateBackend`, bound when a state is first requested).
//!
//! Such a state is kept as its checkpointed signature and the V2 body of every key group of the backend's range
//! that holds entries, exactly as read (checksum-verified, not decoded: the Rust types are known only at
//! registration). A checkpoint writes these bodies back byte for byte ([`RestoredPart`]); a registration whose
//! signature matches decodes them into a table.

use super::error::StateSignature;
use super::state::{GroupWriter, SnapshotPart};
use crate::format::WriteError;
use crate::keygroup::KeyGroupContext;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One key group's kept V2 body.
pub(crate) struct RestoredBody {
    /// Position, in the restore's list, of the checkpoint it came from (for decode errors).
    pub(crate) checkpoint: usize,
    /// The body's entry count (its first four bytes).
    pub(crate) count: u32,
    /// The whole body, count included.
    pub(crate) bytes: Box<[u8]>,
}

/// A restored state that is not registered yet (B23).
pub(crate) struct RestoredState {
    pub(crate) name: String,
    pub(crate) signature: StateSignature,
    /// Non-empty bodies by key group; shared with the checkpoints that write them.
    pub(crate) bodies: Arc<BTreeMap<u32, RestoredBody>>,
    /// Entries over all bodies.
    pub(crate) entries: u64,
}

impl RestoredState {
    /// A checkpoint's part for this state: its bodies, written as they were restored (B23).
    pub(crate) fn part(&self) -> Box<dyn SnapshotPart> {
        Box::new(RestoredPart {
            bodies: self.bodies.clone(),
            entries: self.entries,
        })
    }
}

/// The entry count of a V2 body, if it is one (at least its 4-byte count, which is not negative).
pub(crate) fn body_count(body: &[u8]) -> Option<u32> {
    let count = i32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    u32::try_from(count).ok()
}

/// A restored state's part of a pending checkpoint: no snapshot, the immutable bodies.
struct RestoredPart {
    bodies: Arc<BTreeMap<u32, RestoredBody>>,
    entries: u64,
}

impl SnapshotPart for RestoredPart {
    fn len(&self) -> usize {
        usize::try_from(self.entries).unwrap_or(usize::MAX)
    }

    fn writer<'s>(&'s self, _context: KeyGroupContext) -> Box<dyn GroupWriter + 's> {
        Box::new(RestoredWriter(&self.bodies))
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

struct RestoredWriter<'s>(&'s BTreeMap<u32, RestoredBody>);

impl GroupWriter for RestoredWriter<'_> {
    fn write(&self, key_group: u32, out: &mut Vec<u8>) -> Result<usize, WriteError> {
        match self.0.get(&key_group) {
            Some(body) => {
                out.extend_from_slice(&body.bytes);
                Ok(body.count as usize)
            }
            // The V2 body of an empty key group: a count of 0.
            None => {
                out.extend_from_slice(&0i32.to_be_bytes());
                Ok(0)
            }
        }
    }
}
