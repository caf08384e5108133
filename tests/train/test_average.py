"""Averaging model folders: mmpipe.train.average."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from mmpipe.errors import ConfigError  # noqa: E402
from mmpipe.nets.denoiser import (  # noqa: E402
    Denoiser,
    DenoiserConfig,
    from_pretrained,
    save_pretrained,
)
from mmpipe.train.average import average_pretrained, main  # noqa: E402

TINY = DenoiserConfig(n_bands=16, hidden=16, n_layers=1, df_bins=16, df_order=2)


def _folder(root: Path, name: str, seed: int, config: DenoiserConfig = TINY) -> Path:
    torch.manual_seed(seed)
    model = Denoiser(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    save_pretrained(model, root / name)
    return root / name


def test_the_average_is_the_mean_of_the_weights(tmp_path: Path) -> None:
    folders = [_folder(tmp_path, f"step{i}", seed=i) for i in range(3)]
    main(["denoiser", *map(str, folders), "--out", str(tmp_path / "soup")])
    soup = from_pretrained(tmp_path / "soup").state_dict()
    sources = [from_pretrained(f).state_dict() for f in folders]
    for name, value in soup.items():
        expected = sum(s[name] for s in sources) / 3
        assert torch.allclose(value, expected, atol=1e-6), name
    record = json.loads((tmp_path / "soup" / "validation.json").read_text())
    assert record["averaged_from"] == [str(f) for f in folders]


def test_folders_of_different_configs_are_refused(tmp_path: Path) -> None:
    wider = DenoiserConfig(**{**TINY.__dict__, "hidden": 24})
    folders = [_folder(tmp_path, "a", 0), _folder(tmp_path, "b", 1, wider)]
    with pytest.raises(ConfigError, match="different configs"):
        average_pretrained("denoiser", folders)
