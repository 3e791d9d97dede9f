"""Apply each classic filter of ``cyconv.filters`` to a photo and write one PNG grid.

    python examples/filters.py [--output docs/filters.png]

The photo is ``sklearn.datasets.load_sample_image('china.jpg')`` (bundled with scikit-learn,
427x640 RGB). Needs ``pip install 'cyconv[demo]'`` (scikit-learn, matplotlib, pillow).
"""
import argparse
import time

import numpy as np

from cyconv import filters


def signed_to_display(values: np.ndarray, scale: float) -> np.ndarray:
    """Map a signed response to [0, 1] with 0 at mid-grey."""
    return np.clip(0.5 + values / (2 * scale), 0.0, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="docs/filters.png")
    args = parser.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_sample_image

    photo = load_sample_image("china.jpg").astype(np.float32) / 255.0  # (H, W, 3)
    gray = photo @ np.array([0.299, 0.587, 0.114], np.float32)         # (H, W)
    panels = []
    start = time.perf_counter()
    panels.append(("apply(photo, identity())", filters.apply(photo, filters.identity())))
    panels.append(("apply(photo, box_blur(9), 'edge')",
                   filters.apply(photo, filters.box_blur(9), "edge")))
    panels.append(("apply(photo, gaussian_blur(3.0), 'reflect')",
                   filters.apply(photo, filters.gaussian_blur(3.0), "reflect")))
    panels.append(("apply(photo, sharpen(), 'reflect')",
                   filters.apply(photo, filters.sharpen(), "reflect")))
    panels.append(("apply(gray, laplacian(), 'reflect')",
                   signed_to_display(filters.apply(gray, filters.laplacian(), "reflect"), 0.25)))
    panels.append(("apply(gray, sobel_x(), 'reflect')",
                   signed_to_display(filters.apply(gray, filters.sobel_x(), "reflect"), 1.0)))
    panels.append(("apply(gray, sobel_y(), 'reflect')",
                   signed_to_display(filters.apply(gray, filters.sobel_y(), "reflect"), 1.0)))
    panels.append(("edges(gray)", np.clip(filters.edges(gray) / 1.5, 0.0, 1.0)))
    seconds = time.perf_counter() - start

    fig, axes = plt.subplots(2, 4, figsize=(16, 6.2))
    for ax, (title, image) in zip(axes.ravel(), panels):
        ax.imshow(np.clip(image, 0.0, 1.0), cmap="gray" if image.ndim == 2 else None,
                  vmin=0.0, vmax=1.0)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(f"cyconv.filters on load_sample_image('china.jpg'), {photo.shape[0]}x"
                 f"{photo.shape[1]} RGB; signed responses drawn around mid-grey", fontsize=11)
    fig.tight_layout()
    fig.savefig(args.output, dpi=80)
    plt.close(fig)
    # A 256-colour palette makes the PNG about 3x smaller with no visible change.
    from PIL import Image
    with Image.open(args.output) as rendered:
        palette = rendered.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    palette.save(args.output, optimize=True)
    print(f"8 filters in {seconds:.2f} s; wrote {args.output}")


if __name__ == "__main__":
    main()
