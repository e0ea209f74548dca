"""Scans and photos, end to end: the agent with local OCR and the fake LLM reads them.

Generated scans (150, 200 and 300 dpi, skewed a few degrees, specked with dust, French accents, a
two-column page, phone photos, a TIFF and a WebP) go through the real tesseract and pdftoppm.
Each ends in done/ with the right person, or in review/ with a reason; never with a wrong person.
"""

import json

import scans

PEOPLE = """id,last_name,first_name,birth_date
1,Doe,Jane,1980-02-03
2,Martin,Marie,1975-06-12
3,Martin,Marie,1988-11-30
4,Benali,Youssef,1969-04-21
5,Okafor,Chidi,1992-09-05
6,Lefèvre,François,1958-01-17
7,Garçon,Cécile,2001-07-09
8,Bérard,Hélène,1964-12-25
"""
# Scans too poor for tesseract to read every label right: done/ with the right person or review/
# with a reason are both correct; a wrong person never is.
HARD = {"scan-150dpi-noisy.pdf"}
SIDECAR = ".why.json"
LEFT_COLUMN = [
    "Compte rendu de consultation",
    "",
    "Le patient a été vu ce jour",
    "pour une douleur thoracique.",
    "L'examen clinique est normal.",
    "Électrocardiogramme réalisé.",
]
RIGHT_COLUMN = [
    "Patient: Hélène Bérard",
    "Date of birth: 25/12/1964",
    "Document type: report",
    "Summary: Consultation.",
]


def cases() -> dict[str, tuple[bytes, int | None]]:
    """Return name -> (content, the person it is about, None: a human must choose)."""
    return {
        "scan-300dpi.pdf": (scans.scan(scans.letter("Youssef Benali", "21/04/1969"), 300), 4),
        "scan-200dpi-skewed.pdf": (
            scans.scan(scans.letter("Jane Doe", "03/02/1980"), 200, skew=3.0, noise=0.001),
            1,
        ),
        "scan-150dpi-noisy.pdf": (
            scans.scan(scans.letter("Chidi Okafor", "05/09/1992"), 150, skew=-2.0, noise=0.002),
            5,
        ),
        "accents-300dpi.pdf": (
            scans.scan(scans.letter("François Lefèvre", "17/01/1958"), 300, skew=1.0),
            6,
        ),
        "accents-cedilla.png": (
            scans.page_image(scans.letter("Cécile Garçon", "09/07/2001"), 200, noise=0.001),
            7,
        ),
        "two-columns.tiff": (
            scans.encoded(
                scans.render_page(LEFT_COLUMN, 300, columns=RIGHT_COLUMN), "TIFF", dpi=(300, 300)
            ),
            8,
        ),
        "phone-photo.jpg": (scans.phone_photo(scans.letter("Youssef Benali", "21/04/1969")), 4),
        "phone-photo-tilted.webp": (
            scans.encoded(
                scans.draw.Image.open(
                    scans.io.BytesIO(
                        scans.phone_photo(scans.letter("Jane Doe", "03/02/1980"), angle=-5)
                    )
                ),
                "WEBP",
                quality=85,
            ),
            1,
        ),
        "two-marie-martins.pdf": (scans.scan(scans.letter("Marie Martin", None), 200), None),
    }


def process(home) -> dict[str, tuple[bytes, int | None]]:
    """Run the agent once on every case; return the cases."""
    people = home.root / "people.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    home.write_env(PEOPLE_CSV=str(people), OCR_LANGUAGES="fra+ara+eng")
    documents = cases()
    for name, (data, _person) in documents.items():
        home.drop(name, data)
    agent = home.agent()
    agent.run_once()
    agent.close()
    return documents


def results(home) -> dict[str, dict]:
    found = [json.loads(path.read_text()) for path in (home.state / "outbox").iterdir()]
    return {result["source"]: result for result in found}


def test_generated_scans_end_in_done_with_the_right_person_or_in_review(home):
    documents = process(home)

    # Every scan ends in done/ or review/, none failed.
    assert home.files("failed") == [] and home.files("incoming") == []
    assert sorted(home.files("done") + home.files("review")) == sorted(documents)

    # None is matched to a wrong person.
    matched = results(home)
    for source, result in matched.items():
        assert result["person"]["id"] == documents[source][1], source

    # The scans about one person are matched, the ambiguous one waits with its reason.
    must_match = {name for name, (_, person) in documents.items() if person} - HARD
    assert must_match <= set(matched)
    assert set(home.files("review")) - HARD == {"two-marie-martins.pdf"}
    for name in home.files("review"):
        why = json.loads((home.state / "review" / f"{name}{SIDECAR}").read_text())
        assert why["reason"], name
    why = json.loads((home.state / "review" / f"two-marie-martins.pdf{SIDECAR}").read_text())
    assert why["reason"] == "2 people fit; a human must choose"

    # The OCR text, accents and the right-hand column included, reached the model in the prompt.
    assert matched["accents-300dpi.pdf"]["extracted"]["first_name"] == "François"
    assert matched["accents-cedilla.png"]["extracted"]["last_name"] == "Garçon"
    assert matched["two-columns.tiff"]["extracted"]["last_name"] == "Bérard"
