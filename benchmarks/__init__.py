"""Side-by-side benchmarks of fast-langgraph against langgraph's own savers.

`python -m benchmarks --out docs/benchmarks.md` runs everything (about 15 minutes
on 2 cores); `python -m benchmarks --smoke` exercises every code path in seconds.
"""
