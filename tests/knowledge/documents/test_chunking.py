"""Chunks follow the document's structure and stay within their token budget."""

from pathlib import Path

import pytest

from knowledge.documents.chunking import chunk_document, chunk_search_text, estimate_tokens
from knowledge.documents.parsing import parse_document
from knowledge.documents.types import Block, BlockKind, ChunkDraft, ParsedDocument

FILES = Path(__file__).parent / "files"


def document(*blocks: Block, locale: str = "en") -> ParsedDocument:
    return ParsedDocument(title="Doc", blocks=blocks, locale=locale)


def heading(text: str, level: int) -> Block:
    return Block(BlockKind.HEADING, text, level=level)


def paragraph(text: str) -> Block:
    return Block(BlockKind.PARAGRAPH, text)


def test_token_estimate_counts_cjk_characters_and_latin_words():
    assert estimate_tokens("") == 0
    assert estimate_tokens("退货政策") == 4
    assert estimate_tokens("Return within thirty days") == 6  # 4 words x 1.3 = 5.2
    assert estimate_tokens("请在 App 中退货。") == 8  # 6 CJK characters with 。, 1.3 for "App"


def test_chunks_carry_the_heading_path_and_never_repeat_it_in_their_text():
    doc = parse_document((FILES / "returns.md").read_bytes(), filename="returns.md")
    chunks = chunk_document(doc, max_tokens=200)
    assert [(c.position, c.heading_path) for c in chunks] == [
        (0, ("Returns and refunds",)),
        (1, ("Returns and refunds", "How to return an item")),
        (2, ("Returns and refunds", "Refund times")),
        (3, ("Returns and refunds", "Refund times", "Items that cannot be returned")),
    ]
    assert chunks[1].text.startswith("1. Sign in")
    assert chunks[3].text == (
        "- Gift cards\n- Personalised items\n  - engraved jewellery\n- Perishable food"
        "\n\nRETURN-CODE: ABC123"
    )
    assert not any(c.text.startswith(("Returns and refunds", "Refund times")) for c in chunks)


def test_a_lower_heading_closes_the_deeper_sections():
    doc = document(
        heading("Guide", 1),
        heading("Setup", 2),
        heading("Wi-Fi", 3),
        paragraph("Join the network."),
        heading("Billing", 2),
        paragraph("Pay monthly."),
    )
    assert chunk_document(doc) == [
        ChunkDraft(0, ("Guide", "Setup", "Wi-Fi"), "Join the network."),
        ChunkDraft(1, ("Guide", "Billing"), "Pay monthly."),
    ]


def test_small_blocks_of_a_section_are_packed_up_to_the_budget():
    sentences = [paragraph(f"Paragraph number {i} is short.") for i in range(10)]  # 7 tokens
    chunks = chunk_document(document(heading("FAQ", 1), *sentences), max_tokens=20)
    assert [c.text.count("Paragraph") for c in chunks] == [3, 3, 3, 1]
    assert all(estimate_tokens(c.text) <= 20 for c in chunks)
    assert chunks[0].text == (
        "Paragraph number 0 is short.\n\nParagraph number 1 is short.\n\n"
        "Paragraph number 2 is short."
    )


def test_packing_fills_the_budget_exactly():
    words = [paragraph(f"word{i}") for i in range(10)]  # 10 x 1.3 = 13 tokens
    assert [c.text.count("word") for c in chunk_document(document(*words), max_tokens=13)] == [10]
    assert [c.text.count("word") for c in chunk_document(document(*words), max_tokens=12)] == [9, 1]


def test_a_document_without_headings_is_chunked_by_paragraphs():
    doc = document(paragraph("First topic. " * 5), paragraph("Second topic. " * 5))
    chunks = chunk_document(doc, max_tokens=15)
    assert [(c.heading_path, c.text) for c in chunks] == [
        ((), ("First topic. " * 5).strip()),
        ((), ("Second topic. " * 5).strip()),
    ]


def test_a_list_that_fits_is_kept_whole_even_if_it_starts_a_new_chunk():
    items = "\n".join(f"- Item {i} of the list" for i in range(5))  # 5 x 6 x 1.3 = 39 tokens
    doc = document(paragraph("word " * 20), Block(BlockKind.LIST, items), paragraph("After."))
    chunks = chunk_document(doc, max_tokens=42)
    assert [c.text for c in chunks] == [("word " * 20).strip(), f"{items}\n\nAfter."]


def test_a_long_list_is_split_between_items_with_nested_items_kept_with_their_parent():
    items = "\n".join(f"- Step {i} do this\n  - detail {i}" for i in range(6))  # 10.4 each
    chunks = chunk_document(document(Block(BlockKind.LIST, items)), max_tokens=21)
    assert [c.text for c in chunks] == [
        "- Step 0 do this\n  - detail 0\n- Step 1 do this\n  - detail 1",
        "- Step 2 do this\n  - detail 2\n- Step 3 do this\n  - detail 3",
        "- Step 4 do this\n  - detail 4\n- Step 5 do this\n  - detail 5",
    ]


def test_a_table_that_fits_is_kept_whole():
    doc = parse_document((FILES / "shipping.html").read_bytes(), filename="shipping.html")
    table = next(b.text for b in doc.blocks if b.kind == BlockKind.TABLE)
    chunks = chunk_document(doc, max_tokens=estimate_tokens(table))
    assert [c.text for c in chunks if "| Option" in c.text] == [table]


