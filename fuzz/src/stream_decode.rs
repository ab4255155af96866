//! `stream_decode`: arbitrary bytes into the checkpoint-stream reader (`backend::stream::StreamCheckpoint`).
//!
//! Properties: parsing, slicing and decoding return an error or a value, never panic, abort, hang or allocate an
//! amount sized by an untrusted count (run with `-rss_limit_mb` / `-malloc_limit_mb`); every body range lies
//! inside the input and inside the key-group section; a stream that parses is a fixed point of the writer —
//! `write_stream` with the same header, meta section and the bodies `body()` returns reproduces the input byte
//! for byte; and a body that decodes re-encodes (all serializers below are canonical) to exactly its bytes.
//!
//! Bodies are decoded with every serializer set below whose identities the stream names (the seeds and the
//! dictionary carry them).
//!
//! Input layout: one mode byte, then the stream. The header, every key-group section and the trailer carry a
//! CRC32C, which random mutations almost never keep valid; so the mode byte can ask for repairs before parsing
//! (bit 0: recompute the header checksum; bit 1: recompute each section's checksum from the trailer's offsets and
//! lengths where they fit; bit 2: rewrite the recorded stream length and the trailer checksum). With mode 0 the
//! bytes go to the reader untouched.
//!
//! Delta streams (docs/FORMAT.md §11, stream version 2) go through the same checks: the fixed point is
//! `write_delta_stream` with the base the header names, and each delta body that decodes
//! (`decode_delta_body`) re-encodes — upserts, then removals — to exactly its bytes.

use cow_state_table::backend::stream::{decode_delta_body, write_delta_stream, write_stream, StreamCheckpoint};
use cow_state_table::serializer::{
    FlinkNullableStringSerializer, FlinkStringSerializer, I32Serializer, I64Serializer, KeySerializer, ListSerializer,
    NamespaceSerializer, Serializers, TypeSerializer, VoidNamespaceSerializer,
};

/// Repair bits of the mode byte.
pub const FIX_HEADER_CRC: u8 = 1;
/// See [`FIX_HEADER_CRC`].
pub const FIX_SECTION_CRCS: u8 = 2;
/// See [`FIX_HEADER_CRC`].
pub const FIX_TRAILER: u8 = 4;

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Skips a `u16`-length string at `at`.
fn skip_str(b: &[u8], at: usize) -> Option<usize> {
    let end = at + 2 + u16_at(b, at)?;
    (end <= b.len()).then_some(end)
}

/// Repairs `bytes` as `mode` asks, following docs/FORMAT.md §10.1; does nothing where the layout cannot be
/// followed.
pub fn repair(mode: u8, bytes: &mut [u8]) {
    let _ = try_repair(mode, bytes);
}

fn try_repair(mode: u8, bytes: &mut [u8]) -> Option<()> {
    if mode & (FIX_HEADER_CRC | FIX_SECTION_CRCS | FIX_TRAILER) == 0 {
        return Some(());
    }
    // A delta stream (version 2) names its base (20 bytes) after the checkpoint id.
    let shift = if u16_at(bytes, 8)? == 2 { 20 } else { 0 };
    let n = u32_at(bytes, 28 + shift)? as usize;
    if n > 32768 {
        return None;
    }
    let mut at = skip_str(bytes, 32 + shift)?;
    let states = u16_at(bytes, at)?;
    at += 2;
    for _ in 0..states {
        at = skip_str(bytes, at + 2)?; // id, name
        at = skip_str(bytes, at + 1)?; // kind, namespace identity
        at = skip_str(bytes, at)?; // state identity
    }
    let header_len = at + 4;
    if header_len > bytes.len() {
        return None;
    }
    if mode & FIX_HEADER_CRC != 0 {
        let crc = crc32c::crc32c(&bytes[..at]);
        bytes[at..header_len].copy_from_slice(&crc.to_be_bytes());
    }
    let entry = 12 + 8 * states;
    let trailer_len = n.checked_mul(entry)?.checked_add(12)?;
    let trailer = bytes.len().checked_sub(trailer_len).filter(|&t| t >= header_len)?;
    if mode & FIX_SECTION_CRCS != 0 {
        for g in 0..n {
            let e = trailer + g * entry;
            let start = u64_at(bytes, e)? as usize;
            let mut len = 4u64;
            for s in 0..states {
                len = len.checked_add(2)?.checked_add(u64_at(bytes, e + 12 + 8 * s)?)?;
            }
            let end = (start as u64).checked_add(len)?;
            if start >= header_len && end <= trailer as u64 {
                let crc = crc32c::crc32c(&bytes[start..end as usize]);
                bytes[e + 8..e + 12].copy_from_slice(&crc.to_be_bytes());
            }
        }
    }
    if mode & FIX_TRAILER != 0 {
        let len = bytes.len();
        bytes[len - 12..len - 4].copy_from_slice(&(len as u64).to_be_bytes());
        let crc = crc32c::crc32c(&bytes[trailer..len - 4]);
        bytes[len - 4..].copy_from_slice(&crc.to_be_bytes());
    }
    Some(())
}

