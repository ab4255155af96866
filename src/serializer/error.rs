//! Errors of serializers.

/// Why a value could not be decoded, and where (Flink: the `IOException` / `EOFException` of a
/// `DataInputView` read or a `TypeSerializer.deserialize`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte offset {offset}")]
#[non_exhaustive]
pub struct DecodeError {
    /// Absolute byte offset (in the checkpoint, when decoding one) where the problem was found.
    pub offset: u64,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// What was wrong with the bytes being decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Fewer bytes remain than the value needs.
    #[error("unexpected end of input: {needed} byte(s) needed, {remaining} remain")]
    UnexpectedEnd {
        /// Bytes needed.
        needed: u64,
        /// Bytes that remain.
        remaining: u64,
    },
    /// A length or count that cannot fit in the bytes that remain.
    #[error("length {length} (at least {min_bytes} byte(s)) exceeds the {remaining} byte(s) that remain")]
    LengthExceedsInput {
        /// The length or element count read.
        length: u64,
        /// The fewest bytes those elements take.
        min_bytes: u64,
        /// Bytes that remain.
        remaining: u64,
    },
    /// A negative length or count where Java writes a signed `int`.
    #[error("negative length {0}")]
    NegativeLength(i32),
    /// A map entry whose null flag is set (`01`): Flink's `MapSerializer` writes a null value as the key and the
    /// flag alone, but a Rust map holds no null value (docs/FORMAT.md §3, `map<K, V>`). Reported at the flag's
    /// offset, whatever bytes follow it.
    #[error("a null map value cannot be represented")]
    NullMapValue,
    /// A string that is not valid UTF-8.
    #[error("invalid UTF-8 in a string")]
    InvalidUtf8,
    /// A boolean byte other than 0 or 1.
    #[error("invalid boolean byte {0:#04x}")]
    InvalidBool(u8),
    /// A string in Flink's `StringValue` encoding that this reader refuses.
    #[error("{0}")]
    FlinkString(super::flink_string::FlinkStringError),
    /// A tag byte (e.g. of an `Option`) other than 0 or 1.
    #[error("invalid tag byte {0:#04x}")]
    InvalidTag(u8),
    /// A void namespace byte other than 0.
    #[error("invalid void-namespace byte {0:#04x}")]
    InvalidVoid(u8),
    /// A serializer-specific failure.
    #[error("{0}")]
    Custom(String),
    /// Bytes left over after a value that must fill its length.
    #[error("{0} trailing byte(s) after the value")]
    TrailingBytes(u64),
    /// The serde adapter's postcard decoding failed (feature `serde`).
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    #[error("postcard: {0}")]
    Postcard(#[source] postcard::Error),
}

/// Why a value could not be encoded (Flink: the `IOException` of `TypeSerializer.serialize`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("serializer `{serializer}` failed: {message}")]
#[non_exhaustive]
pub struct SerializeError {
    /// The identity of the serializer that failed.
    pub serializer: String,
    /// What went wrong.
    pub message: String,
}

impl DecodeError {
    /// A decode error at absolute byte `offset` (for serializers written outside this crate; inside one,
    /// [`Input::error`](super::Input::error) fills in the offset).
    ///
    /// ```
    /// use cow_state_table::serializer::{DecodeError, DecodeErrorKind};
    /// let e = DecodeError::new(7, DecodeErrorKind::InvalidBool(2));
    /// assert_eq!((e.offset, e.to_string()), (7, "invalid boolean byte 0x02 at byte offset 7".to_string()));
    /// ```
    #[must_use]
    pub fn new(offset: u64, kind: DecodeErrorKind) -> Self {
        DecodeError { offset, kind }
    }
}

impl SerializeError {
    /// An encode error of the serializer whose identity is `serializer`.
    ///
    /// ```
    /// use cow_state_table::serializer::SerializeError;
    /// let e = SerializeError::new("my-serializer", "value too large");
    /// assert_eq!(e.to_string(), "serializer `my-serializer` failed: value too large");
    /// ```
    #[must_use]
    pub fn new(serializer: impl Into<String>, message: impl Into<String>) -> Self {
        SerializeError {
            serializer: serializer.into(),
            message: message.into(),
        }
    }
}
