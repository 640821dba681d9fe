"""JSON that untrusted text (model outputs, dataset questions) cannot break out of.

The templates autoescape; the JSON embedded in the page and in the sample files goes through ``script_json``;
and app.js writes text only through ``textContent`` / ``createTextNode``.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")


def script_json(obj: Any) -> str:
    """JSON that is safe inside a ``<script>`` element or a .js file: no string in it can close the element,
    open a comment, or end a JavaScript line. ASCII only, so the file's encoding never matters."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return _SCRIPT_UNSAFE_RE.sub(lambda m: _SCRIPT_UNSAFE[m.group(0)], text)
