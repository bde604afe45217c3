"""Message templates: Jinja2, sandboxed, one file per template and language.

`templates/<language>/<template>.j2` holds blocks: `subject`, `text` and `html` for e-mail, `sms`
for SMS, `message` for a webhook's human-readable line. The HTML block is rendered with
autoescaping on; plain-text blocks (subject, text, SMS, webhook message) with it off, since they
are not HTML and `&amp;` in an SMS helps nobody. Both environments are sandboxed: a template
cannot reach Python internals, whoever edits it. Values are never personal data: rules only put
states, routes, deadlines and links in the context; the municipality's name, phone and signature
come from configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from signaalpunt_contracts.notifications import MessageChannel

from .domain import AMSTERDAM, LANGUAGES

TEMPLATES = Path(__file__).resolve().parent / "templates"

_MONTHS = {
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
    "en": "January February March April May June July August September October November December",
}

WORDS: dict[str, dict[str, str]] = {
    "nl": {
        "acuut": "acuut",
        "mogelijk_acuut": "mogelijk acuut",
        "jeugdteam": "jeugdteam",
        "team_eenzaamheid": "team eenzaamheid",
        "team_welzijn": "team welzijn",
        "buiten_bereik": "buiten bereik",
        "desk": "het loket",
        "acute": "acuut",
        "high": "hoog",
        "normal": "normaal",
        "low": "laag",
        "received": "ontvangen",
        "triaged": "beoordeeld",
        "in_intake": "in intake",
        "referred": "doorverwezen",
        "closed": "afgesloten",
        "involve_113_or_gp": "schakel 113 Zelfmoordpreventie of de huisarts in",
        "youth_care": "schakel het jeugdteam in",
        "refer_elsewhere": "verwijs door naar een passende plek",
        # needs (a match proposal, a referral)
        "social_contact": "sociaal contact",
        "buddy": "een maatje",
        "daytime_activity": "zinvolle dagbesteding",
        "grief_support": "steun bij rouw",
        "existential_conversation": "gesprekken over levensvragen",
        "practical_help": "praktische hulp (boodschappen, vervoer)",
        "digital_skills": "digitale vaardigheden",
        "language": "taal",
        "debt_money": "geldzorgen",
        "carer_relief": "ontlasting van een mantelzorger",
    },
    "en": {
        "acuut": "acute",
        "mogelijk_acuut": "possibly acute",
        "jeugdteam": "youth team",
        "team_eenzaamheid": "loneliness team",
        "team_welzijn": "welfare team",
        "buiten_bereik": "out of scope",
        "desk": "the desk",
        "acute": "acute",
        "high": "high",
        "normal": "normal",
        "low": "low",
        "received": "received",
        "triaged": "triaged",
        "in_intake": "in intake",
        "referred": "referred",
        "closed": "closed",
        "involve_113_or_gp": "involve 113 Suicide Prevention or the GP",
        "youth_care": "involve the youth team",
        "refer_elsewhere": "refer to a fitting place",
        "social_contact": "social contact",
        "buddy": "a buddy",
        "daytime_activity": "meaningful daytime activity",
        "grief_support": "grief support",
        "existential_conversation": "conversations about questions of life",
        "practical_help": "practical help (groceries, transport)",
        "digital_skills": "digital skills",
        "language": "language",
        "debt_money": "money worries",
        "carer_relief": "relief for a carer",
    },
}


@dataclass(frozen=True)
class Rendered:
    subject: str | None = None
    text: str = ""
    html: str | None = None


class TemplateMissingError(LookupError):
    pass


def _when(language: str) -> Any:
    def when(value: str) -> str:
        """An ISO timestamp as local (Amsterdam) date and time, in words of the language."""
        local = datetime.fromisoformat(value).astimezone(AMSTERDAM)
        month = _MONTHS[language].split()[local.month - 1]
        if language == "nl":
            return f"{local.day} {month} {local.year} om {local:%H:%M}"
        return f"{local.day} {month} {local.year} at {local:%H:%M}"

    return when


def _day(language: str) -> Any:
    def day(value: str) -> str:
        """An ISO date in words of the language."""
        d = date.fromisoformat(value)
        return f"{d.day} {_MONTHS[language].split()[d.month - 1]} {d.year}"

    return day


def _environment(folders: Sequence[Path], autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        # earlier folders win: a later service (or an installation) adds or overrides templates
        loader=ChoiceLoader([FileSystemLoader(folder) for folder in folders]),
        autoescape=autoescape,
        undefined=StrictUndefined,  # a missing value is an error, not an empty gap in a message
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


class Templates:
    def __init__(self, extra_folders: Sequence[Path] = ()) -> None:
        self.folders = (*extra_folders, TEMPLATES)
        self._html = _environment(self.folders, autoescape=True)
        self._text = _environment(self.folders, autoescape=False)

    def names(self) -> list[str]:
        return sorted({p.stem for folder in self.folders for p in (folder / "nl").glob("*.j2")})

    def channels(self, name: str) -> list[MessageChannel]:
        """The channels a template has blocks for."""
        blocks = self._text.get_template(f"nl/{name}.j2").blocks
        found = []
        if "subject" in blocks and "text" in blocks:
            found.append(MessageChannel.EMAIL)
        if "sms" in blocks:
            found.append(MessageChannel.SMS)
        if "message" in blocks:
            found.append(MessageChannel.WEBHOOK)
        return found

    def render(  # noqa: PLR0917 - each argument is a different thing a message is made of
        self,
        name: str,
        language: str,
        channel: MessageChannel,
        values: Mapping[str, Any],
        municipality: Mapping[str, str],
        consortium: str,
    ) -> Rendered:
        if language not in LANGUAGES:
            raise TemplateMissingError(f"no language {language!r}")
        context = {
            **values,
            "municipality": municipality,
            "consortium": consortium,
            "language": language,
            "words": WORDS[language],
        }
        path = f"{language}/{name}.j2"
        if channel is MessageChannel.EMAIL:
            text_template = self._text.get_template(path)
            html_template = self._html.get_template(path)
            return Rendered(
                subject=" ".join(self._block(text_template, "subject", context, language).split()),
                text=self._block(text_template, "text", context, language).strip() + "\n",
                html=self._block(html_template, "html", context, language).strip() + "\n"
                if "html" in html_template.blocks
                else None,
            )
        block = "sms" if channel is MessageChannel.SMS else "message"
        text = self._block(self._text.get_template(path), block, context, language)
        return Rendered(text=" ".join(text.split()))

    @staticmethod
    def _block(template: Template, block: str, context: dict[str, Any], language: str) -> str:
        if block not in template.blocks:
            raise TemplateMissingError(f"template {template.name} has no block {block!r}")
        ctx = template.new_context({**context, "when": _when(language), "day": _day(language)})
        return "".join(template.blocks[block](ctx))
