"""5. The default job: wall time and peak memory of ``mmer train`` on the synthetic default (``make bench-train``),
in a fresh run folder so that no finished fold is reused. One JSON line; no reference (it tracks regressions)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    mmer = Path(sys.executable).with_name("mmer")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        done = subprocess.run([str(mmer), "train", f"paths.output_root={tmp}", "logger=csv"], capture_output=True,
                              text=True)
        wall = time.perf_counter() - t0
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        return done.returncode
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: kilobytes
    summary = [line for line in done.stdout.splitlines() if line.startswith("wall time")]
    print(json.dumps({"workload": "default_job", "device": "cpu", "command": "mmer train (synthetic default)",
                      "wall_s": round(wall, 1), "peak_rss_mb": round(peak_kb / 1024, 1),
                      "job_reports": summary[-1] if summary else None}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
