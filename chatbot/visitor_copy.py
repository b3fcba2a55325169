"""Visitor-facing copy of the server, translated with Django i18n."""

import functools
import re

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from chatbot.outcomes import Source

STAGE_STATUS = {
    Source.SMALL_TALK: _("Checking our help centre…"),
    Source.FAQ: _("Checking our help centre…"),
    Source.CACHE: _("Checking our help centre…"),
    Source.LLM: _("Thinking…"),
    Source.FALLBACK: _("Still working on it…"),
}

FALLBACK_ANSWER = _(
    "Sorry, I can't answer that right now. Please try again in a moment, "
    "or ask to talk to a person and someone from our team will help you."
)

# Every model down and a person takes the conversation next: the queue's own notice says so.
PERSON_NEXT_ANSWER = _("Sorry, I can't answer that myself right now.")

NOT_FOUND_ANSWER = _(
    "I couldn't find that in our help centre, and I'd rather not guess. "
    "Would you like to talk to a person? Someone from our team can help you."
)

SUGGEST_ARTICLES = _(
    "I'm not sure I can answer that exactly. These help-centre articles may help; "
    "or ask to talk to a person."
)

# No model answered (down, too slow, over a limit), but the help centre had articles on it.
SUGGEST_WITHOUT_MODEL = _(
    "I can't answer that myself right now. These help-centre articles may help; "
    "you can also ask to talk to a person."
)

SUGGEST_BEFORE_PERSON = _(
    "I can't answer that myself right now. These help-centre articles may help in the meantime."
)

BLOCKED_ANSWER = _(
    "Sorry, I can't help with that here. Would you like to talk to a person? Someone from our "
    "team can help you."
)

# "Are you a bot?", "你是真人吗": answered, not taken as a request for a person.
IDENTITY_ANSWER = _(
    "I'm the virtual assistant, not a person. I can answer most questions right away. Would you "
    "like to talk to a person instead?"
)

# Answers that end by asking whether the visitor wants a person: a plain "yes" to one of them
# hands the conversation over (chatbot.handoff).
# A queued question's later answer that would only repeat the articles the first reply
# suggested: the promise to answer is kept without a second copy of them.
QUEUED_NOTHING_MORE = _(
    "I looked again, and the articles I suggested are the best I have on this. "
    "Would you like to talk to a person? Someone from our team can help you."
)

PERSON_OFFERS = (NOT_FOUND_ANSWER, BLOCKED_ANSWER, IDENTITY_ANSWER, QUEUED_NOTHING_MORE)

INTERRUPTED_NOTE = _("(Sorry, my answer was cut off. Please ask again if you need more.)")

# The process writing an answer stopped (a crash, a restart): another one starts it over.
ANSWER_RESTARTED = _("My answer was interrupted; starting it again…")

# Said by the model stage while no token has arrived yet, by the `detail` of its status frame.
STATUS_DETAILS = {
    "failover": _("This is taking longer than usual, trying another way…"),
}

# The small-talk stage's replies, by what the visitor said (knowledge.greetings.SmallTalk).
SMALL_TALK_REPLIES = {
    "identity": IDENTITY_ANSWER,
    "greeting": _("Hello! What can I help you with today?"),
    "thanks": _("You're welcome! Is there anything else I can help you with?"),
    "goodbye": _("Thanks for chatting with us. Have a great day!"),
    "acknowledgement": _("All right. Is there anything else I can help you with?"),
}

# Appended to a rule template's answer.
HUMAN_OFFER = _("You can also ask to talk to a person and someone from our team will help you.")
QUEUED_PROMISE = _("I've kept your question and will answer it here as soon as I can.")

# Before a queued question's answer, given later.
QUEUED_ANSWER_PREFIX = _("About your earlier question “%(question)s”: ")

SUPPORTED_LOCALES = ("en", "zh-hans")


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def spaced_format(template: str, **values: str) -> str:
    """`str.format` for copy in either language: Chinese meets a Latin name or a number with a
    space between (我们团队的 ann 回复了) and a Chinese one without (我们团队的李娜回复了; it read
    "我们团队的 李娜 回复了", a walk). Templates are written without spaces around a value; the
    widget's `fmt` follows the same rule."""

    def fill(match: re.Match[str]) -> str:
        value = str(values[match.group(1)])
        if not value:
            return value
        before = template[match.start() - 1 : match.start()]
        after = template[match.end() : match.end() + 1]
        if before and _CJK.match(before) and not _CJK.match(value[0]):
            value = " " + value
        if after and _CJK.match(after) and not _CJK.match(value[-1]):
            value += " "
        return value

    return re.sub(r"\{(\w+)\}", fill, template)


def normalise_locale(value: str | None) -> str:
    value = (value or "").strip().lower().replace("_", "-")
    if value.startswith("zh"):
        return "zh-hans"
    return "en"


def render(text: object, locale: str) -> str:
    with translation.override(locale):
        return str(text)


def interrupted_note(shown: str, locale: str) -> str:
    """The note that ends an answer cut off mid-way, spaced after what was already shown."""
    note = render(INTERRUPTED_NOTE, locale)
    return note if not shown or shown[-1].isspace() else " " + note


@functools.cache
def _in_every_language(*texts: Promise) -> tuple[str, ...]:
    """The texts as each supported language has them, once per process: every bot message's
    payload asks (`ends_cut_off`, `offers_a_person`)."""
    return tuple(render(text, locale) for text in texts for locale in SUPPORTED_LOCALES)


def ends_cut_off(text: str) -> bool:
    """Whether a bot answer ends with the cut-off note (in any language): the widget then offers
    to try again, which "Please ask again" alone left to retyping."""
    return text.rstrip().endswith(_in_every_language(INTERRUPTED_NOTE))


def offers_a_person(text: str) -> bool:
    """Whether a bot answer asked the visitor if they want a person, in any language."""
    return any(offer in text for offer in _in_every_language(*PERSON_OFFERS))
