# ruff: noqa: E501  (message literals read best unwrapped, one message per statement)
"""Writes the golden .eml files of this folder (run once; the files are committed).

Every message is written here by hand from the shapes named in README.md, so each file's origin
is this script; nothing is copied from real mailboxes. Re-running it rewrites the same bytes.
Usage: ``.venv/bin/python tests/golden/parser/build_eml.py``; then review and run
``regenerate.py`` for the expected JSON.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

HERE = Path(__file__).parent
CRLF = "\r\n"


def msg(headers: str | bytes, body: str | bytes = "", *, crlf: bool = True) -> bytes:
    """Headers (one per line, ``\\n``-separated), a blank line, the body; CRLF line ends."""
    head = headers.encode("utf-8") if isinstance(headers, str) else headers
    data = head.strip(b"\n") + b"\n\n" + (body.encode("utf-8") if isinstance(body, str) else body)
    return data.replace(b"\n", b"\r\n") if crlf else data


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


H = "Message-ID: <{id}@golden.example>\nDate: Mon, 5 Oct 2026 10:00:00 +0200\nFrom: Alice <alice@acme.example>\n" \
    "To: Bob <bob@nordlys.example>\n"


def h(mid: str, extra: str = "") -> str:
    return H.format(id=mid) + extra


def tnef(files: list[tuple[str, bytes]], body: str = "") -> bytes:
    """A minimal TNEF stream: signature, key, version, then per file attAttachRendData,
    attAttachTitle and attAttachData (checksums are the byte sums, as Outlook writes them)."""
    def obj(level: int, name: int, typ: int, data: bytes) -> bytes:
        return struct.pack("<BHHI", level, name, typ, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)
    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += obj(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))  # attTnefVersion
    if body:
        out += obj(1, 0x800C, 0x0002, body.encode("cp1252"))  # attBody
    for name, data in files:
        out += obj(2, 0x9002, 0x0006, b"\x00" * 14)  # attAttachRendData starts an attachment
        out += obj(2, 0x8010, 0x0001, name.encode("cp1252") + b"\x00")  # attAttachTitle
        out += obj(2, 0x800F, 0x0006, data)  # attAttachData
    return out


PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def mixed(mid: str, parts: list[str], extra: str = "", boundary: str = "b1") -> bytes:
    body = "".join(f"--{boundary}\n{p.strip(chr(10))}\n" for p in parts) + f"--{boundary}--\n"
    return msg(h(mid, extra + f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{boundary}"\n'), body)


TEXT = "Content-Type: text/plain; charset=utf-8\n\nHello Bob,\nsee the attachment.\n"
FILES: dict[str, bytes] = {}

# --- charsets and bodies -------------------------------------------------------------------
FILES["plain-ascii"] = msg(h("plain-ascii", "Subject: Plain ASCII\n"), "Hello Bob,\nall plain.\n")
FILES["plain-utf8-qp"] = msg(h("qp", "Subject: QP\nContent-Type: text/plain; charset=utf-8\n"
                                     "Content-Transfer-Encoding: quoted-printable\n"),
                             "Gr=C3=BC=C3=9Fe aus M=C3=BCnchen, this line is soft=\n-wrapped.\n")
FILES["charset-latin1"] = msg(h("latin1", "Subject: Latin-1\nContent-Type: text/plain; charset=iso-8859-1\n"
                                          "Content-Transfer-Encoding: 8bit\n"), "Café crème € 5\n".encode("cp1252"))
FILES["charset-missing-utf8"] = msg(h("nocs-utf8", "Subject: No charset, UTF-8 bytes\n"), "Smørrebrød og æbleskiver\n")
FILES["charset-missing-latin1"] = msg(h("nocs-l1", "Subject: No charset, Latin-1 bytes\n"),
                                      "Grüße aus München, schöne Grüße von der Straße\n".encode("latin-1"))
FILES["charset-unknown"] = msg(h("unknown-cs", "Subject: Unknown charset\nContent-Type: text/plain; "
                                               "charset=x-no-such-charset\n"), "Zażółć gęślą jaźń\n".encode())
FILES["charset-wrong-declared"] = msg(h("wrong-cs", "Subject: Declared UTF-8, is Latin-1\nContent-Type: text/plain; "
                                                    "charset=utf-8\n"), "Fa\xe7ade, na\xefve r\xe9sum\xe9\n".encode("latin-1"))
FILES["iso2022jp-declared"] = msg(h("jis", "Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=\nContent-Type: text/plain; "
                                           "charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n"),
                                  "日本語のテキストです。\n".encode("iso2022_jp"))
FILES["iso2022jp-undeclared"] = msg(h("jis-none", "Subject: JIS without charset\n"),
                                    "お見積もりをお送りします。\n".encode("iso2022_jp"))
FILES["big5"] = msg(h("big5", "Subject: =?big5?B?pKSk5bF6pm4=?=\nContent-Type: text/plain; charset=big5\n"
                              "Content-Transfer-Encoding: 8bit\n"), "中文測試，你好嗎？今天天氣很好。\n".encode("big5"))
FILES["big5-undeclared"] = msg(h("big5-none", "Subject: Big5 without charset\n"),
                               "中文測試，你好嗎？今天天氣很好，我們明天見面吧。\n".encode("big5"))
FILES["utf7"] = msg(h("utf7", "Subject: =?utf-7?Q?Caf+AOk-?=\nContent-Type: text/plain; charset=utf-7\n"),
                    "Hi Mom -+Jjo--!\nCaf+AOk- cr+AOg-me\n")
FILES["koi8r"] = msg(h("koi8r", "Subject: =?koi8-r?B?8NLJ18XU?=\nContent-Type: text/plain; charset=koi8-r\n"
                                "Content-Transfer-Encoding: 8bit\n"), "Привет, как дела? Всё хорошо.\n".encode("koi8-r"))
FILES["html-only"] = msg(h("html-only", "Subject: HTML only\nContent-Type: text/html; charset=utf-8\n"),
                         "<html><head><style>p{color:red}</style></head><body><p>Hello&nbsp;<b>Bob</b></p>"
                         "<p>Line&amp;two<br>three</p><script>alert(1)</script></body></html>\n")
FILES["body-over-cap"] = msg(h("long", "Subject: Very long body\nContent-Type: text/plain; charset=utf-8\n"),
                             "".join(f"line {i:06d} of a long body that goes on\n" for i in range(2000)))
FILES["nul-bytes"] = msg(h("nul", "Subject: NUL in body\nContent-Type: text/plain; charset=utf-8\n"),
                         b"before\x00after\x01\x02 end\n")
FILES["empty-body"] = msg(h("empty", "Subject: Empty\n"), "")
FILES["lf-only"] = msg(h("lf", "Subject: LF line ends\nContent-Type: multipart/alternative; boundary=zz\n"),
                       "--zz\nContent-Type: text/plain\n\nplain\n--zz\nContent-Type: text/html\n\n<p>html</p>\n--zz--\n",
                       crlf=False)

# --- headers ---------------------------------------------------------------------------------
FILES["header-8bit-utf8"] = msg("Message-ID: <8bit@golden.example>\nDate: Mon, 5 Oct 2026 10:00:00 +0200\n"
                                "From: Jørgen Sørensen <jorgen@nordlys.example>\nTo: \"Zoë, Ângström\" <zoe@acme.example>\n"
                                "Subject: Grüße aus Århus – 見積もり\n", "body\n")
FILES["header-8bit-latin1"] = msg(b"Message-ID: <8bit-l1@golden.example>\nFrom: J\xf8rgen <jorgen@nordlys.example>\n"
                                  b"To: bob@acme.example\nSubject: Gr\xfc\xdfe aus M\xfcnchen und K\xf6ln\n", "body\n")
FILES["encoded-words-q"] = msg("Message-ID: <ew-q@golden.example>\nFrom: =?utf-8?q?Chlo=C3=A9_Dubois?= "
                               "<Chloe@ACME.example>\nTo: bob@acme.example\n"
                               "Subject: =?iso-8859-1?q?Caf=E9?= and =?utf-8?q?cr=C3=A8me?=\n", "body\n")
FILES["encoded-words-adjacent"] = msg("Message-ID: <ew-b@golden.example>\nFrom: a@acme.example\nTo: b@acme.example\n"
                                      "Subject: =?UTF-8?B?5pel5pys6Kqe?= =?UTF-8?B?44Gu44OG44Kt44K5?=\n"
                                      " =?UTF-8?B?44OI?= [Task#42]\n", "body\n")
FILES["encoded-word-unknown-charset"] = msg("Message-ID: <ew-x@golden.example>\nFrom: a@acme.example\n"
                                            "Subject: =?x-unknown?q?abc?= tail\n", "body\n")
FILES["encoded-word-broken"] = msg("Message-ID: <ew-broken@golden.example>\nFrom: a@acme.example\n"
                                   "Subject: =?utf-8?b?not base64?= and =?utf-8?q?ok?=\n", "body\n")
FILES["address-groups"] = msg("Message-ID: <groups@golden.example>\nFrom: a@acme.example\n"
                              "To: undisclosed-recipients:;\nCc: Team: Ann <ann@acme.example>, bo@acme.example;, "
                              "carl@acme.example\n", "body\n")
FILES["address-comments-quotes"] = msg("Message-ID: <quotes@golden.example>\n"
                                       "From: \"Brown, Bob (Sales)\" <bob@acme.example> (work)\n"
                                       "To: dag@nordlys.example (Dag Hansen), \"O'Neil\" <pat@firma.example>\n", "body\n")
FILES["address-all-headers"] = msg("Message-ID: <alladdr@golden.example>\nFrom: Alice <alice@acme.example>\n"
                                   "Sender: Assistant <assistant@acme.example>\nReply-To: sales@acme.example, "
                                   "Support <support@acme.example>\nTo: bob@nordlys.example\nCc: eva@nordlys.example\n"
                                   "Bcc: archive@acme.example\nDelivered-To: sales@mailpipe.test\n"
                                   "Delivered-To: bob@nordlys.example\n", "body\n")
FILES["address-duplicates"] = msg("Message-ID: <dups@golden.example>\nFrom: a@acme.example\n"
                                  "To: Bob <BOB@Nordlys.Example>, bob@nordlys.example, <bob@NORDLYS.example>\n"
                                  "To: eva@nordlys.example\n", "body\n")
FILES["address-malformed"] = msg("Message-ID: <badaddr@golden.example>\nFrom: \"unterminated <a@acme.example>\n"
                                 "To: <<weird>>@@, plain-no-at, ok@acme.example,,\n", "body\n")
FILES["no-message-id"] = msg("Date: Mon, 5 Oct 2026 10:00:00 +0200\nFrom: Alice <alice@acme.example>\n"
                             "To: bob@nordlys.example\nSubject: No Message-ID\n", "The id comes from a digest.\n")
FILES["message-id-odd"] = msg("Message-ID: Odd.Id@Golden.EXAMPLE (no brackets)\nFrom: a@acme.example\n"
                              "In-Reply-To: Parent <parent@Golden.Example> (comment)\n", "body\n")
FILES["references-long"] = msg("Message-ID: <refs@golden.example>\nFrom: a@acme.example\nIn-Reply-To: <r39@golden.example>\n"
                               "References: " + "\n ".join(f"<r{i}@Golden.example>" for i in range(40)) + "\n", "body\n")
FILES["date-missing"] = msg("Message-ID: <nodate@golden.example>\nFrom: a@acme.example\nSubject: No date\n", "body\n")
FILES["date-garbage"] = msg("Message-ID: <baddate@golden.example>\nFrom: a@acme.example\nDate: yesterday at noon\n",
                            "body\n")
FILES["date-no-zone"] = msg("Message-ID: <nozone@golden.example>\nFrom: a@acme.example\n"
                            "Date: Mon, 5 Oct 2026 10:00:00 -0000\n", "body\n")
FILES["headers-repeated"] = msg("Message-ID: <rep1@golden.example>\nMessage-ID: <rep2@golden.example>\n"
                                "From: a@acme.example\nFrom: b@acme.example\nSubject: first\nSubject: second\n", "body\n")
FILES["header-no-separator"] = b"Message-ID: <nosep@golden.example>\r\nFrom: a@acme.example\r\nSubject: no blank line\r\n" \
                               b"this line is body text without the blank line\r\nmore\r\n"
FILES["header-folded-long"] = msg("Message-ID: <folded@golden.example>\nFrom: a@acme.example\nSubject: a long\n"
                                  "\tsubject folded\n   over three lines\n", "body\n")

# --- shapes of mail clients ---------------------------------------------------------------------
FILES["gmail-alternative"] = msg(h("gmail", "Subject: Gmail shape\nMIME-Version: 1.0\n"
                                            "Content-Type: multipart/alternative; boundary=\"000000000000abcdef0123456789\"\n"),
                                 "--000000000000abcdef0123456789\nContent-Type: text/plain; charset=\"UTF-8\"\n\n"
                                 "Hi Bob,\r\nthanks!\n\n--000000000000abcdef0123456789\nContent-Type: text/html; "
                                 "charset=\"UTF-8\"\nContent-Transfer-Encoding: quoted-printable\n\n"
                                 "<div dir=3D\"ltr\">Hi Bob,<div>thanks!</div></div>\n\n"
                                 "--000000000000abcdef0123456789--\n")
FILES["outlook-related-inline-image"] = msg(
    h("outlook", "Subject: Outlook shape\nMIME-Version: 1.0\nThread-Index: AQHZ\nX-MS-Has-Attach: yes\n"
                 "Content-Type: multipart/related; boundary=\"_004_DB9PR\"; type=\"multipart/alternative\"\n"),
    "--_004_DB9PR\nContent-Type: multipart/alternative; boundary=\"_000_DB9PR\"\n\n"
    "--_000_DB9PR\nContent-Type: text/plain; charset=\"us-ascii\"\nContent-Transfer-Encoding: quoted-printable\n\n"
    "Logo below.\n\n--_000_DB9PR\nContent-Type: text/html; charset=\"us-ascii\"\n"
    "Content-Transfer-Encoding: quoted-printable\n\n<p>Logo <img src=3D\"cid:image001.png@01D9A1B2.C3D4E5F0\"></p>\n\n"
    "--_000_DB9PR--\n\n--_004_DB9PR\nContent-Type: image/png; name=\"image001.png\"\n"
    "Content-Description: image001.png\nContent-Disposition: inline; filename=\"image001.png\"; size=70\n"
    "Content-ID: <image001.png@01D9A1B2.C3D4E5F0>\nContent-Transfer-Encoding: base64\n\n" + b64(PNG) + "\n"
    "--_004_DB9PR--\n")
FILES["apple-mail-mixed-inline"] = msg(
    h("apple", "Subject: Apple Mail shape\nMime-Version: 1.0 (Mac OS X Mail 16.0)\n"
               "Content-Type: multipart/mixed; boundary=\"Apple-Mail=_1A2B3C4D\"\n"),
    "--Apple-Mail=_1A2B3C4D\nContent-Transfer-Encoding: 7bit\nContent-Type: text/plain;\n\tcharset=us-ascii\n\n"
    "Before the picture.\n\n--Apple-Mail=_1A2B3C4D\nContent-Disposition: inline;\n\tfilename=photo.png\n"
    "Content-Type: image/png;\n\tx-unix-mode=0644;\n\tname=\"photo.png\"\nContent-Transfer-Encoding: base64\n\n"
    + b64(PNG) + "\n--Apple-Mail=_1A2B3C4D\nContent-Transfer-Encoding: quoted-printable\nContent-Type: text/plain;\n"
    "\tcharset=utf-8\n\nAfter the picture. Gr=C3=BC=C3=9Fe\n--Apple-Mail=_1A2B3C4D--\n")
FILES["multipart-signed"] = msg(h("signed", "Subject: Signed\nContent-Type: multipart/signed; protocol="
                                            "\"application/pgp-signature\"; micalg=pgp-sha256; boundary=\"sig\"\n"),
                                "--sig\nContent-Type: text/plain; charset=utf-8\n\nSigned text.\n--sig\n"
                                "Content-Type: application/pgp-signature; name=\"signature.asc\"\n\n"
                                "-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n--sig--\n")
FILES["calendar-invite"] = mixed("invite", [TEXT, "Content-Type: text/calendar; method=REQUEST; charset=utf-8\n\n"
                                                  "BEGIN:VCALENDAR\nMETHOD:REQUEST\nEND:VCALENDAR\n"],
                                 "Subject: Invitation\n")

# --- attachments and filenames ----------------------------------------------------------------
FILES["attachment-plain-name"] = mixed("att-plain", [TEXT, "Content-Type: application/pdf\nContent-Disposition: "
                                                           "attachment; filename=\"offer.pdf\"\nContent-Transfer-Encoding:"
                                                           " base64\n\n" + b64(PDF)], "Subject: PDF attached\n")
FILES["rfc2231-continuation"] = mixed("rfc2231-cont", [TEXT, "Content-Type: application/pdf\nContent-Disposition: "
                                                             "attachment;\n filename*0*=utf-8''%C3%9Cbersicht%20der%20;\n"
                                                             " filename*1*=Preise%202026.pdf\nContent-Transfer-Encoding: "
                                                             "base64\n\n" + b64(PDF)], "Subject: RFC 2231 continuation\n")
FILES["rfc2231-utf8"] = mixed("rfc2231", [TEXT, "Content-Type: application/pdf\nContent-Disposition: attachment; "
                                                "filename*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8.pdf\n"
                                                "Content-Transfer-Encoding: base64\n\n" + b64(PDF)], "Subject: RFC 2231\n")
FILES["rfc2047-filename"] = mixed("rfc2047-name", [TEXT, "Content-Type: application/pdf; name=\"=?utf-8?B?"
                                                         "UsOpc3Vtw6kucGRm?=\"\nContent-Disposition: attachment; "
                                                         "filename=\"=?utf-8?B?UsOpc3Vtw6kucGRm?=\"\n"
                                                         "Content-Transfer-Encoding: base64\n\n" + b64(PDF)],
                                  "Subject: RFC 2047 filename\n")
FILES["filename-path-traversal"] = mixed("traversal", [TEXT, "Content-Type: application/octet-stream\n"
                                                             "Content-Disposition: attachment; filename=\"../../etc/passwd\"\n"
                                                             "\nroot:x:0:0\n", "Content-Type: application/octet-stream\n"
                                                             "Content-Disposition: attachment; filename=\"C:\\\\Windows\\\\"
                                                             "evil.exe\"\n\nMZ\n"], "Subject: Path traversal\n")
FILES["filename-control-bidi"] = mixed("bidi", [TEXT, "Content-Type: application/octet-stream\nContent-Disposition: "
                                                      "attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe%07%0A.txt\n\nx\n",
                                                "Content-Type: application/octet-stream\nContent-Disposition: attachment;"
                                                " filename=\"CON.txt\"\n\ny\n", "Content-Type: application/octet-stream\n"
                                                "Content-Disposition: attachment; filename=\"...\"\n\nz\n"],
                                       "Subject: Control characters\n")
FILES["filename-very-long"] = mixed("longname", [TEXT, "Content-Type: application/pdf\nContent-Disposition: attachment;"
                                                       " filename*=utf-8''" + "%C3%A6" * 150 + ".pdf\n\n%PDF\n"],
                                    "Subject: Long filename\n")
FILES["attachment-no-name"] = mixed("noname", [TEXT, "Content-Type: application/pdf\nContent-Disposition: attachment\n"
                                                     "Content-Transfer-Encoding: base64\n\n" + b64(PDF),
                                               "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\n" + b64(PNG)],
                                    "Subject: Attachments without names\n")
FILES["attachment-name-param-only"] = mixed("nameparam", [TEXT, "Content-Type: application/vnd.ms-excel; "
                                                                "name=\"budget.xls\"\nContent-Transfer-Encoding: base64\n\n"
                                                                + b64(b"\xd0\xcf\x11\xe0 excel")],
                                            "Subject: Name only in Content-Type\n")
FILES["attachment-text-file"] = mixed("textfile", [TEXT, "Content-Type: text/plain; charset=utf-8\nContent-Disposition:"
                                                         " attachment; filename=\"notes.txt\"\n\nThese are notes.\n"],
                                      "Subject: Text attachment\n")
FILES["attachments-same-bytes-twice"] = mixed("twice", [TEXT, "Content-Type: application/pdf\nContent-Disposition: "
                                                              "attachment; filename=\"a.pdf\"\nContent-Transfer-Encoding: "
                                                              "base64\n\n" + b64(PDF), "Content-Type: application/pdf\n"
                                                              "Content-Disposition: attachment; filename=\"b.pdf\"\n"
                                                              "Content-Transfer-Encoding: base64\n\n" + b64(PDF)],
                                              "Subject: Same bytes twice\n")
FILES["large-base64-attachment"] = mixed("large", [TEXT, "Content-Type: application/octet-stream\nContent-Disposition: "
                                                         "attachment; filename=\"data.bin\"\nContent-Transfer-Encoding: "
                                                         "base64\n\n" + b64(bytes(range(256)) * 400)],
                                         "Subject: Large attachment (fast path)\n")
FILES["base64-garbage"] = mixed("b64garbage", [TEXT, "Content-Type: application/pdf\nContent-Disposition: attachment; "
                                                     "filename=\"x.pdf\"\nContent-Transfer-Encoding: base64\n\n"
                                                     "JVBERi0x!!!LjQK**garbage**\n~~ not base64 ~~\n"],
                                "Subject: Base64 with garbage\n")
FILES["base64-bad-padding"] = mixed("b64pad", [TEXT, "Content-Type: application/octet-stream\nContent-Disposition: "
                                                     "attachment; filename=\"p.bin\"\nContent-Transfer-Encoding: base64\n\n"
                                                     "SGVsbG8gV29ybGQ\n"], "Subject: Base64 without padding\n")
FILES["qp-truncated"] = msg(h("qptrunc", "Subject: Truncated QP\nContent-Type: text/plain; charset=utf-8\n"
                                         "Content-Transfer-Encoding: quoted-printable\n"),
                            "Gr=C3=BC=C3=9Fe and a cut-off seq=C3=\nuence =E2=80")
FILES["cte-unknown"] = msg(h("cte-x", "Subject: Unknown transfer encoding\nContent-Type: text/plain\n"
                                      "Content-Transfer-Encoding: x-gzip64\n"), "opaque\n")
FILES["uuencode"] = mixed("uue", [TEXT, "Content-Type: application/octet-stream\nContent-Disposition: attachment; "
                                        "filename=\"hi.txt\"\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 hi.txt\n"
                                        "%:&5L;&\\*\n`\nend\n"], "Subject: uuencode\n")

# --- structure -----------------------------------------------------------------------------------
FILES["boundary-missing-close"] = msg(h("noclose", "Subject: No closing boundary\nContent-Type: multipart/mixed; "
                                                   "boundary=\"cut\"\n"), "--cut\nContent-Type: text/plain\n\nfirst\n"
                                                                          "--cut\nContent-Type: text/plain\n\nsecond, cut off")
FILES["boundary-never-appears"] = msg(h("noboundary", "Subject: Boundary never appears\nContent-Type: multipart/mixed; "
                                                      "boundary=\"absent\"\n"), "just text\n--other\nmore text\n")
FILES["boundary-param-missing"] = msg(h("noparam", "Subject: Multipart without boundary\n"
                                                   "Content-Type: multipart/mixed\n"), "--x\n\ntext\n--x--\n")
FILES["boundary-prefix-lines"] = msg(h("prefix", "Subject: Lines that start like the boundary\nContent-Type: "
                                                 "multipart/mixed; boundary=\"ab\"\n"),
                                     "--ab\nContent-Type: text/plain\n\n--abc is not a boundary\n--ab \n"
                                     "Content-Type: text/plain\n\nsecond\n--ab--\nepilogue\n")
FILES["nested-multipart"] = msg(h("nested", "Subject: Nested three levels\nContent-Type: multipart/mixed; boundary=l1\n"),
                                "--l1\nContent-Type: multipart/related; boundary=l2\n\n--l2\nContent-Type: "
                                "multipart/alternative; boundary=l3\n\n--l3\nContent-Type: text/plain\n\ndeep text\n"
                                "--l3\nContent-Type: text/html\n\n<b>deep</b>\n--l3--\n--l2\nContent-Type: image/png\n"
                                "Content-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n" + b64(PNG) + "--l2--\n"
                                "--l1\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\n"
                                + b64(PDF) + "--l1--\n")
INNER = ("Message-ID: <inner@golden.example>\nDate: Sun, 4 Oct 2026 09:00:00 +0000\nFrom: Eva <eva@nordlys.example>\n"
         "To: alice@acme.example\nSubject: The original\nContent-Type: multipart/mixed; boundary=in\n\n"
         "--in\nContent-Type: text/plain\n\nOriginal text.\n--in\nContent-Type: application/pdf\n"
         "Content-Disposition: attachment; filename=\"inner.pdf\"\nContent-Transfer-Encoding: base64\n\n"
         + b64(PDF) + "--in--\n")
FILES["rfc822-attached"] = mixed("fwd", [TEXT, "Content-Type: message/rfc822\nContent-Disposition: attachment\n\n"
                                               + INNER], "Subject: Fwd: The original\n")
FILES["rfc822-nested-twice"] = mixed("fwdfwd", [TEXT, "Content-Type: message/rfc822\n\nMessage-ID: <middle@golden.example>\n"
                                                      "From: bob@nordlys.example\nSubject: Fwd: The original\n"
                                                      "Content-Type: multipart/mixed; boundary=mid\n\n--mid\n"
                                                      "Content-Type: text/plain\n\nForwarding.\n--mid\n"
                                                      "Content-Type: message/rfc822\n\n" + INNER + "--mid--\n"],
                                       "Subject: Fwd: Fwd: The original\n", boundary="out")

# --- TNEF ------------------------------------------------------------------------------------------
FILES["tnef-winmail"] = mixed("tnef", [TEXT, "Content-Type: application/ms-tnef; name=\"winmail.dat\"\n"
                                             "Content-Disposition: attachment; filename=\"winmail.dat\"\n"
                                             "Content-Transfer-Encoding: base64\n\n"
                                             + b64(tnef([("Quote.pdf", PDF), ("logo.png", PNG)], "TNEF body text"))],
                              "Subject: Outlook rich text\n")
FILES["tnef-damaged"] = mixed("tnef-bad", [TEXT, "Content-Type: application/ms-tnef; name=\"winmail.dat\"\n"
                                                 "Content-Transfer-Encoding: base64\n\n"
                                                 + b64(tnef([("a.pdf", PDF)])[:40] + b"\xff" * 7)],
                              "Subject: Damaged TNEF\n")
FILES["tnef-not-tnef"] = mixed("tnef-fake", [TEXT, "Content-Type: application/octet-stream\nContent-Disposition: "
                                                   "attachment; filename=\"winmail.dat\"\n\nnot really tnef\n"],
                               "Subject: winmail.dat that is not TNEF\n")

# --- classification -------------------------------------------------------------------------------
DSN_ORIG = "Content-Type: message/rfc822\n\nMessage-ID: <sent@acme.example>\nFrom: alice@acme.example\n" \
           "To: nobody@nordlys.example\nSubject: Quote\n\nQuote text.\n"
FILES["dsn-postfix"] = msg("Message-ID: <dsn1@mx.acme.example>\nDate: Mon, 5 Oct 2026 10:05:00 +0200\n"
                           "From: MAILER-DAEMON@mx.acme.example (Mail Delivery System)\nTo: alice@acme.example\n"
                           "Subject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\n"
                           "Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"\n",
                           "--dsn\nContent-Type: text/plain\n\nI'm sorry to have to inform you that your message could"
                           " not be delivered.\n--dsn\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; "
                           "mx.acme.example\nArrival-Date: Mon, 5 Oct 2026 10:04:59 +0200\n\nFinal-Recipient: rfc822; "
                           "Nobody@nordlys.example\nOriginal-Recipient: rfc822;nobody@nordlys.example\nAction: failed\n"
                           "Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <nobody@nordlys.example>: Recipient address "
                           "rejected: User unknown\n\n--dsn\n" + DSN_ORIG + "--dsn--\n")
FILES["dsn-two-recipients-delayed"] = msg("Message-ID: <dsn2@golden.example>\nFrom: postmaster@nordlys.example\n"
                                          "To: alice@acme.example\nSubject: Delivery Status Notification (Delay)\n"
                                          "Content-Type: multipart/report; report-type=delivery-status; boundary=r\n",
                                          "--r\nContent-Type: text/plain\n\nDelayed.\n--r\nContent-Type: "
                                          "message/delivery-status\n\nReporting-MTA: dns;mx\n\nFinal-Recipient: rfc822;"
                                          "a@nordlys.example\nAction: delayed\nStatus: 4.4.7\n\nFinal-Recipient: rfc822;"
                                          "b@nordlys.example\nAction: failed\nStatus: 5.2.2 (mailbox full)\n\n--r--\n")
FILES["mailer-daemon-exim"] = msg("Message-ID: <exim@golden.example>\nFrom: Mail Delivery System "
                                  "<Mailer-Daemon@mail.example>\nTo: alice@acme.example\nSubject: Mail delivery failed: "
                                  "returning message to sender\nX-Failed-Recipients: gone@mail.example\n",
                                  "This message was created automatically by mail delivery software.\n\n"
                                  "  gone@mail.example\n    SMTP error from remote mail server after RCPT TO:"
                                  "<gone@mail.example>:\n    550 5.1.1 User unknown\n")
FILES["auto-reply-rfc3834"] = msg(h("ooo", "Subject: Out of office: Quote\nAuto-Submitted: auto-replied\n"
                                           "X-Autoreply: yes\n"), "I am away until Monday.\n")
FILES["auto-submitted-no"] = msg(h("human", "Subject: A person wrote this\nAuto-Submitted: no\n"), "Hi.\n")
FILES["newsletter-bulk"] = msg(h("news", "Subject: Our newsletter\nPrecedence: bulk\nList-Unsubscribe: "
                                         "<mailto:unsubscribe@shop.example>\nList-Id: <news.shop.example>\n"), "News.\n")
FILES["outlook-oof"] = msg(h("oof", "Subject: Automatic reply: Quote\nX-Auto-Response-Suppress: All\n"
                                    "X-Autorespond: yes\n"), "Away.\n")
FILES["x-loop-precedence-list"] = msg(h("loop", "Subject: Ticket update\nX-Loop: helpdesk@acme.example\n"
                                                "Precedence: list\n"), "Updated.\n")
FILES["task-token"] = msg(h("task", "Subject: Re: Pallets for the new site [Task#1234]\n"), "About the task.\n")
FILES["task-token-other-word"] = msg(h("case", "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= [Sag#77]  \n"), "Danish task.\n")
FILES["task-token-not-at-end"] = msg(h("notask", "Subject: [Task#12] is mentioned first, then more\n"), "No token.\n")
FILES["task-token-malformed"] = msg(h("badtask", "Subject: Almost a token [Task 12] and (Task#13)\n"), "No token.\n")

# headers-only records: the fetcher sends only the header block of a message over its size limit
FILES["headers-only.over-size-limit"] = msg(h("huge", "Subject: A 200 MB message\nMIME-Version: 1.0\n"
                                                      "Content-Type: multipart/mixed; boundary=\"huge\"\n"), "")


def main() -> None:
    for name, data in FILES.items():
        (HERE / f"{name}.eml").write_bytes(data)
    print(f"wrote {len(FILES)} files")


if __name__ == "__main__":
    main()
