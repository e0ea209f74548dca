"""The fenced code blocks of one section of a Markdown file: the commands a README gives."""

import re
from dataclasses import dataclass

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its lines (indentation of the fence removed) and where it starts."""

    line: int  # 1-based line of the opening fence
    lines: tuple[str, ...]

    @property
    def commands(self) -> list[str]:
        """The block's non-empty lines that are not only a comment."""
        return [line for line in self.lines if line.strip() and not line.lstrip().startswith("#")]


def section_blocks(markdown: str, heading: str) -> list[Block]:
    """Return the fenced blocks between `heading` (a whole line) and the next heading of its level.

    Raises ValueError when the heading is missing or a block is not closed, so that a README edit
    that loses the section or breaks a fence fails loudly instead of running nothing.
    """
    lines = markdown.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        raise ValueError(f"no heading {heading!r}") from None
    level = len(heading) - len(heading.lstrip("#"))
    blocks: list[Block] = []
    number = start + 1
    while number < len(lines):
        line = lines[number]
        if re.match(rf"^#{{1,{level}}} ", line):
            break
        opening = FENCE.match(line)
        if not opening:
            number += 1
            continue
        indent, fence, opened_on = len(opening["indent"]), opening["fence"], number + 1
        body: list[str] = []
        number += 1
        while number < len(lines) and lines[number].strip() != fence:
            text = lines[number]
            body.append(text[indent:] if text[:indent].strip() == "" else text.lstrip())
            number += 1
        if number >= len(lines):
            raise ValueError(f"the block opened on line {opened_on} is not closed")
        blocks.append(Block(line=opened_on, lines=tuple(body)))
        number += 1
    return blocks
