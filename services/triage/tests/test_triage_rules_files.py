"""Rules files are checked at load: a mistake names the file and the line, and nothing starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from signaalpunt_contracts import Cue
from signaalpunt_triage.rules import Rulebook, RulesError

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "signaalpunt_triage" / "rules"
CUES = {c.value for c in Cue}


def folder_with(tmp_path: Path, name: str, text: str) -> Path:
    shutil.copy(SHIPPED / "default.yaml", tmp_path / "default.yaml")
    (tmp_path / name).write_text(text)
    return tmp_path


def test_shipped_rules_load_with_versions() -> None:
    book = Rulebook.load(SHIPPED, CUES)
    assert book.default.version.startswith("default@")
    assert book.for_municipality("GM0715").version.startswith("default@")
    assert "+GM0715@" in book.for_municipality("GM0715").version
    assert book.for_municipality("GM0687") is book.default


def test_unknown_route_names_file_and_line(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        "GM0715.yaml",
        "municipality: GM0715\n"
        'version: "1"\n'
        "rules:\n"
        "  - id: local-rule\n"
        "    description: a local rule\n"
        "    when: {cues_any: [lives_alone]}\n"
        "    then: {route: team_buurt}\n",
    )
    with pytest.raises(RulesError) as caught:
        Rulebook.load(folder, CUES)
    message = str(caught.value)
    assert f"{folder / 'GM0715.yaml'}:7:" in message
    assert "rules.0.then.route" in message


def test_unknown_cue_is_refused(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        "GM0715.yaml",
        'municipality: GM0715\nversion: "1"\nrules:\n'
        "  - id: typo\n    description: typo in a cue\n"
        "    when: {cues_any: [lives_alon]}\n    then: {route: team_welzijn}\n",
    )
    with pytest.raises(
        RulesError, match=r"GM0715.yaml: rule 'typo' uses unknown cues \['lives_alon'\]"
    ):
        Rulebook.load(folder, CUES)


def test_a_phrase_with_an_unknown_word_list_names_the_cue(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        "GM0715.yaml",
        'municipality: GM0715\nversion: "1"\ntext_cues:\n  loneliness:\n'
        "    phrases: ['alleen @famlie']\n",
    )
    with pytest.raises(
        RulesError, match=r"GM0715.yaml: text cue 'loneliness': unknown word list '@famlie'"
    ):
        Rulebook.load(folder, CUES)


def test_old_regular_expression_patterns_are_refused_with_the_line(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        "GM0715.yaml",
        'municipality: GM0715\nversion: "1"\ntext_cues:\n  loneliness:\n'
        "    patterns: ['(alleen']\n",
    )
    with pytest.raises(RulesError, match=r"GM0715.yaml:5: text_cues.loneliness.patterns"):
        Rulebook.load(folder, CUES)


@pytest.mark.parametrize(
    "change",
    [
        "disable: [acute-risk]\n",
        "disable: [possible-acute-risk]\n",
        "rules:\n  - id: acute-risk\n    description: only checkboxes\n"
        "    when: {cues_any: [wish_to_die]}\n    then: {route: acuut}\n",
    ],
)
def test_a_municipality_cannot_switch_off_the_acute_paths(tmp_path: Path, change: str) -> None:
    folder = folder_with(tmp_path, "GM0715.yaml", f'municipality: GM0715\nversion: "1"\n{change}')
    with pytest.raises(RulesError, match="protected"):
        Rulebook.load(folder, CUES)


def test_a_municipality_cannot_silence_an_acute_phrase_with_except(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        "GM0715.yaml",
        'municipality: GM0715\nversion: "1"\ntext_cues:\n  suicide_risk:\n'
        "    except: ['wil dood']\n",
    )
    with pytest.raises(RulesError, match="no 'except'"):
        Rulebook.load(folder, CUES)


def test_a_municipality_adds_an_acute_phrase_of_its_own(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        "GM0715.yaml",
        'municipality: GM0715\nversion: "1"\ntext_cues:\n  suicide_risk:\n'
        "    phrases: ['uit het leven stappen']\n",
    )
    book = Rulebook.load(folder, CUES)
    said = "Hij zegt dat hij uit het leven wil stappen."
    assert "suicide_risk" in book.for_municipality("GM0715").read_text(said)
    assert "suicide_risk" not in book.default.read_text(said)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "GM0715.yaml", 'municipality: GM0715\nversion: "1"\nrules: [\n')
    with pytest.raises(RulesError, match=r"GM0715.yaml:\d+: not valid YAML"):
        Rulebook.load(folder, CUES)


def test_file_name_and_municipality_must_agree(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "GM0677.yaml", 'municipality: GM0715\nversion: "1"\n')
    with pytest.raises(RulesError, match="municipality must be GM0677"):
        Rulebook.load(folder, CUES)


def test_disabling_an_unknown_rule_is_an_error(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path, "GM0715.yaml", 'municipality: GM0715\nversion: "1"\ndisable: [no-such-rule]\n'
    )
    with pytest.raises(RulesError, match="no-such-rule"):
        Rulebook.load(folder, CUES)


def test_deadline_needs_hours_or_working_days(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        "GM0715.yaml",
        'municipality: GM0715\nversion: "1"\ndeadlines:\n  high: {hours: 2, working_days: 1}\n',
    )
    with pytest.raises(
        RulesError, match=r"GM0715.yaml:4: deadlines.high: .*either hours or working_days"
    ):
        Rulebook.load(folder, CUES)


def test_a_municipality_can_disable_and_replace(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        "GM0677.yaml",
        'municipality: GM0677\nversion: "7"\ndisable: [out-of-scope-topic]\nrules:\n'
        "  - id: lives-alone\n    description: Hulst sends living alone to team eenzaamheid\n"
        "    when: {cues_any: [lives_alone]}\n    then: {route: team_eenzaamheid}\n",
    )
    hulst = Rulebook.load(folder, CUES).for_municipality("GM0677")
    ids = [r.id for r in hulst.rules]
    assert "out-of-scope-topic" not in ids
    assert ids.count("lives-alone") == 1
    assert hulst.version.endswith("+GM0677@7")
