"""The shared tokenizer and the in-process BM25 index, in English and Chinese."""

import itertools
import logging
import string

import pytest

from knowledge.documents.lexical import (
    LexicalIndex,
    Tokenizer,
    content_tokens,
    search_tokens,
    tokenize,
)

CHINESE_PUNCTUATION = set("，。？！、；：“”‘’（）《》【】…—")


def test_english_words_are_lowercased_and_stemmed_and_content_words_drop_stopwords() -> None:
    assert tokenize("How do I reset my Passwords?") == ["how", "do", "i", "reset", "my", "password"]
    assert content_tokens("How do I reset my Passwords?") == ["reset", "password"]
    assert content_tokens("Running the configured servers") == ["run", "configur", "server"]


def test_retrieval_and_content_tokens_drop_the_same_chinese_stopwords() -> None:
    assert tokenize("我想申请退款") == content_tokens("我想申请退款")


def test_english_punctuation_splits_words_and_never_becomes_a_token() -> None:
    tokens = tokenize("pg_dump, e-mail (v15.2) — done!")
    assert tokens == ["pg", "dump", "e", "mail", "v15", "2", "done"]
    assert not set(tokens) & set(string.punctuation)


def test_full_width_letters_and_digits_match_their_ascii_forms() -> None:
    assert tokenize("ＡＢＣ１２３") == tokenize("abc123") == ["abc123"]


def test_chinese_is_segmented_into_words_without_punctuation_or_function_words() -> None:
    tokens = tokenize("我想申请退款，请问退货地址是什么？")
    assert {"申请", "退款", "退货", "地址"} <= set(tokens)
    assert not set(tokens) & (CHINESE_PUNCTUATION | {"我", "想", "是", "什么", "请问"})


def test_search_mode_also_yields_the_shorter_words_of_a_long_one() -> None:
    assert {"订单", "订单号"} <= set(tokenize("订单号"))
    assert "订单" not in Tokenizer(search_mode=False, bigrams=False).tokenize("订单号")


def test_chinese_runs_also_give_character_bigrams_that_match_across_segmentations() -> None:
    assert {"优惠", "惠码"} <= set(tokenize("优惠码"))
    assert "惠码" not in Tokenizer(bigrams=False).tokenize("优惠码")
    assert "我的" not in tokenize("我的订单")  # both characters are function words


def test_mixed_text_keeps_both_languages_apart() -> None:
    tokens = tokenize("iPhone手机的保修期是多久？Warranty covers repairs.")
    assert {"iphon", "手机", "保修期", "warranti", "cover", "repair"} <= set(tokens)
    assert "iphone手机" not in tokens


def test_text_of_only_stopwords_or_punctuation_has_no_tokens() -> None:
    assert tokenize("") == tokenize("？！。，") == tokenize("我的") == []
    assert content_tokens("what is it?") == content_tokens("我的") == []


def test_search_tokens_is_the_space_joined_tokens() -> None:
    assert search_tokens("Reset passwords 重置密码") == " ".join(
        tokenize("Reset passwords 重置密码")
    )


ENGLISH = {
    1: "Reset your password from the sign-in page if you forgot it.",
    2: "Refunds are paid back to the original card within 5 business days.",
    3: "We ship to most countries; delivery takes 3 to 7 days.",
}
CHINESE = {
    11: "如果忘记密码，可以在登录页面重置密码。",
    12: "退款将在5个工作日内退回原支付卡。",
    13: "我们配送到大多数国家，送货需要3到7天。",
}


@pytest.mark.parametrize(
    ("corpus", "question", "expected"),
    [
        (ENGLISH, "I forgot my password", 1),
        (ENGLISH, "when will my refund be paid?", 2),
        (ENGLISH, "How long does delivery take?", 3),
        (CHINESE, "忘记密码了怎么办", 11),
        (CHINESE, "退款多久到账？", 12),
        (CHINESE, "送货要几天", 13),
    ],
)
def test_bm25_ranks_the_right_document_first(
    corpus: dict[int, str], question: str, expected: int
) -> None:
    index = LexicalIndex(list(corpus), list(corpus.values()))
    ranking = index.search(question, k=3)
    assert ranking[0][0] == expected
    assert all(a[1] >= b[1] > 0 for a, b in itertools.pairwise(ranking))


def test_only_chunks_sharing_a_token_are_returned_and_k_bounds_the_list() -> None:
    index = LexicalIndex(list(ENGLISH), list(ENGLISH.values()))
    assert index.search("weather forecast for Paris", k=3) == []
    assert len(index.search("password refund delivery", k=2)) == 2


def test_an_index_rebuilt_from_stored_search_tokens_ranks_as_the_original() -> None:
    ids, texts = list(CHINESE), list(CHINESE.values())
    rebuilt = LexicalIndex.from_search_tokens(ids, [search_tokens(t) for t in texts])
    assert rebuilt.search("退款到账", k=3) == LexicalIndex(ids, texts).search("退款到账", k=3)
    assert "退款" in rebuilt.tokens_of(12)


def test_empty_corpus_and_empty_query_return_nothing() -> None:
    assert LexicalIndex([], []).search("password", k=5) == []
    assert LexicalIndex([7], ["？！"]).search("password", k=5) == []
    assert LexicalIndex(list(ENGLISH), list(ENGLISH.values())).search("？", k=5) == []


def test_ids_and_texts_must_pair_up() -> None:
    with pytest.raises(ValueError, match="2 ids for 1 texts"):
        LexicalIndex([1, 2], ["one"])


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("I forgot my pasword", 1),  # a letter dropped
        ("when is my refnud paid", 2),  # two letters swapped
        ("how long does delivrey take", 3),
        ("do you shipp abroad", 3),  # a letter added
    ],
)
def test_a_misspelt_word_finds_the_indexed_word_one_edit_away(question: str, expected: int):
    index = LexicalIndex(list(ENGLISH), list(ENGLISH.values()))
    assert index.search(question, k=3)[0][0] == expected


def test_spelling_leaves_known_short_digit_and_chinese_tokens_alone() -> None:
    index = LexicalIndex(list(ENGLISH) + list(CHINESE), [*ENGLISH.values(), *CHINESE.values()])
    assert index.spelled("password") == "password"
    assert index.spelled("cadr") == "card", "four letters: corrected"
    assert index.spelled("dys") == "dys", "too short to guess"
    assert index.spelled("12345") == "12345", "an order number is exact"
    assert index.spelled("退歀") == "退歀"
    assert index.spelled("zzzzzz") == "zzzzzz", "nothing one edit away: kept as asked"


def test_of_two_words_one_edit_away_the_one_more_chunks_hold_wins() -> None:
    index = LexicalIndex([1, 2, 3], ["the card", "a card", "one cart"])
    assert index.spelled("carx") == "card"


def test_building_an_index_logs_nothing_below_warning(caplog: pytest.LogCaptureFixture) -> None:
    """bm25s sets its own logger to DEBUG on import; a handler that takes every level (as
    the settings' console handler does) must still get nothing from it at LOG_LEVEL=INFO."""
    caplog.handler.setLevel(logging.NOTSET)
    LexicalIndex([1, 2], ["how to return an item", "退货地址是什么"])
    assert [r.getMessage() for r in caplog.records if r.name.startswith("bm25s")] == []
