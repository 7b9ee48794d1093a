"""Structured requests from the proto descriptors: whole messages generated field by
field, and valid seeds mutated one field at a time.

Everything is read from the descriptors the generated code carries: field types and
labels, nested and repeated messages, enums (and values outside them), map entries, and
the ``google.api`` annotations — ``resource_reference`` and resource patterns decide
which string fields get resource names (valid, absent, malformed, of another
collection), so a new service's fields are fuzzed sensibly without a word of
configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message
from google.protobuf import message_factory

from fuzz import values
from fuzz.choose import Chooser, weighted

FD = pb_descriptor.FieldDescriptor
# How deep generated messages nest; deeper structure comes from raw payloads.
MAX_DEPTH: Final = 3
# Repeated fields get these many elements; long lists carry short elements only.
_COUNTS: Final = (0, 1, 1, 2, 3, 5, 17, 300)
_SMALL_LIST: Final = 5
_SHORT_STRINGS: Final = ("", "a", "\x00", "中", "-", "*", "a" * 64, "\u202e", "L2")

_INT32 = frozenset({FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32})
_INT64 = frozenset({FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64})
_UINT32 = frozenset({FD.TYPE_UINT32, FD.TYPE_FIXED32})
_UINT64 = frozenset({FD.TYPE_UINT64, FD.TYPE_FIXED64})
_FLOAT = frozenset({FD.TYPE_DOUBLE, FD.TYPE_FLOAT})


def message_class(descriptor: pb_descriptor.Descriptor) -> type[pb_message.Message]:
    return message_factory.GetMessageClass(descriptor)


def is_repeated(fd: FD) -> bool:
    return bool(fd.is_repeated)


def message_type(fd: FD) -> pb_descriptor.Descriptor:
    if fd.message_type is None:
        raise TypeError(f"{fd.full_name} is not a message field")
    return fd.message_type


def is_map(fd: FD) -> bool:
    return (fd.type == FD.TYPE_MESSAGE and is_repeated(fd)
            and message_type(fd).GetOptions().map_entry)


def behaviors(fd: FD) -> frozenset[int]:
    return frozenset(fd.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def is_required(fd: FD) -> bool:
    return field_behavior_pb2.REQUIRED in behaviors(fd)


@cache
def resource_patterns(file: pb_descriptor.FileDescriptor) -> dict[str, tuple[str, ...]]:
    """Resource type -> name patterns, from ``file`` and everything it imports."""
    patterns: dict[str, tuple[str, ...]] = {}
    seen: set[str] = set()

    def visit(current: pb_descriptor.FileDescriptor) -> None:
        if current.name in seen:
            return
        seen.add(current.name)
        for dependency in current.dependencies:
            visit(dependency)
        for definition in current.GetOptions().Extensions[resource_pb2.resource_definition]:
            patterns[definition.type] = tuple(definition.pattern)
        for message in _messages(current.message_types_by_name.values()):
            resource = message.GetOptions().Extensions[resource_pb2.resource]
            if resource.type:
                patterns[resource.type] = tuple(resource.pattern)

    visit(file)
    return patterns


def _messages(tops: Iterable[pb_descriptor.Descriptor]) -> Iterator[pb_descriptor.Descriptor]:
    for message in tops:
        yield message
        yield from _messages(message.nested_types)


def resource_type(fd: FD) -> str:
    """The resource type a string field names: its ``resource_reference``, or, for the
    IDENTIFIER ``name`` of a resource message, that message's own type; else ""."""
    if fd.type != FD.TYPE_STRING:
        return ""
    reference = fd.GetOptions().Extensions[resource_pb2.resource_reference]
    if reference.type:
        return str(reference.type)
    if reference.child_type:
        return str(reference.child_type)
    if field_behavior_pb2.IDENTIFIER in behaviors(fd) or fd.name == "name":
        if fd.containing_type is None:
            return ""
        own = fd.containing_type.GetOptions().Extensions[resource_pb2.resource]
        return str(own.type)
    return ""


