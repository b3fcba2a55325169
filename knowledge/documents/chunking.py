"""Cut a parsed document into chunks along its structure: a heading starts a section, each chunk
knows the headings above it, small blocks of a section are packed together, and lists and tables
stay whole when they fit (else they are split between items or rows, a table's header repeated).

Sizes are estimated, not tokenized: the embedding models of different locales use different
tokenizers, and a chunk only has to stay near a budget. `max_tokens` is a parameter so that the
retrieval benchmark can choose it."""

import re
from collections.abc import Iterator

from knowledge.documents.parsing import CJK
from knowledge.documents.types import Block, BlockKind, ChunkDraft, ParsedDocument

# BPE tokenizers (GPT, Llama, BERT WordPiece) average ~1.3 tokens per English word; Chinese text
# costs about one token per character in the multilingual models, more in English-first ones.
# Checked against the embedding models' own tokenizers: MiniLM's WordPiece counts 0.9-1.0 of the
# estimate on help-centre prose (English and Chinese) and a median 1.07 (p95 1.6) on PostgreSQL's
# HTML manual, where identifiers split into many pieces; USE's SentencePiece 0.9-1.1.
TOKENS_PER_WORD = 1.3
# Weights are counted in tenths of a token, in integers, so that sums are exact.
_TENTHS_PER_WORD = round(TOKENS_PER_WORD * 10)
_WORD = re.compile(rf"[^\s{CJK[1:-1]}]+")
_CJK_CHAR = re.compile(CJK)
# A sentence ends after . ! ? (and closing quotes or brackets) followed by a space, or after
# Chinese 。！？； wherever they stand.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]”’]*\s+|(?<=[。！？；])[”’」』）)]*\s*")
# Units of a hard split when one sentence alone is over the budget: a CJK character or a word.
_UNIT = re.compile(rf"{CJK}\s*|[^\s{CJK[1:-1]}]+\s*")
_LIST_ITEM_START = re.compile(r"^(?:-|\d+\.) ")
_TABLE_SEPARATOR = re.compile(r"^\|(?:\s*:?-+:?\s*\|)+$")
_HEADING_SEPARATOR = " > "


def estimate_tokens(text: str) -> int:
    """About how many tokens an embedding model or LLM sees: one per CJK character (CJK
    punctuation included) and TOKENS_PER_WORD per other whitespace-separated run: a word, a
    number, a lone | of a table row. Punctuation attached to a word rides along with it."""
    return _tokens(_weight(text))


def chunk_search_text(title: str, heading_path: tuple[str, ...], text: str) -> str:
    """What is embedded and searched for a chunk: the document title and heading path (the
    chunk's own text does not repeat them) above the text. A first heading equal to the title
    is not said twice."""
    path = list(heading_path)
    if path and path[0] == title:
        path.pop(0)
    context = _HEADING_SEPARATOR.join([title, *path]) if title else _HEADING_SEPARATOR.join(path)
    return f"{context}\n\n{text}" if context else text


def chunk_document(
    doc: ParsedDocument, *, max_tokens: int = 200, overlap_blocks: int = 0
) -> list[ChunkDraft]:
    """Chunks in document order; every chunk's text estimates at most `max_tokens`.

    `overlap_blocks` repeats that many pieces (blocks, or parts of a split block) from the end of
    a chunk at the start of the next one of the same section, when they fit."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    chunks: list[ChunkDraft] = []
    headings: list[tuple[int, str]] = []
    section: list[Block] = []

    def flush() -> None:
        path = tuple(text for _, text in headings)
        for text in _pack(section, max_tokens, overlap_blocks):
            chunks.append(ChunkDraft(position=len(chunks), heading_path=path, text=text))
        section.clear()

    for block in doc.blocks:
        if block.kind == BlockKind.HEADING:
            flush()
            level = max(block.level, 1)
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, block.text))
        else:
            section.append(block)
    flush()
    return chunks


def _weight(text: str) -> int:
    """The token estimate in tenths."""
    return 10 * len(_CJK_CHAR.findall(text)) + _TENTHS_PER_WORD * len(_WORD.findall(text))


def _tokens(weight: int) -> int:
    return -(-weight // 10)


def _fits(weight: int, max_tokens: int) -> bool:
    return weight <= 10 * max_tokens


def _pack(blocks: list[Block], max_tokens: int, overlap_blocks: int) -> Iterator[str]:
    """Pieces joined by blank lines, so their weights add up (no word spans two pieces)."""
    current: list[tuple[str, int]] = []
    for block in blocks:
        for piece in _pieces(block, max_tokens):
            weight = _weight(piece)
            if current and not _fits(sum(w for _, w in current) + weight, max_tokens):
                yield "\n\n".join(text for text, _ in current)
                current = current[max(0, len(current) - overlap_blocks) :] if overlap_blocks else []
                while current and not _fits(sum(w for _, w in current) + weight, max_tokens):
                    current.pop(0)
            current.append((piece, weight))
    if current:
        yield "\n\n".join(text for text, _ in current)


def _pieces(block: Block, max_tokens: int) -> list[str]:
    """The block whole when it fits, else parts that each fit, cut where a reader would."""
    text = block.text.strip()
    if _fits(_weight(text), max_tokens):
        return [text]
    if block.kind == BlockKind.TABLE:
        return _table_pieces(text, max_tokens)
    if block.kind == BlockKind.LIST:
        return _grouped(_list_items(text), max_tokens, joiner="\n")
    if block.kind == BlockKind.CODE:
        return _grouped(text.splitlines(), max_tokens, joiner="\n")
    return _cut(text, max_tokens)


def _table_pieces(text: str, max_tokens: int) -> list[str]:
    lines = text.splitlines()
    header_lines = lines[:2] if len(lines) > 1 and _TABLE_SEPARATOR.match(lines[1]) else lines[:1]
    header = "\n".join(header_lines)
    budget = max_tokens - _tokens(_weight(header))
    if budget < max_tokens / 2:  # the header would crowd out the rows: no repeating it
        return _grouped(lines, max_tokens, joiner="\n")
    rows = lines[len(header_lines) :]
    return [f"{header}\n{group}" for group in _grouped(rows, budget, joiner="\n")]


def _list_items(text: str) -> list[str]:
    """Top-level items with their nested lines."""
    items: list[str] = []
    for line in text.splitlines():
        if _LIST_ITEM_START.match(line) or not items:
            items.append(line)
        else:
            items[-1] += "\n" + line
    return items


def _sentences(text: str) -> list[str]:
    """Sentences with their trailing space, so that joining them with "" gives the text back."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > start:
            sentences.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        sentences.append(text[start:])
    return sentences


def _grouped(parts: list[str], max_tokens: int, *, joiner: str) -> list[str]:
    """Consecutive parts packed up to the budget; a part over it alone is cut into sentences,
    and a sentence over it into words (or CJK characters)."""
    groups: list[str] = []
    current: list[str] = []
    weight = 0
    for part in parts:
        part_weight = _weight(part)
        if not _fits(part_weight, max_tokens):
            if current:
                groups.append(joiner.join(current).strip())
                current, weight = [], 0
            groups.extend(_cut(part, max_tokens))
            continue
        if current and not _fits(weight + part_weight, max_tokens):
            groups.append(joiner.join(current).strip())
            current, weight = [], 0
        current.append(part)
        weight += part_weight
    if current:
        groups.append(joiner.join(current).strip())
    return [group for group in groups if group]


def _cut(text: str, max_tokens: int) -> list[str]:
    sentences = _sentences(text)
    if len(sentences) > 1:
        return _grouped(sentences, max_tokens, joiner="")
    units = _UNIT.findall(text)
    if len(units) > 1:
        return _grouped(units, max_tokens, joiner="")
    return [text]  # one word over a budget below 2 tokens: it goes alone
