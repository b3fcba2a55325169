"""What each source of phrasings adds to FAQ matching, at the model's shipped operating point
(knowledge/operating_points.py, nothing retuned): (a) the human phrasings of each FAQ; (b) plus
phrasings from handoffs, simulated with real visitor questions of the val split attached to
their true FAQ, as an agent answering them with it would; (c) plus negative examples: val
questions the matcher of (b) answered with a wrong FAQ, attached to that FAQ as confirmed
negatives (knowledge/negatives.py's rule, FAQ_NEGATIVE_MIN_SIMILARITY 0.9); (d) plus paraphrases
SmolLM2-135M writes with the admin's prompt (knowledge/generation.py), when `--generated`.
Reported on test only: no test question is ever a phrasing or a negative.

Stores: CLINC150 (10 stores of 75 intents x 5 train phrasings, as bench/faq_matching.py; queries:
test + oos_test) and the English and zh-hans shop stores (bench/data/*_faq_eval.json, 45 FAQs x
7 phrasings; queries: test, with near-miss and out-of-scope ones that must get no answer).

    python -m bench.phrasing_sources [--out var/bench/phrasing_sources.json] [--generated]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
django.setup()

import numpy as np  # noqa: E402

from bench import faq_matching  # noqa: E402
from bench.verdicts import Verdict, dump  # noqa: E402
from knowledge.embeddings import get_embedder  # noqa: E402
from knowledge.greetings import strip_greetings  # noqa: E402
from knowledge.matching import DEFAULT_K, MatchPolicy, batch_top_k, candidate_features  # noqa: E402
from knowledge.negatives import DEFAULT_MIN_SIMILARITY, NegativeVectors, declines  # noqa: E402
from knowledge.operating_points import operating_point  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHOP_SETS = {
    "en": ROOT / "bench/data/en_faq_eval.json",
    "zh-hans": ROOT / "bench/data/zh_faq_eval.json",
}
CLINC_SEEDS = tuple(range(10))
CLINC_INTENTS = 75
CLINC_HANDOFFS_PER_FAQ = 5  # of the 20 val questions per intent
GENERATED_PER_FAQ = 5
HANDOFF_SWEEP = (0, 2, 5, 10, 15)
NEGATIVE_SWEEP = (0.8, 0.85, 0.9, 0.95)
MAX_WRONG = 0.01
SOURCES = ("human", "handoff", "negatives", "generated")
LABELS = {
    "human": "(a) human phrasings",
    "handoff": "(b) + handoff phrasings",
    "negatives": "(c) + negatives",
    "generated": "(d) + generated paraphrases",
}


@dataclass
class Store:
    """Phrasings (unit vectors with their FAQ index) and confirmed negatives of one store."""

    vectors: np.ndarray
    faq_ids: np.ndarray
    negatives: NegativeVectors

    def with_phrasings(self, vectors: np.ndarray, faq_ids: np.ndarray) -> Store:
        if len(faq_ids) == 0:
            return self
        return Store(
            np.vstack([self.vectors, vectors]),
            np.concatenate([self.faq_ids, faq_ids]),
            self.negatives,
        )


@dataclass(frozen=True)
class Queries:
    vectors: np.ndarray
    truth: np.ndarray  # FAQ index, -1 for questions that must get no answer


def answer(
    store: Store, queries: Queries, policy: MatchPolicy, min_similarity: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(answered, FAQ answered with, declined by a negative) per query, as the FAQ stage
    decides: the policy on the top-K phrasings, then the negatives' veto."""
    ids, scores = batch_top_k(store.vectors, store.faq_ids, queries.vectors, DEFAULT_K)
    features = candidate_features(ids, scores)
    accepted = policy.accept(features)
    nearest_negative = store.negatives.nearest_batch(features.best_faq, queries.vectors)
    vetoed = accepted & declines(features.best, nearest_negative, min_similarity)
    return accepted & ~vetoed, features.best_faq, vetoed


def mined_negatives(
    store: Store, queries: Queries, policy: MatchPolicy, min_similarity: float
) -> NegativeVectors:
    """The questions `store` answers with a wrong FAQ, as negatives of that FAQ: what visitors'
    thumbs-down, confirmed by an editor, would add."""
    answered, faq, _ = answer(store, queries, policy, min_similarity)
    wrong = answered & (faq != queries.truth)
    return NegativeVectors(
        vectors=queries.vectors[wrong],
        faq_ids=faq[wrong].astype(np.int64),
        ids=np.flatnonzero(wrong).astype(np.int64),
    )


