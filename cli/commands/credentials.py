"""`agentorch credentials …` (the vault: metadata only, values are write-only) and `agentorch api-keys …`.

A credential value is read from a file (`--value-file`) or from stdin (without echo on a terminal); it is never a
command-line argument (it would land in shell history and in `ps`) and never printed. Where a credential may be
sent is its binding (`--allow-agent`, `--allow-host` on create; `credentials bind` later): an unbound credential
is refused to every agent call.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as cred
from agentorch.gateway.v1 import gateway_service_pb2 as gw
from cli.commands.base import Context, add_limit
from cli.gateway_client import UsageError
from cli.render import label, pairs, short_name, table, when

TYPES = {label(cpb.CredentialType.Name(v)): v for v in cpb.CredentialType.values() if v}
ACTIONS = {label(cpb.AuditAction.Name(v)): v for v in cpb.AuditAction.values() if v}
OUTCOMES = {label(cpb.AuditOutcome.Name(v)): v for v in cpb.AuditOutcome.values() if v}
ROLES = ("viewer", "author", "operator", "approver", "admin")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("credentials", help="the organization's credential vault (values are write-only)")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = sub.add_parser("list", parents=[common], help="list credentials (metadata only)")
    add_limit(listing)
    listing.set_defaults(handler=list_credentials)

    get = sub.add_parser("get", parents=[common], help="a credential's metadata")
    get.add_argument("alias", help="alias or full resource name")
    get.set_defaults(handler=get_credential)

    create = sub.add_parser("create", parents=[common], help="store a value (from --value-file or stdin)")
    create.add_argument("alias")
    _value_argument(create)
    create.add_argument("--type", choices=sorted(TYPES), default="api_key")
    create.add_argument("--provider", default="")
    create.add_argument("--description", default="")
    create.add_argument("--retained-versions", type=int, default=0, help="old versions kept after a rotation")
    create.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    _binding_arguments(create)
    create.set_defaults(handler=create_credential)

    bind = sub.add_parser(
        "bind", parents=[common], help="set where a credential may be sent (replaces the lists given)"
    )
    bind.add_argument("alias")
    _binding_arguments(bind)
    bind.add_argument("--clear", action="store_true", help="empty both lists: no agent call may use it")
    bind.set_defaults(handler=bind_credential)

    rotate = sub.add_parser("rotate", parents=[common], help="store a new value version")
    rotate.add_argument("alias")
    _value_argument(rotate)
    rotate.set_defaults(handler=rotate_credential)

    delete = sub.add_parser("delete", parents=[common], help="delete a credential (its keys are destroyed)")
    delete.add_argument("alias")
    delete.set_defaults(handler=delete_credential)

    audit = sub.add_parser("audit", parents=[common], help="the credential access audit log")
    audit.add_argument("--alias", default="")
    audit.add_argument("--action", dest="audit_action", choices=sorted(ACTIONS))
    audit.add_argument("--outcome", choices=sorted(OUTCOMES))
    add_limit(audit)
    audit.set_defaults(handler=list_audit)

    keys = commands.add_parser("api-keys", help="API keys of service accounts (admin, signed in with a JWT)")
    ksub = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    kcreate = ksub.add_parser("create", parents=[common], help="create a key; its secret is printed once")
    spelled = kcreate.add_mutually_exclusive_group(required=True)
    spelled.add_argument("--display-name", help="what the key is for (shown in lists)")
    spelled.add_argument("--name", dest="display_name", help=argparse.SUPPRESS)  # its first spelling, still taken
    kcreate.add_argument("--role", action="append", choices=ROLES, required=True, help="repeatable")
    kcreate.add_argument("--expires-in-days", type=int, default=0, help="default: never")
    kcreate.set_defaults(handler=create_api_key)
    klist = ksub.add_parser("list", parents=[common], help="the organization's keys (never their secrets)")
    add_limit(klist)
    klist.set_defaults(handler=list_api_keys)
    krevoke = ksub.add_parser("revoke", parents=[common], help="revoke a key")
    krevoke.add_argument("key", help="key id or full resource name")
    krevoke.set_defaults(handler=revoke_api_key)


def _binding_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-agent",
        dest="allow_agents",
        action="append",
        default=[],
        metavar="AGENT",
        help="an agent whose calls may carry it: slug, organizations/ORG/agents/SLUG or agents/SLUG (repeatable)",
    )
    parser.add_argument(
        "--allow-host",
        dest="allow_hosts",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="a host the value may be sent to: name, address or *.suffix, optional :port (repeatable)",
    )


def _value_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--value-file", type=Path, help="read the value from this file (default: stdin; a trailing newline is dropped)"
    )


def read_value(path: Path | None) -> str:
    """The secret value: the file's content, or stdin (prompted without echo on a terminal)."""
    if path is not None:
        try:
            value = path.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read --value-file {path}: {exc.strerror or exc}") from None
    elif sys.stdin.isatty():
        value = getpass.getpass("value (not echoed): ")
    else:
        value = sys.stdin.read()
    value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        raise UsageError("the credential value is empty")
    return value


