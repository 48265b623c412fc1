"""``--plot``: RTF against NFE, one line per case, ours solid and upstream
dashed (matplotlib, imported only here, drawn off-screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_rtf(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    cases = sorted({r["case"] for r in report["results"]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, case in enumerate(cases):
        for impl, style in (("ours", "-"), ("upstream", "--")):
            rows = sorted((r for r in report["results"] if r["case"] == case and r["impl"] == impl),
                          key=lambda r: r["nfe"])
            if rows:
                ax.plot([r["nfe"] for r in rows], [r["rtf"]["mean"] for r in rows], style, marker="o",
                        color=colors[i % len(colors)], label=f"{case} ({impl})")
    env, eng = report["environment"], report["engine"]
    title = f"RTF vs NFE — {env['device_name'][:60]}, {eng['dtype']}"
    if eng["random_weights"]:
        title += " (random weights)"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("NFE (flow steps)")
    ax.set_ylabel("RTF (synthesis s / audio s, lower is faster)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
