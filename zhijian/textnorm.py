"""The form of a text that the data-level detectors read, with a map back to the original.

A model reads through cosmetic rewriting — it folds width itself — so a detector that
reads only the literal characters is evaded by full-width digits, zero-width characters,
other digit systems or an identity number typed in groups. Every detector therefore runs
on one normalised form:

1. NFKC, one character at a time (full-width and compatibility forms become ASCII, ＠
   becomes @); per character so that every output character has one original position;
2. format characters (zero-width space, joiners, soft hyphen, BOM, …) and other default
   ignorables removed;
3. decimal digits of every script mapped to ASCII (NFKC leaves Arabic-Indic or Devanagari
   digits as they are);
4. single separators (space, dash, dot) inside a run of digit groups collapsed, but only
   across a window of groups that joins into something identifier-shaped — the caller
   says which shapes — so dates, lot numbers, NDC and product codes keep their separators
   and digit runs are never joined across other text.

Everything here is linear in the length of the text: its two patterns leave the engine
nothing to backtrack into, and a run of digit groups costs one look-up per group and
shape length.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Separators a person types between digit groups; NFKC has already turned the
# ideographic and no-break spaces into U+0020 and the full-width hyphen into "-".
SEPARATORS = " .-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fb\u00b7"
# Default-ignorable characters outside category Cf that render as nothing.
_INVISIBLE = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0,
              *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)}
# Large blocks in which no character changes (unified ideographs, Hangul syllables,
# private use): skipped when the table is built, which keeps that under 50 ms.
_UNCHANGED_BLOCKS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xD800, 0xF8FF),
                     (0x20000, 0x2F7FF), (0x30000, 0xDFFFF), (0xF0000, 0x10FFFF))



@dataclass(frozen=True)
class Shape:
    """An identifier a window of digit groups may join into: its possible lengths, and a
    test of the joined characters (digits, and a final X) with the lengths of the groups
    that made them (so a caller can tell 1-800-438-1985 from a mobile number)."""

    lengths: frozenset[int]
    accepts: Callable[[str, Sequence[int]], bool]


def _mapped(char: str) -> str | None:
    """What a non-ASCII character becomes, or None if it stays as it is."""
    code = ord(char)
    if code in _INVISIBLE or unicodedata.category(char) == "Cf":
        return ""
    folded = unicodedata.normalize("NFKC", char)
    digits = "".join(str(d) if (d := unicodedata.decimal(c, None)) is not None else c
                     for c in folded)
    return None if digits == char else digits


@functools.cache
def _table() -> tuple[dict[int, str], dict[int, None]]:
    """What each character that the normaliser changes becomes (by code point, as
    ``str.translate`` wants it), and, for deletion, those that become other than one
    character. Built on first use: about 60 ms, once per process."""
    table: dict[int, str] = {}
    code = 0x80
    blocks = iter(_UNCHANGED_BLOCKS)
    skip = next(blocks, None)
    while code <= 0x10FFFF:
        if skip is not None and code == skip[0]:
            code = skip[1] + 1
            skip = next(blocks, None)
            continue
        char = chr(code)
        if unicodedata.category(char) != "Cn":
            replacement = _mapped(char)
            if replacement is not None:
                table[code] = replacement
        code += 1
    return table, {code: None for code, value in table.items() if len(value) != 1}


_SEP_CLASS = "[" + re.escape(SEPARATORS) + "]"
# Digit groups joined by exactly one separator; a trailing X may end the last group
# (the check character of a resident identity number). Only runs with a separator in
# them: a plain digit run has nothing to collapse. The standard engine, because a run is
# found per number in the text and RE2 costs microseconds per match from Python; the
# possessive quantifiers and the look-behind (a run starts only where a digit run
# starts) leave it nothing to backtrack into, so it stays linear.
_GROUP_RUN = re.compile(rf"(?<![0-9])[0-9]++(?:{_SEP_CLASS}[0-9]++)++(?:{_SEP_CLASS}?+[Xx])?+"
                        rf"|(?<![0-9])[0-9]++{_SEP_CLASS}[Xx]")
_GROUP = re.compile(r"[0-9]++[Xx]?+|[Xx]")


class _Stretches:
    """Where the characters of one stage's output came from in its input, kept per
    stretch rather than per character: ordinary text has few changes, and a map per
    character would cost more than the whole scan. A stretch starting at output
    position starts[i] is copied one for one from input position sources[i], or (not
    ``copied[i]``) stands as a whole for the one input character at sources[i]."""

    __slots__ = ("copied", "sources", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.sources: list[int] = []
        self.copied: list[bool] = []

    def add(self, start: int, source: int, *, copied: bool) -> None:
        self.starts.append(start)
        self.sources.append(source)
        self.copied.append(copied)

    def source_of(self, index: int) -> int:
        i = bisect.bisect_right(self.starts, index) - 1
        if i < 0:
            return index
        return self.sources[i] + (index - self.starts[i] if self.copied[i] else 0)


@dataclass(frozen=True)
class Normalized:
    """The normalised text and the way back to the original positions."""

    text: str
    original_length: int
    # Applied last to first: each maps its stage's output positions to its input.
    stages: tuple[_Stretches, ...] = ()

    def original_index(self, index: int) -> int:
        """The original position of the normalised character at ``index``."""
        for stage in reversed(self.stages):
            index = stage.source_of(index)
        return index

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the normalised span [start, end)."""
        if end <= start:
            at = self.original_index(start) if start < len(self.text) else self.original_length
            return at, at
        return self.original_index(start), self.original_index(end - 1) + 1


