"""Rate–distortion benchmarking under the fixed test conditions (shared EVALUATION.md)."""
