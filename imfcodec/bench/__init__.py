"""Rate–distortion benchmarking under the fixed test conditions (EVALUATION.md)."""
