"""The one exception the sans-IO core raises.

The core proposes a status code and reason; the transport layer decides what to do
with it (answer a request, drop a response), in the spirit of h11's
``error_status_hint``.
"""

from __future__ import annotations


class SipError(Exception):
    """A request cannot be processed; ``status`` is the response to send.

    ``headers`` are extra header fields the response must carry (for example
    ``Unsupported`` with 420, ``Allow`` with 405/501, ``Min-Expires`` with 423).
    """

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers
