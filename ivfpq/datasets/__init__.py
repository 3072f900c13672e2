"""Datasets: synthetic SIFT-like data, TEXMEX and ann-benchmarks files, the offline text corpus
embedded with MiniLM, exact ground truth, all cached under the user's cache directory."""
from .dataset import Dataset, load_dataset

__all__ = ["Dataset", "load_dataset"]
