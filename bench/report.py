#!/usr/bin/env python3
"""Prints the benchmark's table from the JSON lines bench/run.sh collected in RESULTS."""
import json
import sys

r = {}
for line in open(sys.argv[1]):
    name, _, payload = line.partition(" ")
    r[name] = json.loads(payload)


def row(label, run, ceiling, rss_key, storm=None):
    run = r.get(run)
    if not run:
        return
    ceiling = r.get(ceiling, {}).get("tps")
    ratio = f"{100 * run['rps'] / ceiling:.0f}%" if ceiling else "n/a"
    rss = r.get(rss_key, {}).get("kib")
    rss = f"{rss / 1024:.1f}" if rss else "n/a"
    print(f"| {label} | {run['rps']:.0f} | {run['p50_ms']:.2f} | {run['p99_ms']:.2f} | {run['errors']} | {rss} | {ceiling or 0:.0f} | {ratio} |")


print()
print("| recordUsage, 64 connections, 20 s | req/s | p50 ms | p99 ms | errors | peak RSS MiB | ceiling tx/s | saaskit / ceiling |")
print("|---|---|---|---|---|---|---|---|")
row("PostgreSQL", "pg", "pg_ceiling", "pg_rss")
row("PostgreSQL + 8 clients logging in", "pg_storm", "pg_ceiling", "pg_rss")
row("SQLite", "sqlite", "sqlite_ceiling", "sqlite_rss")
print()
if "pg" in r and "pg_storm" in r:
    ratio = r["pg_storm"]["p99_ms"] / r["pg"]["p99_ms"]
    logins = r.get("pg_logins", {}).get("logins", 0)
    print(f"SDK p99 under the login storm: {r['pg_storm']['p99_ms']:.2f} ms vs {r['pg']['p99_ms']:.2f} ms without "
          f"({ratio:.2f}x; {logins} logins in 20 s)")
