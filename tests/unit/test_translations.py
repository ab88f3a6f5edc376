"""Every language says everything German says, with the same placeholders, in the right direction.

A missing key would be a ``KeyError`` (or an empty line) in an email or on the join page only for the people
who read that language; a lost ``{placeholder}`` would drop the date or the link without anyone noticing.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telecon.dates import babel_locale
from telecon.templating import TEMPLATES_DIR, language_from_accept, languages, pick_language, texts

EMAIL_DIR = TEMPLATES_DIR / "email"
PAGES_DIR = TEMPLATES_DIR / "i18n"
PARTICIPANT_LANGUAGES = {"de", "en", "de-x-simple", "tr", "ar", "uk", "ru"}
STAFF_LANGUAGES = {"de", "en"}
"""Staff (specialists, coaches) read German or English; only these have the staff leads."""
STAFF_AUDIENCES = {"specialist", "coach"}
STAFF_MESSAGES = {"outcome_recorded", "waitlist_offer"}
"""Messages only staff get (their subject and lead exist in de and en only)."""
STAFF_PAGE_TEXTS = {"outcome_form", "staff"}
"""Page texts only staff read (the outcome form, the staff pages): in de and en only; pages fall back to German."""
RTL_LANGUAGES = {"ar"}
CLDR_PLURALS = {"zero", "one", "two", "few", "many", "other"}


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def email_languages() -> list[str]:
    return sorted(p.name for p in EMAIL_DIR.iterdir() if p.is_dir())


def page_languages() -> list[str]:
    return sorted(p.stem for p in PAGES_DIR.glob("*.json"))


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every string of a nested strings file with its key path; list items are keyed by their index."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, str(index)))
    else:
        yield path, value


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def is_staff_lead(path: tuple[str, ...]) -> bool:
    """A string only staff read: a lead for specialists or coaches, or any part of a staff-only message."""
    if len(path) >= 2 and path[0] in ("subject", "lead") and path[1] in STAFF_MESSAGES:
        return True
    return len(path) == 3 and path[0] == "lead" and path[2] in STAFF_AUDIENCES


def test_the_participant_languages_are_the_same_in_emails_and_pages() -> None:
    assert set(email_languages()) == PARTICIPANT_LANGUAGES
    assert set(page_languages()) == PARTICIPANT_LANGUAGES
    assert languages() == PARTICIPANT_LANGUAGES


@pytest.mark.parametrize("language", email_languages())
def test_email_strings_say_what_german_says(language: str) -> None:
    german = dict(leaves(load(EMAIL_DIR / "de" / "strings.json")))
    strings = load(EMAIL_DIR / language / "strings.json")
    ours = dict(leaves(strings))

    staff_leads = {path for path in german if is_staff_lead(path)}
    assert staff_leads, "the German file lost its staff leads"
    expected = set(german) if language in STAFF_LANGUAGES else set(german) - staff_leads
    assert set(ours) == expected, f"missing {sorted(expected - set(ours))}, extra {sorted(set(ours) - expected)}"

    for path, text in ours.items():
        assert isinstance(text, str), path
        assert text.strip(), f"{language}: {'.'.join(path)} is empty"
        assert placeholders(text) == placeholders(german[path]), f"{language}: {'.'.join(path)}"
        if path[0] == "subject":
            assert "\n" not in text, f"{language}: a subject is one line"
    assert strings["direction"] == ("rtl" if language in RTL_LANGUAGES else "ltr")


@pytest.mark.parametrize("language", page_languages())
def test_page_texts_say_what_german_says(language: str) -> None:
    german = load(PAGES_DIR / "de.json")
    ours = load(PAGES_DIR / f"{language}.json")
    expected = set(german) if language in STAFF_LANGUAGES else set(german) - STAFF_PAGE_TEXTS
    assert set(ours) == expected
    for key, text in ours.items():
        if key == "units":
            continue
        if isinstance(german[key], dict):  # a group: the staff pages' texts, the printed instruction sheet
            staff, german_staff = dict(leaves(text)), dict(leaves(german[key]))
            assert set(staff) == set(german_staff), f"{language}: {key}"
            for path, line in staff.items():
                where = f"{language}: {key}.{'.'.join(path)}"
                assert isinstance(line, str), where
                assert line.strip(), where
                assert placeholders(line) == placeholders(german_staff[path]), where
            continue
        assert isinstance(text, str), key
        assert text.strip(), f"{language}: {key} is empty"
        assert placeholders(text) == placeholders(german[key]), f"{language}: {key}"
    assert ours["direction"] == ("rtl" if language in RTL_LANGUAGES else "ltr")
    for gone in ("weekdays", "months", "date_format", "time_format"):
        assert gone not in ours, "dates come from Babel (telecon.dates), not from the texts"


@pytest.mark.parametrize("language", page_languages())
def test_countdown_units_have_the_plural_forms_of_the_language(language: str) -> None:
    """The page picks a form with the browser's ``Intl.PluralRules``: each category CLDR knows needs one."""
    units = load(PAGES_DIR / f"{language}.json")["units"]
    assert set(units) == {"day", "hour", "minute", "second"}
    categories = set(babel_locale(language).plural_form.tags) | {"other"}
    for unit, forms in units.items():
        assert set(forms) == categories, f"{language}: {unit}"
        assert categories <= CLDR_PLURALS
        for category, form in forms.items():
            assert form.strip(), f"{language}: {unit}.{category}"
            assert placeholders(form) <= {"n"}, f"{language}: {unit}.{category}"
        assert placeholders(forms["other"]) == {"n"}, f"{language}: {unit}.other must show the number"


def test_russian_counts_take_three_forms() -> None:
    plural = babel_locale("ru").plural_form
    days = load(PAGES_DIR / "ru.json")["units"]["day"]
    said = {n: days[plural(n)].replace("{n}", str(n)) for n in (1, 3, 5, 11, 21, 22)}
    assert said == {1: "1 день", 3: "3 дня", 5: "5 дней", 11: "11 дней", 21: "21 день", 22: "22 дня"}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ar", "ar"),
        ("ar-SY, de;q=0.5", "ar"),
        ("tr-TR", "tr"),
        ("uk, ru;q=0.9", "uk"),
        ("fr, ru;q=0.5, en;q=0.4", "ru"),
        ("de-x-simple", "de-x-simple"),
        ("fa", "de"),
    ],
)
def test_the_browsers_language_finds_the_new_languages(header: str, language: str) -> None:
    assert language_from_accept(header) == language


def test_a_regional_tag_falls_back_to_its_language() -> None:
    assert pick_language("ru-UA") == "ru"
    assert pick_language("ar") == "ar"
    assert pick_language("fa") == "de"
    assert texts("ar-EG")["direction"] == "rtl"
