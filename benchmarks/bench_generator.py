"""Generator speed on this machine: time per sample, optimised inference form vs the plain eager network.

Baseline: the training-form ``Generator`` in eval mode (spectral norm recomputed from weight_orig/u/v on
every call, batch norm + separate gamma/beta layers, explicit upsampling), i.e. the original network run
as-is. Candidates: ``fold_generator`` output in fp32 (NCHW and channels-last; the latter is what
``load_model`` returns) and bf16 channels-last. Folded modules run CPU batches in chunks (one sample for the paper model).
All variants are timed interleaved in the same run (min over repeats) so the ratios survive a busy machine.

Weights: seeded random init with batch-norm statistics calibrated on real train-mode batches and a
non-zero mesh head, so activations have trained-like scales and the bf16 error figure means something
(an uncalibrated random network saturates tanh and makes every error look like 0 or 2).

Run: ``python -m benchmarks.bench_generator`` (table) or via ``make bench`` (JSON).
"""
from __future__ import annotations

import time
from typing import Callable

import torch

from backend.models import PRESETS, Generator, GeneratorConfig, fold_generator

REFERENCE = {  # the original implementation on this kind of machine (issue 2), 2 threads, fp32
    "paper_b1_s_per_sample": 0.45, "paper_b8_s_per_sample": 0.97, "gflop_per_sample": 66.6,
    "fp32_floor_s_per_sample": 0.22, "target_b1_s_per_sample": 0.25,
}
CASES = (("paper", 1), ("paper", 8), ("small", 1), ("small", 8))


def calibrated_generator(config: GeneratorConfig, seed: int = 0) -> Generator:
    """Seeded generator whose BN running stats come from two train-mode batches (trained-like scales)."""
    torch.manual_seed(seed)
    generator = Generator(config)
    with torch.no_grad():
        generator.conv_mesh.weight.normal_(0, 0.02)
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None
        generator.train()
        for _ in range(2):
            generator(torch.randn(4, config.latent_dim))
    return generator.eval()


def _time(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(config_name: str, batch: int, repeats: int) -> dict:
    config = PRESETS[config_name]
    generator = calibrated_generator(config)
    variants = {
        "eager_fp32": generator,
        "folded_fp32": fold_generator(generator),
        "folded_fp32_channels_last": fold_generator(generator, channels_last=True),
        "folded_bf16_channels_last": fold_generator(generator, channels_last=True, dtype=torch.bfloat16),
    }
    z = torch.randn(batch, config.latent_dim, generator=torch.Generator().manual_seed(1))
    times = {name: [] for name in variants}
    with torch.inference_mode():
        reference = generator(z)
        errors = {}
        for name, module in variants.items():
            texture, displacement = module(z)  # also the warm-up call
            errors[name] = {
                "texture_max_abs": float((texture - reference[0]).abs().max()),
                "texture_mean_abs": float((texture - reference[0]).abs().mean()),
                "displacement_max_abs": float((displacement - reference[1]).abs().max()),
            }
        for _ in range(repeats):
            for name, module in variants.items():
                times[name].append(_time(lambda: module(z)))
    per_sample = {name: min(t[0] for t in ts) / batch for name, ts in times.items()}
    cpu_per_sample = {name: min(t[1] for t in ts) / batch for name, ts in times.items()}
    base = per_sample["eager_fp32"]
    return {
        "config": config_name, "batch": batch, "repeats": repeats,
        "s_per_sample": {k: round(v, 4) for k, v in per_sample.items()},
        "speedup_vs_eager": {k: round(base / v, 2) for k, v in per_sample.items()},
        # CPU time (all threads) is far less sensitive than wall time to other processes on the machine
        "cpu_s_per_sample": {k: round(v, 4) for k, v in cpu_per_sample.items()},
        "cpu_speedup_vs_eager": {k: round(cpu_per_sample["eager_fp32"] / v, 2) for k, v in cpu_per_sample.items()},
        "error_vs_eager": errors,
    }


def main() -> dict:
    results = [measure(name, batch, repeats=(3 if batch == 1 else 2) if name == "paper" else 5)
               for name, batch in CASES]
    return {"threads": torch.get_num_threads(), "torch": torch.__version__, "reference": REFERENCE,
            "cases": results}


def print_table(result: dict) -> None:
    print(f"generator time per sample (s), torch {result['torch']}, {result['threads']} threads")
    header = (f"{'case':<10}{'variant':<28}{'s/sample':>10}{'speed-up':>10}{'cpu s':>9}{'cpu x':>8}"
              f"{'tex max err':>13}{'tex mean err':>14}")
    print(header)
    for case in result["cases"]:
        label = f"{case['config']} b{case['batch']}"
        for name, seconds in case["s_per_sample"].items():
            err = case["error_vs_eager"][name]
            print(f"{label:<10}{name:<28}{seconds:>10.4f}{case['speedup_vs_eager'][name]:>9.2f}x"
                  f"{case['cpu_s_per_sample'][name]:>9.4f}{case['cpu_speedup_vs_eager'][name]:>7.2f}x"
                  f"{err['texture_max_abs']:>13.2e}{err['texture_mean_abs']:>14.2e}")
    ref = result["reference"]
    print(f"reference (original, same kind of machine): {ref['paper_b1_s_per_sample']} s b1, "
          f"{ref['paper_b8_s_per_sample']} s b8; target <= {ref['target_b1_s_per_sample']} s at b1")


if __name__ == "__main__":
    print_table(main())
