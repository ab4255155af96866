//! Reading a checkpoint: [`Checkpoint`].

use super::body::read_body;
use super::error::{FormatError, SerializerRole};
use super::header::{Header, KeyGroupBlock};
use crate::keygroup::{KeyGroupContext, KeyGroupRange};
use crate::serializer::{Input, KeySerializer, NamespaceSerializer, Serializers, TypeSerializer};
use core::fmt;

/// Decoded `(key, namespace, state)` entries, typed by the serializers that decoded them.
pub type DecodedEntries<KS, NS, SS> = Vec<(
    <KS as TypeSerializer>::Value,
    <NS as TypeSerializer>::Value,
    <SS as TypeSerializer>::Value,
)>;

/// A parsed checkpoint: its validated header and key-group table over the borrowed bytes.
///
/// Flink: the reading side of `HeapRestoreOperation` (key-group offsets, then
/// `StateTableByKeyGroupReaders.readerForVersion(...).readMappingsInKeyGroup` per key group). Parsing checks
/// the magic, the versions, the header checksum and that the bodies tile the rest of the input; each key group
/// is then checked (CRC32C) and decoded on demand.
///
/// ```
/// use cow_state_table::StateTable;
/// use cow_state_table::format::{write_checkpoint, Checkpoint, WriteOptions};
/// use cow_state_table::keygroup::KeyGroupContext;
/// use cow_state_table::serializer::{Serializers, StringSerializer, VoidNamespace, VoidNamespaceSerializer, I64Serializer};
///
/// let mut table: StateTable<String, VoidNamespace, i64> = StateTable::new();
/// table.put("hello".to_string(), VoidNamespace, 7);
/// let snapshot = table.snapshot().unwrap();
/// let serializers = Serializers::new(StringSerializer, VoidNamespaceSerializer, I64Serializer);
/// let ctx = KeyGroupContext::all(128).unwrap();
/// let mut bytes = Vec::new();
/// write_checkpoint(&snapshot, ctx, &serializers, WriteOptions::canonical(), &mut bytes).unwrap();
///
/// let checkpoint = Checkpoint::parse(&bytes).unwrap();
/// let kg = ctx.key_group_of("hello");
/// let entries = checkpoint.read_key_group(kg, &serializers).unwrap();
/// assert_eq!(entries, vec![("hello".to_string(), VoidNamespace, 7)]);
/// ```
#[derive(Clone)]
pub struct Checkpoint<'a> {
    bytes: &'a [u8],
    header: Header,
    blocks: Vec<KeyGroupBlock>,
}

impl<'a> Checkpoint<'a> {
    /// Parses and validates the header and key-group table of `bytes`.
    ///
    /// # Errors
    /// A [`FormatError`] for bad magic, an unsupported version or body format, a truncated or corrupt header
    /// (checksum), an invalid key-group table, or bytes beyond the last block.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::format::{write_checkpoint, Checkpoint, WriteOptions};
    /// use cow_state_table::keygroup::KeyGroupContext;
    /// use cow_state_table::serializer::{Serializers, StringSerializer, U32Serializer, VoidNamespace, VoidNamespaceSerializer};
    /// let sers = Serializers::new(StringSerializer, VoidNamespaceSerializer, U32Serializer);
    /// let mut table: StateTable<String, VoidNamespace, u32> = StateTable::new();
    /// table.put("hello".to_string(), VoidNamespace, 7);
    /// let ctx = KeyGroupContext::all(4)?;
    /// let mut bytes = Vec::new();
    /// write_checkpoint(&table.snapshot()?, ctx, &sers, WriteOptions::default(), &mut bytes)?;
    /// let checkpoint = Checkpoint::parse(&bytes)?;
    /// assert_eq!(checkpoint.key_groups().number_of_key_groups(), 4);
    /// assert!(Checkpoint::parse(&bytes[..10]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let (header, blocks) = Header::decode(bytes)?;
        Ok(Checkpoint { bytes, header, blocks })
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The maximum parallelism and the key groups the checkpoint holds.
    #[must_use]
    pub fn context(&self) -> KeyGroupContext {
        self.header.context
    }

