"""The guides stay true to the repository: cross-references and the data samples' size."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _titles(path: Path) -> list[str]:
    """A guide's section headings and bold paragraph titles."""
    text = path.read_text(encoding="utf-8")
    return re.findall(r"^#+\s+(.+)$", text, re.M) + re.findall(r"\*\*([^*]+)\*\*", text)


def test_named_cross_references_point_to_a_section_of_that_guide():
    # `docs/batch.md, "Batch engine"`, `README "Known limitations"`: the quoted title begins a
    # heading or a bold paragraph title of the guide named
    broken = []
    for guide in GUIDES:
        text = guide.read_text(encoding="utf-8")
        for match in re.finditer(r'\b(README|(?:docs/)?[a-z_]+\.md)\)?,?\s+"([^"\n]+)"', text):
            name, title = match.groups()
            target = ROOT / "README.md" if name == "README" else ROOT / "docs" / Path(name).name
            if target.exists() and not any(t.startswith(title) for t in _titles(target)):
                broken.append(f"{guide.name}:{text.count(chr(10), 0, match.start()) + 1}: {name} \"{title}\"")
    assert broken == []


def test_data_samples_size_as_documented():
    said = re.search(r"about 1\.3 MB in all: ([\d,]+) bytes", (ROOT / "docs" / "ingestion.md").read_text(encoding="utf-8"))
    assert said is not None
    size = sum(p.stat().st_size for p in (ROOT / "data_samples").iterdir() if p.is_file())
    assert int(said.group(1).replace(",", "")) == size
