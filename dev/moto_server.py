"""moto_server, with Kinesis resharding as AWS documents it.

moto 5.2 departs from Kinesis in three ways that a consumer test of splits and merges trips over:
  - SplitShard moves the parent's records into the children (re-numbered), and MergeShards copies both
    parents' records into the child;
  - PutRecord(s) may still write to a closed parent (shards are matched by hash range whether open or not).
AWS's Kinesis Data Streams Developer Guide ("Resharding a stream", "Data routing, data persistence, and
shard state after a reshard") says instead: after a reshard the parent is CLOSED, its records stay in it
until they expire, and every new record goes to an open child. This launcher patches those two
behaviours and then runs moto's own server unchanged; everything else is moto's.
"""

import sys
from collections import OrderedDict

from moto.kinesis import models
from moto.kinesis.exceptions import InvalidArgumentError
from moto.utilities.utils import md5_hash
from moto.server import main

_split = models.Stream.split_shard
_merge = models.Stream.merge_shards


def split_shard(self, shard_to_split, new_starting_hash_key):
    parent = self.shards.get(shard_to_split)
    kept = parent.records if parent is not None else None
    before = set(self.shards)
    _split(self, shard_to_split, new_starting_hash_key)
    parent.records = kept
    for shard_id in set(self.shards) - before:
        self.shards[shard_id].records = OrderedDict()


def merge_shards(self, shard_to_merge, adjacent_shard_to_merge):
    before = set(self.shards)
    _merge(self, shard_to_merge, adjacent_shard_to_merge)
    for shard_id in set(self.shards) - before:
        self.shards[shard_id].records = OrderedDict()


def get_shard_for_key(self, partition_key, explicit_hash_key):
    if not isinstance(partition_key, str) or len(partition_key) > 256:
        raise InvalidArgumentError("partition_key")
    if explicit_hash_key:
        if not isinstance(explicit_hash_key, str):
            raise InvalidArgumentError("explicit_hash_key")
        key = int(explicit_hash_key)
        if key >= 2**128:
            raise InvalidArgumentError("explicit_hash_key")
    else:
        key = int(md5_hash(partition_key.encode("utf-8")).hexdigest(), 16)
    for shard in self.shards.values():
        if shard.is_open and shard.starting_hash <= key <= shard.ending_hash:
            return shard
    raise InvalidArgumentError("explicit_hash_key")


models.Stream.split_shard = split_shard
models.Stream.merge_shards = merge_shards
models.Stream.get_shard_for_key = get_shard_for_key

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
