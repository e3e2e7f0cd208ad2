#!/usr/bin/env python3
"""Writes a mail corpus shaped like a real help-desk mailbox, for
`BENCH_CORPUS=DIR bash benches/email.sh` (see BENCHMARKS.md).

    python3 benches/mail-corpus.py DIR [COUNT] [SEED]

COUNT mails (default 1,000, about 21 MiB) as DIR/00000.eml …, the same bytes
for the same COUNT and SEED:
- multipart/alternative text and HTML bodies, the HTML as mail clients
  write it (a style block, nested divs and spans, a table signature);
- 15 % carry one or two attachments of 8–256 KiB (skewed small; PDF, PNG,
  DOCX-like and log files), base64-encoded;
- a quarter are replies to an earlier mail of the corpus: `Re:` subject,
  In-Reply-To and References headers, the earlier text quoted;
- 150 senders, dates over the last 30 days, a few Received headers each.
"""

import base64
import email.utils
import random
import sys
import unicodedata
from email.message import EmailMessage
from pathlib import Path

TOPICS = [
    ("VPN drops every few minutes", "network"),
    ("Cannot print to the 3rd floor printer", "printing"),
    ("Outlook keeps asking for my password", "email"),
    ("Laptop very slow after the update", "hardware"),
    ("Access to the finance share", "access"),
    ("New starter needs an account", "onboarding"),
    ("Teams calls have no sound", "collaboration"),
    ("Monitor flickers", "hardware"),
    ("Password expired while travelling", "access"),
    ("SAP report times out", "applications"),
    ("Wi-Fi in meeting room B is down", "network"),
    ("Phone does not sync calendar", "mobile"),
]
WORDS = (
    "the a it when after before we I my our system error again please could you "
    "check this morning since yesterday update server connection screen message "
    "shows nothing works tried restart already colleague also same problem urgent "
    "meeting customer deadline thanks regards attached screenshot log file version "
    "windows laptop office network printer account password access folder share"
).split()
FIRST = "Anna Ben Chloe David Emma Farid Grace Hugo Ines Jonas Kaito Lena Marco Nadia Omar Priya".split()
LAST = "Smith Müller García Rossi Nowak Dubois Jensen Kowalski Silva Tanaka Okafor Berg".split()


def sentence(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
    return " ".join(words).capitalize() + "."


def paragraphs(rng, n):
    return ["".join(" " + sentence(rng) for _ in range(rng.randint(2, 5))).strip() for _ in range(n)]


def html_body(paras, sender, quoted):
    style = (
        "<style>\n<!--\n/* Font Definitions */\n@font-face {font-family:Calibri;}\n"
        "p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt; "
        "font-family:\"Calibri\",sans-serif;}\na:link, span.MsoHyperlink {color:#0563C1; "
        "text-decoration:underline;}\n.MsoChpDefault {mso-style-type:export-only;}\n"
        "@page WordSection1 {size:612.0pt 792.0pt; margin:72.0pt 72.0pt 72.0pt 72.0pt;}\n"
        "div.WordSection1 {page:WordSection1;}\n-->\n</style>\n"
    )
    body = "".join(
        f'<p class="MsoNormal"><span style="font-size:11.0pt;font-family:&quot;Calibri&quot;">'
        f"{p}</span><o:p></o:p></p>\n<p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>\n"
        for p in paras
    )
    signature = (
        '<table border="0" cellspacing="0" cellpadding="0" style="border-collapse:collapse">'
        f'<tr><td style="padding:0cm 5.4pt"><p class="MsoNormal"><b><span style="color:#1F3864">'
        f"{sender}</span></b></p><p class=\"MsoNormal\"><span style=\"font-size:9.0pt;color:gray\">"
        "Corp Example Ltd · 1 Example Street · +44 20 7946 0000</span></p></td></tr></table>\n"
        '<p class="MsoNormal"><span style="font-size:8.0pt;color:gray">This e-mail and any '
        "attachments are confidential and intended solely for the addressee. If you have "
        "received it in error, please notify the sender and delete it.</span></p>\n"
    )
    quote = ""
    if quoted:
        quote = (
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
            '<p class="MsoNormal"><b>From:</b> Help Desk<br><b>Sent:</b> earlier</p></div>'
            + "".join(f'<blockquote style="margin-left:30pt"><p>{q}</p></blockquote>' for q in quoted)
        )
    return (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        f"{style}</head><body lang=\"EN-GB\" link=\"#0563C1\"><div class=\"WordSection1\">"
        f"{body}{signature}{quote}</div></body></html>"
    )


def attachment(rng):
    size = int(2 ** (13 + 5 * rng.random() ** 1.25))  # 8 KiB … 256 KiB, most small
    kind = rng.choice(["pdf", "png", "docx", "log"])
    if kind == "log":
        lines = []
        while sum(len(line) for line in lines) < size:
            lines.append(f"2026-11-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:00:00Z "
                         f"ERROR {sentence(rng)}\n")
        return "text", "plain", f"client-{rng.randint(1, 999)}.log", "".join(lines).encode()[:size]
    head = {"pdf": b"%PDF-1.7\n", "png": b"\x89PNG\r\n\x1a\n", "docx": b"PK\x03\x04"}[kind]
    data = head + rng.randbytes(size - len(head))
    subtype = {"pdf": ("application", "pdf"), "png": ("image", "png"),
               "docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")}
    maintype, sub = subtype[kind]
    return maintype, sub, f"{rng.choice(['screenshot', 'report', 'error', 'scan'])}-{rng.randint(1, 99)}.{kind}", data


