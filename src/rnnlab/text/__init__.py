"""Text to tensors: normalising and tokenizing, lemmas, preprocessing, vocabularies, features, batches."""
