"""PNG figures of explanations for reports (matplotlib, headless Agg backend): the
words shaded by score above the attention heatmap of one layer and head.

    save_png("explain.png", results[0], layer=-1, head=0)
"""
import numpy as np


def save_png(path, result, layer=-1, head=None, dpi=110):
    """Writes one explanation as a PNG; returns `path`.

    Args:
        path: the file to write.
        result: one of `TaskModel.explain`'s results; its attention maps are drawn when
            it has them ("attention", from `attention=True`).
        layer: which layer's map (Python index; default the last).
        head: which head, or None for the mean over heads.
    """
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    attention = result.get("attention")
    scores = np.asarray(result["scores"], np.float32)
    n = len(result["words"])
    rows = 2 if attention is not None else 1
    width = max(6.0, 0.55 * max(n, len(result["tokens"]) if attention is not None else 0))
    fig = plt.figure(figsize=(min(width, 16), 1.6 + (5.5 if attention is not None else 0)),
                     dpi=dpi)
    grid = fig.add_gridspec(rows, 1, height_ratios=[1, 5][:rows] if rows == 2 else [1])
    ax = fig.add_subplot(grid[0])
    scale = float(np.max(np.abs(scores))) or 1.0
    ax.imshow(scores[None, :], cmap="RdYlGn", vmin=-scale, vmax=scale, aspect="auto")
    ax.set_xticks(range(n), result["words"], rotation=45, ha="right")
    ax.set_yticks([])
    for i, score in enumerate(scores):
        ax.text(i, 0, f"{score:+.2f}", ha="center", va="center", fontsize=8)
    ax.set_title(f"word attributions for {result['target']}", fontsize=10)
    if attention is not None:
        maps = np.asarray(attention)[layer]  # [N, T, T]
        heat = maps.mean(axis=0) if head is None else maps[head]
        ax = fig.add_subplot(grid[1])
        image = ax.imshow(heat, cmap="Blues", vmin=0.0, vmax=1.0)
        tokens = result["tokens"]
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=8)
        ax.set_yticks(range(len(tokens)), tokens, fontsize=8)
        which = "mean over heads" if head is None else f"head {head}"
        layer_number = layer if layer >= 0 else len(attention) + layer
        ax.set_title(f"attention, layer {layer_number}, {which} (row: query, column: key)",
                     fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
