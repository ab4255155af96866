//! The checkpoint format: a versioned container around Flink's per-key-group state-table bodies.
//!
//! ```text
//! header   magic "COWSTATE" · container version · body format (V1 | V2) · max parallelism · key-group range ·
//!          key / namespace / state serializer identities · per key group: offset, length, CRC32C · header CRC32C
//! bodies   one per key group of the range, contiguous, in key-group order
//!          V2: count, then (namespace, key, state) × count            (Flink writeMappingsInKeyGroup)
//!          V1: present?, #namespaces, per namespace: namespace, #entries, (key, state) × #entries
//! ```
//!
//! docs/FORMAT.md specifies every byte. [`write_checkpoint`] writes a [`Snapshot`](crate::Snapshot);
//! [`Checkpoint`] reads one key group at a time; [`restore`](crate::restore) rebuilds tables for any key-group
//! range from one or more checkpoints.

mod body;
mod error;
mod header;
mod options;
mod reader;
mod writer;

pub(crate) use body::read_key_of_group;
pub use body::{decode_body, decode_body_at};
pub use error::{FormatError, SerializerRole, WriteError};
pub use header::{BodyFormat, Header, KeyGroupBlock, BLOCK_ENTRY_LEN, CONTAINER_VERSION, MAGIC};
pub use options::{EntryOrder, WriteOptions};
pub use reader::{Checkpoint, DecodedEntries};
pub use writer::{write_checkpoint, write_partition, WriteSummary};
