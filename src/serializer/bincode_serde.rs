//! [`BincodeSerializer`]: any serde type, through bincode 1.x.

use super::error::{DecodeError, DecodeErrorKind, SerializeError};
use super::input::Input;
use super::text::write_len;
use super::TypeSerializer;
use bincode::Options;
use core::fmt;
use core::marker::PhantomData;
use serde::{de::DeserializeOwned, Serialize};

/// Any `serde` type, as a 4-byte big-endian length (a non-negative Java `int`) followed by its bincode 1.x
/// encoding with fixed-width big-endian integers (`bincode::options().with_big_endian().with_fixint_encoding()`).
///
/// Flink: a user `TypeSerializer` (Kryo plays this role for generic types). bincode 1.x is used because its
/// encoding is frozen and documented (the 1.x line no longer changes its format), deterministic for a given value
/// and type, and can be bounded: decoding runs with `with_limit(length)`, so a corrupted length inside the value
/// cannot make it allocate beyond the bytes of the value, and trailing bytes are rejected.
///
/// The identity is given by the caller (e.g. `"com.example.Event/v3"`); it must change whenever the type's
/// serde shape changes.
pub struct BincodeSerializer<T> {
    identity: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> BincodeSerializer<T> {
    /// A serializer whose identity in the checkpoint is `bincode1:<identity>`.
    pub fn new(identity: impl Into<String>) -> Self {
        BincodeSerializer {
            identity: identity.into(),
            _type: PhantomData,
        }
    }
}

impl<T> Clone for BincodeSerializer<T> {
    fn clone(&self) -> Self {
        Self::new(self.identity.clone())
    }
}

impl<T> fmt::Debug for BincodeSerializer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BincodeSerializer")
            .field("identity", &self.identity)
            .finish()
    }
}

fn options() -> impl Options {
    bincode::options()
        .with_big_endian()
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

impl<T: Serialize + DeserializeOwned> TypeSerializer for BincodeSerializer<T> {
    type Value = T;
    fn identity(&self) -> String {
        format!("bincode1:{}", self.identity)
    }
    fn min_len(&self) -> usize {
        4
    }
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        let bytes = options().serialize(value).map_err(|e| SerializeError {
            serializer: self.identity(),
            message: e.to_string(),
        })?;
        write_len(bytes.len(), &self.identity(), out)?;
        out.extend_from_slice(&bytes);
        Ok(())
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<T, DecodeError> {
        let len = input.read_count(1)?;
        let at = input.offset();
        let bytes = input.read_bytes(len)?;
        options()
            .with_limit(len as u64)
            .deserialize(bytes)
            .map_err(|e| DecodeError {
                offset: at,
                kind: DecodeErrorKind::Custom(format!("bincode: {e}")),
            })
    }
}
