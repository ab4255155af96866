//! `checkpoint_decode`: arbitrary bytes into the checkpoint reader and restore.
//!
//! Properties: parsing and decoding return an error or a value, never panic, abort, hang or allocate an amount
//! sized by an untrusted count (run with `-rss_limit_mb` / `-malloc_limit_mb`); `read_all`, per-key-group reads
//! and `restore` agree; a successful decode re-encodes (same body format, canonical V2 and V1) to bytes that
//! decode to the same contents; canonical bytes are a fixed point.
//!
//! The body is decoded with every serializer set below whose identities the header names; the seeds and the
//! dictionary carry those identities.
//!
//! Input layout: one mode byte, then the checkpoint. The header and every body carry a CRC32C, which random
//! mutations almost never keep valid; so the mode byte can ask for the layout to be repaired before parsing
//! (bit 0: recompute the header checksum; bit 1: recompute each body checksum; bit 2: rewrite the body offsets
//! so they tile the input, the last body taking the rest) — the decoder behind the checksums is then reached.
//! With mode 0 the bytes go to the reader untouched.

use cow_state_table::format::{write_checkpoint, BodyFormat, Checkpoint, EntryOrder, WriteOptions};
use cow_state_table::keygroup::{JavaHashCode, KeyGroupContext, KeyGroupRange};
use cow_state_table::restore::restore;
use cow_state_table::serializer::{
    BoolSerializer, BytesSerializer, I64Serializer, ListSerializer, OptionSerializer, Serializers,
    StringSerializer, TypeSerializer, U16Serializer, U32Serializer, U64Serializer, U8Serializer,
    VoidNamespaceSerializer,
};
use cow_state_table::StateTable;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

/// The model's types: `u8` keys, `u8` namespaces, `Vec<u32>` states (what `checkpoint_roundtrip` writes).
pub fn model_serializers() -> Serializers<U8Serializer, U8Serializer, ListSerializer<U32Serializer>> {
    Serializers::new(U8Serializer, U8Serializer, ListSerializer(U32Serializer))
}

/// Strings, the void namespace and `i64` (the library's doc examples).
pub fn string_serializers() -> Serializers<StringSerializer, VoidNamespaceSerializer, I64Serializer> {
    Serializers::new(StringSerializer, VoidNamespaceSerializer, I64Serializer)
}

/// `u64` keys, `u32` namespaces, optional strings.
pub fn option_serializers() -> Serializers<U64Serializer, U32Serializer, OptionSerializer<StringSerializer>> {
    Serializers::new(U64Serializer, U32Serializer, OptionSerializer(StringSerializer))
}

/// Byte-array keys, `u16` namespaces, lists of optional booleans.
pub fn bytes_serializers(
) -> Serializers<BytesSerializer, U16Serializer, ListSerializer<OptionSerializer<BoolSerializer>>> {
    Serializers::new(BytesSerializer, U16Serializer, ListSerializer(OptionSerializer(BoolSerializer)))
}

