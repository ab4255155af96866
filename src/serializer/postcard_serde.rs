//! [`PostcardSerializer`]: any serde type, through postcard 1.x.

use super::error::{DecodeError, DecodeErrorKind, SerializeError};
use super::input::Input;
use super::text::write_len;
use super::TypeSerializer;
use core::fmt;
use core::marker::PhantomData;
use serde::{de::DeserializeOwned, Serialize};

/// Any `serde` type, as a 4-byte big-endian length (a non-negative Java `int`) followed by its postcard 1.x
/// encoding (docs/FORMAT.md, "serde / postcard").
///
/// Flink: a user `TypeSerializer` (Kryo plays this role for generic types). postcard's wire format is specified
/// and stable for its 1.x line (<https://postcard.jamesmunns.com/wire-format>): unsigned integers as LEB128
/// varints, signed ones zigzag-encoded first, sequences, strings and maps behind a varint length, enum variants
/// as a varint index, `Option` as a 0/1 tag, structs and tuples as their fields in order. The encoding is
/// deterministic for a given value and type. Decoding reads only the bytes behind the outer length (a corrupted
/// inner length cannot read or preallocate beyond them: serde caps its preallocation) and rejects trailing
/// bytes.
///
/// The identity is given by the caller (e.g. `"com.example.Event/v3"`); it must change whenever the type's
/// serde shape changes.
///
/// ```
/// use cow_state_table::serializer::{Input, PostcardSerializer, TypeSerializer};
/// let ser = PostcardSerializer::<(u32, String)>::new("pair/1");
/// let mut out = Vec::new();
/// ser.serialize(&(300, "hi".to_string()), &mut out)?;
/// assert_eq!(out, [0, 0, 0, 5, 0xac, 0x02, 2, b'h', b'i']);
/// assert_eq!(ser.deserialize(&mut Input::new(&out))?, (300, "hi".to_string()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PostcardSerializer<T> {
    identity: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> PostcardSerializer<T> {
    /// A serializer whose identity in the checkpoint is `postcard1:<identity>`.
    pub fn new(identity: impl Into<String>) -> Self {
        PostcardSerializer {
            identity: identity.into(),
            _type: PhantomData,
        }
    }
}

impl<T> Clone for PostcardSerializer<T> {
    fn clone(&self) -> Self {
        Self::new(self.identity.clone())
    }
}

impl<T> fmt::Debug for PostcardSerializer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostcardSerializer")
            .field("identity", &self.identity)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> TypeSerializer for PostcardSerializer<T> {
    type Value = T;
    fn identity(&self) -> String {
        format!("postcard1:{}", self.identity)
    }
    fn min_len(&self) -> usize {
        4
    }
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        let bytes = postcard::to_allocvec(value).map_err(|e| SerializeError::new(self.identity(), e.to_string()))?;
        write_len(bytes.len(), &self.identity(), out)?;
        out.extend_from_slice(&bytes);
        Ok(())
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<T, DecodeError> {
        let len = input.read_count(1)?;
        let at = input.offset();
        let bytes = input.read_bytes(len)?;
        let (value, rest) =
            postcard::take_from_bytes(bytes).map_err(|e| DecodeError::new(at, DecodeErrorKind::Postcard(e)))?;
        if !rest.is_empty() {
            return Err(DecodeError::new(
                at + (len - rest.len()) as u64,
                DecodeErrorKind::TrailingBytes(rest.len() as u64),
            ));
        }
        Ok(value)
    }
}
