#!/usr/bin/env bash
# Quickstart: fine-tune the real pretrained MiniLM (6 x 384 BERT) on Rotten Tomatoes review
# snippets, evaluate on the held-out test split, export a TF Serving SavedModel that takes
# raw text, and predict new sentences through it. A few minutes on 2 CPU cores.
#
#   ./quickstart.sh                      # everything into ./quickstart_out (replaced)
#   QUICKSTART_EPOCHS=2 ./quickstart.sh  # longer training, a little more accuracy
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup_env.sh
export PATH="$PWD/.venv/bin:$PATH" TF_CPP_MIN_LOG_LEVEL=2
OUT=${QUICKSTART_DIR:-quickstart_out}
EPOCHS=${QUICKSTART_EPOCHS:-1}
rm -rf "$OUT"
MINILM=$(python -c 'from bert_tf import corpora; print(corpora.minilm_path())')

echo "== 1/5 data: Rotten Tomatoes snippets (fixed de-duplicated split)"
bert-write-corpus --corpus=rotten_tomatoes --output_dir="$OUT/data"

echo "== 2/5 fine-tune MiniLM ($MINILM), $EPOCHS epoch(s), evaluating on validation"
bert-finetune --config_file=configs/finetune/rotten_tomatoes.json \
  --init_checkpoint="$MINILM" --epochs="$EPOCHS" \
  --train_file="$OUT/data/train.jsonl" --eval_file="$OUT/data/validation.jsonl" \
  --do_train --do_eval --log_every_n_steps=25 --model_dir="$OUT/run"

echo "== 3/5 evaluate on the test split"
bert-finetune --config_file=configs/finetune/rotten_tomatoes.json \
  --eval_file="$OUT/data/test.jsonl" --do_eval --model_dir="$OUT/run"

echo "== 4/5 export for TF Serving: $OUT/serving/rt_sentiment/1"
bert-export --model_dir="$OUT/run/export" --export_base="$OUT/serving" \
  --model_name=rt_sentiment

echo "== 5/5 predict raw sentences through the SavedModel"
bert-predict --saved_model="$OUT/serving/rt_sentiment/1" \
  --text="A warm, funny and beautifully acted film." \
  --text="Two hours of my life I will never get back." \
  --text="The plot is thin, but the performances carry it."
echo "Serve it: see serving/README.md (tensorflow/serving with --model_config_file=$OUT/serving/models.config)"
