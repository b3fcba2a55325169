"""Who owns a conversation, beyond the claim: assigning or transferring it by hand to an agent or
a team, round-robin auto-assignment within each agent's capacity, the audit line every move
leaves in the transcript, and the agent's own settings (docs/console.md, "Assignment").

Every move is one conditional UPDATE on the status and owner it expects, like the claim, so a
transfer, a claim, the claim timeout and auto-assignment racing each other leave exactly one
owner. Auto-assignment locks the chosen agent's AgentProfile row before counting their open
conversations, so two processes assigning at once cannot both fill the agent's last place."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from chatbot.audit.models import AuditEvent
from chatbot.audit.services import Action as AuditAction
from chatbot.audit.services import audit_record
from chatbot.handoff import notify, selectors
from chatbot.handoff.errors import HandoffError
from chatbot.handoff.models import AgentPresence, AgentProfile, AssignmentEvent, Team
from chatbot.models import Conversation
from chatbot.services import visitor_facing_agent_name

Status = Conversation.Status
Kind = AssignmentEvent.Kind
AUTO_ASSIGN_BATCH = 100  # queued conversations one sweep round tries, oldest handoff first
# Audit-log lines shown in the console's transcript among the assignment lines.
TRANSCRIPT_AUDIT_ACTIONS = (AuditAction.CLAIM, AuditAction.RETURN_TO_BOT, AuditAction.CLOSE)
# Leads may move a conversation another agent owns (to themselves: a take-over), for an agent
# who is stuck, gone for the day or out of their depth; others only what is theirs or queued.
TAKE_OVER_PERMISSION = "chatbot.change_conversation"


def may_take_over(agent: AbstractBaseUser) -> bool:
    return agent.has_perm(TAKE_OVER_PERMISSION)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def event_payload(event: AssignmentEvent) -> dict[str, Any]:
    """Names, not ids: the console words the line in the agent's language. Call with actor,
    from_agent, to_agent and to_team selected (or just created)."""

    def name(user: AbstractBaseUser | None) -> str | None:
        return selectors.agent_name(user) if user is not None else None

    return {
        "id": event.id,
        "kind": event.kind,
        "actor": name(event.actor),
        "from": name(event.from_agent),
        "to": name(event.to_agent),
        "team": event.to_team.name if event.to_team_id else None,
        "created": _iso(event.created_at),
    }


def audit_line_payload(audit: AuditEvent) -> dict[str, Any]:
    """A claim, a hand-back to the bot or a close, from the audit log, as a line of the
    console's transcript beside the assignment lines: who took a conversation and who ended it
    (and why) could not be read there. Call with actor selected (or just created)."""
    actor = selectors.agent_name(audit.actor) if audit.actor_id else audit.actor_name
    return {
        "id": f"audit-{audit.pk}",
        "kind": audit.action,
        "actor": actor or None,
        "reason": audit.detail.get("reason"),
        "created": _iso(audit.created_at),
    }


def audit_line_announce(public_id: str, audit: AuditEvent) -> None:
    """On commit, the line to the agents viewing the conversation."""
    frame = {"type": "assignment", "conversation": public_id, "event": audit_line_payload(audit)}
    transaction.on_commit(lambda: notify.to_viewing_agents(public_id, frame))


def events_for(*, public_id: str) -> list[dict[str, Any]]:
    """The conversation's assignment, claim and close lines, oldest first, for its transcript in
    the console."""
    events = AssignmentEvent.objects.filter(conversation__public_id=public_id).select_related(
        "actor", "from_agent", "to_agent", "to_team"
    )
    audits = AuditEvent.objects.filter(
        conversation=public_id, action__in=TRANSCRIPT_AUDIT_ACTIONS
    ).select_related("actor")
    lines = [event_payload(e) for e in events] + [audit_line_payload(a) for a in audits]
    return sorted(lines, key=lambda line: line["created"])


# --- the agent's settings -------------------------------------------------------------------


def profile_for(*, user: AbstractBaseUser) -> AgentProfile:
    return AgentProfile.objects.get_or_create(user=user)[0]


def preferences(*, user: AbstractBaseUser) -> dict[str, bool]:
    """How the agent's console tells them of new work: a sound, a desktop notification, a
    count in the tab's title."""
    profile = profile_for(user=user)
    return {
        "sound": profile.notify_sound,
        "desktop": profile.notify_desktop,
        "title": profile.notify_title,
    }


