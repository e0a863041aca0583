"""5. The default job: wall time and peak memory of ``mmer train`` on the synthetic default (``make bench-train``),
or of a dataset's default job (``make bench-train DATASET=ravdess DATA_DIR=...``), in a fresh run folder and a fresh
feature cache (``MMER_CACHE_DIR``), so that no finished fold and no cached feature is reused: the whole job as a
first run on a new machine pays it. One JSON line; no reference (it tracks regressions)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    """argv: what ``mmer train`` takes after its name (``--dataset ravdess``, overrides)."""
    mmer = Path(sys.executable).with_name("mmer")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        done = subprocess.run([str(mmer), "train", *argv, f"paths.output_root={tmp}", "logger=csv"],
                              capture_output=True, text=True, env={**os.environ, "MMER_CACHE_DIR": f"{tmp}/cache"})
        wall = time.perf_counter() - t0
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        return done.returncode
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: kilobytes
    summary = [line for line in done.stdout.splitlines() if line.startswith("wall time")]
    print(json.dumps({"workload": "default_job", "device": "cpu", "command": " ".join(["mmer train", *argv]) if argv
                      else "mmer train (synthetic default)",
                      "wall_s": round(wall, 1), "peak_rss_mb": round(peak_kb / 1024, 1),
                      "job_reports": summary[-1] if summary else None}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
