"""The imdb study's library code (its pipeline: studies/imdb/dvc.yaml)."""
