"""The error every console action raises (a leaf, so that services and assignment share it)."""

from typing import Any


class HandoffError(Exception):
    """A console action that cannot be done; `code` goes to the agent in an `error` frame."""

    def __init__(self, code: str, **detail: Any) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail
