"""The help centre: documents parsed into structured blocks, chunked along their headings,
searched by words and by meaning, and handed to the model tier as numbered sources.

Modules here are framework-free (no models, no settings): parsing, chunking, crawling, lexical
search and rank fusion take data and return data; `knowledge.models`, `knowledge.services` and
`knowledge.selectors` store and query them."""