def main():
    out = Path(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 20261207)
    out.mkdir(parents=True, exist_ok=True)
    senders = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(150)]
    sent = []  # (message id, subject, paragraphs)
    start = 1_794_000_000  # late November 2026
    for i in range(count):
        name = rng.choice(senders)
        local = unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()
        address = local.replace(" ", ".") + f"{senders.index(name)}@corp.example"
        msg = EmailMessage()
        msg["From"] = email.utils.formataddr((name, address))
        msg["To"] = "Help Desk <help@corp.example>"
        when = start + i * 2_592_000 // count + rng.randint(0, 600)
        msg["Date"] = email.utils.formatdate(when)
        message_id = f"<{rng.getrandbits(64):016x}.{i}@mail.corp.example>"
        msg["Message-ID"] = message_id
        for hop in range(rng.randint(2, 4)):
            msg["Received"] = (f"from mx{hop}.corp.example (mx{hop}.corp.example [10.0.{hop}.{rng.randint(1, 254)}]) "
                               f"by relay.corp.example with ESMTPS id {rng.getrandbits(40):010x}; "
                               f"{email.utils.formatdate(when - hop)}")
        msg["X-MS-Exchange-Organization-SCL"] = "-1"
        msg["Thread-Topic"] = "x"
        quoted = []
        if sent and rng.random() < 0.25:
            parent_id, parent_subject, parent_paras = rng.choice(sent[-200:])
            subject = parent_subject if parent_subject.startswith("Re: ") else f"Re: {parent_subject}"
            msg["In-Reply-To"] = parent_id
            msg["References"] = parent_id
            quoted = parent_paras
            paras = paragraphs(rng, rng.randint(1, 3))
        else:
            topic, _ = rng.choice(TOPICS)
            subject = f"{topic} ({rng.randint(100, 999)})"
            paras = paragraphs(rng, rng.randint(2, 7))
        msg.replace_header("Thread-Topic", subject.removeprefix("Re: "))
        msg["Subject"] = subject
        text = "\n\n".join(paras) + f"\n\n--\n{name}\nCorp Example Ltd\n"
        if quoted:
            text += "\n" + "\n".join("> " + q for q in quoted)
        msg.set_content(text)
        msg.add_alternative(html_body(paras, name, quoted), subtype="html")
        if rng.random() < 0.15:
            for _ in range(rng.choice([1, 1, 1, 2])):
                maintype, sub, filename, data = attachment(rng)
                msg.add_attachment(data, maintype=maintype, subtype=sub, filename=filename)
        (out / f"{i:05d}.eml").write_bytes(msg.as_bytes())
        sent.append((message_id, subject, paras))


if __name__ == "__main__":
    main()
