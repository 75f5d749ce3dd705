"""The tune study's library code (its pipeline: studies/tune/dvc.yaml)."""
