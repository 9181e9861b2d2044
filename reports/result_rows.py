"""The two table rows of one result on its drill-down page, written here rather than in a template.

A release matrix puts tens of thousands of results on the drill-down pages; a Jinja row costs about
30 µs, an f-string one a few (a third of the whole render at 50,000 results). Every text from a
record goes through `markupsafe.escape`: record strings are hostile.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape


def tolerance_line(tol: dict[str, Any]) -> str:
    rtol = f" (rtol {tol['rtol']})" if tol["rtol"] is not None else ""
    mean = f"; mean abs error {tol['mean']}" if tol["mean"] is not None else ""
    text = f"max abs error {tol['max']} vs atol {tol['atol']}{rtol}{mean}: {tol['verdict']}"
    return f'<p class="tolerance {"ok" if tol["within"] else "bad"}">{escape(text)}</p>'


def rows(
    *,
    anchor: str,
    test_id: str,
    where: str,
    outcome: str,
    glyph: str,
    stage: str,
    duration: str,
    metrics: str,
    message: str,
    tolerance: dict[str, Any] | None,
    expectation: dict[str, Any] | None,
    expectation_link: str | None,
    repro: str,
) -> Markup:
    """The result's row (id, where, outcome, stage, duration, metrics) and its detail row (message,
    tolerance verdict, expectation, repro command with a copy button unless it passed). `anchor`
    and `outcome` are the site's own ([a-z0-9_]); every other text is escaped."""
    details = []
    if message:
        details.append(f'<pre class="message">{escape(message)}</pre>')
    if tolerance:
        details.append(tolerance_line(tolerance))
    if expectation:
        if expectation_link:
            link = f'<a href="{escape(expectation_link)}" rel="noreferrer">{escape(expectation_link)}</a>'
        else:
            link = escape(expectation.get("link") or "—")  # shown as text: not a web link
        outcome_text = escape(expectation.get("outcome") or "—")
        reason = escape(expectation.get("reason") or "—")
        details.append(f'<p class="expectation">Expected {outcome_text}: {reason} · {link}</p>')
    if repro:
        details.append(f'<pre class="repro" id="p{anchor}">{escape(repro)}</pre>')
        if outcome != "passed":
            details.append(
                f'<button type="button" class="copy" data-target="p{anchor}">Copy command</button>'
            )
    return Markup(
        f'<tr id="{anchor}" class="result"><td><code>{escape(test_id)}</code><br>{escape(where)}</td>'
        f'<td class="o-{escape(outcome)}">{escape(glyph)} {escape(outcome)}</td><td>{escape(stage)}</td>'
        f"<td>{escape(duration)}</td><td>{escape(metrics)}</td></tr>\n"
        f'<tr class="detail"><td colspan="5">{chr(10).join(details)}</td></tr>\n'
    )
