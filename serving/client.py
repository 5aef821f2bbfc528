r"""bert-serving-client: sends texts to a model served by TF Serving and prints the
outputs as JSON.

    bert-serving-client --model=rt_sentiment --text="a fine film" --protocol=grpc
    bert-serving-client --model=squad --input=question="Who designed it?" \
      --input=context="The tower was designed by Gustave Eiffel's company."
    bert-serving-client --model=rt_sentiment --signature=explain --text="Dull." \
      --int_input=label_id=-1
    bert-serving-client --model=squad_docs --input=question="Who designed the tower?"

The inputs are those of bert-predict (`inputs.py`); the calls are `RestClient`'s
(`rest.py`, the default) or `GrpcClient`'s (`grpc_client.py`). A server error prints
`error: ...` and exits with status 1.
"""
import json
import sys

from absl import app, flags

from .errors import ServingError
from .grpc_client import GrpcClient
from .inputs import InputError, define_input_flags, request_inputs
from .protocol import (DEFAULT_GRPC_PORT, DEFAULT_HOST, DEFAULT_REST_PORT, DEFAULT_SIGNATURE,
                       jsonable)
from .rest import RestClient
from .retry import RetryPolicy


def _define_flags():
    flags.DEFINE_string("model", None, "Model name on the server.", required=True)
    define_input_flags()
    flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "API to call.")
    flags.DEFINE_string("host", DEFAULT_HOST, "Server address.")
    flags.DEFINE_integer("port", None, f"Server port (default {DEFAULT_REST_PORT} for "
                         f"REST, {DEFAULT_GRPC_PORT} for gRPC).")
    flags.DEFINE_integer("version", None, "Model version (default: the newest served).")
    flags.DEFINE_string("signature", DEFAULT_SIGNATURE, "Signature name.")
    flags.DEFINE_enum("form", "inputs", ["inputs", "instances"],
                      "REST request form: columnar 'inputs' or row 'instances'.")
    flags.DEFINE_float("timeout", 10.0, "Seconds a call may take in all (the whole reply, "
                       "retries included); > 0.")
    # Checked at flag parsing: a usage error naming the flag, before any request.
    flags.register_validator("timeout", lambda seconds: seconds > 0,
                             message="must be a number of seconds > 0")
    flags.DEFINE_integer("attempts", 4, "Tries in all while the server is UNAVAILABLE.",
                         lower_bound=1)


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    try:
        inputs = request_inputs(FLAGS.text, FLAGS.text_b, FLAGS.input, FLAGS.int_input)
    except InputError as e:
        raise app.UsageError(str(e)) from None
    retry = RetryPolicy(attempts=FLAGS.attempts)
    if FLAGS.protocol == "rest":
        client = RestClient(FLAGS.host, FLAGS.port or DEFAULT_REST_PORT, FLAGS.timeout, retry)
        if FLAGS.form == "instances":
            inputs = [dict(zip(inputs, row)) for row in zip(*inputs.values())]
    else:
        client = GrpcClient(FLAGS.host, FLAGS.port or DEFAULT_GRPC_PORT, FLAGS.timeout, retry)
    with client:
        try:
            outputs = client.predict(FLAGS.model, inputs, FLAGS.version, FLAGS.signature)
        except ServingError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    print(json.dumps(jsonable(outputs), indent=2, ensure_ascii=False))
    return 0


def run():
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
