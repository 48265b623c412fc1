"""Several messages at once on the engine thread: round k synthesizes the
k-th chunk of every message still going, batched by what a batch must share
(NFE, cfg strength, sway) up to the fast path's ``max_batch``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ishowtts_live.synth import sampler

if TYPE_CHECKING:
    from ishowtts_live.synth.engine import F5Engine, SynthParams

# (voice id, text, parameters, a cancel flag: anything with is_set())
Job = tuple[str | None, str, "SynthParams", Any]


def stream_batch(engine: F5Engine, jobs: list[Job]) -> Iterator[tuple[int, str, np.ndarray | BaseException]]:
    """Yields (job index, chunk, waveform or the error that ended that job);
    a cancelled job simply stops."""
    plans = []
    failed: set[int] = set()
    for i, (voice_id, text, params, _cancel) in enumerate(jobs):
        try:
            voice = engine.prepared_voice(voice_id)
            plans.append((voice, params, engine.plan(voice, text, params)))
        except Exception as exc:  # noqa: BLE001 - that message's error, not the batch's
            plans.append((None, params, []))
            failed.add(i)
            yield i, text, exc
    size = engine.fast.max_batch if engine.fast else 1
    round_ = 0
    while True:
        live = [i for i, (_v, _p, chunks) in enumerate(plans)
                if round_ < len(chunks) and i not in failed and not _is_set(jobs[i][3])]
        if not live:
            return
        groups: dict[tuple, list[int]] = {}
        for i in live:
            p = plans[i][1]
            groups.setdefault((p.nfe_step, p.cfg_strength, p.sway_sampling_coef), []).append(i)
        for members in groups.values():
            for start in range(0, len(members), size):
                part = members[start: start + size]
                items = [(plans[i][0], plans[i][2][round_], plans[i][1]) for i in part]
                try:
                    pending = engine.start_chunks(items, _AllSet([jobs[i][3] for i in part]))
                except sampler.Cancelled:
                    continue
                except Exception as exc:  # noqa: BLE001 - the error belongs to these messages
                    for i in part:
                        failed.add(i)
                        yield i, items[0][1], exc
                    continue
                for i, item, p in zip(part, items, pending):
                    try:
                        yield i, item[1], p.result()
                    except Exception as exc:  # noqa: BLE001
                        failed.add(i)
                        yield i, item[1], exc
        round_ += 1


class _AllSet:
    """A cancel flag for a batch: set only when every message in it was cancelled."""

    def __init__(self, flags: list):
        self.flags = flags

    def is_set(self) -> bool:
        return all(_is_set(f) for f in self.flags)


def _is_set(flag) -> bool:
    return flag is not None and flag.is_set()
