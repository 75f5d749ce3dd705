"""The pretraining study's library code (its pipeline: studies/pretraining/dvc.yaml)."""
