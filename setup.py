"""bert_tf: pretrain, fine-tune, export and serve BERT with TensorFlow and Keras 3."""
import setuptools

setuptools.setup(
    name="bert_tf",
    version="0.1.0",
    description="BERT for TensorFlow/Keras 3: pretraining, fine-tuning, export, serving.",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(include=["bert_tf", "bert_tf.*"])
    + ["bert_tf_tools", "bert_tf_serving"],
    # The design's layout keeps the absl binaries in tools/ and the TF Serving client in
    # serving/; they install as the packages bert_tf_tools and bert_tf_serving.
    package_dir={"bert_tf_tools": "tools", "bert_tf_serving": "serving"},
    package_data={"bert_tf": ["presets/*.json"]},
    install_requires=[
        "tensorflow==2.20.0",
        "tensorflow-text==2.20.*",
        "keras>=3.15,<3.16",
        "keras-hub==0.32.*",
        "absl-py>=2.1",
        "numpy>=1.26",
        "safetensors>=0.4",
        # TF Serving's protos: warmup records and models.config at export, the gRPC client.
        "tensorflow-serving-api==2.20.*",
        "requests>=2.28",  # the REST client
        "matplotlib>=3.8",  # bert-explain's PNG figures (bert_tf/explain/plot.py)
    ],
    extras_require={
        "test": [
            "pytest>=8",
            # The fast suite in two processes (run_tests.sh): most of its time is
            # single-threaded tracing and Python.
            "pytest-xdist>=3.5",
            # The layering contract of setup.cfg (tests/test_layers.py runs it).
            "import-linter==2.17",
            # Reference peer for parity tests and benchmarks; the CPU build of torch.
            "torch==2.13.0",
            "transformers>=4.40",
            "tokenizers>=0.19",
            "seqeval>=1.2",
            # bench/chinese.py's character n-gram baseline (and its miniature test).
            "scikit-learn>=1.4",
            # The embedding task's parity and search agreement with sentence-transformers
            # (tests/test_task_embedding.py, tests/test_retrieval.py, bench/retrieval.py).
            "sentence-transformers>=3.0",
            # bert_tf.retrieval's approximate (HNSW) and flat FAISS indexes under test.
            "faiss-cpu>=1.8",
            # DataFrames as fit / evaluate input (tests/test_classification_inputs.py); the
            # library itself knows a DataFrame by its attributes and needs no pandas.
            "pandas>=2.0",
            # bert-export --format=openvino and its tests (bert_tf/export/openvino.py);
            # bench/e2e.py's OpenVINO engines.
            "openvino==2026.4.*",
            "openvino-tokenizers==2026.4.*",
            # bert_tf.retrieval.beam's pipeline under the DirectRunner
            # (tests/test_retrieval_beam.py).
            "apache-beam>=2.60",
        ],
        # bert_tf.retrieval.beam: the index pipeline on a Beam runner (bert-index-beam);
        # imported only when it runs. Dataflow needs apache-beam[gcp] too.
        "beam": ["apache-beam>=2.60"],
        # bert_tf.retrieval's FAISS indexes for collections beyond in-memory exact search
        # (imported only when such an index is asked for).
        "search": ["faiss-cpu>=1.8"],
        # bert-export --format=openvino (bert_tf/export/openvino.py): OpenVINO converts the
        # model, openvino-tokenizers the tokenizer, from a transformers BertTokenizerFast
        # built on the model's vocab (hence transformers and tokenizers).
        "export": ["openvino==2026.4.*", "openvino-tokenizers==2026.4.*",
                   "transformers>=4.40", "tokenizers>=0.19"],
        # bench/pretrain.py reads Jane Austen from Debian's r-cran-janeaustenr (R data files);
        # bench/finetune.py's peft engine is HF PEFT's LoRA, beside bert_tf's;
        # bench/retrieval_scale.py: the Beam pipeline's throughput and the BM25 baseline.
        "bench": ["rdata", "peft>=0.11", "apache-beam>=2.60", "bm25s>=0.2"],
    },
    entry_points={
        "console_scripts": [
            "bert-build-vocab=bert_tf_tools.build_vocab:run",
            "bert-convert-checkpoint=bert_tf_tools.convert_checkpoint:run",
            "bert-write-corpus=bert_tf_tools.write_corpus:run",
            "bert-predict=bert_tf_tools.predict:run",
            "bert-finetune=bert_tf_tools.finetune:run",
            "bert-distill=bert_tf_tools.distill:run",
            "bert-create-pretraining-data=bert_tf_tools.create_pretraining_data:run",
            "bert-pretrain=bert_tf_tools.pretrain:run",
            "bert-export=bert_tf_tools.export:run",
            "bert-serving-client=bert_tf_serving.client:run",
            "bert-explain=bert_tf_tools.explain:run",
            "bert-index=bert_tf_tools.index:run",
            "bert-index-beam=bert_tf_tools.index_beam:run",
            "bert-search=bert_tf_tools.search:run",
        ],
    },
)
