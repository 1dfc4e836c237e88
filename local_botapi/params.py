"""Typed access to one request's parameters.

Clients send everything as strings (form-encoded, nested objects as JSON text)
or as a JSON body; the Bot API coerces both, and so does this class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

from local_botapi.errors import CHAT_NOT_FOUND, bad_request

_TRUE_STRINGS = {"true", "1", "yes"}


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart/form-data part."""

    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def raw(self, name: str) -> Any:
        value = self._values.get(name)
        return None if value == "" else value

    def has(self, name: str) -> bool:
        return self.raw(name) is not None

    @overload
    def text(self, name: str, *, required: Literal[True]) -> str: ...
    @overload
    def text(self, name: str, *, required: bool = False) -> str | None: ...
    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._present(name, required)
        return None if value is None else str(value)

    @overload
    def integer(self, name: str, *, required: Literal[True]) -> int: ...
    @overload
    def integer(self, name: str, *, required: bool = False) -> int | None: ...
    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self._present(name, required)
        if value is None:
            return None
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    @overload
    def number(self, name: str, *, required: Literal[True]) -> float: ...
    @overload
    def number(self, name: str, *, required: bool = False) -> float | None: ...
    def number(self, name: str, *, required: bool = False) -> float | None:
        value = self._present(name, required)
        if value is None:
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        value = self.raw(name)
        if isinstance(value, str):
            return value.strip().lower() in _TRUE_STRINGS
        return bool(value)

    def json(self, name: str) -> Any:
        value = self.raw(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None

    def chat_ref(self, name: str = "chat_id") -> int | str:
        value = self._present(name, required=True)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.startswith("@") and len(text) > 1:
            return text
        try:
            return int(text)
        except ValueError:
            raise bad_request(CHAT_NOT_FOUND) from None

    def loggable(self) -> dict[str, Any]:
        """The parameters as recorded in `LocalBotApi.requests` (uploads summarized, secrets hidden)."""
        return {
            name: "<hidden>" if name in _SECRET_PARAMETERS else _loggable(value)
            for name, value in self._values.items()
        }

    def _present(self, name: str, required: bool) -> Any:
        value = self.raw(name)
        if value is None and required:
            raise bad_request(f"{name} is empty")
        return value


_SECRET_PARAMETERS = frozenset({"secret_token"})


def _loggable(value: Any) -> Any:
    if isinstance(value, Upload):
        return f"<upload {value.filename!r}, {len(value.data)} bytes>"
    return value
