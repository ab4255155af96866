//! Flink's string encoding (`StringValue.writeString` / `readString`, used by `StringSerializer`), byte for byte.
//!
//! ```text
//! null       00
//! string s   varint(n + 1)  then per UTF-16 code unit u of s: varint(u)        (n = number of code units)
//! varint(v)  7 bits at a time, least significant group first; every byte but the last has bit 0x80 set
//! ```

use super::error::{DecodeError, DecodeErrorKind, SerializeError};
use super::input::Input;
use super::TypeSerializer;

/// What is wrong with a Flink string being decoded (inside [`DecodeErrorKind::FlinkString`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum FlinkStringError {
    /// A null string (length byte `00`) where a `String` is expected; read it with
    /// [`FlinkNullableStringSerializer`].
    #[error("null string where a non-null string is expected")]
    Null,
    /// A varint longer than needed (a last group of 0 after the first byte) — Flink never writes one.
    #[error("non-canonical varint (a superfluous zero group)")]
    NonCanonicalVarint,
    /// A length varint above Java's `Integer.MAX_VALUE` (or longer than 5 bytes).
    #[error("string length varint beyond a Java int")]
    LengthOverflow,
    /// A character varint above `0xFFFF` (or longer than 3 bytes): not a UTF-16 code unit.
    #[error("character varint beyond a UTF-16 code unit")]
    CodeUnitOverflow,
    /// A surrogate code unit that is not part of a high–low pair (Java strings may hold one; Rust strings cannot).
    #[error("unpaired UTF-16 surrogate {0:#06x}")]
    UnpairedSurrogate(u16),
}

fn flink_error(at: u64, e: FlinkStringError) -> DecodeError {
    DecodeError {
        offset: at,
        kind: DecodeErrorKind::FlinkString(e),
    }
}

#[inline]
fn put_varint(mut v: u32, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a canonical varint of at most `max_bytes` bytes whose value is at most `max`.
#[inline]
fn read_varint(
    input: &mut Input<'_>,
    max: u32,
    max_bytes: u32,
    overflow: FlinkStringError,
) -> Result<u32, DecodeError> {
    let at = input.offset();
    let first = input.read_u8()?;
    if first < 0x80 {
        return Ok(u32::from(first));
    }
    let mut value = u32::from(first & 0x7f);
    let mut shift = 7u32;
    loop {
        let byte_at = input.offset();
        let b = input.read_u8()?;
        if shift / 7 >= max_bytes {
            return Err(flink_error(at, overflow));
        }
        let group = u64::from(b & 0x7f) << shift;
        let v = u64::from(value) | group;
        if v > u64::from(max) {
            return Err(flink_error(at, overflow));
        }
        value = v as u32;
        if b < 0x80 {
            if b == 0 {
                return Err(flink_error(byte_at, FlinkStringError::NonCanonicalVarint));
            }
            return Ok(value);
        }
        shift += 7;
    }
}

/// Appends Flink's encoding of `s` (not null).
fn write_flink_string(s: &str, identity: &str, out: &mut Vec<u8>) -> Result<(), SerializeError> {
    let units = if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    };
    let len = u32::try_from(units)
        .ok()
        .and_then(|n| n.checked_add(1))
        .filter(|&n| n <= i32::MAX as u32)
        .ok_or_else(|| SerializeError {
            serializer: identity.to_string(),
            message: format!("{units} UTF-16 code units do not fit Flink's length (a Java int, plus one)"),
        })?;
    put_varint(len, out);
    if s.is_ascii() {
        out.extend_from_slice(s.as_bytes());
    } else {
        out.reserve(units);
        for u in s.encode_utf16() {
            put_varint(u32::from(u), out);
        }
    }
    Ok(())
}

/// Reads Flink's encoding; `None` for null.
fn read_flink_string(input: &mut Input<'_>) -> Result<Option<String>, DecodeError> {
    let len_at = input.offset();
    let encoded = read_varint(input, i32::MAX as u32, 5, FlinkStringError::LengthOverflow)?;
    if encoded == 0 {
        return Ok(None);
    }
    let units = encoded - 1;
    // Every code unit takes at least one byte: refuse a length the input cannot hold before allocating.
    input.check_count(u64::from(units), 1).map_err(|mut e| {
        e.offset = len_at;
        e
    })?;
    let mut s = String::with_capacity(input.bounded_capacity(units as usize, 1));
    let mut pending_high: Option<(u16, u64)> = None;
    for _ in 0..units {
        let at = input.offset();
        let u = read_varint(input, 0xFFFF, 3, FlinkStringError::CodeUnitOverflow)? as u16;
        match (pending_high.take(), u) {
            (None, 0xD800..=0xDBFF) => pending_high = Some((u, at)),
            (None, 0xDC00..=0xDFFF) => {
                return Err(flink_error(at, FlinkStringError::UnpairedSurrogate(u)));
            }
            (None, _) => s.push(char::from_u32(u32::from(u)).expect("not a surrogate")),
            (Some((high, _)), 0xDC00..=0xDFFF) => {
                let c = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(u) - 0xDC00);
                s.push(char::from_u32(c).expect("a valid surrogate pair"));
            }
            (Some((high, high_at)), _) => {
                return Err(flink_error(high_at, FlinkStringError::UnpairedSurrogate(high)));
            }
        }
    }
    if let Some((high, high_at)) = pending_high {
        return Err(flink_error(high_at, FlinkStringError::UnpairedSurrogate(high)));
    }
    Ok(Some(s))
}

