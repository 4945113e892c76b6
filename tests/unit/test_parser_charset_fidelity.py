"""Charset fidelity (issue 14, "Mail other parsers read"): undeclared 8-bit text is read in the
Latin code page its language is written in, and declared charsets under the names mail clients
use (the WHATWG Encoding Standard's labels) decode as those clients decode them.

Texts are written for these tests, one business-mail paragraph per language, in the letters the
language really uses; each is cut to several lengths because detection used to change its mind
at 64 bytes. Western languages are encoded the way their mail is (windows-1252, with Outlook's
curly quotes and dashes), Central European ones in windows-1250 and ISO-8859-2 both.
"""

from __future__ import annotations

import base64
import hashlib
from email import message_from_bytes, policy

import pytest
from mailpipe.common.messages import Sighting
from mailpipe.parser import headers
from mailpipe.parser.bodies import decode_text, detect
from mailpipe.parser.charsets import normalize_encoded_words
from mailpipe.parser.mime import parse_email

WESTERN = {
    "pt": "A formação profissional é uma condição essencial para a evolução da carreira. Na próxima reunião "
          "vamos discutir a avaliação dos funcionários e as ações de melhoria. O orçamento não contempla "
          "despesas extraordinárias, então peço atenção às informações em anexo. Obrigado pela colaboração. "
          "Atenciosamente, João Conceição, coordenação de gestão.",
    "es": "El año pasado la compañía aumentó su facturación en España y en México. Le envío la información "
          "sobre la reunión del próximo miércoles a las diez de la mañana. ¿Podría confirmar su asistencia? "
          "Según el señor Muñoz, el diseño todavía necesita algunos cambios pequeños. Un saludo cordial "
          "desde La Coruña.",
    "fr": "Bonjour, je vous remercie de votre réponse rapide concernant la réunion de février. Nous avons "
          "prévu une présentation détaillée des résultats et des prochaines étapes du projet. Pourriez-vous "
          "confirmer la disponibilité de la salle à l'hôtel de ville ? Le déjeuner sera servi à midi. "
          "Très cordialement, François Lefèvre, responsable qualité.",
    "de": "Sehr geehrte Damen und Herren, vielen Dank für Ihre schnelle Rückmeldung. Die Größe der "
          "gelieferten Möbelstücke entspricht leider nicht unserer Bestellung. Bitte schicken Sie uns bis "
          "nächste Woche eine Lösung oder eine Gutschrift. Für Rückfragen stehe ich Ihnen gerne zur "
          "Verfügung. Mit freundlichen Grüßen aus München, Jürgen Weiß.",
    "it": "Buongiorno, le invio in allegato la proposta per la città di Forlì. Perché il progetto sia "
          "approvato entro venerdì, è necessario che la documentazione arrivi già completa. Sarà mia premura "
          "aggiornarla appena possibile. Cordiali saluti, Niccolò Santarcangelo, ufficio qualità.",
    "no": "Hei, takk for møtet i går. Vi har gått gjennom tilbudet og ønsker å bestille fire nye maskiner "
          "til kontoret på Lillehammer. Kan dere sende en bekreftelse med leveringsdato før påske? Prisene "
          "må være de samme som i fjor. Med vennlig hilsen, Bjørn Sæther, økonomiavdelingen.",
    "sv": "Hej! Tack för ditt svar. Vi behöver ändra tiden för mötet på fredag eftersom många är bortresta. "
          "Kan vi träffas på måndag förmiddag i stället? Jag skickar även över de uppdaterade siffrorna från "
          "försäljningen i Göteborg och Malmö. Vänliga hälsningar, Åsa Strömberg.",
    "is": "Góðan daginn, takk fyrir síðast. Við þurfum að breyta fundartímanum á föstudaginn vegna veðurs. "
          "Getur þú staðfest að skýrslan verði tilbúin fyrir þriðjudag? Kær kveðja, Þórður Sigurðsson, "
          "fjármálasvið.",
    # Outlook's windows-1252: curly quotes, dashes, euro and ellipsis beside the letters.
    "pt-outlook": "Olá Sr. João, segue em anexo a cotação “revisada” – o preço é €1.250,00 por unidade… "
                  "Não hesite em contactar-nos. Cumprimentos, Inês Gonçalves.",
}
CENTRAL = {
    "pl": "Dzień dobry, dziękuję za szybką odpowiedź. W załączniku przesyłam zamówienie na przyszły miesiąc "
          "oraz fakturę za październik. Proszę o potwierdzenie terminu dostawy do Łodzi i Wrocławia. Jeśli "
          "będą jakieś pytania, chętnie pomogę. Z poważaniem, Grzegorz Brzęczyszczykiewicz, dział sprzedaży.",
    "cs": "Dobrý den, děkuji za rychlou odpověď. V příloze posílám objednávku na příští měsíc a fakturu za "
          "říjen. Prosím o potvrzení termínu dodání do Brna a Ostravy. Pokud budete mít nějaké dotazy, rád "
          "vám pomohu. S pozdravem, Jiří Dvořák, obchodní oddělení.",
    "sk": "Dobrý deň, ďakujem za rýchlu odpoveď. V prílohe posielam objednávku na budúci mesiac a faktúru "
          "za október. Prosím o potvrdenie termínu dodania do Košíc a Žiliny. Ak budete mať nejaké otázky, "
          "rád vám pomôžem. S pozdravom, Ľubomír Šťastný.",
    "hu": "Tisztelt Hölgyem és Uram! Köszönöm a gyors válaszát. Mellékelten küldöm a jövő havi "
          "megrendelést és az októberi számlát. Kérem, erősítse meg a szállítási határidőt Győrbe és Pécsre. "
          "Ha bármilyen kérdése van, szívesen segítek. Üdvözlettel, Szűcs Erzsébet, értékesítési osztály.",
    "hr": "Poštovani, hvala na brzom odgovoru. U privitku šaljem narudžbu za sljedeći mjesec i račun za "
          "listopad. Molim potvrdu roka isporuke za Zagreb i Split. Ako imate pitanja, rado ću pomoći. "
          "Srdačan pozdrav, Đurđa Kovačić, odjel prodaje.",
    "sl": "Spoštovani, hvala za hiter odgovor. V priponki pošiljam naročilo za naslednji mesec in račun za "
          "oktober. Prosim za potrditev roka dobave v Ljubljano in Maribor. Lep pozdrav, Tomaž Žagar.",
    "ro": "Bună ziua, vă mulţumim pentru răspunsul rapid. Vă trimitem în ataşament comanda pentru luna "
          "următoare şi factura pentru octombrie. Vă rugăm să confirmaţi termenul de livrare la Timişoara. "
          "Cu stimă, Ştefan Ţăranu.",
}
# Polish Outlook's windows-1250: „low-high” quotes and dashes.
CENTRAL_CP1250_ONLY = {
    "pl-outlook": "Szanowni Państwo, w nawiązaniu do „zamówienia nr 17” – przesyłam korektę faktury… "
                  "Z wyrazami szacunku, Żaneta Świątek.",
}
SIZES = {"short": 40, "64B": 64, "1KB": 1024, "10KB": 10 * 1024}