def test_a_long_table_is_split_on_rows_with_the_header_row_repeated():
    header = "| Plan | Monthly price |\n| --- | --- |"
    rows = [f"| Plan {i} | {i}0 dollars |" for i in range(12)]
    table = Block(BlockKind.TABLE, "\n".join([header, *rows]))
    chunks = chunk_document(document(heading("Prices", 2), table), max_tokens=40)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.heading_path == ("Prices",)
        assert chunk.text.startswith(header + "\n| Plan ")
        assert estimate_tokens(chunk.text) <= 40
    assert [line for c in chunks for line in c.text.splitlines()[2:]] == rows


def test_a_table_row_over_the_budget_is_cut_under_the_repeated_header():
    header = "| Question | Answer |\n| --- | --- |"
    long_row = "| Can I return a sale item? | " + "Yes, within thirty days of delivery. " * 6 + "|"
    table = Block(BlockKind.TABLE, f"{header}\n| Short | Yes |\n{long_row}")
    chunks = chunk_document(document(table), max_tokens=40)
    assert len(chunks) > 2
    assert all(c.text.startswith(header + "\n") for c in chunks)
    assert all(estimate_tokens(c.text) <= 40 for c in chunks)
    assert chunks[0].text == f"{header}\n| Short | Yes |"


def test_a_long_list_item_is_cut_on_its_sentences():
    item = "- " + " ".join(f"Sentence {i} of the item." for i in range(6))  # 6.5 each
    chunks = chunk_document(document(Block(BlockKind.LIST, f"- Short item\n{item}")), max_tokens=15)
    assert [c.text for c in chunks] == [
        "- Short item",
        "- Sentence 0 of the item. Sentence 1 of the item.",
        "Sentence 2 of the item. Sentence 3 of the item.",
        "Sentence 4 of the item. Sentence 5 of the item.",
    ]


def test_a_long_chinese_paragraph_is_split_on_chinese_sentence_ends():
    sentences = [
        "订单发货后无法修改地址。",
        "如需帮助请联系客服！",
        "退款需要三到五个工作日；",
        "谢谢。",
    ]
    text = "".join(sentences * 3)
    chunks = chunk_document(document(paragraph(text), locale="zh-hans"), max_tokens=25)
    assert "".join(c.text for c in chunks) == text  # nothing lost, no spaces inserted
    for chunk in chunks:
        assert estimate_tokens(chunk.text) <= 25
        assert chunk.text.endswith(("。", "！", "；"))


def test_a_long_english_paragraph_is_split_on_sentence_ends():
    text = " ".join(f"Sentence {i} says something useful here." for i in range(8))  # 7.8 each
    chunks = chunk_document(document(paragraph(text)), max_tokens=20)
    assert [c.text for c in chunks] == [
        "Sentence 0 says something useful here. Sentence 1 says something useful here.",
        "Sentence 2 says something useful here. Sentence 3 says something useful here.",
        "Sentence 4 says something useful here. Sentence 5 says something useful here.",
        "Sentence 6 says something useful here. Sentence 7 says something useful here.",
    ]


@pytest.mark.parametrize("max_tokens", [2, 5, 17, 64, 200])
def test_max_tokens_is_respected_for_every_kind_of_block(max_tokens: int):
    doc = document(
        heading("Mixed", 1),
        paragraph("A sentence without any end " * 30),  # no sentence boundary at all
        paragraph("中文句子没有标点" * 20),
        Block(BlockKind.LIST, "\n".join(f"- item {i} " + "long " * 10 for i in range(8))),
        Block(BlockKind.TABLE, "| a | b |\n| --- | --- |\n" + "| x y z w | v u t s |\n" * 9),
        Block(BlockKind.CODE, "\n".join(f"print({i}) # a comment" for i in range(30))),
    )
    chunks = chunk_document(doc, max_tokens=max_tokens)
    assert chunks
    assert all(estimate_tokens(c.text) <= max_tokens for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    # Every word of the document is in some chunk, the Chinese text in order.
    latin_blocks = [b for b in doc.blocks[1:] if not b.text.startswith("中文")]
    words = {w for b in latin_blocks for w in b.text.split() if w not in {"|", "---", "-"}}
    assert words <= {w for c in chunks for w in c.text.split()}
    assert "中文句子没有标点" * 20 in "".join("".join(c.text.split()) for c in chunks)


def test_overlap_repeats_the_last_block_of_a_section_in_the_next_chunk():
    paragraphs = [paragraph(f"Point {i} matters.") for i in range(4)]  # 3.9 tokens each
    chunks = chunk_document(document(*paragraphs), max_tokens=8, overlap_blocks=1)
    assert [c.text.replace("\n\n", " / ") for c in chunks] == [
        "Point 0 matters. / Point 1 matters.",
        "Point 1 matters. / Point 2 matters.",
        "Point 2 matters. / Point 3 matters.",
    ]


def test_search_text_puts_title_and_heading_path_above_the_chunk():
    assert chunk_search_text("Returns", ("Returns", "Refund times"), "Card: 3-5 days") == (
        "Returns > Refund times\n\nCard: 3-5 days"
    )
    assert chunk_search_text("退货政策", ("如何退货",), "七天内申请。") == (
        "退货政策 > 如何退货\n\n七天内申请。"
    )
    assert chunk_search_text("FAQ", (), "Text.") == "FAQ\n\nText."
