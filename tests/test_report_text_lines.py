"""The text report writes the lines rich would only copy itself (auditor/report/text.py `print_lines`): the output
must be what rich prints, whatever the lines hold (wide characters, tabs, long words, spaces at either end)."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console, Group
from rich.text import Text

from auditor.report.text import print_lines

# Printable ASCII (written by print_lines itself: spaces in runs, words longer than a line) and lines mixing in
# what rich must handle (tabs, newlines, wide and combining characters).
_ASCII = st.sampled_from([*"ab Z-:,()0", "  ", "abcdefghij", "          "])
_OTHER = st.sampled_from(["\t", "é", "漢", "\u0301", "😀", "\n"])
_WORDS = st.one_of(st.lists(_ASCII, max_size=60), st.lists(st.one_of(_ASCII, _OTHER), max_size=30))
_LINES = st.lists(st.builds(lambda words, style: Text("".join(words), style=style), _WORDS,
                            st.sampled_from(["green", "", "bold red"])), max_size=8)


def _both(lines: list[Text], **console: object) -> tuple[str, str]:
    ours, rich = io.StringIO(), io.StringIO()
    print_lines(Console(file=ours, **console), lines)  # type: ignore[arg-type]
    Console(file=rich, **console).print(Group(*lines))  # type: ignore[arg-type]
    return ours.getvalue(), rich.getvalue()


@given(_LINES, st.integers(min_value=4, max_value=50))
def test_lines_are_printed_as_rich_prints_them(lines: list[Text], width: int) -> None:
    ours, rich = _both(lines, width=width, force_terminal=False)
    assert ours == rich


@given(_LINES)
def test_with_colour_rich_prints_every_line(lines: list[Text]) -> None:
    ours, rich = _both(lines, width=30, force_terminal=True, color_system="truecolor")
    assert ours == rich


class _Counting(Console):
    printed = 0

    def print(self, *objects: object, **kwargs: object) -> None:  # type: ignore[override]
        self.printed += 1
        super().print(*objects, **kwargs)  # type: ignore[arg-type]


def test_lines_within_the_width_are_copied_and_only_the_others_go_through_rich() -> None:
    out = io.StringIO()
    console = _Counting(file=out, width=30, force_terminal=False)
    print_lines(console, [Text("Store 1: all for 2 role(s)", style="green"), Text("Store 2: Guest", style="green")])
    assert console.printed == 0 and out.getvalue() == "Store 1: all for 2 role(s)\nStore 2: Guest\n"
    print_lines(console, [Text("x" * 25 + " " + "y" * 10, style="green"), Text("Store é")])
    assert console.printed == 1  # the line that is not ASCII
    assert out.getvalue().endswith("x" * 25 + " \n" + "y" * 10 + "\nStore é\n")  # rich keeps the space
