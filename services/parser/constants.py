"""Constants more than one parser module reads: grammar pieces, content types, charsets and the
placeholder scheme of the fast tree. One definition each, so the modules cannot drift apart (a
Content-Type split.py takes as simple must be one tree.py takes as simple). Limits that are
settings live in limits.py and settings.py, not here.
"""

from __future__ import annotations

import re

# An RFC 2045 token, and a Content-Type whose meaning compat32 and policy.default read alike:
# type/subtype, then token or plain quoted parameters (no comments, escapes, encoded words or
# RFC 2231 forms). split.py splits only such mail; tree.py parses other mail with policy.default.
TOKEN_RE = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
SIMPLE_CT = re.compile(rf'\s*{TOKEN_RE}/{TOKEN_RE}\s*(?:;\s*[A-Za-z0-9-]+=(?:{TOKEN_RE}|"[^"\\\r\n]*")\s*)*;?\s*')
# The characters of a header field name (printable ASCII but the colon), as bytes.
FIELD_NAME_BYTES = rb"[\x21-\x39\x3b-\x7e]+"

# Long base64 bodies are kept in the raw bytes, not copied into payload strings: each is a
# placeholder payload ``RUN_PREFIX<n>Z`` (split.py, tree.py) that tree.Tree restores.
MIN_RUN_BYTES = 4096  # shorter runs cost more to swap than to parse
RUN_PREFIX = "MailpipeRunQ7x"
BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

# What undeclared, undetectable 8-bit text is read as (the commonest legacy charset of mail).
FALLBACK_CHARSET = "windows-1252"

# Content types the parser treats specially.
TEXT_PLAIN = "text/plain"
TEXT_HTML = "text/html"
MESSAGE_RFC822 = "message/rfc822"
DELIVERY_STATUS = "message/delivery-status"
EXTERNAL_BODY = "message/external-body"
