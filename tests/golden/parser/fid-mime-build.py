"""Write the fid-mime-*.eml golden messages (issue 14: MIME structure other readers recover). Run
from the repository root: ``.venv/bin/python tests/golden/parser/fid-mime-build.py``; it rewrites
the same bytes. Then ``.venv/bin/python -m tests.golden.parser.regenerate fid-mime-...`` for the
expected JSON.

Texts are written for these fixtures; the shapes are those of the clients and tools named.
"""

from __future__ import annotations

import base64
from pathlib import Path

HERE = Path(__file__).parent
PDF = b"%PDF-1.4\n% fidelity golden\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PDF64 = base64.encodebytes(PDF).decode()


def write(name: str, text: str, crlf: bool = True) -> None:
    data = text.encode("latin-1")
    (HERE / f"fid-mime-{name}.eml").write_bytes(data.replace(b"\n", b"\r\n") if crlf else data)


def head(mid: str, subject: str, extra: str = "") -> str:
    return (f"Message-ID: <{mid}@fid.golden.example>\nDate: Tue, 6 Oct 2026 09:15:00 +0200\n"
            f"From: Alice Example <alice@acme.example>\nTo: Bob <bob@nordlys.example>\nSubject: {subject}\n{extra}")


def mixed(mid: str, subject: str, boundary: str = "b1") -> str:
    return head(mid, subject, "MIME-Version: 1.0\n") + f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'


def main() -> None:
    # An mbox export (LF line ends, as mbox files have): the envelope line, then the message.
    write("mbox-from-line", "From alice@acme.example Tue Oct  6 09:15:00 2026\n" + head("mbox", "Exported from an mbox")
          + "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello Bob,\n\n"
          ">From the archive: the mbox quoting stays as it is.\n\nAlice\n", crlf=False)
    # RFC 5322 §4.5.3 obs-optional: white space before the colon.
    write("obsolete-colon", "From  : Alice Example <alice@acme.example>\nTo\t: Bob <bob@nordlys.example>\n"
          "Subject   : Obsolete field syntax\nMessage-ID : <obs@fid.golden.example>\n"
          "Date: Tue, 6 Oct 2026 09:15:00 +0200\n\nRFC 5322 section 4.5.3 fields with white space before the colon.\n")
    # Outlook Express's boundary, unquoted.
    b = "----=_NextPart_000_0012_01DA1234.56789ABC"
    write("nextpart-unquoted-boundary", head("nextpart", "Unquoted NextPart boundary",
          "MIME-Version: 1.0\nX-Mailer: Microsoft Outlook Express 6.00.2900.5931\n")
          + f"Content-Type: multipart/alternative;\n\tboundary={b}\n\nThis is a multi-part message in MIME format.\n\n"
          f"--{b}\nContent-Type: text/plain;\n\tcharset=\"iso-8859-1\"\nContent-Transfer-Encoding: quoted-printable\n\n"
          f"Plain text, Gr=FC=DFe.\n\n--{b}\nContent-Type: text/html;\n\tcharset=\"iso-8859-1\"\n"
          "Content-Transfer-Encoding: quoted-printable\n\n<html><body><p>HTML text, Gr=FC=DFe.</p></body></html>\n\n"
          f"--{b}--\n\n")
    # Apple Mail: text, an attached .txt file sent inline, text.
    a = "Apple-Mail=_5F6E7D8C"
    write("inline-named-text", head("inline", "Inline text file", "Mime-Version: 1.0 (Mac OS X Mail 16.0)\n")
          + f"Content-Type: multipart/mixed; boundary=\"{a}\"\n\n--{a}\nContent-Transfer-Encoding: 7bit\n"
          f"Content-Type: text/plain;\n\tcharset=us-ascii\n\nThe log is below.\n\n--{a}\nContent-Disposition: inline;\n"
          "\tfilename=server.log\nContent-Type: text/plain;\n\tx-unix-mode=0644;\n\tname=\"server.log\"\n"
          f"Content-Transfer-Encoding: 7bit\n\n09:00 started\n09:01 ready\n\n--{a}\nContent-Transfer-Encoding: 7bit\n"
          f"Content-Type: text/plain;\n\tcharset=us-ascii\n\nThanks, Alice\n--{a}--\n")
    # base64 one character past a whole quad (96 bytes: no padding, then a stray "A").
    whole = base64.encodebytes(PDF + b"\n").decode().rstrip("\n")
    write("base64-invalid-length", mixed("b64len", "Base64 of invalid length")
          + "--b1\nContent-Type: text/plain; charset=us-ascii\n\nThe report is attached.\n--b1\n"
          "Content-Type: application/pdf; name=\"report.pdf\"\n"
          "Content-Disposition: attachment; filename=\"report.pdf\"\n"
          f"Content-Transfer-Encoding: base64\n\n{whole}A\n--b1--\n")
    # A nested multipart/alternative that reuses the outer boundary.
    r = "=_reused"
    write("reused-boundary", mixed("reused", "Nested multipart reuses the boundary", r)
          + f"--{r}\nContent-Type: multipart/alternative; boundary=\"{r}\"\n\n--{r}\nContent-Type: text/plain; "
          f"charset=us-ascii\n\nThe plain text.\n--{r}\nContent-Type: text/html; charset=us-ascii\n\n"
          f"<p>The HTML text.</p>\n--{r}--\n\n--{r}\nContent-Type: application/pdf; name=\"report.pdf\"\n"
          "Content-Disposition: attachment; filename=\"report.pdf\"\n"
          f"Content-Transfer-Encoding: base64\n\n{PDF64}--{r}--\n")
    # RFC 2046 §5.2.3 message/external-body (access-type URL).
    write("external-body", mixed("external", "A file kept elsewhere")
          + "--b1\nContent-Type: text/plain; charset=us-ascii\n\nThe archive is on the server.\n--b1\n"
          "Content-Type: message/external-body; access-type=URL;\n\tURL=\"https://files.acme.example/archive.zip\"\n\n"
          "Content-Type: application/zip; name=\"archive.zip\"\nContent-ID: <archive@acme.example>\n\n--b1--\n")
    # An unquoted filename with spaces, in both headers.
    write("unquoted-filename-spaces", mixed("fname", "Unquoted filename with spaces")
          + "--b1\nContent-Type: text/plain; charset=us-ascii\n\nSee the report.\n--b1\n"
          "Content-Type: application/pdf; name=Quarterly report Q3.pdf\n"
          "Content-Disposition: attachment; filename=Quarterly report Q3.pdf\nContent-Transfer-Encoding: base64\n\n"
          f"{PDF64}--b1--\n")


if __name__ == "__main__":
    main()
