"""Training: the one loop, its objectives, checkpoints, metrics, tracking, evaluation and reports."""
