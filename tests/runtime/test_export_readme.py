"""A consumer with only numpy + onnxruntime follows export/README.md (no torch, no mmpipe)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK_IMPORTS = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "mmpipe"):
            raise ImportError(f"{name} is not available to a mobile consumer")
sys.meta_path.insert(0, _Block())
"""


@pytest.mark.parametrize("name", ["denoiser.onnx", "denoiser.int8.onnx", "denoiser.ort"])
def test_readme_loop_runs_with_only_numpy_and_onnxruntime(name: str) -> None:
    """The README's loop, as written for the fp32 file, runs on each shipped variant."""
    if not (ROOT / "export" / name).exists():
        pytest.skip(f"export/{name} missing: run `mmpipe export`")
    code = readme_block("export/denoiser.onnx")
    code = code.replace('"export/denoiser.onnx"', f'"export/{name}"')
    subprocess.run([sys.executable, "-c", BLOCK_IMPORTS + code], cwd=ROOT, check=True, timeout=120)


def readme_block(path: str) -> str:
    """The python block of export/README.md that opens ``path``."""
    readme = (ROOT / "export" / "README.md").read_text()
    (code,) = [c for c in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if path in c]
    return code


@pytest.mark.parametrize("steps", [None, 3])
def test_readme_inpainter_sampler_matches_mmpipe(tmp_path: Path, steps: int | None) -> None:
    """The README's numpy DDIM loop, run without torch or mmpipe, gives mmpipe's strip (with
    the file's default number of steps, and with 3, which runs the whole update)."""
    import numpy as np

    from mmpipe.runtime.inpainter import DEFAULT_STEPS, load_inpainter

    if not (ROOT / "export" / "inpainter.onnx").exists():
        pytest.skip("export/inpainter.onnx missing: run `mmpipe export`")
    code = readme_block("export/inpainter.onnx")
    if steps is not None:
        code = code.replace('int(meta["default_steps"])', str(steps))
    saved = tmp_path / "strip.npz"
    code += f"\nnp.savez({str(saved)!r}, strip=strip, known=known, out=out)\n"
    subprocess.run([sys.executable, "-c", BLOCK_IMPORTS + code], cwd=ROOT, check=True, timeout=120)
    result = np.load(saved)
    inpainter = load_inpainter("onnx", steps=steps or DEFAULT_STEPS)
    expected = inpainter.inpaint(result["strip"], result["known"])
    assert (result["out"][~result["known"]] != result["strip"][~result["known"]]).any()
    assert np.abs(result["out"].astype(int) - expected).max() <= 1
