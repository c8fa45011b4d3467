"""imf-small-v2: the imf-small-v1 run continued with identity same-frame pairs.

v1 (small_cpu with same_frame_identity=False, clean_ref_prob=0) learnt to re-sharpen
every keyframe-codec reference, also at distance 0, so the keyframe rebuilt from itself
fell to 33-34 dB. This continues from its last checkpoint (`--init-from RUN`) with a
fresh optimiser and the `small` preset's correction gate: distance-0 pairs ask for the
reference itself back, a tenth of the references are clean frames, the curriculum and
rate term are on from the first step. The learning rate is low: a first try at 1e-4
fell below the freeze-frame codec on dev by step 500 (docs/TRAINING.md).
"""

from training.config import TrainConfig

RECIPE = TrainConfig(
    preset="small",
    steps=2200,
    batch_size=4,
    lr=4e-5,
    warmup_steps=100,
    max_distance=100,
    curriculum_start=100,
    curriculum_steps=0,
    same_frame_prob=0.15,
    same_frame_identity=True,
    clean_ref_prob=0.1,
    lambda_perceptual=0.5,
    lambda_gan=0.0,
    lambda_rate=1e-4,
    val_every=250,
    val_frames=120,
    checkpoint_every=250,
    image_every=500,
)
