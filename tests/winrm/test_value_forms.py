"""The reader takes a value in every form Windows can send it (architecture §6).

Below the top level an enum arrives as its text, in a note property as an object whose
ToString is its name; a Guid as `uuid.UUID`; an empty Char as "\\x00"; a DateTime as its
XML text with seven fractional digits and an offset or Z.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.winrm import objects as o


class EnumObject:
    """What pypsrp makes of an enum written as an object: ToString and the value."""

    def __init__(self, name: str, value: int) -> None:
        self._to_string = name
        self.property_sets = [value]
        self.adapted_properties: dict[str, Any] = {}
        self.extended_properties: dict[str, Any] = {}


class Record:
    """A deserialized object: adapted (a .NET object) or extended (a property bag) fields."""

    def __init__(
        self, *, adapted: dict[str, Any] | None = None, notes: dict[str, Any] | None = None
    ):
        self.adapted_properties = adapted or {}
        self.extended_properties = notes or {}


names = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1)


@given(st.uuids(), st.booleans())
def test_an_id_reads_the_same_as_guid_or_text(value: uuid.UUID, as_note: bool) -> None:
    for form in (value, str(value), str(value).upper()):
        record = Record(notes={"Id": form}) if as_note else Record(adapted={"Id": form})
        assert o.text(record, "Id").lower() == str(value)


@given(names, st.integers(min_value=0, max_value=2**31 - 1))
def test_an_enum_reads_the_same_as_text_or_object(name: str, value: int) -> None:
    assert o.text(Record(adapted={"State": name}), "State") == name
    assert o.text(Record(notes={"State": EnumObject(name, value)}), "State") == name
    assert o.number(Record(notes={"State": EnumObject(name, value)}), "State") == value


@given(st.sampled_from([chr(c) for c in range(ord("A"), ord("Z") + 1)] + ["\x00"]))
def test_a_drive_letter_char_zero_is_no_letter(letter: str) -> None:
    text = o.text(Record(adapted={"DriveLetter": letter}), "DriveLetter")
    assert text == ("" if letter == "\x00" else letter)


@given(
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2))]),
    ),
    st.integers(min_value=0, max_value=9),
    st.booleans(),
)
def test_a_datetime_reads_from_its_xml_text(when: dt.datetime, tick: int, zulu: bool) -> None:
    # .NET writes seven fractional digits; the seventh (100 ns) is below what Python keeps.
    base = when.replace(microsecond=when.microsecond)
    text = base.strftime("%Y-%m-%dT%H:%M:%S.") + f"{base.microsecond:06d}{tick}"
    offset = base.utcoffset() or dt.timedelta(0)
    if zulu and offset == dt.timedelta(0):
        text += "Z"
    else:
        minutes = int(offset.total_seconds() // 60)
        text += f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    assert o.timestamp(text) == base


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_a_number_reads_the_same_typed_or_as_text(value: int) -> None:
    assert o.number(Record(adapted={"MemoryAssigned": value}), "MemoryAssigned") == value
    assert o.number(Record(notes={"MemoryAssigned": str(value)}), "MemoryAssigned") == value
