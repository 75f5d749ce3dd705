"""The tagger study's library code (its pipeline: studies/tagger/dvc.yaml)."""
