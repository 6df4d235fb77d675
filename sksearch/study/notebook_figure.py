"""A plotly figure that renders outside a live Jupyter front end too.

In a Jupyter kernel plotly renders a figure as its own JSON mimetype only, which only a live
Jupyter front end with plotly's extension draws: converted to HTML by nbconvert (or shown by
any other viewer) the figure is blank. ``NotebookFigure``, what ``sksearch.Study.plot_*``
return, adds a ``text/html`` rendering (plotly.js from its CDN) to that bundle, figure by
figure, without touching plotly's global renderer settings.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go


def _mimetype_renderers_only() -> bool:
    """Whether plotly's default renderers all answer with a mimetype bundle (a notebook's
    ``plotly_mimetype``, ``notebook``, ``png``...), none opening a browser or writing a file."""
    import plotly.io as pio
    from plotly.io._base_renderers import MimetypeRenderer

    default = pio.renderers.default
    return bool(default) and all(isinstance(pio.renderers[name], MimetypeRenderer) for name in default.split("+"))


class NotebookFigure(go.Figure):
    """A plotly figure whose notebook output also carries ``text/html``: plotly's own bundle
    (the JSON mimetype a live Jupyter front end draws) plus the figure as HTML with plotly.js
    from its CDN, which nbconvert's HTML and other viewers show."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, validate: bool = True,
                          **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(include, exclude, validate, **kwargs)
        if bundle is not None and "text/html" not in bundle and _mimetype_renderers_only():
            bundle["text/html"] = self.to_html(full_html=False, include_plotlyjs="cdn", default_width="100%",
                                               default_height=525, validate=False)
        return bundle

    def _ipython_display_(self) -> None:
        import plotly.io as pio

        # plotly's own display goes through its renderers, which would leave the HTML out.
        if not (pio.renderers.render_on_display and _mimetype_renderers_only()):
            super()._ipython_display_()
            return
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)


def for_notebook(fig: go.Figure) -> NotebookFigure:
    """``fig`` as a ``NotebookFigure`` (the same figure: data, layout and frames)."""
    return fig if isinstance(fig, NotebookFigure) else NotebookFigure(fig)
