"""Turn a pytest-benchmark JSON file into the README's table of same-run ratios.

Usage:
    PYTHONPATH=benchmarks pytest benchmarks --benchmark-only -p no:cacheprovider \\
        --benchmark-json=bench.json
    python benchmarks/summarize.py bench.json

Every benchmark stores ``speedup_vs_<baseline>`` (see _compare.py): the baseline's best
time over fastfit's best time, measured in alternating rounds of the same run. The
GEMM target is a geometric mean over the five training shapes of ``test_matmul``.
"""

import json
import math
import sys


def rows(data):
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        for key, value in info.items():
            if key.startswith("speedup_vs_"):
                baseline = key[len("speedup_vs_"):]
                yield bench["name"], baseline, info["ours_s"], info[f"{baseline}_s"], value


def main(path):
    with open(path) as f:
        data = json.load(f)
    print(f"machine: {data['machine_info'].get('cpu', {}).get('brand_raw', '?')}, "
          f"{data['datetime'][:16]}")
    print("| benchmark | fastfit | baseline | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    gemm = []
    for name, baseline, ours, theirs, ratio in rows(data):
        print(f"| `{name}` | {ours * 1e3:.3f} ms | {baseline} {theirs * 1e3:.3f} ms | {ratio:.2f}x |")
        if name.startswith("test_matmul["):
            gemm.append(ratio)
    if gemm:
        geomean = math.exp(sum(map(math.log, gemm)) / len(gemm))
        print(f"\nGEMM geometric mean over the {len(gemm)} training shapes: {geomean:.2f}x NumPy")
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if "pct_of_stream" in info:
            print(f"batch norm: {info['GBps_min_bytes']:.1f} GB/s on the minimum bytes, "
                  f"{info['pct_of_stream']:.0f}% of the same run's STREAM triad "
                  f"({info['stream_GBps']:.1f} GB/s)")


if __name__ == "__main__":
    main(sys.argv[1])
