r"""Clients for bert_tf models served by TF Serving (installed as `bert_tf_serving`).

    from bert_tf_serving.rest import RestClient
    from bert_tf_serving.grpc_client import GrpcClient

    rest = RestClient("127.0.0.1", 8501)
    rest.predict("rt_sentiment", {"text": ["a fine film"]})         # "inputs" (columnar)
    # -> {"label": ["fresh"], "label_id": [1], "probabilities": [[0.1, 0.9]]}
    rest.predict("rt_sentiment", [{"text": "a fine film"}])         # "instances" (rows)
    # -> [{"label": "fresh", "label_id": 1, "probabilities": [0.1, 0.9]}]

    with GrpcClient("127.0.0.1", 8500) as grpc_client:
        grpc_client.predict("rt_sentiment", {"text": ["a fine film"]}, version=2)
        # -> {"label": array([b"fresh"]), "label_id": array([1]), ...} (numpy arrays)

    bert-serving-client --model=rt_sentiment --text="a fine film" --protocol=grpc

REST (`rest.py`): POST /v1/models/<model>[/versions/<v>]:predict. gRPC
(`grpc_client.py`): tensorflow.serving PredictionService/Predict (needs
`tensorflow-serving-api`). Every call has a timeout; a server that is UNAVAILABLE
(starting, overloaded: a full batching queue, or not listening yet) is retried a bounded
number of times with exponential backoff (`retry.py`). Errors (`errors.py`) name what was
wrong: `ModelNotFoundError` (model or version not served), `SignatureNotFoundError`,
`InvalidRequestError` (inputs the model rejects: wrong dtype, empty text, ...),
`ServerUnavailableError` (still unavailable after the retries).

`client.py` is the bert-serving-client binary, `predictor.py` runs an export in process
(bert-predict's library), and `inputs.py` reads the request inputs both binaries take.
"""
import os

# TF's oneDNN CPU kernels, as `import bert_tf` asks for them (see bert_tf/__init__.py): the
# Predictor runs an exported model at the speed it had in process. TF reads the variable
# when it is imported, which `bert_tf_serving.predictor` does after this.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
