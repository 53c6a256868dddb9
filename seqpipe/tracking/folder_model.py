"""The pyfunc that every registered seqpipe model is, logged as code (MLflow's "models from
code"): loading a registered model runs this file, it never unpickles a Python object.

It serves a stage's output folder through the predictor its manifest names, with that
predictor's `predict` (NER: entities as JSON; LM: log P(text); translation: translations;
speech: transcripts of audio paths; embeddings: one vector per word). The seqpipe package
travels with it as code, so `mlflow.pyfunc.load_model` works wherever torch is installed.
"""
import mlflow.models
import mlflow.pyfunc
import pandas as pd


class FolderModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from seqpipe.core.predictor import load_predictor

        self.model = load_predictor(context.artifacts["model"])

    # inputs come as the signature's one-column frame (strings); the predictor checks them
    def predict(self, context, model_input: pd.DataFrame, params=None):
        inputs = list(model_input.iloc[:, 0]) if hasattr(model_input, "iloc") else list(model_input)
        return self.model.predict(inputs)


mlflow.models.set_model(FolderModel())
