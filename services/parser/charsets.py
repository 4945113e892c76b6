"""Charsets as mail clients read them: the codecs a declared label means, for bodies and for the
charset of RFC 2047 encoded words.

``policy.default`` decodes with whatever ``codecs.lookup`` makes of the label and
fails on the names mail clients also use (``iso-8859-8-i``, ``windows-874``, ``x-sjis``, …). Those
are read as the WHATWG Encoding Standard's label table says (the table browsers and Thunderbird
follow). A label the stdlib knows is decoded by the stdlib's codec first, so the text is
``policy.default``'s wherever that decodes; only bytes it cannot decode go to the superset
WHATWG names (GBK for GB 2312, code page 932 for Shift_JIS, UHC for EUC-KR, HKSCS for Big5).
One exception, as in WHATWG: ISO-8859-1, -9 and -11 are read as windows-1252, -1254 and -874,
whose bytes 0x80-0x9F are quotes, dashes and the euro sign where ISO 8859 has invisible C1
controls (Outlook labels its windows-1252 text ISO-8859-1).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re

C1_ERRORS = "mailpipe-c1"  # codec error handler: an undefined byte 0x80-0x9F is its C1 control


def _c1(exc: UnicodeError) -> tuple[str, int]:
    """What WHATWG's single-byte decoders (and ISO 8859) make of 0x81, 0x8D, … that a windows
    code page leaves undefined: the C1 control of the same number. Any other byte still fails."""
    if isinstance(exc, UnicodeDecodeError) and 0x80 <= exc.object[exc.start] <= 0x9F:
        return chr(exc.object[exc.start]), exc.start + 1
    raise exc


codecs.register_error(C1_ERRORS, _c1)

# The WHATWG Encoding Standard's labels (encodings.json, "Names and labels"), as the Python
# codecs to try in order for each encoding: the standard charset, then the superset WHATWG decodes.
# Left out: "replacement" (iso-2022-kr, -cn, hz-gb-2312: browsers refuse them; the stdlib's own
# codecs decode the first and last, iso-2022-cn has none) and x-user-defined (below).
_WHATWG = {
    ("utf-8",): "unicode-1-1-utf-8 utf-8 utf8",
    ("cp866",): "866 cp866 csibm866 ibm866",
    ("iso8859_2",): "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2",
    ("iso8859_3",): "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3",
    ("iso8859_4",): "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4",
    ("iso8859_5",): "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5 "
                    "iso_8859-5:1988",
    ("iso8859_6",): "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6 iso-8859-6-e "
                    "iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987",
    ("iso8859_7",): "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 iso8859-7 iso88597 "
                    "iso_8859-7 iso_8859-7:1987 sun_eu_greek",
    # -8 (visual order) and -8-i (logical order) share their bytes; the order is display only.
    ("iso8859_8",): "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 iso8859-8 iso88598 "
                    "iso_8859-8 iso_8859-8:1988 visual csiso88598i iso-8859-8-i logical",
    ("iso8859_10",): "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6",
    ("iso8859_13",): "iso-8859-13 iso8859-13 iso885913",
    ("iso8859_14",): "iso-8859-14 iso8859-14 iso885914",
    ("iso8859_15",): "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9",
    ("iso8859_16",): "iso-8859-16",
    ("koi8_r",): "cskoi8r koi koi8 koi8-r koi8_r",
    ("koi8_u",): "koi8-u",
    ("mac_roman",): "csmacintosh mac macintosh x-mac-roman",
    ("cp874",): "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874",
    ("cp1250",): "cp1250 windows-1250 x-cp1250",
    ("cp1251",): "cp1251 windows-1251 x-cp1251",
    ("cp1252",): "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 "
                 "iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
    ("cp1253",): "cp1253 windows-1253 x-cp1253",
    ("cp1254",): "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 iso_8859-9:1989 l5 "
                 "latin5 windows-1254 x-cp1254",
    ("cp1255",): "cp1255 windows-1255 x-cp1255",
    ("cp1256",): "cp1256 windows-1256 x-cp1256",
    ("cp1257",): "cp1257 windows-1257 x-cp1257",
    ("cp1258",): "cp1258 windows-1258 x-cp1258",
    ("mac_cyrillic",): "x-mac-cyrillic x-mac-ukrainian",
    ("gbk", "gb18030"): "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk",
    ("gb18030",): "gb18030",
    ("big5", "big5hkscs"): "big5 big5-hkscs cn-big5 csbig5 x-x-big5",
    ("euc_jp",): "cseucpkdfmtjapanese euc-jp x-euc-jp",
    ("iso2022_jp", "iso2022_jp_ext"): "csiso2022jp iso-2022-jp",
    ("shift_jis", "cp932"): "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis",
    ("euc_kr", "cp949"): "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 "
                         "ksc_5601 windows-949",
    ("utf-16-be",): "utf-16be",
    ("utf-16-le",): "utf-16 utf-16le",
    # Not WHATWG: older Mac mail programs wrote these (Mozilla's legacy names for the Mac code pages).
    ("mac_latin2",): "x-mac-ce x-mac-centraleurroman",
    ("mac_greek",): "x-mac-greek",
    ("mac_turkish",): "x-mac-turkish",
    ("mac_iceland",): "x-mac-icelandic",
    ("mac_croatian",): "x-mac-croatian",
    ("mac_romanian",): "x-mac-romanian",
}
_LABELS = {label: chain for chain, labels in _WHATWG.items() for label in labels.split()}
# Labels that name no charset: Outlook's "User Defined" (the sender's unnamed code page; WHATWG maps
# it to private-use characters, useless as text), RFC 1428's unknown-8bit, and the like. The bytes
# are read as undeclared.
NAMELESS = frozenset({"x-user-defined", "x-unknown", "unknown-8bit", "unknown"})
# ISO 8859 charsets read as their Windows superset (see the module docstring).
_C1_SUPERSETS = {"iso8859-1": "cp1252", "iso8859-9": "cp1254", "iso8859-11": "cp874", "tis-620": "cp874"}


@functools.lru_cache(maxsize=256)
def codecs_for(declared: str | None) -> tuple[tuple[str, str], ...]:
    """The (codec, error handler) pairs to try in order for a declared charset label; empty when
    the label is absent, unknown or names no charset. Never raises."""
    label = (declared or "").strip().strip("'\"").strip().lower()
    if not label or label in NAMELESS:
        return ()
    steps: list[tuple[str, str]] = []
    known = _lookup(label)  # what policy.default decodes with
    if known in _C1_SUPERSETS:
        steps.append((_C1_SUPERSETS[known], C1_ERRORS))
    if known:
        steps.append((known, "strict"))
    # An ASCII label on 8-bit bytes is mostly UTF-8 mislabelled: left to the caller's UTF-8 and
    # detection, not read as windows-1252 as WHATWG does.
    for name in _LABELS.get(label, ()) if known != "ascii" else ():
        codec = _lookup(name)
        if codec and all(codec != c for c, _ in steps):
            steps.append((codec, "strict"))
    return tuple(steps)


def _lookup(label: str) -> str:
    """The codec's name for a label, "" when unknown or no text encoding (``base64``, ``rot13``,
    ``zlib`` and ``undefined`` are codecs too, and ``bytes.decode`` refuses or always fails them)."""
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name ("embedded null character")
        return ""
    try:
        b"a".decode(name)  # (b"" would decode under any codec)
    except LookupError:  # "... is not a text encoding"
        return ""
    except UnicodeError:  # a text codec that rejects this byte (utf-16: one byte is truncated data)
        pass
    return name


# An RFC 2047 encoded word (an RFC 2231 language suffix allowed): charset, language, encoding, text.
_ENCODED_WORD = re.compile(r"=\?([^?*\s]+)(\*[^?\s]*)?\?([bBqQ])\?([!->@-~]*)\?=")
_Q_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def normalize_encoded_words(value: str) -> str:
    """``value`` with each RFC 2047 encoded word that the stdlib cannot decode (a charset label it
    does not know: ``iso-8859-8-i``, ``x-sjis``; bytes its codec rejects: a UHC syllable under
    ``ks_c_5601-1987``) or reads as C1 controls (ISO-8859-1 holding windows-1252 quotes)
    rewritten as a UTF-8 encoded word of the text mail clients read (``codecs_for``). Every other
    word, and all text around the words, is left as it is, so policy.default's registry decodes
    it as before (white space between encoded words included). Never raises."""
    if "=?" not in value:
        return value
    return _ENCODED_WORD.sub(_normalize_word, value)


def _normalize_word(match: re.Match[str]) -> str:
    label, _language, cte, text = match.groups()
    steps = codecs_for(label)
    known = _lookup(label.strip().lower())
    if steps == ((known, "strict"),):
        return match.group()  # the stdlib's codec is the only reading (utf-8, the common case): nothing to offer
    data = _word_bytes(cte, text) if steps else None
    if data is None:
        return match.group()  # no codec to offer, or a malformed word: the registry's (and its defects)
    try:
        stdlib = data.decode(known) if known else None
    except UnicodeError:
        stdlib = None
    for codec, errors in steps:
        try:
            decoded = data.decode(codec, errors)
        except UnicodeError:  # punycode and the like fail as UnicodeError, not UnicodeDecodeError
            continue
        if decoded == stdlib:
            break
        return "=?utf-8?b?" + base64.b64encode(decoded.encode("utf-8")).decode("ascii") + "?="
    return match.group()


def _word_bytes(cte: str, text: str) -> bytes | None:
    """The bytes of a strictly formed word's text (RFC 2047 §4), None for anything the stdlib
    would read with a defect (bad base64 padding or characters)."""
    if cte in "qQ":
        return _Q_HEX.sub(lambda m: bytes.fromhex(m.group(1).decode("ascii")), text.encode("ascii").replace(b"_", b" "))
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
