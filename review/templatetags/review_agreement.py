"""Template filters of the agreement pages."""

from django import template

from review.agreement import TaskAgreement

register = template.Library()

# The chart's drawing units: a name column, then bars of BAR units for a figure of 1.
_LEFT, _BAR, _HEADER, _ROW = 250, 400, 26, 32


@register.filter
def agreement_chart(item: TaskAgreement) -> dict:
    """Positions of the bars of a task's chart: Dice and F1 of each annotator pair.

    Drawn as inline SVG by the template (the Content-Security-Policy allows no inline script).
    """
    rows = []
    for i, pair in enumerate(item.pairs):
        dice, f1 = pair.overall.mean_dice, pair.overall.objects.f1
        names = [p.assignee.get_username() for p in (pair.a, pair.b)]
        rows.append(
            {
                "y": _HEADER + _ROW * i,
                "name": " · ".join(name if len(name) <= 16 else f"{name[:15]}…" for name in names),
                "dice": None if dice is None else round(dice * _BAR, 1),
                "f1": None if f1 is None else round(f1 * _BAR, 1),
                "dice_text": "–" if dice is None else f"{dice:.3f}",
                "f1_text": "–" if f1 is None else f"{f1:.3f}",
            }
        )
    return {
        "left": _LEFT,
        "bar": _BAR,
        "values": _LEFT + _BAR + 6,
        "width": _LEFT + _BAR + 48,
        "height": _HEADER + _ROW * len(rows),
        "rows": rows,
    }
