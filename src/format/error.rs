//! Errors of writing and reading checkpoints.

use crate::keygroup::{KeyGroupError, KeyGroupRange};
use crate::serializer::{DecodeError, SerializeError};

/// Why a checkpoint could not be written (Flink: the `IOException`s of the snapshot's key-group writer).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The output failed.
    #[error("I/O error while writing the checkpoint: {0}")]
    Io(#[from] std::io::Error),
    /// The snapshot holds an entry outside the key groups being written, or the context is invalid.
    #[error(transparent)]
    KeyGroup(#[from] KeyGroupError),
    /// A serializer failed on an entry of `key_group`.
    #[error("key group {key_group}: {source}")]
    Serialize {
        /// The key group being written.
        key_group: u32,
        /// The serializer's error.
        source: SerializeError,
    },
    /// A key group holds more entries (or namespaces) than a Java `int` can count.
    #[error("key group {key_group} holds {count} entries, more than a Java int can count")]
    TooManyEntries {
        /// The key group.
        key_group: u32,
        /// Its number of entries.
        count: usize,
    },
    /// A serializer identity longer than 65535 bytes.
    #[error("serializer identity of {len} bytes is longer than 65535")]
    IdentityTooLong {
        /// Its length in bytes.
        len: usize,
    },
}

/// Which of the three serializers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SerializerRole {
    /// The key serializer.
    Key,
    /// The namespace serializer.
    Namespace,
    /// The state serializer.
    State,
}

/// Why a checkpoint (or one key group of it) could not be read. Every variant says where: a byte offset from
/// the start of the checkpoint and, inside a key-group body, the key group.
///
/// Flink: the `IOException`s of `StateTableByKeyGroupReader.readMappingsInKeyGroup` and the restore operation,
/// here typed and located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The first 8 bytes are not the magic `COWSTATE`.
    #[error("bad magic at byte offset 0: {found:02x?} is not \"COWSTATE\"")]
    BadMagic {
        /// The bytes found (fewer if the input is shorter).
        found: Vec<u8>,
    },
    /// A container version this reader does not know.
    #[error("unsupported container version {version} at byte offset 8")]
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
    /// A body format other than 1 (V1, namespace-compressed) or 2 (V2).
    #[error("unsupported body format {format} at byte offset 10")]
    UnsupportedBodyFormat {
        /// The format found.
        format: u16,
    },
    /// The header ends early.
    #[error("truncated header: {0}")]
    TruncatedHeader(DecodeError),
    /// The header's CRC32C does not match its bytes.
    #[error("header checksum mismatch at byte offset {offset}: stored {stored:#010x}, computed {computed:#010x}")]
    HeaderChecksum {
        /// Offset of the stored checksum.
        offset: u64,
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },
    /// A header field with an impossible value (checked after the header checksum).
    #[error("invalid header at byte offset {offset}: {reason}")]
    InvalidHeader {
        /// Offset of the field.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A key-group table entry whose offset or length does not fit the file.
    #[error("key group {key_group}: invalid block (table entry at byte offset {offset}): {reason}")]
    InvalidBlock {
        /// The key group.
        key_group: u32,
        /// Offset of its table entry.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Bytes after the last key-group body.
    #[error("{count} trailing byte(s) after the last key group at byte offset {offset}")]
    TrailingData {
        /// Offset of the first trailing byte.
        offset: u64,
        /// Number of trailing bytes.
        count: u64,
    },
    /// The checkpoint was written with a different serializer than the one given to read it.
    #[error("{role:?} serializer mismatch: checkpoint has `{stored}`, reader has `{expected}`")]
    SerializerMismatch {
        /// Which serializer.
        role: SerializerRole,
        /// Identity stored in the checkpoint.
        stored: String,
        /// Identity of the reader's serializer.
        expected: String,
    },
    /// A key group the checkpoint does not hold was asked for.
    #[error("key group {key_group} is not in the checkpoint's {range}")]
    KeyGroupNotInCheckpoint {
        /// The key group asked for.
        key_group: u32,
        /// The checkpoint's range.
        range: KeyGroupRange,
    },
    /// A key-group body whose CRC32C does not match.
    #[error("key group {key_group}: checksum mismatch of the body at byte offset {offset}: stored {stored:#010x}, computed {computed:#010x}")]
    KeyGroupChecksum {
        /// The key group.
        key_group: u32,
        /// Offset of its body.
        offset: u64,
        /// Checksum stored in the table.
        stored: u32,
        /// Checksum of the body.
        computed: u32,
    },
    /// A key-group body that could not be decoded (a serializer failed, a count exceeds the bytes that remain,
    /// the body ends early...).
    #[error("key group {key_group}: {source}")]
    Decode {
        /// The key group.
        key_group: u32,
        /// The decoding error, with its byte offset.
        source: DecodeError,
    },
    /// An entry stored under `key_group` whose key belongs to another key group.
    #[error("key group {key_group}: entry at byte offset {offset} has a key of key group {found}")]
    WrongKeyGroup {
        /// The key group whose body holds the entry.
        key_group: u32,
        /// Offset of the entry.
        offset: u64,
        /// The key group of the entry's key.
        found: u32,
    },
    /// A key-group body with bytes left after its last entry.
    #[error("key group {key_group}: {count} unread byte(s) at byte offset {offset}")]
    TrailingBytes {
        /// The key group.
        key_group: u32,
        /// Offset of the first unread byte.
        offset: u64,
        /// Number of unread bytes.
        count: u64,
    },
}
