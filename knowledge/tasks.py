from celery import shared_task

from knowledge import services


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def embed_paraphrases(paraphrase_ids: list[int]) -> int:
    return services.embeddings_compute(paraphrase_ids=paraphrase_ids)
