"""Model tiers the LLM stage may call, built from settings."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Tier:
    name: str
    base_url: str | None
    model: str
    api_key: str
    price_in_per_1k: float = 0.0
    price_out_per_1k: float = 0.0
    connect_timeout_s: float = 2.0
    first_token_timeout_s: float = 15.0
    total_timeout_s: float = 60.0
    max_tokens: int = 256
    temperature: float = 0.3

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return round(
            prompt_tokens / 1000 * self.price_in_per_1k
            + completion_tokens / 1000 * self.price_out_per_1k,
            8,
        )


def configured_tiers() -> list[Tier]:
    """With OPENAI_API_KEY: the OpenAI model first, then the local model; otherwise local only."""
    common = {
        "connect_timeout_s": settings.LLM_CONNECT_TIMEOUT_S,
        "first_token_timeout_s": settings.LLM_FIRST_TOKEN_TIMEOUT_S,
        "total_timeout_s": settings.LLM_TOTAL_TIMEOUT_S,
        "max_tokens": settings.LLM_MAX_TOKENS,
        "temperature": settings.LLM_TEMPERATURE,
    }
    tiers = []
    if settings.OPENAI_API_KEY:
        tiers.append(
            Tier(
                name="openai",
                base_url=settings.OPENAI_BASE_URL or None,
                model=settings.OPENAI_MODEL,
                api_key=settings.OPENAI_API_KEY,
                price_in_per_1k=0.00015,
                price_out_per_1k=0.0006,
                **common,
            )
        )
    tiers.append(
        Tier(
            name="local",
            base_url=settings.LOCAL_LLM_BASE_URL,
            model=settings.LOCAL_LLM_MODEL,
            api_key="local-no-key",
            **common,
        )
    )
    return tiers
