//! Fixed-width serializers: integers, floats and booleans, big-endian.

use super::error::{DecodeError, DecodeErrorKind, SerializeError};
use super::input::Input;
use super::TypeSerializer;

macro_rules! fixed_width {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $id:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        impl TypeSerializer for $name {
            type Value = $ty;
            fn identity(&self) -> String {
                $id.to_string()
            }
            fn min_len(&self) -> usize {
                core::mem::size_of::<$ty>()
            }
            #[inline]
            fn serialize(&self, value: &$ty, out: &mut Vec<u8>) -> Result<(), SerializeError> {
                out.extend_from_slice(&value.to_be_bytes());
                Ok(())
            }
            #[inline]
            fn deserialize(&self, input: &mut Input<'_>) -> Result<$ty, DecodeError> {
                Ok(<$ty>::from_be_bytes(input.read_array()?))
            }
        }
    };
}

fixed_width!(
    /// `i8` as one byte (Flink `ByteSerializer`).
    I8Serializer, i8, "i8"
);
fixed_width!(
    /// `u8` as one byte.
    U8Serializer, u8, "u8"
);
fixed_width!(
    /// `i16`, 2 bytes big-endian (Flink `ShortSerializer`).
    I16Serializer, i16, "i16"
);
fixed_width!(
    /// `u16`, 2 bytes big-endian (Flink `CharSerializer` writes a `char` the same way).
    U16Serializer, u16, "u16"
);
fixed_width!(
    /// `i32`, 4 bytes big-endian (Flink `IntSerializer`).
    I32Serializer, i32, "i32"
);
fixed_width!(
    /// `u32`, 4 bytes big-endian (the bits of a Flink `IntSerializer` value).
    U32Serializer, u32, "u32"
);
fixed_width!(
    /// `i64`, 8 bytes big-endian (Flink `LongSerializer`).
    I64Serializer, i64, "i64"
);
fixed_width!(
    /// `u64`, 8 bytes big-endian (the bits of a Flink `LongSerializer` value).
    U64Serializer, u64, "u64"
);
fixed_width!(
    /// `f32` as its raw IEEE 754 bits, 4 bytes big-endian (Flink `FloatSerializer`, whose `writeFloat` uses
    /// `floatToIntBits` and so maps every NaN to `0x7fc00000`; here NaN payloads are kept).
    F32Serializer, f32, "f32"
);
fixed_width!(
    /// `f64` as its raw IEEE 754 bits, 8 bytes big-endian (Flink `DoubleSerializer`, whose `writeDouble` uses
    /// `doubleToLongBits` and so maps every NaN to `0x7ff8000000000000`; here NaN payloads are kept).
    F64Serializer, f64, "f64"
);

/// `bool` as one byte, 1 or 0 (Flink `BooleanSerializer`). Decoding rejects any other byte, where Java's
/// `readBoolean` would accept every non-zero byte as `true`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BoolSerializer;

impl TypeSerializer for BoolSerializer {
    type Value = bool;
    fn identity(&self) -> String {
        "bool".to_string()
    }
    fn min_len(&self) -> usize {
        1
    }
    fn serialize(&self, value: &bool, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        out.push(u8::from(*value));
        Ok(())
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<bool, DecodeError> {
        let at = input.offset();
        match input.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::InvalidBool(b),
            }),
        }
    }
}
