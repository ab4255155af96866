//! The checkpoint stream of many states (Flink: the key-group framing of `HeapKeyedStateBackend`'s snapshot,
//! `KeyGroupRangeOffsets`, and the serialization proxy's meta section). docs/FORMAT.md ("Checkpoint streams")
//! specifies every byte.
//!
//! ```text
//! header    magic "COWKEYED" · version · body format (2) · checkpoint id · max parallelism · key-group range ·
//!           key serializer identity · meta section (per state: id, name, kind, namespace and state serializer
//!           identities) · CRC32C
//! sections  per key group of the range, in order:  int key-group id,
//!           then per state:  short state id, V2 body            ← byte-identical to the backport's layout
//! trailer   per key group: u64 section offset (KeyGroupRangeOffsets), u32 CRC32C of the section,
//!           per state u64 body length · u64 stream length · CRC32C of the trailer
//! ```
//!
//! [`write_stream`] writes one (streaming: one key group buffered at a time); [`StreamCheckpoint`] parses and
//! verifies one and slices or decodes each state's body per key group.

mod delta;
mod error;
mod meta;
mod read;
mod write;

pub use delta::{decode_delta_body, peek_base_id, DecodedDelta, StreamFingerprint, DELTA_STREAM_VERSION, PEEK_LEN};
pub use error::StreamError;
pub use meta::{StateKind, StateMeta};
pub use read::StreamCheckpoint;
pub use write::{write_delta_stream, write_stream, BodyWriter, StreamSummary};

/// The first 8 bytes of every checkpoint stream.
pub const MAGIC: [u8; 8] = *b"COWKEYED";
/// The stream container version this crate writes and reads.
pub const STREAM_VERSION: u16 = 1;
/// At most this many states in one stream (its state count is a non-negative Java `short`), and the largest state
/// id (Flink: `Short.MAX_VALUE`). Registration refuses a state beyond it
/// ([`BackendError::TooManyStates`](crate::backend::BackendError::TooManyStates)), so a backend holds at most this
/// many states and every one of them fits a checkpoint.
pub const MAX_STATES: usize = i16::MAX as usize;
/// Fixed bytes of one key group's trailer entry: section offset (8) and CRC32C (4); plus 8 per state.
pub const TRAILER_ENTRY_FIXED: usize = 12;
/// Bytes at the very end of the trailer: the stream length (8) and the trailer's CRC32C (4).
pub const TRAILER_END_LEN: usize = 12;
