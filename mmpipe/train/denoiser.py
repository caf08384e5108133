"""Training recipe of the speech denoiser: ``mmpipe train denoiser --minutes N``.

Seeded and resumable: batch ``s`` is drawn from ``numpy.random.default_rng([seed, s])``, and a
checkpoint (weights, optimizer, step, elapsed time) is written every ``checkpoint_every_s``.
Every ``validate_every_s`` the model is scored on the fixed held-out validation set (PESQ wb,
STOI, SI-SDR, overall and per SNR) and a line goes to ``log.jsonl``; when the mean PESQ
improves, ``config.json`` + ``model.safetensors`` are written into ``out_dir``.

Loss: compressed multi-resolution STFT magnitude + complex loss (exponent 0.3, FFT sizes
384 and 1536, hop half the size) plus a small negative SI-SDR term, on the output aligned by
the model latency.

Usage::

    python -m mmpipe.train.denoiser --minutes 90 --out models/denoiser [--resume]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from mmpipe.train.denoiser_data import (
    DEFAULT_DATA_DIR,
    SAMPLE_RATE_HZ,
    ClipSet,
    Mixer,
    acquire,
    prepare,
    validation_set,
)
from mmpipe.train.runs import Training, add_run_options, import_torch, run_options
from mmpipe.train.speech_metrics import speech_scores

logger = logging.getLogger(__name__)

DEFAULT_WORK_DIR = Path.home() / ".cache" / "mmpipe" / "train" / "denoiser"


def spectral_loss(estimate, target, fft_sizes: tuple[int, ...] = (384, 1536), power: float = 0.3):
    """Compressed multi-resolution STFT loss of ``estimate``/``target`` ``[B, n]`` tensors."""
    torch = import_torch()
    total = estimate.new_zeros(())
    for n_fft in fft_sizes:
        window = torch.hann_window(n_fft, device=estimate.device)
        spec = [
            torch.stft(x, n_fft, n_fft // 2, window=window, return_complex=True)
            for x in (estimate, target)
        ]
        mags = [s.abs().clamp_min(1e-8) for s in spec]
        compressed = [m**power for m in mags]
        phase = [s / m for s, m in zip(spec, mags, strict=True)]
        total = total + (compressed[0] - compressed[1]).pow(2).mean()
        total = (
            total + 0.3 * (compressed[0] * phase[0] - compressed[1] * phase[1]).abs().pow(2).mean()
        )
    return total / len(fft_sizes)


def negative_si_sdr(estimate, target):
    """Mean negative SI-SDR in dB over the batch (``[B, n]`` tensors)."""
    torch = import_torch()
    target = target - target.mean(dim=1, keepdim=True)
    estimate = estimate - estimate.mean(dim=1, keepdim=True)
    scale = (estimate * target).sum(1, keepdim=True) / (target.pow(2).sum(1, keepdim=True) + 1e-8)
    projection = scale * target
    ratio = projection.pow(2).sum(1) / ((estimate - projection).pow(2).sum(1) + 1e-8)
    return -(10 * torch.log10(ratio + 1e-8)).mean()


def denoise_batch(model, noisy: np.ndarray) -> np.ndarray:
    """Run ``model`` over ``noisy [B, n]`` (48 kHz) and return the latency-aligned output."""
    torch = import_torch()
    latency = model.config.latency_samples
    hop = model.config.hop
    n = noisy.shape[1]
    padded = np.pad(noisy, ((0, 0), (0, -(-(n + latency) // hop) * hop - n)))
    with torch.no_grad():
        out, _ = model(torch.from_numpy(padded), model.initial_state(len(noisy)))
    return out.numpy()[:, latency : latency + n]


def evaluate(model, noisy: np.ndarray, clean: np.ndarray, snrs_db: np.ndarray) -> dict:
    """Mean PESQ wb / STOI / SI-SDR of ``model`` on the given set, overall and per SNR."""
    estimates = denoise_batch(model, noisy)
    rows = [speech_scores(e, c, SAMPLE_RATE_HZ) for e, c in zip(estimates, clean, strict=True)]
    return summarize(rows, snrs_db)


def summarize(rows: list[dict[str, float]], snrs_db: np.ndarray) -> dict:
    """Means of the score rows, overall and ``per_snr``."""
    keys = rows[0].keys()
    result = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    result["per_snr"] = {
        str(int(s)): {
            k: float(np.nanmean([r[k] for r, t in zip(rows, snrs_db, strict=True) if t == s]))
            for k in keys
        }
        for s in sorted(set(snrs_db.tolist()))
    }
    return result


def train(
    minutes: float,
    data_dir: Path = DEFAULT_DATA_DIR,
    out_dir: Path = Path("models/denoiser"),
    seed: int = 0,
    resume: bool = True,
    *,
    work_dir: Path = DEFAULT_WORK_DIR,
    threads: int = 1,
    batch: int = 16,
    segment_s: float = 3.0,
    learning_rate: float = 1e-3,
    checkpoint_every_s: float = 240.0,
    validate_every_s: float = 480.0,
    validation_count: int = 40,
    config=None,
    init_from: Path | None = None,
    digital_silence: float = 0.0,
    noise_onset: float = 0.0,
    keep_snapshots: bool = False,
) -> dict:
    """Train (or continue training) the denoiser for ``minutes`` of wall time.

    ``data_dir`` is either a folder with ``speech/`` and ``noise/`` subfolders of audio
    files (speakers as subfolders of ``speech/``), or the cache of the Debian corpus, which
    is fetched and prepared on first use (``mmpipe.train.denoiser_data``; needs apt);
    ``out_dir`` receives the best weights; ``work_dir`` the checkpoint and ``log.jsonl``.
    With ``resume`` an existing checkpoint is continued (same seed -> same batches). The
    learning rate follows a cosine over the total training time, ``minutes`` included.
    ``config`` (a ``DenoiserConfig``) selects the variant of a new run; ``init_from`` (a
    model folder: config.json + model.safetensors) warm-starts a new run from trained
    weights (``mmpipe.nets.denoiser.warm_start``: e.g. a look-ahead variant from the causal
    model); both are ignored when a checkpoint is resumed. ``digital_silence`` is the share of
    training mixtures with a span of exact zeros (``Mixer.p_digital_silence``),
    ``noise_onset`` the share whose noise starts mid-mixture (``Mixer.p_noise_onset``).
    Validation scores two fixed sets of held-out mixtures: the standard one (noise from the
    first sample) and one whose noises all start mid-mixture (``noise_onset``); the best
    weights are those with the best mean PESQ of the two. ``keep_snapshots`` keeps every
    checkpoint's weights (``Training``) for ``mmpipe.train.average``.
    Returns the last validation scores.
    """
    torch = import_torch()
    from mmpipe.nets.denoiser import (
        Denoiser,
        DenoiserConfig,
        from_pretrained,
        save_pretrained,
        warm_start,
    )

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    own = [data_dir / "speech", data_dir / "noise"]
    if all(d.is_dir() for d in own):  # the user's own folders of audio files
        prepared = prepare(data_dir, [own[0]], [own[1]])
    else:
        if not (data_dir / "prepared" / "index.json").exists():
            acquire(data_dir)  # first run: fetch the Debian packages (about 500 MB)
        prepared = prepare(data_dir)
    mixer = Mixer(
        ClipSet(prepared, "speech_train"),
        ClipSet(prepared, "noise_train"),
        p_digital_silence=digital_silence,
        p_noise_onset=noise_onset,
    )
    val_noisy, val_clean, val_snrs = validation_set(prepared, count=validation_count)
    onset_noisy, onset_clean, onset_snrs = validation_set(
        prepared, count=validation_count, noise_onset=True
    )

    model = Denoiser(config or DenoiserConfig())
    if init_from is not None:
        fresh = warm_start(model, from_pretrained(Path(init_from)).state_dict())
        logger.info("warm start from %s; new parameters: %s", init_from, fresh or "none")
    training = Training(
        work_dir,
        out_dir,
        save_pretrained,
        seed=seed,
        resume=resume,
        best_key="best_mean_pesq",  # of the standard and the noise-onset sets
        keep_snapshots=keep_snapshots,
    )
    model = training.start(model, learning_rate=learning_rate, minutes=minutes)
    latency = model.config.latency_samples
    n = int(segment_s * SAMPLE_RATE_HZ) // model.config.hop * model.config.hop

    def train_step(step: int, progress: float) -> tuple:
        noisy, clean = mixer.batch(np.random.default_rng([seed, step]), batch, n)
        noisy_t, clean_t = torch.from_numpy(noisy), torch.from_numpy(clean)
        scale = noisy_t.pow(2).mean(dim=1, keepdim=True).sqrt() + 1e-5
        out, _ = model(noisy_t, model.initial_state(batch))
        estimate = out[:, latency:] / scale
        target = clean_t[:, :-latency] / scale
        return spectral_loss(estimate, target) + 0.002 * negative_si_sdr(estimate, target), {}

    def both_sets() -> dict:
        """Scores on the standard set, with the noise-onset set's under ``noise_onset``."""
        scores = evaluate(model, val_noisy, val_clean, val_snrs)
        scores["noise_onset"] = evaluate(model, onset_noisy, onset_clean, onset_snrs)
        return scores

    def validation_scores() -> tuple[dict, float]:
        scores = both_sets()
        logger.info(
            "step %d: PESQ %.3f STOI %.3f SI-SDR %.2f dB; noise onset: PESQ %.3f STOI %.3f",
            training.step,
            scores["pesq_wb"],
            scores["stoi"],
            scores["si_sdr_db"],
            scores["noise_onset"]["pesq_wb"],
            scores["noise_onset"]["stoi"],
        )
        return scores, (scores["pesq_wb"] + scores["noise_onset"]["pesq_wb"]) / 2

    if training.step == 0:
        training.log({"noisy_input": evaluate_identity(val_noisy, val_clean, val_snrs)})
        if init_from is not None:  # the starting point, for the record
            model.eval()
            training.log(
                {
                    "step": 0,
                    "elapsed_min": 0.0,
                    "init_from": str(init_from),
                    "validation": both_sets(),
                }
            )
    return training.run(
        train_step,
        validation_scores,
        warmup_steps=200,
        validate_every_s=validate_every_s,
        checkpoint_every_s=checkpoint_every_s,
    )


