"""Using trained models: predictions on raw text, MLflow pyfunc models, the review report."""