@dataclass
class Tally:
    right: int = 0
    wrong: int = 0
    in_store: int = 0
    vetoed_right: int = 0  # questions a negative kept from their right answer
    vetoed_wrong: int = 0  # wrong answers a negative prevented
    phrasings: int = 0
    negatives: int = 0
    faqs: int = 0

    def add(
        self,
        store: Store,
        queries: Queries,
        policy: MatchPolicy,
        min_similarity: float,
    ) -> None:
        answered, faq, vetoed = answer(store, queries, policy, min_similarity)
        right = answered & (queries.truth >= 0) & (faq == queries.truth)
        would_be_right = vetoed & (queries.truth >= 0) & (faq == queries.truth)
        self.right += int(right.sum())
        self.wrong += int((answered & ~right).sum())
        self.in_store += int((queries.truth >= 0).sum())
        self.vetoed_right += int(would_be_right.sum())
        self.vetoed_wrong += int((vetoed & ~would_be_right).sum())
        self.phrasings += len(store.faq_ids)
        self.negatives += len(store.negatives.ids)
        self.faqs += len(np.unique(store.faq_ids))

    def report(self) -> dict[str, Any]:
        answered = self.right + self.wrong
        return {
            "coverage": round(self.right / max(self.in_store, 1), 4),
            "wrong_per_answered": round(self.wrong / max(answered, 1), 4),
            "right": self.right,
            "wrong": self.wrong,
            "answered": answered,
            "in_store": self.in_store,
            "phrasings_per_faq": round(self.phrasings / max(self.faqs, 1), 2),
            "negatives": self.negatives,
            "vetoed_right": self.vetoed_right,
            "vetoed_wrong": self.vetoed_wrong,
        }


def evaluate_sources(
    stores: list[tuple[Store, np.ndarray, np.ndarray, Queries, Queries, Store | None]],
    policy: MatchPolicy,
    min_similarity: float,
) -> dict[str, dict[str, Any]]:
    """Per source, the pooled test figures over `stores`: each entry is (human store, handoff
    vectors, their FAQ ids, the val questions negatives are mined from, the test questions,
    the generated phrasings as a store or None)."""
    tallies = {source: Tally() for source in SOURCES}
    for human, handoff_vectors, handoff_faqs, mining, test, generated in stores:
        tallies["human"].add(human, test, policy, min_similarity)
        with_handoffs = human.with_phrasings(handoff_vectors, handoff_faqs)
        tallies["handoff"].add(with_handoffs, test, policy, min_similarity)
        negatives = mined_negatives(with_handoffs, mining, policy, min_similarity)
        with_negatives = Store(with_handoffs.vectors, with_handoffs.faq_ids, negatives)
        tallies["negatives"].add(with_negatives, test, policy, min_similarity)
        if generated is not None:
            with_generated = with_negatives.with_phrasings(generated.vectors, generated.faq_ids)
            tallies["generated"].add(with_generated, test, policy, min_similarity)
    return {s: t.report() for s, t in tallies.items() if t.in_store}


# --- model-generated paraphrases ------------------------------------------------------------


class Generator:
    """SmolLM2-135M in this process (llama-cpp-python, the GGUF the app's local model serves),
    prompted as the admin's "generate variants" action prompts the model tier."""

    def __init__(self) -> None:
        from llama_cpp import Llama

        from chatbot.ops.localmodel import gguf_path

        self.llm = Llama(
            model_path=str(gguf_path()), n_ctx=1024, n_threads=os.cpu_count(), verbose=False
        )
        self.seconds = 0.0
        self.calls = 0

    def paraphrases(self, question: str, count: int = GENERATED_PER_FAQ) -> list[str]:
        from types import SimpleNamespace

        from knowledge.generation import _paraphrase_prompt, parse_lines

        started = time.perf_counter()
        prompt = _paraphrase_prompt(SimpleNamespace(question=question), count)
        response = self.llm.create_chat_completion(
            messages=[{"role": "user", "content": prompt}],
            max_tokens=160,
            temperature=0.7,
            seed=len(question),
        )
        self.seconds += time.perf_counter() - started
        self.calls += 1
        text = response["choices"][0]["message"]["content"] or ""
        return parse_lines(text, exclude={question}, limit=count)


