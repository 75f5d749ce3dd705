"""rnnlab: recurrent text classifiers from public Russian corpora, as a DVC pipeline (dvc.yaml) and studies."""


class UserError(Exception):
    """A mistake in what the user gave: a params file, a corpus, a checkpoint, a setting whose training diverges.

    Its message names the file, row or key at fault, so a stage prints it as one line and no traceback
    (`rnnlab.process.run_stage`); any other exception is a bug and keeps its traceback.
    """
