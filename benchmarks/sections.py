"""Sections of docs/benchmarks.md written by the benchmarks that run on their own
(`python -m benchmarks.postgres`, `.long_conversation`, `.before_after`)."""

from __future__ import annotations


def replace_section(document: str, title: str, section: str, *, after: str | None = None) -> str:
    """`document` with its section headed `title` replaced by `section`. A document
    without one gets it after the section whose heading starts with `after` (when
    given and present), else before a comparison section, else at the end. Every
    other line is left as it is."""
    lines = document.splitlines()

    def next_section(start: int) -> int:
        return next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )

    start = next((i for i, line in enumerate(lines) if line.strip() == title), None)
    if start is not None:
        end = next_section(start)
    else:
        anchor = None
        if after is not None:
            anchor = next((i for i, line in enumerate(lines) if line.startswith(after)), None)
        if anchor is not None:
            start = next_section(anchor)
        else:
            start = next(
                (i for i, line in enumerate(lines) if line.startswith("## Compared with")),
                len(lines),
            )
        end = start
    before = lines[:start]
    if before and before[-1].strip():
        before.append("")
    new = section.rstrip().splitlines()
    joined = before + new + ([""] if end < len(lines) else []) + lines[end:]
    return "\n".join(joined).rstrip() + "\n"
