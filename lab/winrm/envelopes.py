"""WS-Management SOAP envelopes: reading requests and writing replies shaped like Windows'.

The reply shapes (namespace prefixes, header order, the `ResourceCreated` block, the fault
detail) are copied from real Windows exchanges recorded by pypsrp's authors
(`reference/pypsrp-recorded/`). Only the values differ.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from xml.etree import ElementTree as ET

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "e": "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
DEFAULT_MAX_ENVELOPE = 153600
_DURATION = re.compile(r"^PT(?P<seconds>\d+(?:\.\d+)?)S$")


def q(prefix: str, name: str) -> str:
    """The Clark name `{uri}name` of a prefixed element."""
    return f"{{{NS[prefix]}}}{name}"


@dataclass(frozen=True)
class Request:
    """The parts of a WS-Management request the lab acts on."""

    action: str
    message_id: str
    resource_uri: str
    selectors: dict[str, str]
    options: dict[str, str]
    max_envelope_size: int
    operation_timeout: float
    body: ET.Element

    @property
    def verb(self) -> str:
        """The last path segment of the action: Create, Command, Receive, ..."""
        return self.action.rsplit("/", 1)[-1]

    @property
    def shell_id(self) -> str | None:
        """The `ShellId` selector, upper-cased like Windows reports it."""
        value = self.selectors.get("ShellId")
        return value.upper() if value else None


class MalformedRequest(ValueError):
    """The request is not a WS-Management envelope the lab understands."""


def parse_request(data: bytes) -> Request:
    """Parse a SOAP envelope; raises `MalformedRequest` when it is not one."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise MalformedRequest(str(exc)) from exc
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if root.tag != q("s", "Envelope") or header is None or body is None:
        raise MalformedRequest("not a SOAP envelope")

    def text(path: str) -> str:
        element = header.find(path, NS)
        return (element.text or "").strip() if element is not None else ""

    def named(path: str) -> dict[str, str]:
        return {
            el.attrib.get("Name", ""): (el.text or "").strip() for el in header.findall(path, NS)
        }

    size = text("w:MaxEnvelopeSize")
    timeout = _DURATION.match(text("w:OperationTimeout"))
    return Request(
        action=text("a:Action"),
        message_id=text("a:MessageID"),
        resource_uri=text("w:ResourceURI"),
        selectors=named("w:SelectorSet/w:Selector"),
        options=named("w:OptionSet/w:Option"),
        max_envelope_size=int(size) if size.isdigit() else DEFAULT_MAX_ENVELOPE,
        operation_timeout=float(timeout.group("seconds")) if timeout else 60.0,
        body=body,
    )


def reply(
    request: Request, action: str, *body_children: ET.Element, activity_id: bool = True
) -> bytes:
    """A reply envelope to `request` with the header Windows writes and `RelatesTo` set.

    Windows leaves `ActivityId` out of some replies (Get and Signal in the recordings).
    """
    envelope = ET.Element(q("s", "Envelope"), {XML_LANG: "en-US"})
    header = ET.SubElement(envelope, q("s", "Header"))
    ET.SubElement(header, q("a", "Action")).text = action
    ET.SubElement(header, q("a", "MessageID")).text = f"uuid:{str(uuid.uuid4()).upper()}"
    if activity_id:
        ET.SubElement(header, q("p", "ActivityId")).text = str(uuid.uuid4()).upper()
    ET.SubElement(header, q("a", "To")).text = ANONYMOUS
    ET.SubElement(header, q("a", "RelatesTo")).text = request.message_id
    body = ET.SubElement(envelope, q("s", "Body"))
    body.extend(body_children)
    data: bytes = ET.tostring(envelope, encoding="utf-8", xml_declaration=False)
    return data


@dataclass
class WSManFault(Exception):
    """A WS-Management fault: HTTP 500 with the SOAP fault Windows sends."""

    code: int
    subcode: str
    reason: str
    sender: bool = False
    fault_detail: str | None = None

    def envelope(self, request: Request, machine: str) -> bytes:
        """The fault envelope replying to `request`."""
        fault = ET.Element(q("s", "Fault"))
        code = ET.SubElement(fault, q("s", "Code"))
        ET.SubElement(code, q("s", "Value")).text = "s:Sender" if self.sender else "s:Receiver"
        subcode = ET.SubElement(code, q("s", "Subcode"))
        ET.SubElement(subcode, q("s", "Value")).text = self.subcode
        reason = ET.SubElement(fault, q("s", "Reason"))
        ET.SubElement(reason, q("s", "Text"), {XML_LANG: "en-US"}).text = self.reason
        detail = ET.SubElement(fault, q("s", "Detail"))
        if self.fault_detail:
            ET.SubElement(detail, q("w", "FaultDetail")).text = self.fault_detail
        wsman_fault = ET.SubElement(
            detail, q("f", "WSManFault"), {"Code": str(self.code), "Machine": machine}
        )
        ET.SubElement(wsman_fault, q("f", "Message")).text = self.reason
        return reply(request, FAULT_ACTION, fault)


def operation_timeout() -> WSManFault:
    """0x80338029: nothing to say within the request's OperationTimeout."""
    return WSManFault(
        code=0x80338029,
        subcode="w:TimedOut",
        reason="The WS-Management service cannot complete the operation within the time "
        "specified in OperationTimeout.  ",
    )


def _invalid_selectors(reason: str) -> WSManFault:
    """0x8033805B: a selector names something the service does not have."""
    return WSManFault(
        code=0x8033805B,
        subcode="w:InvalidSelectors",
        reason=reason,
        sender=True,
        fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
    )


def unknown_shell() -> WSManFault:
    """The ShellId selector names no shell (closed, or never created)."""
    return _invalid_selectors(
        "The WS-Management service cannot process the request because the request "
        "contained invalid selectors for the resource. "
    )


def unknown_command() -> WSManFault:
    """The Windows Remote Shell message for a command id that does not exist."""
    return _invalid_selectors(
        "The Windows Remote Shell received a request to perform an operation on a "
        "command identifier that does not exist. Either the command has completed execution "
        "or the client specified an invalid command identifier. "
    )


def internal_error(reason: str) -> WSManFault:
    """The lab could not process a request it accepted (the code, E_FAIL, is a guess)."""
    return WSManFault(
        code=0x80004005,
        subcode="w:InternalError",
        reason=f"The WS-Management service cannot process the request. {reason} ",
    )


def unsupported_action(action: str) -> WSManFault:
    """0x80338126 (ERROR_WSMAN_ACTION_NOT_SUPPORTED): an action the lab does not implement."""
    return WSManFault(
        code=0x80338126,
        subcode="a:ActionNotSupported",
        reason=f"The action is not supported by the service. {action} ",
        sender=True,
    )


def invalid_request(reason: str) -> WSManFault:
    """An InvalidParameter fault for a body the lab cannot read (the code is a guess)."""
    return WSManFault(
        code=0x80338043,
        subcode="w:InvalidParameter",
        reason=f"The WS-Management service cannot process the request. {reason} ",
        sender=True,
    )
