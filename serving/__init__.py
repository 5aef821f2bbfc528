"""Clients for bert_tf models served by TF Serving (installed as `bert_tf_serving`)."""
import os

# TF's oneDNN CPU kernels, as `import bert_tf` asks for them (see bert_tf/__init__.py): the
# Predictor runs an exported model at the speed it had in process. TF reads the variable
# when it is imported, which `bert_tf_serving.predictor` does after this.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