    /// The key groups the checkpoint holds.
    #[must_use]
    pub fn key_groups(&self) -> KeyGroupRange {
        self.header.context.range()
    }

    /// The key-group table: one block per key group of the range, in order.
    #[must_use]
    pub fn blocks(&self) -> &[KeyGroupBlock] {
        &self.blocks
    }

    /// Checks that `serializers` have the identities the checkpoint was written with.
    ///
    /// # Errors
    /// [`FormatError::SerializerMismatch`] naming the first role whose identity differs.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::format::{write_checkpoint, Checkpoint, WriteOptions};
    /// use cow_state_table::keygroup::KeyGroupContext;
    /// use cow_state_table::serializer::{Serializers, StringSerializer, U32Serializer, VoidNamespace, VoidNamespaceSerializer};
    /// let sers = Serializers::new(StringSerializer, VoidNamespaceSerializer, U32Serializer);
    /// let mut table: StateTable<String, VoidNamespace, u32> = StateTable::new();
    /// table.put("hello".to_string(), VoidNamespace, 7);
    /// let ctx = KeyGroupContext::all(4)?;
    /// let mut bytes = Vec::new();
    /// write_checkpoint(&table.snapshot()?, ctx, &sers, WriteOptions::default(), &mut bytes)?;
    /// let checkpoint = Checkpoint::parse(&bytes)?;
    /// checkpoint.check_serializers(&sers)?;
    /// let other = Serializers::new(StringSerializer, VoidNamespaceSerializer, StringSerializer);
    /// assert!(checkpoint.check_serializers(&other).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_serializers<KS, NS, SS>(&self, serializers: &Serializers<KS, NS, SS>) -> Result<(), FormatError>
    where
        KS: TypeSerializer,
        NS: TypeSerializer,
        SS: TypeSerializer,
    {
        let [key, namespace, state] = serializers.identities();
        for (role, stored, expected) in [
            (SerializerRole::Key, &self.header.key_serializer, key),
            (SerializerRole::Namespace, &self.header.namespace_serializer, namespace),
            (SerializerRole::State, &self.header.state_serializer, state),
        ] {
            if *stored != expected {
                return Err(FormatError::SerializerMismatch {
                    role,
                    stored: stored.clone(),
                    expected,
                });
            }
        }
        Ok(())
    }

    /// Verifies the checksum of `key_group`'s body and decodes its entries as `(key, namespace, state)`.
    ///
    /// Checks the serializer identities first; fails if the key group is not in the checkpoint, the checksum does
    /// not match, the body does not decode to exactly its bytes, or a key belongs to another key group.
    ///
    /// # Errors
    /// [`FormatError::SerializerMismatch`], [`FormatError::KeyGroupNotInCheckpoint`],
    /// [`FormatError::KeyGroupChecksum`], [`FormatError::Decode`] (with the serializer's [`DecodeError`] as source),
    /// [`FormatError::WrongKeyGroup`] or [`FormatError::TrailingBytes`].
    ///
    /// [`DecodeError`]: crate::serializer::DecodeError
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::format::{write_checkpoint, Checkpoint, WriteOptions};
    /// use cow_state_table::keygroup::KeyGroupContext;
    /// use cow_state_table::serializer::{Serializers, StringSerializer, U32Serializer, VoidNamespace, VoidNamespaceSerializer};
    /// let sers = Serializers::new(StringSerializer, VoidNamespaceSerializer, U32Serializer);
    /// let mut table: StateTable<String, VoidNamespace, u32> = StateTable::new();
    /// table.put("hello".to_string(), VoidNamespace, 7);
    /// let ctx = KeyGroupContext::all(4)?;
    /// let mut bytes = Vec::new();
    /// write_checkpoint(&table.snapshot()?, ctx, &sers, WriteOptions::default(), &mut bytes)?;
    /// let checkpoint = Checkpoint::parse(&bytes)?;
    /// let kg = ctx.key_group_of("hello");
    /// assert_eq!(checkpoint.read_key_group(kg, &sers)?, vec![("hello".to_string(), VoidNamespace, 7)]);
    /// assert!(checkpoint.read_key_group(99, &sers).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_key_group<KS, NS, SS>(
        &self,
        key_group: u32,
        serializers: &Serializers<KS, NS, SS>,
    ) -> Result<DecodedEntries<KS, NS, SS>, FormatError>
    where
        KS: KeySerializer,
        NS: NamespaceSerializer,
        SS: TypeSerializer,
    {
        self.check_serializers(serializers)?;
        let mut out = Vec::new();
        self.read_key_group_into(key_group, serializers, &mut out)?;
        Ok(out)
    }

    /// Decodes every key group of the checkpoint, in key-group order.
    ///
    /// # Errors
    /// As [`Checkpoint::read_key_group`], for the first key group that fails.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::format::{write_checkpoint, Checkpoint, WriteOptions};
    /// use cow_state_table::keygroup::KeyGroupContext;
    /// use cow_state_table::serializer::{Serializers, StringSerializer, U32Serializer, VoidNamespace, VoidNamespaceSerializer};
    /// let sers = Serializers::new(StringSerializer, VoidNamespaceSerializer, U32Serializer);
    /// let mut table: StateTable<String, VoidNamespace, u32> = StateTable::new();
    /// table.put("hello".to_string(), VoidNamespace, 7);
    /// let ctx = KeyGroupContext::all(4)?;
    /// let mut bytes = Vec::new();
    /// write_checkpoint(&table.snapshot()?, ctx, &sers, WriteOptions::default(), &mut bytes)?;
    /// assert_eq!(Checkpoint::parse(&bytes)?.read_all(&sers)?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_all<KS, NS, SS>(
        &self,
        serializers: &Serializers<KS, NS, SS>,
    ) -> Result<DecodedEntries<KS, NS, SS>, FormatError>
    where
        KS: KeySerializer,
        NS: NamespaceSerializer,
        SS: TypeSerializer,
    {
        self.check_serializers(serializers)?;
        let mut out = Vec::new();
        for key_group in self.key_groups() {
            self.read_key_group_into(key_group, serializers, &mut out)?;
        }
        Ok(out)
    }

    /// Like [`read_key_group`](Self::read_key_group), appending to `out`, without the serializer check.
    pub(crate) fn read_key_group_into<KS, NS, SS>(
        &self,
        key_group: u32,
        serializers: &Serializers<KS, NS, SS>,
        out: &mut DecodedEntries<KS, NS, SS>,
    ) -> Result<(), FormatError>
    where
        KS: KeySerializer,
        NS: NamespaceSerializer,
        SS: TypeSerializer,
    {
        let range = self.key_groups();
        let index = range
            .index_of(key_group)
            .ok_or(FormatError::KeyGroupNotInCheckpoint { key_group, range })?;
        let block = self.blocks[index as usize];
        // Parsing checked that every block lies within the input.
        let body = &self.bytes[block.offset as usize..(block.offset + block.length) as usize];
        let computed = crc32c::crc32c(body);
        if computed != block.crc32c {
            return Err(FormatError::KeyGroupChecksum {
                key_group,
                offset: block.offset,
                stored: block.crc32c,
                computed,
            });
        }
        let mut input = Input::with_base(body, block.offset);
        read_body(
            self.header.body_format,
            &mut input,
            key_group,
            self.header.context,
            serializers,
            out,
        )
    }
}

impl fmt::Debug for Checkpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("len", &self.bytes.len())
            .field("header", &self.header)
            .field("blocks", &self.blocks.len())
            .finish()
    }
}