def preferences_update(
    *,
    user: AbstractBaseUser,
    sound: bool | None = None,
    desktop: bool | None = None,
    title: bool | None = None,
) -> dict[str, bool]:
    """Stores the given preferences (None leaves one as it is); returns them all."""
    profile = profile_for(user=user)
    changed = {
        field: value
        for field, value in (
            ("notify_sound", sound),
            ("notify_desktop", desktop),
            ("notify_title", title),
        )
        if value is not None
    }
    for field, value in changed.items():
        setattr(profile, field, value)
    if changed:
        profile.save(update_fields=list(changed))
    return preferences(user=user)


def _agents() -> QuerySet:
    return get_user_model().objects.filter(
        is_active=True, is_staff=True, groups__name=selectors.AGENTS_GROUP
    )


def _open_count() -> Count:
    return Count(
        "assigned_conversations",
        filter=Q(assigned_conversations__status=Status.AGENT),
        distinct=True,
    )


def roster(*, now: datetime | None = None) -> dict[str, Any]:
    """Every agent (online or not, their open conversations and capacity) and every team with
    its members: what the console's "Assign to" offers."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.HANDOFF_PRESENCE_TTL_S)
    users = (
        _agents()
        .select_related("agent_presence", "agent_profile")
        .annotate(open=_open_count())
        .order_by("first_name", "username")
    )
    agents = []
    for user in users:
        presence = getattr(user, "agent_presence", None)
        profile = getattr(user, "agent_profile", None)
        online = bool(
            presence is not None
            and presence.status == AgentPresence.Status.ONLINE
            and presence.last_seen_at is not None
            and presence.last_seen_at >= cutoff
        )
        capacity = profile.capacity if profile is not None else None
        agents.append(
            {
                "id": user.pk,
                "name": selectors.agent_name(user),
                "online": online,
                "open": user.open,
                "capacity": capacity if capacity is not None else settings.HANDOFF_AGENT_CAPACITY,
            }
        )
    teams = [
        {"id": t.pk, "name": t.name, "members": sorted(m.pk for m in t.members.all())}
        for t in Team.objects.prefetch_related("members")
    ]
    return {"agents": agents, "teams": teams}


# --- by hand --------------------------------------------------------------------------------


def _announce(
    conversation: Conversation, event: AssignmentEvent, to_agent: AbstractBaseUser | None
) -> None:
    """On commit: the audit line to agents viewing it, the new owner's console (wherever they
    are in it), the visitor, and everyone's lists."""
    public_id, pk = conversation.public_id, conversation.pk
    payload = event_payload(event)
    line = {"type": "assignment", "conversation": public_id, "event": payload}
    transaction.on_commit(lambda: notify.to_viewing_agents(public_id, line))
    if to_agent is not None:
        owner_id, name = to_agent.pk, visitor_facing_agent_name(to_agent)
        assigned = {"type": "assigned", "conversation": public_id, "event": payload}
        joined = {"type": "conversation", "status": Status.AGENT.value, "agent": name}
        if event.from_agent_id is not None:
            joined["moved"] = True  # from one agent to another: names alone may not tell
        transaction.on_commit(lambda: notify.to_agent(owner_id, assigned))
        transaction.on_commit(lambda: notify.to_visitor(public_id, joined))
    else:
        transaction.on_commit(lambda: notify.visitor_queued(pk))
    transaction.on_commit(notify.queue_changed)


