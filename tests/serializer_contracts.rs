//! The `TypeSerializer` contract of every built-in serializer, checked exactly (docs/FORMAT.md §7; Flink
//! `TypeSerializer`): [`min_len`](TypeSerializer::min_len) is the length of the shortest encoding — a lower bound
//! the decoders use to refuse counts before allocating, and tight, so that no valid input is refused — and a
//! reference `&S` is the serializer `S` in every method. Written against survivors of the `serializer` mutation
//! group (docs/MODEL_CHECKING.md, "Mutation testing of the upper layers"): the round-trip suites go through the
//! serializers by value and with ordinary counts, so they could not tell a forwarding `&S` that drops its
//! output, or a `min_len` off by one, from the real ones.

use cow_state_table::serializer::{
    BoolSerializer, BytesSerializer, DecodeError, DecodeErrorKind, F32Serializer, F64Serializer,
    FlinkNullableStringSerializer, FlinkStringSerializer, I16Serializer, I32Serializer, I64Serializer, I8Serializer,
    Input, ListSerializer, MapSerializer, OptionSerializer, SerializeError, Serializers, StringSerializer,
    TypeSerializer, U16Serializer, U32Serializer, U64Serializer, U8Serializer, VoidNamespace, VoidNamespaceSerializer,
};
use std::collections::HashMap;
use std::fmt::Debug;

fn encode<S: TypeSerializer>(s: &S, v: &S::Value) -> Vec<u8> {
    let mut out = Vec::new();
    s.serialize(v, &mut out).unwrap();
    out
}

/// `s.min_len()` is `expected`, the length of `shortest`'s encoding; `&s` says the same, writes the same bytes
/// and reads them back to the same value, consuming all of them.
fn check<S>(s: S, shortest: S::Value, others: &[S::Value], expected: usize)
where
    S: TypeSerializer + Debug,
    S::Value: PartialEq + Debug,
{
    let id = s.identity();
    // `<&S as TypeSerializer>`'s methods, named explicitly: `(&s).min_len()` would resolve to `S`'s own.
    let r: &S = &s;
    assert_eq!(s.min_len(), expected, "{id}: min_len");
    assert_eq!(TypeSerializer::min_len(&r), expected, "&{id}: min_len");
    assert_eq!(TypeSerializer::identity(&r), id, "&{id}: identity");
    assert_eq!(encode(&s, &shortest).len(), expected, "{id}: the shortest encoding");
    for v in std::iter::once(&shortest).chain(others) {
        let bytes = encode(&s, v);
        assert!(bytes.len() >= expected, "{id}: {v:?} encodes shorter than min_len");
        assert_eq!(encode(&r, v), bytes, "&{id}: serialize {v:?}");
        let mut input = Input::new(&bytes);
        let back = TypeSerializer::deserialize(&r, &mut input).unwrap();
        assert_eq!(&back, v, "&{id}: deserialize {v:?}");
        assert_eq!(input.remaining(), 0, "&{id}: {v:?} consumed");
    }
}

#[test]
fn min_len_is_the_shortest_encoding_and_references_forward() {
    check(I8Serializer, 0, &[-1, i8::MAX], 1);
    check(U8Serializer, 0, &[u8::MAX], 1);
    check(I16Serializer, 0, &[-2, i16::MIN], 2);
    check(U16Serializer, 0, &[u16::MAX], 2);
    check(I32Serializer, 0, &[-3, i32::MAX], 4);
    check(U32Serializer, 0, &[u32::MAX], 4);
    check(I64Serializer, 0, &[-4, i64::MIN], 8);
    check(U64Serializer, 0, &[u64::MAX], 8);
    check(F32Serializer, 0.0, &[-1.5, f32::INFINITY], 4);
    check(F64Serializer, 0.0, &[-1.5, f64::MAX], 8);
    check(BoolSerializer, false, &[true], 1);
    check(StringSerializer, String::new(), &["é€".into()], 4);
    check(BytesSerializer, Vec::new(), &[vec![1, 2, 3]], 4);
    check(FlinkStringSerializer, String::new(), &["hé€😀".into()], 1);
    check(
        FlinkNullableStringSerializer,
        None,
        &[Some(String::new()), Some("x".into())],
        1,
    );
    check(VoidNamespaceSerializer, VoidNamespace, &[], 1);
    check(ListSerializer(I32Serializer), Vec::new(), &[vec![1, -1], vec![0; 9]], 4);
    check(OptionSerializer(I64Serializer), None, &[Some(7)], 1);
    check(
        MapSerializer(I32Serializer, StringSerializer),
        HashMap::new(),
        &[HashMap::from([(1, "a".to_string()), (-2, String::new())])],
        4,
    );
    check((I32Serializer, BoolSerializer), (0, false), &[(-1, true)], 5);
    check(
        (U8Serializer, OptionSerializer(U16Serializer), StringSerializer),
        (0, None, String::new()),
        &[(1, Some(2), "three".into())],
        1 + 1 + 4,
    );
    check(
        ListSerializer(ListSerializer(U8Serializer)),
        Vec::new(),
        &[vec![vec![], vec![1]]],
        4,
    );
}

