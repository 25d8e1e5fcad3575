"""Letters as PDF (reportlab), stored under MEDIA_ROOT for printing and posting."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from solde import clock

LETTER_DIR = "letters"
_WRAP = 90  # characters per line at 10 pt Helvetica on A4 with 25 mm margins


@dataclass
class Letter:
    sender: str
    recipient_lines: list[str]
    place_date: str
    subject: str
    body: str


def letter_pdf(
    *, sender: str, recipient_lines: list[str], place_date: str, subject: str, body: str
) -> bytes:
    """A one-or-more-page A4 letter."""
    return letters_pdf([Letter(sender, recipient_lines, place_date, subject, body)])


def letters_pdf(letters: list[Letter]) -> bytes:
    """Letters one after the other in one printable PDF, each starting on a new page.
    Uncompressed page streams: a letter is small, and plain text keeps the file greppable for
    operators and tests."""
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, pageCompression=0)
    if letters:
        pdf.setTitle(letters[0].subject if len(letters) == 1 else f"{len(letters)} letters")
        pdf.setAuthor(letters[0].sender)
    for letter in letters:
        _draw(pdf, letter)
    pdf.save()
    return buf.getvalue()


def _draw(pdf: canvas.Canvas, letter: Letter) -> None:
    width, height = A4
    left = 25 * mm
    y = height - 25 * mm
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(left, y, letter.sender)
    # The window of a DL envelope: recipient's address on the right.
    pdf.setFont("Helvetica", 10)
    ay = height - 55 * mm
    for line in letter.recipient_lines:
        pdf.drawString(110 * mm, ay, line)
        ay -= 5 * mm
    y = height - 90 * mm
    pdf.drawString(left, y, letter.place_date)
    y -= 10 * mm
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(left, y, letter.subject)
    y -= 10 * mm
    pdf.setFont("Helvetica", 10)
    for paragraph in letter.body.split("\n\n"):
        for raw in paragraph.split("\n"):
            for line in textwrap.wrap(raw, _WRAP) or [""]:
                if y < 25 * mm:
                    pdf.showPage()
                    pdf.setFont("Helvetica", 10)
                    y = height - 25 * mm
                pdf.drawString(left, y, line)
                y -= 5 * mm
        y -= 3 * mm
    pdf.showPage()


def store_letter(message_id: int, pdf: bytes) -> str:
    """Write the PDF under MEDIA_ROOT; returns the path relative to it."""
    now = clock.local(clock.now())
    rel = Path(LETTER_DIR) / f"{now:%Y}" / f"{now:%m}" / f"message-{message_id}.pdf"
    path = Path(settings.MEDIA_ROOT) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pdf)
    tmp.replace(path)  # atomic: a half-written letter is never printed
    return str(rel)


def letter_path(rel: str) -> Path:
    return Path(settings.MEDIA_ROOT) / rel
