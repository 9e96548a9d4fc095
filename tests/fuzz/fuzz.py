"""Differential fuzzing of pywatch (and libwatch beneath it).

Runs seeded random operations on modules, dicts, classes and functions,
with dependents registering, releasing and being dropped, and freezing and
thawing, and checks every step against a brute-force oracle (oracle.py).
The run is cut into episodes of --episode-ops operations, each on a fresh
world seeded by its own number, so that a failure replays alone.

A failure prints the seed, the command that replays it, and the failing
operations minimized (delta debugging) as readable lines.  The work runs
in a child process, so that a crash or a hang is caught too; a failure is
minimized by replaying candidate lists in further child processes, each
with a time limit.

    PYTHONPATH=build/X.Y python tests/fuzz/fuzz.py --seed 1 --ops 1000000

Exit status 0 when nothing failed, 1 on a failure.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import warnings

import pywatch

from ddmin import ddmin
from ops import Failure, Runner, Stats, random_ops

HERE = os.path.dirname(os.path.abspath(__file__))


def episode_ops(episode, count):
    return random_ops(random.Random(2 * episode + 1), count)


def replay(episode, ops, stats=None, texts=None):
    """Runs ops on a fresh world; returns the Failure, or None."""
    runner = Runner(random.Random(2 * episode), stats or Stats())
    unraisable = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: unraisable.append(
        "%s: %r" % (u.err_msg, u.exc_value))
    try:
        with warnings.catch_warnings():
            # Direct writes to frozen modules warn, by design.
            warnings.simplefilter("ignore", pywatch.FrozenWarning)
            for op in ops:
                text = runner.step(op)
                if texts is not None:
                    texts.append(text)
                if unraisable:
                    raise Failure("unraisable", "after %s: %s"
                                  % (text, unraisable[0]))
        return None
    except Failure as failure:
        if texts is not None and failure.text is not None:
            texts.append(failure.text)
        return failure
    finally:
        sys.unraisablehook = old_hook
        runner.close()


# ---- minimization ---------------------------------------------------------

class _Echo(list):
    """Prints each operation as it completes: a crash loses nothing."""

    def append(self, text):
        print("op: " + text, flush=True)


# An episode takes well under a second: one that runs this long hangs.
HANG_SECONDS = 10
HANG = "hang (no progress in %d s)" % HANG_SECONDS


def child_replay(args, episode, ops, texts=None):
    """Replays ops in a child process: None if it passed, else a kind
    ("crash (signal N)", a hang, or a Failure kind).  texts gets the
    readable lines of the operations that completed."""
    if getattr(args, "progress", None):
        os.utime(args.progress)  # minimizing is progress too (supervise())
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"episode": episode, "ops": ops}, f)
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__),
                               "--replay", f.name], capture_output=True,
                              text=True, timeout=HANG_SECONDS)
    except subprocess.TimeoutExpired as expired:
        proc = None
        out = expired.stdout or b""
        stdout = out.decode(errors="replace") if isinstance(out, bytes) \
            else out
    finally:
        os.unlink(f.name)
    if proc is not None:
        stdout = proc.stdout
    if texts is not None:
        texts += [line[4:] for line in stdout.splitlines()
                  if line.startswith("op: ")]
    if proc is None:
        return HANG
    if proc.returncode < 0:
        return "crash (signal %d)" % -proc.returncode
    if proc.returncode == 0:
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if lines else "exit status %d" % proc.returncode


def report(episode, ops, kind, message, args, in_process):
    print("FAIL: %s" % message)
    print("  seed %d, episode %d (%d operations per episode)"
          % (args.seed, episode, args.episode_ops))
    print("  replay: PYTHONPATH=build/%d.%d python%d.%d tests/fuzz/fuzz.py"
          " --episode %d --episode-ops %d"
          % (sys.version_info[:2] + sys.version_info[:2]
             + (episode, args.episode_ops)))
    # In child processes: a candidate may crash or hang where the full
    # list failed cleanly.
    fails = lambda cand: child_replay(args, episode, cand) == kind
    small = ddmin([tuple(op) for op in ops], fails)
    texts = []
    failure = None
    if in_process:
        child_replay(args, episode, small, texts)
        if len(texts) == len(small):
            texts = []
            failure = replay(episode, small, texts=texts)
    else:
        child_replay(args, episode, small, texts)
        if len(texts) < len(small):
            texts.append("%r  <- %s" % (small[len(texts)], kind))
    print("  minimized to %d operations:" % len(small))
    for text in texts:
        print("    " + text)
    if failure is not None:
        print("  -> %s" % failure)
    print("  as data: %s" % json.dumps(small))


# ---- the run --------------------------------------------------------------

def run(args):
    """The child: episodes until args.ops operations; prints statistics."""
    stats = Stats()
    t0 = time.perf_counter()
    done, episode = 0, args.episode
    progress = open(args.progress, "w") if args.progress else None
    while done < args.ops:
        count = min(args.episode_ops, args.ops - done)
        ops = episode_ops(episode, count)
        if progress:
            progress.write("%d %d\n" % (episode, count))
            progress.flush()
        failure = replay(episode, ops, stats)
        if failure is not None:
            print_stats(stats, time.perf_counter() - t0)
            at = stats.ops - done
            report(episode, ops[:at], failure.kind, str(failure), args, True)
            return 1
        done += count
        episode += 1
    print_stats(stats, time.perf_counter() - t0)
    return 0


def print_stats(stats, seconds):
    conservative = sum(stats.conservative.values())
    print("%d operations in %.1f s (%s)" % (stats.ops, seconds,
                                             sys.version.split()[0]))
    print("invalidations: %d with a broken assumption, %d conservative"
          " (nothing the dependent assumed changed)"
          % (stats.invalidated, conservative))
    print("  conservative, by operation: %s" % _table(stats.conservative))
    print("expected errors: %s" % _table(stats.expected))
    print("callbacks delivered, by event: %s" % _table(stats.events))


def _table(counts):
    return ", ".join("%s %d" % kv for kv in sorted(counts.items())) or "none"


def supervise(args):
    """Runs the child; on a crash or a hang (no new episode for
    HANG_SECONDS), finds the episode and minimizes it."""
    with tempfile.NamedTemporaryFile("r", suffix=".progress") as progress:
        cmd = [sys.executable, os.path.abspath(__file__), "--child",
               "--progress", progress.name] + sys.argv[1:]
        child = subprocess.Popen(cmd)
        while True:
            try:
                rc = child.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                if time.time() - os.stat(progress.name).st_mtime \
                        > HANG_SECONDS:
                    child.kill()
                    child.wait()
                    rc = None
                    break
        if rc is not None and rc >= 0:
            return rc
        lines = progress.read().split()
    print("FAIL: the fuzzer %s" % ("hung" if rc is None
                                   else "crashed (signal %d)" % -rc))
    if len(lines) < 2:
        return 1
    episode, count = int(lines[-2]), int(lines[-1])
    ops = episode_ops(episode, count)
    kind = child_replay(args, episode, ops)
    if kind is None:
        print("  episode %d does not crash alone: the crash needs the"
              " episodes before it (seed %d)" % (episode, args.seed))
        return 1
    report(episode, ops, kind, kind, args, False)
    return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1,
                        help="the first episode's number (default 1)")
    parser.add_argument("--ops", type=int, default=100000,
                        help="operations in all (default 10^5)")
    parser.add_argument("--episode-ops", type=int, default=2000,
                        help="operations per episode (default 2000)")
    parser.add_argument("--episode", type=int, help="run this one episode")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--progress", help=argparse.SUPPRESS)
    parser.add_argument("--replay", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not pywatch.enabled():
        sys.exit("fuzz.py: freezing is switched off (PYWATCH_DISABLE or"
                 " -X pywatch=off); the fuzzer needs it on")
    if args.replay:
        with open(args.replay) as f:
            data = json.load(f)
        failure = replay(data["episode"], [tuple(op) for op in data["ops"]],
                         texts=_Echo())
        print(failure.kind if failure else "passed")
        return 1 if failure else 0
    if args.episode is not None:
        args.seed, args.ops = args.episode, args.episode_ops
    args.episode = args.seed
    if args.child:
        return run(args)
    return supervise(args)


if __name__ == "__main__":
    sys.exit(main())
