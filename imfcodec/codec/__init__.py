"""The codec pipeline: video in and out, keyframes, the base layer, tokens, encoder and decoder."""

import os

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its settings banner unless told: errors only
