from celery import shared_task

from knowledge import services
from knowledge.generation import job_run


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def embed_paraphrases(paraphrase_ids: list[int]) -> int:
    return services.embeddings_compute(paraphrase_ids=paraphrase_ids)


@shared_task
def generate_variants(job_ids: list[int]) -> list[str]:
    """A batch of generation jobs; each job succeeds or fails on its own."""
    return [job_run(job_id=job_id).status for job_id in job_ids]


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def document_index(document_id: int) -> int:
    """Chunks and embeds one document (enqueued on commit by document_upsert and re-index)."""
    return services.document_index(document_id=document_id)


@shared_task
def documents_import(import_id: int) -> str:
    return services.documents_import(import_id=import_id).status


@shared_task
def documents_crawl(import_id: int) -> str:
    return services.documents_crawl(import_id=import_id).status
