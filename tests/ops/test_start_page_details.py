"""What a new user sees first: the lines `make run` ends with, and no 404 for the favicon."""

from chatbot.management.commands import serve
from chatbot.management.commands.load_demo import admin_password_file


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
    assert "secret-pw" not in banner


def test_the_favicon_is_served(client) -> None:
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][0].endswith("/static/favicon.svg")
