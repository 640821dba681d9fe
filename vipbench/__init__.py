"""vipbench: evaluate region-level multimodal models on region benchmarks."""

__version__ = "0.1.0"
