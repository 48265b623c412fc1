"""The control plane: the moderator API (REST + event WebSocket), the overlay
page for an OBS browser source, Prometheus metrics, and ``ctl``, its client.

``protocol`` defines every request and response body once; the server
(``server``, ``feeds``) and the client (``client``, ``cli``) both use it.
Nothing here imports torch.
"""
