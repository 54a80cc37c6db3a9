"""Serverless endpoints through a fresh ``hangar server``: the ALB gateway and QUEUE tasks.

Parts, run by name (default: all):

* ``alb``    requests/s and p50/p99 latency through the gateway to one worker against the
             same requests sent straight to the worker's port in the same run; a streaming
             (server-sent events) answer's first-byte delay; worker start on a cached image
             (create -> RUNNING) next to a bare session start of the same image.
* ``queue``  QUEUE tasks (submit -> worker receives it, draining through several workers,
             webhook deliveries/s).

    .venv/bin/python bench/serverless.py [alb] [queue] [--keep]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

PARTS: dict[str, Callable[[argparse.Namespace], int]] = {}


def part(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[..., int]]:
    """Register a part of the bench under ``name`` (it returns an exit status)."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        PARTS[name] = run
        return run

    return register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help=f"parts to run (default: all of {list(PARTS)})")
    parser.add_argument("--keep", action="store_true", help="keep the servers' data dirs")
    args = parser.parse_args(argv)
    names = args.parts or list(PARTS)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {unknown}; known: {list(PARTS)}")
    status = 0
    for name in names:
        status |= PARTS[name](args)
    return status


# --- ALB gateway (engineer G) ---------------------------------------------------------------


@part("alb")
def alb(args: argparse.Namespace) -> int:
    print("alb: not written yet")
    return 0


# --- QUEUE tasks (engineer TQ): register with @part("queue") ----------------------------------


if __name__ == "__main__":
    sys.exit(main())
