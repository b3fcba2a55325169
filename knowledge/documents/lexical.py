"""Lexical search over chunks in English and Chinese: one tokenizer for every side (the in-process
BM25 index of either database, the relevance floor's token coverage), so a word
matches the same way wherever it is looked up. Its choices, with the figures: docs/retrieval.md,
"Tokenizer"."""

from __future__ import annotations

import hashlib
import logging
import re
import string
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import version

import bm25s
import jieba
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from knowledge.chinese import simplified
from knowledge.process_copy import PausingList, pausing

jieba.setLogLevel(logging.WARNING)  # it logs its dictionary load at INFO, once per process
# bm25s sets its logger to DEBUG when imported, which overrides LOG_LEVEL: every index build
# logged "Building index from IDs" at DEBUG.
logging.getLogger("bm25s").setLevel(logging.WARNING)

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"(?P<cjk>[{CJK}]+)|(?P<word>[^\W_{CJK}]+)")

# NLTK's English list (as shipped by bm25s): it drops the question words ("how", "what", "my")
# that carry nothing for retrieval and would dilute the floor's token coverage.
ENGLISH_STOPWORDS = frozenset(STOPWORDS_EN_PLUS)
# The commonest Chinese particles, pronouns and question words. Deliberately short: longer lists
# (bm25s' 841 words) drop words a help centre is about, such as 安全, 使用, 帮助, 问题.
_CHINESE_STOPWORDS = (
    "的 了 吗 呢 吧 啊 呀 嘛 么 着 过 地 得 是 我 我们 你 你们 您 他 她 它 他们 她们 它们 这 那 "
    "这个 那个 这些 那些 这里 那里 这样 那样 在 和 与 及 或 或者 也 都 就 还 又 把 被 对 给 跟 从 "
    "一个 一下 个 到 将 有 有没有 是不是 能 能否 可以 可 会 要 想 请 请问 "
    "怎么 怎么样 怎样 如何 什么 哪 哪个 哪些 哪里 为什么 为何 多少 几 啦 哦 嗯 谢谢"
)
CHINESE_STOPWORDS = frozenset(_CHINESE_STOPWORDS.split())
# The English stop words as the tokenizer emits them (stemmed: "does" -> "doe"), to set them aside
# where a share of a question's words is counted (knowledge.documents.ranking.token_coverage).
STOPWORD_TOKENS = frozenset(Stemmer.Stemmer("english").stemWords(sorted(ENGLISH_STOPWORDS)))
# A query word no chunk holds is read as a misspelling of an indexed word one edit away when it
# has at least this many letters (shorter ones have too many neighbours: "bag" -> "bar").
SPELLING_MIN_LETTERS = 4
_LATIN_WORD = re.compile(r"[a-z]+")


def _jieba_ready() -> None:
    """Loads jieba's dictionary once per process (0.5-0.9 s from its cache file, measured in
    docs/retrieval.md): done when an index is built, so that no visitor waits for it."""
    jieba.initialize()


