"""Every request checked against its own contract before a handler sees it.

The checks are read from the request message's descriptor, once per method, so a service
built later inherits them by declaring its fields in the proto:

- **Identifiers hold no control characters.** A string field is an identifier when the
  descriptor says so (``field_behavior = IDENTIFIER``, a ``resource_reference``) or when
  its name is one the API conventions reserve for identifiers: ``name`` and ``parent``
  (AIP-122 resource names), ``id`` and ``*_id`` (AIP-133 / AIP-155 ids) and ``jti`` /
  ``*_jti`` (the JWT ID of RFC 7519). Refused: Unicode general category Cc (NUL, the C0
  and C1 controls, DEL) and the Bidi_Control characters, which make two different ids
  print alike. Free text (descriptions, reasons, the text to classify) is not checked:
  newlines and tabs belong there.
- **Resource names match their patterns** (AIP-122): a ``resource_reference`` field, the
  IDENTIFIER field of a resource message, and a request's ``name`` when the method returns
  a resource, must match a pattern of their resource type, as ``google.api.resource`` and
  ``google.api.resource_definition`` declare them in the file and its imports. A variable
  matches one segment of RFC 3986 unreserved characters (``A-Z a-z 0-9 . _ ~ -``) other
  than ``.`` and ``..``: ``/`` would change the name's shape, ``:`` starts a custom method
  in the HTTP mapping (AIP-136), and dot segments are removed from URL paths.
- **REQUIRED fields are present** (AIP-203), in the request and in the nested messages it
  carries, but not inside a resource message: a resource's REQUIRED marks what a complete
  resource holds (a filing may stay an incomplete DRAFT until SubmitFiling checks it, the
  server fills in some parts, an update with a field mask sets only its fields, AIP-134).
  A string, bytes or repeated field is missing when empty, a message when unset, an enum
  when it holds its ``*_UNSPECIFIED`` zero; numbers and booleans without explicit presence
  cannot be told apart from a deliberate zero and are not checked.

A service may name fields whose presence and form its handler checks itself with a more
precise reason (``checked_by_handler``): those skip the REQUIRED and pattern checks but
keep the character checks. A service whose store cannot hold U+0000 in text (PostgreSQL
``text`` and ``jsonb``) may refuse it in every string field (``refuse_nul_in_text``),
which otherwise fails as INTERNAL on the first write.

OUTPUT_ONLY fields are skipped: the server ignores what a caller puts there. Nesting is
followed to ``MAX_DEPTH`` levels; deeper requests are refused, never half-checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message

from zhijian.errors import FieldViolation, InvalidArgument

CONTROL_CHARACTER_IN_IDENTIFIER = "CONTROL_CHARACTER_IN_IDENTIFIER"
INVALID_RESOURCE_NAME = "INVALID_RESOURCE_NAME"
FIELD_REQUIRED = "FIELD_REQUIRED"
NUL_CHARACTER_IN_TEXT = "NUL_CHARACTER_IN_TEXT"
REQUEST_TOO_DEEP = "REQUEST_TOO_DEEP"
INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
INVALID_DURATION = "INVALID_DURATION"

# The ranges google/protobuf/timestamp.proto and duration.proto define. Outside them a
# value decodes but cannot be printed as JSON or turned into a datetime, so the first
# handler to record it would fail as INTERNAL.
_TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)  # 0001-01-01 .. 9999-12-31
_DURATION_SECONDS = 315_576_000_000  # 10,000 years either way
_NANOS = 999_999_999

# Far beyond any message of the project's protos (three levels at most); only a
# self-recursive type could go deeper, and protobuf's own parser stops at 100.
MAX_DEPTH = 32
# Enough to fix a request in one go without echoing a thousand copies of one mistake.
MAX_VIOLATIONS = 20
# How much of a refused value the description repeats.
_SHOWN_CHARS = 80

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SEGMENT = r"(?!\.\.?(?:/|\Z))[A-Za-z0-9._~-]+"
_VARIABLE = re.compile(r"\{[^{}]*\}")
_IDENTIFIER_NAMES = frozenset({"name", "parent", "id", "jti"})

_REQUIRED = field_behavior_pb2.REQUIRED
_OUTPUT_ONLY = field_behavior_pb2.OUTPUT_ONLY
_IDENTIFIER = field_behavior_pb2.IDENTIFIER
_MESSAGE = pb_descriptor.FieldDescriptor.TYPE_MESSAGE
_STRING = pb_descriptor.FieldDescriptor.TYPE_STRING
_BYTES = pb_descriptor.FieldDescriptor.TYPE_BYTES
_ENUM = pb_descriptor.FieldDescriptor.TYPE_ENUM
_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"


def is_identifier_name(field_name: str) -> bool:
    """The naming half of the identifier rule (the descriptor half needs the field)."""
    return (field_name in _IDENTIFIER_NAMES or field_name.endswith("_id")
            or field_name.endswith("_jti"))


def control_character(value: str) -> str | None:
    """The first character an identifier must not hold, or None."""
    found = _CONTROL.search(value)
    return found.group() if found else None


def control_character_violation(path: str, value: str) -> FieldViolation | None:
    """For handlers that check an identifier themselves, with the validator's reason."""
    bad = control_character(value)
    if bad is None:
        return None
    return FieldViolation(path, f"holds the control character U+{ord(bad):04X}; identifiers "
                          "must be printable", CONTROL_CHARACTER_IN_IDENTIFIER)