# Non-ASCII runs; the standard engine finds them at a few nanoseconds a character, and a
# single repeated class gives it nothing to backtrack into.
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _fold_characters(text: str) -> Normalized:
    if text.isascii():
        return Normalized(text, len(text))
    table, resizing = _table()
    parts: list[str] = []
    stretches = _Stretches()
    length = position = 0
    for run in _NON_ASCII.finditer(text):
        chars = run.group()
        mapped = chars.translate(table)
        if mapped == chars:  # most CJK text: nothing in it changes
            continue
        start = run.start()
        if start > position:
            stretches.add(length, position, copied=True)
            parts.append(text[position:start])
            length += start - position
        if len(chars.translate(resizing)) == len(chars):  # one for one: width, digits
            stretches.add(length, start, copied=True)
            parts.append(mapped)
            length += len(mapped)
        else:  # removals and expansions: each output piece names its source
            contiguous = False
            for offset, char in enumerate(chars):
                piece = table.get(ord(char), char)
                if len(piece) == 1:
                    if not contiguous:
                        stretches.add(length, start + offset, copied=True)
                        contiguous = True
                else:
                    contiguous = False
                    if piece:
                        stretches.add(length, start + offset, copied=False)
                parts.append(piece)
                length += len(piece)
        position = run.end()
    if not parts:
        return Normalized(text, len(text))
    stretches.add(length, position, copied=True)
    parts.append(text[position:])
    return Normalized("".join(parts), len(text), (stretches,))


def _windows(joined: Sequence[str], shapes: Sequence[Shape]) -> list[tuple[int, int]]:
    """Windows [first, end) of two or more groups that join into a shape, left to right,
    the longest shape at each start, never overlapping. Prefix sums make each start cost
    one look-up per shape length, whatever the groups look like."""
    sizes = [len(group) for group in joined]
    prefix = [0, *itertools.accumulate(sizes)]
    end_at = {total: k for k, total in enumerate(prefix)}  # strictly increasing
    digits = "".join(joined)
    by_length: dict[int, list[Callable[[str, Sequence[int]], bool]]] = {}
    for shape in shapes:
        for length in shape.lengths:
            by_length.setdefault(length, []).append(shape.accepts)
    lengths = sorted(by_length, reverse=True)
    chosen = []
    first, count = 0, len(joined)
    while first < count - 1:
        for length in lengths:
            end = end_at.get(prefix[first] + length)
            if end is None or end - first < 2:
                continue
            candidate = digits[prefix[first]:prefix[end]]
            window = sizes[first:end]
            if any(accepts(candidate, window) for accepts in by_length[length]):
                chosen.append((first, end))
                first = end
                break
        else:
            first += 1
    return chosen


_SEPARATOR_DELETION = str.maketrans("", "", SEPARATORS)


def _collapse_groups(folded: Normalized, shapes: Sequence[Shape]) -> Normalized:
    text = folded.text
    shortest = min(n for shape in shapes for n in shape.lengths)
    drops: list[int] = []  # positions in ``text`` of separators to remove, ascending
    for run in _GROUP_RUN.finditer(text):
        chars = run.group()
        if len(chars.translate(_SEPARATOR_DELETION)) < shortest:  # dates, NDC, lot numbers
            continue
        base = run.start()
        groups = [(base + g.start(), base + g.end()) for g in _GROUP.finditer(chars)]
        for first, end in _windows([text[a:b] for a, b in groups], shapes):
            for i in range(first, end - 1):
                drops.extend(range(groups[i][1], groups[i + 1][0]))
    if not drops:
        return folded
    parts: list[str] = []
    kept = _Stretches()
    length = position = 0
    for at in [*drops, len(text)]:
        if at > position:
            kept.add(length, position, copied=True)
            parts.append(text[position:at])
            length += at - position
        position = at + 1
    return Normalized("".join(parts), folded.original_length, (*folded.stages, kept))


def normalize(text: str, shapes: Sequence[Shape] = ()) -> Normalized:
    """The detectors' form of ``text``. ``shapes`` say which windows of digit groups to
    join; without them separators are kept."""
    folded = _fold_characters(text)
    return _collapse_groups(folded, shapes) if shapes else folded