def evaluate_identity(noisy: np.ndarray, clean: np.ndarray, snrs_db: np.ndarray) -> dict:
    """Scores of the unprocessed noisy input (the floor any denoiser must beat)."""
    rows = [speech_scores(x, c, SAMPLE_RATE_HZ) for x, c in zip(noisy, clean, strict=True)]
    return summarize(rows, snrs_db)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the mmpipe speech denoiser.")
    add_run_options(
        parser,
        data_dir=DEFAULT_DATA_DIR,
        out_dir=Path("models/denoiser"),
        work_dir=DEFAULT_WORK_DIR,
    )
    parser.add_argument(
        "--config",
        help="JSON of DenoiserConfig fields for a new run, e.g. '{\"lookahead\": 2}'",
    )
    parser.add_argument("--init-from", type=Path, help="model folder to warm-start a new run")
    parser.add_argument("--batch", type=int, default=16, help="mixtures per training step")
    parser.add_argument(
        "--keep-snapshots",
        action="store_true",
        help="keep each checkpoint's weights in WORK/snapshots/ (for mmpipe.train.average)",
    )
    parser.add_argument(
        "--noise-onset",
        type=float,
        default=0.0,
        help="share of training mixtures whose noise starts mid-mixture",
    )
    parser.add_argument(
        "--digital-silence",
        type=float,
        default=0.0,
        help="share of training mixtures with a 0.1-1 s span of exact zeros",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(
        args.minutes,
        **run_options(args),
        batch=args.batch,
        config=_config(args.config),
        init_from=args.init_from,
        digital_silence=args.digital_silence,
        noise_onset=args.noise_onset,
        keep_snapshots=args.keep_snapshots,
    )


def _config(text: str | None):
    """A ``DenoiserConfig`` from a JSON object of overrides (``None`` -> the default)."""
    if text is None:
        return None
    from mmpipe.nets.denoiser import DenoiserConfig

    return DenoiserConfig(**json.loads(text))


if __name__ == "__main__":
    main()
