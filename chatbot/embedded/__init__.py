"""What only the embedded default needs (one process, SQLite, no Redis): SQLite's WAL
checkpoints off the visitors' commits, and an in-process channel layer fit for serving."""
