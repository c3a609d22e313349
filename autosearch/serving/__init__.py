"""A fitted pick, served: the bundle folder and its safe files (`bundle`, `safe_files`), the same bundle as an
MLflow Model (`mlflow_model`, with the code MLflow runs to load it, `pyfunc_model`), and what the pick relies on
(`inspection`). Nothing here searches or trains: the scikit-learn estimators, which fit, sit above it
(`autosearch.estimator`)."""
