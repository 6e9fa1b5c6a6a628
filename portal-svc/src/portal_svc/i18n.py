"""Message catalogues (babel): Chinese first, English on request.

Source strings are English; `locale/<lang>/LC_MESSAGES/messages.po` translates them. The .po
files are compiled in memory at start-up, so there is no build step and no binary in the repo.
Refresh the template with `pybabel extract -F portal-svc/babel.cfg -o messages.pot portal-svc/src`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("zh_CN", "en")
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}


def load_catalogue(locale: str, directory: Path = LOCALE_DIR) -> NullTranslations:
    path = directory / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalogue = read_po(po, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return Translations(fp=buffer)


@dataclass(frozen=True)
class Catalogues:
    by_locale: dict[str, NullTranslations]
    default: str

    @classmethod
    def load(cls, default: str = "zh_CN", directory: Path = LOCALE_DIR) -> Catalogues:
        return cls({loc: load_catalogue(loc, directory) for loc in LOCALES}, default)

    def pick(self, wanted: str | None) -> str:
        return wanted if wanted in self.by_locale else self.default

    def gettext(self, locale: str) -> Callable[[str], str]:
        return self.by_locale[self.pick(locale)].gettext
