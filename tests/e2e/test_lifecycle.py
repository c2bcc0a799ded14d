"""Start-up and graceful shutdown of ``pbx serve`` as an operator sees them.

Why: every fixture already asserts exit code 0 on SIGTERM, but only for an idle server.
Here SIGTERM arrives while a TCP phone is connected and half-way through a message,
which is when a careless shutdown hangs on an open connection or dies with a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import RESERVED_PORTS, running_pbx
from tests.e2e.sipclient import SipClient, build_request

pytestmark = pytest.mark.e2e


def test_sigterm_with_an_open_tcp_connection_exits_zero(tmp_path: Path) -> None:
    """A connected phone with a partial request in flight does not stop a clean exit."""
    with running_pbx(tmp_path / "pbx") as server:
        assert server.port not in RESERVED_PORTS
        with SipClient(server.address, "tcp") as phone:
            _, final = phone.register("1000", "secret1000")
            assert final.status == 200
            partial = build_request(
                "REGISTER", "1001", server=server.address, local=phone.local,
                transport="tcp", call_id="half@e2e", cseq=1,
            )[:60]  # fmt: skip
            phone.send(partial)
            code = server.stop()
            log = server.log_text()
    assert code == 0, log[-4000:]
    assert "Traceback" not in log
    assert log.rstrip().endswith("stopped"), log[-2000:]
    assert [e["extension"] for e in server.events_of("BindingCreated")] == ["1000"]
