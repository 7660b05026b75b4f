"""Grid spike (issue 4, part 4): Tabulator vs AG Grid Community in headless Chromium.

10,000 rows, then ~1,000 row updates/s in 50 ms batches for a few seconds; measures the time to
apply each batch, long frames (> 50 ms between animation frames) and the JS heap. Needs both
packages in a node_modules (the repo installs only the chosen one):

    cd /tmp/x && npm install tabulator-tables@6.3.1 ag-grid-community@36.2.0
    python bench/grid_spike/spike.py /tmp/x/node_modules
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).parent


def main(node_modules: str, seconds: int = 5) -> None:
    nm = Path(node_modules)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(HERE / "spike.html", tmp)
        shutil.copy(nm / "tabulator-tables/dist/js/tabulator.min.js", tmp)
        shutil.copy(nm / "tabulator-tables/dist/css/tabulator.min.css", tmp)
        shutil.copy(nm / "ag-grid-community/dist/ag-grid-community.min.js", tmp)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                headless=True,
                args=["--no-sandbox", "--disable-background-networking", "--enable-precise-memory-info"],
            )
            for kind in ("tabulator", "aggrid", "tabulator", "aggrid"):
                page = browser.new_page(viewport={"width": 1600, "height": 900})
                page.goto(f"file://{tmp}/spike.html")
                result = page.evaluate(f"runSpike('{kind}', 10000, 1000, {seconds}, 50)")
                print(json.dumps(result))
                page.close()
            browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:2], *(int(a) for a in sys.argv[2:3]))
