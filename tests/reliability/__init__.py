"""The reliability suite: scenarios that kill, crowd and starve the saver, each
scaled by its arguments so that tests/test_reliability.py runs them small and
soak.py runs them long. docs/reliability.md says what each one checks.

- payload.py: what writers put (a function of thread and step) and the checks
  that it came back whole; the acknowledgement file format.
- _child.py: the child processes (writers, readers, first open, maintenance,
  disk full), run by path with the parent's interpreter and environment.
- harness.py: starting, killing and reading children; integrity_check, row
  dumps, and `verify` (a fresh saver of ours and SqliteSaver read everything).
- scenarios.py: the scenarios, each returning an `Outcome` of figures and problems.
- soak.py: the long run and its table.
"""
