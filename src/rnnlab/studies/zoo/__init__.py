"""The zoo study's library code (its pipeline: studies/zoo/dvc.yaml)."""
