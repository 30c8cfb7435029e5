"""Renderers of the report object: text, JSON, CSV, HTML.

Each takes the plain dict that :func:`geomkit.report.assemble` returns and only formats it:
no tensor is read and nothing is measured here.

- :func:`geomkit.render.text.render` -> str (80 columns; ``detail=True`` adds per-layer tables)
- :func:`geomkit.render.json.render` -> str
- :func:`geomkit.render.csv.write` (directory) -> list of files written
- :func:`geomkit.render.html.render` -> str (one self-contained page; needs matplotlib)
"""
