"""`hvbot parse` (the command language from a shell) and `hvbot check-config`.

`parse` prints what `/migrate TEXT` would ask for: exit 0 on success, exit 2 with one line
on stderr (and nothing on stdout) on a refusal or a configuration problem.
"""

from __future__ import annotations

import argparse
import json

from bot.cli.common import (
    command_text,
    config_option,
    guarded,
    load_cli_config,
    log_path,
    print_problems,
)
from bot.config import Config, ConfigError, Secrets, missing_secrets
from bot.store import AuditKeyError, anchor_path, audit_key, database_path
from commands.language import help_text, parse, summary, to_dict
from commands.requests import HelpRequest

EXIT_CONFIG_PROBLEMS = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `parse` and `check-config` to the `hvbot` parser."""
    parser = subparsers.add_parser(
        "parse",
        help="parse /migrate text and print the request",
        description="Parse TEXT as the arguments of /migrate, exactly as the bot would.",
    )
    config_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("text", nargs="*", metavar="TEXT", help="the /migrate text (after --)")
    parser.set_defaults(func=guarded(run_parse))

    check = subparsers.add_parser(
        "check-config",
        help="validate hvbot.toml and summarise it",
        description="Print every problem in the configuration (exit 1), or a summary (exit 0).",
    )
    config_option(check)
    check.set_defaults(func=run_check_config)


def run_parse(args: argparse.Namespace, config: Config) -> int:
    """Parse the text against the configured inventory and print the request."""
    request = parse(command_text(args.text), config.inventory)
    if args.json:
        print(json.dumps(to_dict(request), ensure_ascii=False))
    elif isinstance(request, HelpRequest):
        print(help_text(request.topic))
    else:
        print(summary(request))
    return 0


def run_check_config(args: argparse.Namespace) -> int:
    """Validate the configuration: every problem (exit 1), or a short summary (exit 0)."""
    try:
        config = load_cli_config(args.config)
    except ConfigError as error:
        print_problems(error.problems)
        return EXIT_CONFIG_PROBLEMS
    secrets = Secrets.from_environ()
    lines, problems = audit_key_lines(config, secrets)
    problems = missing_secrets(config, secrets) + problems
    print("\n".join([config_summary(config), *lines]))
    if problems:
        print_problems(problems)
        return EXIT_CONFIG_PROBLEMS
    return 0


def audit_key_lines(config: Config, secrets: Secrets) -> tuple[list[str], list[str]]:
    """What protects the audit log (key, anchor file), and the problems with its key."""
    lines = [f"audit anchors: {anchor_path(config)}"]
    try:
        key = audit_key(config, secrets)
    except AuditKeyError as exc:
        return lines, [f"audit: {exc}"]
    if key is None:
        lines.append(
            f"audit key: NONE — the audit log is UNKEYED: anyone who can write "
            f"{database_path(config)} can rewrite its events undetected by the chain; set "
            f"{config.audit.key_env} (e.g. `openssl rand -hex 32`) or [audit] key_file"
        )
    else:
        lines.append(f"audit key: {key.source} (key id {key.key_id})")
    return lines, []


def config_summary(config: Config) -> str:
    """What the configuration amounts to, in a few lines, without any secret."""
    lines = [f"config: {config.source}", f"hosts: {len(config.hosts)}"]
    for host in config.hosts:
        target = f" (connects to {host.address or host.fqdn}:{host.port})" if host.port else ""
        lines.append(f"  {host.name}  {host.fqdn}{'  critical' if host.critical else ''}{target}")
    slack = config.slack
    token_envs = (
        f"{slack.bot_token_env}, {slack.app_token_env}"
        if slack.mode == "socket"
        else f"{slack.bot_token_env}, {slack.signing_secret_env}; port {slack.http_port}"
    )
    lines.append(f"slack: {slack.mode} mode (secrets from {token_envs})")
    a = config.approvals
    lines.append(
        f"approvers: {len(a.users)} users, {len(a.usergroups)} user groups, "
        f"{len(a.ad_groups)} AD groups; critical hosts need {a.required_critical}; "
        f"self-approval {'allowed' if a.allow_self_approval else 'refused'}; "
        f"expire after {a.ttl_minutes} min"
    )
    if a.usergroups or a.ad_groups:
        lines.append(
            "  groups need their directory adapters; the command line counts approvals.users only"
        )
    w = config.winrm
    tls = "off" if not w.ssl else ("validated" if w.cert_validation else "NOT validated")
    ca = f", CA {w.ca_file}" if w.ca_file else ""
    port = f"port {w.port}" + (
        " unless the host names one" if any(h.port for h in config.hosts) else ""
    )
    lines.append(f"winrm: {w.auth} auth, {port}, TLS {tls}{ca}")
    if not w.ssl and w.auth in ("basic", "certificate"):
        lines.append(
            "  no TLS and no message encryption: commands cross the network readable (lab only)"
        )
    lines += directory_summary(config, Secrets.from_environ())
    lines.append(f"audit: {database_path(config)}")
    lines.append(f"log: {log_path(config)}")
    return "\n".join(lines)


def directory_summary(config: Config, secrets: Secrets) -> list[str]:
    """The `[directory]` lines: where, how TLS is done, which accounts are set (never their
    values), what it serves and what is missing."""
    d = config.directory
    if not d.uri:
        return [
            "directory: not configured (delegation checks say 'unknown'; AD groups cannot approve)"
        ]
    tls = "LDAPS" if d.uri.startswith("ldaps://") else "StartTLS"
    ca = d.ca_file or "the system's CAs"
    lines = [
        f"directory: {d.uri} ({tls}, certificate validated against {ca}), base {d.base_dn}",
        f"  timeouts: connect {d.connect_timeout} s, answer {d.timeout} s; "
        f"a member stays approved for {d.cache_seconds} s",
    ]
    for role, dn_env, password_env in (
        ("read", d.bind_dn_env, d.password_env),
        ("write (delegation fix)", d.write_bind_dn_env, d.write_password_env),
    ):
        unset = [f"${n}" for n in (dn_env, password_env) if not secrets.get(n)]
        state = f"not set: {', '.join(unset)}" if unset else "set"
        lines.append(f"  {role} account: ${dn_env}, ${password_env} ({state})")
    return lines
