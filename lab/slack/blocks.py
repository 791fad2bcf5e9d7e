"""Block Kit as the stand-in sees it: Slack's limits checked, buttons found, text flattened.

The limits are Slack's documented ones (architecture §4); the stand-in refuses what Slack refuses,
so a card that passes here is not rejected by Slack for its size or shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lab.slack.workspace import Json, SlackError

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_ID = 255
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ELEMENTS = 25
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_LABEL = 30
MAX_TEXT = 40_000
# Undocumented: Slack answers msg_blocks_too_long for roughly this much serialised Block Kit.
MAX_BLOCKS_CHARS = 13_000


@dataclass(frozen=True)
class Button:
    """A button present in a message, with where it sits."""

    action_id: str
    block_id: str
    text: str
    value: str | None
    style: str | None
    element: Json


def parse_blocks(raw: Any) -> list[Json] | None:
    """Blocks as sent: a JSON body's list, or a form body's JSON string; None when absent."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise SlackError("invalid_blocks_format") from exc
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise SlackError("invalid_blocks_format")
    return raw


def check_message(text: str, blocks: list[Json] | None) -> None:
    """Refuse what Slack refuses: too long a text, too many or malformed blocks."""
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if not blocks:
        return
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"must provide at most {MAX_BLOCKS} items [json-pointer:/blocks]")
    for index, block in enumerate(blocks):
        problems.extend(_check_block(block, f"/blocks/{index}"))
    if problems:
        raise SlackError("invalid_blocks", *problems)
    if len(json.dumps(blocks)) > MAX_BLOCKS_CHARS:
        raise SlackError("msg_blocks_too_long")


def _check_block(block: Json, where: str) -> Iterator[str]:
    kind = block.get("type")
    if not isinstance(kind, str):
        yield f"missing required field: type [json-pointer:{where}]"
        return
    yield from _too_long(block.get("block_id"), MAX_ID, f"{where}/block_id")
    if kind == "section":
        text = block.get("text")
        fields = block.get("fields")
        if text is None and not fields:
            yield f"must provide text or fields [json-pointer:{where}]"
        if isinstance(text, dict):
            yield from _too_long(text.get("text"), MAX_SECTION_TEXT, f"{where}/text/text")
        if isinstance(fields, list):
            if len(fields) > MAX_FIELDS:
                yield f"must provide at most {MAX_FIELDS} items [json-pointer:{where}/fields]"
            for i, item in enumerate(fields):
                if isinstance(item, dict):
                    yield from _too_long(
                        item.get("text"), MAX_FIELD_TEXT, f"{where}/fields/{i}/text"
                    )
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            yield from _check_element(accessory, f"{where}/accessory")
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            yield f"must provide elements [json-pointer:{where}/elements]"
            return
        if len(elements) > MAX_ACTION_ELEMENTS:
            yield (
                f"must provide at most {MAX_ACTION_ELEMENTS} items [json-pointer:{where}/elements]"
            )
        for i, element in enumerate(elements):
            if isinstance(element, dict):
                yield from _check_element(element, f"{where}/elements/{i}")


def _check_element(element: Json, where: str) -> Iterator[str]:
    yield from _too_long(element.get("action_id"), MAX_ID, f"{where}/action_id")
    if element.get("type") != "button":
        return
    text = element.get("text")
    if not isinstance(text, dict) or not isinstance(text.get("text"), str):
        yield f"missing required field: text [json-pointer:{where}/text]"
    else:
        yield from _too_long(text["text"], MAX_BUTTON_TEXT, f"{where}/text/text")
    yield from _too_long(element.get("value"), MAX_BUTTON_VALUE, f"{where}/value")
    style = element.get("style")
    if style is not None and style not in ("primary", "danger"):
        yield f"must be one of primary, danger [json-pointer:{where}/style]"
    confirm = element.get("confirm")
    if isinstance(confirm, dict):
        limits = {
            "title": MAX_CONFIRM_TITLE,
            "text": MAX_CONFIRM_TEXT,
            "confirm": MAX_CONFIRM_LABEL,
            "deny": MAX_CONFIRM_LABEL,
        }
        for key, limit in limits.items():
            part = confirm.get(key)
            if isinstance(part, dict):
                yield from _too_long(part.get("text"), limit, f"{where}/confirm/{key}/text")


def _too_long(value: Any, limit: int, where: str) -> Iterator[str]:
    if isinstance(value, str) and len(value) > limit:
        yield f"must be less than {limit + 1} characters [json-pointer:{where}]"


def buttons(blocks: list[Json]) -> list[Button]:
    """Every button of a message: in actions blocks and as section accessories."""
    found: list[Button] = []
    for block in blocks:
        elements: list[Any] = []
        if block.get("type") == "actions":
            elements = list(block.get("elements") or [])
        elif isinstance(block.get("accessory"), dict):
            elements = [block["accessory"]]
        for element in elements:
            if isinstance(element, dict) and element.get("type") == "button":
                found.append(
                    Button(
                        action_id=str(element.get("action_id", "")),
                        block_id=str(block.get("block_id", "")),
                        text=str((element.get("text") or {}).get("text", "")),
                        value=element.get("value"),
                        style=element.get("style"),
                        element=element,
                    )
                )
    return found


def block_lines(blocks: list[Json]) -> list[str]:
    """The readable text of blocks, one entry per line; buttons as `[Label]`."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            lines.extend(_text_of(block.get("text")).splitlines())
            fields = [_text_of(f) for f in block.get("fields") or []]
            lines.extend(line for f in fields for line in f.splitlines())
        elif kind == "context":
            parts = [_text_of(e) for e in block.get("elements") or []]
            lines.append(" ".join(p for p in parts if p))
        elif kind == "rich_text":
            lines.extend(_rich_text(block).splitlines())
        if kind in ("actions", "section"):
            labels = [f"[{b.text}]" for b in buttons([block])]
            if labels:
                lines.append(" ".join(labels))
    return [line for line in lines if line.strip()]


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return str(obj["text"])
    return ""


def _rich_text(block: Json) -> str:
    out: list[str] = []
    for section in block.get("elements") or []:
        for element in section.get("elements") or []:
            if element.get("type") == "text":
                out.append(str(element.get("text", "")))
            elif element.get("type") == "user":
                out.append(f"<@{element.get('user_id', '')}>")
    return "".join(out)
