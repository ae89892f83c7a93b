"""FID and KID for the generator, with the paper's protocol (§7) and the standard TF-FID Inception. See docs/fid.md.

Public API::

    from fid import load_feature_extractor, FeatureStatistics, fid_from_statistics, kernel_inception_distance
    from fid import compare_sources, real_statistics, evaluate_generator, EvaluationOptions, FIDError, real_floor

    extractor = load_feature_extractor("tf")              # images (B,3,H,W) [0,1] -> (B,2048) features
    compare_sources("dir_a", "dir_b", extractor).fid      # image folders, collections or .npz statistics files
    real_floor("datasets/toycars", n=500, seed=0, extractor=extractor)["fid"]   # real-vs-real floor at 500 vs 500
    evaluate_generator(model, "datasets/toycars", extractor, EvaluationOptions(num_samples=1000)).result

CLI: ``python -m fid.evaluate`` (and ``python -m backend.generate --evaluate``).
"""
from fid.comparison import FIDResult, compare_sources, compare_statistics
from fid.errors import FIDError
from fid.evaluation import Evaluation, EvaluationOptions, evaluate_generator
from fid.features import extract_features, folder_statistics
from fid.floor import real_floor
from fid.inception import FeatureExtractor, load_feature_extractor, locate_tf_fid_weights, locate_torchvision_weights
from fid.real import RealStatistics, RealStatsOptions, real_statistics
from fid.sources import Source, inspect_source
from fid.statistics import (FeatureStatistics, KIDEstimate, fid_from_statistics, frechet_distance,
                            kernel_inception_distance, kid_estimate)

__all__ = [
    "Evaluation", "EvaluationOptions", "FIDError", "FIDResult", "FeatureExtractor", "FeatureStatistics",
    "KIDEstimate", "RealStatistics", "RealStatsOptions", "Source", "compare_sources", "compare_statistics",
    "evaluate_generator", "extract_features", "fid_from_statistics", "folder_statistics", "frechet_distance",
    "inspect_source", "kernel_inception_distance", "kid_estimate", "load_feature_extractor",
    "locate_tf_fid_weights", "locate_torchvision_weights", "real_floor", "real_statistics",
]
