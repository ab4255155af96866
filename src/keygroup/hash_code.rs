//! [`JavaHashCode`]: the stable 32-bit hash that decides a key's key group.

/// A key's stable 32-bit hash, equal to Java's `hashCode()` of the corresponding Java value.
///
/// Flink: `Object.hashCode()` of the key, as used by `KeyGroupRangeAssignment.assignToKeyGroup`.
///
/// Flink assigns a key to a key group from `key.hashCode()` ([`key_group_of`](super::key_group_of)), so a key
/// lands in the same key group here as in Flink exactly when this matches Java. Implementations:
///
/// | Rust | Java counterpart | hash |
/// |---|---|---|
/// | `i32`, `u32` | `Integer` | the value (`u32` as its bits) |
/// | `i64`, `u64` | `Long` | `(int) (v ^ (v >>> 32))` (`u64` as its bits) |
/// | `i16`, `i8`, `u8` | `Short`, `Byte` | the value, sign-extended (`u8` as a Java `byte`) |
/// | `u16` | `Character` | the value |
/// | `bool` | `Boolean` | 1231 for true, 1237 for false |
/// | `f32` / `f64` | `Float` / `Double` | `floatToIntBits` / `doubleToLongBits` folded like `Long` (NaN canonical) |
/// | `str`, `String` | `String` | `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code units |
/// | `[u8]`, `Vec<u8>` | `byte[]` via `Arrays.hashCode` | `31 * h + b` from `h = 1`, bytes signed |
/// | `(A, B)`, `(A, B, C)`, `(A, B, C, D)` | Flink `Tuple2`…`Tuple4` | `h = f0; h = 31 * h + f1; …` |
///
/// References (`&T`) and `Box<T>` hash like `T`.
///
/// ```
/// use cow_state_table::keygroup::JavaHashCode;
/// assert_eq!("hello".java_hash_code(), 99162322);
/// assert_eq!((1i64 << 32).java_hash_code(), 1);
/// assert_eq!(true.java_hash_code(), 1231);
/// ```
pub trait JavaHashCode {
    /// Java's `hashCode()` of the corresponding Java value.
    fn java_hash_code(&self) -> i32;
}

impl JavaHashCode for i32 {
    fn java_hash_code(&self) -> i32 {
        *self
    }
}

impl JavaHashCode for u32 {
    fn java_hash_code(&self) -> i32 {
        *self as i32
    }
}

impl JavaHashCode for i64 {
    fn java_hash_code(&self) -> i32 {
        let v = *self as u64;
        (v ^ (v >> 32)) as u32 as i32
    }
}

impl JavaHashCode for u64 {
    fn java_hash_code(&self) -> i32 {
        (*self as i64).java_hash_code()
    }
}

impl JavaHashCode for i16 {
    fn java_hash_code(&self) -> i32 {
        i32::from(*self)
    }
}

impl JavaHashCode for u16 {
    fn java_hash_code(&self) -> i32 {
        i32::from(*self)
    }
}

impl JavaHashCode for i8 {
    fn java_hash_code(&self) -> i32 {
        i32::from(*self)
    }
}

impl JavaHashCode for u8 {
    fn java_hash_code(&self) -> i32 {
        i32::from(*self as i8)
    }
}

impl JavaHashCode for bool {
    fn java_hash_code(&self) -> i32 {
        if *self {
            1231
        } else {
            1237
        }
    }
}

impl JavaHashCode for f32 {
    fn java_hash_code(&self) -> i32 {
        // Float.floatToIntBits maps every NaN to 0x7fc00000.
        let bits = if self.is_nan() { 0x7fc0_0000 } else { self.to_bits() };
        bits as i32
    }
}

impl JavaHashCode for f64 {
    fn java_hash_code(&self) -> i32 {
        // Double.doubleToLongBits maps every NaN to 0x7ff8000000000000.
        let bits = if self.is_nan() {
            0x7ff8_0000_0000_0000
        } else {
            self.to_bits()
        };
        bits.java_hash_code()
    }
}

impl JavaHashCode for str {
    fn java_hash_code(&self) -> i32 {
        self.encode_utf16()
            .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)))
    }
}

impl JavaHashCode for String {
    fn java_hash_code(&self) -> i32 {
        self.as_str().java_hash_code()
    }
}

impl JavaHashCode for [u8] {
    fn java_hash_code(&self) -> i32 {
        self.iter()
            .fold(1i32, |h, &b| h.wrapping_mul(31).wrapping_add(i32::from(b as i8)))
    }
}

impl JavaHashCode for Vec<u8> {
    fn java_hash_code(&self) -> i32 {
        self.as_slice().java_hash_code()
    }
}

impl<T: JavaHashCode + ?Sized> JavaHashCode for &T {
    fn java_hash_code(&self) -> i32 {
        (**self).java_hash_code()
    }
}

impl<T: JavaHashCode + ?Sized> JavaHashCode for Box<T> {
    fn java_hash_code(&self) -> i32 {
        (**self).java_hash_code()
    }
}

macro_rules! tuple_hash_code {
    ($first:ident . $i0:tt $(, $rest:ident . $i:tt)*) => {
        impl<$first: JavaHashCode, $($rest: JavaHashCode),*> JavaHashCode for ($first, $($rest),*) {
            fn java_hash_code(&self) -> i32 {
                let h = self.$i0.java_hash_code();
                $(let h = h.wrapping_mul(31).wrapping_add(self.$i.java_hash_code());)*
                h
            }
        }
    };
}

tuple_hash_code!(A.0, B.1);
tuple_hash_code!(A.0, B.1, C.2);
tuple_hash_code!(A.0, B.1, C.2, D.3);
