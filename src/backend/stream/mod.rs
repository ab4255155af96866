//! The checkpoint stream of many states (Flink: the key-group framing of `HeapKeyedStateBackend`'s snapshot,
//! `KeyGroupRangeOffsets`, and the serialization proxy's meta section). docs/FORMAT.md specifies every byte.
