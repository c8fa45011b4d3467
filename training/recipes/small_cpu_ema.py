"""`small_cpu` from scratch with the correction gate (now in the `small` preset) and an
exponential moving average of the weights, on a schedule that ends where v1 stopped.
imf-small-v1's dev PSNR swung by tenths of a dB between checkpoints 250 steps apart; the
average is validated beside the live weights and is what `imfcodec export` writes.
"""

from imfcodec.training.recipes.small_cpu import RECIPE as SMALL_CPU

RECIPE = SMALL_CPU.with_overrides(steps=2500, ema_decay=0.998)
