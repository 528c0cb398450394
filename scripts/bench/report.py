#!/usr/bin/env python3
"""Turns the bench's group results into one table and one JSON report.

    report.py RESULTS.ndjson META.json OUT_DIR

Writes OUT_DIR/report.json (everything: every run's time, both sides, the
limits, the machine) and OUT_DIR/report.md (the Markdown table the README
shows), and prints the table to stdout.

Columns: img's median time and the peer's, each with its spread (± half
the min–max range as a share of the median); peer/img, the speed-up (above
1 means img is faster); peak RSS (largest single process); and, where a
physical limit of this machine applies, the share of it that img (and the
peer) reached: bytes moved / median time / limit rate. A limit row's rate is
bytes / median time of its command, measured in the same run.
"""

import json
import sys

MB = 1e6
BUSY = 0.25  # background CPU share above which a row is marked noisy


def fmt_time(e):
    if e.get("status") != "ok":
        return None
    m = e["median_s"]
    text = f"{m:.3f}" if m < 10 else f"{m:.1f}"
    spread = (e["max_s"] - e["min_s"]) / 2 / m * 100 if m > 0 else 0
    return f"{text} s ±{spread:.0f}%"


def why_not(e):
    """What to print instead of a figure."""
    if e is None:
        return "—"
    if e["status"] == "missing":
        return e["note"]
    return f"{e['status'].upper()}: {e['note']}"


def rate(e):
    """Bytes per second of an entry's median run, else None."""
    if e and e.get("status") == "ok" and e.get("bytes") and e["median_s"] > 0:
        return e["bytes"] / e["median_s"]
    return None


def mib(kib):
    return f"{kib / 1024:.0f}"


def build(results, meta):
    limits, rows = {}, []
    for g in results:
        if g["kind"] == "limit":
            for e in g["entries"]:
                limits[e["key"]] = {
                    "key": e["key"], "label": e.get("label", e["tool"]), "cmd": e["cmd"],
                    "status": e["status"], "note": e["note"], "bytes": e.get("bytes"),
                    "median_s": e.get("median_s"), "min_s": e.get("min_s"), "max_s": e.get("max_s"),
                    "times_s": e.get("times_s"), "rate_bytes_per_s": rate(e),
                    "background_load": g["background_load"], "entry": e}
    for g in results:
        if g["kind"] != "compare":
            continue
        img = next((e for e in g["entries"] if e["role"] == "img"), None)
        # A group may time several peers (buildah and Docker's engine) in
        # the same interleaved runs: one row each, img's figures repeated.
        peers = [e for e in g["entries"] if e["role"] == "peer"] or [None]
        for peer in peers:
            row = {"id": g["id"], "op": g["op"], "workload": g["workload"],
                   "bytes_of": g.get("bytes_of"), "img": img, "peer": peer,
                   "runs": g["runs"], "warmup": g["warmup"], "elapsed_s": g["elapsed_s"],
                   "background_load": g["background_load"], "speedup": None, "limit": None}
            if img and peer and img["status"] == "ok" and peer["status"] == "ok" and img["median_s"] > 0:
                row["speedup"] = peer["median_s"] / img["median_s"]
            keys = g.get("limits") or []
            known = [limits[k] for k in keys if k in limits and limits[k]["rate_bytes_per_s"]]
            if keys:
                lim = min(known, key=lambda l: l["rate_bytes_per_s"]) if len(known) == len(keys) else None
                row["limit"] = {
                    "keys": keys,
                    "bound_by": lim["key"] if lim else None,
                    "rate_bytes_per_s": lim["rate_bytes_per_s"] if lim else None,
                    "img_fraction": rate(img) / lim["rate_bytes_per_s"] if lim and rate(img) else None,
                    "peer_fraction": rate(peer) / lim["rate_bytes_per_s"] if lim and rate(peer) else None,
                }
            rows.append(row)
    return {**meta, "limits": list(limits.values()), "rows": rows}


