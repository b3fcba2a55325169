"""Greetings and filler in front of a question: does the FAQ store still answer it, with the
question embedded as written (before) and without its leading greetings (after,
`knowledge.greetings.strip_greetings`; stored phrasings are embedded as written either way)?

Stores: bench/data/en_faq_eval.json and zh_faq_eval.json (45 FAQs, 7 phrasings each). Queries:
their in-store questions (val + test, 270; must get their FAQ) and near-miss + out-of-scope
ones (200; must get no answer), each as written ("bare") and with every prefix of
bench/data/greeting_prefixes.json in front ("prefixed", 12 per language, and 8 "held-out
prefixes" written after the normaliser's lists, not fitted to them). Rule: the shipped
MatchPolicy (support >= 0.81, margin >= 0.08, top-20), as `faq_match` applies it (the exact-repeat
rule aside). Models: MiniLM (the default) and USE multilingual v3 (EMBEDDING_BACKEND=use).

    python -m bench.greetings [--models minilm use] [--out FILE]

Figures: docs/faq-format.md ("Greetings and filler")."""

import argparse
import json
from pathlib import Path

import numpy as np

from knowledge.embeddings import MiniLMEmbedder, USEEmbedder
from knowledge.greetings import strip_greetings
from knowledge.matching import DEFAULT_K, MatchPolicy, batch_top_k, candidate_features
from knowledge.operating_points import MEASURED

DATA = Path(__file__).resolve().parent / "data"
EMBEDDERS = {"minilm": MiniLMEmbedder, "use": USEEmbedder}


def _embed(embedder, texts: list[str]) -> dict[str, np.ndarray]:
    unique = sorted(set(texts))
    vectors = np.vstack([embedder.embed(unique[i : i + 256]) for i in range(0, len(unique), 256)])
    return dict(zip(unique, vectors, strict=True))


def measure(embedder, language: str, prefixes: list[str], held_out: list[str]) -> dict:
    store = json.loads((DATA / f"{language}_faq_eval.json").read_text(encoding="utf-8"))
    phrasings = [(faq["id"], text) for faq in store["faqs"]
                 for text in [faq["question"], *faq["paraphrases"]]]  # fmt: skip
    ids = sorted({faq_id for faq_id, _ in phrasings})
    faq_index = np.array([ids.index(faq_id) for faq_id, _ in phrasings])
    queries = [(q["text"], ids.index(q["faq"]) if q["kind"] == "in_store" else -1)
               for q in store["queries"]]  # fmt: skip
    asked = {
        "bare": queries,
        "prefixed": [(prefix + text, truth) for prefix in prefixes for text, truth in queries],
        "held-out prefixes": [(p + text, truth) for p in held_out for text, truth in queries],
    }
    point = MEASURED[embedder.identity.split("/", 1)[0]]  # the model's shipped point
    policy = MatchPolicy(point.faq_threshold, point.faq_min_margin)
    results = {}
    stored = _embed(embedder, [t for _, t in phrasings])
    matrix = np.vstack([stored[t] for _, t in phrasings])
    for normalised in (False, True):
        prepare = strip_greetings if normalised else (lambda text: text)
        vectors = _embed(embedder, [prepare(t) for rows in asked.values() for t, _ in rows])
        for name, rows in asked.items():
            query_vectors = np.vstack([vectors[prepare(t)] for t, _ in rows])
            top_ids, top_scores = batch_top_k(matrix, faq_index, query_vectors, DEFAULT_K)
            features = candidate_features(top_ids, top_scores)
            answered = policy.accept(features)
            truth = np.array([t for _, t in rows])
            inside = truth >= 0
            right = answered & inside & (features.best_faq == truth)
            wrong = answered & ~(inside & (features.best_faq == truth))
            key = f"{name}, {'stripped' if normalised else 'as written'}"
            results[key] = {
                "in_store": int(inside.sum()),
                "right": int(right.sum()),
                "coverage": round(float(right.sum() / inside.sum()), 4),
                "queries": len(rows),
                "wrong": int(wrong.sum()),
                "wrong_rate": round(float(wrong.sum() / len(rows)), 4),
                "wrong_outside_store": int((wrong & ~inside).sum()),
            }
            if name != "bare":
                used = prefixes if name == "prefixed" else held_out
                per_prefix = right[inside].reshape(len(used), -1).mean(axis=1)
                results[key]["coverage_per_prefix"] = {
                    p.strip(): round(float(c), 3) for p, c in zip(used, per_prefix, strict=True)
                }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=list(EMBEDDERS), choices=list(EMBEDDERS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    prefixes = json.loads((DATA / "greeting_prefixes.json").read_text(encoding="utf-8"))
    report = {}
    for model in args.models:
        embedder = EMBEDDERS[model]()
        for language in ("en", "zh"):
            report[f"{model} {language}"] = measure(
                embedder, language, prefixes[language], prefixes[f"held_out_{language}"]
            )
    print("| model, store | queries | in-store answered right | wrong answers |")
    print("|---|---|---|---|")
    for setting, results in report.items():
        for condition, r in results.items():
            print(
                f"| {setting} | {condition} | {r['right']}/{r['in_store']} "
                f"({r['coverage']:.1%}) | {r['wrong']}/{r['queries']} ({r['wrong_rate']:.2%}) |"
            )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
