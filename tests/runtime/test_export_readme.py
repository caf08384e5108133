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


@pytest.mark.skipif(
    not (ROOT / "export" / "denoiser.onnx").exists(), reason="export/denoiser.onnx missing"
)
def test_readme_loop_runs_with_only_numpy_and_onnxruntime() -> None:
    readme = (ROOT / "export" / "README.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    subprocess.run([sys.executable, "-c", BLOCK_IMPORTS + code], cwd=ROOT, check=True, timeout=120)
