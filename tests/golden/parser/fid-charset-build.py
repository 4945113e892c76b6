"""Write the fid-charset-*.eml golden messages (issue 14: undeclared Latin text, charset labels
mail clients use). Run from the repository root: ``.venv/bin/python
tests/golden/parser/fid-charset-build.py``; it rewrites the same bytes. Then
``.venv/bin/python -m tests.golden.parser.regenerate fid-charset-...`` for the expected JSON.

Texts are written for these fixtures; the shapes are those of the clients named in each.
"""

from __future__ import annotations

import base64
import quopri
from pathlib import Path

HERE = Path(__file__).parent
DATE = "Tue, 06 Oct 2026 09:15:00 +0200"


def message(name: str, headers: list[str], body: bytes) -> None:
    head = "\r\n".join([*headers, f"Date: {DATE}", "MIME-Version: 1.0"]).encode("ascii", "surrogateescape")
    (HERE / f"fid-charset-{name}.eml").write_bytes(head + b"\r\n\r\n" + body)


def lines(text: str, codec: str) -> bytes:
    """``text`` in ``codec`` with CRLF line ends, wrapped near 72 characters (8bit transfer)."""
    out, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > 72:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    out.append(line)
    return "\r\n".join(out).encode(codec) + b"\r\n"


def qp(data: bytes) -> bytes:
    """Quoted-printable with CRLF line ends throughout (soft line breaks included)."""
    return quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def raw_subject(text: str, codec: str) -> str:
    """A Subject line with raw 8-bit bytes, as old clients and scripts send it."""
    return "Subject: " + text.encode(codec).decode("ascii", "surrogateescape")


PT = ("Bom dia, Sra. Conceição. Segue em anexo a proposta de formação para a equipa de gestão, com a "
      "avaliação das ações realizadas no último trimestre. A próxima reunião de coordenação será na "
      "terça-feira, às 14h, na sala de formação do edifício principal. Não hesite em contactar-me se "
      "precisar de informações adicionais sobre o orçamento ou a calendarização. Atenciosamente, "
      "João Gonçalves, direção de recursos humanos.")
ES = ("Hola María, el año pasado la compañía aumentó la producción en un diez por ciento. ¿Podrías "
      "enviarme el informe de diseño antes del miércoles? El señor Muñoz necesita revisarlo con el "
      "equipo de La Coruña. Muchas gracias y un saludo, Íñigo.")
PL = ("Dzień dobry, w załączniku przesyłam zamówienie na przyszły miesiąc oraz korektę faktury za "
      "październik. Proszę o potwierdzenie terminu dostawy do Łodzi i Wrocławia. Jeśli będą jakieś "
      "pytania, chętnie pomogę. Z poważaniem, Małgorzata Wójcik-Żółtowska, dział sprzedaży.")
CS = ("Dobrý den, děkuji za rychlou odpověď. V příloze posílám objednávku na příští měsíc a fakturu za "
      "říjen. Prosím o potvrzení termínu dodání do Brna a Ostravy. Pokud budete mít nějaké dotazy, rád "
      "vám pomohu. S pozdravem, Jiří Dvořák, obchodní oddělení.")
HU = ("Tisztelt Kovács Úr! Köszönöm a gyors válaszát. Mellékelten küldöm a jövő havi megrendelést és "
      "az októberi számlát. Kérem, erősítse meg a szállítási határidőt Győrbe és Pécsre. Üdvözlettel, "
      "Szűcs Erzsébet, értékesítési osztály.")


