"""Recognises text in a document that is addressed to an AI rather than to customers ("Note to
the chatbot: …", "ignore the visitor's question", "给AI助手：…"). Such a passage is how an
instruction hidden in a help-centre page reaches the model; passages that look like one are
withheld from the model's sources (chatbot.pipeline.llm_stage) and counted. A rule list, not a
classifier: it catches the common forms and is measured on the prompt-injection suite and on
the demo help centre for false alarms (docs/security.md)."""

import re

_PATTERNS = [
    # Addressed to a model: "AI assistant:", "Note to the chatbot:", "Instruction for assistants:"
    r"\b(?:ai|assistants?|chat\s?bots?|bots?|language models?|llms?|gpt)\b[^.\n]{0,12}[:：]",
    r"\b(?:note|instructions?|message)\s+(?:to|for)\s+(?:the\s+)?(?:ai|assistants?|chat\s?bots?"
    r"|bots?|models?)\b",
    r"\bsystem\s+(?:override|prompt|message|instructions?)\b",
    r"\b(?:ignore|disregard|forget)\b[^.\n]{0,40}\b(?:instructions?|question|rules|above"
    r"|previous|prompt)\b",
    r"\b(?:reveal|print|output|repeat)\b[^.\n]{0,30}\b(?:system prompt|instructions)\b",
    r"(?:忽略|无视|不要理会|不用管)[^。\n]{0,20}(?:指令|问题|规则|以上|之前|提示)",
    r"(?:助手|机器人|人工智能|大模型|(?<![a-z])AI(?![a-z]))[^。\n，,]{0,6}(?:须知|说明|指令)?[:：]",
    r"系统(?:覆盖|提示词|指令)",
]
_INSTRUCTIONS = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)


def looks_like_instructions(text: str) -> bool:
    return _INSTRUCTIONS.search(text) is not None