def compile_patterns(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One expression for every pattern of a resource type (use with ``fullmatch``)."""
    alternatives = ["/".join(_SEGMENT if _VARIABLE.fullmatch(segment) else re.escape(segment)
                             for segment in pattern.split("/"))
                    for pattern in patterns if pattern]
    return re.compile("|".join(f"(?:{a})" for a in alternatives)) if alternatives else None


def resource_patterns(file: pb_descriptor.FileDescriptor) -> dict[str, tuple[str, ...]]:
    """Resource type -> patterns, from the file and everything it imports."""
    found: dict[str, tuple[str, ...]] = {}
    seen: set[str] = set()
    pending = [file]
    while pending:
        current = pending.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        for definition in current.GetOptions().Extensions[resource_pb2.resource_definition]:
            found.setdefault(definition.type, tuple(definition.pattern))
        messages = list(current.message_types_by_name.values())
        while messages:
            message = messages.pop()
            messages.extend(message.nested_types)
            options = message.GetOptions()
            if options.HasExtension(resource_pb2.resource):
                resource = options.Extensions[resource_pb2.resource]
                found.setdefault(resource.type, tuple(resource.pattern))
        pending.extend(current.dependencies)
    return found


_PATTERNS_BY_FILE: dict[str, dict[str, tuple[str, ...]]] = {}


def _patterns_of(file: pb_descriptor.FileDescriptor) -> dict[str, tuple[str, ...]]:
    if file.name not in _PATTERNS_BY_FILE:
        _PATTERNS_BY_FILE[file.name] = resource_patterns(file)
    return _PATTERNS_BY_FILE[file.name]


def _parent_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """AIP-122 parents: a pattern without its last collection and id."""
    return tuple(p.rsplit("/", 2)[0] for p in patterns if p.count("/") >= 3)


def _behaviors(field_descriptor: pb_descriptor.FieldDescriptor) -> frozenset[int]:
    return frozenset(field_descriptor.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def _is_resource(message: pb_descriptor.Descriptor) -> bool:
    return bool(message.GetOptions().HasExtension(resource_pb2.resource))


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…")


@dataclass(eq=False, slots=True)
class _FieldPlan:
    """What to check of one field; built once per method."""

    name: str
    repeated: bool = False
    message: bool = False
    # Missing means "not HasField" (messages, explicit presence) or "falsy" (the rest).
    presence: bool = False
    required: bool = False
    identifier: bool = False
    text: bool = False  # NUL refused (only with refuse_nul_in_text)
    pattern: re.Pattern[str] | None = None
    resource_type: str = ""
    nested: _MessagePlan | None = None
    # "google.protobuf.Timestamp" or "google.protobuf.Duration": checked for its range.
    well_known: str = ""
    map_key: _FieldPlan | None = None
    map_value: _FieldPlan | None = None
    # Settled once the plan is complete (see _prune): the hot path reads, never derives.
    checks_values: bool = False

    @property
    def checks_itself(self) -> bool:
        return (self.required or self.identifier or self.text or self.pattern is not None
                or bool(self.well_known))

    @property
    def useful(self) -> bool:
        return (self.checks_itself or self.nested is not None or self.map_key is not None
                or self.map_value is not None)


@dataclass(eq=False, slots=True)
class _MessagePlan:
    fields: list[_FieldPlan] = field(default_factory=list)
    building: bool = True


def _prune(root: _MessagePlan) -> None:
    """Drop descents into messages with nothing to check. A recursive type (Struct and
    Value, say) is descended into while its plan is being built, before anyone knows
    whether it checks anything; this settles it afterwards."""
    plans: list[_MessagePlan] = []
    seen: set[int] = set()
    pending = [root]
    while pending:
        plan = pending.pop()
        if id(plan) in seen:
            continue
        seen.add(id(plan))
        plans.append(plan)
        for fp in plan.fields:
            for part in (fp, fp.map_key, fp.map_value):
                if part is not None and part.nested is not None:
                    pending.append(part.nested)

    live: set[int] = set()

    def useful(part: _FieldPlan | None) -> bool:
        return part is not None and (part.checks_itself or (
            part.nested is not None and id(part.nested) in live))

    changed = True
    while changed:
        changed = False
        for plan in plans:
            if id(plan) not in live and any(useful(fp) or useful(fp.map_key)
                                            or useful(fp.map_value) for fp in plan.fields):
                live.add(id(plan))
                changed = True
    for plan in plans:
        for fp in plan.fields:
            for part in (fp, fp.map_key, fp.map_value):
                if part is not None and part.nested is not None and id(part.nested) not in live:
                    part.nested = None
            if fp.map_key is not None and not useful(fp.map_key):
                fp.map_key = None
            if fp.map_value is not None and not useful(fp.map_value):
                fp.map_value = None
        plan.fields = [fp for fp in plan.fields if fp.useful]
        for fp in plan.fields:
            for part in (fp, fp.map_key, fp.map_value):
                if part is not None:
                    part.checks_values = (part.identifier or part.text
                                          or part.pattern is not None
                                          or part.nested is not None
                                          or bool(part.well_known))


class _PlanBuilder:
    def __init__(self, patterns: dict[str, tuple[str, ...]], *, refuse_nul: bool) -> None:
        self._patterns = patterns
        self._compiled: dict[tuple[str, ...], re.Pattern[str] | None] = {}
        self._refuse_nul = refuse_nul
        self._memo: dict[tuple[str, bool, frozenset[str]], _MessagePlan] = {}

    def _pattern(self, patterns: tuple[str, ...]) -> re.Pattern[str] | None:
        if patterns not in self._compiled:
            self._compiled[patterns] = compile_patterns(patterns)
        return self._compiled[patterns]

    def message(self, descriptor: pb_descriptor.Descriptor, *, in_resource: bool,
                deferred: frozenset[str], implied_name: str | None = None,
                ) -> _MessagePlan:
        key = (descriptor.full_name, in_resource, deferred)
        if implied_name is None and key in self._memo:
            return self._memo[key]
        plan = _MessagePlan()
        if implied_name is None:
            self._memo[key] = plan  # before the fields: a recursive type finds itself
        in_resource = in_resource or _is_resource(descriptor)
        own_type = (descriptor.GetOptions().Extensions[resource_pb2.resource].type
                    if _is_resource(descriptor) else "")
        for field_descriptor in descriptor.fields:
            field_plan = self._field(field_descriptor, in_resource=in_resource,
                                     deferred=deferred, own_type=own_type,
                                     implied_name=implied_name)
            if field_plan is not None and field_plan.useful:
                plan.fields.append(field_plan)
        plan.building = False
        return plan

    def _field(self, fd: pb_descriptor.FieldDescriptor, *, in_resource: bool,
               deferred: frozenset[str], own_type: str,
               implied_name: str | None) -> _FieldPlan | None:
        behaviors = _behaviors(fd)
        if _OUTPUT_ONLY in behaviors:
            return None
        handler_checks = fd.name in deferred
        plan = _FieldPlan(fd.name, repeated=fd.is_repeated, message=fd.type == _MESSAGE,
                          presence=fd.has_presence)
        plan.required = (_REQUIRED in behaviors and not in_resource and not handler_checks
                         and self._checkable(fd))
        if fd.type == _MESSAGE:
            assert fd.message_type is not None
            entry = fd.message_type
            if entry.GetOptions().map_entry:
                plan.map_key = self._map_part(entry.fields_by_name["key"], in_resource)
                plan.map_value = self._map_part(entry.fields_by_name["value"], in_resource)
                return plan
            if entry.full_name in (_TIMESTAMP, _DURATION):
                plan.well_known = entry.full_name
                return plan
            below = frozenset(p.split(".", 1)[1] for p in deferred
                              if p.startswith(fd.name + "."))
            nested = self.message(entry, in_resource=in_resource, deferred=below)
            if nested.fields or nested.building:
                plan.nested = nested
            return plan
        if fd.type != _STRING:
            return plan
        options = fd.GetOptions()
        reference = (options.Extensions[resource_pb2.resource_reference]
                     if options.HasExtension(resource_pb2.resource_reference) else None)
        plan.identifier = (_IDENTIFIER in behaviors or reference is not None
                           or is_identifier_name(fd.name))
        plan.text = self._refuse_nul and not plan.identifier
        if handler_checks:
            return plan
        patterns: tuple[str, ...] = ()
        if reference is not None and reference.type and reference.type != "*":
            plan.resource_type = reference.type
            patterns = self._patterns.get(reference.type, ())
        elif reference is not None and reference.child_type:
            plan.resource_type = f"parent of {reference.child_type}"
            patterns = _parent_patterns(self._patterns.get(reference.child_type, ()))
        elif _IDENTIFIER in behaviors and own_type:
            plan.resource_type = own_type
            patterns = self._patterns.get(own_type, ())
        elif implied_name is not None and fd.name == "name" and not fd.is_repeated:
            plan.resource_type = implied_name
            patterns = self._patterns.get(implied_name, ())
        plan.pattern = self._pattern(patterns) if patterns else None
        return plan

    def _map_part(self, fd: pb_descriptor.FieldDescriptor, in_resource: bool
                  ) -> _FieldPlan | None:
        if fd.type == _MESSAGE:
            assert fd.message_type is not None
            nested = self.message(fd.message_type, in_resource=in_resource,
                                  deferred=frozenset())
            return _FieldPlan(fd.name, message=True, nested=nested) \
                if nested.fields or nested.building else None
        if fd.type == _STRING and self._refuse_nul:
            return _FieldPlan(fd.name, text=True)
        return None

    @staticmethod
    def _checkable(fd: pb_descriptor.FieldDescriptor) -> bool:
        if fd.is_repeated or fd.has_presence or fd.type in (_STRING, _BYTES, _MESSAGE):
            return True
        if fd.type == _ENUM:
            assert fd.enum_type is not None
            return fd.enum_type.values_by_number[0].name.endswith("_UNSPECIFIED") \
                if 0 in fd.enum_type.values_by_number else False
        return False


def _check_paths(request: pb_descriptor.Descriptor, paths: Collection[str], method: str
                 ) -> None:
    """A handler check named for a field that does not exist would silently check
    nothing: refuse it when the server is built."""
    for path in paths:
        message: pb_descriptor.Descriptor | None = request
        for segment in path.split("."):
            found = message.fields_by_name.get(segment) if message is not None else None
            if found is None:
                raise ValueError(f"{method}: {path!r} names no field of "
                                 f"{request.full_name}")
            message = found.message_type


# Where a value sits, built only when something is wrong with it: (parent, segment),
# the segment a field name, a list index or a map key.
_Path = tuple[Any, str | int] | None


def _render(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, segment = path
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif segment.startswith("["):
            parts.append(segment)
        else:
            parts.append("." + segment)
    return "".join(reversed(parts)).lstrip(".") or "request"


class RequestValidator:
    """The checks of one method's requests; call it with a decoded request."""

    def __init__(self, method: str, plan: _MessagePlan) -> None:
        self.method = method
        self._plan = plan

    def violations(self, request: pb_message.Message) -> list[FieldViolation]:
        found: list[FieldViolation] = []
        self._message(request, self._plan, None, 0, found)
        return found[:MAX_VIOLATIONS]

    def __call__(self, request: pb_message.Message) -> None:
        found = self.violations(request)
        if not found:
            return
        first = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InvalidArgument(f"{first.field}: {first.description}{more}",
                              reason=first.reason, violations=found)

    def _message(self, message: Any, plan: _MessagePlan, where: _Path, depth: int,
                 out: list[FieldViolation]) -> None:
        if depth > MAX_DEPTH:
            out.append(FieldViolation(_render(where), f"nests more than {MAX_DEPTH} messages "
                                      "deep", REQUEST_TOO_DEEP))
            return
        for fp in plan.fields:
            if len(out) >= MAX_VIOLATIONS:
                return
            name = fp.name
            if fp.repeated:
                values = getattr(message, name)
                if not values:
                    if fp.required:
                        out.append(FieldViolation(_render((where, name)), "is required",
                                                  FIELD_REQUIRED))
                    continue
                if fp.map_key is not None or fp.map_value is not None:
                    for key, item in values.items():
                        at = ((where, name), f"[{_shown(str(key))}]")
                        if fp.map_key is not None:
                            self._value(fp.map_key, key, at, depth, out)
                        if fp.map_value is not None:
                            self._value(fp.map_value, item, at, depth, out)
                elif fp.checks_values:
                    parent = (where, name)
                    for i, item in enumerate(values):
                        self._value(fp, item, (parent, i), depth, out)
                continue
            if fp.message or fp.presence:
                if not message.HasField(name):
                    if fp.required:
                        out.append(FieldViolation(_render((where, name)), "is required",
                                                  FIELD_REQUIRED))
                    continue
                value = getattr(message, name)
            else:
                value = getattr(message, name)
                if not value:
                    if fp.required:
                        out.append(FieldViolation(_render((where, name)), "is required",
                                                  FIELD_REQUIRED))
                    continue
            if fp.checks_values:
                self._value(fp, value, (where, name), depth, out)

    def _value(self, fp: _FieldPlan, value: Any, where: _Path, depth: int,
               out: list[FieldViolation]) -> None:
        if fp.well_known:
            violation = _time_violation(fp.well_known, value, where)
            if violation is not None:
                out.append(violation)
            return
        if fp.nested is not None:
            self._message(value, fp.nested, where, depth + 1, out)
            return
        if fp.identifier:
            if _CONTROL.search(value) is not None:
                violation = control_character_violation(_render(where), value)
                assert violation is not None
                out.append(violation)
                return
        elif fp.text and "\x00" in value:
            out.append(FieldViolation(_render(where), "holds a NUL character (U+0000), which "
                                      "no text field may hold", NUL_CHARACTER_IN_TEXT))
            return
        if fp.pattern is not None and value and fp.pattern.fullmatch(value) is None:
            out.append(FieldViolation(_render(where), f"{_shown(value)} is not a resource "
                                      f"name of {fp.resource_type}", INVALID_RESOURCE_NAME))


def _time_violation(kind: str, value: Any, where: _Path) -> FieldViolation | None:
    seconds, nanos = value.seconds, value.nanos
    if kind == _TIMESTAMP:
        if (_TIMESTAMP_SECONDS[0] <= seconds <= _TIMESTAMP_SECONDS[1]
                and 0 <= nanos <= _NANOS):
            return None
        return FieldViolation(_render(where), f"seconds {seconds} and nanos {nanos} are not a "
                              "timestamp between 0001-01-01 and 9999-12-31 with nanos in "
                              f"[0, {_NANOS}]", INVALID_TIMESTAMP)
    same_sign = seconds == 0 or nanos == 0 or (seconds > 0) == (nanos > 0)
    if abs(seconds) <= _DURATION_SECONDS and abs(nanos) <= _NANOS and same_sign:
        return None
    return FieldViolation(_render(where), f"seconds {seconds} and nanos {nanos} are not a "
                          f"duration of at most {_DURATION_SECONDS} s with nanos of the same "
                          f"sign and at most {_NANOS}", INVALID_DURATION)


def request_validator(method: pb_descriptor.MethodDescriptor, *,
                      checked_by_handler: Collection[str] = (),
                      refuse_nul_in_text: bool = False,
                      ) -> Callable[[pb_message.Message], None] | None:
    """The validator of one method's requests, or None when its contract asks for no
    check (then the hot path pays nothing)."""
    request = method.input_type
    _check_paths(request, checked_by_handler, method.full_name)
    patterns = _patterns_of(method.containing_service.file)
    builder = _PlanBuilder(patterns, refuse_nul=refuse_nul_in_text)
    response = method.output_type
    # AIP-131: a request's unannotated ``name`` names the resource the method returns.
    implied = (response.GetOptions().Extensions[resource_pb2.resource].type
               if _is_resource(response) else None)
    plan = builder.message(request, in_resource=False,
                           deferred=frozenset(checked_by_handler), implied_name=implied)
    _prune(plan)
    return RequestValidator(method.full_name, plan) if plan.fields else None
