"""The token mode, IMF as published: a keyframe per group (keyframes.py), one quantised,
entropy-coded token per frame (quantize.py), chosen in a closed loop that decodes every
frame and refreshes the keyframe where the reconstruction falls below --refresh-psnr
(encode.py); decode.py turns a group back into frames."""
