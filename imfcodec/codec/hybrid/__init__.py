"""The hybrid mode (the default): each group's frames travel as a small AV1 base layer
(base_layer.py); --bitrate chooses the layer's shape once (first_pass.py) and each group's
CRF (rate_control.py); encode.py codes the groups, decode.py restores them with a hybrid
model, the same code on both sides so that the encoder's in-loop frames are the decoder's."""
