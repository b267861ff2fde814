#!/usr/bin/env python3
"""Read a taxii-edge server with the OASIS taxii2-client (TAXII 2.0 classes)
and compare what it gets with what the feed holds.

    taxii20_client.py --url http://127.0.0.1:PORT/taxii/ --user U --password P --expect expect.json

expect.json (written by the Rust interop test from the feed file):
    {"title": "...", "root_url": "http://127.0.0.1:PORT/feeds/", "max_page": 1000,
     "sizes": [1, 7, 100, 1500],
     "collections": {"<id>": {"objects": [[id, modified or created], ...],
                              "manifest": [[id, [version, ...]], ...],
                              "date_added": [...]}}}
`objects` lists the latest STIX 2.0 version of every object in date_added
order (TAXII 2.0's default `match[version]=last`); `manifest` the same ids
with their version lists. Collections not listed must not be readable over
TAXII 2.0 by this user.

Checks: discovery (title, absolute api_roots, default one of them), the api
root (versions), the collections; per readable collection and per page
size, `as_pages` over objects and manifest returns exactly the expected
items in order, no loss, no duplicate, one request per page (the client
adapts its page size to the first answer when the server clamps it); the
same with added_after set to the middle item's date_added returns exactly
the items after it; every answer is a STIX 2.0 bundle. Exit status 1 on any
mismatch.
"""
import argparse
import json
import math
import sys

from taxii2client.v20 import Server, as_pages


def page_all(func, per_request, **kw):
    pages, requests = [], 0
    for page in as_pages(func, per_request=per_request, **kw):
        requests += 1
        pages.append(page)
        if requests > 100000:
            raise RuntimeError("runaway paging")
    return pages, requests


def version_of(o):
    # Marking definitions have no `modified`.
    return o.get("modified") or o.get("created")


def want_requests(total, n, max_page):
    # as_pages adapts to the first answer only when the total exceeds the
    # request; the server clamps only then (docs/decisions.md#d15).
    eff = n if total <= n else min(n, max_page)
    return max(1, math.ceil(total / eff))


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
        problems.append("discovery default is not one of the api_roots")
    urls = [r.url for r in server.api_roots]
    if expect["root_url"] not in urls:
        problems.append(f"api_roots {urls} lack {expect['root_url']}")
    seen = set()
    max_page = expect["max_page"]
    for root in server.api_roots:
        root.refresh()
        if root.versions != ["taxii-2.0"]:
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
            if col.media_types != ["application/vnd.oasis.stix+json; version=2.0"]:
                problems.append(f"collection {col.id} media_types {col.media_types}")
            report = {}
            objects, manifest, added = want["objects"], want["manifest"], want["date_added"]
            total = len(objects)
            for n in expect["sizes"]:
                pages, reqs = page_all(col.get_objects, n)
                got = []
                for b in pages:
                    if b.get("type") != "bundle" or b.get("spec_version") != "2.0" or not b.get("id", "").startswith("bundle--"):
                        problems.append(f"{col.id} not a STIX 2.0 bundle: {str(b)[:200]}")
                        break
                    got.extend([o["id"], version_of(o)] for o in b.get("objects", []))
                if got != objects:
                    problems.append(
                        f"{col.id} objects per_request={n}: got {len(got)} items "
                        f"({len(set(g[0] for g in got))} distinct), want {total}")
                if reqs != want_requests(total, n, max_page):
                    problems.append(f"{col.id} objects per_request={n}: {reqs} requests, "
                                    f"want {want_requests(total, n, max_page)}")
                pages, reqs = page_all(col.get_manifest, n)
                got_m = []
                for m in pages:
                    for e in m.get("objects", []):
                        got_m.append([e["id"], e["versions"]])
                        if e.get("media_types") != ["application/vnd.oasis.stix+json; version=2.0"] or not e.get("date_added"):
                            problems.append(f"{col.id} manifest entry incomplete: {e}")
                if got_m != manifest:
                    problems.append(f"{col.id} manifest per_request={n}: got {len(got_m)} want {len(manifest)}")
                if reqs != want_requests(total, n, max_page):
                    problems.append(f"{col.id} manifest per_request={n}: {reqs} requests")
                if objects:
                    mid = total // 2
                    pages, _ = page_all(col.get_objects, n, added_after=added[mid])
                    got = [[o["id"], version_of(o)] for b in pages for o in b.get("objects", [])]
                    if got != objects[mid + 1:]:
                        problems.append(f"{col.id} added_after per_request={n}: got {len(got)} want {total - mid - 1}")
                report[str(n)] = reqs
            checked[col.id] = {"objects": total, "requests_by_size": report}
    for cid in expect["collections"]:
        if cid not in seen:
            problems.append(f"collection {cid} not listed")
    json.dump({"checked": checked, "problems": problems[:50]}, sys.stdout, indent=1)
    print()
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
