"""Approving answer variants in the admin: bulk approval shows every text beside the answer it
rewords before anything goes live, approves only what the fact check did not flag, and a flagged
variant can still be approved on its own page by someone who read it."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from knowledge import content_version, services
from knowledge.models import FAQ, AnswerVariant

pytestmark = pytest.mark.django_db

ANSWER = "All Acme products come with a 2-year warranty."
GOOD = "Every Acme product is covered by a 2-year warranty."
BAD = "Sewage Repair Services:"


@pytest.fixture
def drafts() -> tuple[FAQ, AnswerVariant, AnswerVariant]:
    faq = services.faq_save(question="What warranty do you offer?", answer=ANSWER)
    good = AnswerVariant.objects.create(faq=faq, text=GOOD, origin="generated")
    bad = AnswerVariant.objects.create(faq=faq, text=BAD, origin="generated")
    return faq, good, bad


def _status(variant: AnswerVariant) -> str:
    variant.refresh_from_db()
    return variant.status


def test_bulk_approve_shows_each_text_first_and_changes_nothing(admin_client, drafts) -> None:
    _, good, bad = drafts
    response = admin_client.post(
        reverse("admin:knowledge_answervariant_changelist"),
        {"action": "approve", "_selected_action": [good.pk, bad.pk]},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert GOOD in page and BAD in page and ANSWER in page
    assert "flagged" in page and "ends like a heading" in page
    assert _status(good) == _status(bad) == "draft"


def test_with_only_flagged_variants_selected_the_approve_button_is_disabled(
    admin_client, drafts
) -> None:
    """Seen in an admin walk: an enabled "Approve 0 variant(s), leave 1 flagged"."""
    _, good, bad = drafts
    page = admin_client.post(
        reverse("admin:knowledge_answervariant_changelist"),
        {"action": "approve", "_selected_action": [bad.pk]},
    ).content.decode()
    assert 'value="Approve 0 variant(s), leave 1 flagged" disabled>' in page
    both = admin_client.post(
        reverse("admin:knowledge_answervariant_changelist"),
        {"action": "approve", "_selected_action": [good.pk, bad.pk]},
    ).content.decode()
    assert 'value="Approve 1 variant(s), leave 1 flagged">' in both


def test_confirming_approves_only_the_unflagged(
    admin_client, drafts, django_capture_on_commit_callbacks
) -> None:
    _, good, bad = drafts
    before = content_version.knowledge_version()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:knowledge_answervariant_changelist"),
            {"action": "approve", "_selected_action": [good.pk, bad.pk], "confirm_approval": "yes"},
            follow=True,
        )
    assert "1 variant(s) approved" in response.content.decode()
    assert "1 flagged variant(s) left as they were" in response.content.decode()
    assert (_status(good), _status(bad)) == ("approved", "draft")
    assert content_version.knowledge_version() != before
    # The admin's history (LogEntry) says who approved which, as for a one-by-one change.
    [entry] = LogEntry.objects.filter(object_id=str(good.pk))
    assert entry.user.username == "admin" and "Approved" in entry.get_change_message()
    assert not LogEntry.objects.filter(object_id=str(bad.pk)).exists()


def test_faq_bulk_action_reviews_drafts_the_same_way(admin_client, drafts) -> None:
    faq, good, bad = drafts
    url = reverse("admin:knowledge_faq_changelist")
    review = admin_client.post(
        url, {"action": "approve_draft_variants", "_selected_action": [faq.pk]}
    )
    assert GOOD in review.content.decode() and BAD in review.content.decode()
    admin_client.post(
        url,
        {
            "action": "approve_draft_variants",
            "_selected_action": [faq.pk],
            "confirm_approval": "yes",
        },
    )
    assert (_status(good), _status(bad)) == ("approved", "draft")


def test_a_flagged_variant_is_approved_on_its_own_page(admin_client, drafts) -> None:
    faq, _, bad = drafts
    page = admin_client.get(reverse("admin:knowledge_answervariant_change", args=[bad.pk]))
    assert ANSWER in page.content.decode() and "flagged" in page.content.decode()
    response = admin_client.post(
        reverse("admin:knowledge_answervariant_change", args=[bad.pk]),
        {
            "faq": faq.pk,
            "text": BAD,
            "status": "approved",
            "origin": "generated",
            "created_by": "",
            "served_count": 0,
        },
    )
    assert response.status_code == 302
    assert _status(bad) == "approved"


def test_a_view_only_editor_cannot_approve(client, drafts) -> None:
    _, good, _ = drafts
    viewer = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_answervariant"))
    client.force_login(viewer)
    response = client.post(
        reverse("admin:knowledge_answervariant_changelist"),
        {"action": "approve", "_selected_action": [good.pk], "confirm_approval": "yes"},
    )
    assert response.status_code in (200, 302, 403)
    assert _status(good) == "draft"
