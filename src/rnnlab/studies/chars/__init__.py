"""The chars study's library code (its pipeline: studies/chars/dvc.yaml)."""