def _cut(text: str, size: int) -> str:
    """``text`` repeated and cut to ``size`` characters (= bytes in a single-byte charset), from
    the word of its first letter beyond ASCII (so that even the shortest cut has one)."""
    first = next(i for i, c in enumerate(text) if not c.isascii())
    text = text[text.rfind(" ", 0, first) + 1:] + " " + text[:text.rfind(" ", 0, first)]
    return ((text + " ") * (size // len(text) + 1))[:size]


WESTERN_CASES = [pytest.param(_cut(text, size), id=f"{lang}-{label}")
                 for lang, text in WESTERN.items() for label, size in SIZES.items()]
# A lone letter that both code pages have, as different letters, stays ambiguous: the first 40
# characters of these hold one "š", ISO-8859-2's 0xB9, which is windows-1250's "ą" (Polish).
AMBIGUOUS = {"hr-iso8859_2-short", "sl-iso8859_2-short"}
CENTRAL_CASES = [pytest.param(_cut(text, size), codec, id=f"{lang}-{codec}-{label}",
                              marks=[pytest.mark.xfail(strict=True, reason="one ambiguous letter")]
                              if f"{lang}-{codec}-{label}" in AMBIGUOUS else [])
                 for lang, text in CENTRAL.items() for codec in ("cp1250", "iso8859_2")
                 for label, size in SIZES.items()]
CENTRAL_CASES += [pytest.param(_cut(text, size), "cp1250", id=f"{lang}-cp1250-{label}")
                  for lang, text in CENTRAL_CP1250_ONLY.items() for label, size in SIZES.items()]


@pytest.mark.parametrize("text", WESTERN_CASES)
def test_undeclared_western_text_reads_as_windows_1252(text: str) -> None:
    decoded = decode_text(text.encode("cp1252"), None)
    assert decoded.text == text
    assert decoded.how == "detected"


@pytest.mark.parametrize("text", [p.values[0] for p in WESTERN_CASES if "outlook" not in str(p.id)])
def test_undeclared_latin_1_text_reads_as_latin_1(text: str) -> None:
    assert decode_text(text.encode("latin-1"), None).text == text


@pytest.mark.parametrize(("text", "codec"), CENTRAL_CASES)
def test_undeclared_central_european_text_reads_in_its_code_page(text: str, codec: str) -> None:
    decoded = decode_text(text.encode(codec), None)
    assert decoded.text == text
    assert decoded.how == "detected"


@pytest.mark.parametrize(("text", "codec"), [("año", "cp1252"), ("Formação", "cp1252"), ("Łódź", "cp1250"),
                                             ("Příliš žluťoučký kůň", "iso8859_2"), ("Zażółć gęślą jaźń", "cp1250"),
                                             ("Árvíztűrő tükörfúrógép", "cp1250"), ("Ærø and Göteborg", "cp1252")])
def test_a_few_words_read_in_their_code_page(text: str, codec: str) -> None:
    """Short texts (a subject line): ambiguous letters alone ("año" / "ańo") keep windows-1252,
    the commonest; letters only one language family writes decide."""
    assert decode_text(text.encode(codec), None).text == text


SUBJECTS = [(_cut(WESTERN["pt"], 90), "cp1252"), (_cut(WESTERN["es"], 90), "cp1252"),
            (_cut(CENTRAL["pl"], 90), "cp1250"), (_cut(CENTRAL["cs"], 90), "iso8859_2")]


@pytest.mark.parametrize(("text", "codec"), SUBJECTS)
def test_raw_8bit_subjects_read_in_their_code_page(text: str, codec: str) -> None:
    """Headers share the detection (headers.repair turns surrogate-escaped bytes into text)."""
    assert headers.repair(text.encode(codec).decode("utf-8", "surrogateescape")) == text


def test_text_declared_utf_8_that_is_not_reads_as_western() -> None:
    text = _cut(WESTERN["es"], 300)
    decoded = decode_text(text.encode("cp1252"), "utf-8")
    assert decoded.text == text


def test_a_whole_message_with_an_undeclared_body_and_raw_subject() -> None:
    subject, body = _cut(WESTERN["pt"], 80), _cut(WESTERN["pt"], 2000)
    raw = (b"From: joao@example.com\r\nTo: ana@example.com\r\nSubject: " + subject.encode("cp1252")
           + b"\r\nMessage-ID: <fid-charset@example.com>\r\nContent-Type: text/plain\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body.encode("cp1252") + b"\r\n")
    parsed = parse_email(raw, Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1),
                         sha256=hashlib.sha256(raw).hexdigest())
    assert parsed.subject == subject.strip()
    assert parsed.text_body == body.rstrip()
    assert "charset_detected" in parsed.warnings


# --- declared charsets under other names ------------------------------------------------------
# (label as mail declares it, text, Python codec that writes it): labels the stdlib's
# codecs.lookup does not know, which policy.default cannot decode at all (get_content raises
# LookupError; mail-parser falls back to UTF-8 with U+FFFD).
UNKNOWN_TO_PYTHON = [
    ("iso-8859-8-i", "שלום, מצורפת הצעת המחיר המעודכנת לפגישה ביום שלישי.", "iso8859_8"),
    ("iso-8859-8-e", "שלום עולם", "iso8859_8"),
    ("csiso88598i", "תודה רבה", "iso8859_8"),
    ("logical", "תודה רבה", "iso8859_8"),
    ("iso-8859-6-i", "مرحبا، نرفق لكم عرض السعر المحدث.", "iso8859_6"),
    ("iso-8859-6-e", "شكرا جزيلا", "iso8859_6"),
    ("windows-874", "สวัสดีครับ ขอบคุณสำหรับใบเสนอราคา", "cp874"),
    ("dos-874", "ขอบคุณครับ", "cp874"),
    ("x-mac-roman", "Café – “quoted” naïve façade", "mac_roman"),
    ("mac", "Café – “quoted”", "mac_roman"),
    ("csmacintosh", "Crème brûlée…", "mac_roman"),
    ("x-mac-cyrillic", "Здравствуйте, спасибо за ответ", "mac_cyrillic"),
    ("x-mac-ce", "Zażółć gęślą jaźń", "mac_latin2"),  # not WHATWG: older Mac mail
    ("x-sjis", "お世話になっております。①②の件、承知しました。", "cp932"),
    ("windows-31j", "株式会社①　ご確認ください", "cp932"),
    ("x-euc-jp", "お世話になっております", "euc_jp"),
    ("cseuckr", "안녕하세요, 견적서를 보내드립니다", "euc_kr"),
    ("ks_c_5601-1989", "안녕하세요 똠방각하", "cp949"),
    ("windows-949", "감사합니다 똠방각하", "cp949"),
    ("x-gbk", "您好，附件是报价单。", "gbk"),
    ("csgb2312", "您好，附件是报价单", "gb2312"),
    ("cn-big5", "您好，附件是報價單", "big5"),
    ("x-x-big5", "謝謝", "big5"),
    ("x-cp1250", "Zażółć gęślą jaźń – „cytat”", "cp1250"),
    ("x-cp1251", "Здравствуйте", "cp1251"),
    ("x-cp1252", "It’s “fine” – €5", "cp1252"),
    ("iso885915", "Prix : 20 € œuvre", "iso8859_15"),
    ("iso88592", "Příliš žluťoučký kůň", "iso8859_2"),
]
# Labels Python knows, whose charset a mail client reads with the superset WHATWG names: where the
# strict charset fails (policy.default writes U+FFFD), the superset decodes it.
SUPERSET_FALLBACK = [
    ("shift_jis", "お世話になっております。①②の件、承知しました。", "cp932"),  # NEC row 13 (Windows)
    ("sjis", "株式会社①", "cp932"),
    ("ks_c_5601-1987", "안녕하세요 똠방각하", "cp949"),  # a UHC syllable outside KS X 1001
    ("euc-kr", "똠방각하 감사합니다", "cp949"),
    ("gb2312", "您好，镕基", "gbk"),  # 镕: GBK, not GB 2312
    ("gbk", "欢迎€", "gb18030"),  # A2E3: the euro sign of GB 18030, which WHATWG's GBK decoder reads
    ("big5", "您好，香港特別行政區：𥚃", "big5hkscs"),  # an HKSCS ideograph
]


@pytest.mark.parametrize(("label", "text", "codec"), UNKNOWN_TO_PYTHON + SUPERSET_FALLBACK,
                         ids=[c[0] for c in UNKNOWN_TO_PYTHON + SUPERSET_FALLBACK])
def test_a_declared_charset_under_another_name_decodes_as_mail_clients_read_it(label: str, text: str,
                                                                               codec: str) -> None:
    decoded = decode_text(text.encode(codec), label)
    assert decoded.text == text
    assert decoded.how == "declared"


@pytest.mark.parametrize("label", ["iso-8859-8-i", "ISO-8859-8-I", " 'iso-8859-8-i' ", '"Windows-874"'])
def test_labels_are_matched_without_case_quotes_or_blanks(label: str) -> None:
    text = "שלום" if "8859" in label else "สวัสดี"
    codec = "iso8859_8" if "8859" in label else "cp874"
    assert decode_text(text.encode(codec), label).text == text


# Labels Python knows, on bytes their codec decodes: exactly policy.default's text.
AS_POLICY_DEFAULT = [
    ("gb2312", b"\xc4\xe3\xba\xc3\xa1\xa4\xca\xc0\xbd\xe7\xa1\xaa"),  # A1A4/A1AA: U+30FB, U+2015 (GB 2312), not GBK's
    ("gbk", "您好，世界".encode("gbk")),
    ("shift_jis", b"\x81\x60\x81\x7c \x82\xa8\x90\xa2\x98\x62"),  # wave dash and minus as JIS maps them
    ("euc-kr", "안녕하세요".encode("euc_kr")),
    ("ks_c_5601-1987", "안녕하세요".encode("euc_kr")),
    ("big5", "您好，世界".encode("big5")),
    ("euc-jp", "お世話になっております".encode("euc_jp")),
    ("iso-2022-jp", "お世話になっております".encode("iso2022_jp")),
    ("koi8-r", "Здравствуйте".encode("koi8_r")),
    ("windows-1251", "Здравствуйте".encode("cp1251")),
    ("iso-8859-7", "Καλημέρα".encode("iso8859_7")),
    ("iso-8859-8", "שלום".encode("iso8859_8")),
    ("macintosh", "Café – “quoted”".encode("mac_roman")),
    ("tis-620", "สวัสดีครับ".encode("tis_620")),
    ("iso-8859-9", "Günaydın, teşekkürler".encode("iso8859_9")),
    ("iso-8859-1", "Grüße aus Köln".encode("latin-1")),
    ("unicode-1-1-utf-7", "Grüße €".encode("utf-7")),
    ("utf-8", "Grüße €".encode()),
    ("iso-8859-15", "Prix : 20 € œuvre".encode("iso8859_15")),
    ("cp850", "Grüße".encode("cp850")),
]


@pytest.mark.parametrize(("label", "data"), AS_POLICY_DEFAULT, ids=[c[0] for c in AS_POLICY_DEFAULT])
def test_a_charset_the_stdlib_decodes_reads_as_policy_default_reads_it(label: str, data: bytes) -> None:
    raw = b"Content-Type: text/plain; charset=" + label.encode() + b"\r\n\r\n" + data
    expected = message_from_bytes(raw, policy=policy.default).get_content()
    decoded = decode_text(data, label)
    assert decoded.text == expected
    assert decoded.how == "declared"


@pytest.mark.parametrize(("label", "data", "text"), [
    # Outlook labels windows-1252 text ISO-8859-1: 0x80-0x9F are its quotes, dashes and euro sign,
    # where policy.default writes C1 control characters (invisible, never text).
    ("iso-8859-1", b"It\x92s \x93fine\x94 \x96 \x805\x85", "It’s “fine” – €5…"),
    ("latin1", b"\x93ok\x94", "“ok”"),
    ("iso8859-1", b"\x93ok\x94", "“ok”"),
    ("l1", b"\x93ok\x94", "“ok”"),
    # bytes windows-1252 leaves undefined stay what ISO-8859-1 (and WHATWG) make them
    ("iso-8859-1", b"a\x81b\x92c", "a\x81b’c"),
    ("iso-8859-9", b"\x93Te\xfeekk\xfcrler\x94 \x80", "“Teşekkürler” €"),
    ("tis-620", b"\x93\xca\xc7\xd1\xca\xb4\xd5\x94", "“สวัสดี”"),
    ("iso-8859-11", b"\x85\xca\xc7\xd1\xca\xb4\xd5", "…สวัสดี"),
])
def test_iso_8859_text_with_c1_bytes_reads_as_its_windows_code_page(label: str, data: bytes, text: str) -> None:
    decoded = decode_text(data, label)
    assert decoded.text == text
    assert decoded.how == "declared"


@pytest.mark.parametrize("label", ["x-user-defined", "x-unknown", "unknown-8bit", "unknown"])
def test_labels_that_name_no_charset_are_read_as_undeclared(label: str) -> None:
    """x-user-defined (Outlook's "User Defined" encoding: the sender's code page, unnamed),
    unknown-8bit (RFC 1428) and x-unknown say nothing about the bytes: they are detected."""
    text = _cut(CENTRAL["pl"], 200)
    decoded = decode_text(text.encode("cp1250"), label)
    assert decoded.text == text
    assert decoded.how == "detected"
    assert decode_text("Grüße €".encode(), label).text == "Grüße €"


def test_iso_2022_cn_has_no_codec_and_is_detected_not_replaced() -> None:
    """WHATWG maps iso-2022-kr/-cn and hz-gb-2312 to "replacement" (one U+FFFD, against script
    injection in browsers); mail keeps Python's codecs where it has them, and detects the rest."""
    assert decode_text(b"Hello", "iso-2022-cn").text == "Hello"
    assert decode_text("안녕하세요".encode("iso2022_kr"), "iso-2022-kr").text == "안녕하세요"
    assert decode_text("您好".encode("hz"), "hz-gb-2312").text == "您好"


def test_detect_names_a_latin_code_page_for_latin_text() -> None:
    assert detect(_cut(WESTERN["pt"], 1024).encode("cp1252")) == "cp1252"
    assert detect(_cut(CENTRAL["pl"], 1024).encode("cp1250")) == "cp1250"
    assert detect(_cut(CENTRAL["cs"], 1024).encode("iso8859_2")) == "iso8859-2"


# --- the same labels in RFC 2047 encoded words (headers) --------------------------------------
def _word(label: str, text: str, codec: str, cte: str = "B") -> str:
    data = text.encode(codec)
    if cte == "B":
        return f"=?{label}?B?{base64.b64encode(data).decode()}?="
    return f"=?{label}?Q?{''.join(f'={b:02X}' if b > 127 or b in b'=?_ ' else chr(b) for b in data)}?="


@pytest.mark.parametrize(("label", "text", "codec"), UNKNOWN_TO_PYTHON + SUPERSET_FALLBACK,
                         ids=[c[0] for c in UNKNOWN_TO_PYTHON + SUPERSET_FALLBACK])
@pytest.mark.parametrize("cte", ["B", "Q"])
def test_an_encoded_word_under_another_name_reads_as_mail_clients_read_it(label: str, text: str, codec: str,
                                                                         cte: str) -> None:
    """policy.default's registry writes U+FFFD for these (an unknown charset, or bytes its codec
    rejects); rewritten by normalize_encoded_words, the same registry reads the text. Two words
    in a row keep RFC 2047's rule: the white space between them goes."""
    word = _word(label, text, codec, cte)
    value = f"Re: {word} {word} [Case#12]"
    assert "\ufffd" in str(policy.default.header_fetch_parse("Subject", value))
    normalized = normalize_encoded_words(value)
    assert str(policy.default.header_fetch_parse("Subject", normalized)) == f"Re: {text}{text} [Case#12]"


@pytest.mark.parametrize(("label", "data"), AS_POLICY_DEFAULT, ids=[c[0] for c in AS_POLICY_DEFAULT])
def test_an_encoded_word_the_stdlib_decodes_is_left_alone(label: str, data: bytes) -> None:
    if label == "iso-8859-1":  # no C1 bytes in this one: policy.default's reading stands
        assert not any(0x80 <= b <= 0x9F for b in data)
    value = f"=?{label}?B?{base64.b64encode(data).decode()}?= =?{label}?Q?ab_c?= plain =?utf-8?q?x?="
    assert normalize_encoded_words(value) == value


@pytest.mark.parametrize("value", [
    "=?iso-8859-8-i?B?bad-base64?=",  # malformed: the registry's defects and text stay
    "=?iso-8859-8-i?B?YWJj?",  # not closed
    "=?x-user-defined?B?YWJj?=",  # names no charset
    "=?no-such-charset?Q?abc?=",
    "plain text, no words",
    "=?iso-8859-1?Q?Fr\udcf6sche?=",  # raw 8-bit bytes inside a word (surrogate escapes): headers.py's
])
def test_words_it_cannot_improve_are_left_alone(value: str) -> None:
    assert normalize_encoded_words(value) == value


def test_iso_8859_1_words_with_c1_bytes_read_as_windows_1252() -> None:
    value = "=?iso-8859-1?Q?=93Offer=94_=96_=80100?="
    assert str(policy.default.header_fetch_parse("Subject", normalize_encoded_words(value))) == "“Offer” – €100"


def test_display_names_in_address_headers_are_rewritten_too() -> None:
    yamada, david = _word("x-sjis", "山田①", "cp932"), _word("iso-8859-8-i", "דוד", "iso8859_8")
    value = f"{yamada} <yamada@example.jp>, {david} <d@x.il>"
    header = policy.default.header_fetch_parse("From", normalize_encoded_words(value))
    assert [(a.display_name, a.addr_spec) for a in header.addresses] == [("山田①", "yamada@example.jp"),
                                                                         ("דוד", "d@x.il")]


@pytest.mark.parametrize("label", ["base64", "rot13", "hex", "zlib", "uu", "quopri", "bz2", "undefined", "punycode"])
def test_codecs_that_are_no_text_encoding_never_raise(label: str) -> None:
    """The stdlib's codec registry also knows bytes-to-bytes codecs (``bytes.decode`` refuses
    them with LookupError) and ``undefined``/``punycode`` (UnicodeError): as charsets they name
    nothing, and the bytes are read as undeclared."""
    text = _cut(WESTERN["pt"], 200)
    assert decode_text(text.encode("cp1252"), label).text == text
    assert decode_text(b"plain ascii", label).text == "plain ascii"
    word = f"=?{label}?Q?plain?="
    assert normalize_encoded_words(word) == word


@pytest.mark.parametrize(("label", "codec", "text"), [
    ("iso-8859-8-i", "iso8859_8", "שלום עולם"), ("windows-874", "cp874", "สวัสดี"), ("x-sjis", "cp932", "日本語")])
def test_subject_and_display_name_words_under_labels_the_stdlib_lacks_are_decoded(label: str, codec: str,
                                                                                   text: str) -> None:
    word = f"=?{label}?B?{base64.b64encode(text.encode(codec)).decode()}?="
    raw = f"From: {word} <a@example.com>\r\nSubject: {word}\r\n\r\nbody\r\n".encode()
    parsed = parse_email(raw, Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1),
                         sha256=hashlib.sha256(raw).hexdigest())
    assert parsed.subject == text and parsed.from_[0].name == text
