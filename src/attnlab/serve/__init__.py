"""`attnlab serve`: a local web lab on the learner's own runs and MiniLM.

store.py lists and loads the models (once, shared, one lock each), api.py computes each panel's
data with the functions the CLI uses, app.py is the Starlette app (routes, limits, headers),
server.py binds and runs it, assets/ holds the page, its script and its style.
"""

from attnlab.serve.store import ModelStore, RequestError

__all__ = ["ModelStore", "RequestError"]
