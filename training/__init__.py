"""Training for imfcodec: data, losses, the trainer (AMP, DDP) and export."""
