//! The documented differences between this crate's structure and the seed's (docs/DESIGN.md, "Differences from
//! the seed, on purpose"; docs/PORTING.md §11) that a port may declare in its handshake (`"differences": [...]`).
//!
//! A port that keeps Flink's own `CopyOnWriteStateTable` algorithm differs from this crate *by design* in when
//! and how its incremental rehash moves entries, and it never shrinks. Declared, these differences are not
//! reported: the kit then takes `capacity` and `rehashing` from the structural simulation of
//! [`sim`](super::sim) with the same differences (and the port's hash) instead of from this crate's table, so
//! everything else of the structural level is still compared. They change nothing at the exact level.
//!
//! ```text
//! <- {"id":0,"result":{"level":"structural","hash":"flink","differences":["no-shrink","step-on-reads"]}}
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One difference of structure a port may declare (the seed's side of a row of DESIGN.md's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Difference {
    /// The table never shrinks (the seed's "the table only grows"; here: halves below 1/8 load).
    NoShrink,
    /// `get` and `contains` do a rehash step too (the seed's `get` "may do rehash steps"; here only writes do).
    StepOnReads,
    /// A rehash step moves whole buckets until at least 4 entries moved, with no limit on empty buckets scanned,
    /// and the rehash ends in the step whose bucket is the old table's last (Flink's `incrementalRehash`; here:
    /// up to 4 entries one at a time, up to 64 empty buckets, the end once the index passed the last bucket).
    WholeBucketSteps,
    /// During a rehash a new entry whose old bucket is the rehash index goes to the old table (Flink's
    /// `selectActiveTable`: `>= rehashIndex`; here: `<= rh` goes to the new one).
    InsertAtRehashIndexIntoOld,
}

const ALL: [Difference; 4] = [
    Difference::NoShrink,
    Difference::StepOnReads,
    Difference::WholeBucketSteps,
    Difference::InsertAtRehashIndexIntoOld,
];

impl Difference {
    /// The name used in handshakes.
    pub fn name(self) -> &'static str {
        match self {
            Difference::NoShrink => "no-shrink",
            Difference::StepOnReads => "step-on-reads",
            Difference::WholeBucketSteps => "whole-bucket-steps",
            Difference::InsertAtRehashIndexIntoOld => "insert-at-rehash-index-into-old",
        }
    }

    fn bit(self) -> u8 {
        1 << ALL.iter().position(|&d| d == self).unwrap_or(0)
    }
}

/// A set of declared [`Difference`]s (empty: the port claims this crate's structure exactly).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Differences(u8);

impl Differences {
    /// Whether `d` is declared.
    pub fn contains(self, d: Difference) -> bool {
        self.0 & d.bit() != 0
    }

    /// Whether none is declared.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set with `d` added.
    pub fn with(self, d: Difference) -> Self {
        Differences(self.0 | d.bit())
    }

    /// The declared ones, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = Difference> {
        ALL.into_iter().filter(move |&d| self.contains(d))
    }

    /// `no-shrink, step-on-reads`.
    pub fn names(self) -> String {
        self.iter().map(Difference::name).collect::<Vec<_>>().join(", ")
    }
}

impl FromIterator<Difference> for Differences {
    fn from_iter<I: IntoIterator<Item = Difference>>(iter: I) -> Self {
        iter.into_iter().fold(Differences::default(), Differences::with)
    }
}

impl Serialize for Differences {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Differences {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Difference>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_names_parse_and_unknown_ones_are_refused() {
        let d: Differences = serde_json::from_str(r#"["no-shrink", "step-on-reads"]"#).unwrap();
        assert!(d.contains(Difference::NoShrink) && d.contains(Difference::StepOnReads));
        assert!(!d.contains(Difference::WholeBucketSteps));
        assert_eq!(d.names(), "no-shrink, step-on-reads");
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"["no-shrink","step-on-reads"]"#);
        assert!(serde_json::from_str::<Differences>(r#"["faster"]"#).is_err());
        let all: Differences = ALL.into_iter().collect();
        assert_eq!(all.iter().count(), 4);
        for d in ALL {
            let one: Differences = serde_json::from_value(serde_json::json!([d.name()])).unwrap();
            assert_eq!(one.iter().collect::<Vec<_>>(), vec![d]);
        }
    }
}
