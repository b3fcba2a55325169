"""The one store of state every process must see, and its one failure policy: Redis when
REDIS_URL is set, this process's memory otherwise (docs/operations.md, "When Redis does not
answer"). A leaf: it imports neither chatbot nor knowledge, so both build on it."""
