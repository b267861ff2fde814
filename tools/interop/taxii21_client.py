#!/usr/bin/env python3
"""Read a taxii-edge server with the OASIS taxii2-client (TAXII 2.1) and
compare what it gets with what the feed holds.

    taxii21_client.py --url http://127.0.0.1:PORT/taxii2/ --user U --password P --expect expect.json

expect.json (written by the Rust interop test from the feed file):
    {"title": "...", "max_page": 1000, "sizes": [1, 7, 100, 5000],
     "collections": {"<id>": {"ids": [...], "manifest": [[id, version], ...], "date_added": [...]}}}
`ids`/`manifest`/`date_added` list the latest version of every object in
date_added order (the default `match[version]=last`). Collections not listed
must not be readable by this user.

Checks, per readable collection and per page size: as_pages over objects and
manifest returns exactly the expected items in order, no loss, no duplicate,
one request per page; the same with added_after set to the middle item's
date_added returns exactly the items after it. Exit status 1 on any mismatch.
"""
import argparse
import json
import math
import sys

from taxii2client.v21 import Server, as_pages


def page_all(func, per_request, **kw):
    items, requests = [], 0
    for envelope in as_pages(func, per_request=per_request, **kw):
        requests += 1
        items.extend(envelope.get("objects", []))
        if requests > 100000:
            raise RuntimeError("runaway paging")
    return items, requests


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--expect", required=True)
    a = ap.parse_args()
    with open(a.expect, encoding="utf-8") as f:
        expect = json.load(f)
    problems = []
    checked = {}
    server = Server(a.url, user=a.user, password=a.password)
    if server.title != expect["title"]:
        problems.append(f"discovery title {server.title!r} != {expect['title']!r}")
    if server.default is None:
        problems.append("discovery has no default api root")
    seen = set()
    for root in server.api_roots:
        root.refresh()
        if "application/taxii+json;version=2.1" not in root.versions:
            problems.append(f"api root {root.url} versions {root.versions}")
        for col in root.collections:
            seen.add(col.id)
            want = expect["collections"].get(col.id)
            if not col.can_read:
                if want is not None:
                    problems.append(f"collection {col.id} should be readable")
                continue
            if want is None:
                problems.append(f"collection {col.id} is readable but should not be")
                continue
            if col.can_write:
                problems.append(f"collection {col.id} says can_write")
            report = {}
            ids, manifest, added = want["ids"], want["manifest"], want["date_added"]
            for n in expect["sizes"]:
                eff = min(n, expect["max_page"])
                got, reqs = page_all(col.get_objects, n)
                got_ids = [o["id"] for o in got]
                if got_ids != ids:
                    problems.append(
                        f"{col.id} objects per_request={n}: got {len(got_ids)} items "
                        f"({len(set(got_ids))} distinct), want {len(ids)}")
                want_reqs = max(1, math.ceil(len(ids) / eff))
                if reqs != want_reqs:
                    problems.append(f"{col.id} objects per_request={n}: {reqs} requests, want {want_reqs}")
                got, reqs = page_all(col.get_manifest, n)
                got_m = [[m["id"], m["version"]] for m in got]
                if got_m != manifest:
                    problems.append(f"{col.id} manifest per_request={n}: got {len(got_m)} want {len(manifest)}")
                for m in got:
                    if m.get("date_added") is None or not m.get("media_type", "").startswith("application/stix+json"):
                        problems.append(f"{col.id} manifest record incomplete: {m}")
                        break
                if ids:
                    mid = len(ids) // 2
                    got, _ = page_all(col.get_objects, n, added_after=added[mid])
                    if [o["id"] for o in got] != ids[mid + 1:]:
                        problems.append(f"{col.id} added_after per_request={n}: got {len(got)} want {len(ids) - mid - 1}")
                report[str(n)] = reqs
            checked[col.id] = {"objects": len(ids), "requests_by_size": report}
    for cid in expect["collections"]:
        if cid not in seen:
            problems.append(f"collection {cid} not listed")
    json.dump({"checked": checked, "problems": problems[:50]}, sys.stdout, indent=1)
    print()
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
