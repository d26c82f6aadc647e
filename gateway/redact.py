"""Settings as they may be printed: a URL's password never is."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

HIDDEN = "***"
SECRET_PARAMETERS = frozenset({"password", "username"})  # redis-py also reads these from the query


def url_without_password(url: str) -> str:
    """`url` with its password (or a token standing alone as the user, `redis://:token@host`) and any
    `password=` in its query replaced by `***`; anything that does not parse as a URL is hidden whole."""
    try:
        parts = urlsplit(url)
        user, password, host, port = parts.username, parts.password, parts.hostname, parts.port
    except ValueError:
        return HIDDEN
    netloc = parts.netloc
    if user is not None or password is not None:
        who = f"{user}:{HIDDEN}" if user and password is not None else HIDDEN
        where = f"[{host}]" if host and ":" in host else (host or "")
        netloc = f"{who}@{where}" + (f":{port}" if port is not None else "")
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(name in SECRET_PARAMETERS for name, _ in pairs):
        query = urlencode([(name, HIDDEN if name in SECRET_PARAMETERS else value) for name, value in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")
