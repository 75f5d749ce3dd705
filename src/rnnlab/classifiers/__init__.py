"""The model families the main pipeline trains, evaluates, registers and serves: TF-IDF and the n-gram classifier
here, the recurrent classifier in `rnnlab.models.classifier`."""
