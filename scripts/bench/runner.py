#!/usr/bin/env python3
"""Times one benchmark group: img's command and its peer's, in the same run.

    runner.py group SPEC.json RESULTS.ndjson   run a group, append its result
    runner.py verify-layout DIR [NAME-PART]    check an OCI layout's blobs

A group is a JSON object (written by scripts/bench.sh):

    {"id": "pull:many-files", "op": "pull", "workload": "many-files",
     "kind": "compare" | "limit", "bytes": N, "bytes_of": "compressed image",
     "limits": ["sha256", "disk-write"], "runs": 5, "warmup": 1,
     "timeout": 600, "log_dir": DIR, "img_bin": DIR,
     "entries": [{"role": "img" | "peer" | "limit", "tool": "img-pull",
                  "cmd": "bash", "prepare": "bash", "check": "bash",
                  "needs": ["img-pull"], "bytes_file": PATH, "key": "sha256",
                  "label": "sha256 (openssl)"}]}

How it measures, so that the figures can be trusted:
* every command runs under `bash -c` in its own process group, stdin from
  /dev/null, stdout to /dev/null unless the command redirects it, stderr to
  a log file; `prepare` runs before every run and is not timed;
* wall time is taken around spawn and wait4(); wait4's rusage gives the CPU
  time and the peak RSS of the largest single process of the command;
* entries are interleaved run by run (img, peer, peer, img, ...) so that a
  slow spell of the shared machine hits both sides alike;
* `warmup` untimed runs come first (page cache, lazy state);
* a failing run stops that entry: it is reported as failed with the last
  line of its stderr, never with a figure; `check` runs right after the
  entry's last run and a failing check marks the entry wrong;
* an img entry whose program is missing from img_bin is not run: it says
  "<program> not built yet";
* the CPU time other processes used during the group is measured from
  /proc/stat (minus our children and the PIDs in $BENCH_OWN_PIDS, the
  registries the bench started) and reported as background load.
"""

import hashlib
import json
import os
import resource
import signal
import statistics
import sys
import threading
import time

TICKS = os.sysconf("SC_CLK_TCK")


def busy_ticks():
    """Total non-idle CPU ticks of the machine so far."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle


def own_ticks():
    """CPU ticks used so far by the servers the bench started."""
    total = 0
    for pid in os.environ.get("BENCH_OWN_PIDS", "").split():
        try:
            with open(f"/proc/{pid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += int(rest[11]) + int(rest[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# The process group being timed: it runs in a group of its own (so that a
# timeout can end all of it), which a Ctrl-C on the terminal does not reach.
RUNNING = [None]


def stop(signum, _frame):
    """SIGINT/SIGTERM: end the command being timed, then this runner."""
    if RUNNING[0]:
        try:
            os.killpg(RUNNING[0], signal.SIGKILL)
        except ProcessLookupError:
            pass
    os._exit(128 + signum)  # nothing to flush: results are written per group


def spawn(cmd, stdout_path, stderr_path, timeout):
    """Run `bash -c cmd`; return (seconds, exit status, rusage, timed_out)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    timed_out = []

    def kill(pid):
        timed_out.append(True)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    start = time.perf_counter()
    pid = os.posix_spawn("/bin/bash", ["bash", "-c", cmd], os.environ,
                         file_actions=actions, setpgroup=0)
    RUNNING[0] = pid
    timer = threading.Timer(timeout, kill, (pid,))
    timer.daemon = True
    timer.start()
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    timer.cancel()
    RUNNING[0] = None
    # Whatever the command left behind in its process group goes too.
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return elapsed, os.waitstatus_to_exitcode(status), usage, bool(timed_out)


def last_error(path):
    """The line of a stderr log that best says what went wrong."""
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
    except OSError:
        return ""
    if not lines:
        return ""
    errors = [l for l in lines if "error" in l.lower()]
    return (errors[-1] if errors else lines[-1])[:300]


class Entry:
    def __init__(self, group, spec, index):
        self.spec = spec
        self.role = spec["role"]
        self.tool = spec["tool"]
        name = f"{group['id']}:{self.role}:{spec.get('key') or self.tool}"
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
        self.log = os.path.join(group["log_dir"], safe + ".log")
        self.err = os.path.join(group["log_dir"], safe + ".stderr")
        self.times, self.cpu, self.rss = [], [], []
        self.status, self.note = "ok", ""
        missing = [n for n in spec.get("needs", [])
                   if not os.access(os.path.join(group.get("img_bin", ""), n), os.X_OK)]
        if missing:
            self.status = "missing"
            self.note = " and ".join(missing) + " not built yet"
        self.index = index
        self.group_bytes = group.get("bytes")

    @property
    def active(self):
        return self.status == "ok"

    def shell(self, what, cmd, timeout):
        """Run an untimed helper command (prepare or check); True on success."""
        secs, code, _, late = spawn(cmd, self.log, self.err, timeout)  # stdout kept in the log
        self.append_log(f"--- {what} {secs:.3f}s (exit {code})")
        if code != 0 or late:
            self.note = f"{what} failed: {last_error(self.err) or f'exit {code}'}"
            return False
        return True

    def append_log(self, header):
        with open(self.log, "a") as out, open(self.err, errors="replace") as err:
            out.write(header + "\n" + err.read())

    def run(self, timeout, timed):
        if self.spec.get("prepare") and not self.shell("prepare", self.spec["prepare"], timeout):
            self.status = "failed"
            return
        secs, code, usage, late = spawn(self.spec["cmd"], "/dev/null", self.err, timeout)
        self.append_log(f"--- {'run' if timed else 'warmup'} {secs:.3f}s (exit {code})")
        if late:
            self.status, self.note = "failed", f"timed out after {timeout:.0f} s"
        elif code != 0:
            self.status = "failed"
            self.note = f"exit {code}: {last_error(self.err)}"
        elif timed:
            self.times.append(secs)
            self.cpu.append(usage.ru_utime + usage.ru_stime)
            self.rss.append(usage.ru_maxrss)

    def result(self):
        out = {k: self.spec[k] for k in ("role", "tool", "cmd", "key", "label") if k in self.spec}
        out["status"], out["note"], out["log"] = self.status, self.note, self.log
        bytes_file = self.spec.get("bytes_file")
        if bytes_file and os.path.exists(bytes_file):
            out["bytes"] = os.path.getsize(bytes_file)
        elif self.spec.get("bytes", self.group_bytes) is not None:
            out["bytes"] = self.spec.get("bytes", self.group_bytes)
        if self.status == "ok" and self.times:
            t = self.times
            out.update(
                runs=len(t), times_s=[round(x, 4) for x in t],
                median_s=statistics.median(t), min_s=min(t), max_s=max(t),
                mean_s=statistics.fmean(t),
                stdev_s=statistics.stdev(t) if len(t) > 1 else 0.0,
                cpu_s=statistics.median(self.cpu), max_rss_kib=max(self.rss))
        elif self.status == "ok":
            out["status"], out["note"] = "failed", "no timed run"
        return out