@transaction.atomic
def conversation_assign(
    *,
    public_id: str,
    agent: AbstractBaseUser,
    to_agent_id: int | None = None,
    to_team_id: int | None = None,
) -> dict[str, Any]:
    """`agent` gives a conversation to another agent (it is theirs at once: the claim timeout
    runs from now) or to a team (back in the queue, keeping its place, for the team's members).
    Only what `agent` owns, or what is still queued, unless they are a lead (`may_take_over`),
    who may also move what another agent owns, to themselves too. Returns the audit line."""
    conversation = (
        Conversation.objects.select_related("assigned_to").filter(public_id=public_id).first()
    )
    if conversation is None:
        raise HandoffError("not_found")
    owned = conversation.status == Status.AGENT
    movable = conversation.status == Status.QUEUED or conversation.assigned_to_id == agent.pk
    if not (movable or (owned and may_take_over(agent))):
        owner = conversation.assigned_to if owned else None
        raise HandoffError("not_owner", owner=selectors.agent_name(owner) if owner else None)
    expected = Conversation.objects.filter(
        pk=conversation.pk, status=conversation.status, assigned_to=conversation.assigned_to_id
    )
    now = timezone.now()
    target = team = None
    if to_agent_id is not None:
        target = get_user_model().objects.filter(pk=to_agent_id).first()
        if target is None or not selectors.is_agent(target):
            raise HandoffError("not_an_agent")
        if target.pk == conversation.assigned_to_id:
            raise HandoffError("already_owner")
        moved = expected.update(
            status=Status.AGENT,
            assigned_to=target,
            claimed_at=now,
            expired_owner=None,
            updated_at=now,
        )
    else:
        team = Team.objects.filter(pk=to_team_id).first()
        if team is None:
            raise HandoffError("not_found")
        moved = expected.update(
            status=Status.QUEUED,
            assigned_to=None,
            claimed_at=None,
            team=team,
            queued_at=Coalesce(F("queued_at"), Value(now)),
            updated_at=now,
        )
    if not moved:
        raise HandoffError("changed")  # claimed, closed or moved meanwhile: the list shows how
    event = AssignmentEvent.objects.create(
        conversation=conversation,
        kind=Kind.AGENT if target is not None else Kind.TEAM,
        actor=agent,
        from_agent=conversation.assigned_to if owned else None,
        to_agent=target,
        to_team=team,
    )
    audit_record(
        action=AuditAction.TRANSFER,
        actor=agent,
        conversation=public_id,
        detail={"to_agent": target.get_username()} if target else {"to_team": team.name},
    )
    _announce(conversation, event, target)
    payload = event_payload(event)
    if team is not None:
        conversation_auto_assign(conversation_id=conversation.pk, now=now)  # when on
    return payload


# --- round robin ----------------------------------------------------------------------------


def _capacity(profile: AgentProfile | None) -> int:
    if profile is None or profile.capacity is None:
        return settings.HANDOFF_AGENT_CAPACITY
    return profile.capacity


def _candidates(*, team_id: int | None, exclude_id: int | None, now: datetime) -> QuerySet:
    """Online agents with room (fewer open conversations than their capacity), in the team
    when there is one, the least recently auto-assigned first."""
    cutoff = now - timedelta(seconds=settings.HANDOFF_PRESENCE_TTL_S)
    users = _agents().filter(
        agent_presence__status=AgentPresence.Status.ONLINE,
        agent_presence__last_seen_at__gte=cutoff,
    )
    if team_id is not None:
        users = users.filter(teams=team_id)
    if exclude_id is not None:
        users = users.exclude(pk=exclude_id)
    return (
        users.annotate(
            open=_open_count(),
            room=Coalesce(F("agent_profile__capacity"), Value(settings.HANDOFF_AGENT_CAPACITY)),
        )
        .filter(open__lt=F("room"))
        .order_by(F("agent_profile__last_assigned_at").asc(nulls_first=True), "pk")
    )


