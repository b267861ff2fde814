#!/usr/bin/env python3
"""Validate STIX objects with the OASIS stix2-validator. The validator
checks every indicator pattern with stix2-patterns (its "patterns" MUST
check), so patterns are not parsed a second time here; a broken-pattern
control object proves that check is live on every run.

Input: files of STIX objects, one JSON object per line (NDJSON). Output: a
JSON report on stdout; exit status 1 when any object has a validation error
or any pattern does not parse.

    validate_stix.py --version 2.1 objects.ndjson [more.ndjson ...]
"""
import argparse
import collections
import json
import multiprocessing
import sys

from stix2validator import ValidationOptions, validate_instance

OPTIONS = None

# An indicator whose pattern is not STIX pattern syntax: must be refused.
CONTROL = {
    "type": "indicator",
    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "created": "2024-01-02T03:04:05.000Z",
    "modified": "2024-01-02T03:04:05.000Z",
    "pattern": "[ipv4-addr:value = '198.51.100.1'",
    "valid_from": "2024-01-02T03:04:05.000Z",
    "labels": ["malicious-activity"],
}


def check(line):
    obj = json.loads(line)
    res = validate_instance(obj, OPTIONS)
    errors = [str(e) for e in res.errors]
    warnings = [str(w) for w in res.warnings]
    return obj.get("id", "?"), errors, warnings


def init(version):
    global OPTIONS
    OPTIONS = ValidationOptions(version=version, silent=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="2.1", choices=["2.0", "2.1"])
    ap.add_argument("--jobs", type=int, default=multiprocessing.cpu_count())
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    control = dict(CONTROL)
    if a.version == "2.1":
        control.update(spec_version="2.1", pattern_type="stix")
        del control["labels"]
    init(a.version)
    if check(json.dumps(control))[1] == []:
        print("stix2-validator accepted the broken-pattern control object", file=sys.stderr)
        sys.exit(2)
    lines = []
    for f in a.files:
        with open(f, encoding="utf-8") as fh:
            lines.extend(l for l in fh if l.strip())
    failures = []
    warnings = collections.Counter()
    with multiprocessing.Pool(a.jobs, initializer=init, initargs=(a.version,)) as pool:
        for oid, errs, warns in pool.imap_unordered(check, lines, chunksize=256):
            if errs:
                failures.append({"id": oid, "errors": errs})
            for w in warns:
                # Count warnings by their text without the object-specific part.
                warnings[w.split(": ", 1)[-1][:160]] += 1
    report = {
        "version": a.version,
        "objects": len(lines),
        "invalid": len(failures),
        "failures": failures[:20],
        "warnings": dict(warnings.most_common(50)),
    }
    json.dump(report, sys.stdout, indent=1)
    print()
    sys.exit(1 if failures or not lines else 0)


if __name__ == "__main__":
    main()
