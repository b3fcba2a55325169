"""What a new user sees first: the lines `make run` ends with, and no 404 for the favicon."""

import pytest
from django.contrib.auth import get_user_model

from chatbot.handoff.selectors import is_agent
from chatbot.management.commands import serve
from chatbot.management.commands.load_demo import (
    RETIRED_DEMO_FAQS,
    RETIRED_DEMO_PHRASINGS,
    admin_password_file,
)
from chatbot.management.commands.load_demo import Command as LoadDemo
from knowledge.models import FAQ, Paraphrase


def test_the_ready_banner_names_every_page_and_the_login(tmp_path, settings) -> None:
    settings.BASE_DIR = tmp_path
    banner = serve._ready_banner("http://127.0.0.1:8000/")
    assert "http://127.0.0.1:8000/?locale=zh-hans" in banner
    assert "http://127.0.0.1:8000/console/" in banner
    assert "login: your superuser" in banner  # no demo password file here
    admin_password_file().parent.mkdir(parents=True)
    admin_password_file().write_text("secret-pw\n")
    banner = serve._ready_banner("http://127.0.0.1:8000/")
    assert f"login: admin, password in {tmp_path}/var/admin-password.txt" in banner
    assert "console/   (the same login)" in banner
    assert "secret-pw" not in banner


@pytest.mark.django_db
def test_the_demo_admin_opens_the_console_too(tmp_path, settings) -> None:
    """The banner's console link once answered the demo login with "this account is not an
    agent"."""
    settings.BASE_DIR = tmp_path
    password_file = LoadDemo().demo_admin()
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password(password_file.read_text().strip())
    assert is_agent(admin)


@pytest.mark.django_db
def test_an_admin_someone_else_made_is_not_made_an_agent(tmp_path, settings) -> None:
    settings.BASE_DIR = tmp_path
    get_user_model().objects.create_superuser("admin", "owner@shop.example", "their-password")
    assert not LoadDemo().demo_admin().exists()
    assert not is_agent(get_user_model().objects.get(username="admin"))


def test_the_favicon_is_served(client) -> None:
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][0].endswith("/static/favicon.svg")


@pytest.mark.django_db
def test_a_retired_demo_faq_leaves_a_demo_database_unless_an_admin_edited_it() -> None:
    """The bundled store-hours-and-contact FAQ, still as loaded, would compete with the two FAQs
    that replace it (their margin over it is nothing); an edited one is the admin's."""
    (locale, question, answer), (zh_locale, zh_question, _) = RETIRED_DEMO_FAQS
    FAQ.objects.create(locale=locale, question=question, answer=answer)
    edited = FAQ.objects.create(locale=zh_locale, question=zh_question, answer="我们自己的答案")
    assert LoadDemo().retire_demo_faqs() == 1
    assert list(FAQ.objects.all()) == [edited]
    assert LoadDemo().retire_demo_faqs() == 0


@pytest.mark.django_db
def test_retired_demo_phrasings_leave_the_faqs_they_contradict() -> None:
    """Stored under the change-or-cancel FAQ, "add another item to an order" got an answer that
    says nothing of adding items (the help centre: it cannot be done); re-running load_demo on
    an existing demo database removes such phrasings and keeps the FAQ's other ones."""
    locale, question, text = RETIRED_DEMO_PHRASINGS[0]
    faq = FAQ.objects.create(locale=locale, question=question, answer="Within 1 hour.")
    Paraphrase.objects.create(faq=faq, text=text, approved=True)
    kept = Paraphrase.objects.create(faq=faq, text="cancel order", approved=True)
    other = FAQ.objects.create(locale=locale, question="Something else?", answer="Yes.")
    theirs = Paraphrase.objects.create(faq=other, text=text, approved=True)
    assert LoadDemo().retire_demo_phrasings() == 1
    assert set(Paraphrase.objects.all()) == {kept, theirs}
    assert LoadDemo().retire_demo_phrasings() == 0
