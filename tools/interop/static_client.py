#!/usr/bin/env python3
"""Read collections with the OASIS taxii2-client (TAXII 2.1) the way a
poller does, and print what it got as JSON, so a test can compare two
servers (taxii-edge serve, and nginx over a static export).

    static_client.py --base http://127.0.0.1:PORT/ --user U --password P --collection ID...

Per collection: `all` = every object (id, modified) from `as_pages` over
objects with the server's page size (no `limit` on the first request, as
pollers do); `after_middle` = the same with `added_after` set to the
middle manifest entry's date_added; `manifest` = (id, version) pairs.
"""
import argparse
import json
import sys

import requests

from taxii2client.v21 import Collection, as_pages


def pages(func, **kw):
    out, n = [], 0
    for envelope in as_pages(func, per_request=0, **kw):
        n += 1
        out.extend(envelope.get("objects", []))
        if n > 100000:
            raise RuntimeError("runaway paging")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--root", default="feeds")
    ap.add_argument("--collection", action="append", required=True)
    a = ap.parse_args()
    result = {}
    for cid in a.collection:
        url = f"{a.base}{a.root}/collections/{cid}/"
        col = Collection(url, user=a.user, password=a.password)
        objs = pages(col.get_objects)
        manifest = pages(col.get_manifest)
        mid = manifest[len(manifest) // 2]["date_added"] if manifest else None
        after = pages(col.get_objects, added_after=mid) if mid else []
        key = lambda o: [o["id"], o.get("modified", "")]
        result[cid] = {
            "all": [key(o) for o in objs],
            "after_middle": [key(o) for o in after],
            "manifest": [[m["id"], m["version"]] for m in manifest],
        }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    try:
        main()
    except requests.exceptions.HTTPError as e:
        sys.exit(f"{e}\n{e.response.text}")