def credential_lines(c: cpb.Credential) -> list[str]:
    return pairs(
        [
            ("name", c.name),
            ("type", label(cpb.CredentialType.Name(c.type))),
            ("provider", c.provider),
            ("description", c.description),
            ("labels", dict(c.labels)),
            ("version", c.version),
            ("retained versions", c.retained_versions),
            ("allowed agents", list(c.allowed_agents) or "-"),
            ("allowed hosts", list(c.allowed_hosts) or "-"),
            ("key id", c.encryption.key_id),
            ("algorithm", c.encryption.algorithm),
            ("created", f"{when(c.create_time)} by {c.created_by}"),
            ("rotated", when(c.rotate_time)),
            ("last used", when(c.last_used_time)),
        ]
    )


def list_credentials(ctx: Context, args: argparse.Namespace) -> int:
    request = cred.ListCredentialsRequest(parent=ctx.parent)
    response = ctx.collect(ctx.client.credentials.ListCredentials, request, "credentials", args.limit)
    rows = [
        (
            c.alias,
            label(cpb.CredentialType.Name(c.type)),
            c.provider,
            c.version,
            bound_to(c),
            c.encryption.key_id,
            when(c.rotate_time),
            when(c.last_used_time),
        )
        for c in response.credentials
    ]
    headers = ("ALIAS", "TYPE", "PROVIDER", "VERSION", "BOUND TO", "KEY", "ROTATED", "LAST USED")
    ctx.output.show(response, table(headers, rows))
    return 0


def bound_to(c: cpb.Credential) -> str:
    """`2 agents, 1 host`, or `unbound` (no agent call may use it)."""
    parts = [
        f"{n} {word}{'s' if n != 1 else ''}"
        for n, word in ((len(c.allowed_agents), "agent"), (len(c.allowed_hosts), "host"))
        if n
    ]
    return ", ".join(parts) or "unbound"


def get_credential(ctx: Context, args: argparse.Namespace) -> int:
    request = cred.GetCredentialRequest(name=ctx.credential(args.alias))
    response = ctx.call(ctx.client.credentials.GetCredential, request)
    ctx.output.show(response, credential_lines(response.credential))
    return 0


def create_credential(ctx: Context, args: argparse.Namespace) -> int:
    labels = {}
    for item in args.label:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--label {item}: write KEY=VALUE")
        labels[key] = value
    request = cred.CreateCredentialRequest(
        parent=ctx.parent,
        alias=args.alias,
        credential=cpb.Credential(
            type=TYPES[args.type],
            provider=args.provider,
            description=args.description,
            retained_versions=args.retained_versions,
            labels=labels,
            allowed_agents=args.allow_agents,
            allowed_hosts=args.allow_hosts,
        ),
        value=read_value(args.value_file),
    )
    response = ctx.call(ctx.client.credentials.CreateCredential, request)
    ctx.output.show(response, credential_lines(response.credential))
    return 0


def bind_credential(ctx: Context, args: argparse.Namespace) -> int:
    paths = [
        field
        for field, given in (("allowed_agents", args.allow_agents), ("allowed_hosts", args.allow_hosts))
        if given or args.clear
    ]
    if not paths:
        raise UsageError("give --allow-agent and/or --allow-host (or --clear)")
    if args.clear and (args.allow_agents or args.allow_hosts):
        raise UsageError("--clear empties both lists; it cannot be combined with --allow-agent or --allow-host")
    credential = cpb.Credential(
        name=ctx.credential(args.alias), allowed_agents=args.allow_agents, allowed_hosts=args.allow_hosts
    )
    request = cred.UpdateCredentialRequest(credential=credential, update_mask=field_mask_pb2.FieldMask(paths=paths))
    response = ctx.call(ctx.client.credentials.UpdateCredential, request)
    ctx.output.show(response, credential_lines(response.credential))
    return 0


