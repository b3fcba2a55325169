"""Editing or deleting FAQ content in the admin moves the knowledge version: indexes reload and
a deleted FAQ or an edited variant is never served from an old copy."""

import pytest
from django.db.models import F
from django.urls import reverse

from knowledge import content_version, services
from knowledge.models import FAQ, AnswerVariant
from knowledge.selectors import faq_find
from statestore.models import SharedCounter

pytestmark = pytest.mark.django_db


@pytest.fixture
def faq() -> FAQ:
    faq = services.faq_save(question="Do you ship to Norway?", answer="Yes, in 4-6 days.")
    services.embeddings_compute(paraphrase_ids=list(faq.paraphrases.values_list("pk", flat=True)))
    return faq


def test_deleting_an_faq_in_the_admin_stops_it_being_found(
    admin_client, faq, django_capture_on_commit_callbacks
):
    assert faq_find(text="Do you ship to Norway?", locale="en").answered
    before = content_version.knowledge_version()
    with django_capture_on_commit_callbacks(execute=True):  # the admin's transaction commits
        response = admin_client.post(
            reverse("admin:knowledge_faq_changelist"),
            {"action": "delete_selected", "_selected_action": [faq.pk], "post": "yes"},
        )
    assert response.status_code == 302 and not FAQ.objects.exists()
    assert content_version.knowledge_version() != before
    found = faq_find(text="Do you ship to Norway?", locale="en")
    assert not found.answered and found.result.best_faq_id is None


def test_editing_a_variant_in_the_admin_moves_the_version(
    admin_client, faq, django_capture_on_commit_callbacks
):
    variant = AnswerVariant.objects.get(faq=faq)
    before = content_version.knowledge_version()
    with django_capture_on_commit_callbacks(execute=True):  # the admin's transaction commits
        response = admin_client.post(
            reverse("admin:knowledge_answervariant_change", args=[variant.pk]),
            {
                "faq": faq.pk,
                "text": "Yes: 4-6 working days.",
                "status": "approved",
                "origin": variant.origin,
                "created_by": "",
                "served_count": 0,
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert content_version.knowledge_version() != before
    assert faq_find(text="Do you ship to Norway?", locale="en").text == "Yes: 4-6 working days."


def test_the_version_is_read_once_per_recheck_interval_and_a_bump_here_at_once(settings):
    """Another process's bump shows after FAQ_INDEX_RECHECK_S (no read of the store per lookup
    in between); this process's own bump shows at once."""
    settings.FAQ_INDEX_RECHECK_S = 60
    seen = content_version.knowledge_version()
    another_process_bumps(5)
    assert content_version.knowledge_version() == seen
    content_version.knowledge_version_bump()
    assert content_version.knowledge_version() == seen + 6
    another_process_bumps(3)
    settings.FAQ_INDEX_RECHECK_S = 0
    assert content_version.knowledge_version() == seen + 9


def another_process_bumps(n: int) -> None:
    """The embedded default's store (no Redis): a row of the database every process reads."""
    SharedCounter.objects.filter(name=content_version.KNOWLEDGE_VERSION_KEY).update(
        value=F("value") + n
    )


def test_a_change_made_in_this_process_is_looked_at_before_the_next_answer(faq, settings):
    """The event loop's FAQ search skips the version check for FAQ_INDEX_RECHECK_S; a change
    this process made (a disabled FAQ) answered six more questions in that window (a content
    walk). Now a bump here makes every copy look again first."""
    from knowledge.embeddings import embed_one
    from knowledge.index import get_index

    settings.FAQ_INDEX_RECHECK_S = 60
    index = get_index()
    vector = embed_one("Do you ship to Norway?", "en")
    index.refresh()
    fresh = {"locale": "en", "k": 3, "max_age_s": 60, "max_rows": 10_000}
    assert index.search_fresh(vector, **fresh), "served from the copy, without a look"
    content_version.knowledge_version_bump()
    assert index.search_fresh(vector, **fresh) is None, "looks at the version first"
