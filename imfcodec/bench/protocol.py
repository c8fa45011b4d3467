"""The test conditions every rate–distortion number is measured under (EVALUATION.md)."""

PROTOCOL_FRAMES = 250  # the first 250 frames of each clip
PROTOCOL_SIZE = 256  # centre square, resized to 256²
