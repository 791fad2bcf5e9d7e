"""The WS-Management service of one simulated host: shell actions on PowerShell runspace pools.

Supported: Create, Command, Send, Receive (waits, then the OperationTimeout fault), Signal
(Terminate, PowerShell ctrl_c, WinRS ctrl_c), Delete, Get (a shell's state, as pypsrp's
`is_alive` asks, and the `config` resource), Disconnect, Reconnect, Connect (of a pool by a new
client, and of its commands) and Enumerate (of shells, and of one shell's commands). Other
actions answer ActionNotSupported.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar
from xml.etree import ElementTree as ET

from lab.pipeline import CommandRunner
from lab.winrm import envelopes as env
from lab.winrm.envelopes import Request, q
from lab.winrm.shells import (
    NotDisconnectedError,
    Shell,
    ShellClosedError,
    UnknownCommandError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

POWERSHELL_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
_PS_CTRL_C = "powershell/signal/ctrl_c"
_SIGNAL_BASE = env.SHELL + "/signal/"
_DONE = env.SHELL + "/CommandState/Done"
_MAX_ENVELOPE_KB = 500
_IDLE_TIMEOUT = "PT7200.000S"


class WSManService:
    """Dispatches WS-Management requests for one host to its shells."""

    def __init__(
        self,
        host: str,
        runner: CommandRunner,
        endpoint: str,
        max_operation_timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.endpoint = endpoint
        self._runner = runner
        self._max_wait = max_operation_timeout
        self._lock = threading.Lock()
        self._shells: dict[str, Shell] = {}

    def handle(self, request: Request, user: str, client_ip: str) -> bytes:
        """The reply envelope for `request`; raises `WSManFault` for fault replies."""
        handler = {
            "Create": self._create,
            "Command": self._command,
            "Send": self._send,
            "Receive": self._receive,
            "Signal": self._signal,
            "Delete": self._delete,
            "Get": self._get,
            "Enumerate": self._enumerate,
            "Disconnect": self._disconnect,
            "Reconnect": self._reconnect,
            "Connect": self._connect,
        }.get(request.verb)
        if handler is None:
            raise env.unsupported_action(request.action)
        log.debug(
            "wsman request",
            extra={"host": self.host, "action": request.verb, "shell_id": request.shell_id},
        )
        return handler(request, user, client_ip)

    def close(self) -> None:
        """Close every shell (the listener is going away)."""
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            shell.close()

    def _shell(self, request: Request, user: str, shell_id: str | None = None) -> Shell:
        """The caller's shell named by the ShellId selector (or `shell_id`).

        Another user's shell is treated as unknown (a guess at Windows' answer).
        """
        with self._lock:
            shell = self._shells.get(shell_id or request.shell_id or "")
        if shell is None or shell.owner != user:
            raise env.unknown_shell()
        return shell

    def _create(self, request: Request, user: str, client_ip: str) -> bytes:
        body = request.body.find("rsp:Shell", env.NS)
        creation = request.body.find(
            "rsp:Shell/{http://schemas.microsoft.com/powershell}creationXml", env.NS
        )
        if request.resource_uri != POWERSHELL_URI or body is None or creation is None:
            raise env.invalid_request("Only PowerShell runspace pools can be created here.")
        shell_id = body.attrib.get("ShellId", str(uuid.uuid4())).upper()
        shell = Shell(shell_id, self.host, user, client_ip, self._runner, request.max_envelope_size)
        shell.feed(_b64(creation.text))
        with self._lock:
            self._shells[shell_id] = shell
        created = ET.Element(q("x", "ResourceCreated"))
        ET.SubElement(created, q("a", "Address")).text = self.endpoint
        params = ET.SubElement(created, q("a", "ReferenceParameters"))
        ET.SubElement(params, q("w", "ResourceURI")).text = POWERSHELL_URI
        selectors = ET.SubElement(params, q("w", "SelectorSet"))
        ET.SubElement(selectors, q("w", "Selector"), {"Name": "ShellId"}).text = shell_id
        return env.reply(
            request, f"{env.TRANSFER}/CreateResponse", created, self._shell_element(shell)
        )

    def _shell_element(self, shell: Shell, *, details: bool = False) -> ET.Element:
        element = ET.Element(q("rsp", "Shell"))
        elapsed = int(time.monotonic() - shell.created)
        fields = [
            ("ShellId", shell.shell_id),
            ("ResourceUri", POWERSHELL_URI),
            ("Owner", shell.owner),
            ("ClientIP", shell.client_ip),
            ("ProcessId", str(os.getpid())),
            ("IdleTimeOut", _IDLE_TIMEOUT),
            ("InputStreams", "stdin pr"),
            ("OutputStreams", "stdout"),
            ("MaxIdleTimeOut", "PT2147483.647S"),
            ("Locale", "en-US"),
            ("DataLocale", "en-US"),
            ("CompressionMode", "NoCompression"),
            ("ProfileLoaded", "Yes"),
            ("Encoding", "UTF8"),
            ("BufferMode", "Block"),
            ("State", "Disconnected" if shell.disconnected else "Connected"),
            ("ShellRunTime", f"P0DT{elapsed // 3600}H{elapsed // 60 % 60}M{elapsed % 60}S"),
            ("ShellInactivity", "P0DT0H0M0S"),
        ]
        if details:
            fields += [("MemoryUsed", "58MB"), ("ChildProcesses", "0")]
        for name, value in fields:
            ET.SubElement(element, q("rsp", name)).text = value
        return element

    def _command(self, request: Request, user: str, client_ip: str) -> bytes:
        shell = self._shell(request, user)
        line = request.body.find("rsp:CommandLine", env.NS)
        if line is None:
            raise env.invalid_request("The CommandLine element is missing.")
        command_id = line.attrib.get("CommandId", str(uuid.uuid4())).upper()
        data = b"".join(_b64(arg.text) for arg in line.findall("rsp:Arguments", env.NS))
        _feed(shell, data, command_id)
        response = ET.Element(q("rsp", "CommandResponse"))
        ET.SubElement(response, q("rsp", "CommandId")).text = command_id
        return env.reply(request, f"{env.SHELL}/CommandResponse", response)

    def _send(self, request: Request, user: str, client_ip: str) -> bytes:
        shell = self._shell(request, user)
        for stream in request.body.findall("rsp:Send/rsp:Stream", env.NS):
            command_id = stream.attrib.get("CommandId")
            _feed(shell, _b64(stream.text), command_id.upper() if command_id else None)
        return env.reply(request, f"{env.SHELL}/SendResponse", ET.Element(q("rsp", "SendResponse")))

    def _receive(self, request: Request, user: str, client_ip: str) -> bytes:
        shell = self._shell(request, user)
        desired = request.body.find("rsp:Receive/rsp:DesiredStream", env.NS)
        command_id = desired.attrib.get("CommandId") if desired is not None else None
        # Base64 grows data by 4/3; the reply must stay under the client's MaxEnvelopeSize.
        budget = (request.max_envelope_size - 2048) * 3 // 4
        timeout = min(request.operation_timeout, self._max_wait)
        result = _guard(
            lambda: shell.receive(command_id.upper() if command_id else None, budget, timeout)
        )
        if not result.payloads and not result.done:
            raise env.operation_timeout()
        response = ET.Element(q("rsp", "ReceiveResponse"))
        attrs = {"Name": "stdout"}
        if command_id:
            attrs["CommandId"] = command_id.upper()
        for payload in result.payloads:
            stream = ET.SubElement(response, q("rsp", "Stream"), attrs)
            stream.text = base64.b64encode(payload).decode()
        if result.done and command_id:
            state = ET.SubElement(
                response,
                q("rsp", "CommandState"),
                {"CommandId": command_id.upper(), "State": _DONE},
            )
            ET.SubElement(state, q("rsp", "ExitCode")).text = "0"
        return env.reply(request, f"{env.SHELL}/ReceiveResponse", response)

    def _signal(self, request: Request, user: str, client_ip: str) -> bytes:
        shell = self._shell(request, user)
        signal = request.body.find("rsp:Signal", env.NS)
        code_element = request.body.find("rsp:Signal/rsp:Code", env.NS)
        if signal is None or code_element is None:
            raise env.invalid_request("The Signal element is missing.")
        command_id = signal.attrib.get("CommandId", "").upper()
        code = (code_element.text or "").strip()
        if code in (_PS_CTRL_C, _SIGNAL_BASE + "ctrl_c"):
            _guard(lambda: shell.stop_command(command_id))
        elif code.lower() == (_SIGNAL_BASE + "terminate").lower():
            _guard(lambda: shell.terminate_command(command_id))
        else:
            raise env.invalid_request(f"Unknown signal code {code}.")
        return env.reply(
            request,
            f"{env.SHELL}/SignalResponse",
            ET.Element(q("rsp", "SignalResponse")),
            activity_id=False,
        )

    def _delete(self, request: Request, user: str, client_ip: str) -> bytes:
        shell = self._shell(request, user)
        with self._lock:
            self._shells.pop(shell.shell_id, None)
        shell.close()
        return env.reply(request, f"{env.TRANSFER}/DeleteResponse")

    def _get(self, request: Request, user: str, client_ip: str) -> bytes:
        if request.resource_uri.endswith("/wsman/1/config"):
            config = ET.Element(q("cfg", "Config"))
            ET.SubElement(config, q("cfg", "MaxEnvelopeSizekb")).text = str(_MAX_ENVELOPE_KB)
            ET.SubElement(config, q("cfg", "MaxTimeoutms")).text = str(int(self._max_wait * 1000))
            return env.reply(request, f"{env.TRANSFER}/GetResponse", config, activity_id=False)
        shell = self._shell(request, user)
        return env.reply(
            request,
            f"{env.TRANSFER}/GetResponse",
            self._shell_element(shell, details=True),
            activity_id=False,
        )

    def _enumerate(self, request: Request, user: str, client_ip: str) -> bytes:
        if request.resource_uri.endswith("/shell/Command"):
            selector = request.body.find("n:Enumerate/w:Filter/w:SelectorSet/w:Selector", env.NS)
            shell_id = (selector.text or "").strip().upper() if selector is not None else ""
            shell = self._shell(request, user, shell_id)
            items = [
                _command_element(command_id, running) for command_id, running in shell.commands()
            ]
        else:
            with self._lock:
                shells = [s for s in self._shells.values() if s.owner == user]
            items = [self._shell_element(s, details=True) for s in shells]
        response = ET.Element(q("n", "EnumerateResponse"))
        ET.SubElement(response, q("n", "EnumerationContext"))
        if items:
            ET.SubElement(response, q("w", "Items")).extend(items)
        ET.SubElement(response, q("w", "EndOfSequence"))
        return env.reply(request, f"{env.ENUMERATION}/EnumerateResponse", response)

    def _disconnect(self, request: Request, user: str, client_ip: str) -> bytes:
        self._shell(request, user).disconnect()
        return env.reply(request, f"{env.SHELL}/DisconnectResponse")

    def _reconnect(self, request: Request, user: str, client_ip: str) -> bytes:
        _guard(self._shell(request, user).reconnect)
        return env.reply(request, f"{env.SHELL}/ReconnectResponse")

    def _connect(self, request: Request, user: str, client_ip: str) -> bytes:
        shell = self._shell(request, user)
        connect = request.body.find("rsp:Connect", env.NS)
        if connect is None:
            raise env.invalid_request("The Connect element is missing.")
        response = ET.Element(q("rsp", "ConnectResponse"))
        command_id = connect.attrib.get("CommandId")
        if command_id is not None:
            if not _guard(lambda: shell.has_command(command_id)):
                raise env.unknown_command()
            return env.reply(request, f"{env.SHELL}/ConnectResponse", response)
        xml = connect.find("{http://schemas.microsoft.com/powershell}connectXml")
        if xml is None:
            raise env.invalid_request("The connectXml element is missing.")
        reply = _guard(lambda: shell.connect(_b64(xml.text)))
        ET.SubElement(response, q("rsp", "InputStreams")).text = "stdin pr"
        ET.SubElement(response, q("rsp", "OutputStreams")).text = "stdout"
        ET.SubElement(
            response, "{http://schemas.microsoft.com/powershell}connectResponseXml"
        ).text = base64.b64encode(reply).decode()
        return env.reply(request, f"{env.SHELL}/ConnectResponse", response)


def _command_element(command_id: str, running: bool) -> ET.Element:
    element = ET.Element(q("rsp", "Command"))
    ET.SubElement(element, q("rsp", "CommandId")).text = command_id
    ET.SubElement(element, q("rsp", "CommandLine"))
    ET.SubElement(element, q("rsp", "CommandState")).text = "Running" if running else "Done"
    return element


def _b64(text: str | None) -> bytes:
    try:
        return base64.b64decode((text or "").strip(), validate=True)
    except binascii.Error as exc:
        raise env.invalid_request("A stream is not valid base64.") from exc


def _feed(shell: Shell, data: bytes, command_id: str | None) -> None:
    _guard(lambda: shell.feed(data, command_id))


def _guard(call: Callable[[], T]) -> T:
    try:
        return call()
    except UnknownCommandError as exc:
        raise env.unknown_command() from exc
    except ShellClosedError as exc:
        raise env.unknown_shell() from exc
    except NotDisconnectedError as exc:
        raise env.invalid_request("The shell is not disconnected.") from exc
