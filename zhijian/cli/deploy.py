"""``zhijian deploy status | create | promote | set-canary | rollback | suspend | resume``:
which APPROVED version of a model serves, which is canary at what weight, and the kill
switch for a whole model.

Deployments are named ``deployments/<model>``; commands take the bare model name. Like
every governance command they act as ``--as NAME`` and the registry decides.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from zhijian.cli.filing import (
    CommandError,
    Outcome,
    Registry,
    add_action,
    command,
    filing_name,
    message_dict,
    run,
)
from zhijian.cli.output import Output

if TYPE_CHECKING:
    from zhijian.registry.v1 import registry_service_pb2 as pb
    from zhijian.types.v1 import ai_result_pb2 as types_pb

DEPLOYMENT_PREFIX = "deployments/"
DOMAINS = ("intranet", "extranet", "internet")
LIST_PAGE_SIZE = 500


def deployment_name(model: str) -> str:
    """``deployments/<model>`` from the bare model name (the full name is accepted too)."""
    model = model.strip().removeprefix(DEPLOYMENT_PREFIX)
    if not model or "/" in model:
        raise CommandError(f"name a registered model, not {model!r}")
    return DEPLOYMENT_PREFIX + model


def add_deploy_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``deploy`` and its actions; each action sets ``args.handler``."""
    deploy = subparsers.add_parser("deploy", help="production / canary versions of a model "
                                   "and its kill switch (acting as --as NAME)")
    actions = deploy.add_subparsers(dest="deploy_command", required=True, metavar="ACTION")

    status = add_action(actions, "status", cmd_deploy_status, "serving state of one model, or "
                        "of all")
    status.add_argument("model", nargs="?", help="registered model name (default: all)")

    create = add_action(actions, "create", cmd_deploy_create, "create a model's (empty) "
                        "deployment")
    create.add_argument("model")
    create.add_argument("--serve-domain", action="append", dest="domains", required=True,
                        choices=DOMAINS, help="network domain to serve in (repeatable)")
    create.add_argument("--fallback", action="store_true", help="serve the previous approved "
                        "version while production is suspended or expired")
    create.add_argument("--display-name")

    promote = add_action(actions, "promote", cmd_deploy_promote, "make an APPROVED version "
                         "production (default: the canary)")
    promote.add_argument("model")
    promote.add_argument("--filing", help="filing of the version (default: the canary's)")
    promote.add_argument("--reason", default="")

    canary = add_action(actions, "set-canary", cmd_deploy_set_canary, "set or clear the canary "
                        "version and its traffic share")
    canary.add_argument("model")
    canary.add_argument("--filing", help="filing of the canary version")
    canary.add_argument("--weight", type=int, metavar="PERCENT", help="traffic share, 1-100")
    canary.add_argument("--clear", action="store_true", help="remove the canary")
    canary.add_argument("--reason", default="")

    for verb, handler, summary in (
            ("rollback", cmd_deploy_rollback, "restore the previous production version"),
            ("suspend", cmd_deploy_suspend, "stop every version of the model (kill switch)"),
            ("resume", cmd_deploy_resume, "lift a deployment's suspension")):
        reasoned = add_action(actions, verb, handler, summary)
        reasoned.add_argument("model")
        reasoned.add_argument("--reason", required=True)
    return deploy


def _deployment_outcome(deployment: pb.Deployment, headline: str) -> Outcome:
    from zhijian.cli.render import render_deployment

    return Outcome(message_dict(deployment), f"{headline}\n{render_deployment(deployment)}")


@command
def cmd_deploy_status(args: argparse.Namespace, out: Output) -> int:
    from zhijian.cli.render import render_deployment, render_deployments
    from zhijian.registry.v1 import registry_service_pb2 as pb

    name = deployment_name(args.model) if args.model else ""

    async def act(registry: Registry) -> Outcome:
        if name:
            deployment = await registry.call(registry.stub.GetDeployment,
                                             pb.GetDeploymentRequest(name=name))
            return Outcome(message_dict(deployment), render_deployment(deployment))
        request = pb.ListDeploymentsRequest(page_size=LIST_PAGE_SIZE)
        found = [d async for d in registry.pages(registry.stub.ListDeployments, request,
                                                 "deployments")]
        return Outcome({"deployments": [message_dict(d) for d in found]},
                       render_deployments(found))
    return run(args, out, act)


