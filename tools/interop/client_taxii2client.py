#!/usr/bin/env python3
"""One poll of a collection with the OASIS taxii2-client, the way a script
built on it polls incrementally: discovery → api roots → the collection,
then `as_pages(col.get_objects, per_request=N, added_after=<cursor>)`, and
the next cursor from the last `X-TAXII-Date-Added-Last` header (the library
does not return headers, so a `requests` response hook on its session reads
them). Used by tests/it/clients.rs, once per feed generation.

    client_taxii2client.py --url http://127.0.0.1:PORT/taxii2/ --version 21 \
        --collection ID --per-request 40 --state state.json

Prints one JSON object: {"seen": [[id, modified], ...], "requests": N,
"cursor": "..."}; `--state` keeps the cursor between runs (created when
missing).
"""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--version", choices=["20", "21"], required=True)
    ap.add_argument("--collection", required=True)
    ap.add_argument("--per-request", type=int, default=40)
    ap.add_argument("--state", required=True)
    a = ap.parse_args()
    if a.version == "20":
        from taxii2client.v20 import Server, as_pages
    else:
        from taxii2client.v21 import Server, as_pages

    state = {}
    if os.path.exists(a.state):
        with open(a.state, encoding="utf-8") as f:
            state = json.load(f)
    cursor = state.get("cursor")

    server = Server(a.url)
    col = None
    for root in server.api_roots:
        for c in root.collections:
            if c.id == a.collection:
                col = c
    if col is None:
        print(f"collection {a.collection} not listed", file=sys.stderr)
        sys.exit(1)

    last = {"value": None, "requests": 0}

    def hook(resp, *args, **kwargs):
        if "/objects/" in resp.url:
            last["requests"] += 1
            h = resp.headers.get("X-TAXII-Date-Added-Last")
            if h:
                last["value"] = h

    col._conn.session.hooks["response"].append(hook)
    kw = {"added_after": cursor} if cursor else {}
    seen = []
    for page in as_pages(col.get_objects, per_request=a.per_request, **kw):
        for o in page.get("objects", []):
            seen.append([o["id"], o.get("modified") or o.get("created")])
        if last["requests"] > 10000:
            raise RuntimeError("runaway paging")
    cursor = last["value"] or cursor
    with open(a.state, "w", encoding="utf-8") as f:
        json.dump({"cursor": cursor}, f)
    json.dump({"seen": seen, "requests": last["requests"], "cursor": cursor}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