@dataclass
class Fixtures:
    """What a service's setup found or made on the platform under test.

    ``names`` are resource names that exist, by resource type, which every method may
    use; ``throwaway`` are the ones the harness made itself, the only real names a
    destructive method is given; ``protected`` are names (and token ids) whose bytes must
    never reach a destructive method, whatever the mutator produced."""

    names: dict[str, list[str]] = field(default_factory=dict)
    throwaway: dict[str, list[str]] = field(default_factory=dict)
    protected: set[str] = field(default_factory=set)
    values: dict[str, Any] = field(default_factory=dict)
    # Platform-specific hostile strings by pool ("uri", "filter", …), drawn beside the
    # generic ones of fuzz.values: paths inside this platform's dataset roots, say.
    pools: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, name: str, *, throwaway: bool = False,
            protect: bool = True) -> None:
        """A resource that exists. ``protect=False`` for kinds no destructive method acts
        on (a dataset named in a draft filing harms no dataset)."""
        target = self.throwaway if throwaway else self.names
        if name not in target.setdefault(kind, []):
            target[kind].append(name)
        if protect and not throwaway:
            self.protected.add(name)

    def usable(self, kind: str, destructive: bool) -> list[str]:
        found = list(self.throwaway.get(kind, ()))
        found += [name for name in self.names.get(kind, ())
                  if not destructive or name not in self.protected]
        return found

    def guarded(self, payload: bytes) -> bool:
        """True if ``payload`` carries a protected name (a destructive call must not go)."""
        return any(name.encode() in payload for name in self.protected if name)


