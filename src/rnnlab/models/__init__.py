"""Networks: recurrent cells, the text classifier, the character language model, embeddings, sampling."""
