//! Serializers built from others: lists, options and tuples.

use super::error::{DecodeError, DecodeErrorKind, SerializeError};
use super::input::Input;
use super::text::write_len;
use super::TypeSerializer;

/// A `Vec<T>` as a 4-byte big-endian element count (a non-negative Java `int`) followed by the elements.
///
/// Flink: `ListSerializer`. Decoding checks the count against the remaining bytes (each element takes at least
/// the element serializer's [`min_len`](TypeSerializer::min_len)) and reserves no more than they can hold.
///
/// ```
/// use cow_state_table::serializer::{Input, ListSerializer, I32Serializer, TypeSerializer};
/// let s = ListSerializer(I32Serializer);
/// let mut out = Vec::new();
/// s.serialize(&vec![1, -1], &mut out).unwrap();
/// assert_eq!(out, [0, 0, 0, 2, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
/// assert_eq!(s.deserialize(&mut Input::new(&out)).unwrap(), vec![1, -1]);
/// // A count of 2^31 - 1 with nothing behind it is refused before anything is allocated.
/// assert!(s.deserialize(&mut Input::new(&[0x7f, 0xff, 0xff, 0xff])).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ListSerializer<E>(pub E);

impl<E: TypeSerializer> TypeSerializer for ListSerializer<E> {
    type Value = Vec<E::Value>;
    fn identity(&self) -> String {
        format!("list<{}>", self.0.identity())
    }
    fn min_len(&self) -> usize {
        4
    }
    fn serialize(&self, value: &Self::Value, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        write_len(value.len(), &self.identity(), out)?;
        value.iter().try_for_each(|v| self.0.serialize(v, out))
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<Self::Value, DecodeError> {
        let min = self.0.min_len();
        let count = input.read_count(min)?;
        let mut values = Vec::with_capacity(input.bounded_capacity(count, min));
        for _ in 0..count {
            values.push(self.0.deserialize(input)?);
        }
        Ok(values)
    }
}

/// An `Option<T>` as a tag byte (0 = `None`, 1 = `Some`) followed by the value if present.
///
/// Flink: `NullableSerializer`, which writes the opposite flag (`true` = null) and may pad nulls; this encoding
/// follows Rust's (and bincode's) tag order instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OptionSerializer<E>(pub E);

impl<E: TypeSerializer> TypeSerializer for OptionSerializer<E> {
    type Value = Option<E::Value>;
    fn identity(&self) -> String {
        format!("option<{}>", self.0.identity())
    }
    fn min_len(&self) -> usize {
        1
    }
    fn serialize(&self, value: &Self::Value, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        match value {
            None => {
                out.push(0);
                Ok(())
            }
            Some(v) => {
                out.push(1);
                self.0.serialize(v, out)
            }
        }
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<Self::Value, DecodeError> {
        let at = input.offset();
        match input.read_u8()? {
            0 => Ok(None),
            1 => self.0.deserialize(input).map(Some),
            tag => Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::InvalidTag(tag),
            }),
        }
    }
}

macro_rules! tuple_serializer {
    ($($s:ident . $i:tt),+) => {
        /// A tuple as its fields one after another (Flink `TupleSerializer`). The serializer of `(A, B, …)` is
        /// the tuple of the fields' serializers.
        impl<$($s: TypeSerializer),+> TypeSerializer for ($($s,)+) {
            type Value = ($($s::Value,)+);
            fn identity(&self) -> String {
                let fields: Vec<String> = vec![$(self.$i.identity()),+];
                format!("tuple<{}>", fields.join(","))
            }
            fn min_len(&self) -> usize {
                0usize $(.saturating_add(self.$i.min_len()))+
            }
            fn serialize(&self, value: &Self::Value, out: &mut Vec<u8>) -> Result<(), SerializeError> {
                $(self.$i.serialize(&value.$i, out)?;)+
                Ok(())
            }
            fn deserialize(&self, input: &mut Input<'_>) -> Result<Self::Value, DecodeError> {
                Ok(($(self.$i.deserialize(input)?,)+))
            }
        }
    };
}

tuple_serializer!(A.0, B.1);
tuple_serializer!(A.0, B.1, C.2);
tuple_serializer!(A.0, B.1, C.2, D.3);
