#!/usr/bin/env python3
"""Prints the latest criterion results of `cargo bench --bench municipal` as a table:
messages per second per core for reading and writing each dialect, beside raw quick-xml
parsing and writing of the same bytes, and the ratios. Run after the benchmark:

    cargo bench --bench municipal && scripts/criterion-table.py
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def rate(group, function):
    base = root / group / function / "new"
    estimates = json.loads((base / "estimates.json").read_text())
    benchmark = json.loads((base / "benchmark.json").read_text())
    elements = benchmark["throughput"]["Elements"]
    seconds = estimates["mean"]["point_estimate"] / 1e9
    return elements / seconds


groups = sys.argv[1:] or sorted(
    p.name for p in root.iterdir() if (p / "decode").is_dir() and (p / "raw-parse").is_dir()
)
print("| dialect | read (decode) | raw quick-xml parse | ratio | write (encode) | raw quick-xml write | ratio |")
print("|---|---|---|---|---|---|---|")
for group in groups:
    decode, parse = rate(group, "decode"), rate(group, "raw-parse")
    encode, write = rate(group, "encode"), rate(group, "raw-write")
    print(
        f"| {group} | {decode:,.0f}/s | {parse:,.0f}/s | {parse / decode:.1f}× "
        f"| {encode:,.0f}/s | {write:,.0f}/s | {write / encode:.1f}× |"
    )