/// `Serializers::min_entry_len` is the sum of its three serializers' `min_len`s.
#[test]
fn min_entry_len_is_the_sum() {
    let s = Serializers::new(U64Serializer, VoidNamespaceSerializer, StringSerializer);
    assert_eq!(s.min_entry_len(), 8 + 1 + 4);
    let s = Serializers::new(
        I8Serializer,
        ListSerializer(U64Serializer),
        OptionSerializer(U8Serializer),
    );
    assert_eq!(s.min_entry_len(), 1 + 4 + 1);
    let s = Serializers::new(&I16Serializer, &U32Serializer, &BoolSerializer);
    assert_eq!(s.min_entry_len(), 2 + 4 + 1);
    assert_eq!(s.identities(), ["i16".to_string(), "u32".into(), "bool".into()]);
}

/// A user's serializer of a zero-byte value that keeps the default `min_len`.
#[derive(Debug, Clone, Copy)]
struct Unit;

impl TypeSerializer for Unit {
    type Value = ();
    fn identity(&self) -> String {
        "unit".into()
    }
    fn serialize(&self, _: &(), _: &mut Vec<u8>) -> Result<(), SerializeError> {
        Ok(())
    }
    fn deserialize(&self, _: &mut Input<'_>) -> Result<(), DecodeError> {
        Ok(())
    }
}

/// The default `min_len` is 0 ("unknown"), so a list of any number of zero-byte values decodes: a default of 1
/// would refuse the count of every such list as longer than its input.
#[test]
fn default_min_len_accepts_zero_width_values() {
    assert_eq!(Unit.min_len(), 0);
    let s = ListSerializer(Unit);
    let bytes = encode(&s, &vec![(); 1000]);
    assert_eq!(bytes, [0, 0, 0x03, 0xe8]);
    assert_eq!(s.deserialize(&mut Input::new(&bytes)).unwrap().len(), 1000);
    let s = (Unit, ListSerializer(&Unit));
    assert_eq!(s.min_len(), 4);
    assert_eq!(
        s.deserialize(&mut Input::new(&[0, 0, 0, 2])).unwrap(),
        ((), vec![(), ()])
    );
}

/// Through a reference, a list's count is still bounded by its element's `min_len`: a count no input could back
/// is refused at the count (offset 0) before anything is read or allocated, exactly as by value.
#[test]
fn reference_counts_are_bounded_like_values() {
    let huge = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1];
    for err in [
        ListSerializer(I32Serializer)
            .deserialize(&mut Input::new(&huge))
            .unwrap_err(),
        ListSerializer(&I32Serializer)
            .deserialize(&mut Input::new(&huge))
            .unwrap_err(),
        ListSerializer(&&StringSerializer)
            .deserialize(&mut Input::new(&huge))
            .unwrap_err(),
    ] {
        assert_eq!(err.offset, 0, "{err}");
        assert!(matches!(err.kind, DecodeErrorKind::LengthExceedsInput { .. }), "{err}");
    }
}

