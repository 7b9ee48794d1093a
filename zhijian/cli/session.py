"""How a CLI command acts as a named local identity, through a gateway.

Every command that calls the platform takes ``--as NAME`` (or ``ZHIJIAN_AS``) and
``--domain internet|extranet|intranet`` (default intranet): the call goes to that
domain's gateway, which authenticates the identity's token, authorizes the method for
the domain and forwards it. The gateway and the service behind it, not the CLI, decide
what the identity may do, so the CLI only presents the token and reports the answer
readably. ``--gateway HOST:PORT`` names a gateway elsewhere.

gRPC, the identity kernel and generated code are imported where used: the argument
helpers run while the parser of every command is built.
"""

from __future__ import annotations

import argparse
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

from zhijian import metadata as md
from zhijian.config import env_float, env_str

if TYPE_CHECKING:
    import grpc

    from zhijian.identity import LocalIdentity
    from zhijian.registry.v1.registry_service_pb2_grpc import RegistryServiceStub

DEFAULT_TIMEOUT_S = 10.0
NO_IDENTITY = "no identity: pass --as NAME (see `zhijian identity list`)"


def add_registry_arg(parser: argparse.ArgumentParser) -> None:
    """``--domain`` and ``--gateway``: where the command's calls enter the platform."""
    from zhijian.cli.stack import DEFAULT_DOMAIN
    from zhijian.config import NETWORK_DOMAINS

    parser.add_argument("--domain", choices=NETWORK_DOMAINS,
                        help="network domain whose gateway to call through (default "
                             f"$ZHIJIAN_DOMAIN, else {DEFAULT_DOMAIN})")
    # --registry is the name older scripts use; it is the same thing.
    parser.add_argument("--gateway", "--registry", dest="gateway", metavar="HOST:PORT",
                        help="gateway address (default 127.0.0.1:"
                             "$ZHIJIAN_GATEWAY_<DOMAIN>_PORT, e.g. 50072 for intranet)")


def add_identity_args(parser: argparse.ArgumentParser) -> None:
    # Defaults resolve when the command runs, not when the parser is built, so that the
    # environment of the call (tests, `ZHIJIAN_AS=… zhijian …`) is the one that counts.
    parser.add_argument("--as", dest="as_identity", metavar="NAME",
                        help="local identity to act as (default $ZHIJIAN_AS)")
    add_registry_arg(parser)


def call_domain(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> str:
    from zhijian.cli.stack import DEFAULT_DOMAIN
    from zhijian.config import NETWORK_DOMAINS

    domain: str = getattr(args, "domain", None) or env_str("ZHIJIAN_DOMAIN", DEFAULT_DOMAIN,
                                                          env)
    if domain not in NETWORK_DOMAINS:
        from zhijian.config import ConfigError

        raise ConfigError(f"ZHIJIAN_DOMAIN={domain!r} is not one of "
                          + ", ".join(NETWORK_DOMAINS))
    return domain


def gateway_target(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> str:
    """The gateway every call of this command goes through."""
    from zhijian.cli.stack import StackPorts

    explicit: str | None = getattr(args, "gateway", None)
    if explicit:
        return explicit
    return StackPorts.from_env(env).gateway_target(call_domain(args, env))



def ensure_usable(identity: LocalIdentity) -> LocalIdentity:
    """Refuse locally what the registry would refuse anyway, with a more useful message."""
    from zhijian.identity import IdentityError

    if identity.revoked_at is not None:
        raise IdentityError(f"identity {identity.name} was revoked; issue a new one with "
                            f"`zhijian identity issue {identity.name} …`")
    if identity.is_expired():
        raise IdentityError(f"the token of identity {identity.name} expired at "
                            f"{identity.expires_at:%Y-%m-%d %H:%M} UTC; re-issue it with "
                            f"`zhijian identity issue {identity.name} …`")
    return identity


def acting_identity(args: argparse.Namespace, env: Mapping[str, str] | None = None
                    ) -> LocalIdentity:
    from zhijian.identity import IdentityError, IdentitySettings, LocalIdentity

    name = getattr(args, "as_identity", None) or env_str("ZHIJIAN_AS", "", env)
    if not name:
        raise IdentityError(NO_IDENTITY)
    settings = IdentitySettings.from_env(env)
    return ensure_usable(LocalIdentity.load(settings.identities_dir, name))


def call_metadata(identity: LocalIdentity) -> tuple[tuple[str, str], ...]:
    return ((md.AUTHORIZATION, f"Bearer {identity.token}"),
            (md.REQUEST_ID, uuid.uuid4().hex))


@contextlib.asynccontextmanager
async def open_registry(target: str) -> AsyncIterator[RegistryServiceStub]:
    from zhijian.client import open_channel
    from zhijian.registry.v1.registry_service_pb2_grpc import RegistryServiceStub

    async with open_channel(target) as channel:
        yield RegistryServiceStub(channel)


@contextlib.asynccontextmanager
async def registry_stub(args: argparse.Namespace, identity: LocalIdentity
                        ) -> AsyncIterator[RegistryServiceStub]:
    """A stub for the registry behind the gateway of ``--domain``; pass
    ``metadata=call_metadata(identity)``
    on every call. A revoked or expired identity fails here, before any dialling."""
    ensure_usable(identity)
    async with open_registry(gateway_target(args)) as stub:
        yield stub


def is_unreachable(error: grpc.aio.AioRpcError) -> bool:
    """The registry did not answer at all (as opposed to refusing with a reason)."""
    import grpc

    from zhijian.errors import parse_error

    details = parse_error(error)
    return details.code == grpc.StatusCode.UNAVAILABLE and not details.reason


def rpc_error_message(error: grpc.aio.AioRpcError) -> str:
    """``PERMISSION_DENIED [FILING_SEPARATION_OF_DUTIES]: message`` plus field violations."""
    from zhijian.errors import parse_error

    details = parse_error(error)
    head = details.code.name
    if details.reason and details.reason != details.code.name:
        head += f" [{details.reason}]"
    lines = [f"{head}: {details.message or 'no message'}"]
    lines += [f"  {v.field}: {v.description}" for v in details.violations]
    return "\n".join(lines)


def default_timeout(env: Mapping[str, str] | None = None) -> float:
    return env_float("ZHIJIAN_DEFAULT_DEADLINE_S", DEFAULT_TIMEOUT_S, env)
