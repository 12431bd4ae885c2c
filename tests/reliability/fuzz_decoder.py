"""Differential fuzzing of the native decoder, for as long as asked.

    python tests/reliability/fuzz_decoder.py --seconds 600 [--seed N]
    python tests/reliability/fuzz_decoder.py --inputs 1000000 [--seed N]

Feeds mutated and random MessagePack to `fast_langgraph_rs.loads_typed` and to
langgraph's `JsonPlusSerializer().loads_typed`, and mutated and random JSON /
metadata values to `loads_metadata` / `dumps_metadata` and to `json`, and
compares (the generators and the comparison are the codec's own test helpers,
packages/fast-langgraph-rs/tests/differential.py). Prints one line of figures;
each mismatch, with its input, goes to stderr. Exit 0: no mismatch; 1: some;
2: the native codec is not installed (nothing to compare).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

CODEC_TESTS = Path(__file__).resolve().parents[2] / "packages" / "fast-langgraph-rs" / "tests"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fuzz_decoder", description=__doc__.splitlines()[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, help="run this long (default 60)")
    budget.add_argument("--inputs", type=int, help="try this many inputs")
    parser.add_argument("--seed", type=int, help="default: a random one, printed")
    parser.add_argument("--show", type=int, default=20, help="mismatches to print at most")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None or args.inputs is not None else 60.0
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    try:
        import fast_langgraph_rs  # noqa: F401
    except ImportError as error:
        print(f"fuzz_decoder: the native codec is not installed ({error})", file=sys.stderr)
        return 2
    sys.path.insert(0, str(CODEC_TESTS))
    from differential import run

    figures = run(seed, inputs=args.inputs, seconds=seconds, stop_at_mismatches=args.show)
    print(f"fuzz_decoder: {figures.line()}, seed {seed}", flush=True)
    for mismatch in figures.mismatches:
        print(mismatch, file=sys.stderr)
    return 1 if figures.mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
