//! The meta section's entries: [`StateKind`] and [`StateMeta`].

/// Kind of a registered state, as written in the meta section.
///
/// Flink: `StateDescriptor.Type`; the code on the wire is the Java enum's ordinal (`UNKNOWN` = 0 is never
/// written), so `VALUE` = 1 … `MAP` = 6 as in Flink's serialization proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StateKind {
    /// `ValueState` (Flink `HeapValueState`), code 1.
    Value,
    /// `ListState` (Flink `HeapListState`), code 2.
    List,
    /// `ReducingState` (Flink `HeapReducingState`), code 3.
    Reducing,
    /// `FoldingState` (Flink `HeapFoldingState`, deprecated in Flink), code 4.
    Folding,
    /// `AggregatingState` (Flink `HeapAggregatingState`), code 5.
    Aggregating,
    /// `MapState` (Flink `HeapMapState`), code 6.
    Map,
}

impl StateKind {
    /// Every kind, in code order.
    pub const ALL: [StateKind; 6] = [
        StateKind::Value,
        StateKind::List,
        StateKind::Reducing,
        StateKind::Folding,
        StateKind::Aggregating,
        StateKind::Map,
    ];

    /// The byte written in the meta section (Flink's `StateDescriptor.Type` ordinal).
    ///
    /// ```
    /// use cow_state_table::backend::stream::StateKind;
    /// assert_eq!(StateKind::Value.code(), 1);
    /// assert_eq!(StateKind::from_code(6), Some(StateKind::Map));
    /// assert_eq!(StateKind::from_code(0), None); // Flink's UNKNOWN is never written
    /// ```
    pub fn code(self) -> u8 {
        match self {
            StateKind::Value => 1,
            StateKind::List => 2,
            StateKind::Reducing => 3,
            StateKind::Folding => 4,
            StateKind::Aggregating => 5,
            StateKind::Map => 6,
        }
    }

    /// The kind written as `code`, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// A lower-case name: `value`, `list`, `reducing`, `folding`, `aggregating`, `map`.
    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Value => "value",
            StateKind::List => "list",
            StateKind::Reducing => "reducing",
            StateKind::Folding => "folding",
            StateKind::Aggregating => "aggregating",
            StateKind::Map => "map",
        }
    }
}

impl core::fmt::Display for StateKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One state's entry in the meta section: its id in the key-group section, its name, kind and the identities of
/// its namespace and state serializers.
///
/// Flink: `RegisteredKeyedBackendStateMetaInfo.Snapshot` as written by `KeyedBackendSerializationProxy` (state
/// type, name, namespace and state serializers), plus the `kvStateId` that Flink derives from the position in
/// that list.
///
/// ```
/// use cow_state_table::backend::stream::{StateKind, StateMeta};
/// let m = StateMeta::new(0, "count", StateKind::Value, "void", "i64");
/// assert_eq!((m.id, m.name.as_str(), m.kind), (0, "count", StateKind::Value));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct StateMeta {
    /// The `short` written before each of this state's bodies (`0..=32767`, unique in a stream).
    pub id: u16,
    /// The state's name (unique in a stream; at most 65535 bytes of UTF-8).
    pub name: String,
    /// The state's kind.
    pub kind: StateKind,
    /// Identity of the namespace serializer ([`TypeSerializer::identity`](crate::serializer::TypeSerializer::identity)).
    pub namespace_serializer: String,
    /// Identity of the state serializer.
    pub state_serializer: String,
}

impl StateMeta {
    /// A meta entry.
    pub fn new(
        id: u16,
        name: impl Into<String>,
        kind: StateKind,
        namespace_serializer: impl Into<String>,
        state_serializer: impl Into<String>,
    ) -> Self {
        StateMeta {
            id,
            name: name.into(),
            kind,
            namespace_serializer: namespace_serializer.into(),
            state_serializer: state_serializer.into(),
        }
    }
}
