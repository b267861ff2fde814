#!/usr/bin/env python3
"""Validate STIX objects with the OASIS stix2-validator and every indicator
pattern with stix2-patterns.

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

from stix2patterns.validator import run_validator
from stix2validator import ValidationOptions, validate_instance

VERSION = "2.1"


def check(line):
    obj = json.loads(line)
    opts = ValidationOptions(version=VERSION, silent=True)
    res = validate_instance(obj, opts)
    errors = [str(e) for e in res.errors]
    warnings = [str(w) for w in res.warnings]
    if obj.get("type") == "indicator" and "pattern" in obj:
        for e in run_validator(obj["pattern"], stix_version=VERSION) or []:
            errors.append(f"pattern {obj['pattern']!r}: {e}")
    return obj.get("id", "?"), errors, warnings


def init(version):
    global VERSION
    VERSION = version


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="2.1", choices=["2.0", "2.1"])
    ap.add_argument("--jobs", type=int, default=multiprocessing.cpu_count())
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
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
