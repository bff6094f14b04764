"""The framework-neutral training loop and what it needs: the trainer, its checkpoints and snapshots,
the curriculum, augmentations, the tau classifier, streamed predictions, forks."""
