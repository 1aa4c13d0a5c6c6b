#!/usr/bin/env python3
"""Independent count of the crawlers in the sample log, for the expectations of crawlers.json.

Reads tests/fixtures/access_logs/elastic_examples_apache_logs.log with a regular expression of the
combined log format (not firesight's parser) and matches each line's user agent against the
patterns of crates/firesight-core/data/crawlers/crawler-user-agents.json with Python's `re`, by the
rules firesight documents: of the patterns that match, the longest match (in UTF-8 bytes) wins, the
earlier entry on a tie; the name is the most frequent text the pattern matches in its example agents
(trimmed of separators), then the one with the most capitals, then the first; the category comes from
categories.json. Prints the top crawlers, the categories, and the top crawlers of `search`.

Usage: python3 tests/scenarios/crawlers.py
"""
import collections
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "crates/firesight-core/data/crawlers"
LOG = ROOT / "tests/fixtures/access_logs/elastic_examples_apache_logs.log"
SEPARATORS = "/;:,.()+_-[]"
LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] "[^"]*" \d{3} \S+ "[^"]*" "(?P<ua>[^"]*)"')


def trim(text):
    return text.strip("".join(SEPARATORS) + " \t\r\n")


def literal(pattern):
    out, chars = [], iter(pattern)
    for c in chars:
        if c == "\\":
            out.append(next(chars, ""))
        elif c not in "^$":
            out.append(c)
    return "".join(out)


def name_of(regex, pattern, instances):
    counts = {}
    for ua in instances:
        m = regex.search(ua)
        if m and trim(m.group(0)):
            counts.setdefault(trim(m.group(0)), 0)
            counts[trim(m.group(0))] += 1
    if not counts:
        return trim(literal(pattern)) or pattern
    best = max(counts.items(), key=lambda kv: (kv[1], sum(c.isascii() and c.isupper() for c in kv[0])))
    return best[0]


def main():
    entries = json.loads((DATA / "crawler-user-agents.json").read_text())
    categories = json.loads((DATA / "categories.json").read_text())
    crawlers = []
    for e in entries:
        regex = re.compile(e["pattern"])
        category = categories["patterns"].get(e["pattern"])
        if category is None:
            category = next((t["category"] for t in categories["tags"] if t["tag"] in e.get("tags", [])), "other")
        crawlers.append((regex, name_of(regex, e["pattern"], e["instances"]), category))

    def find(ua):
        best = None
        for regex, name, category in crawlers:
            m = regex.search(ua)
            if m and (best is None or len(m.group(0).encode()) > best[0]):
                best = (len(m.group(0).encode()), name, category)
        return best and best[1:]

    total, by_name, by_category, search = 0, collections.Counter(), collections.Counter(), collections.Counter()
    cache = {}
    for line in LOG.read_bytes().decode("utf-8", "replace").splitlines():
        m = LINE.match(line)
        if not m:
            continue
        total += 1
        ua = m.group("ua")
        if ua not in cache:
            cache[ua] = find(ua) if ua != "-" else None
        found = cache[ua]
        if found:
            by_name[found[0]] += 1
            by_category[found[1]] += 1
            if found[1] == "search":
                search[found[0]] += 1
    top = lambda c, n: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    print(json.dumps({
        "lines": total,
        "with_crawler": sum(by_name.values()),
        "distinct": len(by_name),
        "top10": top(by_name, 10),
        "categories": top(by_category, 10),
        "search_total": sum(search.values()),
        "search_distinct": len(search),
        "search_top5": top(search, 5),
    }, indent=1))


if __name__ == "__main__":
    main()