def generated_store(
    questions: dict[int, str], embed: Any, generator: Generator, dimension: int
) -> Store:
    texts, faq_ids = [], []
    for faq, question in questions.items():
        for text in generator.paraphrases(question):
            texts.append(text)
            faq_ids.append(faq)
    vectors = embed(texts) if texts else np.zeros((0, dimension), dtype=np.float32)
    return Store(vectors, np.array(faq_ids, dtype=np.int64), NegativeVectors.empty(dimension))


# --- CLINC150 -------------------------------------------------------------------------------


def clinc(cache: Path | None, generator: Generator | None, generated_stores: int) -> dict[str, Any]:
    rows, vectors = faq_matching.load(cache)
    policy = faq_matching.shipped_policy()
    generated: dict[str, np.ndarray] = {}
    if generator is not None:
        # The first stores' intents only: SmolLM2 takes seconds per prompt on a laptop's cores.
        intents = sorted({intent for _, intent in rows["store"]})
        wanted = sorted(
            {i for s in CLINC_SEEDS[:generated_stores] for i in _store_intents(intents, s)}
        )
        first_phrasing: dict[str, str] = {}
        for text, intent in rows["store"]:
            first_phrasing.setdefault(intent, text)
        for intent in wanted:
            texts = generator.paraphrases(first_phrasing[intent])
            generated[intent] = (
                faq_matching.embed_all(texts, None)
                if texts
                else np.zeros((0, vectors["store"].shape[1]), dtype=np.float32)
            )
    report: dict[str, Any] = {
        "policy": f"{policy.threshold:g} / {policy.min_margin:g}",
        "stores": f"{len(CLINC_SEEDS)} stores of {CLINC_INTENTS} intents",
        "sources": evaluate_sources(
            _clinc_entries(rows, vectors, CLINC_HANDOFFS_PER_FAQ), policy, DEFAULT_MIN_SIMILARITY
        ),
    }
    # How the figures move with the number of handoffs per FAQ and the negatives' similarity.
    report["handoff_sweep"] = {
        str(n): evaluate_sources(_clinc_entries(rows, vectors, n), policy, DEFAULT_MIN_SIMILARITY)
        for n in HANDOFF_SWEEP
    }
    report["negative_sweep"] = {
        str(m): evaluate_sources(_clinc_entries(rows, vectors, CLINC_HANDOFFS_PER_FAQ), policy, m)
        for m in NEGATIVE_SWEEP
    }
    if generated:
        entries = _clinc_entries(
            rows, vectors, CLINC_HANDOFFS_PER_FAQ, generated, CLINC_SEEDS[:generated_stores]
        )
        report["generated_subset"] = {
            "stores": f"{len(entries)} store(s) of {CLINC_INTENTS} intents",
            "sources": evaluate_sources(entries, policy, DEFAULT_MIN_SIMILARITY),
        }
    return report


def _clinc_entries(
    rows,
    vectors,
    handoffs_per_faq: int,
    generated: dict[str, np.ndarray] | None = None,
    seeds: tuple[int, ...] = CLINC_SEEDS,
) -> list[tuple]:
    """One `evaluate_sources` entry per store: handoff phrasings are the first
    `handoffs_per_faq` val questions of each intent; all of val (and oos_val) mines negatives."""
    intents = sorted({intent for _, intent in rows["store"]})
    val_labels = [intent for _, intent in rows["val"]]
    seen: dict[str, int] = {}
    handoff_rows = []
    for i, intent in enumerate(val_labels):
        seen[intent] = seen.get(intent, 0) + 1
        if seen[intent] <= handoffs_per_faq:
            handoff_rows.append(i)
    dimension = vectors["store"].shape[1]
    entries = []
    for seed in seeds:
        chosen = _store_intents(intents, seed)
        index = {intent: i for i, intent in enumerate(chosen)}
        keep = np.array([intent in index for _, intent in rows["store"]])
        human = Store(
            vectors["store"][keep],
            np.array([index[intent] for _, intent in rows["store"] if intent in index]),
            NegativeVectors.empty(dimension),
        )
        handoff_keep = [i for i in handoff_rows if val_labels[i] in index]
        handoff_faqs = np.array([index[val_labels[i]] for i in handoff_keep], dtype=np.int64)
        model_written = None
        if generated is not None:
            model_written = Store(
                np.vstack([generated[i] for i in chosen]),
                np.concatenate([np.full(len(generated[i]), index[i]) for i in chosen]).astype(
                    np.int64
                ),
                NegativeVectors.empty(dimension),
            )
        entries.append(
            (
                human,
                vectors["val"][handoff_keep].reshape(-1, dimension),
                handoff_faqs,
                _clinc_queries(rows, vectors, "val", index),
                _clinc_queries(rows, vectors, "test", index),
                model_written,
            )
        )
    return entries


