"""onnxruntime sessions that check the contract metadata embedded in each exported file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmpipe.errors import ModelError


class OnnxRunner:
    """An onnxruntime session on one exported model (CPU, ``threads`` intra-op threads).

    ``expect`` maps metadata keys to required values (e.g. ``{"model": "denoiser"}``); a file
    that lacks or contradicts them raises ``ModelError`` on load.
    """

    def __init__(
        self, path: Path | str, *, threads: int = 1, expect: dict[str, str] | None = None
    ) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"exported model {path} is missing: run `mmpipe export` to make it")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:
            raise ModelError(f"cannot load {path} ({error}); re-run `mmpipe export`") from error
        self.path = path
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        for key, value in (expect or {}).items():
            if self.metadata.get(key) != value:
                raise ModelError(
                    f"{path} has {key}={self.metadata.get(key)!r}, expected "
                    f"{value!r}: the file is stale or not this model; re-run "
                    "`mmpipe export`"
                )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; ``feeds`` by input name, result by output name."""
        values = self.session.run(self.output_names, feeds)
        return dict(zip(self.output_names, values, strict=True))
