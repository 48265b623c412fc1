"""The control plane: the moderator API (REST + event WebSocket), the overlay
page for an OBS browser source, Prometheus metrics, and ``ctl``, its client.

``protocol`` defines every request and response body once; the server
(``server``, ``feeds``) and the client (``client``, ``cli``) both use it.
The server reaches the daemon only through its
:class:`~ishowtts_live.controls.Controls`; nothing here imports the pipeline,
an engine or torch.
"""
