"""How every bert_tf binary starts and fails: `run(main)` is absl's `app.run(main)`, except
that an error in what the user gave (a bad flag value, a missing or malformed file: a
ValueError or OSError, whose messages name the file, line, flag or value) is printed as
one line, `bert-finetune: error: ...`, with exit status 2, instead of under a traceback.
Other exceptions are bugs and keep their traceback; BERT_TF_TRACEBACK=1 shows it for
every error.

Imports only the standard library and absl: `bert-predict` stays free of bert_tf.
"""
import os
import sys

from absl import app, flags

USER_ERRORS = (ValueError, OSError)
# Where the training binaries (bert-finetune, bert-distill) put, inside --model_dir, the
# saved task model and the evaluation metrics.
EXPORT_DIR = "export"
EVAL_RESULTS_FILE = "eval_results.json"


def require(flag_name, purpose):
    """A usage error unless flag `flag_name` has a value (after any --config_file)."""
    if not flags.FLAGS[flag_name].value:
        raise app.UsageError(f"--{flag_name} is required for {purpose}")


def run(main):
    """`app.run(main)` with one-line messages for `USER_ERRORS`."""
    def checked_main(argv):
        try:
            return main(argv)
        except USER_ERRORS as e:
            if os.environ.get("BERT_TF_TRACEBACK"):
                raise
            program = os.path.basename(sys.argv[0]) if sys.argv else "bert_tf"
            if program in ("__main__.py", "-m", "-c") or program.endswith(".py"):
                program = "bert_tf"
            print(f"{program}: error: {e}", file=sys.stderr)
            sys.exit(2)

    app.run(checked_main)
