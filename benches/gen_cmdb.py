#!/usr/bin/env python3
"""Generates a CMDB for the benchmark as JSON Lines (items, then relationships).

Usage: gen_cmdb.py CIS RELATIONSHIPS OUT_DIR [SEED]

Shape, roughly a company estate: 4% network devices, 6% servers, 30% VMs,
40% applications, 15% databases, 5% services. VMs run on servers, apps and
databases run on VMs, apps depend on databases and other apps, services
depend on apps, servers connect to network devices. Targets are drawn with
a skew (a few hot CIs get many relationships) so there are well-connected
CIs to start impact analysis from; the first server is the hottest.
"""
import json, os, random, sys

cis, rels, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
random.seed(int(sys.argv[4]) if len(sys.argv) > 4 else 42)
os.makedirs(out, exist_ok=True)
shares = [("network_device", 0.04), ("server", 0.06), ("virtual_machine", 0.30),
          ("application", 0.40), ("database", 0.15), ("service", 0.05)]
by_class = {}
n = 0
with open(os.path.join(out, "items.jsonl"), "w") as f:
    for cls, share in shares:
        count = max(1, int(cis * share))
        ids = []
        for i in range(count):
            ext = f"{cls}-{i}"
            attrs = {}
            if cls in ("server", "virtual_machine", "network_device"):
                attrs["hostname"] = f"{ext}.corp.example"
            if cls == "database":
                attrs["engine"] = "postgres"
            f.write(json.dumps({"external_id": ext, "class": cls, "name": ext.replace("-", " ").title(),
                                "lifecycle": "in_use", "attributes": attrs}) + "\n")
            ids.append(ext)
            n += 1
        by_class[cls] = ids

def hot(ids):
    # Skewed pick: low indexes are chosen far more often.
    return ids[min(len(ids) - 1, int(random.paretovariate(1.2)) - 1)] if random.random() < 0.3 else random.choice(ids)

plan = [  # (source class, kind, target class, weight)
    ("virtual_machine", "runs_on", "server", 0.10),
    ("application", "runs_on", "virtual_machine", 0.15),
    ("database", "runs_on", "virtual_machine", 0.05),
    ("application", "depends_on", "database", 0.25),
    ("application", "depends_on", "application", 0.25),
    ("service", "depends_on", "application", 0.10),
    ("server", "connected_to", "network_device", 0.10),
]
seen = set()
written = 0
with open(os.path.join(out, "relationships.jsonl"), "w") as f:
    while written < rels:
        r = random.random()
        for src, kind, dst, w in plan:
            r -= w
            if r <= 0:
                break
        s, t = random.choice(by_class[src]), hot(by_class[dst])
        if s == t or (s, kind, t) in seen:
            continue
        seen.add((s, kind, t))
        f.write(json.dumps({"source_external_id": s, "kind": kind, "target_external_id": t}) + "\n")
        written += 1
print(f"{n} CIs, {written} relationships in {out}")