def conversation_auto_assign(
    *, conversation_id: int, now: datetime | None = None
) -> AbstractBaseUser | None:
    """Gives a queued conversation to the next online agent with room (its team's, when it has
    one; never the owner whose claim on it just timed out). None when nobody has room, or it
    was claimed meanwhile. Off unless HANDOFF_AUTO_ASSIGN."""
    if not settings.HANDOFF_AUTO_ASSIGN:
        return None
    now = now or timezone.now()
    row = (
        Conversation.objects.filter(pk=conversation_id, status=Status.QUEUED)
        .values("team_id", "expired_owner_id")
        .first()
    )
    if row is None:
        return None
    candidates = _candidates(team_id=row["team_id"], exclude_id=row["expired_owner_id"], now=now)
    for user in list(candidates[:5]):
        with transaction.atomic():
            profile_for(user=user)
            profile = AgentProfile.objects.select_for_update().get(user=user)
            held = Conversation.objects.filter(status=Status.AGENT, assigned_to=user).count()
            if held >= _capacity(profile):
                continue  # filled by another process since the candidates were read
            conversation = Conversation.objects.filter(pk=conversation_id).first()
            if conversation is None or not Conversation.objects.filter(
                pk=conversation_id, status=Status.QUEUED
            ).update(
                status=Status.AGENT,
                assigned_to=user,
                claimed_at=now,
                expired_owner=None,
                updated_at=now,
            ):
                return None  # claimed or gone meanwhile
            profile.last_assigned_at = now
            profile.save(update_fields=["last_assigned_at"])
            event = AssignmentEvent.objects.create(
                conversation=conversation, kind=Kind.AUTO, to_agent=user
            )
            _announce(conversation, event, user)
            return user
    return None


def queue_auto_assign(*, now: datetime | None = None) -> list[str]:
    """One sweep round: the oldest queued conversations go to agents with room, until nobody
    has any. Picks up what capacity freed, agents coming online and expired claims."""
    if not settings.HANDOFF_AUTO_ASSIGN:
        return []
    now = now or timezone.now()
    assigned: list[str] = []
    queued = list(
        Conversation.objects.filter(status=Status.QUEUED)
        .order_by("queued_at", "id")
        .values_list("pk", "public_id")[:AUTO_ASSIGN_BATCH]
    )
    for pk, public_id in queued:
        if not _candidates(team_id=None, exclude_id=None, now=now).exists():
            break  # nobody online has room for anything
        if conversation_auto_assign(conversation_id=pk, now=now) is not None:
            assigned.append(public_id)
    return assigned


# --- hooks the handoff services call --------------------------------------------------------


def claim_expired(*, conversation_id: int, owner_id: int | None, kind: str = Kind.EXPIRED) -> None:
    """The audit line for a claim that timed out or whose owner went offline (`kind`; call in
    the transaction that returned it to the queue)."""
    event = AssignmentEvent.objects.create(
        conversation_id=conversation_id, kind=kind, from_agent_id=owner_id
    )
    event = AssignmentEvent.objects.select_related("from_agent").get(pk=event.pk)
    public_id = Conversation.objects.values_list("public_id", flat=True).get(pk=conversation_id)
    line = {"type": "assignment", "conversation": public_id, "event": event_payload(event)}
    transaction.on_commit(lambda: notify.to_viewing_agents(public_id, line))


def visitor_wrote(*, conversation_id: int, text: str) -> None:
    """Tells the owner's console (whatever it shows) that their visitor wrote, on commit."""
    row = (
        Conversation.objects.filter(pk=conversation_id, status=Status.AGENT)
        .values_list("assigned_to_id", "public_id")
        .first()
    )
    if row is None or row[0] is None:
        return
    owner_id, public_id = row
    frame = {"type": "visitor_wrote", "conversation": public_id, "preview": text[:140]}
    transaction.on_commit(lambda: notify.to_agent(owner_id, frame))
