"""What runs and watches the processes rather than answering visitors: health and readiness
probes, the `/metrics` endpoint, start-up warm-up, the local model server, the supervisor of
`manage.py serve`'s children and the production shape it starts (docs/operations.md,
docs/deploy.md). A plain package, not an app: it has no models."""
