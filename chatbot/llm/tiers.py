"""Model tiers: which upstreams may answer, in fallback order (strongest first), with prices,
limits and timeouts. Built from settings: `LLM_TIERS_JSON` / `LLM_TIERS_FILE`, or the defaults
(with OPENAI_API_KEY: strong and cheap OpenAI models plus the local model; else local alone).

Secrets never leave the environment: a config names the env variables holding keys, and keys
are identified elsewhere (Redis keys, admin, traces) only by that variable's name."""

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

NO_KEY = "local-no-key"


class TierConfigError(ValueError):
    """The tier configuration is malformed; raised at stage build time, loudly."""


@dataclass(frozen=True)
class Provider:
    """One model behind one OpenAI-compatible API; several may share a tier by weight."""

    name: str
    base_url: str | None
    model: str
    key_envs: tuple[str, ...] = ()  # env variables holding the key pool; empty: no key needed
    price_in_per_1k: float = 0.0
    price_out_per_1k: float = 0.0
    rpm: int = 0  # requests per minute per key; 0 means unlimited
    tpm: int = 0  # tokens (prompt + max_tokens) per minute per key; 0 means unlimited
    connect_timeout_s: float = 2.0
    first_token_timeout_s: float = 15.0
    total_timeout_s: float = 60.0
    weight: float = 1.0
    max_tokens: int = 256
    temperature: float = 0.3

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return round(
            prompt_tokens / 1000 * self.price_in_per_1k
            + completion_tokens / 1000 * self.price_out_per_1k,
            8,
        )

    def key_envs_unset(self) -> list[str]:
        """The pool's variables the environment leaves unset or empty: keys it does not have."""
        return [env_name for env_name in self.key_envs if not os.environ.get(env_name)]

    def upstreams(self) -> list["Upstream"]:
        """One upstream per key of the pool whose variable is set (keys read at build time)."""
        if not self.key_envs:
            return [Upstream(self, "none", NO_KEY)]
        unset = self.key_envs_unset()
        return [
            Upstream(self, env_name, os.environ[env_name])
            for env_name in self.key_envs
            if env_name not in unset
        ]


@dataclass(frozen=True)
class Upstream:
    """A provider with one key: the unit that is called, rate limited and broken per key."""

    provider: Provider
    key_label: str  # the env variable's name, never the key
    api_key: str = field(repr=False)

    @property
    def id(self) -> str:
        return f"{self.provider.name}/{self.key_label}"


@dataclass(frozen=True)
class Tier:
    name: str
    providers: tuple[Provider, ...]

    def upstreams(self) -> list[Upstream]:
        return [u for p in self.providers for u in p.upstreams()]

    def providers_by_weight(self, rng: random.Random | None = None) -> list[Provider]:
        """Providers in a weighted random order: the first is picked by weight, the rest are
        the ones to try when it has no usable key."""
        rng = rng or random
        pool = [p for p in self.providers if p.weight > 0]
        ordered: list[Provider] = []
        while pool:
            pick = rng.choices(pool, weights=[p.weight for p in pool])[0]
            ordered.append(pick)
            pool.remove(pick)
        return ordered


def _common() -> dict[str, Any]:
    return {
        "connect_timeout_s": settings.LLM_CONNECT_TIMEOUT_S,
        "first_token_timeout_s": settings.LLM_FIRST_TOKEN_TIMEOUT_S,
        "total_timeout_s": settings.LLM_TOTAL_TIMEOUT_S,
        "max_tokens": settings.LLM_MAX_TOKENS,
        "temperature": settings.LLM_TEMPERATURE,
    }


def _local_tier() -> Tier:
    return Tier(
        "local",
        (
            Provider(
                name="local",
                base_url=settings.LOCAL_LLM_BASE_URL,
                model=settings.LOCAL_LLM_MODEL,
                **_common(),
            ),
        ),
    )


def default_tiers() -> list[Tier]:
    """With OPENAI_API_KEY: strong and cheap OpenAI models, then the local model."""
    tiers = []
    if settings.OPENAI_API_KEY:
        openai = {
            "base_url": settings.OPENAI_BASE_URL or None,
            "key_envs": ("OPENAI_API_KEY",),
            **_common(),
        }
        tiers = [
            Tier(
                "strong",
                (
                    Provider(
                        name="openai-strong",
                        model=settings.OPENAI_STRONG_MODEL,
                        price_in_per_1k=settings.OPENAI_STRONG_PRICE_IN_PER_1K,
                        price_out_per_1k=settings.OPENAI_STRONG_PRICE_OUT_PER_1K,
                        **openai,
                    ),
                ),
            ),
            Tier(
                "cheap",
                (
                    Provider(
                        name="openai-cheap",
                        model=settings.OPENAI_MODEL,
                        price_in_per_1k=settings.OPENAI_PRICE_IN_PER_1K,
                        price_out_per_1k=settings.OPENAI_PRICE_OUT_PER_1K,
                        **openai,
                    ),
                ),
            ),
        ]
    return [*tiers, _local_tier()]


