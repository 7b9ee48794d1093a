"""The gateway: the network-domain edge every business system calls.

One gateway listens per network domain (internet, extranet, intranet); the domain is a
property of the listener, never a claim of the caller. This package starts with the
authorization decision (:mod:`gateway.authz`): Casbin policy over full gRPC method names
plus the data-level ceiling the gateway can know, min(domain ceiling, caller clearance).
"""