@dataclass(frozen=True)
class Tokenizer:
    """Text to search tokens. The defaults are the measured choice (docs/retrieval.md); the
    options exist so that the benchmark can compare the alternatives."""

    search_mode: bool = True  # jieba's cut_for_search (else plain cut)
    bigrams: bool = True  # a Chinese run's character bigrams beside its words
    # Retrieval keeps English stop words (BM25 weighs them down by their frequency, and hybrid
    # recall and MRR rose on both English corpora) and drops the Chinese ones.
    english_stopwords: bool = False
    chinese_stopwords: bool = True
    _stemmer: Stemmer.Stemmer = field(
        default_factory=lambda: Stemmer.Stemmer("english"), compare=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @cached_property
    def version(self) -> str:
        """Names what makes this tokenizer's output: its options, the token pattern, the stop
        lists, and the jieba (dictionary) and PyStemmer releases. Stored beside each chunk's
        tokens: chunks of another version are indexed again (documents_pending_reindex)."""
        rules = "\n".join(
            [
                f"{self.search_mode} {self.bigrams} {self.english_stopwords}",
                f"{self.chinese_stopwords}",
                TOKEN.pattern,
                " ".join(sorted(ENGLISH_STOPWORDS)),
                " ".join(sorted(CHINESE_STOPWORDS)),
            ]
        )
        digest = hashlib.sha256(rules.encode()).hexdigest()[:12]
        return (
            f"{digest} jieba-{version('jieba')} pystemmer-{version('PyStemmer')} "
            f"opencc-{version('opencc')}"
        )

    def tokenize(self, text: str) -> list[str]:
        tokens: list[str] = []
        for match in TOKEN.finditer(unicodedata.normalize("NFKC", text).lower()):
            if match.lastgroup == "cjk":
                run = simplified(match.group())
                words = jieba.lcut_for_search(run) if self.search_mode else jieba.lcut(run)
                if self.bigrams:
                    words += (
                        run[i : i + 2]
                        for i in range(len(run) - 1)
                        if not {run[i], run[i + 1]} <= CHINESE_STOPWORDS  # 我的, 了吗
                    )
                tokens += (
                    w for w in words if not (self.chinese_stopwords and w in CHINESE_STOPWORDS)
                )
            else:
                word = match.group()
                if not (self.english_stopwords and word in ENGLISH_STOPWORDS):
                    with self._lock:  # a Stemmer object is not thread-safe
                        tokens.append(self._stemmer.stemWord(word))
        return tokens


DEFAULT_TOKENIZER = Tokenizer()
# What a text says, for comparing two texts word by word (grounding's support check, the
# console's message search): stop words of both languages dropped, so "how do I" matches nothing.
CONTENT_TOKENIZER = Tokenizer(english_stopwords=True)


def tokenize(text: str) -> list[str]:
    """Search tokens of `text`: lowercase stems of Latin/digit words, jieba words and character
    bigrams of Chinese runs, without Chinese stop words or punctuation."""
    return DEFAULT_TOKENIZER.tokenize(text)


def content_tokens(text: str) -> list[str]:
    """`tokenize` without the English stop words either (CONTENT_TOKENIZER)."""
    return CONTENT_TOKENIZER.tokenize(text)


def search_tokens(text: str) -> str:
    """The tokens space-joined: stored beside a chunk (PostgreSQL indexes it with
    `to_tsvector('simple', ...)`, which then needs no language support, Chinese included, and
    the in-process index rebuilds from it without segmenting again)."""
    return " ".join(tokenize(text))


class LexicalIndex:
    """BM25 (bm25s, Lucene's variant, k1=1.5, b=0.75) over chunks, held in process memory and
    rebuilt from the database; search cost grows with the postings of the query's tokens."""

    def __init__(
        self, ids: Sequence[int], texts: Sequence[str], tokenizer: Tokenizer = DEFAULT_TOKENIZER
    ) -> None:
        _jieba_ready()
        self._build(ids, [" ".join(tokenizer.tokenize(text)) for text in texts], tokenizer)

    @classmethod
    def from_search_tokens(
        cls, ids: Sequence[int], stored: Sequence[str], tokenizer: Tokenizer = DEFAULT_TOKENIZER
    ) -> LexicalIndex:
        """From the stored `search_tokens(text)` of each chunk (no segmentation at start-up)."""
        _jieba_ready()  # queries are still segmented
        index = cls.__new__(cls)
        index._build(ids, stored, tokenizer)
        return index

    def _build(self, ids: Sequence[int], stored: Sequence[str], tokenizer: Tokenizer) -> None:
        """Keeps one string per chunk, not its words: a copy is rebuilt while other threads
        serve (knowledge.process_copy), and the interpreter lock is held while the garbage
        collector walks, or a release frees, every object a copy holds (docs/retrieval.md,
        "Content changes")."""
        if len(ids) != len(stored):
            raise ValueError(f"{len(ids)} ids for {len(stored)} texts")
        self.tokenizer = tokenizer
        self._ids = np.asarray(ids, dtype=np.int64)
        self._tokens = dict(zip(self._ids.tolist(), stored, strict=True))
        vocabulary: dict[str, int] = {}
        self._chunks_holding: Counter[str] = Counter()
        token_ids: PausingList[list[int]] = PausingList()
        for text in pausing(stored):
            words = text.split()
            self._chunks_holding.update(set(words))
            token_ids.append([vocabulary.setdefault(word, len(vocabulary)) for word in words])
        self._bm25: bm25s.BM25 | None = None
        if vocabulary:
            self._bm25 = bm25s.BM25()
            self._bm25.index((token_ids, vocabulary), show_progress=False)
        _release_piecewise(token_ids)

    def __len__(self) -> int:
        return len(self._ids)

    def tokens_of(self, chunk_id: int) -> frozenset[str]:
        return frozenset(self._tokens.get(chunk_id, "").split())

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The `k` best chunks by BM25 score, best first; only chunks sharing a token with the
        query (an unrelated question gets an empty list, not the corpus's first rows)."""
        return self.search_tokens(self.tokenizer.tokenize(query), k)

    def spelled(self, token: str) -> str:
        """`token`, or the indexed word one edit away that most chunks hold (`spelled`)."""
        return spelled(token, self._chunks_holding)

    def search_tokens(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """As `search`, for a query tokenized already (the caller needs its tokens too)."""
        if self._bm25 is None or k <= 0:
            return []
        spelled = (self.spelled(token) for token in query_tokens)
        token_ids = self._bm25.get_tokens_ids(list(dict.fromkeys(spelled)))
        if not token_ids:
            return []
        scores = self._bm25.get_scores_from_ids(token_ids)
        matched = np.flatnonzero(scores > 0)
        if len(matched) > k:
            matched = matched[np.argpartition(-scores[matched], k - 1)[:k]]
        order = matched[np.lexsort((matched, -scores[matched]))]
        return [(int(self._ids[i]), float(scores[i])) for i in order]


def _release_piecewise(lists: list[list[int]]) -> None:
    """Frees a list of lists one inner list at a time: freed at once, a million token ids are
    one deallocation during which no other thread runs."""
    for _ in pausing(range(len(lists))):
        lists.pop()


def spelled(token: str, chunks_holding: Mapping[str, int]) -> str:
    """`token`, or, when no chunk holds it, the indexed word one edit away (a letter dropped,
    added or changed, or two neighbours swapped) that most chunks hold: visitors misspell
    ("repiars", "recieve"). Latin words only, never digits (an order number is exact)."""
    if (
        token in chunks_holding
        or len(token) < SPELLING_MIN_LETTERS
        or not _LATIN_WORD.fullmatch(token)
    ):
        return token
    known = [w for w in set(_one_edit_away(token)) if w in chunks_holding]
    return max(known, key=lambda w: (chunks_holding[w], w)) if known else token


def _one_edit_away(word: str) -> Iterator[str]:
    """Every string one letter dropped, swapped with its neighbour, changed or added away."""
    for i in range(len(word) + 1):
        head, tail = word[:i], word[i:]
        if tail:
            yield head + tail[1:]
            if len(tail) > 1:
                yield head + tail[1] + tail[0] + tail[2:]
        for letter in string.ascii_lowercase:
            if tail:
                yield head + letter + tail[1:]
            yield head + letter + tail
