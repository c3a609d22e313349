"""The code MLflow runs to load a logged pick (MLflow's "models from code"): the bundle served as a pyfunc model.

MLflow copies this file into the logged model and runs it on `mlflow.pyfunc.load_model` and `mlflow models
serve`; nothing of the model is pickled. It needs only the autosearch package installed where it loads.
"""

from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


class BundleModel(PythonModel):
    """`predict` gives what `autosearch predict` writes: `prediction`, and `proba_<class>` for classifiers."""

    # The input schema is the signature logged with the model (a table, or an array of images or series), not
    # type hints: MLflow's check of them, and its warning that there are none, are not for this model.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        from autosearch.serving.bundle import Bundle

        self.bundle = Bundle.load(context.artifacts["bundle"])

    def predict(self, context, model_input, params=None):
        return self.bundle.predict(model_input)


set_model(BundleModel())