/// A `String` exactly as Flink's `StringSerializer` writes a non-null `java.lang.String`
/// (`StringValue.writeString`): the number of UTF-16 code units plus one as a varint, then each code unit as a
/// varint (docs/FORMAT.md §3).
///
/// Flink: `StringSerializer` / `StringValue`. Identity `flink_string`. `String` cannot be null, so this
/// serializer never writes the null byte `00` and refuses it on reading ([`FlinkStringError::Null`]); use
/// [`FlinkNullableStringSerializer`] (`Option<String>`) for Java strings that may be null. The reader accepts
/// only what Flink's writer produces: canonical varints, a length up to `Integer.MAX_VALUE`, code units up to
/// `0xFFFF`, and surrogates in high–low pairs (a Rust string cannot hold a lone surrogate). Java's reader is
/// laxer on the first two and accepts lone surrogates.
///
/// ```
/// use cow_state_table::serializer::{FlinkStringSerializer, Input, TypeSerializer};
/// let s = FlinkStringSerializer;
/// let mut out = Vec::new();
/// s.serialize(&"hé€😀".to_string(), &mut out).unwrap();
/// // length 5 code units + 1; 'h'; 'é' = 0xE9; '€' = 0x20AC; '😀' = D83D DE00
/// assert_eq!(out, [0x06, 0x68, 0xE9, 0x01, 0xAC, 0x41, 0xBD, 0xB0, 0x03, 0x80, 0xBC, 0x03]);
/// assert_eq!(s.deserialize(&mut Input::new(&out)).unwrap(), "hé€😀");
/// assert!(s.deserialize(&mut Input::new(&[0x00])).is_err()); // null
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlinkStringSerializer;

impl TypeSerializer for FlinkStringSerializer {
    type Value = String;
    fn identity(&self) -> String {
        "flink_string".to_string()
    }
    fn min_len(&self) -> usize {
        1
    }
    fn serialize(&self, value: &String, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        write_flink_string(value, "flink_string", out)
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<String, DecodeError> {
        let at = input.offset();
        read_flink_string(input)?.ok_or_else(|| flink_error(at, FlinkStringError::Null))
    }
}

/// An `Option<String>` exactly as Flink's `StringSerializer` writes a `java.lang.String` that may be null:
/// `None` is the byte `00`, `Some(s)` is [`FlinkStringSerializer`]'s encoding of `s`.
///
/// Flink: `StringSerializer` / `StringValue` with null. Identity `flink_string_nullable` (it reads everything
/// `flink_string` writes, and also null; the two identities differ because `flink_string` cannot read null).
///
/// ```
/// use cow_state_table::serializer::{FlinkNullableStringSerializer, Input, TypeSerializer};
/// let s = FlinkNullableStringSerializer;
/// let mut out = Vec::new();
/// s.serialize(&None, &mut out).unwrap();
/// s.serialize(&Some(String::new()), &mut out).unwrap();
/// assert_eq!(out, [0x00, 0x01]);
/// let mut input = Input::new(&out);
/// assert_eq!(s.deserialize(&mut input).unwrap(), None);
/// assert_eq!(s.deserialize(&mut input).unwrap(), Some(String::new()));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlinkNullableStringSerializer;

impl TypeSerializer for FlinkNullableStringSerializer {
    type Value = Option<String>;
    fn identity(&self) -> String {
        "flink_string_nullable".to_string()
    }
    fn min_len(&self) -> usize {
        1
    }
    fn serialize(&self, value: &Option<String>, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        match value {
            None => {
                out.push(0);
                Ok(())
            }
            Some(s) => write_flink_string(s, "flink_string_nullable", out),
        }
    }
    fn deserialize(&self, input: &mut Input<'_>) -> Result<Option<String>, DecodeError> {
        read_flink_string(input)
    }
}