/// Decodes state `index` in every key group with `serializers` if the stream names their identities; checks
/// that each decoded body re-encodes to its exact bytes.
fn decode_with<KS, NS, SS>(stream: &StreamCheckpoint<'_>, index: usize, serializers: &Serializers<KS, NS, SS>)
where
    KS: KeySerializer,
    NS: NamespaceSerializer,
    SS: TypeSerializer,
{
    if stream.check_serializers(index, serializers).is_err() {
        return;
    }
    if stream.is_delta() {
        for kg in stream.key_groups() {
            let body = stream.body(index, kg).expect("in range");
            let at = stream.body_range(index, kg).expect("in range").start;
            let Ok((upserts, removals)) = decode_delta_body(body, at, kg, stream.context(), serializers) else {
                continue;
            };
            let mut again = (upserts.len() as i32).to_be_bytes().to_vec();
            for (k, n, s) in &upserts {
                serializers.namespace.serialize(n, &mut again).expect("namespace re-encodes");
                serializers.key.serialize(k, &mut again).expect("key re-encodes");
                serializers.state.serialize(s, &mut again).expect("state re-encodes");
            }
            again.extend_from_slice(&(removals.len() as i32).to_be_bytes());
            for (k, n) in &removals {
                serializers.namespace.serialize(n, &mut again).expect("namespace re-encodes");
                serializers.key.serialize(k, &mut again).expect("key re-encodes");
            }
            assert_eq!(again, body, "state {index}, key group {kg}: a decoded delta body re-encodes differently");
        }
        return;
    }
    for kg in stream.key_groups() {
        let mut entries = Vec::new();
        if stream.decode_into(index, kg, serializers, &mut entries).is_err() {
            continue;
        }
        let body = stream.body(index, kg).expect("decoded, so it exists");
        let mut again = (entries.len() as i32).to_be_bytes().to_vec();
        for (k, n, s) in &entries {
            serializers
                .namespace
                .serialize(n, &mut again)
                .expect("namespace re-encodes");
            serializers.key.serialize(k, &mut again).expect("key re-encodes");
            serializers.state.serialize(s, &mut again).expect("state re-encodes");
        }
        assert_eq!(
            again, body,
            "state {index}, key group {kg}: a decoded body re-encodes differently"
        );
    }
}

/// The target's body.
pub fn fuzz(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    repair(mode, &mut bytes);
    let Ok(stream) = StreamCheckpoint::parse(&bytes) else {
        return;
    };

    // Slicing: every body lies inside the key-group section, after its state id.
    let section = stream.key_group_section();
    assert!(section.end <= bytes.len() as u64);
    for (i, _) in stream.states().iter().enumerate() {
        for kg in stream.key_groups() {
            let r = stream.body_range(i, kg).expect("in range");
            assert!(section.start + 6 <= r.start && r.start <= r.end && r.end <= section.end);
        }
    }
    assert!(stream.body(stream.states().len(), stream.key_groups().start()).is_err());

    // The writer's fixed point.
    let mut again = Vec::with_capacity(bytes.len());
    let mut body = |i, kg, buf: &mut Vec<u8>| {
        buf.extend_from_slice(stream.body(i, kg).expect("in range"));
        Ok(())
    };
    match stream.base() {
        None => write_stream(
            stream.checkpoint_id(),
            stream.context(),
            stream.key_serializer(),
            stream.states(),
            &mut body,
            &mut again,
        ),
        Some(base) => write_delta_stream(
            stream.checkpoint_id(),
            base,
            stream.context(),
            stream.key_serializer(),
            stream.states(),
            &mut body,
            &mut again,
        ),
    }
    .unwrap_or_else(|e| panic!("a parsed stream does not re-write: {e}"));
    assert_eq!(again, bytes, "a parsed stream re-writes differently");

    for i in 0..stream.states().len() {
        decode_with(
            &stream,
            i,
            &Serializers::new(I64Serializer, I32Serializer, I64Serializer),
        );
        decode_with(
            &stream,
            i,
            &Serializers::new(I64Serializer, I32Serializer, ListSerializer(I64Serializer)),
        );
        decode_with(
            &stream,
            i,
            &Serializers::new(I64Serializer, VoidNamespaceSerializer, FlinkStringSerializer),
        );
        decode_with(
            &stream,
            i,
            &Serializers::new(FlinkStringSerializer, I32Serializer, FlinkNullableStringSerializer),
        );
    }
}
