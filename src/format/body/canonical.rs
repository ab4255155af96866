//! Canonical entry order: entries serialized once, then sorted by their namespace, key and state bytes.

use crate::keygroup::EntryRef;
use crate::serializer::{SerializeError, Serializers, TypeSerializer};
use core::ops::Range;

/// One serialized entry in [`Encoded::buf`]: namespace, key and state bytes back to back.
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) namespace_end: usize,
    pub(super) key_end: usize,
    pub(super) end: usize,
}

/// The entries of one key group, serialized once and sorted canonically.
pub(super) struct Encoded {
    pub(super) buf: Vec<u8>,
    pub(super) spans: Vec<Span>,
}

impl Encoded {
    pub(super) fn sorted<K, N, S, KS, NS, SS>(
        entries: &[EntryRef<'_, K, N, S>],
        serializers: &Serializers<KS, NS, SS>,
    ) -> Result<Self, SerializeError>
    where
        KS: TypeSerializer<Value = K>,
        NS: TypeSerializer<Value = N>,
        SS: TypeSerializer<Value = S>,
    {
        let mut buf = Vec::new();
        let mut spans = Vec::with_capacity(entries.len());
        for &(k, n, s) in entries {
            let start = buf.len();
            serializers.namespace.serialize(n, &mut buf)?;
            let namespace_end = buf.len();
            serializers.key.serialize(k, &mut buf)?;
            let key_end = buf.len();
            serializers.state.serialize(s, &mut buf)?;
            spans.push(Span {
                start,
                namespace_end,
                key_end,
                end: buf.len(),
            });
        }
        let mut encoded = Encoded { buf, spans };
        let mut spans = core::mem::take(&mut encoded.spans);
        spans.sort_unstable_by(|a, b| {
            let buf = &encoded.buf;
            let parts = |e: &Span| {
                (
                    &buf[e.start..e.namespace_end],
                    &buf[e.namespace_end..e.key_end],
                    &buf[e.key_end..e.end],
                )
            };
            parts(a).cmp(&parts(b))
        });
        encoded.spans = spans;
        Ok(encoded)
    }

    pub(super) fn namespace(&self, e: &Span) -> &[u8] {
        &self.buf[e.start..e.namespace_end]
    }

    /// Index ranges of consecutive entries with equal namespace bytes.
    pub(super) fn namespace_runs(&self) -> Vec<Range<usize>> {
        let mut runs = Vec::new();
        let mut start = 0;
        for i in 1..=self.spans.len() {
            if i == self.spans.len() || self.namespace(&self.spans[i]) != self.namespace(&self.spans[start]) {
                runs.push(start..i);
                start = i;
            }
        }
        runs
    }
}
