"""The real images' FID statistics written beside a pseudo-GT folder (§1.3), whichever way it was exported.

``DIR/precomputed_fid_299x299.npz`` (the original's name and layout, ``fid.statistics``): Inception statistics of
every record's masked 299² crop, the unfiltered image set of the §7 protocol, so that FID during GAN training
compares against the same images the original did.
"""
from __future__ import annotations

from pathlib import Path

FID_STATS_NAME = "precomputed_fid_299x299.npz"


def fid_statistics(collection, path: Path, progress: bool = False) -> Path:
    """Compute and save the statistics of every record of ``collection`` (a ``dataformat.Collection``) to ``path``.

    progress: show the fid package's own progress bar. Returns ``path``.
    """
    from fid import load_feature_extractor
    from fid.real import RealStatsOptions, compute_real_statistics

    stats = compute_real_statistics(collection.records, load_feature_extractor("tf"), RealStatsOptions(),
                                    progress=progress)
    stats.save(path)
    return path
