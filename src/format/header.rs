//! The container's header and key-group table.

use super::error::{FormatError, WriteError};
use crate::keygroup::{KeyGroupContext, KeyGroupRange, UPPER_BOUND_MAX_PARALLELISM};
use crate::serializer::Input;

/// The first 8 bytes of every checkpoint.
pub const MAGIC: [u8; 8] = *b"COWSTATE";
/// The container version this crate writes and reads.
pub const CONTAINER_VERSION: u16 = 1;
/// Bytes of one key-group table entry: offset (8), length (8), CRC32C (4).
pub const BLOCK_ENTRY_LEN: usize = 20;

/// How each key group's entries are laid out.
///
/// Flink: the state-table serialization versions read by `StateTableByKeyGroupReaders.readerForVersion`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum BodyFormat {
    /// Version 1, namespace-compressed (Flink `StateTableByKeyGroupReaderV1`): a presence byte, the number of
    /// namespaces, and per namespace the namespace, its number of entries and `(key, state)` pairs.
    V1,
    /// Version 2 (Flink `StateTableByKeyGroupReaderV2` / `writeMappingsInKeyGroup`): the number of entries, then
    /// `(namespace, key, state)` triples.
    #[default]
    V2,
}

impl BodyFormat {
    /// The number stored in the header.
    pub fn code(self) -> u16 {
        match self {
            BodyFormat::V1 => 1,
            BodyFormat::V2 => 2,
        }
    }

    /// The format stored as `code`, if known.
    pub fn from_code(code: u16) -> Option<Self> {
        match code {
            1 => Some(BodyFormat::V1),
            2 => Some(BodyFormat::V2),
            _ => None,
        }
    }
}

/// The header of a checkpoint: what it holds and how to read it.
///
/// Flink keeps this information outside the data: the serializer snapshots in the state meta info and the
/// key-group range and offsets in the `KeyGroupsStateHandle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Layout of the key-group bodies.
    pub body_format: BodyFormat,
    /// Total number of key groups and the range this checkpoint holds.
    pub context: KeyGroupContext,
    /// Identity of the key serializer.
    pub key_serializer: String,
    /// Identity of the namespace serializer.
    pub namespace_serializer: String,
    /// Identity of the state serializer.
    pub state_serializer: String,
}

/// Where one key group's body is, and its checksum (Flink: the key-group offsets of `KeyGroupRangeOffsets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyGroupBlock {
    /// The key group.
    pub key_group: u32,
    /// Absolute byte offset of its body.
    pub offset: u64,
    /// Length of its body in bytes.
    pub length: u64,
    /// CRC32C (Castagnoli) of its body.
    pub crc32c: u32,
}

impl Header {
    /// Bytes of the header and table, checksum included, for this header.
    pub(crate) fn encoded_len(&self) -> usize {
        8 + 2
            + 2
            + 4
            + 4
            + 4
            + 3 * 2
            + self.key_serializer.len()
            + self.namespace_serializer.len()
            + self.state_serializer.len()
            + BLOCK_ENTRY_LEN * self.context.range().number_of_key_groups() as usize
            + 4
    }

