"""Compact storage: each distinct channel value stored once per thread.

A checkpoint as LangGraph's serializer writes it is one msgpack map whose
`channel_values` hold the whole state, so in the default layout every step
stores the whole conversation again. In a compact file the engine cuts those
values out of the serializer's bytes before storing them:

- each element of a list-valued channel (a message of `messages`) and each
  other large value becomes a *chunk*, stored once per thread in
  `fast_langgraph_chunks` under a per-thread sequence number, found again by its
  bytes (a digest indexes them);
- the row in `checkpoints` keeps the rest (the *skeleton*), and where each cut
  was, with the chunk numbers that fill it; its `type` is `COMPACT_TYPE`.

Reading splices the chunks back in: the bytes handed to the serializer are
exactly the bytes it wrote, so decoding, allowlists and safety are those of the
default layout. The cut is a byte operation (msgpack is length-prefixed, so a
value's extent is found without decoding it) and never changes what is stored,
only where: a value the walker does not understand is simply kept whole. Only
the serializer's "msgpack" output is cut; any other (an encrypting serializer's
ciphertext) is stored as in the default layout, encrypted at rest and not
deduplicated.

Chunks belong to one thread, so deleting a thread deletes its chunks; deleting
some of its checkpoints (prune, delete_for_runs, cleanup, TTL) is followed by a
sweep of that thread's chunks no remaining checkpoint references. A writer
remembers, per thread, which bytes are already stored (`ChunkStore`); every
sweep bumps a generation number in the file, and a writer that sees it changed
forgets what it remembered, so it never refers to a chunk a sweep removed.

SqliteSaver reading a compact file fails on `COMPACT_TYPE` with langgraph's
"Unknown serialization type" error, which then names the way out; it never
sees a partial history. `fast-langgraph convert` turns a file either way.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Final, final

from fast_langgraph_pure import storage

# The `type` of a compact checkpoint row: SqliteSaver's error quotes it.
COMPACT_TYPE: Final = (
    "fast-langgraph compact storage (SqliteSaver cannot read this file; "
    "convert it: fast-langgraph convert FILE OUT --to sqlitesaver)"
)
# A list's elements become chunks when they hold this many bytes together; any
# other value when it alone is this big. Smaller ones stay in the skeleton: a
# chunk costs a row and a reference, and a value that is not a list rarely
# outlives its step unless it is large (a document kept in the state).
MIN_LIST_BYTES: Final = 128
MIN_VALUE_BYTES: Final = 1024
# Bytes of chunks a writer remembers across threads before forgetting the
# least recently written thread's.
CACHE_BYTES: Final = 64 * 1024 * 1024
_CHANNEL_VALUES_KEY: Final = b"\xaechannel_values"  # msgpack fixstr "channel_values"
_HEADER_LENGTH_BYTES: Final = 4
_DIGEST_BYTES: Final = 16

# -- cutting msgpack ----------------------------------------------------------------

# Fixed extent (marker included) of msgpack's scalar markers 0xc0..0xdf, 0 where
# the extent is read from the bytes that follow (or the marker is a container).
_FIXED: Final = {
    0xC0: 1, 0xC2: 1, 0xC3: 1,  # nil, false, true
    0xCA: 5, 0xCB: 9,  # float 32, 64
    0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9,  # uint 8..64
    0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9,  # int 8..64
    0xD4: 3, 0xD5: 4, 0xD6: 6, 0xD7: 10, 0xD8: 18,  # fixext 1..16
}  # fmt: skip
# Markers followed by a length: (bytes of the length, bytes between length and data).
_SIZED: Final = {
    0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0),  # bin
    0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0),  # str
    0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1),  # ext: the type byte
}  # fmt: skip
_ARRAY: Final = 1
_MAP: Final = 2


def _uint(data: bytes, start: int, size: int) -> int:
    if start + size > len(data):
        raise ValueError("truncated")
    return int.from_bytes(data[start : start + size], "big")


def _container(data: bytes, pos: int) -> tuple[int, int, int]:
    """(kind, items, offset of the first item) of the value at `pos`; kind 0
    when it is not an array or a map."""
    marker = data[pos]
    if 0x80 <= marker <= 0x8F:
        return _MAP, marker & 0x0F, pos + 1
    if 0x90 <= marker <= 0x9F:
        return _ARRAY, marker & 0x0F, pos + 1
    if marker == 0xDC:
        return _ARRAY, _uint(data, pos + 1, 2), pos + 3
    if marker == 0xDD:
        return _ARRAY, _uint(data, pos + 1, 4), pos + 5
    if marker == 0xDE:
        return _MAP, _uint(data, pos + 1, 2), pos + 3
    if marker == 0xDF:
        return _MAP, _uint(data, pos + 1, 4), pos + 5
    return 0, 0, pos


def _skip(data: bytes, pos: int) -> int:
    """The offset just past the msgpack value at `pos` (ValueError or IndexError
    when the bytes are not msgpack). Iterative: nesting depth costs nothing."""
    pending = 1
    while pending:
        pending -= 1
        marker = data[pos]
        if marker <= 0x7F or marker >= 0xE0:  # fixint
            pos += 1
        elif marker <= 0x9F or marker in (0xDC, 0xDD, 0xDE, 0xDF):
            kind, items, pos = _container(data, pos)
            pending += 2 * items if kind == _MAP else items
        elif marker <= 0xBF:  # fixstr
            pos += 1 + (marker & 0x1F)
        elif marker in _FIXED:
            pos += _FIXED[marker]
        elif marker in _SIZED:
            size, extra = _SIZED[marker]
            pos += 1 + size + extra + _uint(data, pos + 1, size)
        else:  # 0xc1, never used
            raise ValueError(f"invalid msgpack marker {marker:#x}")
    if pos > len(data):
        raise ValueError("truncated")
    return pos


def _skip_element(data: bytes, pos: int) -> int:
    """`_skip`, with a shortcut for the extension values (messages, pydantic
    models, dataclasses) that make up most lists."""
    marker = data[pos]
    if marker == 0xC8:
        return pos + 4 + ((data[pos + 1] << 8) | data[pos + 2])
    if marker == 0xC7:
        return pos + 3 + data[pos + 1]
    return _skip(data, pos)


# A cut: (offset in the skeleton where the pieces go back, the pieces in order).
Cut = tuple[int, list[bytes]]


def split(data: bytes) -> tuple[bytes, list[Cut]] | None:
    """Cut a serialized checkpoint's channel values out of `data`: the
    skeleton and the cuts, such that `splice` gives `data` back byte for byte.
    None when there is nothing worth cutting or `data` is not a msgpack map
    with `channel_values`."""
    try:
        ranges = _value_ranges(data)
    except (IndexError, ValueError):
        return None
    if not ranges:
        return None
    skeleton_parts: list[bytes] = []
    cuts: list[Cut] = []
    kept = 0  # end of the last cut in `data`
    length = 0  # bytes of skeleton so far
    for start, end, pieces in ranges:
        skeleton_parts.append(data[kept:start])
        length += start - kept
        cuts.append((length, pieces))
        kept = end
    skeleton_parts.append(data[kept:])
    return b"".join(skeleton_parts), cuts


def _value_ranges(data: bytes) -> list[tuple[int, int, list[bytes]]]:
    """(start, end, pieces) of each channel value worth storing as chunks: the
    elements of a list (its header stays), or a large value whole."""
    kind, items, pos = _container(data, 0)
    if kind != _MAP:
        return []
    values_at = -1
    for _ in range(items):
        key_end = _skip(data, pos)
        if data[pos:key_end] == _CHANNEL_VALUES_KEY:
            values_at = key_end
            break
        pos = _skip(data, key_end)
    if values_at < 0:
        return []
    kind, items, pos = _container(data, values_at)
    if kind != _MAP:
        return []
    ranges: list[tuple[int, int, list[bytes]]] = []
    for _ in range(items):
        start = _skip(data, pos)  # past the channel's name
        end = _skip(data, start)
        kind, elements, first = _container(data, start)
        if kind == _ARRAY and elements >= 2 and end - first >= MIN_LIST_BYTES:
            pieces: list[bytes] = []
            at = first
            for _ in range(elements):
                after = _skip_element(data, at)
                pieces.append(data[at:after])
                at = after
            if at != end:
                raise ValueError("array elements do not fill the array")
            ranges.append((first, end, pieces))
        elif end - start >= MIN_VALUE_BYTES:
            ranges.append((start, end, [data[start:end]]))
        pos = end
    return ranges


def splice(skeleton: bytes, cuts: Sequence[Cut]) -> bytes:
    """The inverse of `split`."""
    parts: list[bytes] = []
    kept = 0
    for offset, pieces in cuts:
        parts.append(skeleton[kept:offset])
        parts.extend(pieces)
        kept = offset
    parts.append(skeleton[kept:])
    return b"".join(parts)


# -- the stored form -------------------------------------------------------------
#
# A compact row's blob: a 4-byte big-endian length, that many bytes of JSON
# {"type": <the serializer's tag>, "cuts": [[offset, runs], ...]} where runs
# lists chunk numbers as [step, count, step, count, ...]: each run of `count`
# consecutive numbers starts `step` after the end of the previous one (after 0
# for the first). A conversation's messages are mostly one run, so the header
# stays a few bytes however long the conversation; then the skeleton.


def _runs(seqs: Sequence[int]) -> list[int]:
    runs: list[int] = []
    end = 0  # one past the last number of the previous run
    start = 0
    for seq in seqs:
        if runs and seq == start + runs[-1]:
            runs[-1] += 1
            continue
        if runs:
            end = start + runs[-1]
        runs.append(seq - end)
        runs.append(1)
        start = seq
    return runs


def _seqs(runs: Sequence[int]) -> list[int]:
    seqs: list[int] = []
    end = 0
    for i in range(0, len(runs), 2):
        start = end + runs[i]
        end = start + runs[i + 1]
        seqs.extend(range(start, end))
    return seqs


def pack(type_: str, skeleton: bytes, cuts: Sequence[tuple[int, Sequence[int]]]) -> bytes:
    header = json.dumps(
        {"type": type_, "cuts": [[offset, _runs(seqs)] for offset, seqs in cuts]},
        separators=(",", ":"),
    ).encode()
    return len(header).to_bytes(_HEADER_LENGTH_BYTES, "big") + header + skeleton


def unpack(blob: bytes) -> tuple[str, bytes, list[tuple[int, list[int]]]]:
    """(the serializer's tag, skeleton, cuts as chunk numbers) of a compact blob."""
    size = int.from_bytes(blob[:_HEADER_LENGTH_BYTES], "big")
    end = _HEADER_LENGTH_BYTES + size
    header: dict[str, Any] = json.loads(blob[_HEADER_LENGTH_BYTES:end])
    cuts = [(int(offset), _seqs(runs)) for offset, runs in header["cuts"]]
    return str(header["type"]), bytes(blob[end:]), cuts


def referenced(blob: bytes) -> set[int]:
    """The chunk numbers a compact blob refers to."""
    return {seq for _offset, seqs in unpack(blob)[2] for seq in seqs}


# -- the chunks a process knows ------------------------------------------------------


@final
class ChunkStore:
    """The chunks one engine has read or written, per thread (bytes to number
    and back), so a step stores only its new values and a read fetches only
    chunks it has not seen.

    Only committed chunks are remembered, each under the generation of the
    transaction that saw it. A committed chunk never changes and is only
    deleted by a sweep, which bumps the generation; so a transaction that reads
    the same generation may use everything remembered (a chunk committed after
    its snapshot is never asked for: no row it sees refers to it). Remembering
    under a newer generation forgets everything first; under an older one,
    nothing is remembered.

    `remembers=False` keeps nothing: for a caller's connection, whose own
    ROLLBACK could take back what a call of ours saw or wrote, unseen."""

    __slots__ = (
        "_by_bytes",
        "_by_seq",
        "_bytes",
        "_generation",
        "_lock",
        "_remembers",
        "_sizes",
    )

    def __init__(self, remembers: bool = True) -> None:
        self._remembers = remembers
        self._lock = threading.Lock()
        self._generation = -1
        # Least recently used thread first.
        self._by_bytes: dict[str, dict[bytes, int]] = {}
        self._by_seq: dict[str, dict[int, bytes]] = {}
        self._sizes: dict[str, int] = {}
        self._bytes = 0

    def known(self, generation: int, thread_id: str) -> tuple[dict[bytes, int], dict[int, bytes]]:
        """What is remembered of the thread, if valid at `generation` (copies
        are not made: treat them as read-only)."""
        with self._lock:
            if generation != self._generation or thread_id not in self._by_seq:
                return {}, {}
            by_seq = self._by_seq.pop(thread_id)
            by_bytes = self._by_bytes.pop(thread_id)
            self._by_seq[thread_id] = by_seq  # now the most recently used
            self._by_bytes[thread_id] = by_bytes
            return by_bytes, by_seq

    def remember(self, generation: int, thread_id: str, chunks: dict[int, bytes]) -> None:
        """Chunks (number to bytes) committed as of `generation`."""
        if not chunks or not self._remembers:
            return
        with self._lock:
            if generation < self._generation:
                return  # seen before a sweep this store already knows of
            if generation > self._generation:
                self._forget_all()
                self._generation = generation
            by_seq = self._by_seq.setdefault(thread_id, {})
            by_bytes = self._by_bytes.setdefault(thread_id, {})
            added = 0
            for seq, value in chunks.items():
                if seq not in by_seq:
                    by_seq[seq] = value
                    by_bytes[value] = seq
                    added += len(value)
            self._sizes[thread_id] = self._sizes.get(thread_id, 0) + added
            self._bytes += added
            while self._bytes > CACHE_BYTES and len(self._by_seq) > 1:
                oldest = next(iter(self._by_seq))
                if oldest == thread_id:
                    break
                self._forget(oldest)

    def forget(self) -> None:
        with self._lock:
            self._forget_all()

    def _forget(self, thread_id: str) -> None:
        self._by_seq.pop(thread_id, None)
        self._by_bytes.pop(thread_id, None)
        self._bytes -= self._sizes.pop(thread_id, 0)

    def _forget_all(self) -> None:
        self._by_seq.clear()
        self._by_bytes.clear()
        self._sizes.clear()
        self._bytes = 0

    # -- reading ---------------------------------------------------------------

    def expand(
        self, conn: sqlite3.Connection, thread_id: str, type_: Any, blob: Any
    ) -> tuple[Any, Any]:
        """A stored (type, blob) as the serializer wrote it. Run inside the
        read that selected the row (one snapshot)."""
        if type_ != COMPACT_TYPE:
            return type_, blob
        expanded = self.expand_rows(conn, [(thread_id, type_, blob)], 0, 1)[0]
        return expanded[1], expanded[2]

    def expand_rows(
        self, conn: sqlite3.Connection, rows: list[Any], thread_at: int, type_at: int
    ) -> list[Any]:
        """`rows` with every compact (type, blob) pair at `type_at`,
        `type_at + 1` turned back into what the serializer wrote; the row's
        thread is at `thread_at`. Run inside the read that selected the rows."""
        unpacked: dict[int, tuple[str, bytes, list[tuple[int, list[int]]]]] = {}
        for index, row in enumerate(rows):
            if row[type_at] == COMPACT_TYPE:
                unpacked[index] = unpack(row[type_at + 1])
        if not unpacked:
            return rows
        generation = _generation(conn)
        chunks: dict[str, dict[int, bytes]] = {}
        missing: dict[str, set[int]] = {}
        for index, (_type, _skeleton, cuts) in unpacked.items():
            thread_id = rows[index][thread_at]
            if thread_id not in chunks:
                chunks[thread_id] = self.known(generation, thread_id)[1]
            have = chunks[thread_id]
            for _offset, seqs in cuts:
                for seq in seqs:
                    if seq not in have:
                        missing.setdefault(thread_id, set()).add(seq)
        for thread_id, numbers in missing.items():
            fetched = _fetch(conn, thread_id, numbers)
            self.remember(generation, thread_id, fetched)
            chunks[thread_id] = {**chunks[thread_id], **fetched}
        expanded = list(rows)
        for index, (type_, skeleton, cuts) in unpacked.items():
            row = rows[index]
            stored = chunks[row[thread_at]]
            try:
                pieces = [(offset, [stored[s] for s in seqs]) for offset, seqs in cuts]
            except KeyError as lost:
                raise sqlite3.DatabaseError(
                    f"{storage.describe(conn)}: a checkpoint of thread {row[thread_at]!r} "
                    f"refers to chunk {lost} that is not in the file; restore it from a backup"
                ) from None
            expanded[index] = (*row[:type_at], type_, splice(skeleton, pieces), *row[type_at + 2 :])
        return expanded

    # -- writing ---------------------------------------------------------------

    def store(
        self,
        conn: sqlite3.Connection,
        thread_id: str,
        type_: str,
        parts: tuple[bytes, list[Cut]],
    ) -> tuple[bytes, int, dict[int, bytes]]:
        """Store the chunks of `parts` the thread lacks, inside the caller's
        write transaction: the compact blob, the generation, and the chunks to
        `remember` once the transaction has committed."""
        generation = _generation(conn)
        known, _by_seq = self.known(generation, thread_id)
        if not known:
            loaded: dict[int, bytes] = dict(
                conn.execute(storage.SELECT_THREAD_CHUNKS, (thread_id,)).fetchall()
            )
            known = {value: seq for seq, value in loaded.items()}
        else:
            loaded = {}
        new: dict[bytes, int] = {}
        next_seq = 0
        skeleton, cuts = parts
        numbered: list[tuple[int, list[int]]] = []
        for offset, pieces in cuts:
            seqs: list[int] = []
            for piece in pieces:
                seq = known.get(piece)
                if seq is None:
                    seq = new.get(piece)
                if seq is None:
                    if next_seq == 0:
                        next_seq = conn.execute(storage.SELECT_NEXT_CHUNK, (thread_id,)).fetchone()[
                            0
                        ]
                    digest = hashlib.blake2b(piece, digest_size=_DIGEST_BYTES).digest()
                    if conn.execute(
                        storage.INSERT_CHUNK, (thread_id, next_seq, digest, piece)
                    ).rowcount:
                        seq = next_seq
                        next_seq += 1
                    else:  # another writer stored the same bytes
                        seq = conn.execute(
                            storage.SELECT_CHUNK_BY_DIGEST, (thread_id, digest)
                        ).fetchone()[0]
                    new[piece] = seq
                seqs.append(seq)
            numbered.append((offset, seqs))
        loaded.update({seq: piece for piece, seq in new.items()})
        return pack(type_, skeleton, numbered), generation, loaded


def expand(conn: sqlite3.Connection, thread_id: str, type_: Any, blob: Any) -> tuple[Any, Any]:
    """`ChunkStore.expand` for a caller without a store (nothing remembered)."""
    if type_ != COMPACT_TYPE:
        return type_, blob
    return ChunkStore().expand(conn, thread_id, type_, blob)


def _generation(conn: sqlite3.Connection) -> int:
    return int(conn.execute(storage.SELECT_CHUNK_GENERATION).fetchone()[0])


def _fetch(conn: sqlite3.Connection, thread_id: str, seqs: set[int]) -> dict[int, bytes]:
    """Chunks by number, read range by range (a conversation's are contiguous)."""
    found: dict[int, bytes] = {}
    runs = _runs(sorted(seqs))
    end = 0
    for i in range(0, len(runs), 2):
        first = end + runs[i]
        end = first + runs[i + 1]
        for seq, value in conn.execute(storage.SELECT_CHUNK_RANGE, (thread_id, first, end - 1)):
            found[seq] = value
    return found


# -- keeping the chunks right ------------------------------------------------------------


def sweep(conn: sqlite3.Connection, thread_ids: Iterable[str] | None = None) -> int:
    """Delete the chunks of these threads (all when None) that no checkpoint
    refers to; the number deleted. Inside the deleting transaction."""
    if thread_ids is None:
        thread_ids = [row[0] for row in conn.execute(storage.SELECT_CHUNK_THREADS)]
    removed = 0
    for thread_id in thread_ids:
        used: set[int] = set()
        for (blob,) in conn.execute(storage.SELECT_THREAD_COMPACT_BLOBS, (thread_id, COMPACT_TYPE)):
            used |= referenced(blob)
        dead = [
            (thread_id, seq)
            for (seq,) in conn.execute(storage.SELECT_THREAD_CHUNK_SEQS, (thread_id,)).fetchall()
            if seq not in used
        ]
        if dead:
            conn.executemany(storage.DELETE_CHUNK, dead)
            removed += len(dead)
    if removed:
        conn.execute(storage.BUMP_CHUNK_GENERATION)
    return removed


def delete_thread_chunks(conn: sqlite3.Connection, thread_id: str) -> None:
    if conn.execute(storage.DELETE_THREAD_CHUNKS, (thread_id,)).rowcount:
        conn.execute(storage.BUMP_CHUNK_GENERATION)


def copy_thread_chunks(conn: sqlite3.Connection, source: str, target: str) -> None:
    """After the checkpoint rows were copied from `source` to `target`: give
    `target` the chunks they refer to, renumbering where `target` already has
    chunks of its own (its rows then refer to the new numbers)."""
    if source == target:
        return
    have = dict(conn.execute(storage.SELECT_THREAD_CHUNK_DIGESTS, (target,)).fetchall())
    next_seq = conn.execute(storage.SELECT_NEXT_CHUNK, (target,)).fetchone()[0]
    renumbered: dict[int, int] = {}
    for seq, digest, value in conn.execute(storage.SELECT_THREAD_CHUNK_ROWS, (source,)).fetchall():
        new = have.get(digest)
        if new is None:
            new = seq if not have else next_seq
            conn.execute(storage.INSERT_CHUNK, (target, new, digest, value))
            next_seq = max(next_seq, new + 1)
        renumbered[seq] = new
    if all(seq == new for seq, new in renumbered.items()):
        return
    rows = conn.execute(storage.SELECT_THREAD_COMPACT_ROWS, (source, COMPACT_TYPE)).fetchall()
    for checkpoint_ns, checkpoint_id, blob in rows:
        type_, skeleton, cuts = unpack(blob)
        moved = [(offset, [renumbered[s] for s in seqs]) for offset, seqs in cuts]
        conn.execute(
            storage.UPDATE_CHECKPOINT_BLOB,
            (pack(type_, skeleton, moved), target, checkpoint_ns, checkpoint_id),
        )


# -- the file's mode ---------------------------------------------------------------------

STORAGE_MODES: Final = ("default", "compact")


class StorageModeError(sqlite3.DatabaseError):
    """The file's layout is not the one asked for."""


def check_layout(conn: sqlite3.Connection, wanted: str | None, new_files: str) -> None:
    """Refuse, before anything is changed, a file whose layout is not the one
    `wanted` (None: any); `new_files` must name a layout too."""
    for mode in (wanted, new_files):
        if mode is not None and mode not in STORAGE_MODES:
            raise ValueError(f"storage must be one of {STORAGE_MODES}, not {mode!r}")
    if wanted is None:
        return
    compact = storage.is_compact(conn)
    if wanted == "default" and compact:
        raise StorageModeError(
            f"{storage.describe(conn)} uses compact storage: open it with storage='compact' "
            "(or without storage=), or convert it: fast-langgraph convert FILE OUT --to "
            "sqlitesaver"
        )
    if wanted == "compact" and not compact and storage.has_checkpoints(conn):
        raise StorageModeError(
            f"{storage.describe(conn)} holds checkpoints in SqliteSaver's layout: open it "
            "without storage='compact', or convert it: fast-langgraph convert FILE OUT --to "
            "compact"
        )


def set_up(conn: sqlite3.Connection, wanted: str | None, *, new_files: str, writable: bool) -> bool:
    """Whether the file is (now) compact. Call `check_layout` first, before
    anything changes the file (the switch to WAL, a migration); it is not
    repeated here. `wanted`: the layout the caller insists on, or None for the
    file's own; `new_files`: the layout for a file with no checkpoints yet."""
    if storage.is_compact(conn):
        return True
    if (wanted or new_files) != "compact" or storage.has_checkpoints(conn):
        return False  # an existing file keeps its layout
    if not writable:
        if wanted == "compact":
            raise StorageModeError(
                f"{storage.describe(conn)} is opened read-only and is not a compact file"
            )
        return False  # read as it is
    storage.make_compact(conn)
    return True
