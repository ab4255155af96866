//! Serializers: how keys, namespaces and states become bytes in a checkpoint.
//!
//! Flink: `TypeSerializer` and its built-ins (`IntSerializer`, `LongSerializer`, `StringSerializer`,
//! `BytePrimitiveArraySerializer`, `ListSerializer`, `NullableSerializer`, `TupleSerializer`,
//! `VoidNamespaceSerializer`). All multi-byte numbers are big-endian, like Java's `DataOutput`. Every length or
//! count is a non-negative big-endian `i32` (Java `writeInt`); strings are UTF-8 with such a byte-length prefix
//! rather than Java's modified UTF-8. docs/FORMAT.md gives every encoding byte by byte.
//!
//! A deserializer reads from an [`Input`], which bounds every read and every count by the bytes that remain,
//! so no allocation is ever sized from an untrusted length beyond what the input can back.

mod composite;
mod error;
mod flink_string;
mod input;
mod map;
#[cfg(feature = "serde")]
mod postcard_serde;
mod primitive;
mod text;
mod void;

pub use composite::{ListSerializer, OptionSerializer};
pub use error::{DecodeError, DecodeErrorKind, SerializeError};
pub use flink_string::{FlinkNullableStringSerializer, FlinkStringError, FlinkStringSerializer};
pub use input::Input;
pub(crate) use map::write_entries_canonical;
pub use map::MapSerializer;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use postcard_serde::PostcardSerializer;
pub use primitive::{
    BoolSerializer, F32Serializer, F64Serializer, I16Serializer, I32Serializer, I64Serializer, I8Serializer,
    U16Serializer, U32Serializer, U64Serializer, U8Serializer,
};
pub use text::{BytesSerializer, StringSerializer};
pub use void::{VoidNamespace, VoidNamespaceSerializer};

/// Turns values of one type into bytes and back.
///
/// Flink: `TypeSerializer<T>` (`serialize`, `deserialize`, and the serializer snapshot that a checkpoint keeps
/// to check compatibility on restore, here reduced to an [`identity`](TypeSerializer::identity) string).
///
/// Contract: `deserialize` of what `serialize` wrote yields an equal value and consumes exactly the bytes
/// written; `deserialize` never panics and never allocates more than the remaining input can back (use
/// [`Input::read_count`] / [`Input::bounded_capacity`] for counts).
pub trait TypeSerializer {
    /// The type serialized.
    type Value;

    /// A stable name of the encoding, stored in the checkpoint and compared on restore (e.g. `"i64"`,
    /// `"list<string>"`). Two serializers with the same identity must read each other's bytes.
    fn identity(&self) -> String;

    /// The fewest bytes any value takes (used to bound counts before allocating). 0 if unknown.
    fn min_len(&self) -> usize {
        0
    }

    /// Appends the encoding of `value` to `out`.
    ///
    /// # Errors
    /// A [`SerializeError`] naming the serializer if the value cannot be encoded (e.g. a string longer than a
    /// Java `int` can count). `out` may then hold a partial encoding; the format's writer truncates it.
    ///
    /// ```
    /// use cow_state_table::serializer::{StringSerializer, TypeSerializer};
    /// let mut out = Vec::new();
    /// StringSerializer.serialize(&"é".to_string(), &mut out)?;
    /// assert_eq!(out, [0, 0, 0, 2, 0xc3, 0xa9]);
    /// # Ok::<(), cow_state_table::serializer::SerializeError>(())
    /// ```
    fn serialize(&self, value: &Self::Value, out: &mut Vec<u8>) -> Result<(), SerializeError>;

    /// Decodes one value from `input`.
    ///
    /// # Errors
    /// A [`DecodeError`] with the absolute offset and the [`DecodeErrorKind`] of the first problem (too few bytes,
    /// a length beyond the input, invalid UTF-8, an invalid tag, …).
    ///
    /// ```
    /// use cow_state_table::serializer::{Input, StringSerializer, TypeSerializer};
    /// assert_eq!(StringSerializer.deserialize(&mut Input::new(&[0, 0, 0, 1, b'a']))?, "a");
    /// assert!(StringSerializer.deserialize(&mut Input::new(&[0, 0, 0, 2, b'a'])).is_err());
    /// # Ok::<(), cow_state_table::serializer::DecodeError>(())
    /// ```
    fn deserialize(&self, input: &mut Input<'_>) -> Result<Self::Value, DecodeError>;
}

/// A key serializer the checkpoint reader can use: it must know each decoded key's Java `hashCode`, to check the
/// key's key group. Implemented for every such [`TypeSerializer`].
pub trait KeySerializer: TypeSerializer<Value: crate::keygroup::JavaHashCode> {}
impl<T: TypeSerializer<Value: crate::keygroup::JavaHashCode>> KeySerializer for T {}

/// A namespace serializer the checkpoint reader can use: V1 bodies write a namespace once for many entries, so
/// decoded namespaces are cloned. Implemented for every such [`TypeSerializer`].
pub trait NamespaceSerializer: TypeSerializer<Value: Clone> {}
impl<T: TypeSerializer<Value: Clone>> NamespaceSerializer for T {}

impl<T: TypeSerializer + ?Sized> TypeSerializer for &T {
    type Value = T::Value;
    fn identity(&self) -> String {
        (**self).identity()
    }
    fn min_len(&self) -> usize {
        (**self).min_len()
    }
    fn serialize(&self, value: &Self::Value, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        (**self).serialize(value, out)
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<Self::Value, DecodeError> {
        (**self).deserialize(input)
    }
}

/// The three serializers of a keyed state: key, namespace and state.
///
/// Flink: the key serializer of the backend's `KeyContext` together with the namespace and state serializers of
/// `RegisteredKeyValueStateBackendMetaInfo`.
///
/// ```
/// use cow_state_table::serializer::{Serializers, U64Serializer, VoidNamespaceSerializer, StringSerializer};
/// let s = Serializers::new(U64Serializer, VoidNamespaceSerializer, StringSerializer);
/// assert_eq!(s.identities(), ["u64".to_string(), "void".to_string(), "string".to_string()]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Serializers<KS, NS, SS> {
    /// Serializer of the keys.
    pub key: KS,
    /// Serializer of the namespaces.
    pub namespace: NS,
    /// Serializer of the states.
    pub state: SS,
}

impl<KS: TypeSerializer, NS: TypeSerializer, SS: TypeSerializer> Serializers<KS, NS, SS> {
    /// Bundles the three serializers.
    pub fn new(key: KS, namespace: NS, state: SS) -> Self {
        Serializers { key, namespace, state }
    }

    /// The identities of the key, namespace and state serializers, in that order.
    pub fn identities(&self) -> [String; 3] {
        [self.key.identity(), self.namespace.identity(), self.state.identity()]
    }

    /// The fewest bytes one `(namespace, key, state)` entry takes: the sum of the three
    /// [`min_len`](TypeSerializer::min_len)s (saturating). Bounds the counts a decoder accepts and sizes the
    /// buffers a writer reserves.
    ///
    /// ```
    /// use cow_state_table::serializer::{Serializers, U64Serializer, U32Serializer, StringSerializer};
    /// assert_eq!(Serializers::new(U64Serializer, U32Serializer, U64Serializer).min_entry_len(), 20);
    /// // a string takes at least its 4-byte length
    /// assert_eq!(Serializers::new(StringSerializer, U32Serializer, U64Serializer).min_entry_len(), 16);
    /// ```
    pub fn min_entry_len(&self) -> usize {
        self.namespace
            .min_len()
            .saturating_add(self.key.min_len())
            .saturating_add(self.state.min_len())
    }
}
