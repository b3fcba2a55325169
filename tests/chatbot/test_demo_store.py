"""The demo store's page speaks the language it is opened in: `/?locale=zh-hans` (the README's
Chinese store) was English words under a Chinese widget, read by a screen reader in a Chinese
voice (a zh walk)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db  # the widget's tag carries the saved Widget appearance


def test_the_chinese_store_is_written_in_chinese():
    page = Client().get("/", {"locale": "zh-hans"}).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "秋季徒步系列" in page and page.count("加入购物车") == 4
    assert "Add to cart" not in page and "Autumn trail collection" not in page
    assert 'data-locale="zh-hans"' in page


def test_the_store_is_english_by_default_whatever_the_browser_asks():
    page = Client().get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<html lang="en">' in page and "Autumn trail collection" in page
    assert "data-locale" not in page, "the widget follows the visitor's browser"
