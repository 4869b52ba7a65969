#!/usr/bin/env python3
"""Checks segmq's declared minimum Rust versions against its locked dependencies.

`rust-version` (Cargo.toml) must be at least the highest `rust-version` that any dependency of
the default features declares in Cargo.lock, and each optional feature's entry in
`[package.metadata.msrv]` must be at least what that feature's dependencies declare (and at
least `rust-version`). Only normal and build dependencies of this host count: dev-dependencies
never reach a user's build, and `cfg(loom)` ones are off.

One toolchain is installed here, so this compares the declarations, it does not build with the
old compiler; clippy's `incompatible_msrv` lint (on by default) checks the crate's own use of std
APIs against `rust-version`.

Usage: scripts/check-msrv.py  (from anywhere in the repository; needs cargo and Cargo.lock).
Exit status 1 names each declaration that is too low.
"""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def version(text):
    """'1.85' or '1.85.0' -> (1, 85, 0)."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def show(v):
    return ".".join(str(p) for p in v)


def host_triple():
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return next(line.split()[1] for line in out.splitlines() if line.startswith("host:"))


def metadata(features):
    cmd = ["cargo", "metadata", "--format-version", "1", "--locked",
           "--filter-platform", host_triple()]
    if features:
        cmd += ["--features", ",".join(features)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def highest_dependency(features):
    """(declared version, 'name version') of the dependency that needs the newest Rust."""
    meta = metadata(features)
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = meta["resolve"]["root"]
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for dep in nodes[node]["deps"]:
            if any(kind["kind"] in (None, "build") for kind in dep["dep_kinds"]):
                stack.append(dep["pkg"])
    seen.discard(root)
    best = ((0, 0, 0), "no dependency declares one")
    for pid in seen:
        p = packages[pid]
        if p.get("rust_version"):
            best = max(best, (version(p["rust_version"]), f'{p["name"]} {p["version"]}'))
    return best


def main():
    meta = metadata([])
    me = next(p for p in meta["packages"] if p["id"] == meta["resolve"]["root"])
    declared = version(me["rust_version"])
    per_feature = (me.get("metadata") or {}).get("msrv") or {}
    optional = sorted(f for f in me["features"] if f not in ("default", "loom"))
    failures = []

    need, who = highest_dependency([])
    print(f"default features: rust-version {show(declared)}, dependencies need {show(need)} ({who})")
    if need > declared:
        failures.append(f"rust-version {show(declared)} < {show(need)} needed by {who}")

    for feature in optional:
        need = max(highest_dependency([feature]), (declared, "rust-version"))
        if feature not in per_feature:
            failures.append(f"feature `{feature}` has no entry in [package.metadata.msrv] "
                            f"(its dependencies need {show(need[0])}, {need[1]})")
            continue
        doc = version(per_feature[feature])
        print(f"feature `{feature}`: documented {show(doc)}, needs {show(need[0])} ({need[1]})")
        if need[0] > doc:
            failures.append(f"feature `{feature}` documents {show(doc)} < {show(need[0])} "
                            f"needed by {need[1]}")
        elif need[0] < doc:
            print(f"  note: `{feature}` documents more than its locked dependencies need; "
                  f"after a lockfile change, lower it to {show(need[0])}")
    for feature in per_feature:
        if feature not in optional:
            failures.append(f"[package.metadata.msrv] names `{feature}`, which is no feature")

    for failure in failures:
        print(f"check-msrv: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
