"""The gateway's authorization decision: may these roles call this method from this
network domain, and is the declared data level within the ceiling the gateway can know?

Roles are decided by a Casbin policy (``gateway/policy/``) over full gRPC method names,
deny by default, deny overriding allow *across* the caller's roles: a call is allowed
only if a rule of some role allows it and no rule of any role (or of ``*``) denies it.
The whole role set goes into one Casbin request, so that semantics is Casbin's own
policy effect rather than a loop of ours.

Decisions are cached per (roles, domain, method): the policy is small and static between
reloads, so the hot path is one dict lookup. A reload builds a fresh enforcer and a fresh
cache together and swaps them in one assignment, so no decision of the old policy can
outlive the reload, even one computed concurrently with it.

``python -m bench authz`` prints the cached and uncached decision times.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import casbin

from zhijian import service_spec
from zhijian.assertion import DOMAIN_CEILINGS as KERNEL_CEILINGS
from zhijian.identity import clearance_to_level
from zhijian.types.v1 import ai_result_pb2

log = logging.getLogger("zhijian.gateway.authz")

POLICY_DIR: Final = Path(__file__).resolve().parent / "policy"
DEFAULT_MODEL: Final = POLICY_DIR / "model.conf"
DEFAULT_POLICY: Final = POLICY_DIR / "policy.csv"

L1: Final = int(ai_result_pb2.DATA_LEVEL_L1_PUBLIC)
L4: Final = int(ai_result_pb2.DATA_LEVEL_L4_CORE)
UNSPECIFIED: Final = int(ai_result_pb2.DATA_LEVEL_UNSPECIFIED)
# The kernel's domain ceilings as DataLevel values; the filing's clearance is applied later
# by the service, which alone knows which model version answers.
DOMAIN_CEILINGS: Final[dict[str, int]] = {
    domain: clearance_to_level(clearance) for domain, clearance in KERNEL_CEILINGS.items()}
DOMAINS: Final = tuple(DOMAIN_CEILINGS)

ROLE_NOT_PERMITTED: Final = "ROLE_NOT_PERMITTED"
DATA_LEVEL_EXCEEDS_CEILING: Final = "DATA_LEVEL_EXCEEDS_CEILING"

EFFECTS: Final = frozenset({"allow", "deny"})
ANY_ROLE: Final = "*"
# What a gRPC :path looks like. Anything else is refused outright rather than handed to
# keyMatch, whose prefix matching would let "/pkg.S/Get/../Approve" ride on "Get*".
_METHOD: Final = re.compile(r"/[A-Za-z_][A-Za-z0-9_.]*/[A-Za-z_][A-Za-z0-9_]*")
# Method names come from the caller: bound the cache so junk names cannot grow it forever.
MAX_CACHE_ENTRIES: Final = 65_536

CacheKey = tuple[frozenset[str], str, str]


class PolicyError(ValueError):
    """The model or policy file is malformed; the previous policy stays in force."""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # "" when allowed, else ROLE_NOT_PERMITTED or DATA_LEVEL_EXCEEDS_CEILING


ALLOW: Final = Decision(True, "")
DENY_ROLE: Final = Decision(False, ROLE_NOT_PERMITTED)
DENY_LEVEL: Final = Decision(False, DATA_LEVEL_EXCEEDS_CEILING)


def _role_match(roles: frozenset[str], rule_subject: str) -> bool:
    return rule_subject == ANY_ROLE or rule_subject in roles


@dataclass(frozen=True)
class _State:
    """One policy generation: the enforcer and the decisions it produced."""

    enforcer: casbin.Enforcer
    digest: str
    model_text: str
    cache: dict[CacheKey, bool] = field(default_factory=dict)


def _parse_rule(row: list[str], where: str) -> list[str]:
    cells = [cell.strip() for cell in row]
    if len(cells) != 5 or cells[0] != "p":
        raise PolicyError(f"{where}: expected `p, role, domain, method_pattern, allow|deny`")
    _, role, domain, pattern, effect = cells
    if not role:
        raise PolicyError(f"{where}: empty role")
    if domain not in DOMAIN_CEILINGS:
        raise PolicyError(f"{where}: domain {domain!r} is not one of {', '.join(DOMAINS)}")
    if not pattern.startswith("/"):
        raise PolicyError(f"{where}: method pattern {pattern!r} must start with '/'")
    # Casbin silently ignores an unknown effect; a typo in a deny line must not vanish.
    if effect not in EFFECTS:
        raise PolicyError(f"{where}: effect {effect!r} is not allow or deny")
    return [role, domain, pattern, effect]


def parse_rows(rows: Iterable[tuple[str, Sequence[str]]]) -> list[list[str]]:
    """Rules from ``(where, cells)`` pairs, cells as in a policy line (``p, role, domain,
    method_pattern, allow|deny``); ``where`` names the row in errors. The one check for
    every source of rules, so a database row is held to exactly what a file line is."""
    rules: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for where, row in rows:
        rule = _parse_rule(list(row), where)
        if tuple(rule) in seen:
            raise PolicyError(f"{where}: duplicate rule {', '.join(rule)}")
        seen.add(tuple(rule))
        rules.append(rule)
    return rules


def parse_policy(text: str, source: str = "policy") -> list[list[str]]:
    """Rules of a policy file; ``#`` comments and blank lines are skipped."""
    return parse_rows(
        (f"{source}:{number}", next(csv.reader([line], skipinitialspace=True)))
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#"))


def installed_service_rows() -> list[list[str]]:
    """The access lists of the installed services (``zhijian.services`` entry points). A
    service whose list names a method its contract lacks is left out whole, and said so:
    its calls are refused rather than the gateway not starting for everyone."""
    from gateway.routes import build_routes

    routes = build_routes()
    rows: list[list[str]] = []
    for spec in service_spec.discover():
        own = spec.policy_rows()
        unknown = sorted({row[2] for row in own} - set(routes))
        if unknown:
            log.error("service %s grants calls of methods its contract does not have (%s): "
                      "its access list is left out, so its methods are refused",
                      spec.name, ", ".join(unknown))
            continue
        rows.extend(row for row in own if row not in rows)
    return rows


def merge_rules(policy: list[list[str]],
                services: Iterable[Sequence[str]]) -> list[list[str]]:
    """The policy's rules followed by the services' rows it does not already hold (a
    service's row is checked like a policy line)."""
    held = {tuple(rule) for rule in policy}
    return policy + [rule for rule in _check_rules(services, "service access lists")
                     if tuple(rule) not in held]


def build_enforcer(model_text: str, rules: list[list[str]]) -> casbin.Enforcer:
    try:
        enforcer = casbin.Enforcer(casbin.Enforcer.new_model(text=model_text))
    except Exception as error:  # casbin raises bare exceptions for a bad model
        raise PolicyError(f"invalid Casbin model: {error}") from error
    enforcer.add_function("roleMatch", _role_match)
    if rules:
        enforcer.add_policies(rules)
    return enforcer


def _digest(model_text: str, policy_text: str) -> str:
    return hashlib.sha256(f"{model_text}\0{policy_text}".encode()).hexdigest()


def _rules_digest(model_text: str, rules: list[list[str]]) -> str:
    # JSON, not a join: no cell content can make two different rule sets hash alike.
    return _digest(model_text, json.dumps(rules, ensure_ascii=False))


def _check_level(name: str, level: int, low: int) -> None:
    if not low <= level <= L4:
        raise ValueError(f"{name} {level} is not a data level ({low}..{L4})")


def ceiling(domain: str, clearance_level: int) -> int:
    """min(domain ceiling, caller clearance): the highest level the gateway lets through."""
    _check_level("clearance", clearance_level, L1)
    try:
        return min(DOMAIN_CEILINGS[domain], clearance_level)
    except KeyError:
        raise ValueError(f"unknown network domain {domain!r}") from None


class Authorizer:
    """Thread-safe authorization decisions with a cache and hot reload.

    Two ways to feed it: from files (``from_files``; ``reload_if_changed`` and ``watch``
    follow them), or from rules held elsewhere (``from_rules``; the owner pushes each new
    rule set with ``replace_rules``, as gateway/policy_store.py does from PostgreSQL).
    """

    def __init__(self, model_path: Path, policy_path: Path,
                 service_rows: Sequence[Sequence[str]] = ()) -> None:
        self.model_path: Path | None = Path(model_path)
        self.policy_path: Path | None = Path(policy_path)
        self._service_rows = [list(row) for row in service_rows]
        self._reload_lock = threading.Lock()
        self._state = self._load()

    @classmethod
    def from_files(cls, model_path: Path | str = DEFAULT_MODEL,
                   policy_path: Path | str = DEFAULT_POLICY, *,
                   service_rows: Sequence[Sequence[str]] | None = None) -> Authorizer:
        """The policy file plus the installed services' access lists (their
        ``ServiceSpec.access``; ``service_rows`` replaces them, ``()`` for none)."""
        return cls(Path(model_path), Path(policy_path),
                   installed_service_rows() if service_rows is None else service_rows)

    @classmethod
    def from_rules(cls, model_text: str, rules: Iterable[Sequence[str]], *,
                   source: str = "rules") -> Authorizer:
        """An Authorizer over ``[role, domain, method_pattern, allow|deny]`` rules, checked
        like policy-file lines (PolicyError names ``source`` and the rule's index)."""
        authorizer = cls.__new__(cls)
        authorizer.model_path = None
        authorizer.policy_path = None
        authorizer._reload_lock = threading.Lock()
        checked = _check_rules(rules, source)
        authorizer._state = _State(build_enforcer(model_text, checked),
                                   _rules_digest(model_text, checked), model_text)
        return authorizer

    # --- loading ---------------------------------------------------------------------

    def _read(self) -> tuple[str, str]:
        if self.model_path is None or self.policy_path is None:
            raise RuntimeError("this Authorizer is fed by replace_rules(), not by files")
        return (self.model_path.read_text(encoding="utf-8"),
                self.policy_path.read_text(encoding="utf-8"))

    def _load(self, texts: tuple[str, str] | None = None) -> _State:
        model_text, policy_text = texts or self._read()
        # Build from the bytes that were hashed, so the digest always describes the
        # policy actually in force even if the file changes while we load it.
        rules = merge_rules(parse_policy(policy_text, str(self.policy_path)),
                            self._service_rows)
        return _State(build_enforcer(model_text, rules),
                      self._files_digest(model_text, policy_text), model_text)

    def _files_digest(self, model_text: str, policy_text: str) -> str:
        # The services' rows are part of the policy in force, so part of what it hashes to.
        return _digest(model_text, policy_text + "\0" + json.dumps(self._service_rows))

    def replace_rules(self, rules: Iterable[Sequence[str]], *, source: str = "rules") -> bool:
        """Put a new rule set in force under the same model; True if it differs from the
        one in force (only then is the decision cache dropped). A malformed rule raises
        PolicyError and leaves the previous policy in force."""
        if self.policy_path is not None:
            # The next reload_if_changed would silently put the file back.
            raise RuntimeError("a file-backed Authorizer follows its file; use from_rules()")
        checked = _check_rules(rules, source)
        with self._reload_lock:
            model_text = self._state.model_text
            digest = _rules_digest(model_text, checked)
            if digest == self._state.digest:
                return False
            self._state = _State(build_enforcer(model_text, checked), digest, model_text)
            return True

    def reload_if_changed(self) -> bool:
        """Reload when the model or policy content changed; True if it did. A malformed
        file raises PolicyError and leaves the previous policy in force."""
        with self._reload_lock:
            texts = self._read()
            if self._files_digest(*texts) == self._state.digest:
                return False
            # One assignment swaps enforcer and an empty cache together: readers see the
            # old generation or the new one, never a mix.
            self._state = self._load(texts)
            return True

    @property
    def digest(self) -> str:
        return self._state.digest

    def cache_size(self) -> int:
        return len(self._state.cache)

    # --- decisions -------------------------------------------------------------------

    def allowed(self, roles: Iterable[str], domain: str, method: str) -> bool:
        """True if some role is allowed and no role (nor ``*``) is denied."""
        role_set = roles if isinstance(roles, frozenset) else frozenset(roles)
        key = (role_set, domain, method)
        state = self._state
        cached = state.cache.get(key)
        if cached is not None:
            return cached
        result = self._evaluate(state, role_set, domain, method)
        if len(state.cache) >= MAX_CACHE_ENTRIES:
            state.cache.clear()
        # Stored in the generation that computed it: after a reload it is simply dropped.
        state.cache[key] = result
        return result

    @staticmethod
    def _evaluate(state: _State, roles: frozenset[str], domain: str, method: str) -> bool:
        if domain not in DOMAIN_CEILINGS or not _METHOD.fullmatch(method):
            return False
        return bool(state.enforcer.enforce(roles, domain, method))

    def decide(self, principal_roles: Iterable[str], clearance_level: int, domain: str,
               method: str, data_level: int) -> Decision:
        """The gateway's full decision. Roles are checked first so that a caller who may
        not call the method learns nothing about levels. An undeclared level counts as
        L1: the service still detects the level from content and refuses above it."""
        if not self.allowed(principal_roles, domain, method):
            return DENY_ROLE
        _check_level("data level", data_level, UNSPECIFIED)
        level = data_level if data_level != UNSPECIFIED else L1
        if level > ceiling(domain, clearance_level):
            return DENY_LEVEL
        return ALLOW

    # --- watching --------------------------------------------------------------------

    def watch(self, interval_s: float = 2.0) -> PolicyWatcher:
        """Start a daemon thread that reloads the policy when it changes."""
        watcher = PolicyWatcher(self, interval_s)
        watcher.start()
        return watcher

    async def watch_async(self, interval_s: float = 2.0) -> None:
        """The same for an asyncio gateway: run it as a task, cancel it to stop."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(self.reload_if_changed)
            except (OSError, PolicyError):
                continue  # keep the last good policy; the next tick tries again


def _check_rules(rules: Iterable[Sequence[str]], source: str) -> list[list[str]]:
    return parse_rows((f"{source} rule {index}", ["p", *rule])
                      for index, rule in enumerate(rules, start=1))


class PolicyWatcher(threading.Thread):
    def __init__(self, authorizer: Authorizer, interval_s: float) -> None:
        super().__init__(name="gateway-policy-watcher", daemon=True)
        self._authorizer = authorizer
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self.last_error: Exception | None = None

    def run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            try:
                self._authorizer.reload_if_changed()
                self.last_error = None
            except (OSError, PolicyError) as error:
                # A half-edited file must not take the gateway down nor open it up.
                self.last_error = error

    def stop(self) -> None:
        self._stopped.set()
        self.join()
