"""Credentials in URLs, hidden wherever a URL is shown or recorded: messages, logs, answers, run records.

Any user info is hidden, whether ``user:password@`` or a token alone (``https://TOKEN@host/...``): a bare
name cannot be told apart from a token, so neither is shown.
"""

from __future__ import annotations

import re

# scheme://userinfo@ — userinfo runs to the last "@" before the host, stopping at anything that ends a URL
# in free text (whitespace, quotes, brackets) or starts its path, query or fragment.
_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s'\"<>()\[\]{}]+(?:@[^/?#@\s'\"<>()\[\]{}]+)*@")
HIDDEN = "***"


def redact(text: str) -> str:
    """`text` with the user info of every URL in it replaced by ``***``.

    >>> redact("API request to http://me:s3cret@host:5000/api failed")
    'API request to http://***@host:5000/api failed'
    >>> redact("https://ghp_token@github.com/org/x.git")
    'https://***@github.com/org/x.git'
    """
    return _USERINFO.sub(rf"\1{HIDDEN}@", text)
