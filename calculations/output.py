"""How an output's decimal digits are summarised on the row for previews."""

from dataclasses import dataclass

# Outputs up to this many digits are previewed in full; longer ones as head…tail.
PREVIEW_FULL_DIGITS = 60
PREVIEW_EDGE_DIGITS = 24


@dataclass(frozen=True)
class OutputSummary:
    digits: int
    head: str
    tail: str


def summarise(decimal: str) -> OutputSummary:
    if len(decimal) <= PREVIEW_FULL_DIGITS:
        return OutputSummary(digits=len(decimal), head=decimal, tail="")
    return OutputSummary(
        digits=len(decimal),
        head=decimal[:PREVIEW_EDGE_DIGITS],
        tail=decimal[-PREVIEW_EDGE_DIGITS:],
    )