def build() -> None:
    message("undeclared-pt-windows-1252", [
        "Message-ID: <fid-charset-pt@golden.example>", "From: =?utf-8?q?Jo=C3=A3o?= <joao@rh.example>",
        "To: conceicao@empresa.example", raw_subject("Proposta de formação e avaliação das ações do último trimestre",
                                                     "cp1252"),
        "Content-Type: text/plain", "Content-Transfer-Encoding: 8bit",
        "X-Mailer: Microsoft Outlook Express 6.00.2900.5512"],
        lines(PT.replace("proposta de formação", "“proposta de formação”"), "cp1252"))
    message("undeclared-es-latin-1", [
        "Message-ID: <fid-charset-es@golden.example>", "From: inigo@diseno.example", "To: maria@diseno.example",
        raw_subject("Informe del año", "latin-1"), "Content-Type: text/plain; format=flowed",
        "Content-Transfer-Encoding: 8bit"],
        lines(ES, "latin-1"))
    message("undeclared-pl-windows-1250", [
        "Message-ID: <fid-charset-pl@golden.example>", "From: m.wojcik@sprzedaz.example", "To: zamowienia@hurt.example",
        raw_subject("Zamówienie na listopad i korekta faktury za październik", "cp1250"),
        "Content-Type: text/plain", "Content-Transfer-Encoding: 8bit"],
        lines(PL.replace("korektę faktury", "„korektę faktury”"), "cp1250"))
    boundary = "----=_NextPart_000_0012_01DB2A11.5F3C2E40"
    html = ("<html><body><p>" + CS.replace(". ", ".</p><p>") + "</p></body></html>")
    message("undeclared-cs-iso-8859-2-alternative", [
        "Message-ID: <fid-charset-cs@golden.example>", "From: jiri.dvorak@obchod.example", "To: nakup@firma.example",
        raw_subject("Objednávka na příští měsíc", "iso8859_2"),
        f'Content-Type: multipart/alternative; boundary="{boundary}"'],
        b"\r\n".join([f"--{boundary}".encode(), b"Content-Type: text/plain", b"Content-Transfer-Encoding: 8bit", b"",
                      lines(CS, "iso8859_2"), f"--{boundary}".encode(), b"Content-Type: text/html",
                      b"Content-Transfer-Encoding: quoted-printable", b"", qp(html.encode("iso8859_2")),
                      f"--{boundary}--".encode(), b""]))
    message("undeclared-hu-iso-8859-2", [
        "Message-ID: <fid-charset-hu@golden.example>", "From: szucs.erzsebet@ertekesites.example",
        "To: kovacs@vevo.example", raw_subject("Szűcs Erzsébet: megrendelés Győrbe", "iso8859_2"),
        "Content-Type: text/plain", "Content-Transfer-Encoding: quoted-printable"],
        qp(lines(HU, "iso8859_2")))
    declared = [  # (name, label, text, codec, transfer encoding)
        ("iso-8859-8-i", "iso-8859-8-i", "שלום רב, מצורפת הצעת המחיר המעודכנת לפגישה ביום שלישי. בברכה, דוד כהן",
         "iso8859_8", "quoted-printable"),
        ("iso-8859-6-i", "ISO-8859-6-I", "مرحبا، نرفق لكم عرض السعر المحدث للشهر القادم. مع تحياتنا", "iso8859_6",
         "base64"),
        ("windows-874", "windows-874", "สวัสดีครับ ขอบคุณสำหรับการตอบกลับ แนบใบเสนอราคามาด้วย “ด่วน”", "cp874", "base64"),
        ("x-sjis", "x-sjis", "お世話になっております。①見積書、②請求書を添付いたします。", "cp932", "base64"),
        ("ks_c_5601-1987", "ks_c_5601-1987", "안녕하세요. 똠방각하 견적서를 첨부합니다. 감사합니다.", "cp949",
         "base64"),
        ("x-mac-roman", "x-mac-roman", "Bonjour, voici le devis – prix unitaire 12 € – pour la crème brûlée…",
         "mac_roman", "quoted-printable"),
        ("gb2312-with-gbk", "gb2312", "您好，附件是朱镕基纪念馆的报价单，请查收。", "gbk", "base64"),
        ("x-user-defined", "x-user-defined", PL, "cp1250", "quoted-printable"),
        ("iso-8859-9-c1", "iso-8859-9", "Merhaba, “fiyat teklifi” ekte – toplam 1.200 €. Saygılarımızla, Ayşe Yılmaz.",
         "cp1254", "8bit"),
    ]
    for name, label, text, codec, cte in declared:
        data = lines(text, codec)
        body = (base64.encodebytes(data).replace(b"\n", b"\r\n") if cte == "base64"
                else qp(data) if cte == "quoted-printable" else data)
        message(name, [f"Message-ID: <fid-charset-{name}@golden.example>", "From: sender@golden.example",
                       "To: crm@golden.example", f"Subject: charset {label}",
                       f'Content-Type: text/plain; charset="{label}"', f"Content-Transfer-Encoding: {cte}"], body)


if __name__ == "__main__":
    build()