@dataclass
class Generator:
    chooser: Chooser
    fixtures: Fixtures
    file: pb_descriptor.FileDescriptor
    destructive: bool = False
    # Field names of the service's messages, for FieldMask paths and filters.
    field_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.field_names:
            self.field_names = _field_paths(self.file)

    # --- whole messages -----------------------------------------------------------------

    def message(self, descriptor: pb_descriptor.Descriptor, depth: int = MAX_DEPTH,
                small: bool = False) -> pb_message.Message:
        message = message_class(descriptor)()
        fill = 0.6 if depth == MAX_DEPTH else 0.4
        for fd in descriptor.fields:
            if self.chooser.chance(0.25 if small else fill):
                self.set_field(message, fd, depth, small)
        return message

    def set_field(self, message: pb_message.Message, fd: FD, depth: int,
                  small: bool = False) -> None:
        if is_map(fd):
            self._fill_map(message, fd, depth)
        elif is_repeated(fd):
            self._fill_repeated(message, fd, depth, small)
        elif fd.type == FD.TYPE_MESSAGE:
            target = getattr(message, fd.name)
            if depth <= 0 or self.chooser.chance(0.2):
                target.SetInParent()
            else:
                target.CopyFrom(self.message(message_type(fd), depth - 1, small))
        else:
            _assign(message, fd, self.scalar(fd, small))

    def _fill_repeated(self, message: pb_message.Message, fd: FD, depth: int,
                       small: bool) -> None:
        count = self.chooser.pick(_COUNTS)
        shorten = small or count > _SMALL_LIST
        container = getattr(message, fd.name)
        del container[:]
        if fd.type == FD.TYPE_MESSAGE:
            for _ in range(count):
                container.add().CopyFrom(self.message(message_type(fd), max(0, depth - 1),
                                                       shorten))
            return
        for _ in range(count):
            value = self.scalar(fd, shorten)
            try:
                container.append(value)
            except (TypeError, ValueError):
                container.append(_zero(fd))

    def _fill_map(self, message: pb_message.Message, fd: FD, depth: int) -> None:
        key_fd = message_type(fd).fields_by_name["key"]
        value_fd = message_type(fd).fields_by_name["value"]
        container = getattr(message, fd.name)
        for _ in range(self.chooser.pick((0, 1, 2, 5))):
            key = self.scalar(key_fd, True)
            try:
                if value_fd.type == FD.TYPE_MESSAGE:
                    container[key].CopyFrom(self.message(message_type(value_fd),
                                                         max(0, depth - 1), True))
                else:
                    container[key] = self.scalar(value_fd, True)
            except (TypeError, ValueError):
                continue

    # --- scalars ------------------------------------------------------------------------

    def scalar(self, fd: FD, small: bool = False) -> Any:
        kind = fd.type
        pick = self.chooser.pick
        if kind == FD.TYPE_STRING:
            return pick(_SHORT_STRINGS) if small else self.string(fd)
        if kind == FD.TYPE_BYTES:
            return self.chooser.blob(pick(values.BLOB_SIZES[:7] if small else values.BLOB_SIZES))
        if kind == FD.TYPE_BOOL:
            return self.chooser.chance(0.5)
        if kind == FD.TYPE_ENUM:
            if fd.enum_type is not None and self.chooser.chance(0.8):
                return pick([v.number for v in fd.enum_type.values])
            return pick(values.UNKNOWN_ENUMS)
        if kind in _FLOAT:
            return pick(values.FLOATS)
        if kind in _INT32:
            return pick(values.NANOS if fd.name == "nanos" else values.INT32_EDGES)
        if kind in _INT64:
            return pick(values.INT64_EDGES)
        if kind in _UINT32:
            return pick(values.UINT32_EDGES)
        if kind in _UINT64:
            return pick(values.UINT64_EDGES)
        return _zero(fd)

    def string(self, fd: FD) -> str:
        kind = resource_type(fd)
        if kind:
            return self.resource_name(kind)
        kind, pool = self._pool(fd)
        extra = self.fixtures.pools.get(kind)
        if extra and self.chooser.chance(0.4):
            return self.chooser.pick(extra)
        # Three draws in ten from the general pool keep the breakers in every field.
        if pool is not values.GENERAL and self.chooser.chance(0.3):
            pool = values.GENERAL
        return self.chooser.pick(pool)

    def _pool(self, fd: FD) -> tuple[str, Sequence[str]]:
        name = fd.name
        if name == "filter":
            return "filter", values.FILTERS
        if name == "order_by":
            return "order_by", values.ORDER_BY
        if name.endswith("page_token"):
            return "page_token", values.PAGE_TOKENS
        if name == "uri" or name.endswith("_uri"):
            return "uri", values.URIS
        if "language" in name:
            return "language", values.LANGUAGES
        if name.endswith("sha256"):
            return "sha256", values.HEX
        if name == "paths" and fd.containing_type is not None and \
                fd.containing_type.full_name == "google.protobuf.FieldMask":
            return "paths", (*self.field_names, "*", "", "a..b", "name,state", "nosuchfield")
        if name.endswith("_id") or name in ("jti", "etag", "key_id"):
            return "id", (*values.ABSENT_IDS, *values.BAD_IDS)
        return "general", values.GENERAL

    def resource_name(self, kind: str) -> str:
        patterns = resource_patterns(self.file).get(kind, ())
        usable = self.fixtures.usable(kind, self.destructive)
        pick = self.chooser.pick
        mode = weighted(self.chooser, [
            (3.0 if usable else 0.0, "usable"), (2.0, "absent"), (3.0, "bad-id"),
            (1.0, "other-collection"), (1.5, "structure"), (1.0, "general")])
        if mode == "usable":
            return pick(usable)
        if not patterns or mode == "general":
            return pick(values.GENERAL)
        pattern = pick(patterns)
        if mode == "absent":
            return _fill(pattern, lambda: pick(values.ABSENT_IDS))
        if mode == "bad-id":
            variables = pattern.count("{")
            bad = self.chooser.integer(0, max(0, variables - 1))
            counter = iter(range(variables))
            return _fill(pattern, lambda: pick(values.BAD_IDS) if next(counter) == bad
                         else pick(values.ABSENT_IDS))
        if mode == "other-collection":
            others = [p for t, ps in resource_patterns(self.file).items() if t != kind
                      for p in ps]
            if others:
                return _fill(pick(others), lambda: pick(values.ABSENT_IDS))
        collection = pattern.split("/", 1)[0]
        return pick((
            collection, collection + "/", collection + "//", "/" + _fill(pattern, lambda: "x-x-x"),
            _fill(pattern, lambda: "fuzz-absent") + "/", _fill(pattern, lambda: "fuzz-absent")
            + "/extra/segments", collection.upper() + "/fuzz-absent",
            collection + "/fuzz-absent:b", collection + "/fuzz absent", collection + "/-",
            collection + "/fuzz-absent\x00", "x/" + _fill(pattern, lambda: "fuzz-absent"),
            collection + "s/fuzz-absent", collection[:-1] + "/fuzz-absent"))

    # --- one field of a seed ------------------------------------------------------------

    def mutate(self, seed: pb_message.Message) -> tuple[pb_message.Message, str]:
        """A copy of ``seed`` with one field (at any depth) changed; and what changed."""
        mutated = type(seed)()
        mutated.CopyFrom(seed)
        paths = list(field_paths(seed.DESCRIPTOR))  # type: ignore[arg-type]
        if not paths:
            return mutated, "no fields to mutate"
        path = self.chooser.pick(paths)
        parent = mutated
        for fd in path[:-1]:
            if is_repeated(fd):
                container = getattr(parent, fd.name)
                parent = container[0] if len(container) else container.add()
            else:
                parent = getattr(parent, fd.name)
        target = path[-1]
        label = ".".join(fd.name for fd in path)
        if self.chooser.chance(0.15):
            parent.ClearField(target.name)
            return mutated, f"{label} cleared"
        if is_repeated(target) and not is_map(target) and self.chooser.chance(0.3):
            return mutated, self._mutate_list(parent, target, label)
        self.set_field(parent, target, MAX_DEPTH - 1)
        return mutated, f"{label} := {_describe(getattr(parent, target.name))}"

    def _mutate_list(self, parent: pb_message.Message, fd: FD, label: str) -> str:
        container = getattr(parent, fd.name)
        if len(container) and self.chooser.chance(0.5):
            copies = self.chooser.pick((2, 50, 1000))
            first = container[0]
            for _ in range(copies - 1):
                if fd.type == FD.TYPE_MESSAGE:
                    container.add().CopyFrom(first)
                else:
                    container.append(first)
            return f"{label}[0] repeated {copies} times"
        if fd.type == FD.TYPE_MESSAGE:
            container.add().CopyFrom(self.message(message_type(fd), 1))
        else:
            try:
                container.append(self.scalar(fd))
            except (TypeError, ValueError):
                container.append(_zero(fd))
        return f"{label} appended {_describe(container[len(container) - 1])}"


