"""Files and corpora: atomic writes, the corpus registry, downloads, reading and splitting raw data."""
