"""One gateway process: the proxy on a gRPC listener, plus its own health, metrics, policy
reloads, revocation polling and call audit, and an orderly stop.

On SIGTERM or SIGINT the gateway reports NOT_SERVING, stops taking calls and drains those
in flight, then closes the audit log (which syncs and ships every record left), and only
then shuts tracing down: every call answered before the stop is on its way to the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any, Final

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from prometheus_client import start_http_server

from gateway.audit import CallAuditLog, registry_ship
from gateway.authn import Authenticator
from gateway.authz import Authorizer
from gateway.proxy import CallRecorder, GatewayProxy, ProxyOptions
from gateway.ratelimit import RateLimiter
from gateway.revocations import RecordedCredentials, RevocationList
from gateway.routes import build_routes
from gateway.settings import GatewaySettings, TlsSettings
from zhijian.assertion import AssertionSigner
from zhijian.deployment_watcher import token_from_file
from zhijian.telemetry import edge_sampler, setup_json_logging, setup_tracing, shutdown_tracing

log = logging.getLogger("gateway.server")

# The listener takes messages up to this multiple of the limit so that the proxy, not
# gRPC core, refuses the oversized ones: a refusal in gRPC core never reaches the handler
# and so could not be audited. Beyond it gRPC core still protects the process.
RECEIVE_HEADROOM: Final = 2
FIRST_REVOCATIONS_TIMEOUT_S: Final = 5.0
DRAIN_RECORDS_TIMEOUT_S: Final = 2.0


def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes * RECEIVE_HEADROOM),
        ("grpc.max_send_message_length", max_message_bytes),
        # A second gateway on the same port must fail loudly, not share the traffic.
        ("grpc.so_reuseport", 0),
    ]


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(tls.key.read_bytes(), tls.cert.read_bytes())],
        root_certificates=tls.client_ca.read_bytes(), require_client_auth=True)


def create_server(proxy: GatewayProxy, *, address: str, max_message_bytes: int,
                  tls: TlsSettings | None = None) -> tuple[grpc.aio.Server, HealthServicer, int]:
    """The listener with the gateway's own health service in front of the proxy (which
    answers every other method, unknown ones included). Returns (server, health, port)."""
    server = grpc.aio.server(options=server_options(max_message_bytes))
    health = HealthServicer()
    # Registered first: health checks are the gateway's own, unauthenticated and unproxied.
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    server.add_generic_rpc_handlers((proxy,))
    if tls is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, server_credentials(tls))
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, health, port


def assertion_signer(settings: GatewaySettings) -> AssertionSigner:
    """The signer of this gateway's domain, from its own key only. A key file named
    explicitly must exist and be published for the domain: a typo must not mint a fresh
    key, nor another domain's file be published as this one's."""
    if settings.assertion_key is not None:
        return AssertionSigner.load(settings.keys_dir, domain=settings.domain,
                                    issuer=settings.identity, key_file=settings.assertion_key)
    return AssertionSigner.load_or_create(settings.keys_dir, issuer=settings.identity,
                                          domain=settings.domain)


class Gateway:
    """The parts of a gateway process, started and stopped in order."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self._tasks: list[asyncio.Task[Any]] = []
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._health: HealthServicer | None = None
        self._proxy: GatewayProxy | None = None
        self._audit_log: CallAuditLog | None = None

    async def _authorizer(self) -> Authorizer:
        settings = self.settings
        if settings.policy_database_url:
            # Imported here: the database adapter and its drivers are for production only.
            from gateway.policy_store import open_database_authorizer

            store = await open_database_authorizer(settings.policy_database_url)
            self._closers.append(store.close)
            return store.authorizer
        authorizer = Authorizer.from_files(settings.model_path, settings.policy_path)
        self._tasks.append(asyncio.create_task(authorizer.watch_async(), name="policy-watch"))
        return authorizer

    async def _recorder(self, token: Callable[[], str]) -> CallRecorder:
        audit = CallAuditLog(self.settings.audit_dir,
                             ship=registry_ship(self.settings.registry_target, token))
        self._audit_log = audit
        # Ships what an earlier run left before this one adds to it.
        await audit.start()
        return audit

    async def start(self) -> None:
        settings = self.settings
        token = token_from_file(settings.token_file)
        revocations = RevocationList(settings.registry_target, token)
        recorded = RecordedCredentials(settings.registry_target, token)
        for polled, name in ((revocations, "revocations"), (recorded, "recorded credentials")):
            self._closers.append(polled.close)
            # Before the listener opens, so that the first calls need not wait. An
            # unreachable registry is retried by the poller; until a list arrives, calls
            # fail closed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(polled.refresh(), FIRST_REVOCATIONS_TIMEOUT_S)
            self._tasks.append(asyncio.create_task(polled.run(), name=name))
        authorizer = await self._authorizer()
        recorder = await self._recorder(token)
        self._proxy = GatewayProxy(
            domain=settings.domain, routes=build_routes(), backends=settings.routes,
            authenticator=Authenticator.from_settings(settings.identity_settings,
                                                      is_revoked=revocations.is_revoked,
                                                      is_recorded=recorded.is_recorded),
            refresh_recorded=recorded.refresh_now,
            authorizer=authorizer,
            limiter=RateLimiter(settings.rate_per_s, settings.burst),
            signer=assertion_signer(settings),
            recorder=recorder,
            options=ProxyOptions(max_message_bytes=settings.max_message_bytes,
                                 default_deadline_s=settings.default_deadline_s,
                                 retries=settings.retries, mtls=settings.tls is not None))
        self._server, self._health, self.port = create_server(
            self._proxy, address=settings.address, max_message_bytes=settings.max_message_bytes,
            tls=settings.tls)
        if settings.tls is None and settings.host not in ("127.0.0.1", "::1", "localhost"):
            log.warning("listening on %s without TLS: bearer tokens cross the network in the "
                        "clear unless something in front terminates TLS", settings.address)
        if settings.metrics_port:
            start_http_server(settings.metrics_port, addr=settings.host)
        await self._server.start()
        # Everything loaded so far (modules, descriptors, the policy) lives as long as the
        # process: moved out of the collector's sight, it no longer makes full
        # collections, which otherwise land as multi-millisecond pauses on random calls.
        gc.collect()
        gc.freeze()
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        log.info("gateway for the %s network domain on %s (%s; metrics on %s); routes: %s",
                 settings.domain, settings.address, "mTLS" if settings.tls else "plaintext",
                 settings.metrics_port or "off",
                 ", ".join(f"{s}={t}" for s, t in sorted(settings.routes.items())) or "none",
                 extra={"component": settings.service_name})

    async def stop(self) -> None:
        """Drain, then flush the audit log, then release everything else."""
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_s)
        if self._proxy is not None:
            # Calls cut off by the grace period write their records as they unwind; the
            # log must still be open for them.
            await self._proxy.drained(DRAIN_RECORDS_TIMEOUT_S)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._audit_log is not None:
            await self._audit_log.close()
        if self._proxy is not None:
            await self._proxy.close()
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                await close()


async def run(settings: GatewaySettings) -> None:
    """Serve until SIGTERM or SIGINT, then stop in order."""
    setup_json_logging(settings.log_level)
    setup_tracing(settings.service_name, settings.otlp_endpoint, sampler=edge_sampler())
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    gateway = Gateway(settings)
    try:
        await gateway.start()
        await stopping.wait()
        log.info("stopping: draining for up to %.1fs", settings.shutdown_grace_s)
    finally:
        await gateway.stop()
        shutdown_tracing()
        log.info("stopped", extra={"component": settings.service_name})