def rotate_credential(ctx: Context, args: argparse.Namespace) -> int:
    request = cred.RotateCredentialValueRequest(name=ctx.credential(args.alias), value=read_value(args.value_file))
    response = ctx.call(ctx.client.credentials.RotateCredentialValue, request)
    ctx.output.show(response, credential_lines(response.credential))
    return 0


def delete_credential(ctx: Context, args: argparse.Namespace) -> int:
    name = ctx.credential(args.alias)
    response = ctx.call(ctx.client.credentials.DeleteCredential, cred.DeleteCredentialRequest(name=name))
    ctx.output.show(response, [f"deleted {name}"])
    return 0


def list_audit(ctx: Context, args: argparse.Namespace) -> int:
    request = cred.ListAuditEventsRequest(
        parent=ctx.parent,
        alias=args.alias,
        action=ACTIONS[args.audit_action] if args.audit_action else cpb.AUDIT_ACTION_UNSPECIFIED,
        outcome=OUTCOMES[args.outcome] if args.outcome else cpb.AUDIT_OUTCOME_UNSPECIFIED,
    )
    response = ctx.collect(ctx.client.credentials.ListAuditEvents, request, "events", args.limit)
    rows = [
        (
            e.sequence,
            when(e.event_time),
            e.alias,
            e.version,
            label(cpb.AuditAction.Name(e.action)),
            label(cpb.AuditOutcome.Name(e.outcome)),
            e.actor,
            short_name(e.run) if e.run else "",
            e.agent.removeprefix(f"{ctx.parent}/agents/"),  # a slug, or agents/SLUG for a platform-wide agent
            e.destination,
            e.reason,
        )
        for e in response.events
    ]
    headers = ("SEQ", "TIME", "ALIAS", "VERSION", "ACTION", "OUTCOME", "ACTOR", "RUN", "AGENT", "DESTINATION", "REASON")
    ctx.output.show(response, table(headers, rows))
    return 0


# --- API keys ----------------------------------------------------------------------------------------------------


def api_key_lines(k: gw.ApiKey) -> list[str]:
    return pairs(
        [
            ("name", k.name),
            ("display name", k.display_name),
            ("roles", list(k.roles)),
            ("created", f"{when(k.create_time)} by {k.created_by}"),
            ("expires", when(k.expire_time)),
            ("revoked", when(k.revoke_time)),
            ("last used", when(k.last_used_time)),
        ]
    )


def create_api_key(ctx: Context, args: argparse.Namespace) -> int:
    key = gw.ApiKey(display_name=args.display_name, roles=args.role)
    if args.expires_in_days < 0:
        raise UsageError("--expires-in-days must be positive")
    if args.expires_in_days:
        expiry = timestamp_pb2.Timestamp()
        expiry.GetCurrentTime()
        expiry.seconds += args.expires_in_days * 86_400
        key.expire_time.CopyFrom(expiry)
    response = ctx.call(ctx.client.gateway.CreateApiKey, gw.CreateApiKeyRequest(parent=ctx.parent, api_key=key))
    lines = [*api_key_lines(response.api_key), f"secret: {response.secret}", "(the secret is shown only now)"]
    ctx.output.show(response, lines)
    return 0


def list_api_keys(ctx: Context, args: argparse.Namespace) -> int:
    request = gw.ListApiKeysRequest(parent=ctx.parent)
    response = ctx.collect(ctx.client.gateway.ListApiKeys, request, "api_keys", args.limit)
    rows = [
        (
            k.key_id,
            k.display_name,
            list(k.roles),
            when(k.create_time),
            when(k.expire_time),
            when(k.revoke_time),
            when(k.last_used_time),
        )
        for k in response.api_keys
    ]
    ctx.output.show(response, table(("KEY", "NAME", "ROLES", "CREATED", "EXPIRES", "REVOKED", "LAST USED"), rows))
    return 0


def revoke_api_key(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.call(ctx.client.gateway.RevokeApiKey, gw.RevokeApiKeyRequest(name=ctx.api_key(args.key)))
    ctx.output.show(response, api_key_lines(response.api_key))
    return 0
