//! Comparing what was read (a snapshot, a restored table) with the model captured at the same moment.

use super::model::Cell;
use cow_state_table::keygroup::KeyGroupRange;

/// The first key group of `range` whose cell differs from the model's, and any entry outside `range`, as a
/// message; `what` names the thing read (e.g. "state 1, snapshot 17").
pub fn compare(what: &str, expected: &[Cell], got: &[Cell], range: KeyGroupRange) -> Result<(), String> {
    for (kg, (e, g)) in expected.iter().zip(got).enumerate() {
        let kg = kg as u32;
        let want = if range.contains(kg) { *e } else { Cell::default() };
        if want != *g {
            return Err(format!(
                "{what}: key group {kg}{} holds {} entries with fingerprint {:#018x}, the model {} with {:#018x}",
                if range.contains(kg) {
                    ""
                } else {
                    " (outside the restored range)"
                },
                g.count,
                g.fingerprint,
                want.count,
                want.fingerprint
            ));
        }
    }
    Ok(())
}