def network_domains(names: list[str]) -> list[types_pb.NetworkDomain]:
    from zhijian.types.v1 import ai_result_pb2 as types_pb

    by_name = {"intranet": types_pb.NETWORK_DOMAIN_INTRANET,
               "extranet": types_pb.NETWORK_DOMAIN_EXTRANET,
               "internet": types_pb.NETWORK_DOMAIN_INTERNET}
    return sorted({by_name[name] for name in names})


@command
def cmd_deploy_create(args: argparse.Namespace, out: Output) -> int:
    from zhijian.registry.v1 import registry_service_pb2 as pb

    name = deployment_name(args.model)
    request = pb.CreateDeploymentRequest(
        deployment_id=name.removeprefix(DEPLOYMENT_PREFIX),
        deployment=pb.Deployment(network_domains=network_domains(args.domains),
                                 fallback_to_last_approved=args.fallback,
                                 display_name=args.display_name or ""))

    async def act(registry: Registry) -> Outcome:
        deployment = await registry.call(registry.stub.CreateDeployment, request)
        return _deployment_outcome(deployment, f"created {deployment.name}; promote an "
                                   "APPROVED version with `zhijian deploy promote`")
    return run(args, out, act)


@command
def cmd_deploy_promote(args: argparse.Namespace, out: Output) -> int:
    from zhijian.registry.v1 import registry_service_pb2 as pb

    request = pb.PromoteDeploymentRequest(
        name=deployment_name(args.model),
        filing=filing_name(args.filing) if args.filing else "", reason=args.reason)

    async def act(registry: Registry) -> Outcome:
        deployment = await registry.call(registry.stub.PromoteDeployment, request)
        production = deployment.production
        return _deployment_outcome(deployment, f"promoted {production.filing} (version "
                                   f"{production.version}) to production")
    return run(args, out, act)


def canary_request(args: argparse.Namespace) -> pb.SetDeploymentCanaryRequest:
    """Exactly one of ``--clear`` or ``--filing`` with ``--weight``; checked here so that
    an ambiguous command line never changes what serves."""
    from zhijian.registry.v1 import registry_service_pb2 as pb

    name = deployment_name(args.model)
    if args.clear:
        if args.filing or args.weight:
            raise CommandError("--clear takes neither --filing nor --weight")
        return pb.SetDeploymentCanaryRequest(name=name, weight_percent=0, reason=args.reason)
    if not args.filing or args.weight is None:
        raise CommandError("pass --filing NAME --weight PERCENT, or --clear")
    if not 1 <= args.weight <= 100:
        raise CommandError(f"--weight must be 1-100, not {args.weight}")
    return pb.SetDeploymentCanaryRequest(name=name, filing=filing_name(args.filing),
                                         weight_percent=args.weight, reason=args.reason)


@command
def cmd_deploy_set_canary(args: argparse.Namespace, out: Output) -> int:
    request = canary_request(args)

    async def act(registry: Registry) -> Outcome:
        deployment = await registry.call(registry.stub.SetDeploymentCanary, request)
        headline = (f"canary of {deployment.name} cleared" if not request.filing else
                    f"canary of {deployment.name}: {deployment.canary.filing} (version "
                    f"{deployment.canary.version}) at {deployment.canary_weight_percent}%")
        return _deployment_outcome(deployment, headline)
    return run(args, out, act)


def _reasoned(args: argparse.Namespace, out: Output, method: str, request_type: str,
              verb: str) -> int:
    """Rollback, suspend and resume differ only in the method they call."""
    from zhijian.registry.v1 import registry_service_pb2 as pb

    request = getattr(pb, request_type)(name=deployment_name(args.model), reason=args.reason)

    async def act(registry: Registry) -> Outcome:
        deployment = await registry.call(getattr(registry.stub, method), request)
        return _deployment_outcome(deployment, f"{verb} {deployment.name}: {args.reason}")
    return run(args, out, act)


@command
def cmd_deploy_rollback(args: argparse.Namespace, out: Output) -> int:
    return _reasoned(args, out, "RollbackDeployment", "RollbackDeploymentRequest",
                     "rolled back")


@command
def cmd_deploy_suspend(args: argparse.Namespace, out: Output) -> int:
    return _reasoned(args, out, "SuspendDeployment", "SuspendDeploymentRequest", "suspended")


@command
def cmd_deploy_resume(args: argparse.Namespace, out: Output) -> int:
    return _reasoned(args, out, "ResumeDeployment", "ResumeDeploymentRequest", "resumed")
