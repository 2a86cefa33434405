"""`attnlab serve`: a local web lab on the learner's own runs and MiniLM.

store.py lists and opens the models (`attnlab.sources`; once, shared, one lock each), api.py
computes each panel's data with the functions the CLI uses, app.py is the Starlette app (routes,
limits, headers, errors), loopback.py tells this machine's host names apart, server.py binds and
runs it, assets/ holds the page, its script and its style. Nothing here imports `attnlab.cli`.
"""
