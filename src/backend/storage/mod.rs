//! Where checkpoint streams are kept (Flink: `MemCheckpointStreamFactory` of `AsyncMemoryStateBackend`, and a
//! file-system checkpoint directory): in memory with a size cap, or in a directory.