def _store_intents(intents: list[str], seed: int) -> list[str]:
    """The intents of store `seed`, drawn as bench/faq_matching.py draws them."""
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(intents, CLINC_INTENTS, replace=False))


def _clinc_queries(rows, vectors, split: str, index: dict[str, int]) -> Queries:
    oos = "oos_" + split
    labels = [intent for _, intent in rows[split] + rows[oos]]
    return Queries(
        np.vstack([vectors[split], vectors[oos]]),
        np.array([index.get(label, -1) for label in labels], dtype=np.int64),
    )


# --- the shop stores --------------------------------------------------------------------------


def shop(locale: str, path: Path, generator: Generator | None) -> dict[str, Any]:
    data = json.loads(path.read_text())
    embedder = get_embedder(locale)
    point = operating_point(locale)
    policy = MatchPolicy(point.faq_threshold, point.faq_min_margin)
    faq_index = {faq["id"]: i for i, faq in enumerate(data["faqs"])}
    stored = [
        (text, i)
        for i, faq in enumerate(data["faqs"])
        for text in [faq["question"], *faq["paraphrases"]]
    ]
    human = Store(
        embedder.embed([text for text, _ in stored]),
        np.array([i for _, i in stored], dtype=np.int64),
        NegativeVectors.empty(embedder.dimension),
    )

    def queries(split: str) -> tuple[Queries, list[dict]]:
        chosen = [q for q in data["queries"] if q["split"] == split]
        truth = [faq_index[q["faq"]] if q["kind"] == "in_store" else -1 for q in chosen]
        vectors = embedder.embed([strip_greetings(q["text"]) for q in chosen])
        return Queries(vectors, np.array(truth, dtype=np.int64)), chosen

    val, val_rows = queries("val")
    test, _ = queries("test")
    # Handoff phrasings: val's in-store questions (an agent answers each with its FAQ), greetings
    # stripped as the console path strips them; all of val mines negatives.
    handoff = val.truth >= 0
    handoff_texts = [
        strip_greetings(q["text"]) for q, h in zip(val_rows, handoff, strict=True) if h
    ]
    handoff_vectors = embedder.embed(handoff_texts)
    generated = None
    if generator is not None:
        generated = generated_store(
            {i: faq["question"] for i, faq in enumerate(data["faqs"])},
            embedder.embed,
            generator,
            embedder.dimension,
        )
    entry = (human, handoff_vectors, val.truth[handoff], val, test, generated)
    return {
        "model": embedder.identity,
        "policy": f"{policy.threshold:g} / {policy.min_margin:g}",
        "sources": evaluate_sources([entry], policy, DEFAULT_MIN_SIMILARITY),
    }


# --- report ---------------------------------------------------------------------------------


def run(
    cache: Path | None, generate: bool, generated_stores: int, generated_locales: list[str]
) -> dict[str, Any]:
    generator = Generator() if generate else None
    report: dict[str, Any] = {
        "clinc150": clinc(cache, generator, generated_stores),
        **{
            f"shop {locale}": shop(locale, path, generator if locale in generated_locales else None)
            for locale, path in SHOP_SETS.items()
        },
    }
    if generator is not None:
        report["generation"] = {
            "model": "SmolLM2-135M-Instruct Q4_1 (llama-cpp-python)",
            "calls": generator.calls,
            "seconds": round(generator.seconds, 1),
        }
    report["verdicts"] = dump(verdicts(report))
    return report


