"""Splits, metrics and side-by-side evaluation of recommenders."""

from .evaluate import EvaluationResult, evaluate
from .split import BUCKETS, Split, make_split, select_buckets

__all__ = ["BUCKETS", "EvaluationResult", "Split", "evaluate", "make_split", "select_buckets"]
