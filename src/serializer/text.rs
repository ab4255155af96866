//! Length-prefixed serializers: strings and byte arrays.

use super::error::{DecodeError, DecodeErrorKind, SerializeError};
use super::input::Input;
use super::TypeSerializer;

/// Appends a Java `int` length, failing for lengths that do not fit in one.
pub(crate) fn write_len(len: usize, identity: &str, out: &mut Vec<u8>) -> Result<(), SerializeError> {
    let len = i32::try_from(len).map_err(|_| SerializeError {
        serializer: identity.to_string(),
        message: format!("length {len} does not fit in a Java int"),
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

/// A `String` as a 4-byte big-endian byte length (a non-negative Java `int`) followed by its UTF-8 bytes.
///
/// Flink's `StringSerializer` writes `StringValue.writeString` (a variable-length code-point encoding) and Java's
/// `writeUTF` writes modified UTF-8 with a 16-bit length; this format uses standard UTF-8 with a 32-bit length
/// instead (docs/FORMAT.md), which any language can read and which has no 64 KiB limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StringSerializer;

impl TypeSerializer for StringSerializer {
    type Value = String;
    fn identity(&self) -> String {
        "string".to_string()
    }
    fn min_len(&self) -> usize {
        4
    }
    fn serialize(&self, value: &String, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        write_len(value.len(), "string", out)?;
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<String, DecodeError> {
        let len = input.read_count(1)?;
        let at = input.offset();
        let bytes = input.read_bytes(len)?;
        core::str::from_utf8(bytes).map(str::to_owned).map_err(|e| DecodeError {
            offset: at + e.valid_up_to() as u64,
            kind: DecodeErrorKind::InvalidUtf8,
        })
    }
}

/// A `Vec<u8>` as a 4-byte big-endian length (a non-negative Java `int`) followed by the bytes.
///
/// Flink: `BytePrimitiveArraySerializer` (`byte[]`), byte for byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BytesSerializer;

impl TypeSerializer for BytesSerializer {
    type Value = Vec<u8>;
    fn identity(&self) -> String {
        "bytes".to_string()
    }
    fn min_len(&self) -> usize {
        4
    }
    fn serialize(&self, value: &Vec<u8>, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        write_len(value.len(), "bytes", out)?;
        out.extend_from_slice(value);
        Ok(())
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<Vec<u8>, DecodeError> {
        let len = input.read_count(1)?;
        Ok(input.read_bytes(len)?.to_vec())
    }
}