    /// Encodes the header, the table of `blocks` (one per key group of the range, in order) and the checksum.
    pub(crate) fn encode(&self, blocks: &[KeyGroupBlock]) -> Result<Vec<u8>, WriteError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&CONTAINER_VERSION.to_be_bytes());
        out.extend_from_slice(&self.body_format.code().to_be_bytes());
        out.extend_from_slice(&self.context.max_parallelism().to_be_bytes());
        let range = self.context.range();
        out.extend_from_slice(&range.start().to_be_bytes());
        out.extend_from_slice(&range.number_of_key_groups().to_be_bytes());
        for id in [&self.key_serializer, &self.namespace_serializer, &self.state_serializer] {
            let len = u16::try_from(id.len()).map_err(|_| WriteError::IdentityTooLong { len: id.len() })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(id.as_bytes());
        }
        for b in blocks {
            out.extend_from_slice(&b.offset.to_be_bytes());
            out.extend_from_slice(&b.length.to_be_bytes());
            out.extend_from_slice(&b.crc32c.to_be_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        Ok(out)
    }

    /// Decodes and validates the header and the key-group table of `bytes` (a whole checkpoint).
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Header, Vec<KeyGroupBlock>), FormatError> {
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(FormatError::BadMagic {
                found: bytes[..bytes.len().min(MAGIC.len())].to_vec(),
            });
        }
        let mut input = Input::new(bytes);
        let t = FormatError::TruncatedHeader;
        input.read_bytes(MAGIC.len()).map_err(t)?;
        let version = input.read_u16().map_err(t)?;
        if version != CONTAINER_VERSION {
            return Err(FormatError::UnsupportedVersion { version });
        }
        let format = input.read_u16().map_err(t)?;
        let body_format = BodyFormat::from_code(format).ok_or(FormatError::UnsupportedBodyFormat { format })?;
        let max_parallelism = input.read_u32().map_err(t)?;
        let start = input.read_u32().map_err(t)?;
        let count_at = input.offset();
        let count = input.read_u32().map_err(t)?;
        let mut read_identity = || -> Result<(u64, &[u8]), FormatError> {
            let len = input.read_u16().map_err(t)?;
            Ok((input.offset(), input.read_bytes(usize::from(len)).map_err(t)?))
        };
        let ids = [read_identity()?, read_identity()?, read_identity()?];
        // The table is read only once its length is known to fit in the input.
        if count > UPPER_BOUND_MAX_PARALLELISM {
            return Err(invalid(
                count_at,
                format!("{count} key groups is more than {UPPER_BOUND_MAX_PARALLELISM}"),
            ));
        }
        let table_at = input.offset();
        let table = input.read_bytes(count as usize * BLOCK_ENTRY_LEN).map_err(t)?;
        let crc_at = input.offset();
        let computed = crc32c::crc32c(&bytes[..crc_at as usize]);
        let stored = input.read_u32().map_err(t)?;
        if stored != computed {
            return Err(FormatError::HeaderChecksum {
                offset: crc_at,
                stored,
                computed,
            });
        }
        if count == 0 && start != 0 {
            return Err(invalid(16, format!("empty range with first key group {start}")));
        }
        let range = KeyGroupRange::with_len(start, count).map_err(|e| invalid(16, format!("key-group range: {e}")))?;
        let context =
            KeyGroupContext::new(max_parallelism, range).map_err(|e| invalid(12, format!("key-group context: {e}")))?;
        let [key, namespace, state] = ids.map(|(at, raw)| {
            String::from_utf8(raw.to_vec()).map_err(|_| invalid(at, "serializer identity is not UTF-8".to_string()))
        });
        let header = Header {
            body_format,
            context,
            key_serializer: key?,
            namespace_serializer: namespace?,
            state_serializer: state?,
        };
        let blocks = decode_blocks(bytes.len() as u64, range, table, table_at, input.offset())?;
        Ok((header, blocks))
    }
}

fn invalid(offset: u64, reason: String) -> FormatError {
    FormatError::InvalidHeader { offset, reason }
}

/// Decodes the table and checks that the bodies are contiguous, in key-group order, from `body_start` to the end
/// of the file.
fn decode_blocks(
    file_len: u64,
    range: KeyGroupRange,
    table: &[u8],
    table_at: u64,
    body_start: u64,
) -> Result<Vec<KeyGroupBlock>, FormatError> {
    let mut input = Input::with_base(table, table_at);
    let mut blocks = Vec::with_capacity(range.number_of_key_groups() as usize);
    let mut expected = body_start;
    for key_group in range {
        let at = input.offset();
        let t = FormatError::TruncatedHeader;
        let offset = input.read_u64().map_err(t)?;
        let length = input.read_u64().map_err(t)?;
        let crc32c = input.read_u32().map_err(t)?;
        let bad = |reason: String| FormatError::InvalidBlock {
            key_group,
            offset: at,
            reason,
        };
        if offset != expected {
            return Err(bad(format!(
                "body offset {offset}, expected {expected} (bodies are contiguous)"
            )));
        }
        let end = offset
            .checked_add(length)
            .filter(|&end| end <= file_len)
            .ok_or_else(|| {
                bad(format!(
                    "body {offset}+{length} runs past the end of the {file_len}-byte input"
                ))
            })?;
        blocks.push(KeyGroupBlock {
            key_group,
            offset,
            length,
            crc32c,
        });
        expected = end;
    }
    if expected != file_len {
        return Err(FormatError::TrailingData {
            offset: expected,
            count: file_len - expected,
        });
    }
    Ok(blocks)
}
