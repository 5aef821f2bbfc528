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

from absl import app

USER_ERRORS = (ValueError, OSError)


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
