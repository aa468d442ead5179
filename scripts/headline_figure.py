"""The README's headline figure: linear-probe test R² of W, s(W) and z on one zoo, as a PNG.

    python scripts/headline_figure.py runs/tables/tetris_seed-E_cD-Att_Npt.csv docs/headline.png

Reads a probe table written by notebook 04 (targets × feature sets, in %), draws it with plotly and
renders it in Debian's chromium through Playwright (no network: plotly.js is inlined).
"""

import argparse
import tempfile
from pathlib import Path

import pandas as pd
import plotly.express as px

CHROMIUM = "/usr/bin/chromium"
FEATURES = {"W": "raw weights W", "s(W)": "weight statistics s(W)", "E_cD": "hyper-representation z (E_cD)"}
TARGETS = {"Eph": "epoch", "Acc": "test accuracy", "GGap": "generalization gap"}


def figure(table: pd.DataFrame, zoo: str):
    long = (table.loc[list(TARGETS), list(FEATURES)].rename(index=TARGETS, columns=FEATURES)
            .rename_axis(index="target", columns="features").stack().rename("R²").reset_index())
    fig = px.bar(long, x="target", y="R²", color="features", barmode="group", text_auto=".1f",
                 title=f"What a linear probe reads off each model's weights ({zoo}, test split)")
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
    parser.add_argument("table", help="a probe table CSV from notebook 04 (RUNS/tables/ZOO-LOSS-ENCODER.csv)")
    parser.add_argument("png", help="where to write the figure")
    parser.add_argument("--zoo", default="tetris_seed", help="the zoo's name, for the title")
    args = parser.parse_args()
    render(figure(pd.read_csv(args.table, index_col=0), args.zoo), Path(args.png))
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
