//! A map as Flink's `MapSerializer` writes it.

use super::error::{DecodeError, DecodeErrorKind, SerializeError};
use super::input::Input;
use super::text::write_len;
use super::TypeSerializer;
use std::collections::HashMap;
use std::hash::Hash;

/// A `HashMap<K, V>` as a 4-byte big-endian entry count (a non-negative Java `int`), then per entry the key, a
/// null flag byte (Java `writeBoolean(value == null)`, always `0` here) and the value.
///
/// Flink: `MapSerializer` (the state serializer of `MapState`). Rust maps hold no null values, so decoding a
/// null flag (`1`) is an error rather than a `null`; any other flag byte is an invalid boolean. A key that occurs
/// twice keeps its last value, as `HashMap.put` does in Flink. Entries are written in the map's iteration order.
///
/// ```
/// use cow_state_table::serializer::{Input, MapSerializer, I32Serializer, StringSerializer, TypeSerializer};
/// use std::collections::HashMap;
/// let s = MapSerializer(I32Serializer, StringSerializer);
/// let mut out = Vec::new();
/// s.serialize(&HashMap::from([(7, "x".to_string())]), &mut out).unwrap();
/// assert_eq!(out, [0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 1, b'x']);
/// assert_eq!(s.deserialize(&mut Input::new(&out)).unwrap(), HashMap::from([(7, "x".to_string())]));
/// assert_eq!(s.identity(), "map<i32,string>");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MapSerializer<KS, VS>(pub KS, pub VS);

impl<KS, VS> TypeSerializer for MapSerializer<KS, VS>
where
    KS: TypeSerializer<Value: Hash + Eq>,
    VS: TypeSerializer,
{
    type Value = HashMap<KS::Value, VS::Value>;

    fn identity(&self) -> String {
        format!("map<{},{}>", self.0.identity(), self.1.identity())
    }

    fn min_len(&self) -> usize {
        4
    }

    fn serialize(&self, value: &Self::Value, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        write_len(value.len(), &self.identity(), out)?;
        for (k, v) in value {
            self.0.serialize(k, out)?;
            out.push(0);
            self.1.serialize(v, out)?;
        }
        Ok(())
    }

    fn deserialize(&self, input: &mut Input<'_>) -> Result<Self::Value, DecodeError> {
        let min = self.0.min_len().saturating_add(1).saturating_add(self.1.min_len());
        let count = input.read_count(min)?;
        let mut map = HashMap::with_capacity(input.bounded_capacity(count, min));
        for _ in 0..count {
            let key = self.0.deserialize(input)?;
            let at = input.offset();
            match input.read_u8()? {
                0 => {}
                1 => {
                    return Err(DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::Custom("a null map value cannot be represented".into()),
                    })
                }
                b => {
                    return Err(DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::InvalidBool(b),
                    })
                }
            }
            let value = self.1.deserialize(input)?;
            map.insert(key, value);
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serializer::{I64Serializer, U8Serializer};

    #[test]
    fn roundtrip_and_rejections() {
        let s = MapSerializer(I64Serializer, U8Serializer);
        let map: HashMap<i64, u8> = (0..50).map(|i| (i * 3 - 20, i as u8)).collect();
        let mut out = Vec::new();
        s.serialize(&map, &mut out).unwrap();
        assert_eq!(out.len(), 4 + 50 * (8 + 1 + 1));
        let mut input = Input::new(&out);
        assert_eq!(s.deserialize(&mut input).unwrap(), map);
        assert!(input.is_empty());
        // A null flag and a bad flag are refused; a huge count with nothing behind it too.
        let null = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 5];
        assert!(s.deserialize(&mut Input::new(&null)).is_err());
        let bad = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 5];
        assert!(matches!(
            s.deserialize(&mut Input::new(&bad)).unwrap_err().kind,
            DecodeErrorKind::InvalidBool(2)
        ));
        assert!(s.deserialize(&mut Input::new(&[0x7f, 0xff, 0xff, 0xff])).is_err());
        // Truncated anywhere: an error, never a panic.
        for cut in 0..out.len() {
            assert!(s.deserialize(&mut Input::new(&out[..cut])).is_err(), "cut {cut}");
        }
    }
}
