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
        if "pct_of_sgemm_peak" in info:
            print(f"W1 training: fastfit {info['samples_per_s']:,.0f} samples/s, torch "
                  f"{info['torch_samples_per_s']:,.0f}; {info['flops_per_sample'] / 1e3:.0f} kFLOP "
                  f"a sample -> {info['gflops']:.0f} GFLOP/s = {info['pct_of_sgemm_peak']:.0f}% of "
                  f"the same run's SGEMM peak ({info['sgemm_peak_gflops']:.0f} GFLOP/s), "
                  f"whose limit is {info['limit_speedup_vs_torch']:.2f}x torch")
        if "step_us" in info:
            print(f"W2 training: {info['step_us']:.1f} us a step (torch {info['torch_step_us']:.0f} us); "
                  f"a train_step() loop {info['train_step_us']:.1f} us a step")
        if "fit_extra_MB" in info:
            print(f"fit memory: data {info['data_MB']:.1f} MB; NumPy allocations during fit "
                  f"{info['fit_extra_MB']:.2f} MB (expected {info['expected_MB']:.2f}); "
                  f"RSS high-water +{info['rss_extra_MB']:.1f} MB")
        if "accuracy_diff_pp" in info:
            print(f"accuracy after 3 epochs: fastfit {info['accuracy']:.2%}, torch "
                  f"{info['torch_accuracy']:.2%} ({info['accuracy_diff_pp']:+.2f} pp); fastfit from "
                  f"torch's initial weights {info['accuracy_torch_init']:.2%}")
        if "us_per_call" in info:
            baseline = next(k[:-len("_us_per_call")] for k in info
                            if k.endswith("_us_per_call") and k != "us_per_call")
            print(f"predict one row: fastfit {info['us_per_call']:.1f} us, {baseline} "
                  f"{info[baseline + '_us_per_call']:.1f} us")


if __name__ == "__main__":
    main(sys.argv[1])
