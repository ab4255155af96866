//! [`StreamError`]: why a checkpoint stream could not be written or read.

use crate::format::{FormatError, SerializerRole, WriteError};
use crate::keygroup::KeyGroupRange;
use crate::serializer::DecodeError;

/// Why a checkpoint stream could not be written, parsed or sliced. Every reading error says where: an absolute
/// byte offset from the start of the stream, and the key group and state where one is involved.
///
/// Flink: the `IOException`s / `IllegalStateException`s of `HeapKeyedStateBackend.snapshot` and
/// `restorePartitionedState` (e.g. "Unexpected key-group in restore."), here typed and located.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    // ---- writing ---------------------------------------------------------------------------------------
    /// The output failed (for a size-capped storage, the source is a
    /// [`StorageError::TooLarge`](crate::backend::storage::StorageError::TooLarge)).
    #[error("I/O error while writing the checkpoint stream: {0}")]
    Io(#[from] std::io::Error),
    /// The body callback failed for `state` (index into the states) in `key_group`.
    #[error("key group {key_group}, state #{state}: {source}")]
    Body {
        /// The key group being written.
        key_group: u32,
        /// Index of the state in the `states` given to `write_stream`.
        state: usize,
        /// The callback's error.
        source: WriteError,
    },
    /// A body that is not a V2 body (fewer than 4 bytes, or a negative count): appended by the body callback
    /// (writing), or found in a stream (parsing, checked after the checksums).
    #[error("key group {key_group}, state #{state}: {len} byte(s) that are not a V2 body ({reason})")]
    NotAV2Body {
        /// The key group being written.
        key_group: u32,
        /// Index of the state.
        state: usize,
        /// Bytes the callback appended.
        len: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The states or identities given to `write_stream` cannot be written (too many states, duplicate id or
    /// name, id above 32767, a string longer than 65535 bytes).
    #[error("invalid stream description: {0}")]
    InvalidInput(String),

    // ---- parsing ---------------------------------------------------------------------------------------
    /// The first 8 bytes are not the magic `COWKEYED`.
    #[error("bad magic at byte offset 0: {found:02x?} is not \"COWKEYED\"")]
    BadMagic {
        /// The bytes found (fewer if the input is shorter).
        found: Vec<u8>,
    },
    /// A container version this reader does not know.
    #[error("unsupported stream version {version} at byte offset 8")]
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
    /// A body format other than 2 (V2).
    #[error("unsupported body format {format} at byte offset 10 (only 2 = V2)")]
    UnsupportedBodyFormat {
        /// The format found.
        format: u16,
    },
    /// The header or trailer ends early: `what` was being read when the bytes ran out.
    #[error("truncated stream while reading the {what}: {source}")]
    Truncated {
        /// The part being read (`header`, `meta section`, `trailer`).
        what: &'static str,
        /// Where the bytes ran out, and how many were needed.
        source: DecodeError,
    },
    /// A checksum over the header or the trailer does not match.
    #[error("{what} checksum mismatch at byte offset {offset}: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// `header` or `trailer`.
        what: &'static str,
        /// Offset of the stored checksum.
        offset: u64,
        /// Checksum stored.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },
    /// The length recorded at the end of the stream is not the length of the input (a truncated or extended
    /// stream).
    #[error(
        "stream length mismatch: the trailer at byte offset {offset} records {stored} bytes, the input has {actual}"
    )]
    LengthMismatch {
        /// Offset of the stored length.
        offset: u64,
        /// Length recorded.
        stored: u64,
        /// Length of the input.
        actual: u64,
    },
    /// A header field with an impossible value (checked after the header checksum).
    #[error("invalid header at byte offset {offset}: {reason}")]
    InvalidHeader {
        /// Offset of the field.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A meta-section entry with an impossible value (checked after the header checksum).
    #[error("invalid meta entry #{state} at byte offset {offset}: {reason}")]
    InvalidMeta {
        /// Index of the entry.
        state: usize,
        /// Offset of the field.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A trailer entry whose offsets or lengths do not tile the key-group section.
    #[error("key group {key_group}: invalid trailer entry at byte offset {offset}: {reason}")]
    InvalidTrailer {
        /// The key group.
        key_group: u32,
        /// Offset of its trailer entry.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The key-group sections do not end where the trailer begins.
    #[error("the key-group sections end at byte offset {end}, the trailer begins at {trailer}")]
    SectionGap {
        /// Where the last section ends.
        end: u64,
        /// Where the trailer begins.
        trailer: u64,
    },
    /// A key group's section whose CRC32C does not match.
    #[error("key group {key_group}: checksum mismatch of its section at byte offset {offset}: stored {stored:#010x}, computed {computed:#010x}")]
    KeyGroupChecksum {
        /// The key group.
        key_group: u32,
        /// Offset of its section.
        offset: u64,
        /// Checksum stored in the trailer.
        stored: u32,
        /// Checksum of the section.
        computed: u32,
    },
    /// A section that starts with another key-group id than its position says (Flink: "Unexpected key-group in
    /// restore.").
    #[error("key-group id {found} at byte offset {offset}, expected {expected}")]
    KeyGroupIdMismatch {
        /// Offset of the `int`.
        offset: u64,
        /// The key group the position implies.
        expected: u32,
        /// The `int` found (as written).
        found: i32,
    },
    /// A state id in a section that is not the meta section's id of the state at that position.
    #[error("key group {key_group}: state id {found} at byte offset {offset}, expected {expected}")]
    StateIdMismatch {
        /// The key group.
        key_group: u32,
        /// Offset of the `short`.
        offset: u64,
        /// The meta section's id.
        expected: u16,
        /// The `short` found.
        found: i16,
    },

    // ---- access --------------------------------------------------------------------------------------
    /// A key group the stream does not hold was asked for.
    #[error("key group {key_group} is not in the stream's {range}")]
    KeyGroupNotInStream {
        /// The key group asked for.
        key_group: u32,
        /// The stream's range.
        range: KeyGroupRange,
    },
    /// A state index beyond the meta section.
    #[error("state #{index} does not exist: the stream has {count} state(s)")]
    NoSuchState {
        /// The index asked for.
        index: usize,
        /// Number of states.
        count: usize,
    },
    /// The stream was written with other serializers than the ones given to decode it.
    #[error("state #{state} (`{name}`): {role:?} serializer mismatch: stream has `{stored}`, reader has `{expected}`")]
    SerializerMismatch {
        /// Index of the state (the key serializer is shared; its mismatch names the state being decoded).
        state: usize,
        /// The state's name.
        name: String,
        /// Which serializer.
        role: SerializerRole,
        /// Identity stored in the stream.
        stored: String,
        /// Identity of the reader's serializer.
        expected: String,
    },
    /// A body that could not be decoded (see [`FormatError`]; offsets are absolute in the stream).
    #[error("state #{state}: {source}")]
    Decode {
        /// Index of the state.
        state: usize,
        /// The body decoder's error.
        source: FormatError,
    },
}
