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
    readme = (ROOT / "export" / "README.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert '"export/denoiser.onnx"' in code
    code = code.replace('"export/denoiser.onnx"', f'"export/{name}"')
    subprocess.run([sys.executable, "-c", BLOCK_IMPORTS + code], cwd=ROOT, check=True, timeout=120)
