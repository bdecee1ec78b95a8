"""Summarize a py-spy ``--format raw`` profile (collapsed stacks) into the costliest parts.

python bench/profile_summary.py bench/results/profile-simple-project.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
SITE = re.compile(r".*/(site-packages|lib/python3\.\d+)/")


def _short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = SITE.sub("", match.group("file"))
    path = re.sub(r"^.*/work/main/", "", path)
    return f"{match.group('func')} ({path})"


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(f) for f in stack.split(";")]
        # py-spy puts "process NNN:..." and thread names first with --subprocesses.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        stacks.append((frames, int(count)))
    return stacks


def summarize(path: Path, top: int = 25) -> str:
    stacks = load(path)
    total = sum(c for _, c in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"# py-spy profile: {path.name}", "", f"{total} samples (all gunicorn workers, idle time excluded)", ""]
    lines += ["## inclusive (function and everything it calls)", "", "| % | function |", "|---|---|"]
    # Frames in (nearly) every sample are the server's main loop: leave them out.
    busy = [(f, c) for f, c in inclusive.most_common() if c < 0.97 * total]
    lines += [f"| {100 * c / total:.1f} | `{f}` |" for f, c in busy[: top * 2]]
    lines += ["", "## self (time in the function's own code)", "", "| % | function |", "|---|---|"]
    lines += [f"| {100 * c / total:.1f} | `{f}` |" for f, c in own.most_common(top)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1])))
