//! Which leases a replica takes, from the lease table alone (the Kinesis Client Library's even-share
//! rule): every replica that holds a live lease counts, plus this one; each aims at
//! `ceil(readable shards / replicas)`. A replica under its share takes free or expired leases first and
//! otherwise takes one lease from the replica holding the most, if that one is over the share. One lease
//! a round, so replicas converge without taking the same shard back and forth.
//!
//! A shard is readable once its parents are read to their end (or are gone from the table): a split or
//! merge never lets a child overtake the records of its parent.

use std::collections::{BTreeMap, HashSet};

use super::leases::Lease;

/// What this replica should do this round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Free or expired leases to take, in order.
    pub take: Vec<Lease>,
    /// A lease to take from a busier replica.
    pub steal: Option<Lease>,
}

/// Plans this replica's round over `leases` (every stream's).
pub fn plan(leases: &[Lease], me: &str, now_ms: i64) -> Plan {
    let ids: HashSet<(&str, &str)> = leases.iter().map(|l| (l.stream_arn.as_str(), l.shard_id.as_str())).collect();
    let finished: HashSet<(&str, &str)> =
        leases.iter().filter(|l| l.is_finished()).map(|l| (l.stream_arn.as_str(), l.shard_id.as_str())).collect();
    let readable: Vec<&Lease> = leases
        .iter()
        .filter(|l| !l.is_finished())
        .filter(|l| {
            l.parents.iter().all(|p| {
                let key = (l.stream_arn.as_str(), p.as_str());
                finished.contains(&key) || !ids.contains(&key)
            })
        })
        .collect();

    let mut held: BTreeMap<&str, usize> = BTreeMap::new();
    held.insert(me, 0);
    for lease in readable.iter().filter(|l| l.is_held(now_ms)) {
        *held.entry(lease.owner.as_deref().unwrap_or_default()).or_default() += 1;
    }
    let replicas = held.len();
    let share = readable.len().div_ceil(replicas);
    let mine = held[me];
    if mine >= share {
        return Plan::default();
    }

    let take: Vec<Lease> =
        readable.iter().filter(|l| !l.is_held(now_ms)).take(share - mine).map(|l| (*l).clone()).collect();
    if !take.is_empty() {
        return Plan { take, steal: None };
    }
    // Nothing free: one lease from the busiest replica, when it holds more than its share.
    let busiest = held.iter().filter(|(owner, _)| **owner != me).max_by_key(|(owner, count)| (**count, *owner));
    let steal = busiest.filter(|(_, count)| **count > share).and_then(|(owner, _)| {
        readable.iter().rfind(|l| l.is_held(now_ms) && l.owner.as_deref() == Some(*owner)).map(|l| (*l).clone())
    });
    Plan { take: Vec::new(), steal }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinesis::leases::SHARD_END;

    fn lease(shard: &str, owner: Option<&str>, expires_at_ms: i64) -> Lease {
        Lease {
            stream_arn: "arn".into(),
            shard_id: shard.into(),
            parents: Vec::new(),
            owner: owner.map(str::to_owned),
            counter: 1,
            expires_at_ms,
            checkpoint: None,
            sub_checkpoint: None,
            checkpoint_at_ms: None,
        }
    }

    fn shards(plan: &Plan) -> Vec<&str> {
        plan.take.iter().chain(&plan.steal).map(|l| l.shard_id.as_str()).collect()
    }

    #[test]
    fn a_lone_replica_takes_everything_readable() {
        let leases = vec![lease("s0", None, 0), lease("s1", Some("gone"), 50), lease("s2", None, 0)];
        assert_eq!(shards(&plan(&leases, "me", 100)), ["s0", "s1", "s2"]);
    }

    #[test]
    fn a_newcomer_takes_one_lease_from_the_busiest_until_even() {
        let mut leases: Vec<Lease> = (0..4).map(|i| lease(&format!("s{i}"), Some("a"), 1000)).collect();
        let first = plan(&leases, "b", 100);
        assert_eq!(shards(&first), ["s3"]);
        leases[3].owner = Some("b".into());
        assert_eq!(shards(&plan(&leases, "b", 100)), ["s2"]);
        leases[2].owner = Some("b".into());
        assert_eq!(plan(&leases, "b", 100), Plan::default(), "two each");
        assert_eq!(plan(&leases, "a", 100), Plan::default());
    }

    #[test]
    fn an_uneven_count_is_not_stolen_back_and_forth() {
        let leases = vec![lease("s0", Some("a"), 1000), lease("s1", Some("a"), 1000), lease("s2", Some("b"), 1000)];
        assert_eq!(plan(&leases, "a", 100), Plan::default());
        assert_eq!(plan(&leases, "b", 100), Plan::default());
    }

    #[test]
    fn children_wait_for_their_parents() {
        let mut parent = lease("s0", None, 0);
        let mut child = lease("s2", None, 0);
        child.parents = vec!["s0".into(), "s1".into()]; // s1 is gone from the table: past retention
        assert_eq!(shards(&plan(&[parent.clone(), child.clone()], "me", 100)), ["s0"]);
        parent.checkpoint = Some(SHARD_END.into());
        assert_eq!(shards(&plan(&[parent, child.clone()], "me", 100)), ["s2"]);
        child.parents = vec!["s9".into()];
        assert_eq!(shards(&plan(&[child], "me", 100)), ["s2"]);
    }
}
