"""Sends one webhook request to the addresses the URL policy checked.

The connection goes to a checked IP address, never to the host name again: a DNS answer that
changed since the check (DNS rebinding) cannot send the request elsewhere. The request still
names its host: in the ``Host`` header and, over https, in the TLS SNI, against which the
server's certificate is verified. Proxies from the environment are ignored for the same reason,
and redirects are not followed (a redirect could point anywhere).
"""

from __future__ import annotations

import httpx

from apps.webhooks.policy import Target

CONNECT_TIMEOUT_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 30.0


def post(target: Target, *, body: bytes, headers: httpx.Headers) -> int:
    """POST ``body`` to ``target`` and return the response's status code (its body is not
    read). The checked addresses are tried in turn while they refuse the connection; raises
    httpx.TransportError (timeouts included) when the request could not be made."""
    url = target.url
    request_headers = httpx.Headers(headers)
    request_headers["Host"] = url.netloc.decode("ascii")
    timeout = httpx.Timeout(REQUEST_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
    with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
        for index, address in enumerate(target.addresses):
            request = client.build_request(
                "POST",
                url.copy_with(host=address),
                content=body,
                headers=request_headers,
                extensions={"sni_hostname": url.host},
            )
            try:
                response = client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if index == len(target.addresses) - 1:
                    raise
                continue
            response.close()
            return response.status_code
    raise httpx.ConnectError(f"{url.host} has no address to connect to")