def verdicts(report: dict[str, Any]) -> list[Verdict]:
    """Every source keeps the stage within the 1% promise, and negatives never cost coverage
    they do not buy back in wrong answers."""
    out = []
    for name, result in report.items():
        if not isinstance(result, dict) or "sources" not in result:
            continue
        for source, figures in result["sources"].items():
            out.append(
                Verdict(
                    f"{name}, {LABELS[source]}, test: wrong/answered <= {MAX_WRONG:.0%}",
                    f"{figures['wrong']}/{figures['answered']} "
                    f"({figures['wrong_per_answered']:.2%})",
                    figures["wrong_per_answered"] <= MAX_WRONG,
                )
            )
    return out


def markdown(report: dict[str, Any]) -> str:
    from bench.verdicts import load
    from bench.verdicts import markdown as verdict_lines

    rows = [
        "| store | phrasings | per FAQ | coverage | wrong / answered | negatives "
        "| kept from right / from wrong |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in report.items():
        if not isinstance(result, dict) or "sources" not in result:
            continue
        groups = [(name, result)]
        if "generated_subset" in result:
            groups.append((f"{name} (generated subset)", result["generated_subset"]))
        for label, group in groups:
            for source, t in group["sources"].items():
                rows.append(
                    f"| {label} | {LABELS[source]} | {t['phrasings_per_faq']:g} "
                    f"| {t['coverage']:.1%} ({t['right']}/{t['in_store']}) "
                    f"| {t['wrong_per_answered']:.2%} ({t['wrong']}/{t['answered']}) "
                    f"| {t['negatives']} | {t['vetoed_right']} / {t['vetoed_wrong']} |"
                )
    points = ", ".join(
        f"{name}: {result['policy']}"
        for name, result in report.items()
        if isinstance(result, dict) and "policy" in result
    )
    lines = [
        __doc__.split("\n\n")[0].replace("\n", " "),
        "",
        f"Operating points (threshold / margin): {points}.",
        "",
        *rows,
    ]
    clinc_report = report.get("clinc150", {})
    if "handoff_sweep" in clinc_report:
        lines += [
            "",
            "CLINC150, handoff phrasings per FAQ (negatives at "
            f"{DEFAULT_MIN_SIMILARITY:g}), coverage / wrong per answer:",
            "",
            "| handoffs per FAQ | (b) + handoff phrasings | (c) + negatives | negatives |",
            "|---|---|---|---|",
        ]
        for n, sources in clinc_report["handoff_sweep"].items():
            b, c = sources["handoff"], sources["negatives"]
            lines.append(
                f"| {n} | {b['coverage']:.1%} / {b['wrong_per_answered']:.2%} "
                f"| {c['coverage']:.1%} / {c['wrong_per_answered']:.2%} | {c['negatives']} |"
            )
    if "negative_sweep" in clinc_report:
        lines += [
            "",
            f"CLINC150, FAQ_NEGATIVE_MIN_SIMILARITY ({CLINC_HANDOFFS_PER_FAQ} handoffs per FAQ):",
            "",
            "| min similarity | (c) coverage | wrong / answered | kept from right / from wrong |",
            "|---|---|---|---|",
        ]
        for m, sources in clinc_report["negative_sweep"].items():
            c = sources["negatives"]
            lines.append(
                f"| {m} | {c['coverage']:.1%} | {c['wrong_per_answered']:.2%} "
                f"({c['wrong']}/{c['answered']}) | {c['vetoed_right']} / {c['vetoed_wrong']} |"
            )
    if "generation" in report:
        g = report["generation"]
        lines += [
            "",
            f"Generation: {g['model']}, {g['calls']} prompts in {g['seconds']} s.",
        ]
    return "\n".join([*lines, "", verdict_lines(load(report["verdicts"]))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cache", type=Path, default=None, help="CLINC embedding cache (.npz)")
    parser.add_argument(
        "--generated", action="store_true", help="(d): paraphrases from SmolLM2-135M (slow)"
    )
    parser.add_argument(
        "--generated-stores", type=int, default=0, help="CLINC stores measured with (d)"
    )
    parser.add_argument(
        "--generated-locales", nargs="*", default=["en"], help="shop stores measured with (d)"
    )
    args = parser.parse_args()
    report = run(args.cache, args.generated, args.generated_stores, args.generated_locales)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(markdown(report))


if __name__ == "__main__":
    main()
