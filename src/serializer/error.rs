//! Errors of serializers.

/// Why a value could not be decoded, and where (Flink: the `IOException` / `EOFException` of a
/// `DataInputView` read or a `TypeSerializer.deserialize`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte offset {offset}")]
pub struct DecodeError {
    /// Absolute byte offset (in the checkpoint, when decoding one) where the problem was found.
    pub offset: u64,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// What was wrong with the bytes being decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// A serializer-specific failure (e.g. from bincode).
    #[error("{0}")]
    Custom(String),
}

/// Why a value could not be encoded (Flink: the `IOException` of `TypeSerializer.serialize`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("serializer `{serializer}` failed: {message}")]
pub struct SerializeError {
    /// The identity of the serializer that failed.
    pub serializer: String,
    /// What went wrong.
    pub message: String,
}
