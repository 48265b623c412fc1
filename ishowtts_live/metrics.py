"""Prometheus metrics of one daemon (its own registry, so tests can run several).

Per-stage latency is measured from when a message was received: queued, synth
start, first audio, done. RTF is synthesis seconds per audio second.

What each chat source could not understand (``ishowtts_source_unknown_total``
and ``ishowtts_source_unparsable_total``, by source and kind) is read at
scrape time from the sources' own tallies (``source.stats.drift``, see
sources/drift.py), so the sources need no handle on this registry. The
synthesizer's own figures (CUDA graph captures at warm-up and live, batches
outside the warmed shapes, fast-path step-downs) are read the same way, from
its optional ``counters()``.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
RTF_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.received = Counter("ishowtts_messages_received_total", "Chat events received", ["platform"], registry=r)
        self.drops = Counter("ishowtts_drops_total", "Messages dropped, by reason", ["reason"], registry=r)
        self.spoken = Counter("ishowtts_messages_total", "Messages that reached playback, by outcome",
                              ["outcome"], registry=r)  # spoken | skipped | failed
        self.stage = Histogram("ishowtts_stage_latency_seconds", "Seconds from receipt to each stage",
                               ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self.rtf = Histogram("ishowtts_rtf", "Real-time factor per message (synthesis s / audio s)",
                             buckets=RTF_BUCKETS, registry=r)
        self.queue_depth = Gauge("ishowtts_queue_depth", "Utterances waiting", registry=r)
        self.reconnects = Counter("ishowtts_source_reconnects_total", "Chat source reconnects", ["source"], registry=r)
        self.synth_errors = Counter("ishowtts_synth_errors_total", "Messages whose synthesis failed", registry=r)
        self.moderation = Counter("ishowtts_moderation_actions_total", "Moderation actions applied",
                                  ["action"], registry=r)
        self.degraded = Gauge("ishowtts_backlog_degraded", "1 while backlog degradation is on", registry=r)
        self.degradations = Counter("ishowtts_backlog_changes_total", "Backlog mode changes", ["to"], registry=r)
        self.audio_seconds = Counter("ishowtts_audio_seconds_total", "Seconds of audio played", registry=r)
        # the control plane
        self.control_requests = Counter("ishowtts_control_requests_total", "Control API requests, by route and status",
                                        ["route", "status"], registry=r)
        self.event_clients = Gauge("ishowtts_event_clients", "Open event WebSockets (ctl events, overlays)",
                                   registry=r)
        # protocol drift, per source (filled by watch_sources)
        self.source_drift = SourceDriftCollector()
        r.register(self.source_drift)
        self.synth_counters = SynthCollector()
        r.register(self.synth_counters)

    def watch_sources(self, sources: Iterable[Any]) -> None:
        """Export these sources' unknown / unparsable tallies from now on."""
        self.source_drift.sources = list(sources)

    def watch_synth(self, synth: Any) -> None:
        """Export this synthesizer's ``counters()`` from now on (a backend without it exports zeros)."""
        self.synth_counters.synth = synth


class SynthCollector:
    """``ishowtts_synth_graph_captures_total`` {phase}, ``ishowtts_synth_unwarmed_batches_total``
    {ran}, ``ishowtts_synth_stepdowns_total`` {to}: from ``synth.counters()``,
    a dict of family → {label value: count}."""

    FAMILIES = (
        ("graph_captures", "ishowtts_synth_graph_captures", "CUDA graphs captured, at warm-up or live "
         "(live ones stall a message)", "phase"),
        ("unwarmed_batches", "ishowtts_synth_unwarmed_batches", "Batches whose shape was not warmed at start, "
         "run without a graph, by what ran them (compiled or eager)", "ran"),
        ("stepdowns", "ishowtts_synth_stepdowns", "Fast-path step-downs after a failed compile or capture, "
         "by what runs since", "to"),
    )

    def __init__(self) -> None:
        self.synth: Any = None

    def describe(self) -> Iterator[CounterMetricFamily]:
        for _key, name, doc, label in self.FAMILIES:
            yield CounterMetricFamily(name, doc, labels=[label])

    def collect(self) -> Iterator[CounterMetricFamily]:
        counters = getattr(self.synth, "counters", None)
        values = counters() if counters is not None else {}
        for key, name, doc, label in self.FAMILIES:
            family = CounterMetricFamily(name, doc, labels=[label])
            for value, count in sorted(values.get(key, {}).items()):
                family.add_metric([value], count)
            yield family


class SourceDriftCollector:
    """``ishowtts_source_unknown_total`` / ``ishowtts_source_unparsable_total`` {source, kind}."""

    def __init__(self) -> None:
        self.sources: list[Any] = []

    def describe(self) -> Iterator[CounterMetricFamily]:
        # described without values, so registering does not call collect() before any source exists
        yield from self._families()

    def collect(self) -> Iterator[CounterMetricFamily]:
        unknown, unparsable = self._families()
        for source in self.sources:
            drift = getattr(getattr(source, "stats", None), "drift", None)
            if drift is None:
                continue
            for kind, count in sorted(drift.unknown.items()):
                unknown.add_metric([source.name, kind], count)
            for kind, count in sorted(drift.unparsable.items()):
                unparsable.add_metric([source.name, kind], count)
        yield unknown
        yield unparsable

    @staticmethod
    def _families() -> tuple[CounterMetricFamily, CounterMetricFamily]:
        return (
            CounterMetricFamily("ishowtts_source_unknown", "Chat messages of a type the source has no rule for, "
                                "by source and type name (the platform may have changed)", labels=["source", "kind"]),
            CounterMetricFamily("ishowtts_source_unparsable", "Chat messages of a known type (or frames) the "
                                "source could not read, by source and kind", labels=["source", "kind"]),
        )
