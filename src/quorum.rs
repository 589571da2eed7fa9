//! Majority arithmetic, in one place: whether a set of voting servers keeps (or can make)
//! a serving majority.
//!
//! ZooKeeper serves only while a majority of its voters (participants) are up and in touch
//! with each other, so every rule that takes a voter out (a leaving unit, the leader
//! removing a departed unit's server) or waits for one to come back (an upgraded server)
//! asks the same question: how many of the voters that would count serve?

use std::collections::BTreeSet;

/// The smallest majority of `n` voters.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Whether `serving` of `voters` voters is a majority.
pub fn is_majority(serving: usize, voters: usize) -> bool {
    serving >= majority(voters)
}

/// Whether the voters without `leaving` keep a serving majority: at least one stays, and a
/// majority of the ones that stay serve (`serves` tells). The last voter never leaves.
pub fn keeps_majority_without(
    voters: &BTreeSet<u32>,
    leaving: u32,
    serves: impl Fn(u32) -> bool,
) -> bool {
    let remaining: Vec<u32> = voters.iter().copied().filter(|v| *v != leaving).collect();
    let serving = remaining.iter().filter(|v| serves(**v)).count();
    !remaining.is_empty() && is_majority(serving, remaining.len())
}

/// The voters other than `me` that do not serve, when too few of the others serve to make
/// a majority together with `me` (counted as a voter whatever `voters` says): then `me`'s
/// server cannot rejoin a quorum whatever it runs. `None` when it could.
pub fn out_of_reach_without(
    voters: &BTreeSet<u32>,
    me: u32,
    serves: impl Fn(u32) -> bool,
) -> Option<Vec<u32>> {
    let mut all = voters.clone();
    all.insert(me);
    let down: Vec<u32> = all
        .iter()
        .copied()
        .filter(|id| *id != me && !serves(*id))
        .collect();
    let serving_with_me = all.len() - down.len();
    (!is_majority(serving_with_me, all.len())).then_some(down)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u32]) -> BTreeSet<u32> {
        ids.iter().copied().collect()
    }

    #[test]
    fn majorities_of_small_ensembles() {
        // (voters, serving, majority?)
        let table = [
            (1, 0, false),
            (1, 1, true),
            (2, 1, false),
            (2, 2, true),
            (3, 1, false),
            (3, 2, true),
            (4, 2, false),
            (4, 3, true),
            (5, 2, false),
            (5, 3, true),
            (7, 3, false),
            (7, 4, true),
        ];
        for (voters, serving, expected) in table {
            assert_eq!(
                is_majority(serving, voters),
                expected,
                "{serving} of {voters}"
            );
        }
        assert_eq!(majority(0), 1, "no voters are never a majority");
    }

    #[test]
    fn a_voter_leaves_only_while_the_rest_keep_a_serving_majority() {
        // (voters, serving, leaving, keeps?)
        let table: [(&[u32], &[u32], u32, bool); 8] = [
            (&[0, 1, 2], &[0, 1, 2], 2, true),
            (&[0, 1, 2], &[0, 2], 2, false), // 0 and 1 remain, only 0 serves
            (&[0, 1, 2], &[0, 1], 2, true),
            (&[0, 1], &[0, 1], 1, true),
            (&[0, 1], &[1], 1, false),
            (&[0], &[0], 0, false),            // the last voter
            (&[0, 1, 2, 3], &[0, 1], 3, true), // 2 of 3 remaining serve
            (&[0, 1, 2, 3, 4], &[0, 1], 4, false),
        ];
        for (voters, serving, leaving, expected) in table {
            let serving = set(serving);
            assert_eq!(
                keeps_majority_without(&set(voters), leaving, |v| serving.contains(&v)),
                expected,
                "voters {voters:?}, serving {serving:?}, {leaving} leaves"
            );
        }
    }

    #[test]
    fn a_server_is_out_of_reach_when_the_others_cannot_make_a_majority_with_it() {
        // (voters, serving others, me, down others if out of reach)
        type Row = (&'static [u32], &'static [u32], u32, Option<Vec<u32>>);
        let table: [Row; 6] = [
            (&[0, 1], &[], 0, Some(vec![1])),
            (&[0, 1], &[1], 0, None),
            (&[0, 1, 2], &[], 0, Some(vec![1, 2])),
            (&[0, 1, 2], &[2], 0, None),
            (&[1, 2], &[], 0, Some(vec![1, 2])), // me counts even if not a voter
            (&[], &[], 0, None),                 // alone: a majority of one
        ];
        for (voters, serving, me, expected) in table {
            let serving = set(serving);
            assert_eq!(
                out_of_reach_without(&set(voters), me, |v| serving.contains(&v)),
                expected,
                "voters {voters:?}, serving {serving:?}"
            );
        }
    }
}