def field_paths(descriptor: pb_descriptor.Descriptor, depth: int = MAX_DEPTH,
                prefix: tuple[FD, ...] = ()) -> Iterator[tuple[FD, ...]]:
    """Every field path under ``descriptor`` up to ``depth`` levels (recursive types stop
    there)."""
    for fd in descriptor.fields:
        path = (*prefix, fd)
        yield path
        if fd.type == FD.TYPE_MESSAGE and not is_map(fd) and depth > 1:
            yield from field_paths(message_type(fd), depth - 1, path)


@cache
def _field_paths(file: pb_descriptor.FileDescriptor) -> tuple[str, ...]:
    names: set[str] = set()
    for message in _messages(file.message_types_by_name.values()):
        for path in field_paths(message, 2):
            names.add(".".join(fd.name for fd in path))
    return tuple(sorted(names))


def _fill(pattern: str, part: Any) -> str:
    out: list[str] = []
    rest = pattern
    while "{" in rest:
        before, _, after = rest.partition("{")
        _, _, rest = after.partition("}")
        out.append(before)
        out.append(part())
    out.append(rest)
    return "".join(out)


def _assign(message: pb_message.Message, fd: FD, value: Any) -> None:
    try:
        setattr(message, fd.name, value)
    except (TypeError, ValueError):
        # A value the Python runtime will not hold (an out-of-range float, say); raw
        # payloads cover what the runtime refuses.
        setattr(message, fd.name, _zero(fd))


def _zero(fd: FD) -> Any:
    if fd.type in (FD.TYPE_STRING,):
        return ""
    if fd.type == FD.TYPE_BYTES:
        return b""
    if fd.type == FD.TYPE_BOOL:
        return False
    if fd.type in _FLOAT:
        return 0.0
    return 0


def _describe(value: Any) -> str:
    if isinstance(value, (str, bytes)) and len(value) > 60:
        return f"{value[:40]!r}… ({len(value)} {'chars' if isinstance(value, str) else 'bytes'})"
    if isinstance(value, pb_message.Message):
        size = value.ByteSize()
        return f"<{value.DESCRIPTOR.name} of {size} bytes>"
    if hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
        items = list(value)
        shown = ", ".join(_describe(v) for v in items[:3])
        return f"[{shown}{', …' if len(items) > 3 else ''}] ({len(items)} items)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
