"""What paging a search costs an OpenSearch node, by the tiebreaker of its order.

    python3 dev/bench-paging.py [DOCS] [DAYS]     (default 1,000,000 documents over 10 daily indices)

Needs a running node (FIRESIGHT_TEST_OPENSEARCH_URL, default http://127.0.0.1:9201, as dev/services.sh
starts it). Writes DOCS small documents into DAYS one-shard indices `bench-paging-<n>` sorted like
firesight's daily indices (`index.sort.field: @timestamp`, descending), ten a second so timestamps tie
as second-resolution access logs do, ids of 20 random characters (a fixed seed) as `_id` and as the
keyword `event.id`. Then for each tiebreaker after `@timestamp` (`event.id`, what firesight sorts by when
every matched document has one; `_id`, documents written before; `_index` + `_seq_no` for comparison)
and each order it measures the first page cold and warm, 50 pages of `search_after`, and the `_id`
field data the node holds afterwards; and the check a first page makes for documents without
`event.id`. The indices are deleted at the end.
"""

import json
import os
import random
import statistics
import string
import sys
import time
import urllib.request

URL = os.environ.get("FIRESIGHT_TEST_OPENSEARCH_URL", "http://127.0.0.1:9201").rstrip("/")
DOCS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
DAYS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
PATTERN = "bench-paging-*"
PAGE = 100
START_MS = 1_431_820_800_000  # 2015-05-17T00:00:00Z


def call(method, path, body=None, ndjson=False):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    ctype = "application/x-ndjson" if ndjson else "application/json"
    request = urllib.request.Request(URL + path, data=data, method=method, headers={"content-type": ctype})
    with urllib.request.urlopen(request, timeout=300) as answer:
        return json.load(answer)


def load():
    call("DELETE", f"/{PATTERN}")
    per_day = -(-DOCS // DAYS)
    for day in range(DAYS):
        call("PUT", f"/bench-paging-{day:02}", {
            "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": -1,
                         "sort.field": ["@timestamp"], "sort.order": ["desc"]},
            "mappings": {"properties": {"@timestamp": {"type": "date"}, "n": {"type": "long"},
                                        "event": {"properties": {"id": {"type": "keyword"}}}}},
        })
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_"
    for start in range(0, DOCS, 20_000):
        lines = []
        for n in range(start, min(start + 20_000, DOCS)):
            doc_id = "".join(rng.choice(alphabet) for _ in range(20))
            lines.append(json.dumps({"create": {"_index": f"bench-paging-{n // per_day:02}", "_id": doc_id}}))
            lines.append(json.dumps({"@timestamp": START_MS + (n // 10) * 1000, "n": n, "event": {"id": doc_id}}))
        answer = call("POST", "/_bulk", ("\n".join(lines) + "\n").encode(), ndjson=True)
        assert not answer["errors"], "bulk errors"
    call("POST", f"/{PATTERN}/_refresh")
    call("POST", f"/{PATTERN}/_forcemerge?max_num_segments=1")


def id_fielddata():
    stats = call("GET", f"/{PATTERN}/_stats/fielddata?fields=_id")
    return stats["_all"]["total"]["fielddata"]["memory_size_in_bytes"]


def search(tiebreak, order, after=None):
    body = {
        "size": PAGE + 1,
        "_source": False,
        "track_total_hits": False,
        "sort": [{"@timestamp": {"order": order}}] + [{f: {"order": order}} for f in tiebreak],
    }
    if after is not None:
        body["search_after"] = after
    started = time.perf_counter()
    answer = call("POST", f"/{PATTERN}/_search", body)
    elapsed = (time.perf_counter() - started) * 1000
    hits = answer["hits"]["hits"]
    return elapsed, hits[min(PAGE, len(hits)) - 1]["sort"], [h["_id"] for h in hits[:PAGE]]


def measure(tiebreak, order):
    call("POST", f"/{PATTERN}/_cache/clear?fielddata=true&request=true")
    cold, _, _ = search(tiebreak, order)
    warm = statistics.median(search(tiebreak, order)[0] for _ in range(20))
    after, seen, pages = None, set(), []
    for _ in range(50):
        elapsed, after, ids = search(tiebreak, order, after)
        pages.append(elapsed)
        seen.update(ids)
    assert len(seen) == 50 * PAGE, f"{tiebreak}: {len(seen)} distinct ids in 50 pages"
    return cold, warm, statistics.median(pages), id_fielddata()


def main():
    started = time.perf_counter()
    load()
    print(f"{DOCS:,} documents in {DAYS} one-shard indices, loaded in {time.perf_counter() - started:.0f} s")
    print("| order | tiebreaker | first page, cold | first page, warm (median of 20) | next pages (median of 50) "
          "| `_id` field data afterwards |")
    print("|---|---|---|---|---|---|")
    for order in ("desc", "asc"):
        for tiebreak in (["event.id"], ["_id"], ["_index", "_seq_no"]):
            cold, warm, pages, heap = measure(tiebreak, order)
            print(f"| {order} | {' + '.join(f'`{f}`' for f in tiebreak)} | {cold:.1f} ms | {warm:.1f} ms "
                  f"| {pages:.1f} ms | {heap / 1_048_576:.1f} MiB ({heap / DOCS:.1f} bytes a document) |")
    check = {"size": 0, "terminate_after": 1, "track_total_hits": True, "query": {"bool": {
        "filter": [{"range": {"@timestamp": {"gte": START_MS}}}],
        "must_not": [{"exists": {"field": "event.id"}}]}}}
    times = []
    for _ in range(21):
        started = time.perf_counter()
        answer = call("POST", f"/{PATTERN}/_search", check)
        times.append((time.perf_counter() - started) * 1000)
    assert answer["hits"]["total"]["value"] == 0
    print(f"the check for documents without `event.id`: first {times[0]:.1f} ms, "
          f"then median {statistics.median(times[1:]):.1f} ms")
    call("DELETE", f"/{PATTERN}")


if __name__ == "__main__":
    main()
