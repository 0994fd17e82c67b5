"""The precision-recall curve of the boundary benchmark as a picture, drawn the way the benchmark's
`plot_eval.m` draws it: iso-F lines, each method's curve through its thresholds (recall >= 0.01),
its ODS point marked. Drawn with Pillow, a dependency already, rather than adding matplotlib."""

import numpy as np

SIZE, MARGIN = 560, 60  # the square plot area and the space around it, in pixels
COLOURS = [(214, 39, 40), (31, 119, 180), (44, 160, 44), (255, 127, 14), (148, 103, 189)]


def _to_pixel(recall, precision):
    return MARGIN + recall * SIZE, MARGIN + (1 - precision) * SIZE


def pr_curve_png(curves):
    """A PIL image of the curves [(label, BoundaryBenchmark)] on one recall-precision square."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (SIZE + 2 * MARGIN, SIZE + 2 * MARGIN), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for tick in np.linspace(0, 1, 11):
        x, y = _to_pixel(tick, tick)
        draw.line([_to_pixel(tick, 0), _to_pixel(tick, 1)], fill=(235, 235, 235))
        draw.line([_to_pixel(0, tick), _to_pixel(1, tick)], fill=(235, 235, 235))
        draw.text((x - 8, MARGIN + SIZE + 6), f"{tick:.1f}", fill="black", font=font)
        draw.text(
            (MARGIN - 28, MARGIN + (1 - tick) * SIZE - 6), f"{tick:.1f}", fill="black", font=font
        )
    # Iso-F lines: P = F R / (2R - F), for R above F / 2.
    for f in np.arange(1, 10) / 10:
        recall = np.linspace(f / 2 + 1e-3, 1, 200)
        precision = f * recall / (2 * recall - f)
        keep = precision <= 1
        points = [_to_pixel(r, p) for r, p in zip(recall[keep], precision[keep], strict=True)]
        draw.line(points, fill=(160, 200, 160), width=1)
        draw.text(
            (points[-1][0] + 3, points[-1][1] - 6), f"F={f:.1f}", fill=(90, 140, 90), font=font
        )
    draw.rectangle([_to_pixel(0, 1), _to_pixel(1, 0)], outline="black")
    draw.text((MARGIN + SIZE / 2 - 15, MARGIN + SIZE + 24), "Recall", fill="black", font=font)
    draw.text((8, MARGIN - 20), "Precision", fill="black", font=font)
    for k, (label, boundary) in enumerate(curves):
        colour = COLOURS[k % len(COLOURS)]
        keep = boundary.recall >= 0.01
        points = [
            _to_pixel(r, p)
            for r, p in zip(boundary.recall[keep], boundary.precision[keep], strict=True)
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=3, joint="curve")
        ods = boundary.summary["ODS"]
        x, y = _to_pixel(ods["recall"], ods["precision"])
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=colour)
        legend = f"{label}: ODS F={ods['F']:.3f}, AP={boundary.summary['AP']:.3f}"
        draw.text((MARGIN + 10, MARGIN + SIZE - 20 - 16 * (len(curves) - 1 - k)), legend,
                  fill=colour, font=font)  # fmt: skip
    return image
