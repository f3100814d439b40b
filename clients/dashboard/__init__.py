"""``mgrid-dashboard``: the microgrid's market in a browser, followed live.

A small HTTP server (``server``) answers a JSON API built from the chain's
queries (``views``) and serves the single-page app in ``static/``; a
``follower`` holds a websocket to CometBFT and pushes every new block to the
page as a Server-Sent Event. The browser never talks to CometBFT itself.
The API and the page are described in docs/dashboard.md.
"""
