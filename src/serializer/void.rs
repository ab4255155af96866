//! [`VoidNamespace`]: the namespace of states that have none.

use super::error::{DecodeError, DecodeErrorKind, SerializeError};
use super::input::Input;
use super::TypeSerializer;

/// The single namespace of keyed state that is not windowed.
///
/// Flink: `VoidNamespace` (a singleton).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VoidNamespace;

/// [`VoidNamespace`] as one zero byte.
///
/// Flink: `VoidNamespaceSerializer`, which writes one byte so that a record always advances the stream
/// (FLINK-4575). Decoding rejects a non-zero byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct VoidNamespaceSerializer;

impl TypeSerializer for VoidNamespaceSerializer {
    type Value = VoidNamespace;
    fn identity(&self) -> String {
        "void".to_string()
    }
    fn min_len(&self) -> usize {
        1
    }
    #[inline]
    fn serialize(&self, _: &VoidNamespace, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        out.push(0);
        Ok(())
    }
    #[inline]
    fn deserialize(&self, input: &mut Input<'_>) -> Result<VoidNamespace, DecodeError> {
        let at = input.offset();
        match input.read_u8()? {
            0 => Ok(VoidNamespace),
            b => Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::InvalidVoid(b),
            }),
        }
    }
}
