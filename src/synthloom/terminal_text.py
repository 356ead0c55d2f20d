"""Text for the terminal: data is printed as data. The one place console output is made safe.

Seed values, model replies, tool results, document names and the errors of servers are not trusted, and
a terminal takes some characters as commands: ESC opens sequences that set the window title, write the
clipboard (OSC 52), clear the screen or draw hyperlinks; other C0 and C1 controls move the cursor or
overwrite a line (`\\r`); bidirectional overrides reorder what is shown. rich, besides, reads `[...]`
as markup (a `[link=...]` becomes a live hyperlink, a stray `[/x]` raises). So everything synthloom
writes to a console from such a source passes through here:

- `printable(text)` shows each control character as an escape (`\\x1b`, `\\u202e`), keeping newlines
  and tabs;
- `plain(text)` is a rich `Text` of it: rich never parses it as markup;
- `PrintableFormatter` does the same to every log line the command line writes.

The command line's error line, `preview`'s table and failure list, the live display and the log
handler use these; JSON output needs nothing (JSON escapes control characters itself).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["PrintableFormatter", "plain", "printable"]

#: C0 controls but tab and newline, DEL, C1 controls, and the bidirectional marks and overrides.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """`text` (made a string) with every character a terminal would act on shown as an escape."""
    return _UNSAFE.sub(_escape, str(text))


def plain(text: object) -> Text:
    """`text` as a rich `Text`: escaped (`printable`) and never read as markup."""
    from rich.text import Text

    return Text(printable(text))


class PrintableFormatter(logging.Formatter):
    """A log formatter whose lines are `printable`: a logged value cannot drive the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))
