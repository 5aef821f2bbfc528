"""A self-contained HTML page of explanations: each word shaded by its score, and the
attention maps as a heatmap per layer and head with a selector.

Everything is in the one file: inline CSS, the data as JSON, and a few lines of plain
JavaScript that draw the chosen heatmap on a <canvas> (no library, nothing fetched).

    write_html("explain.html", results)   # results: TaskModel.explain(..., attention=True)
"""
import html
import json

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
.example { margin-bottom: 2.5em; }
.text { font-size: 1.3em; line-height: 2em; }
.word { padding: 0.15em 0.2em; border-radius: 0.2em; }
.meta { color: #555; margin: 0.3em 0 0.8em; }
.legend span { padding: 0.1em 0.5em; margin-right: 0.5em; }
canvas { border: 1px solid #ccc; margin-top: 0.5em; }
"""

_SCRIPT = """
function drawMap(id) {
  const ex = EXPLANATIONS[id];
  const layer = +document.getElementById('layer' + id).value;
  const head = +document.getElementById('head' + id).value;
  const map = ex.attention[layer][head];
  const tokens = ex.tokens, n = tokens.length;
  const cell = Math.max(8, Math.min(28, Math.floor(560 / n))), margin = 90;
  const canvas = document.getElementById('map' + id);
  canvas.width = canvas.height = margin + n * cell + 4;
  const g = canvas.getContext('2d');
  g.fillStyle = '#fff'; g.fillRect(0, 0, canvas.width, canvas.height);
  g.font = Math.min(12, cell) + 'px sans-serif';
  for (let i = 0; i < n; i++) {
    g.fillStyle = '#222';
    g.textAlign = 'right'; g.fillText(tokens[i], margin - 4, margin + i * cell + cell * 0.8);
    g.save(); g.translate(margin + i * cell + cell * 0.8, margin - 4); g.rotate(-Math.PI / 2);
    g.textAlign = 'left'; g.fillText(tokens[i], 0, 0); g.restore();
    for (let j = 0; j < n; j++) {
      const v = Math.round(255 * (1 - map[i][j]));
      g.fillStyle = 'rgb(' + v + ',' + v + ',255)';
      g.fillRect(margin + j * cell, margin + i * cell, cell, cell);
    }
  }
}
window.onload = function () { EXPLANATIONS.forEach(function (ex, i) { if (ex.attention) drawMap(i); }); };
"""


def word_color(score, scale):
    """CSS background of a word: green for positive scores, red for negative, more
    opaque the larger |score| is relative to `scale` (the example's largest |score|)."""
    strength = 0.0 if scale <= 0 else min(1.0, abs(score) / scale)
    rgb = "0,160,60" if score >= 0 else "220,40,40"
    return f"rgba({rgb},{strength:.3f})"


def shaded_text(result):
    """HTML of the result's text with each explained word in a shaded <span> (title: its score);
    the characters between words are kept as they are."""
    text = result["text"]
    scale = max((abs(s) for s in result["scores"]), default=0.0)
    parts, at = [], 0
    for word, (start, end), score in zip(result["words"], result["spans"], result["scores"]):
        parts.append(html.escape(text[at:start]))
        parts.append(f'<span class="word" style="background:{word_color(score, scale)}" '
                     f'title="{score:+.4f}">{html.escape(text[start:end])}</span>')
        at = end
    parts.append(html.escape(text[at:]))
    return "".join(parts)


def page(results, title="Explanations"):
    """The page's HTML as a string; `results`: `TaskModel.explain`'s."""
    data, blocks = [], []
    for i, result in enumerate(results):
        attention = result.get("attention")
        data.append({"tokens": result["tokens"],
                     "attention": None if attention is None  # [L][N][T][T], 4 digits
                     else [[[[round(float(p), 4) for p in row] for row in head]
                            for head in layer] for layer in attention]})
        block = [f'<div class="example"><div class="text">{shaded_text(result)}</div>',
                 f'<div class="meta">target: {html.escape(result["target"])}; score '
                 f'{result["score"]:.4f}, baseline {result["baseline_score"]:.4f}; '
                 f'word scores sum to {sum(result["scores"]):.4f}</div>']
        if attention is not None:
            layers, heads = attention.shape[:2]
            options = lambda n: "".join(f'<option value="{k}">{k}</option>' for k in range(n))
            block.append(
                f'<div>attention: layer <select id="layer{i}" onchange="drawMap({i})">'
                f'{options(layers)}</select> head <select id="head{i}" '
                f'onchange="drawMap({i})">{options(heads)}</select> (row: query token, '
                f'column: key token)</div><canvas id="map{i}"></canvas>')
        block.append("</div>")
        blocks.append("".join(block))
    legend = ('<div class="legend"><span style="background:rgba(0,160,60,0.7)">for the '
              'target</span><span style="background:rgba(220,40,40,0.7)">against it</span>'
              '</div>')
    # "</" inside the JSON must not end the <script> element.
    data = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
            f'</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>'
            f'{legend}{"".join(blocks)}<script>const EXPLANATIONS = '
            f'{data};{_SCRIPT}</script></body></html>\n')


def write_html(path, results, title="Explanations"):
    """Writes `page(results, title)` to `path` (UTF-8); returns `path`."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(page(results, title))
    return path
