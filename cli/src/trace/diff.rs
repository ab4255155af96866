//! Readable differences between an expected and an actual result, for `conform` and `trace replay`: lists of
//! entries and key-group bodies become a diff by key (missing, unexpected, different entries), never a JSON
//! value cut in the middle.
//!
//! ```text
//! 48 entries expected, 47 got: missing [3,1]=9
//! 2 entries expected, 2 got: unexpected [7,0]=5; missing [4,0]=5
//! 3 key groups expected, 3 got: different [12]: expected 4, got 3
//! ```

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A keyed view of a list result: `[[k.., v], ...]` → `k.. ↦ v`, or a V2 key-group body `(ns, key, state)`
/// rows → `[key, ns] ↦ state`. `None` when `v` is not such a list (or has duplicate keys).
fn keyed(v: &Value) -> Option<(BTreeMap<Vec<u64>, String>, &'static str)> {
    match v {
        Value::Array(rows) => {
            let mut map = BTreeMap::new();
            let mut what = "entries";
            for row in rows {
                let cells = row.as_array()?;
                let (value, key) = cells.split_last()?;
                if key.is_empty() {
                    return None;
                }
                if key.len() == 1 {
                    what = "key groups";
                }
                let key = key.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>()?;
                if map.insert(key, value.to_string()).is_some() {
                    return None;
                }
            }
            Some((map, what))
        }
        Value::String(hex) => {
            let bytes = unhex(hex)?;
            let (count, rows) = bytes.split_first_chunk::<4>()?;
            let count = usize::try_from(i32::from_be_bytes(*count)).ok()?;
            if rows.len() != count.checked_mul(20)? {
                return None;
            }
            let mut map = BTreeMap::new();
            for row in rows.chunks_exact(20) {
                let ns = u32::from_be_bytes(row[0..4].try_into().ok()?);
                let key = u64::from_be_bytes(row[4..12].try_into().ok()?);
                let state = u64::from_be_bytes(row[12..20].try_into().ok()?);
                if map.insert(vec![key, u64::from(ns)], state.to_string()).is_some() {
                    return None;
                }
            }
            Some((map, "body entries"))
        }
        _ => None,
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The difference between `expected` and `got` in words, complete (no part of either value is cut): for lists of
/// entries, key-group counts and key-group bodies, the entries missing, unexpected and different by key; for
/// anything else, both values.
pub fn difference(expected: &Value, got: &Value) -> String {
    let (Some((e, what)), Some((g, _))) = (keyed(expected), keyed(got)) else {
        return format!("expected {expected}, got {got}");
    };
    let name = |k: &Vec<u64>| {
        let parts: Vec<String> = k.iter().map(u64::to_string).collect();
        format!("[{}]", parts.join(","))
    };
    let mut missing = Vec::new();
    let mut different = Vec::new();
    for (key, v) in &e {
        let k = name(key);
        match g.get(key) {
            None => missing.push(format!("{k}={v}")),
            Some(w) if w != v => different.push(format!("{k}: expected {v}, got {w}")),
            Some(_) => {}
        }
    }
    let unexpected: Vec<String> = g
        .iter()
        .filter(|(k, _)| !e.contains_key(*k))
        .map(|(k, v)| format!("{}={v}", name(k)))
        .collect();
    let mut out = format!("{} {what} expected, {} got", e.len(), g.len());
    let mut sep = ':';
    for (name, list, join) in [
        ("missing", &missing, " "),
        ("unexpected", &unexpected, " "),
        ("different", &different, "; "),
    ] {
        if !list.is_empty() {
            let _ = write!(out, "{sep} {name} {}", list.join(join));
            sep = ';';
        }
    }
    if sep == ':' {
        // Same entries: the order (or the encoding) differs.
        let _ = write!(out, ", same entries in another order: expected {expected}, got {got}");
    }
    out
}

/// A short, stable name of a value's JSON type, for classifying divergences (`null`, `bool`, `number`, `string`,
/// `list`, `object`).
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entry_lists_are_diffed_by_key() {
        let e = json!([[1, 0, 5], [2, 0, 6], [3, 1, 7]]);
        let g = json!([[1, 0, 5], [3, 1, 8], [4, 0, 1]]);
        assert_eq!(
            difference(&e, &g),
            "3 entries expected, 3 got: missing [2,0]=6; unexpected [4,0]=1; different [3,1]: expected 7, got 8"
        );
        // Keys in numeric order, not text order.
        assert_eq!(
            difference(&json!([]), &json!([[10, 0, 1], [9, 0, 1]])),
            "0 entries expected, 2 got: unexpected [9,0]=1 [10,0]=1"
        );
        let long: Vec<Value> = (0..200).map(|k| json!([k, 0, k * 3])).collect();
        let mut short = long.clone();
        short.remove(117);
        let d = difference(&Value::Array(long), &Value::Array(short));
        assert_eq!(d, "200 entries expected, 199 got: missing [117,0]=351");
    }

    #[test]
    fn partitions_bodies_and_scalars() {
        assert_eq!(
            difference(&json!([[3, 2], [9, 1]]), &json!([[3, 2], [9, 2]])),
            "2 key groups expected, 2 got: different [9]: expected 1, got 2"
        );
        // One entry (ns 1, key 3, state 123) against none.
        let body = "00000001000000010000000000000003000000000000007b";
        assert_eq!(
            difference(&json!(body), &json!("00000000")),
            "1 body entries expected, 0 got: missing [3,1]=123"
        );
        assert_eq!(difference(&json!(1), &json!(null)), "expected 1, got null");
        assert_eq!(
            difference(&json!("zz"), &json!("00000000")),
            "expected \"zz\", got \"00000000\""
        );
        assert!(
            difference(&json!([[1, 0, 5], [2, 0, 6]]), &json!([[2, 0, 6], [1, 0, 5]]))
                .contains("same entries in another order")
        );
    }
}
