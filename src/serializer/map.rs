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
/// Flink: `MapSerializer` (the state serializer of `MapState`), byte for byte. Entries are written in canonical
/// order — ascending by the key's serialized bytes, compared as unsigned bytes (docs/FORMAT.md §3, DESIGN.md
/// B18) — so the same map always gives the same bytes, whatever its hash seed or insertion history. Rust maps hold
/// no null values, so decoding a null flag (`1`) is [`DecodeErrorKind::NullMapValue`] at the flag, whatever
/// follows it; any other flag byte is an invalid boolean. A key that occurs twice keeps its last value, as
/// `HashMap.put` does in Flink; any entry order is read.
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
///
/// // Canonical order: by key bytes, so 1 (00 00 00 01) before -1 (FF FF FF FF), however the map iterates.
/// let mut out = Vec::new();
/// s.serialize(&HashMap::from([(-1, "m".to_string()), (1, "p".to_string())]), &mut out).unwrap();
/// assert_eq!(&out[4..8], [0, 0, 0, 1]);
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
        write_entries_canonical(&self.0, &self.1, value, out)
    }

    fn deserialize(&self, input: &mut Input<'_>) -> Result<Self::Value, DecodeError> {
        // The fewest bytes of an entry: a null one is its key and the flag, without value bytes (FORMAT.md §7). Asking
        // for the value's bytes too would refuse the count before the null flag could be reported.
        let min = self.0.min_len().saturating_add(1);
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
                        kind: DecodeErrorKind::NullMapValue,
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

/// Appends the entries of `map` — per entry the key, the null flag `0` and the value — in canonical order
/// (FORMAT.md §3, B18): ascending by the key's serialized bytes as unsigned bytes, a proper prefix first; entries
/// whose key bytes are equal by their value bytes. No count. Each entry is serialized once into `out`; then, if
/// there are two or more, the entries' byte ranges are sorted and the bytes rewritten in that order.
///
/// # Errors
/// The first error of the key or value serializer; `out` may then hold a partial encoding.
pub(crate) fn write_entries_canonical<K, V, S>(
    key: &(impl TypeSerializer<Value = K> + ?Sized),
    value: &(impl TypeSerializer<Value = V> + ?Sized),
    map: &HashMap<K, V, S>,
    out: &mut Vec<u8>,
) -> Result<(), SerializeError> {
    let start = out.len();
    // Per entry: where it starts, where its key ends, where it ends (relative to `start`).
    let mut spans = Vec::with_capacity(map.len());
    for (k, v) in map {
        let begin = out.len() - start;
        key.serialize(k, out)?;
        let key_end = out.len() - start;
        out.push(0);
        value.serialize(v, out)?;
        spans.push((begin, key_end, out.len() - start));
    }
    if spans.len() > 1 {
        let written = out.split_off(start);
        spans.sort_unstable_by(|a, b| {
            written[a.0..a.1]
                .cmp(&written[b.0..b.1])
                .then_with(|| written[a.1..a.2].cmp(&written[b.1..b.2]))
        });
        for (begin, _, end) in spans {
            out.extend_from_slice(&written[begin..end]);
        }
    }
    Ok(())
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

    /// Canonical order (FORMAT.md §3): by the key bytes as unsigned bytes, whatever the insertion order or seed.
    #[test]
    fn canonical_order() {
        use crate::serializer::StringSerializer;
        let s = MapSerializer(I64Serializer, U8Serializer);
        let keys: Vec<i64> = (-30..30).map(|i| i * 7919).collect();
        let forward: HashMap<i64, u8> = keys.iter().map(|&k| (k, k as u8)).collect();
        let backward: HashMap<i64, u8> = keys.iter().rev().map(|&k| (k, k as u8)).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        s.serialize(&forward, &mut a).unwrap();
        s.serialize(&backward, &mut b).unwrap();
        assert_eq!(a, b);
        let written: Vec<[u8; 8]> = a[4..].chunks(10).map(|e| e[..8].try_into().unwrap()).collect();
        assert!(written.windows(2).all(|w| w[0] < w[1]), "ascending key bytes");
        // Non-negative keys first (ascending), then the negative ones (ascending too, as two's complement).
        let mut want = keys.clone();
        want.sort_by_key(|k| (*k < 0, *k));
        assert_eq!(written, want.iter().map(|k| k.to_be_bytes()).collect::<Vec<_>>());
        // Strings: a proper prefix first; by bytes, not by length.
        let s = MapSerializer(StringSerializer, U8Serializer);
        let map: HashMap<String, u8> = [("ab", 1), ("a", 2), ("b", 3)].map(|(k, v)| (k.to_string(), v)).into();
        let mut out = Vec::new();
        s.serialize(&map, &mut out).unwrap();
        // Lengths are part of the key bytes: "a" and "b" (length 1) before "ab" (length 2).
        assert_eq!(
            out,
            [0, 0, 0, 3, 0, 0, 0, 1, b'a', 0, 2, 0, 0, 0, 1, b'b', 0, 3, 0, 0, 0, 2, b'a', b'b', 0, 1]
        );
        assert_eq!(s.deserialize(&mut Input::new(&out)).unwrap(), map);
    }

    /// A null flag is reported as a null map value whatever follows it: a null entry is a key and a flag (Flink
    /// writes no value after `true`), so the count check may not ask for a value's bytes (FORMAT.md §3, §7).
    #[test]
    fn null_value_is_reported_whatever_follows() {
        let s = MapSerializer(U8Serializer, I64Serializer);
        for after in [0usize, 1, 4, 7, 8, 9, 100] {
            let mut bytes = vec![0, 0, 0, 1, 42, 1];
            bytes.extend(std::iter::repeat_n(5u8, after));
            let err = s.deserialize(&mut Input::new(&bytes)).unwrap_err();
            assert_eq!(
                err.kind,
                DecodeErrorKind::NullMapValue,
                "{after} byte(s) after the flag: {err}"
            );
            assert_eq!(err.offset, 5, "the flag's offset");
        }
        // The second entry null, the first one whole.
        let bytes = [0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 7, 2, 1];
        let err = s.deserialize(&mut Input::new(&bytes)).unwrap_err();
        assert_eq!((err.kind, err.offset), (DecodeErrorKind::NullMapValue, 15));
        // A count that even null entries cannot fill is still refused before anything is allocated.
        let err = s.deserialize(&mut Input::new(&[0, 0, 0, 3, 1, 1, 2, 1])).unwrap_err();
        assert!(matches!(err.kind, DecodeErrorKind::LengthExceedsInput { .. }), "{err}");
    }
}
