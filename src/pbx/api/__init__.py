"""The HTTP face of the inventory: a JSON API and a web page, built by ``create_app``.

Nothing here opens sockets or databases; the wiring (``pbx.app``) hands in a
``PhoneStore`` and a ``ServiceStatus`` and serves the returned ASGI app.
"""
