"""Idle `newswatch watch` memory (issue 17: <= 250 MB in all): the whole process tree.

    python bench/watch/idle_memory.py                 # idle 60 s after the first run
    python bench/watch/idle_memory.py --idle 120 --repeat 3

Starts the real CLI, ``newswatch watch --sample`` (the bundled offline sample served on
127.0.0.1, its own warehouse, PREFECT_HOME and, PREFECT_API_URL unset, the local Prefect
server the watch starts for itself), waits for its first run line, lets it sleep ``--idle``
seconds (the default 300 s interval: no run is in flight), then reads
``/proc/PID/smaps_rollup`` of every process of the tree: RSS and PSS (shared pages split
between the processes that map them) per process and summed. ``--repeat`` starts that many
watches one after the other and prints the median of the sums.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from bench.watch.run import bench_env, tree  # noqa: E402  (after the path)


def memory(pid: int) -> tuple[float, float, str] | None:
    """RSS and PSS (MiB) and the command line of one process; None once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    fields = {k: int(v.split()[0]) / 1024 for k, v in (line.split(":", 1) for line in lines)}
    return fields["Rss"], fields["Pss"], command.strip()


def one_watch(idle: float, extra: list[str]) -> tuple[float, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-idle-watch-"))
    env = bench_env(work, NEWSWATCH_HOME=str(work))
    command = [sys.executable, "-m", "newswatch.cli", "watch", "--sample", "--db"]
    command += [str(work / "bench.duckdb"), *extra]
    watch = subprocess.Popen(
        command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output: list[str] = []
    first_run = threading.Event()

    def read_lines() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            output.append(line)
            if line.startswith("run "):
                first_run.set()

    threading.Thread(target=read_lines, daemon=True).start()
    began = time.monotonic()
    try:
        if not first_run.wait(timeout=300):
            raise RuntimeError("no run finished in 300 s:\n" + "".join(output)[-3000:])
        print(f"first run line after {time.monotonic() - began:.1f} s; idle {idle:g} s")
        time.sleep(idle)
        total_rss = total_pss = 0.0
        for pid in tree(watch.pid):
            found = memory(pid)
            if found is None:
                continue
            rss, pss, cmdline = found
            total_rss, total_pss = total_rss + rss, total_pss + pss
            print(f"  pid {pid:>7}  RSS {rss:6.1f} MiB  PSS {pss:6.1f} MiB  {cmdline[:100]}")
        print(f"  in all: RSS {total_rss:.1f} MiB, PSS {total_pss:.1f} MiB")
    finally:
        watch.send_signal(signal.SIGTERM)
        try:
            watch.wait(timeout=120)
        except subprocess.TimeoutExpired:
            watch.kill()
            watch.wait()
    time.sleep(0.2)  # the reader thread takes the last lines
    print("  watch output:\n" + "".join(f"    {line}" for line in output))
    print(f"  watch exit code {watch.returncode}")
    return total_rss, total_pss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=60.0, help="seconds idle before reading")
    parser.add_argument("--repeat", type=int, default=1)
    args, extra = parser.parse_known_args()  # the rest goes to `newswatch watch`
    sums = [one_watch(args.idle, extra) for _ in range(args.repeat)]
    rss = statistics.median(s[0] for s in sums)
    pss = statistics.median(s[1] for s in sums)
    print(
        f"idle watch, process tree summed (median of {len(sums)}): RSS {rss:.1f} MiB "
        f"({rss * 1.048576:.0f} MB), PSS {pss:.1f} MiB ({pss * 1.048576:.0f} MB)"
    )
    print(
        f"reproduce: {Path(sys.executable).name} bench/watch/idle_memory.py --idle {args.idle:g} "
        f"--repeat {args.repeat}" + (" " + " ".join(extra) if extra else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