/// A Flink varint is refused once it runs past its byte budget (5 bytes for the length, 3 for a code unit), even
/// when the extra groups are zero and so do not raise the value: the error is the overflow at the varint's first
/// byte, not a later non-canonical zero group, and a long run of `0x80` bytes is refused without shifting past 64
/// bits (docs/FORMAT.md §3).
#[test]
fn flink_varints_are_refused_past_their_byte_budget() {
    use cow_state_table::serializer::FlinkStringError::{CodeUnitOverflow, LengthOverflow};
    let flink = |e: cow_state_table::serializer::FlinkStringError| DecodeErrorKind::FlinkString(e);
    let cases: [(&[u8], u64, DecodeErrorKind); 5] = [
        // one code unit whose varint has a fourth (zero) group
        (&[0x02, 0x80, 0x80, 0x80, 0x00], 1, flink(CodeUnitOverflow)),
        (&[0x02, 0x80, 0x80, 0x80, 0x80, 0x00], 1, flink(CodeUnitOverflow)),
        // a length varint with a sixth (zero) group
        (&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 0, flink(LengthOverflow)),
        (&[0x80; 20], 0, flink(LengthOverflow)),
        (
            &[
                0x02, 0xff, 0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
            ],
            1,
            flink(CodeUnitOverflow),
        ),
    ];
    for (bytes, offset, kind) in cases {
        for err in [
            FlinkStringSerializer.deserialize(&mut Input::new(bytes)).unwrap_err(),
            FlinkNullableStringSerializer
                .deserialize(&mut Input::new(bytes))
                .unwrap_err(),
        ] {
            assert_eq!((err.offset, &err.kind), (offset, &kind), "{bytes:02x?}: {err}");
        }
    }
    // At the budget: three groups for a code unit, five for a length, both canonical.
    let mut input = Input::new(&[0x02, 0xff, 0xff, 0x03]);
    assert_eq!(FlinkStringSerializer.deserialize(&mut input).unwrap(), "\u{ffff}");
    let err = FlinkStringSerializer
        .deserialize(&mut Input::new(&[0xff, 0xff, 0xff, 0xff, 0x07]))
        .unwrap_err();
    assert_eq!(
        err.offset, 0,
        "a length of i32::MAX passes the varint and fails the count: {err}"
    );
    assert!(matches!(err.kind, DecodeErrorKind::LengthExceedsInput { .. }), "{err}");
}

/// `Input::is_empty` says whether bytes remain (a survivor of the `serializer` group: `is_empty` → `true` was caught
/// by no suite, the decoders' trailing-bytes checks going through `remaining`).
#[test]
fn input_is_empty_only_at_the_end() {
    let mut input = Input::new(&[1, 2]);
    assert!(!input.is_empty());
    assert_eq!(input.read_u8().unwrap(), 1);
    assert!(!input.is_empty());
    assert_eq!(input.read_u8().unwrap(), 2);
    assert!(input.is_empty());
    assert!(Input::new(&[]).is_empty());
}

/// `Input::bounded_capacity` caps a decoder's allocation by what the remaining bytes can hold (a count read from
/// the input is never trusted for more), and `Debug` shows where the input stands.
#[test]
fn input_bounds_capacities_by_its_remaining_bytes() {
    let mut input = Input::new(&[0; 10]);
    assert_eq!(input.bounded_capacity(100, 4), 2, "10 bytes hold two 4-byte elements");
    assert_eq!(input.bounded_capacity(100, 3), 3);
    assert_eq!(input.bounded_capacity(2, 4), 2, "never more than the count");
    assert_eq!(input.bounded_capacity(7, 1), 7);
    assert_eq!(input.bounded_capacity(100, 0), 10, "a zero min_len counts as one byte");
    assert_eq!(input.bounded_capacity(0, 4), 0);
    input.read_bytes(3).unwrap();
    assert_eq!(input.bounded_capacity(100, 2), 3, "only the bytes not read yet");
    assert_eq!(format!("{input:?}"), "Input { offset: 3, remaining: 7 }");
}

/// A string's invalid UTF-8 is reported at the offset of its first bad byte in the whole input, not in the string.
#[test]
fn invalid_utf8_is_reported_where_it_is() {
    // Three bytes before the string, its 4-byte length, two good bytes, then 0xff.
    let bytes = [9, 9, 9, 0, 0, 0, 4, b'o', b'k', 0xff, b'!'];
    let mut input = Input::new(&bytes);
    input.read_bytes(3).unwrap();
    let err = StringSerializer.deserialize(&mut input).unwrap_err();
    assert_eq!((err.offset, err.kind), (9, DecodeErrorKind::InvalidUtf8));
}

/// The serde adapter keeps the contract too: its shortest encoding is the 4-byte length of an empty postcard
/// encoding (a unit value), a bound for every type, and `Debug` names the identity it was given.
#[cfg(feature = "serde")]
#[test]
fn postcard_min_len_is_its_length_prefix() {
    use cow_state_table::serializer::PostcardSerializer;
    check(PostcardSerializer::<()>::new("unit"), (), &[], 4);
    // A lower bound for every other type (postcard cannot say more): 4 for `Option<u64>`, whose shortest is 5.
    assert_eq!(PostcardSerializer::<Option<u64>>::new("opt").min_len(), 4);
    assert_eq!(
        format!("{:?}", PostcardSerializer::<u8>::new("v")),
        r#"PostcardSerializer { identity: "v" }"#
    );
}
