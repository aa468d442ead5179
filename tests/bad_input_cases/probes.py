"""Bad inputs to `hrlib probe --save`, `hrlib predict` and probe folders."""

from tests.bad_input_cases import Case

CASES: list[Case] = []


def _project_with_notes(paths):
    (paths["tmp"] / "project").mkdir()
    (paths["tmp"] / "project" / "notes.txt").write_text("a week of notes")


CASES += [
    Case("probe --save onto a folder of the user's",
         ("probe", "{zoo}", "--run", "E_cD={run}", "--features", "", "--out", "{tmp}/t.csv", "--save", "{tmp}/project"),
         "{tmp}/project: exists and is a folder hrlib did not write, not an hrlib probes folder; hrlib never writes "
         "into or replaces it; choose another --save", _project_with_notes),
    Case("probe --save onto a run folder",
         ("probe", "{zoo}", "--run", "E_cD={run}", "--features", "", "--out", "{tmp}/t.csv", "--save", "{run}"),
         "{run}: exists and is an hrlib run folder, not an hrlib probes folder; hrlib never writes into or "
         "replaces it; choose another --save"),
]
