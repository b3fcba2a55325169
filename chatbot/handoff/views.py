"""The agent console's pages: login, the console itself, and the one-click FAQ draft.

Everything but the login needs a staff user in the "agents" group; forms and the FAQ-draft POST
go through Django's CSRF check."""

import json
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_http_methods

from chatbot.handoff import mail, selectors
from chatbot.handoff import services as handoff
from chatbot.trace_labels import FAQ_DECISION_NAMES, SOURCE_NAMES


def agent_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page; signed-in users who are not agents get a 403 page
    that says how to become one (a page, not a bare 403; the JSON endpoint keeps its 403)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not selectors.is_agent(request.user):
            if request.method != "GET":
                raise PermissionDenied
            return render(request, "console/not_agent.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


# The console script's words for left messages, in the agent's language ({…} filled in there).
LEFT_MESSAGE_TEXT = {
    "waiting": _("waiting"),
    "answered": _("answered"),
    "empty": _("No left messages."),
    "none": _("None."),
    "answeredBy": _("Answered by {name}, {time}."),
    "emailed": _("Emailed to the visitor."),
    "notEmailed": _("Not emailed yet."),
    "acknowledged": _("The visitor was emailed that we got it."),
    "notAcknowledged": _("No acknowledgement was emailed."),
    "replyLabel": _("Reply by email to {email}"),
    "send": _("Send by email"),
    "replied": _("Sent: emailed to the visitor and added to the conversation."),
    "alreadyAnswered": _("{name} has already answered this message."),
    "repliedLive": _("{name} replied in the chat since, {time}."),
    # An email to the visitor's address was given up (the server's reply codes in {error}).
    "undeliverable": _("undeliverable"),
    "undeliverableHint": _(
        "Our email to this address was not delivered ({error}) and will not be tried again: "
        "the visitor will not get a reply by email. Check the address in the message."
    ),
    # Another agent answered while this one was writing a reply.
    "draftNotSent": _("{name} answered first: your reply below was not sent."),
    "yourDraft": _("Your unsent reply"),
    # {name} of an agent message without an author (written before messages recorded theirs).
    "someAgent": _("An agent"),
    "repliedLiveHint": _(
        "{name} replied in the chat since ({time}): read the conversation before you email "
        "another answer."
    ),
}


# The rest of the console script's words ({…} filled in there).
CONSOLE_TEXT = {
    "reason_visitor_request": _("asked for a person"),
    "reason_visitor_words": _("asked for a person in words"),
    "reason_bot_unsure": _("bot unsure several times"),
    "reason_negative_feedback": _("negative feedback"),
    "reason_models_down": _("no model available"),
    "status_bot": _("bot"),
    "status_queued": _("queued"),
    "status_agent": _("agent"),
    "status_closed": _("closed"),
    "disconnected": _("Disconnected — reload the page (are you still signed in?)"),
    "reconnecting": _("Reconnecting…"),
    "offline": _("You are offline: nothing is sent until the network is back."),
    "actionUnconfirmed": _(
        "The connection dropped before your last action was confirmed: check the conversation "
        "and do it again if it did not happen."
    ),
    "notConnected": _(
        "Not connected yet: your text stays in the box. Send it again once the connection is back."
    ),
    "faqLinked": _(
        "Saved the visitor's question as a draft phrasing of the FAQ (awaiting approval)."
    ),
    "faqNotLinked": _(
        "Not saved: the FAQ has that phrasing already, or the question holds personal details."
    ),
    "alreadyClaimed": _("Already claimed by {owner}."),
    "onlyOwner": _("Only {owner} can do that: they own this conversation."),
    "claimFirst": _("Claim the conversation first."),
    "away": _("You are away: set yourself online to claim."),
    "notFound": _("That conversation no longer exists."),
    "failed": _("That did not work ({code})."),
    "agentOnline": _("{n} agent online"),
    "agentsOnline": _("{n} agents online"),
    "noResults": _("No results."),
    "loading": _("Loading…"),
    "nothing": _("Nothing here."),
    "noMessage": _("(no message yet)"),
    "withAgent": _("with {name}"),
    "older": _("‹ Older"),
    "newer": _("Newer ›"),
    "range": _("{first}–{last} of {total}"),
    "conversation": _("Conversation {id}"),
    "closedReason": _("closed: {reason}"),
    "rated": _("rated {rating}/5"),
    "youOwn": _("You own this conversation."),
    "earlier": _("Load earlier messages"),
    "ownedBy": _("Owned by {name}."),
    "durationS": _("{s}s"),
    "durationMS": _("{m}m {s}s"),
    "durationHM": _("{h}h {m}m"),
    "noLongerYours": _("{name} has this conversation now; it is no longer yours."),
    "draftKept": _("Your reply was not sent: “{text}”"),
    "waitingForAgent": _("Waiting for an agent."),
    "alsoViewing": _("Also viewing: {names}"),
    "roleBot": _("Bot"),
    "roleAgent": _("Agent"),
    "roleVisitor": _("Visitor"),
    "roleSystem": _("System"),
    "helpful": _("Visitor: helpful"),
    "notHelpful": _("Visitor: not helpful"),
    "saveFaq": _("Save as FAQ draft"),
    "savedFaq": _("Saved as FAQ draft (awaiting approval)"),
    "couldNotSave": _("Could not save ({error})"),
    "couldNotSaveRetry": _("Could not save — retry"),
    "faqQuestion": _("FAQ question"),
    "faqAnswer": _("FAQ answer"),
    "faqTakenOut": _("Taken out: {kinds}. […] marks a detail to replace or remove."),
    "faqSaveDraft": _("Save draft"),
    "faqCancel": _("Cancel"),
    "faqPersonal": _("Remove the personal details first: {kinds}"),
    # A bot answer's trace line under it in the transcript.
    "traceSource": _("source {source}"),
    "traceDecision": _("decision {decision}"),
    "traceScore": _("score {score}"),
    "traceModel": _("model {model}"),
    "traceTokens": _("tokens {prompt}+{completion}"),
    "traceCost": _("cost ${cost}"),
    "traceLatency": _("latency {ms} ms"),
    "traceUngrounded": _("ungrounded: cites no source"),
    # The "Did you mean" questions the visitor was offered under a bot reply.
    "offered": _("Offered to the visitor, “Did you mean”: {questions}"),
    # What "Save as FAQ draft" took out or still finds (chatbot.handoff.faq_draft kinds).
    "faqKind_greeting": _("greeting"),
    "faqKind_name": pgettext_lazy("a person's", "name"),
    "faqKind_email": _("email address"),
    "faqKind_phone_number": _("phone number"),
    "faqKind_placeholder": _("[…] mark"),
    "faqKind_other": _("personal detail"),
    "visitorTyping": _("Visitor is typing…"),
    "agentTyping": _("Another agent is typing…"),
    # On an agent's message the visitor has had on screen (the widget's read receipt).
    "seen": _("Seen"),
    "askedThisFaq": _("The visitor asked this FAQ"),
    "askedThisFaqTitle": _("Save the visitor's last question as a draft phrasing of this FAQ"),
    "uploading": _("Sending {name}…"),
    "uploadFailed": _("The file was not sent: {error}"),
    "fileTooLarge": _("That file is too large to send."),
    "fileLink": _("{name} ({size})"),
    # Said to a screen reader (console.js announce).
    "visitorSaid": _("Visitor: {text}"),
    "resultFound": _("1 conversation found."),
    "resultsFound": _("{n} conversations found."),
    "closedAnnounce": _("Conversation closed."),
    # Approved answers found for the reply (named by their question, not their whole text).
    "useAnswer": _("Use the answer to: {question}"),
    "askedThisFaqNamed": _("The visitor asked this FAQ: {question}"),
    # Help-centre articles found for the words typed there (agents-only ones marked).
    "articlesFound": _("Help-centre articles"),
    # A handoff's reason on a conversation back with the bot.
    "reasonEarlier": _("earlier: {reason}"),
    "suggestedShown": _("Suggested to the visitor as articles that may help (cited by no answer):"),
    "agentsOnly": _("agents only"),
    "insertLink": _("Insert link"),
    "insertLinkNamed": _("Insert the link to: {title}"),
}


# The console script's words for assignment and notifications ({…} filled in there).
ASSIGNMENT_TEXT = {
    "transferred": _("{actor} transferred this conversation to {agent}."),
    "tookOver": _("{actor} took this conversation over from {owner}."),
    "claimed": _("{actor} claimed this conversation."),
    "returnedToBot": _("{actor} handed this conversation back to the bot."),
    "closed": _("{actor} closed this conversation."),
    "closedWhy": _("{actor} closed this conversation: {reason}."),
    "movedFrom": _("{actor} moved this conversation from {owner} to {agent}."),
    "assigned": _("{actor} assigned this conversation to {agent}."),
    "transferredTeam": _("{actor} transferred this conversation to the {team} team."),
    "assignedTeam": _("{actor} assigned this conversation to the {team} team."),
    "auto": _("Assigned automatically to {agent}."),
    "expired": _("{agent} did not reply in time: back in the queue."),
    "ownerOffline": _("{agent} went offline: back in the queue."),
    "assign": _("Assign"),
    "transfer": _("Transfer"),
    "agents": _("Agents"),
    "teams": _("Teams"),
    "online": _("online"),
    "offline": _("offline"),
    "load": _("{open} of {capacity} open"),
    # An agent in the transfer list: "Ann (online, 1 of 3 open)".
    "agentChoice": _("{name} ({status}, {load})"),
    "team": _("team {team}"),
    "newQueued": _("New conversation in the queue"),
    "assignedToYou": _("A conversation was assigned to you"),
    "visitorWrote": _("Your visitor wrote"),
    "permissionDenied": _(
        "The browser blocks desktop notifications for this site: allow them in its site settings."
    ),
    "notAnAgent": _("That user is not an agent."),
    "alreadyOwner": _("They already own this conversation."),
    "changed": _("The conversation changed meanwhile: look at it again."),
}


@agent_required
def console(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/console.html",
        {
            "agent_name": selectors.agent_name(request.user),
            "left_message_text": {k: str(v) for k, v in LEFT_MESSAGE_TEXT.items()},
            "assignment_text": {k: str(v) for k, v in ASSIGNMENT_TEXT.items()},
            "console_text": {
                **{k: str(v) for k, v in CONSOLE_TEXT.items()},
                "closeReasons": {k: str(v) for k, v in selectors.CLOSE_REASONS.items()},
                "sourceNames": {k: str(v) for k, v in SOURCE_NAMES.items()},
                "faqDecisionNames": {k: str(v) for k, v in FAQ_DECISION_NAMES.items()},
            },
        },
    )


@require_http_methods(["GET", "POST"])
@agent_required
def faq_draft(request: HttpRequest, message_id: int) -> JsonResponse:
    """GET: the proposed draft (greetings and personal details out) for the agent to edit;
    POST {question, answer} (both optional): saves it as an FAQ draft, inactive until approved
    in the admin."""
    try:
        if request.method == "GET":
            return JsonResponse(handoff.faq_draft_preview(message_id=message_id))
        body: object = {}  # one click: the proposal as it is
        if request.content_type == "application/json":
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                body = None
        if not isinstance(body, dict) or any(
            not isinstance(body.get(k, ""), str) for k in ("question", "answer")
        ):
            return JsonResponse({"error": "invalid"}, status=400)
        result = handoff.faq_draft_from_message(
            message_id=message_id,
            agent=request.user,
            question=body.get("question"),
            answer=body.get("answer"),
        )
    except handoff.HandoffError as err:
        return JsonResponse({"error": err.code, **err.detail}, status=400)
    return JsonResponse(result, status=201)


@require_http_methods(["GET", "POST"])
def transcript_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link emailed to an address a visitor typed: a button asks for the transcript (a GET
    sends nothing, so a mail scanner that opens links does not ask for it), in the
    conversation's language; a link that is not valid, in the browser's."""
    found = mail.transcript_link_request(token)
    if found is None:
        return render(request, "widget/transcript_confirm.html", {"state": "invalid"}, status=400)
    with translation.override(found.conversation.locale):
        state = "ask"
        if request.method == "POST":
            handoff.transcript_email_confirm(transcript_email_id=found.pk)
            state = "sent"
        elif found.confirmed_at is not None:
            state = "sent"
        return render(
            request,
            "widget/transcript_confirm.html",
            {"state": state, "email": found.email},
        )
