"""The tasks: TF-IDF baseline, model zoo, surnames, character LM, memory probe."""
