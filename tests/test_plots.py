"""The plots stay readable (the heatmap centred at 0, white numbers on dark cells), and the seed spread is written one way."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import labutils as L  # noqa: E402


def test_heatmap_centres_the_colour_map_at_zero():
    delta = np.array([[-8.0, -2.0], [0.0, 1.0]])
    ax = L.plots.plot_layer_ablation(delta)
    try:
        image = ax.images[0]
        assert image.norm(0.0) == 0.5  # no change sits in the middle of the colour map
        assert image.norm.vmin == -8.0 and image.norm.vmax == 8.0
    finally:
        plt.close(ax.figure)


def test_numbers_on_dark_cells_are_white():
    delta = np.array([[-20.0, -0.1], [0.0, 0.0]])
    ax = L.plots.plot_layer_ablation(delta)
    try:
        colour = {t.get_text(): t.get_color() for t in ax.texts}
        assert colour["-20.0"] == "white"   # the darkest red
        assert colour["-0.1"] == "black"    # almost white
    finally:
        plt.close(ax.figure)


def test_text_colour_by_luminance():
    assert L.plots.text_colour((0, 0, 0, 1)) == "white"
    assert L.plots.text_colour((1, 1, 1, 1)) == "black"


def test_mean_std_over_seeds_in_percent():
    # Sample std (n - 1), as pandas and the seed-spread tables use; one seed has no spread to show.
    assert L.plots.mean_std([0.80, 0.82, 0.84]) == "82.0 ± 2.0"
    assert L.plots.mean_std(np.array([0.792])) == "79.2"
    import pandas as pd
    assert L.plots.mean_std(pd.Series([0.5, 0.6])) == "55.0 ± 7.1"
