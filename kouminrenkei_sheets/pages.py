"""The one Jinja environment of the HTML pages the tool writes (the publication page, the desk's
report page): partner text is escaped everywhere, a missing value is an error, not a blank."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@cache
def template_environment() -> Environment:
    """Templates from the package's ``templates/`` folder, HTML auto-escaped."""
    return Environment(
        loader=PackageLoader("kouminrenkei_sheets", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
