"""The embed snippet for the owner's widget appearance, and the appearance a preview asks for."""

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join

from chatbot.models import WidgetAppearance

# The form fields a preview may set, each the model field of the same name.
PREVIEW_FIELDS = (
    "title",
    "title_zh_hans",
    "color",
    "position",
    "launcher_text",
    "locale",
    "welcome_en",
    "welcome_zh_hans",
    "logo_url",
)


def embed_snippet(appearance: WidgetAppearance, *, server: str) -> str:
    """The one tag an owner pastes into their pages (`server`: this site's public origin)."""
    attributes = {"data-server": server, **appearance.embed_attributes()}
    return format_html(
        '<script src="{}{}" {} defer></script>',
        server,
        static("chatbot/widget.js"),
        format_html_join(" ", '{}="{}"', attributes.items()),
    )


def appearance_from(values: Mapping[str, str]) -> WidgetAppearance:
    """An unsaved appearance from a preview's query; a field that does not validate keeps its
    default, so a half-typed colour previews as the default instead of failing the page."""
    appearance = WidgetAppearance()
    for name in PREVIEW_FIELDS:
        if name not in values:
            continue
        field = WidgetAppearance._meta.get_field(name)
        value = values[name][: field.max_length]
        try:
            field.clean(value, appearance)
        except ValidationError:
            continue
        setattr(appearance, name, value)
    return appearance
