"""``tongban bench verify``: bulk offline verification of papers against raw Ed25519 verifies, same run.

Synthetic papers (several issuers, rotated keys, a revocation list with revoked numbers) are signed up front.
The figure is full verifications per second of the JSON form in bulk (``verify_many``: parse, key lookup,
signature, key validity, revocation, expiry, verdict); the baseline is bare Ed25519 verifies per second of the
same payloads and signatures with the public keys already loaded. Goal: the figure is at least 80% of the
baseline. The same papers verified one at a time (``verify``) are reported beside it, with the latencies.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tongban.bench.harness import BenchResult, Measure, percentiles, progress, report
from tongban.core.clock import utcnow
from tongban.papers import domain, forms, keys, types

ISSUERS = ("110000", "310000", "440000", "510000")


def _facts(i: int) -> dict[str, str]:
    return {
        "case_ref": f"C-2026-{i:06d}",
        "permit_number": f"440000-ZQ-2026-{i:06d}",
        "moved_out_on": "2026-11-27",
        "origin_division": "110105",
        "origin_address": f"北京市朝阳区示例街道{i % 97 + 1}号",
        "destination_division": "440305",
        "destination_address": f"广东省深圳市南山区示例路{i % 89 + 1}号",
    }


def build_corpus(
    n: int,
) -> tuple[list[bytes], list[domain.SignedPaper], keys.StaticKeyResolver, domain.Revocations]:
    now = utcnow().replace(microsecond=0)
    resolver = keys.StaticKeyResolver()
    signers = {}
    for code in ISSUERS:
        # An old key that was rotated out (its papers stay valid) and the current one.
        old, old_key = keys.generate_key(code, not_before=now - timedelta(days=60))
        new, new_key = keys.generate_key(code, not_before=now - timedelta(days=20))
        resolver.add(replace(old_key, not_after=now - timedelta(days=20)))
        resolver.add(new_key)
        signers[code] = (old, new)
    kind = types.MIGRATION_CERTIFICATE
    papers: list[domain.SignedPaper] = []
    revoked: dict[str, list[domain.RevokedPaper]] = {code: [] for code in ISSUERS}
    for i in range(n):
        code = ISSUERS[i % len(ISSUERS)]
        rotated = i % 5 == 0
        issued = now - timedelta(days=25 if rotated else 2, seconds=i)
        number = f"{code}-QY-2026-{i:06d}"
        payload = domain.build_payload(
            type=kind.code,
            number=number,
            issuer=code,
            subject={"name": f"测试{i % 1000:03d}", "id_number": "11010519491231002X"},
            facts=_facts(i),
            issued_at=issued,
            valid_until=issued + timedelta(days=30),
            purpose="迁入广东省深圳市",
        )
        papers.append(domain.sign_bytes(payload, signers[code][0 if rotated else 1]))
        if i % 50 == 7:
            revoked[code].append(domain.RevokedPaper(number, "issued-in-error", now))
    revocations = domain.Revocations()
    for code in ISSUERS:
        payload = domain.build_revocation_payload(issuer=code, serial=1, issued_at=now, revoked=revoked[code])
        revocations.add(domain.verify_revocation_list(domain.sign_bytes(payload, signers[code][1]), resolver))
    return [forms.to_json_bytes(p) for p in papers], papers, resolver, revocations


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("verify")
    def bench_verify(
        n: Annotated[int, typer.Option("--n", min=10, help="Papers in the corpus.")] = 5000,
        rounds: Annotated[int, typer.Option(min=1, help="Alternating rounds of figure and baseline.")] = 3,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    ) -> None:
        """Offline paper verifications/s (JSON form, full rule) vs raw Ed25519 verifies/s, same run."""
        from tongban.papers.verify import verify, verify_many

        blobs, papers, resolver, revocations = build_corpus(n)
        at = utcnow()
        raw_keys = {}
        for p in papers:
            view = domain.read_payload(p.payload)
            key = resolver.paper_key(view.issuer, p.signature.key_id)
            assert key is not None
            raw_keys[id(p)] = Ed25519PublicKey.from_public_bytes(key.public_key)
        jobs = [(raw_keys[id(p)], p.signature.value, p.payload) for p in papers]
        # The figure is bulk verification (``verify_many``) of chunks of 100 papers; the baseline and the same
        # papers verified one at a time (``verify``, which gives the latencies) alternate with it chunk by chunk,
        # the order rotating, so a neighbour's load on this shared machine falls on all three alike. Each rate
        # is its total count over its total time, by the wall clock and by this thread's CPU time (the latter
        # leaves out the time spent waiting for a core while other processes ran).
        chunk = 100
        wall = {"figure": 0.0, "baseline": 0.0, "single": 0.0}
        cpu = {"figure": 0.0, "baseline": 0.0, "single": 0.0}
        samples: list[float] = []
        counts: dict[str, int] = {}

        def run_baseline(lo: int) -> None:
            start, start_cpu = time.perf_counter(), time.thread_time()
            for pub, sig, payload in jobs[lo : lo + chunk]:
                pub.verify(sig, payload)
            wall["baseline"] += time.perf_counter() - start
            cpu["baseline"] += time.thread_time() - start_cpu

        def run_figure(lo: int) -> None:
            start, start_cpu = time.perf_counter(), time.thread_time()
            verdicts = verify_many(blobs[lo : lo + chunk], resolver, revocations, at)
            wall["figure"] += time.perf_counter() - start
            cpu["figure"] += time.thread_time() - start_cpu
            for verdict in verdicts:
                counts[verdict.status] = counts.get(verdict.status, 0) + 1

        def run_single(lo: int) -> None:
            start, start_cpu = time.perf_counter(), time.thread_time()
            for blob in blobs[lo : lo + chunk]:
                t0 = time.perf_counter()
                verify(blob, resolver, revocations, at)
                samples.append((time.perf_counter() - t0) * 1000)
            wall["single"] += time.perf_counter() - start
            cpu["single"] += time.thread_time() - start_cpu

        runs = (run_baseline, run_figure, run_single)
        with progress("verify rounds", rounds * len(blobs)) as advance:
            step = 0
            for _ in range(rounds):
                for lo in range(0, len(blobs), chunk):
                    for k in range(3):
                        runs[(step + k) % 3](lo)
                    step += 1
                    advance(len(blobs[lo : lo + chunk]))
        done = rounds * len(blobs)
        figure, baseline = done / wall["figure"], done / wall["baseline"]
        cpu_figure, cpu_baseline = done / cpu["figure"], done / cpu["baseline"]
        single, cpu_single = done / wall["single"], done / cpu["single"]
        counts = {k: v // rounds for k, v in counts.items()}
        qr_texts = [forms.to_qr_text(p) for p in papers[: min(n, 1000)]]
        start = time.perf_counter()
        for text in qr_texts:
            verify(text, resolver, revocations, at)
        qr_rate = len(qr_texts) / (time.perf_counter() - start)
        result = BenchResult(
            workload="verify",
            figure=Measure(
                "paper verifications in bulk (JSON form, full rule)", round(figure, 1), "papers/s"
            ),
            baseline=Measure("raw Ed25519 verifies", round(baseline, 1), "verifies/s"),
            ratio=round(figure / baseline, 3),
            latency_ms=percentiles(samples),
            details={
                "papers": n,
                "rounds": rounds,
                "outcomes": {str(k): v for k, v in sorted(counts.items())},
                "qr_form_rate": round(qr_rate, 1),
                "cpu_time": {
                    "figure": round(cpu_figure, 1),
                    "baseline": round(cpu_baseline, 1),
                    "ratio": round(cpu_figure / cpu_baseline, 3),
                },
                "one_at_a_time": {
                    "rate": round(single, 1),
                    "ratio": round(single / baseline, 3),
                    "cpu_ratio": round(cpu_single / cpu_baseline, 3),
                },
                "goal_ratio": 0.8,
            },
        )
        report(result, as_json)