def run_group(spec_path, results_path):
    with open(spec_path) as f:
        group = json.load(f)
    os.makedirs(group["log_dir"], exist_ok=True)
    timeout = float(group.get("timeout", 600))
    entries = [Entry(group, e, i) for i, e in enumerate(group["entries"])]
    t0, busy0, own0, kids0 = time.time(), busy_ticks(), own_ticks(), children_cpu()
    load0 = os.getloadavg()[0]
    for _ in range(int(group.get("warmup", 0))):
        for e in entries:
            if e.active:
                e.run(timeout, timed=False)
    runs = int(group.get("runs", 3))
    for r in range(runs):
        # Alternate the order so that neither side always runs right after
        # the other's writes or always first in a round.
        order = entries if r % 2 == 0 else list(reversed(entries))
        for e in order:
            if e.active:
                e.run(timeout, timed=True)
                if r == runs - 1 and e.active and e.spec.get("check"):
                    if not e.shell("check", e.spec["check"], timeout):
                        e.status = "wrong"
    elapsed = time.time() - t0
    other = (busy_ticks() - busy0 - (own_ticks() - own0)) / TICKS - (children_cpu() - kids0)
    result = {k: group.get(k) for k in ("id", "op", "workload", "kind", "bytes", "bytes_of",
                                        "limits")}
    result.update(
        runs=runs, warmup=int(group.get("warmup", 0)), elapsed_s=round(elapsed, 2),
        loadavg_before=round(load0, 2),
        background_load=round(max(other, 0.0) / max(elapsed, 1e-9) / os.cpu_count(), 3),
        entries=[e.result() for e in entries])
    with open(results_path, "a") as f:
        f.write(json.dumps(result) + "\n")
    for e in entries:
        if os.path.exists(e.err):
            os.remove(e.err)
    for e in result["entries"]:
        if "median_s" in e:
            what = f"median {e['median_s']:.3f} s ({e['min_s']:.3f}–{e['max_s']:.3f}), " \
                   f"{e['max_rss_kib'] / 1024:.0f} MiB"
        else:
            what = f"{e['status']}: {e['note']}"
        print(f"    {e['role']:<5} {e.get('key') or e['tool']:<28} {what}", file=sys.stderr)


def verify_layout(root, name_part=None):
    """Exit 1 unless ROOT is an OCI layout whose every blob matches its digest
    and whose index reaches only present blobs (and names NAME-PART)."""
    def fail(msg):
        print(f"verify-layout {root}: {msg}", file=sys.stderr)
        sys.exit(1)

    try:
        with open(os.path.join(root, "index.json")) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"no readable index.json ({e})")
    blobs = os.path.join(root, "blobs", "sha256")
    for name in os.listdir(blobs) if os.path.isdir(blobs) else []:
        h = hashlib.sha256()
        with open(os.path.join(blobs, name), "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != name:
            fail(f"blob {name} does not match its digest")
    manifests = index.get("manifests") or []
    if not manifests:
        fail("index.json names no image")
    if name_part:
        names = [(m.get("annotations") or {}).get("org.opencontainers.image.ref.name", "")
                 for m in manifests]
        if not any(name_part in n for n in names):
            fail(f"no image named like {name_part!r} (names: {names})")
    todo = list(manifests)
    while todo:
        d = todo.pop()
        path = os.path.join(blobs, d["digest"].split(":", 1)[1])
        if not os.path.exists(path):
            fail(f"missing blob {d['digest']}")
        if d.get("mediaType", "").endswith(("manifest.v1+json", "manifest.list.v2+json",
                                            "index.v1+json", "manifest.v2+json")):
            with open(path) as f:
                doc = json.load(f)
            todo += doc.get("manifests", []) + doc.get("layers", [])
            if "config" in doc:
                todo.append(doc["config"])


def main(argv):
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if len(argv) == 3 and argv[0] == "group":
        run_group(argv[1], argv[2])
    elif len(argv) in (2, 3) and argv[0] == "verify-layout":
        verify_layout(*argv[1:])
    else:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
