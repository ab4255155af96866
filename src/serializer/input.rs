//! [`Input`]: a bounded cursor over bytes that knows its absolute offset.

use super::error::{DecodeError, DecodeErrorKind};
use core::fmt;

/// A cursor over a byte slice for [`TypeSerializer::deserialize`](super::TypeSerializer::deserialize).
///
/// Flink: `DataInputView` (big-endian reads). Every read is bounds-checked and reports the absolute offset
/// (`base` + position) on failure; [`Input::check_count`] lets a deserializer refuse a count that the remaining
/// bytes cannot hold before it allocates anything.
#[derive(Clone)]
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`, whose first byte is at absolute offset 0.
    pub fn new(data: &'a [u8]) -> Self {
        Self::with_base(data, 0)
    }

    /// A cursor at the start of `data`, whose first byte is at absolute offset `base`.
    pub fn with_base(data: &'a [u8], base: u64) -> Self {
        Input { data, pos: 0, base }
    }

    /// The absolute offset of the next byte.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes that remain.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Whether no byte remains.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// An error of `kind` at the current offset.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.offset(),
            kind,
        }
    }

    /// Takes the next `n` bytes.
    ///
    /// # Errors
    /// [`DecodeErrorKind::UnexpectedEnd`] (at the current offset) if too few bytes remain.
    ///
    /// ```
    /// use cow_state_table::serializer::Input;
    /// let mut input = Input::new(&[1, 2, 3]);
    /// assert_eq!(input.read_bytes(2)?, &[1, 2]);
    /// assert!(input.read_bytes(2).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let data: &'a [u8] = self.data;
        match data.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(self.unexpected_end(n)),
        }
    }

    /// The error for wanting `needed` bytes where fewer remain (out of line: decoding hot loops only test).
    #[cold]
    #[inline(never)]
    fn unexpected_end(&self, needed: usize) -> DecodeError {
        self.error(DecodeErrorKind::UnexpectedEnd {
            needed: needed as u64,
            remaining: self.remaining() as u64,
        })
    }

    /// Takes the next `N` bytes as an array.
    ///
    /// # Errors
    /// [`DecodeErrorKind::UnexpectedEnd`] (at the current offset) if too few bytes remain.
    ///
    /// ```
    /// use cow_state_table::serializer::Input;
    /// let mut input = Input::new(&[1, 2, 3]);
    /// assert_eq!(input.read_array::<2>()?, [1, 2]);
    /// assert!(input.read_array::<2>().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let data: &'a [u8] = self.data;
        match data.get(self.pos..).and_then(<[u8]>::first_chunk::<N>) {
            Some(bytes) => {
                self.pos += N;
                Ok(*bytes)
            }
            None => Err(self.unexpected_end(N)),
        }
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`DecodeErrorKind::UnexpectedEnd`] (at the current offset) if too few bytes remain.
    ///
    /// ```
    /// use cow_state_table::serializer::Input;
    /// let mut input = Input::new(&[7]);
    /// assert_eq!(input.read_u8()?, 7);
    /// assert!(input.read_u8().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.read_array::<1>()?[0])
    }

    /// Reads a big-endian `u16`.
    ///
    /// # Errors
    /// [`DecodeErrorKind::UnexpectedEnd`] (at the current offset) if too few bytes remain.
    ///
    /// ```
    /// use cow_state_table::serializer::Input;
    /// assert_eq!(Input::new(&[1, 2]).read_u16()?, 0x0102);
    /// assert!(Input::new(&[1]).read_u16().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.read_array()?))
    }

    /// Reads a big-endian `u32`.
    ///
    /// # Errors
    /// [`DecodeErrorKind::UnexpectedEnd`] (at the current offset) if too few bytes remain.
    ///
    /// ```
    /// use cow_state_table::serializer::Input;
    /// assert_eq!(Input::new(&[0, 0, 1, 0]).read_u32()?, 256);
    /// assert!(Input::new(&[0, 0, 1]).read_u32().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.read_array()?))
    }

    /// Reads a big-endian `i32` (Java `readInt`).
    ///
    /// # Errors
    /// [`DecodeErrorKind::UnexpectedEnd`] (at the current offset) if too few bytes remain.
    ///
    /// ```
    /// use cow_state_table::serializer::Input;
    /// assert_eq!(Input::new(&[0xff, 0xff, 0xff, 0xfe]).read_i32()?, -2);
    /// assert!(Input::new(&[]).read_i32().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.read_array()?))
    }

    /// Reads a big-endian `u64`.
    ///
    /// # Errors
    /// [`DecodeErrorKind::UnexpectedEnd`] (at the current offset) if too few bytes remain.
    ///
    /// ```
    /// use cow_state_table::serializer::Input;
    /// assert_eq!(Input::new(&[0, 0, 0, 0, 0, 0, 1, 0]).read_u64()?, 256);
    /// assert!(Input::new(&[0; 7]).read_u64().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.read_array()?))
    }

    /// Reads a Java `int` count (big-endian, non-negative) of elements that take at least `min_len` bytes
    /// each, and checks that the remaining bytes can hold them.
    ///
    /// # Errors
    /// [`DecodeErrorKind::UnexpectedEnd`] (at the current offset) if too few bytes remain; [`DecodeErrorKind::NegativeLength`] for a
    /// negative count; [`DecodeErrorKind::LengthExceedsInput`] if the remaining bytes cannot hold the elements.
    ///
    /// [`DecodeErrorKind::NegativeLength`]: crate::serializer::DecodeErrorKind::NegativeLength
    /// [`DecodeErrorKind::LengthExceedsInput`]: crate::serializer::DecodeErrorKind::LengthExceedsInput
    ///
    /// ```
    /// use cow_state_table::serializer::Input;
    /// assert_eq!(Input::new(&[0, 0, 0, 2, 9, 9]).read_count(1)?, 2);
    /// assert!(Input::new(&[0, 0, 0, 3, 9, 9]).read_count(1).is_err()); // 3 elements cannot fit in 2 bytes
    /// assert!(Input::new(&[0xff, 0xff, 0xff, 0xff]).read_count(1).is_err()); // negative
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_count(&mut self, min_len: usize) -> Result<usize, DecodeError> {
        let at = self.offset();
        let count = self.read_i32()?;
        if count < 0 {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::NegativeLength(count),
            });
        }
        self.check_count(count as u64, min_len).map_err(|mut e| {
            e.offset = at;
            e
        })?;
        Ok(count as usize)
    }

    /// Fails unless `count` elements of at least `min_len` bytes each fit in the remaining bytes. Elements of
    /// width 0 pass for any count (decoding them allocates nothing).
    ///
    /// # Errors
    /// [`DecodeErrorKind::LengthExceedsInput`](crate::serializer::DecodeErrorKind::LengthExceedsInput).
    ///
    /// ```
    /// use cow_state_table::serializer::Input;
    /// let input = Input::new(&[0; 8]);
    /// assert!(input.check_count(2, 4).is_ok());
    /// assert!(input.check_count(3, 4).is_err());
    /// assert!(input.check_count(u64::MAX, 0).is_ok());
    /// ```
    pub fn check_count(&self, count: u64, min_len: usize) -> Result<(), DecodeError> {
        let min_bytes = count.saturating_mul(min_len as u64);
        if min_bytes > self.remaining() as u64 {
            return Err(self.error(DecodeErrorKind::LengthExceedsInput {
                length: count,
                min_bytes,
                remaining: self.remaining() as u64,
            }));
        }
        Ok(())
    }

    /// A capacity for `count` elements of at least `min_len` bytes: never more than the remaining bytes could
    /// hold.
    #[must_use]
    pub fn bounded_capacity(&self, count: usize, min_len: usize) -> usize {
        count.min(self.remaining() / min_len.max(1))
    }
}

impl fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("offset", &self.offset())
            .field("remaining", &self.remaining())
            .finish()
    }
}
