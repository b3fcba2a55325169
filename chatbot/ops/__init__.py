"""What runs and watches the processes rather than answering visitors: health and readiness
probes, the `/metrics` endpoint, the model router's status page, start-up warm-up, the local
model server, the supervisor of `manage.py serve`'s children and the production shape it starts,
and re-embedding after a model change (docs/operations.md, docs/deploy.md). A plain package, not
an app: it has no models."""