def cell(text):
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|")


def table(report):
    """The Markdown text of the report."""
    out = []
    m = report["machine"]
    out.append(f"`{report['command']}` on {report['date']}: {m['cpus']} cores "
               f"({m['cpu']}), {m['memory']}, {m['os']}, kernel {m['kernel']}, "
               f"{m['filesystem']}; img at {report['git']}; took {report['elapsed_s'] // 60} min "
               f"{report['elapsed_s'] % 60} s.")
    out.append("")
    out.append("| op | workload | img | img time | peer | peer time | peer/img "
               "| peak RSS MiB img / peer | share of limit img / peer |")
    out.append("|---|---|---|---:|---|---:|---:|---:|---|")
    for r in report["rows"]:
        img, peer = r["img"], r["peer"]
        img_t = fmt_time(img) if img else None
        peer_t = fmt_time(peer) if peer else None
        speed = f"{r['speedup']:.2f}×" if r["speedup"] else "—"
        rss = " / ".join(mib(e["max_rss_kib"]) if e and e.get("max_rss_kib") else "—"
                         for e in (img, peer))
        lim = "—"
        if r["limit"]:
            l = r["limit"]
            if l["rate_bytes_per_s"]:
                parts = [f"{l[k] * 100:.0f}%" if l[k] else "—" for k in ("img_fraction", "peer_fraction")]
                lim = f"{' / '.join(parts)} of {l['rate_bytes_per_s'] / MB:.0f} MB/s {l['bound_by']}"
            else:
                lim = "limit not measured"
        busy = " *" if r["background_load"] > BUSY else ""
        out.append("| " + " | ".join(cell(c) for c in [
            r["op"], r["workload"] + busy, img["tool"] if img else "—", img_t or why_not(img),
            peer["tool"] if peer else "—", peer_t or why_not(peer), speed, rss, lim]) + " |")
    out.append("")
    out.append("| physical limit | measured as | data | time | rate |")
    out.append("|---|---|---:|---:|---:|")
    for l in report["limits"]:
        t = fmt_time(l["entry"])
        data = f"{l['bytes'] / 2**20:.0f} MiB" if l.get("bytes") else "—"
        r = f"{l['rate_bytes_per_s'] / MB:.0f} MB/s" if l["rate_bytes_per_s"] else why_not(l["entry"])
        out.append("| " + " | ".join(cell(c) for c in [l["key"], l["label"], data, t or "—", r]) + " |")
    out.append("")
    out.append("Times are medians (± half the min–max range) of runs in which img and its peer "
               "alternate, on the same input; peer/img above 1 means img is faster. The share of "
               "a limit is bytes moved per second over the limit's rate, both from median runs in "
               "this same bench run; it can pass 100% when a program uses both cores and the "
               "limit one. MB = 10⁶ bytes; peak RSS is that of the largest single process.")
    loads = sorted(r["background_load"] for r in report["rows"])
    if loads:
        busy = sum(1 for x in loads if x > BUSY)
        out.append(f"Other processes used {loads[len(loads) // 2] * 100:.0f}% of the CPUs "
                   f"(median over rows; at most {loads[-1] * 100:.0f}%) while this ran"
                   + (f"; the {busy} rows marked * had more than {BUSY * 100:.0f}%, "
                      "so their times are noisy, though img and its peer shared the noise."
                      if busy else "."))
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    results_path, meta_path, out_dir = argv
    with open(results_path) as f:
        results = [json.loads(line) for line in f if line.strip()]
    with open(meta_path) as f:
        meta = json.load(f)
    report = build(results, meta)
    md = table(report)
    with open(f"{out_dir}/report.json", "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    with open(f"{out_dir}/report.md", "w") as f:
        f.write(md)
    sys.stdout.write(md)


if __name__ == "__main__":
    main(sys.argv[1:])