_PROVIDER_FIELDS = {
    "name",
    "base_url",
    "model",
    "api_key_env",
    "price_in_per_1k",
    "price_out_per_1k",
    "rpm",
    "tpm",
    "connect_timeout_s",
    "first_token_timeout_s",
    "total_timeout_s",
    "weight",
    "max_tokens",
    "temperature",
}
_TIER_FIELDS = {"name", "providers"}
_TEXT_FIELDS = {"name", "base_url", "model"}
# Zero is allowed (a free model; rpm and tpm 0: unlimited); below it is a typo that would
# count negative costs or never pick the provider.
_NOT_NEGATIVE_FIELDS = {"price_in_per_1k", "price_out_per_1k", "temperature", "rpm", "tpm"}
_POSITIVE_FIELDS = {
    "connect_timeout_s",
    "first_token_timeout_s",
    "total_timeout_s",
    "weight",
    "max_tokens",
}
_WHOLE_NUMBER_FIELDS = {"rpm", "tpm", "max_tokens"}


def _field_type_errors(raw: dict[str, Any]) -> list[str]:
    """Fields of the wrong JSON type: `"price_in_per_1k": "0.5"` passed, and the cost of every
    answer then raised TypeError (a re-walk of the configuration checks)."""
    wrong = []
    for name, value in raw.items():
        if name in _TEXT_FIELDS:
            ok = isinstance(value, str) or (name == "base_url" and value is None)
        elif name == "api_key_env":
            ok = isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            )
        elif name in _WHOLE_NUMBER_FIELDS:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            wrong.append(f"{name}={value!r}")
        elif name in _NOT_NEGATIVE_FIELDS and value < 0:
            wrong.append(f"{name}={value!r} (must not be negative)")
        elif name in _POSITIVE_FIELDS and value <= 0:
            wrong.append(f"{name}={value!r} (must be above 0)")
    return wrong


def _provider(raw: dict[str, Any], tier_name: str, index: int) -> Provider:
    unknown = set(raw) - _PROVIDER_FIELDS
    if unknown:
        raise TierConfigError(f"tier {tier_name!r}: unknown provider fields {sorted(unknown)}")
    if "model" not in raw:
        raise TierConfigError(f"tier {tier_name!r}: every provider needs a model")
    if wrong := _field_type_errors(raw):
        raise TierConfigError(
            f"tier {tier_name!r}: fields of the wrong type or value {wrong} (numbers unquoted; "
            "name, base_url and model text; api_key_env text or a list of texts)"
        )
    values = {**_common(), **raw}
    key_env = values.pop("api_key_env", [])
    values["key_envs"] = (key_env,) if isinstance(key_env, str) else tuple(key_env)
    values.setdefault("name", f"{tier_name}-{index}")
    values.setdefault("base_url", None)
    return Provider(**values)


def parse_tiers(raw: Any) -> list[Tier]:
    """`[{"name": ..., "providers": [{...}, ...]}, ...]`, strongest first (docs/llm.md)."""
    if isinstance(raw, dict):
        raw = raw.get("tiers")
    if not isinstance(raw, list) or not raw:
        raise TierConfigError("the tier configuration must be a non-empty list of tiers")
    tiers = []
    for entry in raw:
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("providers"):
            raise TierConfigError(f"each tier needs a name and providers: {entry!r}")
        if unknown := set(entry) - _TIER_FIELDS:
            # A provider's field one level up (`"price_in_per_1k"` beside `providers`) was
            # dropped without a word, and every answer cost $0 (a model-tiers walk).
            raise TierConfigError(
                f"tier {entry['name']!r}: unknown tier fields {sorted(unknown)} (a tier has a "
                "name and providers; prices, limits and timeouts go on each provider)"
            )
        providers = tuple(
            _provider(p, entry["name"], i) for i, p in enumerate(entry["providers"], 1)
        )
        tiers.append(Tier(entry["name"], providers))
    names = [t.name for t in tiers]
    if len(set(names)) != len(names):
        raise TierConfigError(f"tier names must be unique: {names}")
    return tiers


def configured_tiers() -> list[Tier]:
    """The tiers from LLM_TIERS_JSON, else LLM_TIERS_FILE, else the defaults."""
    if settings.LLM_TIERS_JSON and settings.LLM_TIERS_FILE:
        # One was ignored without a word, even a file that did not exist (a model-tiers walk).
        raise TierConfigError("set LLM_TIERS_JSON or LLM_TIERS_FILE, not both")
    if settings.LLM_TIERS_JSON:
        try:
            return parse_tiers(json.loads(settings.LLM_TIERS_JSON))
        except json.JSONDecodeError as exc:
            raise TierConfigError(f"LLM_TIERS_JSON is not JSON: {exc}") from exc
    if settings.LLM_TIERS_FILE:
        path = Path(settings.LLM_TIERS_FILE)
        try:
            return parse_tiers(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise TierConfigError(f"LLM_TIERS_FILE {path}: {exc}") from exc
    return default_tiers()
