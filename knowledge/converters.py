"""`<id:name>` in URLs, for a database row's id."""

from django.urls import register_converter


class RowIdConverter:
    """Digits that fit a 64-bit row id; longer ones do not match (404). Django's `<int:>` let
    99999999999999999999 through to the query, and SQLite raised OverflowError: a 500 (a
    security walk, anonymous, on /agents/<id>/avatar)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


def register() -> None:
    register_converter(RowIdConverter, "id")
