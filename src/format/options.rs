//! Write options: body format and entry order.

use super::header::BodyFormat;

/// The order of the entries inside one key group's body (Flink always writes the table's order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryOrder {
    /// The snapshot's iteration order (bucket order; depends on the table's hasher and history). Fastest.
    #[default]
    Snapshot,
    /// Sorted by the serialized namespace, then the serialized key (then the serialized state), each compared as
    /// unsigned bytes, shorter first on a common prefix. The bytes then depend only on the contents.
    Canonical,
}

/// Options of [`write_checkpoint`](super::write_checkpoint) (Flink: the state-table serialization version).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Body layout; [`BodyFormat::V2`] by default.
    pub body_format: BodyFormat,
    /// Entry order within a key group; ignored for [`BodyFormat::V1`], which is always canonical.
    pub order: EntryOrder,
}

impl WriteOptions {
    /// Options with the given body format and entry order.
    ///
    /// ```
    /// use cow_state_table::format::{BodyFormat, EntryOrder, WriteOptions};
    /// let o = WriteOptions::new(BodyFormat::V1, EntryOrder::Canonical);
    /// assert_eq!((o.body_format, o.order), (BodyFormat::V1, EntryOrder::Canonical));
    /// ```
    #[must_use]
    pub fn new(body_format: BodyFormat, order: EntryOrder) -> Self {
        WriteOptions { body_format, order }
    }

    /// These options with `body_format`.
    #[must_use]
    pub fn with_body_format(mut self, body_format: BodyFormat) -> Self {
        self.body_format = body_format;
        self
    }

    /// These options with `order`.
    #[must_use]
    pub fn with_order(mut self, order: EntryOrder) -> Self {
        self.order = order;
        self
    }

    /// V2 bodies in canonical order: reproducible bytes.
    pub fn canonical() -> Self {
        WriteOptions {
            body_format: BodyFormat::V2,
            order: EntryOrder::Canonical,
        }
    }
}
