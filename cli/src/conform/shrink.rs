//! Delta debugging (Zeller's ddmin) of a failing operation sequence, then single-operation removal until no
//! operation can be dropped (1-minimal).

/// Shrinks `ops`, for which `fails` holds, to a 1-minimal subsequence for which it still holds. `fails` is
/// called at most `budget` times; the best sequence found so far is returned when the budget runs out.
pub fn shrink<T: Clone, E>(
    ops: Vec<T>,
    budget: usize,
    mut fails: impl FnMut(&[T]) -> Result<bool, E>,
) -> Result<(Vec<T>, usize), E> {
    let mut runs = 0usize;
    let mut current = ops;
    let mut n = 2usize;
    let mut test = |c: &[T], runs: &mut usize| -> Result<bool, E> {
        *runs += 1;
        fails(c)
    };
    // ddmin: try each chunk's complement (and each chunk) at granularity n.
    while current.len() >= 2 && runs < budget {
        let chunk = current.len().div_ceil(n);
        // The reduced sequence and the granularity to go on with, if one was found.
        let mut found = None;
        for i in 0..n {
            let (lo, hi) = (i * chunk, ((i + 1) * chunk).min(current.len()));
            if lo >= hi || runs >= budget {
                continue;
            }
            let complement: Vec<T> = current[..lo].iter().chain(&current[hi..]).cloned().collect();
            if test(&complement, &mut runs)? {
                found = Some((complement, (n - 1).max(2)));
                break;
            }
            let part = current[lo..hi].to_vec();
            if n > 2 && test(&part, &mut runs)? {
                found = Some((part, 2));
                break;
            }
        }
        let reduced = found.is_some();
        if let Some((smaller, granularity)) = found {
            current = smaller;
            n = granularity;
        }
        if !reduced {
            if n >= current.len() {
                break;
            }
            n = (2 * n).min(current.len());
        }
    }
    // 1-minimality: no single operation can be removed.
    let mut i = 0;
    while i < current.len() && runs < budget {
        let mut candidate = current.clone();
        candidate.remove(i);
        if test(&candidate, &mut runs)? {
            current = candidate;
        } else {
            i += 1;
        }
    }
    Ok((current, runs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_two_culprits() {
        let ops: Vec<u32> = (0..100).collect();
        let (min, runs) = shrink(ops, 10_000, |c: &[u32]| Ok::<_, ()>(c.contains(&17) && c.contains(&83))).unwrap();
        assert_eq!(min, vec![17, 83]);
        assert!(runs < 200, "{runs} runs");
    }

    #[test]
    fn keeps_order_dependent_failures() {
        // Fails when a 5 comes before a 9 somewhere.
        let ops = vec![9, 1, 5, 2, 9, 3];
        let fails = |c: &[u32]| Ok::<_, ()>(c.iter().position(|&x| x == 5).is_some_and(|p| c[p..].contains(&9)));
        let (min, _) = shrink(ops, 1000, fails).unwrap();
        assert_eq!(min, vec![5, 9]);
    }
}
