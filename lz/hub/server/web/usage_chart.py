"""The Usage page's chart: one bar per day, drawn on the server as SVG (no JavaScript library;
presentation attributes only, which the page's Content-Security-Policy allows)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, TOP, BOTTOM, LEFT = 640, 220, 20, 40, 56
BAR_GAP = 4


def bar_chart(points: Sequence[tuple[str, int, str]], title: str) -> str:
    """``points``: (day, value, label) oldest first; the value sets the bar's height (integers:
    milli-credits or seconds, so the scale is exact), the label is what the bar says it is."""
    label_id = "usage-chart-title"
    parts = [f'<svg id="usage-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="{label_id}">',
             f'<title id="{label_id}">{escape(title)}</title>']
    plot_h = HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    parts.append(f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - 4}" y2="{base}" stroke="#888" stroke-width="1"/>')
    if not points:
        parts.append(f'<text x="{WIDTH // 2}" y="{TOP + plot_h // 2}" text-anchor="middle" fill="#666">no usage '
                     'recorded</text></svg>')
        return "".join(parts)
    top = max(v for _, v, _ in points) or 1
    top_label = next(label for _, v, label in points if v == max(v for _, v, _ in points))
    parts.append(f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11" fill="#444">'
                 f'{escape(top_label)}</text>')
    parts.append(f'<text x="{LEFT - 6}" y="{base}" text-anchor="end" font-size="11" fill="#444">0</text>')
    slot = (WIDTH - LEFT - 8) // len(points)
    width = max(1, slot - BAR_GAP)
    every = max(1, len(points) // 8)  # at most about eight day labels under the axis
    for i, (day, value, label) in enumerate(points):
        h = value * plot_h // top
        x = LEFT + 4 + i * slot
        parts.append(f'<rect class="bar" x="{x}" y="{base - h}" width="{width}" height="{h}" fill="#3b6ea5" '
                     f'data-day="{escape(day)}" data-value="{escape(label)}"><title>{escape(day)}: '
                     f'{escape(label)}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + width // 2}" y="{base + 16}" text-anchor="middle" font-size="10" '
                         f'fill="#444">{escape(day[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)
