"""The README's headline figure: linear-probe test R² of W, s(W) and z on one zoo, as a PNG.

    python scripts/headline_figure.py runs/tables/tetris_seed-E_cD-Att_Npt.csv docs/headline.png

    python scripts/headline_figure.py runs/tables/tetris_seed-seeds3.csv docs/headline.png --seeds 3

Reads a probe table (targets × feature sets, in %): one written by notebook 04, or one of
`hrlib probe --seeds N`, whose "NAME sd" columns become error bars of one standard deviation. Draws
it with plotly and renders it in Debian's chromium through Playwright (no network: plotly.js is
inlined).
"""

import argparse
import tempfile
from pathlib import Path

import pandas as pd
import plotly.express as px

CHROMIUM = "/usr/bin/chromium"
FEATURES = {"W": "raw weights W", "s(W)": "weight statistics s(W)", "E_cD": "hyper-representation z (E_cD)"}
TARGETS = {"Eph": "epoch", "Acc": "test accuracy", "GGap": "generalization gap"}


def _long(table: pd.DataFrame, name: str) -> pd.Series:
    return (table.rename(index=TARGETS, columns=FEATURES).rename_axis(index="target", columns="features")
            .stack().rename(name))


def figure(table: pd.DataFrame, zoo: str, seeds: int = 1):
    """Grouped bars per target; with "NAME sd" columns (and `seeds` > 1), error bars of ±1 sd."""
    long = _long(table.loc[list(TARGETS), list(FEATURES)], "R²").reset_index()
    spread = [f"{f} sd" for f in FEATURES]
    title = f"What a linear probe reads off each model's weights ({zoo}, test split)"
    if set(spread) <= set(table.columns):
        if seeds < 2:
            raise ValueError("the table has sd columns: give the number of seeds they span (--seeds N)")
        sd = table.loc[list(TARGETS), spread].rename(columns=lambda c: c.removesuffix(" sd"))
        long["sd"] = _long(sd, "sd").to_numpy()
        title += f"<br><sup>mean ± sd over {seeds} training seeds</sup>"
    fig = px.bar(long, x="target", y="R²", color="features", barmode="group", text_auto=".1f",
                 error_y="sd" if "sd" in long else None, title=title)
    fig.update_traces(textposition="inside", insidetextanchor="start")  # numbers at the foot, clear of the error bars
    fig.update_layout(yaxis_title="test R² of a linear probe, %", xaxis_title="", legend_title="",
                      width=900, height=420, margin=dict(t=60, b=40), template="plotly_white")
    return fig


def render(fig, png: Path):
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "figure.html"
        fig.write_html(page_file, include_plotlyjs=True, full_html=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 920, "height": 440}, device_scale_factor=2)
            page.goto(page_file.as_uri())
            page.wait_for_selector(".js-plotly-plot .bars")
            page.locator(".js-plotly-plot").screenshot(path=str(png))
            browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", help="a probe table CSV: notebook 04's (RUNS/tables/ZOO-LOSS-ENCODER.csv) "
                                      "or `hrlib probe --seeds N --out CSV`'s")
    parser.add_argument("png", help="where to write the figure")
    parser.add_argument("--zoo", default="tetris_seed", help="the zoo's name, for the title")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds the table's sd columns span")
    args = parser.parse_args()
    render(figure(pd.read_csv(args.table, index_col=0), args.zoo, args.seeds), Path(args.png))
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
