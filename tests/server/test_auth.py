"""Every route the extension registers refuses a request with a wrong token.

jupyter_server checks XSRF before authentication, so a POST without a token gets 403 whether or not the
handler authenticates. Each request here therefore carries a matching ``_xsrf`` cookie and ``X-XSRFToken``
header: XSRF passes, and the 403 can only come from authentication. The routes are read from the server's
route table, so a new route is covered without touching this test.
"""

from __future__ import annotations

from tornado.httpclient import AsyncHTTPClient

from mlops_nb.server.handlers import ROUTES
from tests.server.routes import extension_routes, implemented, sample_path

XSRF = "0123456789abcdef" * 2  # tornado takes a hex cookie as a version-1 token


async def test_every_route_refuses_a_wrong_token(jp_serverapp, http_server_client, jp_http_port):
    routes = extension_routes(jp_serverapp.web_app)
    assert {handler for _, handler in routes} == {handler for _, handler in ROUTES}
    client = AsyncHTTPClient()
    checked = []
    for pattern, handler in routes:
        for method in implemented(handler):
            url = f"http://127.0.0.1:{jp_http_port}{sample_path(pattern)}"
            response = await client.fetch(
                url,
                method=method,
                body="{}" if method in ("POST", "PUT", "PATCH") else None,
                headers={
                    "Authorization": "token not-the-servers-token",
                    "Cookie": f"_xsrf={XSRF}",
                    "X-XSRFToken": XSRF,
                },
                raise_error=False,
                follow_redirects=False,
                request_timeout=10,
            )
            assert response.code in (401, 403), (method, url, response.code, response.body[:200])
            assert b"xsrf" not in response.body.lower(), (method, url, response.body[:200])  # not XSRF's 403
            checked.append((method, handler.__name__))
    assert len(checked) == sum(len(implemented(handler)) for _, handler in ROUTES)
    assert ("POST", "SnapshotHandler") in checked and ("POST", "CompareHandler") in checked
