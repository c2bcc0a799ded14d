"""Types of the C module ``_digesthash.c`` (``make core`` compiles it)."""

def response(
    algorithm: str,
    ha1: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str | None,
    cnonce: str | None,
    qop: str | None,
    /,
) -> str: ...
