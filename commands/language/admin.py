"""The forms that change or inspect configuration: `host`, `vm`, `delegation`."""

from __future__ import annotations

from commands.inventory import Host
from commands.language import hints, values
from commands.language.cursor import Cursor
from commands.language.errors import shown
from commands.requests import (
    AuthType,
    DelegationRequest,
    HostNetworkAddRequest,
    HostNetworkRemoveRequest,
    HostSetRequest,
    HostSetting,
    HostShowRequest,
    HostToggleRequest,
    PerformanceOption,
    VmCompatibilityRequest,
)

MAX_MIGRATIONS = 100
MAX_PRIORITY = 10000
HOST_ACTIONS = ("enable", "disable", "set", "network")
AUTH_WORDS = {t.value.casefold(): t for t in AuthType}
PERFORMANCE_WORDS = {p.value.casefold(): p for p in PerformanceOption}

HostRequest = (
    HostShowRequest
    | HostToggleRequest
    | HostSetRequest
    | HostNetworkAddRequest
    | HostNetworkRemoveRequest
)


def parse_host(cursor: Cursor) -> HostRequest:
    """`host <host>` and its actions: enable, disable, set, network add/remove."""
    hints.refuse_action_before_host(cursor, HOST_ACTIONS)
    host = cursor.host()
    action = cursor.peek()
    if action is None:
        return HostShowRequest(host=host)
    cursor.take("an action")
    word = action.keyword()
    if word in ("enable", "disable"):
        cursor.end(f"{word}")
        return HostToggleRequest(host=host, enabled=word == "enable")
    if word == "set":
        return _parse_set(cursor, host)
    if word == "network":
        return _parse_network(cursor, host)
    cursor.unknown(action, HOST_ACTIONS, f"after host {host.name}")


def _parse_set(cursor: Cursor, host: Host) -> HostSetRequest:
    settings = [s.value for s in HostSetting]
    token = cursor.take(f"the setting after set ({', '.join(settings)})")
    word = token.keyword()
    name, equals, value_text = (word or "").partition("=")
    if equals and name in settings:
        cursor.fail(f"write a space, not '=': set {name} {value_text or '<value>'}")
    if word not in settings:
        cursor.unknown(token, settings, "after set")
    setting = HostSetting(word)
    value_token = cursor.take(f"the value of {setting.value}")
    value: int | bool | AuthType | PerformanceOption
    if setting in (HostSetting.MAX_MIGRATIONS, HostSetting.MAX_STORAGE_MIGRATIONS):
        value = cursor.check(values.positive_int, value_token, setting.value, MAX_MIGRATIONS)
    elif setting is HostSetting.ANY_NETWORK:
        value = cursor.check(values.on_off, value_token, setting.value)
    else:
        choices = AUTH_WORDS if setting is HostSetting.AUTH else PERFORMANCE_WORDS
        chosen = choices.get(value_token.keyword() or "")
        if chosen is None:
            cursor.fail(
                f"{setting.value} must be one of {'|'.join(choices)}, not {shown(value_token.text)}"
            )
        value = chosen
    cursor.end(f"set {setting.value} {value_token.text}; set one setting per command")
    return HostSetRequest(host=host, setting=setting, value=value)


def _parse_network(cursor: Cursor, host: Host) -> HostNetworkAddRequest | HostNetworkRemoveRequest:
    token = cursor.take("add or remove after network")
    if token.is_keyword("add"):
        subnet = _subnet(cursor, "add")
        priority = None
        if cursor.take_if("priority"):
            priority = cursor.number("priority", MAX_PRIORITY)
        cursor.end(f"network add {subnet}" if priority is None else f"priority {priority}")
        return HostNetworkAddRequest(host=host, subnet=subnet, priority=priority)
    if token.is_keyword("remove"):
        subnet = _subnet(cursor, "remove")
        cursor.end(f"network remove {subnet}")
        return HostNetworkRemoveRequest(host=host, subnet=subnet)
    cursor.unknown(token, ("add", "remove"), "after network")


def _subnet(cursor: Cursor, action: str) -> str:
    token = cursor.take(f"the subnet after {action}, e.g. 10.0.1.0/24")
    joined = hints.joined_subnet(token, cursor.peek())
    if joined is not None:
        cursor.fail(f"write the subnet as one word, without a space: {action} {joined}")
    return cursor.check(values.subnet, token)


def parse_vm(cursor: Cursor) -> VmCompatibilityRequest:
    """`vm <vm> compatibility on|off`."""
    vm = cursor.vm()
    cursor.expect("compatibility", f"'compatibility on|off' after the VM name {shown(vm)}")
    enabled = cursor.check(values.on_off, cursor.take("on or off"), "compatibility")
    cursor.end(f"compatibility {'on' if enabled else 'off'}")
    return VmCompatibilityRequest(vm=vm, enabled=enabled)


def parse_delegation(cursor: Cursor) -> DelegationRequest:
    """`delegation <host> <host> [fix]`: the pair, checked (or fixed) both ways."""
    first = cursor.host("the first host")
    hints.refuse_joined_hosts(cursor, first)
    second = cursor.host("the second host")
    if first == second:
        cursor.fail(f"delegation needs two different hosts, not {first.name} twice")
    fix = cursor.take_if("fix") is not None
    cursor.end("fix" if fix else f"{first.name} {second.name}")
    return DelegationRequest(first=first, second=second, fix=fix)
