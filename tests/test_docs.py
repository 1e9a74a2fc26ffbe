"""The guides stay true to the repository: cross-references, the data samples' size, and their commands
write where git ignores."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

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


def analyst_visits_csv(out: Path):
    """``OUT/visits.csv`` read by docs/analyst.md's code (``visits_csv = pd.read_csv(...)``)."""
    code = re.search(r"^visits_csv = pd\.read_csv\(.*?\)[^\n]*$", (ROOT / "docs" / "analyst.md").read_text(encoding="utf-8"),
                     re.M | re.S).group(0)  # fmt: skip
    scope: dict = {}
    exec(f"import pandas as pd\nout = {str(out)!r}\n{code}", scope)
    return scope["visits_csv"]


def test_the_analyst_guides_csv_reading_gives_the_same_types_whatever_the_values(tmp_path):
    # its first version (.convert_dtypes()) typed a float column Int64 when every value happened
    # to be whole (max_follicle_mm 12.0) and Float64 otherwise: types that depend on the data
    from follicle_seg.io.tables import write_tables
    from follicle_seg.visits import _frame

    row = {"patient_id": "007", "group": "low", "study_date": "2025-01-06", "days_from_baseline": 0,
           "follicle_count": 2, "afc": 1, "delta_follicle_count": None, "any_follicle_ge10mm": True,
           "needs_review": False}  # fmt: skip
    types = []
    for k, size in enumerate((12.0, 12.5)):
        out = tmp_path / str(k)
        write_tables({"visits": _frame([{**row, "max_follicle_mm": size}], "visits")}, out)
        visits = analyst_visits_csv(out)
        assert visits["patient_id"].tolist() == ["007"] and visits["delta_follicle_count"].isna().all()
        types.append(visits.dtypes.astype(str).to_dict())
    assert types[0] == types[1]
    assert types[0]["max_follicle_mm"] == "Float64" and types[0]["follicle_count"] == "Int64"
    assert types[0]["needs_review"] == "boolean"


#: Options of the guides' commands that name a folder or file the command writes.
WRITES = {"--out", "--output_dir", "--work", "--json", "--checkpoints", "--cache"}


def _written_paths(guide: Path) -> list[str]:
    """The relative paths the guide's ```bash commands write (placeholders in capitals left out)."""
    paths = []
    for block in re.findall(r"^```bash\n(.*?)^```", guide.read_text(encoding="utf-8"), re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            written = [b for a, b in zip(words, words[1:]) if a in WRITES]
            if words[:2] == ["follicle-seg", "synth"] and len(words) > 2:
                written.append(words[2])
            paths += [w for w in written if not w.isupper() and not w.startswith(("/", ".."))]
    return paths


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_the_guides_commands_write_only_where_git_ignores():
    # README's agreement check wrote check_study/ and check_run/ (48 DICOM files and a run) into the
    # repository root, where `git add -A` took them in
    found = [(guide.name, path) for guide in GUIDES for path in _written_paths(guide)]
    assert len(found) > 20  # the commands are read
    def ignored(path: str) -> bool:  # a file, or a folder the command makes (a `name/` pattern)
        return any(subprocess.run(["git", "check-ignore", "-q", "--no-index", p], cwd=ROOT).returncode == 0
                   for p in (path, f"{path.rstrip('/')}/"))

    tracked = [f"{name}: {path}" for name, path in found if not ignored(path)]
    assert tracked == []


def test_the_readme_command_table_names_only_options_its_commands_have():
    # the table is what a new user reads first; each --option in a command's row is one of its
    # command's (a renamed option left the README naming one `--help` does not show)
    import typer

    from follicle_seg.cli import app

    commands = typer.main.get_command(app).commands
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `follicle-seg ")]
    assert len(rows) >= 6
    unknown = []
    for row in rows:
        names = re.findall(r"follicle-seg (\w+)", row.split("|")[1])
        known = {o for n in names for p in commands[n].params for o in (*p.opts, *p.secondary_opts)}
        unknown += [f"{'/'.join(names)}: {o}" for o in re.findall(r"--[a-z][a-z-]*", row) if o not in known]
    assert unknown == []


def test_the_follicle_notched_bounds_the_measurement_guide_gives_are_trackings():
    # docs/measurement.md, "Review flags": "dents into its convex hull 0.09 x its half-width
    # (d2 / 2) deep or more, and 0.8 pixel" (it said 0.1 once the bound was 0.09)
    from follicle_seg.tracking import MIN_DENT_FRACTION, MIN_DENT_PX

    text = " ".join((ROOT / "docs" / "measurement.md").read_text(encoding="utf-8").split())
    said = re.search(r"dents into its convex hull ([\d.]+) x its half-width \(d2 / 2\) deep or more, and ([\d.]+) pixel", text)
    assert said is not None
    assert (float(said.group(1)), float(said.group(2))) == (MIN_DENT_FRACTION, MIN_DENT_PX)
    assert f"`tracking.MIN_DENT_FRACTION` {MIN_DENT_FRACTION}" in text
