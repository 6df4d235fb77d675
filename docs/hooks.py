"""MkDocs hook: the pages generated from the code, added to the build (``hooks:`` in mkdocs.yml).

Generated at build time rather than committed, so that no copy can go stale: the search-space
and command references come from ``sksearch.docs_reference`` (the schema's rule tables and the
argparse parser), and the benchmark write-up is ``benchmarks/RESULTS.md`` itself.
"""

from __future__ import annotations

import os

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages to the site's files."""
    from sksearch.docs_reference import pages

    generated = dict(pages())
    with open(os.path.join(ROOT, "benchmarks", "RESULTS.md"), encoding="utf-8") as f:
        generated["benchmarks/results.md"] = f.read()
    for path, text in generated.items():
        files.append(File.generated(config, path, content=text))
    return files
