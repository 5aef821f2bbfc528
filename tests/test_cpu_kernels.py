"""`import bert_tf` (and the serving package) turn on TF's oneDNN CPU kernels, which TF
leaves off by default on CPUs without AVX-512, unless the user chose otherwise."""
import os
import subprocess
import sys

import pytest

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


@pytest.mark.parametrize("module", ["bert_tf", "bert_tf_serving.predictor"])
@pytest.mark.parametrize("setting, enabled", [(None, True), ("0", False)])
def test_import_turns_on_onednn_unless_told_not_to(module, setting, enabled):
    env = {name: value for name, value in os.environ.items() if name != VARIABLE}
    if setting is not None:
        env[VARIABLE] = setting
    code = (f"import {module}\n"
            "from tensorflow.python.util import _pywrap_util_port\n"
            "print('oneDNN', _pywrap_util_port.IsMklEnabled())\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert f"oneDNN {enabled}" in result.stdout.splitlines()
