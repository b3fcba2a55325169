"""An import's stored English errors read in the admin user's language: file errors by their
code, crawl errors by their message, with the specifics (sizes, hosts, statuses) kept."""

import pytest
from django.utils import translation

from knowledge.documents.error_text import import_error_text

CASES = [
    (
        {
            "code": "too_large",
            "message": "The file is 25.0 MB; files up to 20.0 MB can be imported.",
        },
        "文件大小为 25.0 MB；可导入的文件最大为 20.0 MB。",
    ),
    (
        {
            "code": "skipped",
            "message": "127.0.0.1 is on a private network (127.0.0.1): not crawled",
        },
        "127.0.0.1 位于内网（127.0.0.1），未抓取。",
    ),
    (
        {
            "code": "skipped",
            "message": "127.0.0.1 is on a private network: not crawled (set "
            "KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1 to crawl an intranet site)",
        },
        "127.0.0.1 位于内网，未抓取（如需抓取内网网站，请设置 "
        "KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1）。",
    ),
    (
        {
            "code": "skipped",
            "message": "help.intra is on a private network (10.0.0.7): not crawled (set "
            "KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1 to crawl an intranet site)",
        },
        "help.intra 位于内网（10.0.0.7），未抓取（如需抓取内网网站，请设置 "
        "KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1）。",
    ),
    (
        {
            "code": "skipped",
            "message": "robots.txt could not be read (network error: [Errno -2] "
            "Name or service not known)",
        },
        "无法读取该网站的 robots.txt（network error: [Errno -2] Name or service not known），"
        "未抓取任何页面。",
    ),
    (
        {"code": "skipped", "message": "disallowed by robots.txt"},
        "该网站的 robots.txt 不允许抓取此页面。",
    ),
    (
        {
            "code": "gone",
            "message": "HTTP 404 Not Found: its document is kept; delete it if the "
            "page was retired.",
        },
        "网站返回 HTTP 404。文档已保留；如果该页面已下线，请将其删除。",
    ),
    ({"code": "fetch", "message": "timed out after 20 s"}, "20 秒内没有应答。"),
    (
        {"code": "binary", "message": "The file holds binary data, not text."},
        "文件是二进制数据，不是文本。",
    ),
    ({"code": "failed", "message": "an unknown problem"}, "an unknown problem"),
]


@pytest.mark.parametrize(("error", "chinese"), CASES)
def test_each_known_error_reads_in_chinese_with_its_specifics(error, chinese):
    with translation.override("zh-hans"):
        assert import_error_text(error) == chinese
    with translation.override("en"):
        assert import_error_text(error) == error["message"]
