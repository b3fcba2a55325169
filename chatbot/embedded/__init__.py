"""What only the embedded default needs (one process, SQLite, no Redis): an in-process channel
layer fit for serving."""
