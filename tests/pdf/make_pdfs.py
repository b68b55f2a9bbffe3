"""French documents written by libraries Carnet did not write, for the extraction tests and the
benchmark: PDFs with a text layer by fpdf2, a scanned-like PNG of French text drawn by Pillow,
and that PNG in a PDF without any text layer (a scan).

    make_pdfs.py report OUT.pdf [--kib 100] [--seed N] [--marker WORD]   a multi-page report
    make_pdfs.py letter OUT.pdf --text TEXT [--title TITLE]             a one-page letter
    make_pdfs.py scan OUT.png --text TEXT                               French text as an image
    make_pdfs.py scan-pdf OUT.pdf --text TEXT [--pages N]               that image, no text layer
    make_pdfs.py reports DIR --count N [--kib 100] [--pages M]          N reports and M scanned
                                                                        pages as PNGs (the benchmark)

Run by scripts/test's interpreter (CARNET_PYTHON, .venv-test with scripts/requirements-test.txt).
"""

import argparse
import io
import os
import random
import sys

from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu"]

VOCABULARY = (
    "créatinine clairance hémoglobine glycémie kaliémie natrémie leucocytes plaquettes ferritine "
    "cholestérol triglycérides transaminases bilirubine albumine protéinurie hématurie "
    "hypertension artérielle insuffisance rénale chronique diabète déséquilibré traitement "
    "posologie comprimé matin soir surveillance échographie abdominale radiographie thoracique "
    "électrocardiogramme fréquence cardiaque régulière auscultation pulmonaire libre "
    "allergie pénicilline éruption cutanée prurit œdème fièvre fébricule asthénie amaigrissement "
    "patiente patient consultation hospitalisation sortie contrôle biologique rendez-vous "
    "néphrologue cardiologue médecin traitant infirmière pharmacien ordonnance renouvellement "
    "examen clinique normal anormal élevé abaissé stable amélioré aggravé depuis semaines mois"
).split()


def font_path(bold=False):
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for d in FONT_DIRS:
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    return None


def new_pdf():
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    regular, bold = font_path(), font_path(True)
    if regular and bold:
        # A TrueType font: every French character, embedded as a subset.
        pdf.add_font("DejaVu", "", regular)
        pdf.add_font("DejaVu", "B", bold)
        return pdf, "DejaVu"
    return pdf, "Helvetica"


def sentence(rng):
    words = [rng.choice(VOCABULARY) for _ in range(rng.randint(6, 16))]
    return (" ".join(words)).capitalize() + "."


def report_bytes(paragraphs, seed, marker=None, title="Compte rendu de consultation de néphrologie"):
    rng = random.Random(seed)
    pdf, family = new_pdf()
    pdf.set_title(title)
    pdf.set_author("Dr Hélène Lefèvre")
    pdf.add_page()
    pdf.set_font(family, "B", 16)
    pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 11)
    pdf.multi_cell(0, 6, "Patiente : Mme Éloïse Châtelet, née le 12/03/1961. Créatinine : 182 µmol/L (élevée).", new_x="LMARGIN", new_y="NEXT")
    if marker:
        pdf.multi_cell(0, 6, f"Référence du dossier : {marker}.", new_x="LMARGIN", new_y="NEXT")
    for i in range(paragraphs):
        if i % 12 == 0:
            pdf.set_font(family, "B", 12)
            pdf.multi_cell(0, 8, f"Section {i // 12 + 1} : évolution et conduite à tenir", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(family, "", 11)
        pdf.multi_cell(0, 6, " ".join(sentence(rng) for _ in range(5)), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def paragraphs_for(kib, seed, marker=None):
    """How many paragraphs make a report of at least `kib` KiB (measured, then corrected)."""
    probe = 20
    size = len(report_bytes(probe, seed, marker))
    base = len(report_bytes(0, seed, marker))
    paragraphs = max(1, int((kib * 1024 - base) / max(1, (size - base) / probe)))
    for _ in range(3):
        length = len(report_bytes(paragraphs, seed, marker))
        if length >= kib * 1024:
            break
        paragraphs = int(paragraphs * kib * 1024 * 1.03 / length) + 1
    return paragraphs


def report(kib, seed, marker=None):
    """A report of about `kib` KiB: measured once with a few paragraphs, then scaled."""
    probe = 20
    size = len(report_bytes(probe, seed, marker))
    base = len(report_bytes(0, seed, marker))
    per = max(1, (size - base) / probe)
    paragraphs = max(1, int((kib * 1024 - base) / per))
    out = report_bytes(paragraphs, seed, marker)
    # The font subset grows with the text: a correction or two reaches the size.
    for _ in range(3):
        if len(out) >= kib * 1024:
            break
        paragraphs = int(paragraphs * kib * 1024 * 1.03 / len(out)) + 1
        out = report_bytes(paragraphs, seed, marker)
    return out


def letter(text, title):
    pdf, family = new_pdf()
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font(family, "B", 14)
    pdf.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 12)
    pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def scan_image(text):
    """Black text on a slightly grey page, 150 dpi A5-ish: what a phone photo of a letter gives."""
    path = font_path()
    font = ImageFont.truetype(path, 34) if path else ImageFont.load_default(size=34)
    image = Image.new("L", (1240, 880), color=245)
    draw = ImageDraw.Draw(image)
    y = 60
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) > 1120 and line:
            draw.text((60, y), line, fill=15, font=font)
            y += 52
            line = word
        else:
            line = candidate
    if line:
        draw.text((60, y), line, fill=15, font=font)
    return image


def png(text):
    out = io.BytesIO()
    scan_image(text).save(out, format="PNG")
    return out.getvalue()


def scan_pdf(text, pages):
    """The image on each page and nothing else: no text layer, as a scanner writes."""
    pdf = FPDF(format="A4")
    image = scan_image(text)
    for _ in range(pages):
        pdf.add_page()
        pdf.image(image, x=10, y=10, w=pdf.w - 20)
    return bytes(pdf.output())


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["report", "letter", "scan", "scan-pdf", "reports"])
    parser.add_argument("out")
    parser.add_argument("--kib", type=int, default=100)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--marker")
    parser.add_argument("--text", default="Ordonnance : amoxicilline un comprimé matin et soir pendant sept jours.")
    parser.add_argument("--title", default="Courrier médical")
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--count", type=int, default=1)
    a = parser.parse_args(argv)
    if a.kind == "report":
        write(a.out, report(a.kib, a.seed, a.marker))
    elif a.kind == "letter":
        write(a.out, letter(a.text, a.title))
    elif a.kind == "scan":
        write(a.out, png(a.text))
    elif a.kind == "scan-pdf":
        write(a.out, scan_pdf(a.text, a.pages or 1))
    else:
        os.makedirs(a.out, exist_ok=True)
        # Measured once: reports of the same length, only their words differ.
        paragraphs = paragraphs_for(a.kib, a.seed)
        for i in range(a.count):
            write(os.path.join(a.out, f"report-{i:04d}.pdf"), report_bytes(paragraphs, a.seed + i))
        for i in range(a.pages or 0):
            text = f"Compte rendu numéro {i} : la patiente présente une allergie à la pénicilline, créatinine élevée."
            write(os.path.join(a.out, f"scan-{i:04d}.png"), png(text))


if __name__ == "__main__":
    main(sys.argv[1:])