/// Repair bits of the mode byte.
pub const FIX_HEADER_CRC: u8 = 1;
/// See [`FIX_HEADER_CRC`].
pub const FIX_BODY_CRCS: u8 = 2;
/// See [`FIX_HEADER_CRC`].
pub const FIX_OFFSETS: u8 = 4;

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Repairs the checksums and offsets of `bytes` as `mode` asks (docs/FORMAT.md §2 layout); does nothing where
/// the layout cannot be followed (too short, too many key groups).
pub fn repair(mode: u8, bytes: &mut [u8]) {
    if mode & (FIX_HEADER_CRC | FIX_BODY_CRCS | FIX_OFFSETS) == 0 {
        return;
    }
    let Some(n) = be_u32(bytes, 20) else { return };
    if n > 32768 {
        return;
    }
    let mut at = 24usize;
    for _ in 0..3 {
        let Some(len) = bytes.get(at..at + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
            return;
        };
        at += 2 + len;
    }
    let table = at;
    let crc_at = table + 20 * n as usize;
    if crc_at + 4 > bytes.len() {
        return;
    }
    let end = bytes.len() as u64;
    let mut running = crc_at as u64 + 4;
    for i in 0..n as usize {
        let e = table + 20 * i;
        if mode & FIX_OFFSETS != 0 {
            let length = if i + 1 == n as usize {
                end - running
            } else {
                be_u64(bytes, e + 8).unwrap_or(0).min(end - running)
            };
            bytes[e..e + 8].copy_from_slice(&running.to_be_bytes());
            bytes[e + 8..e + 16].copy_from_slice(&length.to_be_bytes());
        }
        let (Some(offset), Some(length)) = (be_u64(bytes, e), be_u64(bytes, e + 8)) else { return };
        if mode & FIX_BODY_CRCS != 0 && offset <= end && length <= end - offset {
            let crc = crc32c::crc32c(&bytes[offset as usize..(offset + length) as usize]);
            bytes[e + 16..e + 20].copy_from_slice(&crc.to_be_bytes());
        }
        running = offset.saturating_add(length).min(end);
    }
    if mode & FIX_HEADER_CRC != 0 {
        let crc = crc32c::crc32c(&bytes[..crc_at]);
        bytes[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// The fuzz target's body: a mode byte, then the checkpoint (see the module documentation).
pub fn fuzz(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut bytes = rest.to_vec();
    repair(mode, &mut bytes);
    check(&bytes);
}

/// Runs every check on the checkpoint `data`.
pub fn check(data: &[u8]) {
    let Ok(checkpoint) = Checkpoint::parse(data) else {
        return;
    };
    // What parsing validated (docs/FORMAT.md §2, reader checks 6 and 7).
    let ctx = checkpoint.context();
    let range = checkpoint.key_groups();
    assert!(ctx.max_parallelism() >= 1 && ctx.max_parallelism() <= 32768);
    if let Some(end) = range.end() {
        assert!(end < ctx.max_parallelism());
    }
    assert_eq!(checkpoint.blocks().len(), range.number_of_key_groups() as usize);
    let mut at = checkpoint.blocks().first().map(|b| b.offset);
    for (block, key_group) in checkpoint.blocks().iter().zip(range) {
        assert_eq!(block.key_group, key_group);
        assert_eq!(Some(block.offset), at, "bodies do not tile");
        at = Some(block.offset + block.length);
    }
    if let Some(end) = at {
        assert_eq!(end, data.len() as u64, "bodies do not end at the end of input");
    }
    check_with(data, &checkpoint, &model_serializers());
    check_with(data, &checkpoint, &string_serializers());
    check_with(data, &checkpoint, &option_serializers());
    check_with(data, &checkpoint, &bytes_serializers());
}

type Contents<K, N, S> = HashMap<(K, N), S>;

fn contents_of<K, N, S>(entries: Vec<(K, N, S)>) -> Contents<K, N, S>
where
    K: Hash + Eq,
    N: Hash + Eq,
{
    // A restore that meets a duplicate keeps the last (docs/FORMAT.md §4.3).
    entries.into_iter().map(|(k, n, s)| ((k, n), s)).collect()
}

fn table_contents<K, N, S, H>(table: &StateTable<K, N, S, H>) -> Contents<K, N, S>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
{
    let mut out = HashMap::new();
    for (k, n, s) in table.iter() {
        assert!(out.insert((k.clone(), n.clone()), s.clone()).is_none(), "duplicate entry in a table");
    }
    out
}

fn check_with<KS, NS, SS>(data: &[u8], checkpoint: &Checkpoint<'_>, sers: &Serializers<KS, NS, SS>)
where
    KS: TypeSerializer,
    KS::Value: JavaHashCode + Hash + Eq + Clone + Debug,
    NS: TypeSerializer,
    NS::Value: Hash + Eq + Clone + Debug,
    SS: TypeSerializer,
    SS::Value: Clone + PartialEq + Debug,
{
    if checkpoint.check_serializers(sers).is_err() {
        // Every read checks the identities first.
        if let Some(kg) = checkpoint.key_groups().iter().next() {
            assert!(checkpoint.read_key_group(kg, sers).is_err());
        }
        assert!(checkpoint.read_all(sers).is_err());
        return;
    }
    let ctx = checkpoint.context();
    let all = checkpoint.read_all(sers);
    // Key group by key group: the same entries, or an error in the same place.
    let mut by_group = Ok(Vec::new());
    for kg in checkpoint.key_groups() {
        match checkpoint.read_key_group(kg, sers) {
            Ok(entries) => {
                for (k, _, _) in &entries {
                    assert_eq!(ctx.key_group_of(k), kg, "key decoded into the wrong key group");
                }
                if let Ok(v) = &mut by_group {
                    v.extend(entries);
                }
            }
            Err(e) => {
                by_group = Err(e);
                break;
            }
        }
    }
    assert_eq!(all, by_group, "read_all and read_key_group disagree");
    let restored: Result<StateTable<KS::Value, NS::Value, SS::Value>, _> = restore(ctx, &[data], sers);
    let entries = match (all, restored) {
        (Err(_), Err(_)) => return,
        (Ok(entries), Ok(table)) => {
            table.check_invariants().expect("restored table violates an invariant");
            let expected = contents_of(entries.clone());
            assert_eq!(table_contents(&table), expected, "restore differs from read_all");
            entries
        }
        (Ok(_), Err(e)) => panic!("read_all succeeded but restore failed: {e}"),
        (Err(e), Ok(_)) => panic!("restore succeeded but read_all failed: {e}"),
    };
    let expected = contents_of(entries);

    // Restoring into a wider range (every key group) or half of the range gives the same or the matching part.
    let wide = KeyGroupContext::all(ctx.max_parallelism()).expect("valid max parallelism");
    let table: StateTable<KS::Value, NS::Value, SS::Value> = restore(wide, &[data], sers).expect("wider restore");
    assert_eq!(table_contents(&table), expected, "restore into every key group differs");
    let range = ctx.range();
    if range.number_of_key_groups() >= 2 {
        let half = KeyGroupRange::with_len(range.start(), range.number_of_key_groups() / 2).expect("half range");
        let half_ctx = KeyGroupContext::new(ctx.max_parallelism(), half).expect("half context");
        let part: StateTable<KS::Value, NS::Value, SS::Value> = restore(half_ctx, &[data], sers).expect("half");
        let want: Contents<_, _, _> = expected
            .iter()
            .filter(|((k, _), _)| half.contains(ctx.key_group_of(k)))
            .map(|(e, s)| (e.clone(), s.clone()))
            .collect();
        assert_eq!(table_contents(&part), want, "restore of half the range differs");
    }

    // Re-encode: the same body format in snapshot order, canonical V2 and V1; each decodes to the same contents.
    let mut table = table;
    let snapshot = table.snapshot().expect("snapshot of a restored table");
    let header = checkpoint.header();
    let mut canonical = Vec::new();
    for options in [
        WriteOptions::new(header.body_format, EntryOrder::Snapshot),
        WriteOptions::canonical(),
        WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical),
    ] {
        let mut out = Vec::new();
        write_checkpoint(&snapshot, ctx, sers, options, &mut out).expect("re-encoding a decoded checkpoint");
        let again = Checkpoint::parse(&out).expect("re-encoded checkpoint does not parse");
        assert_eq!(again.context(), ctx);
        assert_eq!(again.header().body_format, options.body_format);
        let decoded = again.read_all(sers).expect("re-encoded checkpoint does not decode");
        assert_eq!(contents_of(decoded), expected, "re-encoded checkpoint decodes to other contents");
        if options == WriteOptions::canonical() {
            canonical = out;
        }
    }
    drop(snapshot);
    // Canonical bytes depend only on the contents: decode, restore, write canonically again, same bytes.
    let mut again: StateTable<KS::Value, NS::Value, SS::Value> =
        restore(ctx, &[&canonical], sers).expect("canonical restore");
    let snapshot = again.snapshot().expect("snapshot");
    let mut out = Vec::new();
    write_checkpoint(&snapshot, ctx, sers, WriteOptions::canonical(), &mut out).expect("canonical re-encoding");
    assert_eq!(out, canonical, "canonical encoding is not a fixed point");
}
